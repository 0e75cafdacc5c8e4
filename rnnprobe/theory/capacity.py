"""Linear memory capacity of a linear reservoir in closed form (Jaeger 2001).

For ``h_{t+1} = A h_t + w u_t + b`` driven by i.i.d. inputs of variance σ_u²,
the state at time t is ``Σ_{k≥1} A^{k−1} w u_{t−k}`` (plus a constant), so with
the readout ``y = P h`` (the hidden part of the state):

* the state covariance solves the discrete Lyapunov equation
  ``C = A C Aᵀ + σ_u² w wᵀ`` (needs spectral radius ρ(A) < 1), i.e.
  ``C = σ_u² Σ_{k≥1} A^{k−1} w wᵀ A^{(k−1)ᵀ}``;
* the best linear readout of ``u_{t−k}`` from y explains
  ``MC_k = σ_u² (P A^{k−1} w)ᵀ (P C Pᵀ)⁺ (P A^{k−1} w)`` of its variance;
* ``Σ_{k≥1} MC_k = tr((PCPᵀ)⁺ PCPᵀ) = rank(P C Pᵀ)``: N for P = I when the
  Krylov matrix ``[w, A w, …, A^{N−1} w]`` has full rank (C is then its Gram
  matrix), less otherwise.

σ_u² cancels. Lag k = 1 is the latest input read, as in
:func:`rnnprobe.memory_capacity`; for a model driven by a scalar input on
every input unit, ``w = W_x · 1``.

Examples
--------
>>> import numpy as np
>>> from rnnprobe.theory.capacity import linear_memory_capacity
>>> W = np.diag([0.5, 0.8]); w = np.ones(2)
>>> mc = linear_memory_capacity(W, w, max_lag=200)
>>> round(mc.total, 10), mc.rank
(2.0, 2)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from rnnprobe._validation import check_int, check_real
from rnnprobe.errors import InvalidArgument
from rnnprobe.trajectory import as_model

__all__ = [
    "LinearMemoryCapacity",
    "linear_memory_capacity",
    "krylov_rank",
    "reservoir_matrices",
    "predicted_memory_capacity",
]


@dataclass(frozen=True)
class LinearMemoryCapacity:
    """Closed-form memory capacity of a linear reservoir.

    Attributes
    ----------
    total : float
        ``Σ_{k ≤ max_lag} MC_k``.
    per_lag : numpy.ndarray
        ``(max_lag,)`` MC_k for k = 1 … max_lag.
    rank : int
        ``rank(P C Pᵀ)`` = the capacity summed over all lags (k → ∞).
    state_size : int
        Size of the read-out vector.
    """

    total: float
    per_lag: np.ndarray
    rank: int
    state_size: int


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
    """Per-lag memory capacity of ``h' = W h + w u`` read out through ``readout`` (default all of h).

    Computed without inverting C: with ``K = [P w, P W w, P W² w, …]`` (n × M,
    the lags' readout directions, M large enough that the rest is below
    float64 resolution) ``P C Pᵀ = K Kᵀ`` and ``MC_k = b_kᵀ (KKᵀ)⁺ b_k`` is the
    k-th diagonal entry of the projection on K's row space, ``‖V_{k,:}‖²`` for
    the right singular vectors V of K. The singular values of K are the square
    roots of C's eigenvalues, so directions of C down to ``rtol²`` relative are
    resolved (a contracting W makes C very ill-conditioned).

    Parameters
    ----------
    W : array-like
        N×N state matrix, spectral radius < 1.
    w : array-like
        Input vector (length N).
    max_lag : int, optional
        Largest lag (default 4·n, n the readout size).
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
    rtol = check_real("rtol", rtol, low=0.0, low_open=True)
    max_terms = check_int("max_terms", max_terms, min_value=max_lag)
    cols, v, biggest, k = [], w.copy(), 0.0, 0
    while k < max_terms:
        size = np.linalg.norm(v)
        biggest = max(biggest, size)
        if k >= max_lag and size <= 1e-17 * biggest:
            break
        cols.append(P @ v)
        v = W @ v
        k += 1
    K = np.stack(cols, axis=1)                                   # (n, M)
    _, s, Vh = np.linalg.svd(K, full_matrices=False)
    keep = s > rtol * s[0] if s.size and s[0] > 0 else np.zeros(s.shape, dtype=bool)
    V = Vh[keep].T                                               # (M, r)
    per_lag = np.clip(np.sum(V[:max_lag] ** 2, axis=1), 0.0, 1.0)
    return LinearMemoryCapacity(float(per_lag.sum()), per_lag, int(keep.sum()), P.shape[0])


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
    """The closed-form capacity of an affine recurrent model, lag for lag as :func:`rnnprobe.memory_capacity` measures it.

    Examples
    --------
    >>> import rnnprobe
    >>> model = rnnprobe.build("vanilla-linear", hidden_size=5, init="orthogonal", gain=0.7, seed=0)
    >>> round(predicted_memory_capacity(model, max_lag=400).total, 9)
    5.0
    """
    A, w, P = reservoir_matrices(model)
    max_lag = 4 * model.hidden_size if max_lag is None else max_lag
    return linear_memory_capacity(A, w, max_lag, readout=P, rtol=rtol)
