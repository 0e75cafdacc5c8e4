"""Effective memory length, in every form DESIGN.md names.

From G(k) = ‖∂s_T/∂s_{T−k}‖₂ as a function of the lag k:

* ``threshold``: the largest lag with G ≥ ε (T, flagged censored, if every lag passes);
* ``efold``: the e-folding time −1/slope of a robust (Theil–Sen) fit of log G
  against lag (∞ when G does not decay);
* ``lyapunov_time``: −1/λ₁ with λ₁ the top Lyapunov exponent along the same
  trajectory (∞ when λ₁ ≥ 0).

Jaeger's linear memory capacity is :func:`rnnprobe.memory_capacity`.

Examples
--------
A linear orthogonal RNN with gain g has G(k) = g^k exactly, so its e-folding
time is −1/log g:

>>> import math, torch, rnnprobe
>>> model = rnnprobe.build("vanilla-linear", hidden_size=4, init="orthogonal", gain=0.8, seed=0)
>>> m = rnnprobe.memory_length(rnnprobe.record(model, torch.zeros(40, 1)), eps=0.01)
>>> m.threshold, round(m.efold, 6) == round(-1 / math.log(0.8), 6)
(20, True)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from rnnprobe._validation import check_real
from rnnprobe.lyapunov import trajectory_lyapunov_spectrum
from rnnprobe.products import _check_trajectory, jacobian_norms
from rnnprobe.trajectory import Trajectory

__all__ = ["MemoryLength", "memory_length", "efold_fit", "summarise_memory", "thin_evenly", "MAX_FIT_POINTS"]

#: the most points a Theil–Sen fit takes (it is O(n²) in time and memory): more are thinned evenly
MAX_FIT_POINTS = 1000
# rates (per step) closer to 0 than this are rounding: no decay
_FLAT = 1e-12


@dataclass(frozen=True)
class MemoryLength:
    """Memory-length measures of one sequence, in steps.

    Attributes
    ----------
    threshold : int
        Largest lag k with G(k) ≥ eps.
    threshold_censored : bool
        True when every lag up to T passes (the memory is at least T).
    efold : float
        −1/slope of the Theil–Sen fit of log G on lag (``inf`` if not decaying (slope >= -1e-12)).
    slope, intercept : float
        The fit's slope (per step, natural log) and intercept.
    slope_low, slope_high : float
        95% confidence interval of the slope; never NaN: ``(-inf, inf)`` when
        there is a single lag (T = 1), ``(-inf, -inf)`` when G is exactly 0
        at all but at most one lag (see :func:`efold_fit`).
    lyapunov_exponent : float
        λ₁ along the trajectory.
    lyapunov_time : float
        −1/λ₁ (``inf`` when λ₁ >= -1e-12).
    eps : float
        The threshold used.
    """

    threshold: int
    threshold_censored: bool
    efold: float
    slope: float
    intercept: float
    slope_low: float
    slope_high: float
    lyapunov_exponent: float
    lyapunov_time: float
    eps: float

    def as_dict(self) -> dict:
        """The fields as a plain dict (for tables and JSON)."""
        return asdict(self)


def thin_evenly(x: np.ndarray, y: np.ndarray, max_points: int = MAX_FIT_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` of the points ``(x, y)``, evenly spaced by position (along x when x is sorted).

    The one thinning of every Theil–Sen fit in rnnprobe (memory lengths here, the analysis's decay fits).

    Examples
    --------
    >>> x, y = thin_evenly(np.arange(10.0), np.arange(10.0) ** 2, max_points=4)
    >>> x.tolist(), y.tolist()
    ([0.0, 3.0, 6.0, 9.0], [0.0, 9.0, 36.0, 81.0])
    """
    if x.size <= max_points:
        return x, y
    idx = np.unique(np.linspace(0, x.size - 1, max_points).round().astype(int))
    return x[idx], y[idx]


def efold_fit(lags: np.ndarray, log_g: np.ndarray) -> tuple[float, float, float, float]:
    """Theil–Sen fit of ``log_g`` on ``lags``: (slope, intercept, low, high); -inf entries dropped.

    With fewer than two finite points there is nothing to fit, and the result
    says so without NaN: where G fell to exactly 0 (``-inf`` logs) the slope
    and both ends of its interval are ``-inf`` (faster decay than float
    resolves); a single finite point and nothing else (T = 1) gives slope 0
    (no decay measured) with the uninformative interval ``(-inf, inf)``. The same
    holds where the finite points show no decay but G is exactly 0 at other lags
    (a unit-step cut-off, as a gate saturated to exactly 1 − z = 0 gives): the decay
    is a cliff, not "none", so the slope is ``-inf`` (e-folding time 0), not 0.
    """
    keep = np.isfinite(log_g)
    x, y = np.asarray(lags, float)[keep], np.asarray(log_g, float)[keep]
    if x.size < 2:
        intercept = float(y[0]) if y.size else -math.inf
        if keep.size > x.size:
            return -math.inf, intercept, -math.inf, -math.inf
        return 0.0, intercept, -math.inf, math.inf
    x, y = thin_evenly(x, y)
    from scipy import stats  # imported here: scipy.stats is slow to import

    res = stats.theilslopes(y, x, alpha=0.95)
    if keep.size > keep.sum() and res.slope >= -_FLAT:        # flat (or rising), then exactly 0: a cut-off
        return -math.inf, float(res.intercept), -math.inf, -math.inf
    return float(res.slope), float(res.intercept), float(res.low_slope), float(res.high_slope)


def summarise_memory(lags: np.ndarray, log_G: np.ndarray, lyapunov_exponent: float, eps: float) -> MemoryLength:
    """The :class:`MemoryLength` of one sequence from its log G per lag and its λ₁.

    Parameters
    ----------
    lags : numpy.ndarray
        Lags k (any order), as ``traj.lags``.
    log_G : numpy.ndarray
        log G(k) at those lags.
    lyapunov_exponent : float
        λ₁ along the trajectory.
    eps : float
        Threshold on G.
    """
    passing = lags[log_G >= math.log(eps)]
    slope, intercept, lo, hi = efold_fit(lags, log_G)
    l1 = lyapunov_exponent
    # a rate within rounding of 0 (an isometric net) is no decay at all, not a huge e-fold
    return MemoryLength(
        threshold=int(passing.max()) if passing.size else 0,
        threshold_censored=bool(passing.size == lags.size),
        efold=-1.0 / slope if slope < -_FLAT else math.inf,
        slope=slope, intercept=intercept, slope_low=lo, slope_high=hi,
        lyapunov_exponent=l1,
        lyapunov_time=-1.0 / l1 if l1 < -_FLAT else math.inf,
        eps=eps,
    )


def memory_length(traj: Trajectory, eps: float = 1e-2, *, burn_in: int | None = None) -> MemoryLength | list[MemoryLength]:
    """Effective memory length of a trajectory: threshold, e-folding and Lyapunov time.

    Parameters
    ----------
    traj : Trajectory
        From :func:`rnnprobe.record`.
    eps : float
        Threshold in (0, 1) on G(k) = ‖∂s_T/∂s_{T−k}‖₂.
    burn_in : int, optional
        Burn-in of the Lyapunov exponent (see :func:`rnnprobe.lyapunov_spectrum`).

    Returns
    -------
    MemoryLength, or a list of them (one per sequence) for batched trajectories.
    """
    traj = _check_trajectory(traj)
    eps = check_real("eps", eps, low=0.0, high=1.0, low_open=True, high_open=True,
                     hint="eps is a threshold on the Jacobian norm G; e.g. 0.01")
    log_G = jacobian_norms(traj, log=True)
    lam = trajectory_lyapunov_spectrum(traj, 1, burn_in=burn_in)
    log_G = log_G if traj.batched else log_G.unsqueeze(0)
    lam = lam if traj.batched else lam.unsqueeze(0)
    lags = traj.lags.numpy()
    out = [summarise_memory(lags, log_G[b].cpu().numpy(), float(lam[b, 0]), eps) for b in range(traj.batch_size)]
    return out if traj.batched else out[0]
