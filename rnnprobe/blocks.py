"""Jacobian products of diagonal and 2×2-block-diagonal recurrences, over all lags in O(T·n).

When every step Jacobian is block-diagonal with the same blocks (``k = 1``: diagonal;
``k = 2``: 2×2 blocks, as the complex LRU held as ``[Re x; Im x]`` has), so is every
product ``P(t) = J[T−1] ⋯ J[t]``, block by block: no n×n matrix is ever formed.
The spectral norm of a block-diagonal matrix is the largest over its blocks, and its
singular values are the union of the blocks'. So, per block j and start step t:

* ``k = 1``: ``log|P_j(t)| = Σ_{s >= t} log|d_{s,j}|``, a reverse cumulative sum;
* ``k = 2``: the 2×2 suffix products, by a doubling scan within chunks of steps
  (each partial product renormalised, its log scale carried), a carry across chunks;
  ``σ₁`` from the closed form of a 2×2 SVD, ``σ₂ = |det P_j(t)| / σ₁`` with
  ``log|det P_j(t)| = Σ_{s >= t} log|det J_{s,j}|`` (exact however small σ₂ is).
  Where every block of a chunk is a rotation–scaling ``[[a, −b], [b, a]]`` (a complex
  factor, as in the LRU), its products are ``|det|^{1/2}`` times a rotation, so the
  chunk needs only the sums of ``log|det|`` and of the angles, as in the diagonal case.

Everything is in log space, so T = 10⁶ steps neither under- nor overflows.
:func:`rnnprobe.jacobian_norms` and :func:`rnnprobe.jacobian_singular_values` take
this path for every model with ``jacobian_block_size`` set (the diagonal family).

Examples
--------
>>> import torch, rnnprobe
>>> from rnnprobe.blocks import block_singular_values
>>> lru = rnnprobe.build("lru", hidden_size=2, r_min=0.5, r_max=0.5, seed=0)
>>> traj = rnnprobe.record(lru, torch.zeros(3, 1))
>>> block_singular_values(traj)[:, 0]                  # |λ|^k for lags 3, 2, 1, each twice
tensor([[0.1250, 0.1250],
        [0.2500, 0.2500],
        [0.5000, 0.5000]], dtype=torch.float64)
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from rnnprobe._validation import check_int
from rnnprobe.errors import InvalidArgument
from rnnprobe.trajectory import Trajectory, check_jacobians_finite

__all__ = ["has_block_jacobians", "block_singular_values", "block_log_singular_values",
           "iter_block_log_singular_values"]

#: floats of block Jacobians held per chunk of steps (about 32 MiB in float64)
_CHUNK_FLOATS = 1 << 22


def has_block_jacobians(model) -> bool:
    """Whether ``model`` declares diagonal (1) or 2×2-block (2) step Jacobians."""
    return getattr(model, "jacobian_block_size", None) in (1, 2)


def _chunk_size(traj: Trajectory, chunk_size: int | None) -> int:
    if chunk_size is not None:
        return check_int("chunk_size", chunk_size, min_value=1)
    return max(1, min(1 << 16, _CHUNK_FLOATS // max(1, traj.batch_size * traj.state_size * 2)))


def _blocks(traj: Trajectory, start: int, stop: int) -> torch.Tensor:
    with torch.no_grad():
        J = traj.model.jacobian_blocks(traj.inputs[start:stop], traj.states[start:stop], start).to(traj.dtype)
    # the dense check's rule, on the blocks: (C, B, m, k, k) -> (C, B, m·k, k) keeps (step, sequence) first
    check_jacobians_finite(traj.model, J.flatten(2, 3), start)
    return J


def _chunks(traj: Trajectory, chunk_size: int) -> Iterator[tuple[int, torch.Tensor]]:
    """``(start, blocks (C, B, m, k, k))``, the last steps first."""
    for start in reversed(range(0, traj.length, chunk_size)):
        yield start, _blocks(traj, start, min(start + chunk_size, traj.length))


def _reverse_cumsum(x: torch.Tensor, carry: torch.Tensor) -> torch.Tensor:
    """``out[i] = carry + Σ_{j >= i} x[j]`` along dim 0."""
    return x.flip(0).cumsum(0).flip(0) + carry


def _mul(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """``A @ B`` for (broadcast) stacks of 2×2 matrices, written out (faster than batched matmul of 2×2s)."""
    a00, a01, a10, a11 = A[..., 0, 0], A[..., 0, 1], A[..., 1, 0], A[..., 1, 1]
    b00, b01, b10, b11 = B[..., 0, 0], B[..., 0, 1], B[..., 1, 0], B[..., 1, 1]
    row0 = torch.stack([a00 * b00 + a01 * b10, a00 * b01 + a01 * b11], dim=-1)
    row1 = torch.stack([a10 * b00 + a11 * b10, a10 * b01 + a11 * b11], dim=-1)
    return torch.stack([row0, row1], dim=-2)


def _scaled(P: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(P / m, log m)`` per 2×2 block, ``m`` its largest |entry| (``0`` and ``-inf`` for a zero block).

    The entries of ``P / m`` lie in [−1, 1], so squares, products and determinants of them neither
    overflow nor underflow however large or small (down to subnormal) the entries of ``P`` are.
    """
    m = P.abs().amax(dim=(-2, -1))
    return P / torch.where(m > 0, m, 1.0)[..., None, None], torch.log(m)


def _log_abs_det(J: torch.Tensor) -> torch.Tensor:
    """``log|det J|`` per 2×2 block, computed on the scaled block (exact range, ``-inf`` for singular blocks)."""
    S, log_m = _scaled(J)
    det = S[..., 0, 0] * S[..., 1, 1] - S[..., 0, 1] * S[..., 1, 0]
    return torch.where(torch.isfinite(log_m), 2 * log_m + torch.log(det.abs()), log_m)


def _normalise(P: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(P / ‖P‖_F, log ‖P‖_F)`` per 2×2 block (``0`` and ``-inf`` for a zero block), for entries of any finite size."""
    norm = torch.linalg.vector_norm(P, dim=(-2, -1))
    info = torch.finfo(P.dtype)
    if not bool(((norm == torch.inf) | (norm < (info.tiny / info.eps) ** 0.5)).any()):
        return P / norm[..., None, None], torch.log(norm)        # every square in range: the direct norm is exact
    S, log_m = _scaled(P)                                          # else on the scaled blocks (zeros included)
    norm = torch.linalg.vector_norm(S, dim=(-2, -1))               # in [1, 2] for a non-zero block
    return S / torch.where(norm > 0, norm, 1.0)[..., None, None], log_m + torch.log(norm)


def _suffix_products(J: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``R[i] = J[C−1] ⋯ J[i]`` for 2×2 blocks ``J`` ``(C, ..., 2, 2)``, as (unit-norm part, log scale).

    A doubling (Hillis–Steele) scan: after the round with shift s, ``R[i]`` covers
    steps ``i … min(i + 2s, C) − 1``.
    """
    R, logs = _normalise(J)
    C, shift = J.shape[0], 1
    while shift < C:
        prod, log_norm = _normalise(_mul(R[shift:], R[:-shift]))
        R = torch.cat([prod, R[C - shift :]])
        logs = torch.cat([logs[shift:] + logs[:-shift] + log_norm, logs[C - shift :]])
        shift *= 2
    return R, logs


def _conformal(J: torch.Tensor) -> bool:
    """Whether every 2×2 block is a rotation–scaling ``[[a, −b], [b, a]]`` (a complex number), exactly."""
    return bool(((J[..., 0, 0] == J[..., 1, 1]) & (J[..., 0, 1] == -J[..., 1, 0])).all())


def _rotation(angle: torch.Tensor) -> torch.Tensor:
    """Rotation matrices ``(..., 2, 2)`` by ``angle``."""
    c, s = torch.cos(angle), torch.sin(angle)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


def _top_singular_value(P: torch.Tensor) -> torch.Tensor:
    """σ₁ of 2×2 matrices ``(..., 2, 2)`` in closed form."""
    a, b, c, d = P[..., 0, 0], P[..., 0, 1], P[..., 1, 0], P[..., 1, 1]
    q = torch.hypot((a + d) / 2, (c - b) / 2)
    r = torch.hypot((a - d) / 2, (c + b) / 2)
    return q + r


def _check(traj) -> None:
    if not isinstance(traj, Trajectory):
        raise InvalidArgument(f"traj must be a Trajectory from rnnprobe.record(model, inputs); got {type(traj).__name__}")
    traj.check_consistent()
    model = traj.model
    if not has_block_jacobians(model):
        raise InvalidArgument(f"the O(T·n) path needs a model with diagonal or 2×2-block step Jacobians "
                              f"(jacobian_block_size 1 or 2); got {model.name!r} with jacobian_block_size = "
                              f"{getattr(model, 'jacobian_block_size', None)!r}")


def iter_block_log_singular_values(traj: Trajectory, chunk_size: int | None = None
                                   ) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(start, logs)`` chunks, the last steps first: ``logs`` ``(C, B, m, k)`` as in
    :func:`block_log_singular_values` for start steps ``start … start + C − 1``."""
    _check(traj)
    chunk_size = _chunk_size(traj, chunk_size)
    k = traj.model.jacobian_block_size
    log_det = None                                     # Σ log|det| of the later chunks' steps, (B, m)
    carry = None                                       # their product: (unit-norm part, log scale)
    for start, J in _chunks(traj, chunk_size):
        if k == 1:
            logs = _reverse_cumsum(torch.log(J[..., 0, 0].abs()), 0.0 if log_det is None else log_det)
            log_det = logs[0]
            yield start, logs[..., None]
            continue
        # log|det| of each block product, exact by summation: within the chunk, and with the later chunks
        conformal = _conformal(J)
        if conformal:    # det [[a, −b], [b, a]] = a² + b², its log from hypot (no square leaves the range)
            logdet_chunk = _reverse_cumsum(2 * torch.log(torch.hypot(J[..., 0, 0], J[..., 1, 0])), 0.0)
        else:
            logdet_chunk = _reverse_cumsum(_log_abs_det(J), 0.0)
        later = 0.0 if log_det is None else log_det
        if conformal:
            # rotation–scaling blocks (complex numbers): the chunk's products are |r|·rotation, so their
            # singular values are |det|^(1/2) times those of the later chunks' product
            half = 0.5 * logdet_chunk
            rotation = _rotation(torch.atan2(J[..., 1, 0], J[..., 0, 0]).sum(0))
            if carry is None:
                log_s1 = log_s2 = half
                carry = (rotation, half[0])
            else:
                c1 = torch.log(_top_singular_value(carry[0])) + carry[1]
                c2 = torch.where(torch.isfinite(c1), later - c1, c1)
                log_s1, log_s2 = half + c1, half + c2
                M, extra = _normalise(_mul(carry[0], rotation))
                carry = (M, carry[1] + half[0] + extra)
        else:
            logdet = logdet_chunk + later
            R, logs = _suffix_products(J)
            if carry is not None:
                R, extra = _normalise(_mul(carry[0], R))
                logs = logs + carry[1] + extra
            carry = (R[0], logs[0])
            log_s1 = torch.log(_top_singular_value(R)) + logs
            log_s2 = torch.where(torch.isfinite(log_s1), logdet - log_s1, log_s1)
        log_det = logdet_chunk[0] + later
        # rounding can leave σ₂ a hair above σ₁ when they are equal
        yield start, torch.stack([torch.maximum(log_s1, log_s2), torch.minimum(log_s1, log_s2)], dim=-1)


def block_log_singular_values(traj: Trajectory, *, chunk_size: int | None = None) -> torch.Tensor:
    """Natural logs of the singular values of every block of ``∂s_T/∂s_t``: ``(T, B, m, k)``.

    Entry ``[t, b, j]`` holds block j's (``model.jacobian_block_index()[j]``)
    singular values, largest first (``-inf`` for exact zeros), for start step t.

    Parameters
    ----------
    traj : Trajectory
        Of a model with ``jacobian_block_size`` 1 or 2.
    chunk_size : int, optional
        Steps whose blocks are held at once (default: about 32 MiB of them).

    Returns
    -------
    torch.Tensor
    """
    _check(traj)
    k = traj.model.jacobian_block_size
    out = torch.empty(traj.length, traj.batch_size, traj.state_size // k, k, dtype=traj.dtype, device=traj.device)
    for start, logs in iter_block_log_singular_values(traj, chunk_size):
        out[start : start + logs.shape[0]] = logs
    return out


def block_singular_values(traj: Trajectory, *, log: bool = False, chunk_size: int | None = None) -> torch.Tensor:
    """Per-block singular values of ``∂s_T/∂s_t`` for block-diagonal chains: ``(T, m, k)`` (or ``(B, T, m, k)``).

    See :func:`block_log_singular_values`; ``log=True`` returns natural logs.
    """
    from rnnprobe.products import exp_checked

    out = block_log_singular_values(traj, chunk_size=chunk_size).permute(1, 0, 2, 3)
    return traj.unbatch(exp_checked(out, log, "a singular value of a block of ∂s_T/∂s_t"))


def log_jacobian_norms(traj: Trajectory, chunk_size: int | None = None) -> torch.Tensor:
    """``log G(t)`` ``(B, T)``: the largest block singular value, per start step (O(T) memory)."""
    out = torch.empty(traj.length, traj.batch_size, dtype=traj.dtype, device=traj.device)
    for start, logs in iter_block_log_singular_values(traj, chunk_size):
        out[start : start + logs.shape[0]] = logs[..., 0].amax(-1)
    return out.T


def log_jacobian_singular_values(traj: Trajectory, chunk_size: int | None = None) -> torch.Tensor:
    """All singular values' logs ``(B, T, S)``, decreasing: the union over the blocks."""
    logs = block_log_singular_values(traj, chunk_size=chunk_size).flatten(-2)
    return torch.sort(logs, dim=-1, descending=True).values.permute(1, 0, 2)
