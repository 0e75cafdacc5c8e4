"""Linear memory capacity (Jaeger 2001), scored on held-out data.

Drive the model with i.i.d. inputs u(t) ~ U(−s, s) (the same value on every
input dimension), and call h(t) the hidden vector right after the model read
u(t). For every delay k = 0 … ``max_lag`` a linear readout of h(t) is trained
to reproduce u(t − k), and MC_k is the squared correlation between the target
and the readout's output.

Delays (the convention of Jaeger 2001 and ReservoirPy): k = 0 is the input of
the same step, u(t); k = 1 is u(t − 1), the input one step before the last one
read; and so on. Jaeger's capacity is ``total = Σ_{k≥1} MC_k``; MC_0 is
reported separately (``same_step``; close to 1 for most reservoirs). For a
linear reservoir whose states span all N directions ``Σ_{k≥0} MC_k = N``, so
the total tends to ``N − MC_0`` (:mod:`rnnprobe.theory.capacity`).

Estimator. The driven sequence is split: the readouts (least squares with an
intercept, optionally ridge-regularised) are fitted on the first part and
scored on the held-out rest, as ReservoirPy does. A readout scored on its own
training samples would explain about N/n_samples of *any* target, forgotten
delays included, so the total would keep growing with ``max_lag``. On held-out
data a readout of a forgotten delay is uncorrelated with its target; its
squared sample correlation r² over n_test samples then has mean exactly
1/(n_test − 1) (the target is i.i.d. and independent of the readout), and the
reported value ``MC_k = 1 − (1 − r²)(n_test − 1)/(n_test − 2)`` removes it:
MC_k of a forgotten delay is 0 in expectation (it can be slightly negative,
never below −1/(n_test − 2)), and the total does not grow with ``max_lag``
beyond sampling error. What remains is the cost of training on finitely many
samples: a remembered delay reads about ``(1 − MC_k)(N − 1)/n_train`` below
the population value (docs/theory.md §4 has the expected value,
:func:`rnnprobe.theory.capacity.expected_heldout_capacity`).

Numerical resolution. The readouts use the directions of the centred training
states whose singular values exceed ``rtol`` times the largest (default
``max(n_train, N)·eps``, the rank convention of LAPACK and
``numpy.linalg.matrix_rank``): below that, a direction is float64 rounding.
When fewer than N directions are resolved, a :class:`CapacityResolutionWarning`
says so with the count (``effective_rank``): the reservoir is degenerate (e.g.
its Krylov space is smaller than N) or some of its directions are below float64
resolution (near-linear reservoirs with spectral radius near 1:
``build("vanilla-linear", 100, init="spectral", gain=0.99, seed=0)``, a
Gaussian W at radius 0.99, resolves 78 at the default tolerance and 10 000
samples, 65 at ``rtol=1e-8``), and the capacity is that of the resolved
directions.

Examples
--------
>>> import rnnprobe
>>> model = rnnprobe.build("vanilla-linear", hidden_size=5, init="orthogonal", gain=0.7, seed=0)
>>> mc = rnnprobe.memory_capacity(model, max_lag=40, seed=0)
>>> mc.delays[:3].tolist(), mc.per_lag.shape
([0, 1, 2], torch.Size([41]))
>>> round(mc.same_step + mc.total, 1), mc.effective_rank      # Σ_{k≥0} MC_k ≈ N
(5.0, 5)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

from rnnprobe._validation import check_int, check_real
from rnnprobe.errors import InvalidArgument
from rnnprobe.trajectory import as_model, record

__all__ = ["MemoryCapacity", "CapacityResolutionWarning", "memory_capacity", "heldout_split"]


class CapacityResolutionWarning(RuntimeWarning):
    """The states (or the closed form's Krylov matrix) resolve fewer than N directions at the stated tolerance."""


@dataclass(frozen=True)
class MemoryCapacity:
    """Jaeger's linear memory capacity, scored on held-out data.

    Attributes
    ----------
    total : float
        Jaeger's capacity ``Σ_{k=1}^{max_lag} MC_k`` (delay 0 excluded).
    per_lag : torch.Tensor
        ``(max_lag + 1,)``: MC_k for the delays in ``delays``; each in
        ``[−1/(n_test − 2), 1]`` (the null bias is removed, not clipped).
    delays : torch.Tensor
        ``(max_lag + 1,)`` integer delays k = 0 … max_lag: MC_k reads u(t − k)
        from the state that has just read u(t).
    same_step : float
        MC_0, the same-step input u(t) (not part of ``total``).
    state_size : int
        N, the size of the hidden vector the readouts read.
    effective_rank : int
        Directions of the training states the readouts use (at most N).
    n_train, n_test : int
        Samples the readouts are fitted on, and scored on.
    ridge : float
        Ridge parameter of the readouts (0: least squares).
    rtol : float
        Relative singular-value tolerance that defined ``effective_rank``.
    """

    total: float
    per_lag: torch.Tensor
    delays: torch.Tensor
    same_step: float
    state_size: int
    effective_rank: int
    n_train: int
    n_test: int
    ridge: float
    rtol: float


def heldout_split(n_samples: int, test_fraction: float) -> tuple[int, int]:
    """``(n_train, n_test)``: the readouts are fitted on the first n_train samples, scored on the last n_test.

    ``n_test = round(test_fraction · n_samples)``.

    Examples
    --------
    >>> heldout_split(10_000, 0.2)
    (8000, 2000)
    """
    n_samples = check_int("n_samples", n_samples, min_value=1)
    test_fraction = check_real("test_fraction", test_fraction, low=0.0, high=1.0, low_open=True, high_open=True)
    n_test = int(round(test_fraction * n_samples))
    return n_samples - n_test, n_test


def memory_capacity(model, max_lag: int | None = None, *, n_samples: int = 10000, washout: int = 200,
                    input_scale: float = 1.0, seed: int = 0, test_fraction: float = 0.2, ridge: float = 0.0,
                    rtol: float | None = None) -> MemoryCapacity:
    """Jaeger's linear memory capacity of a model's hidden state, scored on held-out data.

    Parameters
    ----------
    model : StepModel or torch recurrent module
        A recurrent model with at least one input.
    max_lag : int, optional
        Largest delay k (default 4·N, N the hidden size); MC_k is measured
        for k = 0 … max_lag.
    n_samples : int
        Driven steps used for the readouts (after the washout and ``max_lag``
        further steps, so that every delay has a target): the first
        ``n_train`` fit the readouts, the last ``n_test`` score them.
    washout : int
        Steps run first and discarded, so the initial state is forgotten.
    input_scale : float
        u(t) ~ U(−input_scale, input_scale).
    seed : int
        Seed of the input sequence.
    test_fraction : float
        Share of ``n_samples`` held out for scoring, in (0, 1):
        ``n_test = round(test_fraction · n_samples)``; at least 3 held-out and
        N + 2 training samples are needed.
    ridge : float
        Ridge parameter λ ≥ 0 of the readouts: ``w = (HᵀH + λI)⁻¹ Hᵀy`` on the
        centred training states H (the intercept is not penalised). 0, the
        default, is least squares.
    rtol : float, optional
        Directions of the centred training states with singular values below
        ``rtol`` times the largest are dropped (default ``max(n_train, N)·eps``
        of float64); fewer than N kept raises a
        :class:`CapacityResolutionWarning`.

    Returns
    -------
    MemoryCapacity

    Raises
    ------
    InvalidArgument
        For a model without input, a parameter out of range (``ridge < 0``,
        ``test_fraction`` outside (0, 1), …) or too few samples for a split.
    """
    model = as_model(model)
    if model.kind != "recurrent" or model.input_size < 1:
        raise InvalidArgument(f"model must be a recurrent net with input_size >= 1; got {model.name!r} "
                              f"(kind {model.kind!r}, input_size {model.input_size})")
    n = model.hidden_size
    max_lag = 4 * n if max_lag is None else check_int("max_lag", max_lag, min_value=1)
    n_samples = check_int("n_samples", n_samples, min_value=1)
    washout = check_int("washout", washout, min_value=0)
    input_scale = check_real("input_scale", input_scale, low=0.0, low_open=True)
    seed = check_int("seed", seed, min_value=0)
    ridge = check_real("ridge", ridge, low=0.0)
    n_train, n_test = heldout_split(n_samples, test_fraction)
    if n_train < n + 2 or n_test < 3:
        raise InvalidArgument(
            f"n_samples must leave at least hidden_size + 2 = {n + 2} training and 3 held-out samples at "
            f"test_fraction={test_fraction!r}; got n_samples={n_samples!r} ({n_train} training, {n_test} held out)")
    if rtol is None:
        rtol = max(n_train, n) * torch.finfo(torch.float64).eps
    rtol = check_real("rtol", rtol, low=0.0, high=1.0, low_open=True, high_open=True)

    total_steps = washout + max_lag + n_samples
    g = torch.Generator().manual_seed(seed)
    u = (2 * torch.rand(total_steps, generator=g, dtype=torch.float64) - 1) * input_scale
    traj = record(model, u[:, None].expand(total_steps, model.input_size).to(model.dtype))
    # states[j] has just read u[j − 1]: delay k of state j is u[j − 1 − k]
    first = washout + max_lag + 1
    H = model.hidden(traj.states[first:, 0]).to(torch.float64)                       # (n_samples, N)
    u = u.to(H.device)
    Y = torch.stack([u[first - 1 - k: total_steps - k] for k in range(max_lag + 1)], dim=1)
    per_lag, rank = _heldout_scores(H, Y, n_train, ridge, rtol)
    if rank < n:
        warnings.warn(
            f"memory_capacity: the training states resolve only {rank} of the N = {n} directions of "
            f"{model.name!r} (singular values above rtol = {rtol:.3g} times the largest); the readouts use those "
            f"{rank}. A degenerate reservoir (e.g. a Krylov space smaller than N) has fewer directions; a "
            "near-linear one with spectral radius near 1 has directions below float64 resolution, and its "
            "capacity then depends on rtol.", CapacityResolutionWarning, stacklevel=2)
    per_lag = per_lag.cpu()
    return MemoryCapacity(total=float(per_lag[1:].sum()), per_lag=per_lag, delays=torch.arange(max_lag + 1),
                          same_step=float(per_lag[0]), state_size=n, effective_rank=rank, n_train=n_train,
                          n_test=n_samples - n_train, ridge=ridge, rtol=rtol)


def _heldout_scores(H: torch.Tensor, Y: torch.Tensor, n_train: int, ridge: float, rtol: float):
    """Null-corrected held-out squared correlations of ridge readouts of every column of Y from H."""
    H_tr, H_te, Y_tr, Y_te = H[:n_train], H[n_train:], Y[:n_train], Y[n_train:]
    mean_h = H_tr.mean(0)
    U, s, Vh = torch.linalg.svd(H_tr - mean_h, full_matrices=False)
    keep = s > rtol * s[0] if bool(s[0] > 0) else torch.zeros_like(s, dtype=torch.bool)
    rank = int(keep.sum())
    U, s, Vh = U[:, keep], s[keep], Vh[keep]
    # w = V diag(s / (s² + λ)) Uᵀ (Y − ȳ); Uᵀ1 = 0 for the centred states, so ȳ drops out
    W = Vh.T @ ((s / (s * s + ridge))[:, None] * (U.T @ Y_tr))
    P = (H_te - mean_h) @ W
    P = P - P.mean(0)
    Yc = Y_te - Y_te.mean(0)
    num = (P * Yc).sum(0).pow(2)
    den = P.pow(2).sum(0) * Yc.pow(2).sum(0)
    r2 = torch.where(den > 0, num / torch.where(den > 0, den, torch.ones_like(den)), torch.zeros_like(den))
    r2 = r2.clamp(0.0, 1.0)                       # |r| ≤ 1 up to rounding
    m = H_te.shape[0]
    return 1.0 - (1.0 - r2) * (m - 1) / (m - 2), rank
