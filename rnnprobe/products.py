"""Jacobian products through time (or depth): norms and singular values.

For a trajectory of length T and a start step t (lag k = T − t), the product
``P(t) = J[T−1] ⋯ J[t] = ∂s_T/∂s_t``. Everything here comes from one backward
sweep ``P(t) = P(t+1) J[t]`` over the step Jacobians, renormalised at every step
so that horizons whose products under- or overflow float64 are handled in log
space: ``P(t) = exp(c_t) · P̂(t)`` with ``‖P̂(t)‖_F = 1``.

Examples
--------
A linear RNN's product is a matrix power, ``P(t) = W^{T−t}``:

>>> import torch, rnnprobe
>>> model = rnnprobe.build("vanilla-linear", hidden_size=3, init="orthogonal", gain=0.5, seed=0)
>>> traj = rnnprobe.record(model, torch.zeros(4, 1))
>>> rnnprobe.jacobian_norms(traj)
tensor([0.0625, 0.1250, 0.2500, 0.5000], dtype=torch.float64)
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from rnnprobe._validation import check_choice, check_int, check_real
from rnnprobe.errors import InvalidArgument
from rnnprobe.linalg import spectral_norms
from rnnprobe.trajectory import Trajectory

__all__ = [
    "jacobian_norms",
    "jacobian_singular_values",
    "jacobian_product",
    "normalized_products",
    "NORM_METHODS",
]

NORM_METHODS = ("power", "svd")


def _check_trajectory(traj) -> Trajectory:
    if not isinstance(traj, Trajectory):
        raise InvalidArgument(
            f"traj must be a Trajectory from rnnprobe.record(model, inputs); got {type(traj).__name__}"
        )
    return traj


def default_chunk_size(state_size: int, batch: int) -> int:
    """Steps per chunk: about 4 MiB of float64 products per chunk, at least 1."""
    return max(1, min(256, (1 << 19) // max(1, state_size * state_size * batch)))


def normalized_products(traj: Trajectory, chunk_size: int | None = None) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """Backward sweep: yield ``(start, P̂, c)`` chunks, latest steps first.

    ``P̂[i]`` ``(B, S, S)`` has unit Frobenius norm and ``c[i]`` ``(B,)`` is the
    log scale, so that ``∂s_T/∂s_{start+i} = exp(c[i]) · P̂[i]`` (``c = -inf``
    and ``P̂ = 0`` once the product is exactly zero).
    """
    traj = _check_trajectory(traj)
    B, S = traj.batch_size, traj.state_size
    chunk_size = default_chunk_size(S, B) if chunk_size is None else check_int("chunk_size", chunk_size, min_value=1)
    tiny = torch.finfo(traj.dtype).tiny
    P = torch.eye(S, dtype=traj.dtype, device=traj.device).expand(B, S, S)
    log_scale = torch.zeros(B, dtype=traj.dtype, device=traj.device)
    for start, J in traj.iter_jacobians(chunk_size, reverse=True):
        C = J.shape[0]
        buf = torch.empty(C, B, S, S, dtype=traj.dtype, device=traj.device)
        norms = torch.empty(C, B, dtype=traj.dtype, device=traj.device)
        for i in range(C - 1, -1, -1):
            torch.matmul(P, J[i], out=buf[i])
            P = buf[i]
            torch.linalg.vector_norm(P, dim=(-2, -1), out=norms[i])
            P.div_(norms[i].clamp_min(tiny)[:, None, None])
        # c[i] = log_scale + Σ_{j >= i} log norms[j]   (reverse cumulative sum)
        logs = torch.log(norms).flip(0).cumsum(0).flip(0) + log_scale
        log_scale = logs[0]
        yield start, buf, logs


def jacobian_product(traj: Trajectory, start: int = 0, stop: int | None = None) -> torch.Tensor:
    """The full product ``∂s_stop/∂s_start = J[stop−1] ⋯ J[start]``.

    A direct, un-normalised product, for short horizons and for checking: it
    under- or overflows where the log-space probes do not.

    Parameters
    ----------
    traj : Trajectory
    start, stop : int
        ``0 <= start <= stop <= T`` (``stop`` defaults to T).

    Returns
    -------
    torch.Tensor
        ``(B, S, S)``, or ``(S, S)`` for an unbatched trajectory.
    """
    traj = _check_trajectory(traj)
    T = traj.length
    stop = T if stop is None else check_int("stop", stop, min_value=0, max_value=T)
    start = check_int("start", start, min_value=0, max_value=stop)
    S = traj.state_size
    P = torch.eye(S, dtype=traj.dtype, device=traj.device).expand(traj.batch_size, S, S).clone()
    if stop > start:
        J = traj.step_jacobians(start, stop)
        for i in range(J.shape[0] - 1, -1, -1):
            P = P @ J[i]
    return traj.unbatch(P)


def jacobian_norms(
    traj: Trajectory,
    *,
    log: bool = False,
    method: str = "power",
    tol: float = 1e-13,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """G(t) = ‖∂s_T/∂s_t‖₂ for every start step t, from one backward sweep.

    Parameters
    ----------
    traj : Trajectory
        From :func:`rnnprobe.record`.
    log : bool
        Return log G(t) (natural log; ``-inf`` where the product is exactly
        zero). Use it for long horizons, where G(t) itself underflows.
    method : {'power', 'svd'}
        ``'power'`` (default): power iteration warm-started from the
        neighbouring lag's singular vector, with an SVD fallback for any lag
        that does not converge to ``tol``; ``'svd'``: a full SVD per lag
        (slower, the reference).
    tol : float
        Relative tolerance of the power iteration, in (0, 1e-3].
    chunk_size : int, optional
        Steps whose products are held at once (memory ~ chunk·B·S² floats).

    Returns
    -------
    torch.Tensor
        ``(T,)`` (or ``(B, T)`` for batched inputs), entry t for start step t,
        i.e. lag ``T − t``; ``traj.lags`` gives the lags.
    """
    traj = _check_trajectory(traj)
    check_choice("method", method, NORM_METHODS)
    tol = check_real("tol", tol, low=0.0, high=1e-3, low_open=True)
    B, T = traj.batch_size, traj.length
    out = torch.empty(T, B, dtype=traj.dtype, device=traj.device)
    u = None
    for start, P, logs in normalized_products(traj, chunk_size):
        C, _, S, _ = P.shape
        flat = P.reshape(C * B, S, S)
        if method == "svd":
            sigma = torch.linalg.matrix_norm(flat, ord=2)
        else:
            # warm start: the left vector of the lag just after this chunk (the
            # adjacent one), for every lag of the chunk
            u0 = None if u is None else u.reshape(1, B, S).expand(C, B, S).reshape(C * B, S)
            sigma, u_all, _ = spectral_norms(flat, u0, tol=tol)
            u = u_all.reshape(C, B, S)[0]
        out[start : start + C] = logs + torch.log(sigma.reshape(C, B))
    out = out.T
    return traj.unbatch(out if log else torch.exp(out))


def jacobian_singular_values(
    traj: Trajectory,
    *,
    log: bool = False,
    resolution: float = 1e-12,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """All singular values of ∂s_T/∂s_t for every start step t, in log space where needed.

    The products are formed in the renormalised backward sweep, so the large
    singular values are exact (to float64 rounding) at any horizon. Singular
    values below ``resolution`` times the largest cannot be resolved by an SVD
    of the renormalised product; for those lags a second sweep
    re-orthonormalises the product with QR at every step (as for the Lyapunov
    spectrum) and takes them from the accumulated ``log|R_ii|``: exact when the
    products are triangular in a fixed basis (e.g. diagonal W) and, in general,
    accurate in log to a bounded offset that vanishes relative to the horizon
    (the finite-time Lyapunov regime). An exact zero (lost rank, e.g. dead
    ReLU units) is ``0`` (``-inf`` in log).

    Parameters
    ----------
    traj : Trajectory
    log : bool
        Return natural logs of the singular values (needed for long horizons,
        where they under- or overflow).
    resolution : float
        Relative threshold in (0, 1e-6] below which the QR estimate is used.
    chunk_size : int, optional
        Steps whose products are held at once.

    Returns
    -------
    torch.Tensor
        ``(T, S)`` (or ``(B, T, S)``), each row in decreasing order.
    """
    traj = _check_trajectory(traj)
    resolution = check_real("resolution", resolution, low=0.0, high=1e-6, low_open=True)
    B, T, S = traj.batch_size, traj.length, traj.state_size
    out = torch.empty(T, B, S, dtype=traj.dtype, device=traj.device)
    for start, P, logs in normalized_products(traj, chunk_size):
        s = torch.linalg.svdvals(P)
        out[start : start + P.shape[0]] = torch.log(s) + logs[..., None]
    # values below resolution: the QR sweep's estimate
    unresolved = out < (out[..., :1] + torch.log(torch.tensor(resolution, dtype=traj.dtype)))
    if bool(unresolved.any()):
        qr_logs = _qr_log_diagonals(traj, chunk_size)
        out = torch.where(unresolved, qr_logs, out)
        # keep the order: a tail estimate never exceeds a resolved value above it
        out = torch.cummin(out, dim=-1).values
    out = out.permute(1, 0, 2)
    return traj.unbatch(out if log else torch.exp(out))


def _qr_log_diagonals(traj: Trajectory, chunk_size: int | None) -> torch.Tensor:
    """Sorted accumulated ``log|R_ii|`` of the backward QR sweep, ``(T, B, S)``.

    The transposed product ``M(t) = P(t)ᵀ = J[t]ᵀ M(t+1)`` is carried as ``Q R``
    with ``J[t]ᵀ Q(t+1) = Q(t) R'`` and ``log|diag R(t)| = log|diag R'| + log|diag R(t+1)|``.
    """
    B, T, S = traj.batch_size, traj.length, traj.state_size
    chunk_size = default_chunk_size(S, B) if chunk_size is None else chunk_size
    Q = torch.eye(S, dtype=traj.dtype, device=traj.device).expand(B, S, S)
    ell = torch.zeros(B, S, dtype=traj.dtype, device=traj.device)
    out = torch.empty(T, B, S, dtype=traj.dtype, device=traj.device)
    for start, J in traj.iter_jacobians(chunk_size, reverse=True):
        for i in range(J.shape[0] - 1, -1, -1):
            Q, R = torch.linalg.qr(J[i].mT @ Q)
            ell = ell + torch.log(torch.diagonal(R, dim1=-2, dim2=-1).abs())
            out[start + i] = ell
    return torch.sort(out, dim=-1, descending=True).values
