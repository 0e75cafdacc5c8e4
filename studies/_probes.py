"""Helpers the study modules share: seeded inputs and the probes turned into rows.

Rows are tuples ``(metric, lag, layer, index, block, value)`` (see ``studies``);
everything is computed in log space by rnnprobe and exponentiated only here, as
Python floats (an underflow to 0.0 or overflow to inf is a value outside float64,
never an error).

Examples
--------
>>> from rnnprobe.studies._probes import sequence
>>> x = sequence(seed=0, length=5, size=1)
>>> tuple(x.shape), bool((sequence(seed=0, length=3, size=1) == x[:3]).all())
((5, 1), True)
"""

from __future__ import annotations

import math

import numpy as np
import torch

import rnnprobe
from rnnprobe._validation import check_choice, check_dtype
from rnnprobe.errors import InvalidArgument

__all__ = ["sequence", "dtype_of", "to_device", "time_rows", "spectrum_rows", "lyapunov_rows",
           "memory_summary", "bound_rtol", "clv_angle_rows", "clv_directions", "CLV_ANGLE_POINTS",
           "CLV_STABLE_DIRECTIONS"]

#: stream of the input sequence in numpy's SeedSequence([seed, INPUT_STREAM])
INPUT_STREAM = 1


def dtype_of(name) -> torch.dtype:
    """``'float32'``/``'float64'`` (or the torch dtype) as a torch dtype."""
    return check_dtype("dtype", name)


def to_device(model, device: str):
    """Move a model to ``'cpu'`` or ``'cuda'`` (InvalidArgument when CUDA is missing)."""
    check_choice("device", device, ("cpu", "cuda"))
    if device == "cuda" and not torch.cuda.is_available():
        raise InvalidArgument("device 'cuda' was requested but torch.cuda.is_available() is False; use 'cpu'")
    return model.to(device)


def sequence(seed: int, length: int, size: int, dtype=torch.float64) -> torch.Tensor:
    """Inputs ``(length, size)``, i.i.d. N(0, 1) from ``seed``.

    Drawn in float64 from ``numpy.random.default_rng([seed, 1])``, step by step,
    so a shorter sequence is a prefix of a longer one with the same seed.
    """
    rng = np.random.default_rng([seed, INPUT_STREAM])
    return torch.from_numpy(rng.standard_normal((length, size))).to(dtype)


def bound_rtol(dtype: torch.dtype) -> float:
    """Relative slack of ``GradientBounds.holds``: 1e-9 in float64, 1e-3 in float32."""
    return 1e-9 if dtype == torch.float64 else 1e-3


def _exp(x) -> float:
    x = float(x)
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def per_lag_rows(metric: str, log_values: torch.Tensor, lags: torch.Tensor) -> list[tuple]:
    """Rows of one per-lag metric, lag 1 first (start steps t = T-1 … 0)."""
    vals, ks = log_values.tolist(), lags.tolist()
    return [(metric, int(k), None, None, None, _exp(v)) for k, v in sorted(zip(ks, vals))]


def per_layer_rows(metric: str, log_values: torch.Tensor) -> list[tuple]:
    """Rows of one per-layer metric, layer 0 first."""
    return [(metric, None, int(l), None, None, _exp(v)) for l, v in enumerate(log_values.tolist())]


def per_index_rows(metric: str, values, *, block: str | None = None, log: bool = False) -> list[tuple]:
    """Rows of a per-index metric (singular values, exponents), index 0 first."""
    vals = values.tolist() if hasattr(values, "tolist") else list(values)
    return [(metric, None, None, i, block, _exp(v) if log else float(v)) for i, v in enumerate(vals)]


def time_rows(traj, *, seed: int, bounds: bool = True) -> tuple[list[tuple], dict]:
    """Per-lag rows: jacobian_norm, and with ``bounds`` gradient_norm and the bounds.

    Returns the rows and ``{'bound_holds': ...}`` (empty without bounds).
    """
    lags = traj.lags
    if not bounds:
        return per_lag_rows("jacobian_norm", rnnprobe.jacobian_norms(traj, log=True), lags), {}
    b = rnnprobe.gradient_bounds(traj, log=True, seed=seed)
    log_G = b.jacobian - b.final_gradient_norm
    rows = per_lag_rows("jacobian_norm", log_G, lags)
    rows += per_lag_rows("gradient_norm", b.gradient, lags)
    rows += per_lag_rows("bound_jacobian", b.jacobian, lags)
    rows += per_lag_rows("bound_product", b.product, lags)
    if b.weight is not None:
        rows += per_lag_rows("bound_weight", b.weight, lags)
    return rows, {"bound_holds": bool(b.holds(bound_rtol(traj.dtype)))}


def spectrum_rows(model, *, rows: bool = True) -> tuple[list[tuple], dict]:
    """weight_singular_value rows per block and the spectrum's summary scalars."""
    spec = rnnprobe.weight_spectrum(model)
    out = []
    if rows:
        for name, block in spec.blocks.items():
            out += per_index_rows("weight_singular_value", block.singular_values, block=name)
    largest = spec.largest_block
    summary = {
        "sigma_max": spec.sigma_max,
        "spectral_radius": None if largest is None else spec.blocks[largest].spectral_radius,
        "gamma": spec.gamma,
        "pascanu": spec.pascanu,
    }
    return out, summary


def lyapunov_rows(traj, exponents=None) -> list[tuple]:
    """The full Lyapunov spectrum along the trajectory (or ``exponents``, when computed already), as rows."""
    lam = rnnprobe.trajectory_lyapunov_spectrum(traj) if exponents is None else exponents
    return per_index_rows("lyapunov_exponent", lam)


#: at most this many states of the window get a clv_angle row (evenly spaced; the summary's minimum uses all)
CLV_ANGLE_POINTS = 50
#: the stable side of the angle: this many leading stable directions (after the unstable ones)
CLV_STABLE_DIRECTIONS = 8


def clv_directions(exponents) -> tuple[int, int]:
    """``(k, split)`` of the angle: the unstable directions (positive exponents, at least 1) and the next
    :data:`CLV_STABLE_DIRECTIONS`, among the directions no step annihilates (finite exponents)."""
    lam = torch.as_tensor(exponents)
    finite = int(torch.isfinite(lam).sum())
    split = max(1, int((lam > 0).sum()))
    return min(finite, split + CLV_STABLE_DIRECTIONS), split


def clv_angle_rows(traj, *, seed: int = 0, exponents=None) -> tuple[list[tuple], dict]:
    """The angle between the unstable and the leading stable covariant Lyapunov directions along the trajectory.

    :func:`rnnprobe.trajectory_covariant_lyapunov_vectors` with the default
    burn-in and burn-out (``min(200, T/10)`` each) for the leading k directions
    (:func:`clv_directions`): the s unstable ones (positive exponents; the
    leading one when none is positive) and the next
    :data:`CLV_STABLE_DIRECTIONS` stable ones, never directions a step
    annihilates (ReLU units stuck at zero: exponents −∞); the angle is the
    minimum one between span(v_1 … v_s) and span(v_s+1 … v_k). The first k
    covariant vectors depend only on the leading k Oseledets directions, so a
    frame of k vectors costs O(T·S·k²) instead of O(T·S³). Rows ``clv_angle``
    (radians) at ``lag`` = T − t for at most :data:`CLV_ANGLE_POINTS` states t
    of the window, evenly spaced; ``clv_min_angle``, the minimum over every
    state of the window, in the summary (NaN, and no rows, when the vectors are
    undefined: a step singular on the frame, or fewer than 2 directions).

    Parameters
    ----------
    traj : Trajectory
    seed : int
        Seed of the frames.
    exponents : tensor, optional
        The trajectory's Lyapunov spectrum, when already computed.

    Examples
    --------
    >>> import rnnprobe
    >>> traj = rnnprobe.record(rnnprobe.build("gru", 4, 1, seed=0), sequence(0, 60, 1))
    >>> rows, summary = clv_angle_rows(traj)
    >>> rows[0][0], 0 < len(rows) <= CLV_ANGLE_POINTS, 0 <= summary["clv_min_angle"] <= min(r[-1] for r in rows)
    ('clv_angle', True, True)
    """
    from rnnprobe.errors import RnnProbeError

    T = traj.length
    lam = rnnprobe.trajectory_lyapunov_spectrum(traj) if exponents is None else exponents
    k, split = clv_directions(lam)
    if k < 2 or T < 3:
        return [], {"clv_min_angle": None}
    clv = None
    for kk in range(k, max(k - 8, split), -1):      # a step singular on the frame: fewer directions, a few times
        try:
            clv = rnnprobe.trajectory_covariant_lyapunov_vectors(traj, kk, split=split, seed=seed)
            break
        except (InvalidArgument, RnnProbeError):
            continue
    if clv is None:
        return [], {"clv_min_angle": None}
    angles, times = clv.angles.tolist(), clv.times.tolist()
    keep = np.unique(np.linspace(0, len(angles) - 1, min(CLV_ANGLE_POINTS, len(angles))).round().astype(int))
    rows = [("clv_angle", int(T - times[i]), None, None, None, float(angles[i])) for i in keep]
    return rows, {"clv_min_angle": float(min(angles))}


def memory_summary(traj, eps: float) -> dict:
    """Summary scalars of :func:`rnnprobe.memory_length`."""
    m = rnnprobe.memory_length(traj, eps=eps)
    return {
        "memory_threshold": m.threshold,
        "memory_threshold_censored": m.threshold_censored,
        "memory_efold": m.efold,
        "efold_slope": m.slope,
        "efold_slope_low": m.slope_low,
        "efold_slope_high": m.slope_high,
        "lyapunov_exponent": m.lyapunov_exponent,
        "lyapunov_time": m.lyapunov_time,
        "eps": m.eps,
    }
