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

import math
from collections.abc import Iterator

import torch

from rnnprobe import blocks
from rnnprobe._validation import check_bool, check_choice, check_int, check_real
from rnnprobe.errors import InvalidArgument
from rnnprobe.linalg import exact_spectral_norms, mul_pow2, pow2_normalize, spectral_norms, start_vectors
from rnnprobe.trajectory import Trajectory, check_jacobians_finite

__all__ = [
    "jacobian_norms",
    "jacobian_singular_values",
    "jacobian_product",
    "normalized_products",
    "NORM_METHODS",
]

NORM_METHODS = ("auto", "power", "svd")

_LN2 = math.log(2.0)

# 'auto': up to this state size a batched SVD of every product is faster than the
# subspace iteration (whose per-iteration overhead dominates for small matrices)
_SVD_MAX_STATE = 32

# relative perturbation of Jacobian entries that models float64 rounding (per sqrt(S))
_ROUNDING = 4 * 2.0**-52
# a singular value that this perturbation moves by more than 1% is noise
_NOISE_TOL = 1e-2
# the shortest lags (no warm start yet, and clustered top singular values) are done
# exactly, this many of them; longer lags in blocks of _WARM_BLOCK, each warm-started from
# the top left singular subspace (of _SUBSPACE vectors) of the adjacent, shorter lag
_COLD_LAGS = 32
_WARM_BLOCK = 32
_SUBSPACE = 8


def _check_trajectory(traj) -> Trajectory:
    if not isinstance(traj, Trajectory):
        raise InvalidArgument(
            f"traj must be a Trajectory from rnnprobe.record(model, inputs); got {type(traj).__name__}"
        )
    traj.check_consistent()
    return traj


def _use_blocks(traj: Trajectory, diagonal) -> bool:
    """Whether a probe takes the O(T·n) block-diagonal path (:mod:`rnnprobe.blocks`)."""
    if diagonal is None:
        return blocks.has_block_jacobians(traj.model)
    if not isinstance(diagonal, bool):
        raise InvalidArgument(f"diagonal must be True, False or None (automatic); got {diagonal!r}")
    if diagonal and not blocks.has_block_jacobians(traj.model):
        raise InvalidArgument(f"diagonal=True needs a model with diagonal or 2×2-block step Jacobians "
                              f"(jacobian_block_size 1 or 2); got {traj.model.name!r}")
    return diagonal


def default_chunk_size(state_size: int, batch: int) -> int:
    """Steps per chunk: about 4 MiB of float64 products per chunk, at least 1."""
    return max(1, min(256, (1 << 19) // max(1, state_size * state_size * batch)))


def chunk_size_of(traj: Trajectory, chunk_size) -> int:
    """The ``chunk_size`` argument of a probe, checked (an integer >= 1), or the default."""
    if chunk_size is None:
        return default_chunk_size(traj.state_size, traj.batch_size)
    return check_int("chunk_size", chunk_size, min_value=1)


def exp_checked(log_values: torch.Tensor, log, quantity: str) -> torch.Tensor:
    """Return ``log_values`` when ``log``, else their exponentials, refusing to overflow.

    The rule every probe with a ``log`` option follows: a value whose log is
    finite but whose exponential exceeds the dtype's largest float is never
    returned as ``inf``; the call raises :class:`InvalidArgument` naming
    ``log``. Values below the smallest float underflow to 0 (their logs stay
    exact with ``log=True``).
    """
    if check_bool("log", log):
        return log_values
    values = torch.exp(log_values)
    over = torch.isinf(values) & torch.isfinite(log_values)
    if bool(over.any()):
        worst = float(log_values[over].max())
        dtype = str(log_values.dtype).removeprefix("torch.")
        raise InvalidArgument(
            f"log must be True here: {quantity} exceeds the largest {dtype} ({torch.finfo(log_values.dtype).max:.4g}) "
            f"at {int(over.sum())} entr{'y' if int(over.sum()) == 1 else 'ies'} (largest natural log {worst:.6g}), "
            "which log=True returns exactly; got log=False"
        )
    return values


def normalized_products(traj: Trajectory, chunk_size: int | None = None, *, perturbation: float = 0.0,
                        seed: int = 0) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """Backward sweep: yield ``(start, P̂, c)`` chunks, latest steps first.

    ``P̂[i]`` ``(B, S, S)`` has unit Frobenius norm and ``c[i]`` ``(B,)`` is the
    log scale, so that ``∂s_T/∂s_{start+i} = exp(c[i]) · P̂[i]`` (``c = -inf``
    and ``P̂ = 0`` once the product is exactly zero). With ``perturbation`` > 0
    every step Jacobian entry is multiplied by ``1 + perturbation·ξ`` (ξ standard
    normal, from ``seed``): a model of rounding, to see which results it moves.
    """
    traj = _check_trajectory(traj)
    B, S = traj.batch_size, traj.state_size
    chunk_size = chunk_size_of(traj, chunk_size)
    P = torch.eye(S, dtype=traj.dtype, device=traj.device).expand(B, S, S)
    log_scale = torch.zeros(B, dtype=traj.dtype, device=traj.device)
    generator = torch.Generator().manual_seed(seed) if perturbation else None
    lo, hi = safe_norm_range(traj.dtype)
    for start, J in traj.iter_jacobians(chunk_size, reverse=True, check=False):
        if perturbation:
            xi = torch.randn(J.shape, generator=generator, dtype=torch.float64).to(J)
            J = J * (1 + perturbation * xi)
        buf, step_logs = _sweep_chunk(P, J)
        norms = torch.exp(step_logs)
        if not bool(((norms >= lo) & (norms <= hi)).all()):
            # a step's product left the range where its Frobenius norm is formed safely (huge or
            # tiny weights), or a Jacobian is not finite: redo the chunk with every factor and
            # every product split exactly as 2^e × (entries of magnitude < 1), which cannot over-
            # or underflow for any finite Jacobians
            check_jacobians_finite(traj.model, J, start)
            buf, step_logs = _sweep_chunk(P, J, scaled=True)
        P = buf[0]
        # c[i] = log_scale + Σ_{j >= i} (log norms[j] + e[j] log 2)   (reverse cumulative sum)
        logs = step_logs.flip(0).cumsum(0).flip(0) + log_scale
        log_scale = logs[0]
        yield start, buf, logs


def safe_norm_range(dtype: torch.dtype) -> tuple[float, float]:
    """``(lo, hi)``: a norm in this range was formed without over- or underflow of its squares."""
    half = int(math.log2(torch.finfo(dtype).max)) // 2 - 12      # 499 (float64), 51 (float32)
    return 2.0**-half, 2.0**half


def _sweep_chunk(P: torch.Tensor, J: torch.Tensor, *, scaled: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``P̂[i] = P̂[i+1] J[i] / ‖·‖_F`` for one chunk, from ``P`` (the product after it): (P̂, log norms).

    ``scaled``: every ``J[i]`` and every product is split exactly as ``2^e M̂`` (max|M̂| in
    [1/2, 1)) before its norm is taken, so that nothing over- or underflows; otherwise
    (faster) the norms are formed directly, valid while they stay in :func:`safe_norm_range`.
    """
    C, B, S, _ = J.shape
    buf = torch.empty(C, B, S, S, dtype=J.dtype, device=J.device)
    norms = torch.empty(C, B, dtype=J.dtype, device=J.device)
    if scaled:
        J, e = pow2_normalize(J)
        e = e.clone()
    for i in range(C - 1, -1, -1):
        torch.matmul(P, J[i], out=buf[i])
        P = buf[i]
        if scaled:
            M, e_m = pow2_normalize(P)
            P.copy_(M)
            e[i] += e_m
        torch.linalg.vector_norm(P, dim=(-2, -1), out=norms[i])
        P.div_(torch.where(norms[i] > 0, norms[i], torch.ones_like(norms[i]))[:, None, None])
    logs = torch.log(norms)
    return buf, (logs + e.to(J.dtype) * _LN2 if scaled else logs)


def jacobian_product(traj: Trajectory, start: int = 0, stop: int | None = None) -> torch.Tensor:
    """The full product ``∂s_stop/∂s_start = J[stop−1] ⋯ J[start]``.

    For short horizons and for checking. Formed with exact power-of-two
    rescaling, so an intermediate product never overflows when the result is
    representable; entries below the smallest float underflow to 0, and a
    product beyond the largest raises InvalidArgument (use the probes' logs).

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
    # P = 2^E P̂, renormalised by powers of two at every step (exact), so that an intermediate
    # product cannot overflow when the final one is representable
    E = torch.zeros(traj.batch_size, dtype=torch.int64, device=traj.device)
    if stop > start:
        J, e = pow2_normalize(traj.step_jacobians(start, stop, check=True))
        for i in range(J.shape[0] - 1, -1, -1):
            P, e_p = pow2_normalize(P @ J[i])
            E = E + e[i] + e_p
    out = mul_pow2(P, E[:, None, None])
    if not bool(torch.isfinite(out).all()):
        raise InvalidArgument(
            f"start and stop must span a product jacobian_product can represent: ∂s_{stop}/∂s_{start} exceeds the "
            f"largest {str(traj.dtype).removeprefix('torch.')} (its largest entry is about "
            f"2^{int((E + torch.frexp(P.abs().amax((-2, -1)))[1]).max())}); use jacobian_norms(traj, log=True) or "
            f"jacobian_singular_values(traj, log=True), or a shorter span; got start={start!r}, stop={stop!r}"
        )
    return traj.unbatch(out)


def jacobian_norms(
    traj: Trajectory,
    *,
    log: bool = False,
    method: str = "auto",
    tol: float = 1e-10,
    chunk_size: int | None = None,
    diagonal: bool | None = None,
) -> torch.Tensor:
    """G(t) = ‖∂s_T/∂s_t‖₂ for every start step t, from one backward sweep.

    Parameters
    ----------
    traj : Trajectory
        From :func:`rnnprobe.record`.
    log : bool
        Return log G(t) (natural log; ``-inf`` where the product is exactly
        zero). Use it for long horizons and large weights: with ``log=False``
        a G(t) below the smallest float is 0, and one above the largest raises
        InvalidArgument (never ``inf``); the logs are exact either way.
    method : {'auto', 'power', 'svd'}
        ``'auto'`` (default): ``'svd'`` for state sizes up to 32, where a batched
        SVD is faster, ``'power'`` above. ``'power'``: subspace (block power)
        iteration on 8 vectors, warm-started from the neighbouring lag's top
        left singular subspace, with an exact fallback for any lag that would
        be slow to converge to ``tol`` (see :func:`rnnprobe.linalg.spectral_norms`);
        ``'svd'``: a full SVD per lag (slower, the reference).
    tol : float
        Relative residual tolerance of the iteration, in (0, 1e-3]: G(t)
        is exact to about ``tol/2`` relative (see
        :func:`rnnprobe.linalg.spectral_norms`).
    chunk_size : int, optional
        Steps whose products are held at once (memory ~ chunk·B·S² floats).
    diagonal : bool, optional
        Whether to take the O(T·n) path of :mod:`rnnprobe.blocks` (exact; ``method``
        and ``tol`` do not apply there). Default: for every model whose step
        Jacobians are diagonal or 2×2-block (``model.jacobian_block_size``, the
        diagonal family); False forces the general sweep.

    Returns
    -------
    torch.Tensor
        ``(T,)`` (or ``(B, T)`` for batched inputs), entry t for start step t,
        i.e. lag ``T − t``; ``traj.lags`` gives the lags.
    """
    traj = _check_trajectory(traj)
    check_bool("log", log)
    check_choice("method", method, NORM_METHODS)
    if _use_blocks(traj, diagonal):
        out = blocks.log_jacobian_norms(traj, chunk_size)
        return traj.unbatch(exp_checked(out, log, "G(t) = ‖∂s_T/∂s_t‖₂"))
    chunk_size = chunk_size_of(traj, chunk_size)
    if method == "auto":
        method = "svd" if traj.state_size <= _SVD_MAX_STATE else "power"
    tol = check_real("tol", tol, low=0.0, high=1e-3, low_open=True)
    B, T = traj.batch_size, traj.length
    out = torch.empty(T, B, dtype=traj.dtype, device=traj.device)
    u = None
    for start, P, logs in normalized_products(traj, chunk_size):
        C, _, S, _ = P.shape
        if method == "svd":
            sigma = torch.linalg.matrix_norm(P, ord=2)
        else:
            sigma = torch.empty(C, B, dtype=P.dtype, device=P.device)
            # Short lags first. The left singular vectors (in s_T's space) settle as the lag
            # grows, so every block of lags starts from the top left subspace of the adjacent,
            # shorter lag already done.
            stop = C
            while stop > 0:
                done = T - start - stop                 # lags already measured (the shortest)
                size = _COLD_LAGS - done if done < _COLD_LAGS else _WARM_BLOCK
                block = slice(stop - min(stop, size), stop)
                A = P[block].reshape(-1, S, S)
                if done < _COLD_LAGS:
                    # the shortest lags: exactly (their top singular values cluster, and there is
                    # no neighbour to start from yet)
                    s, u_all = exact_spectral_norms(A, _SUBSPACE)
                else:
                    u0 = u.expand(block.stop - block.start, *u.shape).reshape(A.shape[0], *u.shape[1:])
                    s, u_all, _ = spectral_norms(A, u0, tol=tol, block=_SUBSPACE, return_subspace=True)
                sigma[block] = s.reshape(-1, B)
                u = u_all.reshape(-1, B, *u_all.shape[1:])[0]
                stop = block.start
        out[start : start + C] = logs + torch.log(sigma)
    out = out.T
    return traj.unbatch(exp_checked(out, log, "G(t) = ‖∂s_T/∂s_t‖₂"))


def jacobian_singular_values(
    traj: Trajectory,
    *,
    log: bool = False,
    resolution: float = 1e-12,
    chunk_size: int | None = None,
    diagonal: bool | None = None,
) -> torch.Tensor:
    """All singular values of ∂s_T/∂s_t for every start step t, in log space where needed.

    The products are formed in the renormalised backward sweep, and the singular
    values down to ``resolution`` times the largest come from an SVD of the
    renormalised product, at any horizon, unless the rounding of the product
    moves them: the sweep is repeated with every Jacobian entry perturbed at the
    level of float64 rounding, and a value that moves by more than 1%
    is noise (non-normal products amplify rounding far beyond
    eps·σ₁). Those, and values below ``resolution``, cannot be resolved by an SVD; for
    them a QR sweep carries the transposed product applied to a frame of its
    approximate left singular vectors (from a forward QR sweep of the whole chain,
    which converges to them exponentially fast in the lag) and takes them from
    the accumulated ``log|R_ii|``, as the Lyapunov spectrum does. Checked against
    400-digit mpmath SVDs: log errors of about 1e-5 where the frame has converged,
    larger at intermediate lags where the unresolved values exist but the frame
    has not yet aligned. A direction that a step Jacobian annihilates to within
    rounding (``|R_ii| <= S·eps·‖J_t‖_F``, e.g. dead ReLU units) is an exact zero
    (``-inf`` in log).

    Parameters
    ----------
    traj : Trajectory
    log : bool
        Return natural logs of the singular values (needed for long horizons,
        where they under- or overflow: with ``log=False`` values below the
        smallest float are 0 and values above the largest raise InvalidArgument).
    resolution : float
        Relative threshold in (0, 1e-6] below which the QR estimate is used.
    chunk_size : int, optional
        Steps whose products are held at once.
    diagonal : bool, optional
        Whether to take the O(T·n) path of :mod:`rnnprobe.blocks`, where every
        singular value comes from its own block at any size (``resolution`` does not
        apply). Default: for models with diagonal or 2×2-block step Jacobians; False
        forces the general sweep.

    Returns
    -------
    torch.Tensor
        ``(T, S)`` (or ``(B, T, S)``), each row in decreasing order.
    """
    traj = _check_trajectory(traj)
    check_bool("log", log)
    resolution = check_real("resolution", resolution, low=0.0, high=1e-6, low_open=True)
    if _use_blocks(traj, diagonal):
        out = blocks.log_jacobian_singular_values(traj, chunk_size)
        return traj.unbatch(exp_checked(out, log, "a singular value of ∂s_T/∂s_t"))
    chunk_size = chunk_size_of(traj, chunk_size)
    B, T, S = traj.batch_size, traj.length, traj.state_size
    out = torch.empty(T, B, S, dtype=traj.dtype, device=traj.device)
    moved = torch.empty(T, B, S, dtype=traj.dtype, device=traj.device)
    # the same sweep with every Jacobian entry perturbed at the level of rounding: a
    # singular value it moves by more than `_NOISE_TOL` (in log) is rounding noise of
    # the renormalised product (non-normal products amplify rounding far beyond eps·σ₁)
    perturbed = normalized_products(traj, chunk_size, perturbation=_ROUNDING * S**0.5, seed=1)
    for (start, P, logs), (_, P2, logs2) in zip(normalized_products(traj, chunk_size), perturbed):
        C = P.shape[0]
        out[start : start + C] = torch.log(torch.linalg.svdvals(P)) + logs[..., None]
        moved[start : start + C] = torch.log(torch.linalg.svdvals(P2)) + logs2[..., None]
    unresolved = (out < out[..., :1] + math.log(resolution)) | ~((out - moved).abs() <= _NOISE_TOL)
    if bool(unresolved.any()):
        qr_logs = _qr_log_diagonals(traj, chunk_size)
        out = torch.where(unresolved, qr_logs, out)
        # keep the order: a tail estimate never exceeds a resolved value above it
        out = torch.cummin(out, dim=-1).values
    out = out.permute(1, 0, 2)
    return traj.unbatch(exp_checked(out, log, "a singular value of ∂s_T/∂s_t"))


def _qr_log_diagonals(traj: Trajectory, chunk_size: int | None) -> torch.Tensor:
    """Sorted accumulated ``log|R_ii|`` of a backward QR sweep, ``(T, B, S)``.

    The transposed product ``M(t) = P(t)ᵀ = J[t]ᵀ M(t+1)`` applied to a frame F is
    carried as ``Q R``: ``J[t]ᵀ Q(t+1) = Q(t) R'`` and
    ``log|diag R(t)| = log|diag R'| + log|diag R(t+1)|``. With F the left singular
    vectors of ``P(t)`` the diagonal of R(t) is exactly its singular values; F is
    taken from a forward QR sweep of the whole chain applied to a generic frame,
    whose final Q converges to the left singular vectors of the longest products
    (exponentially fast in the lag), which is where the tail estimate is used.
    """
    B, T, S = traj.batch_size, traj.length, traj.state_size
    chunk_size = chunk_size_of(traj, chunk_size)
    frame = start_vectors(S, S, dtype=traj.dtype, device=traj.device, seed=7).T
    Q = torch.linalg.qr(frame)[0].expand(B, S, S)
    for _, J in traj.iter_jacobians(chunk_size):
        J = pow2_normalize(J)[0]                          # Q depends on J's directions only
        for i in range(J.shape[0]):
            Q = torch.linalg.qr(J[i] @ Q)[0]
    ell = torch.zeros(B, S, dtype=traj.dtype, device=traj.device)
    out = torch.empty(T, B, S, dtype=traj.dtype, device=traj.device)
    eps = torch.finfo(traj.dtype).eps
    for start, J in traj.iter_jacobians(chunk_size, reverse=True):
        # J = 2^e Ĵ exactly: R of Ĵᵀ Q is R of Jᵀ Q scaled by 2^-e, and nothing over- or underflows
        J, e = pow2_normalize(J)
        log_e = e.to(traj.dtype) * _LN2
        # a direction a step annihilates to within rounding (|R_ii| <= S·eps·‖J_t‖_F) is lost:
        # an exact zero (e.g. a dead ReLU unit), not the rounding noise QR leaves there
        floor = S * eps * torch.linalg.matrix_norm(J, ord="fro")
        for i in range(J.shape[0] - 1, -1, -1):
            Q, R = torch.linalg.qr(J[i].mT @ Q)
            d = torch.diagonal(R, dim1=-2, dim2=-1).abs()
            ell = ell + torch.log(torch.where(d > floor[i, :, None], d, torch.zeros_like(d))) + log_e[i, :, None]
            out[start + i] = ell
    return torch.sort(out, dim=-1, descending=True).values
