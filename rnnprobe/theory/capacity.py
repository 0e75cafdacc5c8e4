"""Linear memory capacity of a linear reservoir in closed form (Jaeger 2001), and what the held-out estimator reads.

Delays follow Jaeger (2001) and :func:`rnnprobe.memory_capacity`: for
``h(t) = A h(t−1) + w u(t) + b`` (h(t) has just read u(t)) driven by i.i.d.
inputs of variance σ_u², ``h(t) = Σ_{k≥0} A^k w u(t−k)`` (plus a constant), and
delay k = 0 is the same-step input u(t). With the readout ``y = P h`` (the
hidden part of the state):

* the state covariance solves the discrete Lyapunov equation
  ``C = A C Aᵀ + σ_u² w wᵀ`` (needs spectral radius ρ(A) < 1), i.e.
  ``C = σ_u² Σ_{k≥0} A^k w wᵀ A^{kᵀ}``;
* the best linear readout of ``u(t−k)`` from y explains
  ``MC_k = σ_u² (P A^k w)ᵀ (P C Pᵀ)⁺ (P A^k w)`` of its variance;
* ``Σ_{k≥0} MC_k = tr((PCPᵀ)⁺ PCPᵀ) = rank(P C Pᵀ)``: N for P = I when the
  Krylov matrix ``[w, A w, …, A^{N−1} w]`` has full rank (C is then its Gram
  matrix), less otherwise; Jaeger's capacity ``Σ_{k≥1} MC_k`` is that rank
  less ``MC_0``.

σ_u² cancels. For a model driven by a scalar input on every input unit,
``w = W_x · 1``. The rank is numerical: singular values of the Krylov
matrix below ``rtol`` times the largest count as zero (stated in the result;
a :class:`~rnnprobe.capacity.CapacityResolutionWarning` says when fewer than
the readout's n directions are resolved).

:func:`expected_heldout_capacity` gives what rnnprobe's held-out estimator
reads on average for a population MC_k (Gaussian approximation; docs/theory.md
§4).

Examples
--------
>>> import numpy as np
>>> from rnnprobe.theory.capacity import linear_memory_capacity
>>> W = np.diag([0.5, 0.8]); w = np.ones(2)
>>> mc = linear_memory_capacity(W, w, max_lag=200)
>>> mc.rank, round(mc.same_step + mc.total, 10), round(mc.limit, 10) == round(2 - mc.same_step, 10)
(2, 2.0, True)
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from rnnprobe._validation import check_int, check_real
from rnnprobe.capacity import CapacityResolutionWarning
from rnnprobe.errors import InvalidArgument
from rnnprobe.trajectory import as_model

__all__ = [
    "LinearMemoryCapacity",
    "linear_memory_capacity",
    "krylov_rank",
    "reservoir_matrices",
    "predicted_memory_capacity",
    "expected_heldout_capacity",
]


@dataclass(frozen=True)
class LinearMemoryCapacity:
    """Closed-form memory capacity of a linear reservoir.

    Attributes
    ----------
    total : float
        Jaeger's capacity up to ``max_lag``: ``Σ_{k=1}^{max_lag} MC_k``.
    per_lag : numpy.ndarray
        ``(max_lag + 1,)`` MC_k for the delays k = 0 … max_lag.
    delays : numpy.ndarray
        ``(max_lag + 1,)`` the delays k (0: the same-step input u(t)).
    same_step : float
        MC_0.
    rank : int
        ``rank(P C Pᵀ)`` at ``rtol`` = ``Σ_{k≥0} MC_k`` over all delays.
    limit : float
        Jaeger's capacity over all delays, ``Σ_{k≥1} MC_k = rank − MC_0``.
    state_size : int
        Size of the read-out vector.
    rtol : float
        Singular values of the Krylov matrix below ``rtol`` times the largest count as zero.
    """

    total: float
    per_lag: np.ndarray
    delays: np.ndarray
    same_step: float
    rank: int
    limit: float
    state_size: int
    rtol: float


def _as_array(x, name, ndim):
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().to(torch.float64).numpy()
    x = np.asarray(x, dtype=float)
    if x.ndim != ndim or not np.isfinite(x).all():
        raise InvalidArgument(f"{name} must be a finite {ndim}-d array; got shape {x.shape}")
    return x


def krylov_rank(W, w, *, rtol: float = 1e-10) -> int:
    """Rank of the Krylov matrix ``[w, W w, …, W^{N−1} w]``, by Arnoldi with re-orthogonalisation.

    The iteration stops when the new direction's norm falls below
    ``rtol · max(‖W‖₂, 1)``; the number of directions found is the rank (the
    dimension of the smallest W-invariant subspace containing w).

    Examples
    --------
    >>> krylov_rank(np.diag([0.5, 0.5, 0.8]), np.ones(3))   # repeated eigenvalue: rank 2
    2
    """
    W = _as_array(W, "W", 2)
    w = _as_array(w, "w", 1)
    N = W.shape[0]
    if W.shape != (N, N) or w.shape != (N,):
        raise InvalidArgument(f"W must be N×N and w of length N; got shapes {W.shape} and {w.shape}")
    rtol = check_real("rtol", rtol, low=0.0, low_open=True)
    scale = max(np.linalg.norm(W, 2), 1.0)
    norm = np.linalg.norm(w)
    if norm == 0.0:
        return 0
    Q = [w / norm]
    while len(Q) < N:
        r = W @ Q[-1]
        for _ in range(2):
            for q in Q:
                r = r - (q @ r) * q
        nr = np.linalg.norm(r)
        if nr <= rtol * scale:
            break
        Q.append(r / nr)
    return len(Q)


def linear_memory_capacity(W, w, max_lag: int | None = None, *, readout=None, rtol: float = 1e-12,
                           max_terms: int = 200_000) -> LinearMemoryCapacity:
    """Per-delay memory capacity of ``h(t) = W h(t−1) + w u(t)`` read out through ``readout`` (default all of h).

    Computed without inverting C: with ``K = [P w, P W w, P W² w, …]`` (n × M,
    column k the readout direction of delay k, M large enough that the rest is
    below float64 resolution) ``P C Pᵀ = K Kᵀ`` and ``MC_k = b_kᵀ (KKᵀ)⁺ b_k``
    is the k-th diagonal entry of the projection on K's row space,
    ``‖V_{k,:}‖²`` for the right singular vectors V of K. The singular values
    of K are the square roots of C's eigenvalues, so directions of C down to
    ``rtol²`` relative are resolved (a contracting W makes C very
    ill-conditioned); directions below are dropped, and a
    :class:`~rnnprobe.capacity.CapacityResolutionWarning` names the rank when
    it is below the readout size n.

    Parameters
    ----------
    W : array-like
        N×N state matrix, spectral radius < 1.
    w : array-like
        Input vector (length N).
    max_lag : int, optional
        Largest delay (default 4·n, n the readout size).
    readout : array-like, optional
        n×N matrix P selecting what the readout sees (default the identity).
    rtol : float
        Singular values of K below ``rtol`` times the largest count as zero.
    max_terms : int
        Cap on M.

    Returns
    -------
    LinearMemoryCapacity
    """
    W = _as_array(W, "W", 2)
    w = _as_array(w, "w", 1)
    N = W.shape[0]
    if W.shape != (N, N) or w.shape != (N,):
        raise InvalidArgument(f"W must be N×N and w of length N; got shapes {W.shape} and {w.shape}")
    radius = np.abs(np.linalg.eigvals(W)).max()
    if radius >= 1.0:
        raise InvalidArgument(f"W must have spectral radius < 1 (a stationary reservoir); got {radius!r}")
    P = np.eye(N) if readout is None else _as_array(readout, "readout", 2)
    if P.shape[1] != N:
        raise InvalidArgument(f"readout must have N = {N} columns; got shape {P.shape}")
    max_lag = 4 * P.shape[0] if max_lag is None else check_int("max_lag", max_lag, min_value=1)
    rtol = check_real("rtol", rtol, low=0.0, high=1.0, low_open=True, high_open=True)
    max_terms = check_int("max_terms", max_terms, min_value=max_lag + 1)
    cols, v, biggest, k = [], w.copy(), 0.0, 0
    while k < max_terms:
        size = np.linalg.norm(v)
        biggest = max(biggest, size)
        if k > max_lag and size <= 1e-17 * biggest:
            break
        cols.append(P @ v)
        v = W @ v
        k += 1
    K = np.stack(cols, axis=1)                                   # (n, M): column k is delay k
    _, s, Vh = np.linalg.svd(K, full_matrices=False)
    keep = s > rtol * s[0] if s.size and s[0] > 0 else np.zeros(s.shape, dtype=bool)
    V = Vh[keep].T                                               # (M, r)
    every = np.clip(np.sum(V**2, axis=1), 0.0, 1.0)
    rank, n = int(keep.sum()), P.shape[0]
    if rank < n:
        warnings.warn(f"linear_memory_capacity: the Krylov matrix resolves {rank} of the n = {n} read-out "
                      f"directions at rtol = {rtol:.3g} (singular values relative to the largest); the capacity "
                      "counts those only. A degenerate reservoir has fewer; directions with singular values "
                      "below rtol are lost, and the capacity then depends on rtol.",
                      CapacityResolutionWarning, stacklevel=2)
    per_lag = every[: max_lag + 1]
    return LinearMemoryCapacity(total=float(per_lag[1:].sum()), per_lag=per_lag, delays=np.arange(max_lag + 1),
                                same_step=float(per_lag[0]), rank=rank, limit=float(rank - per_lag[0]),
                                state_size=n, rtol=rtol)


def reservoir_matrices(model, *, atol: float = 1e-9):
    """``(A, w, P)`` of a recurrent model that is affine in its state and input.

    ``A = ∂s'/∂s``, ``w = s'(x = 1, s = 0) − s'(x = 0, s = 0)`` (one scalar
    input on every input unit, as :func:`rnnprobe.memory_capacity` drives it)
    and P the readout of the hidden vector from the state.

    Raises
    ------
    InvalidArgument
        If the model is not affine (checked at a random state and input).
    """
    model = as_model(model)
    if model.kind != "recurrent" or model.input_size < 1:
        raise InvalidArgument(f"model must be a recurrent net with input_size >= 1; got {model.name!r}")
    S, d = model.state_size, model.input_size
    dt = model.dtype
    zero_s, zero_x = torch.zeros(1, S, dtype=dt), torch.zeros(1, d, dtype=dt)
    one_x = torch.ones(1, d, dtype=dt)
    with torch.no_grad():
        base = model.step(zero_x, zero_s)
        w = (model.step(one_x, zero_s) - base)[0]
        A = model.step_jacobian(zero_x, zero_s)[0]
        g = torch.Generator().manual_seed(0)
        s = torch.randn(1, S, generator=g, dtype=torch.float64).to(dt)
        u = 0.7
        lhs = model.step(u * one_x, s) - base
        rhs = s @ A.T + u * w
        P = model.hidden(torch.eye(S, dtype=dt)).T
    scale = max(1.0, float(lhs.abs().max()))
    if not bool(torch.allclose(lhs, rhs, atol=atol * scale, rtol=0.0)):
        raise InvalidArgument(
            f"model must be affine in its state and input for the closed-form capacity; {model.name!r} is not "
            "(use a linear nonlinearity, e.g. 'vanilla-linear')"
        )
    return A.to(torch.float64).numpy(), w.to(torch.float64).numpy(), P.to(torch.float64).numpy()


def predicted_memory_capacity(model, max_lag: int | None = None, *, rtol: float = 1e-12) -> LinearMemoryCapacity:
    """The closed-form capacity of an affine recurrent model, delay for delay as :func:`rnnprobe.memory_capacity` measures it.

    Examples
    --------
    >>> import rnnprobe
    >>> model = rnnprobe.build("vanilla-linear", hidden_size=5, init="orthogonal", gain=0.7, seed=0)
    >>> mc = predicted_memory_capacity(model, max_lag=400)
    >>> round(mc.same_step + mc.total, 9), mc.rank, round(mc.total - mc.limit, 9)
    (5.0, 5, 0.0)
    """
    A, w, P = reservoir_matrices(model)
    max_lag = 4 * model.hidden_size if max_lag is None else max_lag
    return linear_memory_capacity(A, w, max_lag, readout=P, rtol=rtol)


def _poisson_mean_ratio(mu: float, N: int) -> float:
    """``E[(1 + 2J)/(N + 2J)]`` for J ~ Poisson(mu)."""
    from scipy import stats

    if mu > 1e6:      # f(J) = 1 − (N − 1)/(N + 2J): second-order expansion, error O(mu⁻³)
        return 1.0 - (N - 1) / (N + 2 * mu) - 4 * mu * (N - 1) / (N + 2 * mu) ** 3
    half = 12.0 * math.sqrt(mu) + 30.0
    j = np.arange(max(0, math.floor(mu - half)), math.ceil(mu + half) + 1)
    return float(np.sum(stats.poisson.pmf(j, mu) * (1 + 2 * j) / (N + 2 * j)))


def expected_heldout_capacity(per_lag, n_regressors: int, n_train: int, n_test: int) -> np.ndarray:
    """What :func:`rnnprobe.memory_capacity` (least squares, ridge 0) reads on average, given the population MC_k.

    Two finite-sample effects, under a Gaussian approximation (docs/theory.md §4):

    * training: the least-squares readout from ``n_train`` samples and
      ``n_regressors`` = r directions has error δ with covariance about
      ``σ_e² Σ⁻¹/ν``, ν = n_train − r − 2, σ_e² = 1 − MC_k. Its population
      squared correlation with the target is ``MC_k · A/(A + B)`` with
      A/s² noncentral χ²₁(λ), B/s² χ²_{r−1}, λ = MC_k ν/(1 − MC_k): a
      noncentral Beta variable whose mean is the Poisson mixture
      ``m_k = MC_k · E[(1 + 2J)/(r + 2J)]``, J ~ Poisson(λ/2). For
      λ ≫ r this is ``MC_k − (1 − MC_k)(r − 1)/ν``; for a forgotten delay, 0.
    * scoring: the null-corrected squared correlation over ``n_test``
      bivariate-normal samples has mean ``1 − (1 − m)·₂F₁(1, 1; (n_test + 1)/2; m)``
      (≈ m − 2m(1 − m)/n_test), applied to m = m_k.

    Parameters
    ----------
    per_lag : array-like
        Population MC_k, each in [0, 1] (e.g. :func:`linear_memory_capacity`'s ``per_lag``).
    n_regressors : int
        r, the directions the readouts use (``MemoryCapacity.effective_rank``).
    n_train, n_test : int
        The split (:func:`rnnprobe.capacity.heldout_split`).

    Returns
    -------
    numpy.ndarray
        The expected estimate per delay.

    Examples
    --------
    >>> import numpy as np
    >>> e = expected_heldout_capacity([0.0, 0.5, 1.0], n_regressors=10, n_train=8000, n_test=2000)
    >>> float(e[0]), round(float(0.5 - e[1]), 5), float(e[2])     # 0.5·(10 − 1)/7988 + 2·0.25/2000
    (0.0, 0.00081, 1.0)
    """
    from scipy import special

    mc = _as_array(per_lag, "per_lag", 1)
    if np.any(mc < 0) or np.any(mc > 1):
        raise InvalidArgument(f"per_lag must lie in [0, 1]; got values in [{mc.min()!r}, {mc.max()!r}]")
    r = check_int("n_regressors", n_regressors, min_value=1)
    n_train = check_int("n_train", n_train, min_value=r + 3)
    n_test = check_int("n_test", n_test, min_value=3)
    nu = n_train - r - 2
    out = np.empty_like(mc)
    for i, m in enumerate(mc):
        if m <= 0.0 or m >= 1.0:
            out[i] = m
            continue
        fitted = m * _poisson_mean_ratio(m * nu / (2 * (1 - m)), r)
        c = (n_test + 1) / 2
        # ₂F₁(1, 1; c; z) → (c − 1)/(c − 2) as z → 1 (Gauss); scipy's series gives NaN within ~1e-13 of 1
        f = special.hyp2f1(1.0, 1.0, c, fitted) if 1.0 - fitted > 1e-9 else (c - 1) / (c - 2)
        out[i] = 1.0 - (1.0 - fitted) * f
    if not np.isfinite(out).all():
        raise InvalidArgument(f"expected_heldout_capacity: non-finite result for per_lag {mc!r}")
    return out
