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
from rnnprobe.linalg import (exact_spectral_norms, mul_pow2, pow2_normalize, start_vectors, subspace_iteration,
                             warm_block)
from rnnprobe.trajectory import Trajectory, check_jacobians_finite

__all__ = [
    "jacobian_norms",
    "jacobian_singular_values",
    "jacobian_product",
    "normalized_products",
    "NORM_METHODS",
]

NORM_METHODS = ("auto", "power", "svd")
#: the ``precision`` options of :func:`jacobian_norms`
PRECISIONS = ("full", "float32")
# float32 products resolve G to about this relative tolerance (the iteration's tol is raised to it)
_FLOAT32_TOL = 1e-5

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
# the top left singular subspace (of _SUBSPACE vectors) of the adjacent, shorter lag.
# (8 rather than 32: on the benchmark's tanh nets at n = 128 and 256 the iteration, with the
# exact fallback for the slow ones, cost less than eigvalsh for lags 9-32: 4-7 % of the total.)
_COLD_LAGS = 8
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


def default_chunk_size(state_size: int, batch: int, *, elements: int = 1 << 19) -> int:
    """Steps per chunk: about 4 MiB of float64 products per chunk (``elements`` entries), at least 1."""
    return max(1, min(256, elements // max(1, state_size * state_size * batch)))


#: entries of the products one chunk of the product sweep holds: 2 MiB of float64, about the
#: size of a core's L2 cache, where the spectral iteration reads them (measured on the project's
#: VM at n = 128 and 256: 4 MiB chunks made the sweep 10-15 % slower)
_PRODUCT_CHUNK = 1 << 18


def chunk_size_of(traj: Trajectory, chunk_size, *, elements: int = 1 << 19) -> int:
    """The ``chunk_size`` argument of a probe, checked (an integer >= 1), or the default."""
    if chunk_size is None:
        return default_chunk_size(traj.state_size, traj.batch_size, elements=elements)
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
    for start, P, logs, _ in _sweep(traj, chunk_size, perturbation=perturbation, seed=seed):
        yield start, P, logs


class _Rows:
    """Rows ``U`` ``(B, k, S)`` that :func:`_sweep` carries through a chunk as ``Y = U P̂`` (None: none).

    Set before the sweep reaches a chunk; ``Y[i] = U P̂[i]`` comes at the cost of k more rows
    in each step's matrix product instead of a separate (thin, slower) product per step.
    """

    def __init__(self):
        self.U: torch.Tensor | None = None


def _sweep(traj: Trajectory, chunk_size: int | None = None, *, perturbation: float = 0.0, seed: int = 0,
           rows: _Rows | None = None,
           dtype: torch.dtype | None = None) -> Iterator[tuple[int, torch.Tensor, torch.Tensor, torch.Tensor | None]]:
    """:func:`normalized_products`, yielding ``(start, P̂, c, Y)``: ``Y`` ``(C, B, k, S)`` is ``rows.U P̂``
    as ``rows.U`` stood when the chunk began, or None (no rows, or a chunk redone scaled).

    ``dtype``: the products' dtype (default the trajectory's); the log scales ``c`` are
    always accumulated in the trajectory's dtype.

    A model whose step Jacobians are ``diag(d_t) W`` (:meth:`StepModel.jacobian_factors`) has
    its products formed as ``(P̂ diag(d_t)) W``, without forming the Jacobians.
    """
    traj = _check_trajectory(traj)
    B, S = traj.batch_size, traj.state_size
    chunk_size = chunk_size_of(traj, chunk_size)
    dtype = traj.dtype if dtype is None else dtype
    P = torch.eye(S, dtype=dtype, device=traj.device).expand(B, S, S)
    log_scale = torch.zeros(B, dtype=traj.dtype, device=traj.device)
    generator = torch.Generator().manual_seed(seed) if perturbation else None
    lo, hi = safe_norm_range(dtype)
    W = None if perturbation else _checked_factors(traj)
    W = None if W is None else W.to(dtype)
    for start in reversed(range(0, traj.length, chunk_size)):
        stop = min(start + chunk_size, traj.length)
        U = rows.U if rows is not None else None
        J = d = None
        if W is not None:
            with torch.no_grad():
                d = traj.model.jacobian_factors(traj.inputs[start:stop], traj.states[start:stop], start)[0]
            d = d.to(dtype)
        else:
            J = traj.step_jacobians(start, stop)
            if perturbation:
                xi = torch.randn(J.shape, generator=generator, dtype=torch.float64).to(J)
                J = J * (1 + perturbation * xi)
        J64, J = J, (None if J is None else J.to(dtype))
        buf, step_logs = _sweep_chunk(P, J, d=d, W=W, U=U)
        norms = torch.exp(step_logs)
        if not bool(((norms >= lo) & (norms <= hi)).all()):
            # a step's product left the range where its Frobenius norm is formed safely (huge or
            # tiny weights), or a Jacobian is not finite: redo the chunk with every factor and
            # every product split exactly as 2^e × (entries of magnitude < 1), which cannot over-
            # or underflow for any finite Jacobians
            if J64 is None:
                J64 = traj.step_jacobians(start, stop)
            check_jacobians_finite(traj.model, J64, start)
            # exponents split off in the trajectory's dtype, the entries (magnitudes < 1) in the products'
            J, e = pow2_normalize(J64)
            buf, step_logs = _sweep_chunk(P, J.to(dtype), scaled=True)
            step_logs = step_logs.to(traj.dtype) + e.to(traj.dtype) * _LN2
            U = None
        P_hat = buf[..., :S, :]
        P = P_hat[0]
        # c[i] = log_scale + Σ_{j >= i} (log norms[j] + e[j] log 2)   (reverse cumulative sum)
        logs = step_logs.to(traj.dtype).flip(0).cumsum(0).flip(0) + log_scale
        log_scale = logs[0]
        yield start, P_hat, logs, (None if U is None else buf[..., S:, :])


def _checked_factors(traj: Trajectory) -> torch.Tensor | None:
    """``W`` of the model's :meth:`~rnnprobe.models.base.StepModel.jacobian_factors`, or None.

    Only if ``diag(d_0) W`` reproduces the step Jacobian of the first step (a model that
    declares factors its Jacobians do not have falls back to the Jacobians themselves).
    """
    if traj.length == 0:
        return None
    with torch.no_grad():
        factors = traj.model.jacobian_factors(traj.inputs[:1], traj.states[:1], 0)
    if factors is None:
        return None
    d, W = factors
    S = traj.state_size
    if d.shape != (1, traj.batch_size, S) or W.shape != (S, S) or W.dtype != traj.dtype:
        return None
    J = traj.step_jacobians(0, 1)[0]
    if not bool(torch.equal(d[0].unsqueeze(-1) * W, J)):
        return None
    return W.detach()


def safe_norm_range(dtype: torch.dtype) -> tuple[float, float]:
    """``(lo, hi)``: a norm in this range was formed without over- or underflow of its squares."""
    half = int(math.log2(torch.finfo(dtype).max)) // 2 - 12      # 499 (float64), 51 (float32)
    return 2.0**-half, 2.0**half


def _sweep_chunk(P: torch.Tensor, J: torch.Tensor | None, *, scaled: bool = False, d: torch.Tensor | None = None,
                 W: torch.Tensor | None = None, U: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``P̂[i] = P̂[i+1] J[i] / ‖·‖_F`` for one chunk, from ``P`` (the product after it): (buffer, log norms).

    The buffer is ``(C, B, S + k, S)``: ``P̂[i]`` in its first S rows, ``U P̂[i]`` in the k
    rows after them (``U`` ``(B, k, S)``, or none). ``J`` ``(C, B, S, S)``, or its factors
    ``d`` ``(C, B, S)`` and ``W`` ``(S, S)`` with ``J[i] = diag(d[i]) W``.

    ``scaled``: every ``J[i]`` and every product is split exactly as ``2^e M̂`` (max|M̂| in
    [1/2, 1)) before its norm is taken, so that nothing over- or underflows; otherwise
    (faster) the norms are formed directly, valid while they stay in :func:`safe_norm_range`
    (a zero product gives norm 0 and NaN after it, outside that range: the caller redoes
    the chunk scaled).
    """
    if scaled:
        C, B, S, _ = J.shape
        buf = torch.empty(C, B, S, S, dtype=J.dtype, device=J.device)
        return buf, _sweep_chunk_scaled(P, J, buf)
    C, B, S = (J.shape[:3] if J is not None else d.shape)
    k = 0 if U is None else U.shape[1]
    dtype, device = P.dtype, P.device
    buf = torch.empty(C, B, S + k, S, dtype=dtype, device=device)
    norms = torch.empty(C, B, 1, 1, dtype=dtype, device=device)
    if k:
        P = torch.cat([P, torch.matmul(U, P)], dim=1)               # the rows U P̂ ride along
    # views made once per chunk: indexing a tensor per step costs more than a small product
    if B == 1:          # 2-d products (the batched path of a (1, S, S) product is slower)
        mats, nv, P, mul = buf[:, 0].unbind(0), norms[:, 0].unbind(0), P[0], torch.mm
        Js = J[:, 0].unbind(0) if J is not None else None
        ds = d[:, 0].unbind(0) if d is not None else None
    else:
        mats, nv, mul = buf.unbind(0), norms.unbind(0), torch.bmm
        Js = J.unbind(0) if J is not None else None
        ds = d.unsqueeze(-2).unbind(0) if d is not None else None
    if d is not None:
        scaled_P = torch.empty_like(P)
    for i in range(C - 1, -1, -1):
        if d is None:
            P = mul(P, Js[i], out=mats[i])
        else:                                                      # P J = (P diag(d)) W
            torch.mul(P, ds[i], out=scaled_P)
            P = torch.matmul(scaled_P, W, out=mats[i])
        torch.linalg.vector_norm(P[..., :S, :], dim=(-2, -1), keepdim=True, out=nv[i])
        P.div_(nv[i])
    return buf, torch.log(norms.reshape(C, B))


def _sweep_chunk_scaled(P: torch.Tensor, J: torch.Tensor, buf: torch.Tensor) -> torch.Tensor:
    """The scaled sweep of :func:`_sweep_chunk` into ``buf``; returns the log norms ``(C, B)``."""
    C, B = J.shape[:2]
    norms = torch.empty(C, B, dtype=J.dtype, device=J.device)
    J, e = pow2_normalize(J)
    e = e.clone()
    for i in range(C - 1, -1, -1):
        torch.matmul(P, J[i], out=buf[i])
        P = buf[i]
        M, e_m = pow2_normalize(P)
        P.copy_(M)
        e[i] += e_m
        torch.linalg.vector_norm(P, dim=(-2, -1), out=norms[i])
        P.div_(torch.where(norms[i] > 0, norms[i], torch.ones_like(norms[i]))[:, None, None])
    return torch.log(norms) + e.to(J.dtype) * _LN2


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
    precision: str = "full",
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
    precision : {'full', 'float32'}
        ``'full'`` (default): the products in the trajectory's dtype. ``'float32'``
        (opt-in, for float64 trajectories): the renormalised products and the
        iteration in float32, their log scales accumulated in float64, so that
        nothing under- or overflows at any horizon; about twice as fast on a
        CPU. The rounding of float32 products accumulates with the lag: against
        ``'full'``, log G(t) was within 5e-6 up to lag 1000 and within 2e-4 up
        to lag 10⁴ (tanh, GRU, LSTM and linear models, n = 40–128), and the
        tests hold it to 1e-4 at lags up to 300. ``tol`` below 1e-5 is raised
        to 1e-5 there (float32 cannot resolve less).

    Returns
    -------
    torch.Tensor
        ``(T,)`` (or ``(B, T)`` for batched inputs), entry t for start step t,
        i.e. lag ``T − t``; ``traj.lags`` gives the lags.
    """
    traj = _check_trajectory(traj)
    check_bool("log", log)
    check_choice("method", method, NORM_METHODS)
    check_choice("precision", precision, PRECISIONS)
    if _use_blocks(traj, diagonal):
        out = blocks.log_jacobian_norms(traj, chunk_size)
        return traj.unbatch(exp_checked(out, log, "G(t) = ‖∂s_T/∂s_t‖₂"))
    chunk_size = chunk_size_of(traj, chunk_size, elements=_PRODUCT_CHUNK)
    if method == "auto":
        method = "svd" if traj.state_size <= _SVD_MAX_STATE else "power"
    tol = check_real("tol", tol, low=0.0, high=1e-3, low_open=True)
    dtype = torch.float32 if precision == "float32" else traj.dtype
    if dtype == torch.float32 and traj.dtype != torch.float32:
        tol = max(tol, _FLOAT32_TOL)
    if method == "svd":
        out = torch.empty(traj.length, traj.batch_size, dtype=traj.dtype, device=traj.device)
        for start, P, logs, _ in _sweep(traj, chunk_size, dtype=dtype):
            out[start : start + P.shape[0]] = logs + torch.log(torch.linalg.matrix_norm(P, ord=2)).to(logs.dtype)
    else:
        out = _log_norms_power(traj, chunk_size, tol, dtype)
    out = out.T
    return traj.unbatch(exp_checked(out, log, "G(t) = ‖∂s_T/∂s_t‖₂"))


def _log_norms_power(traj: Trajectory, chunk_size: int, tol: float, dtype: torch.dtype) -> torch.Tensor:
    """log G(t) ``(T, B)`` by the warm-started subspace iteration (``method='power'``).

    Short lags first: the left singular vectors (in s_T's space) settle as the lag
    grows, so every block of lags starts from the top left Ritz subspace of the
    adjacent, shorter lag already done (the sweep carries ``U P̂`` for the first block
    of each chunk, the iteration's first product). The shortest lags are done exactly
    (their top singular values cluster, and there is no neighbour to start from yet):
    the largest eigenvalue of ``P Pᵀ``, with eigenvectors only for the block's longest lag.
    """
    B, T, S = traj.batch_size, traj.length, traj.state_size
    k = min(_SUBSPACE, S)
    noise = start_vectors(k, S, dtype=dtype, device=traj.device, seed=12345)
    patience = max(8, S // 8)               # as spectral_norms: beyond it the exact method is cheaper
    out = torch.empty(T, B, dtype=traj.dtype, device=traj.device)
    u = None                                # (B, k, S): Ritz rows of the longest lag done so far
    done = 0                                # lags measured so far (the shortest ones)
    rows = _Rows()
    for start, P, logs, Y in _sweep(traj, chunk_size, rows=rows, dtype=dtype):
        C = P.shape[0]
        sigma = torch.empty(C, B, dtype=P.dtype, device=P.device)
        stop = C
        while stop > 0:
            size = _COLD_LAGS - done if done < _COLD_LAGS else _WARM_BLOCK
            block = slice(stop - min(stop, size), stop)
            L = block.stop - block.start
            A = P[block].reshape(-1, S, S)                          # rows (lag, sequence)
            if done < _COLD_LAGS:
                s = torch.linalg.eigvalsh(A @ A.mT)[:, -1].clamp_min(0).sqrt()
                u = exact_spectral_norms(P[block.start], k)[1]       # the block's longest lag
            else:
                # the chunk's rows U P̂ are this block's first product if the block starts from rows.U
                W0 = Y[block].reshape(-1, k, S) if Y is not None and stop == C else None
                U0 = rows.U if W0 is not None else warm_block(u, noise)
                # ‖P̂‖_F = 1 by construction (0 for a product that is exactly zero)
                fro2 = torch.isfinite(logs[block]).to(P.dtype).reshape(L * B)
                s, ritz, converged = subspace_iteration(A, U0.expand(L, B, k, S).reshape(L * B, k, S), tol=tol,
                                                        max_iter=100, patience=patience, fro2=fro2, power_first=True,
                                                        W0=W0)
                slow = (~converged).nonzero().squeeze(-1)
                if slow.numel():
                    s[slow], ritz[slow] = exact_spectral_norms(A[slow], k)
                u = ritz[:B]
            sigma[block] = s.reshape(L, B)
            done += L
            stop = block.start
        out[start : start + C] = logs + torch.log(sigma).to(logs.dtype)
        # the next chunk's first block starts from the longest lag done
        rows.U = warm_block(u, noise) if done >= _COLD_LAGS else None
    return out


def jacobian_singular_values(
    traj: Trajectory,
    *,
    log: bool = False,
    resolution: float = 1e-12,
    chunk_size: int | None = None,
    diagonal: bool | None = None,
    rounding_check: bool = False,
) -> torch.Tensor:
    """All singular values of ∂s_T/∂s_t for every start step t, in log space where needed.

    The products are formed in the renormalised backward sweep, and the singular
    values down to ``resolution`` times the largest come from the renormalised
    product, at any horizon: from its SVD at the short lags, where most of its
    values are resolved, and beyond them from the SVD of its projection ``QᵀP̂``
    on the top ``l`` left singular directions (``Q`` from one power step on the
    neighbouring lag's), with ``l`` the count of values above 1e-15·σ₁ plus 8; a
    lag whose remainder ``δ = ‖P̂ − QQᵀP̂‖_F`` could move a resolved value by more
    than float64 rounding (``δ² > 2·eps·resolution·σ₁²``: by Weyl's inequality
    ``σ_i(QᵀP̂) <= σ_i(P̂) <= √(σ_i(QᵀP̂)² + δ²)``) gets the full SVD instead. Values
    below ``resolution`` cannot be resolved by an SVD; for them a QR sweep carries
    the transposed product applied to a frame of its approximate left singular
    vectors (from a forward QR sweep of the whole chain, which converges to them
    exponentially fast in the lag) and takes them from the accumulated ``log|R_ii|``,
    as the Lyapunov spectrum does (re-orthonormalising only every few steps, as
    :func:`rnnprobe.lyapunov_spectrum` does, with ``|R_ii|`` of every step from a
    Householder QR without its Q). Checked against 250-digit mpmath SVDs: log errors
    of about 1e-5 where the frame has converged, larger at intermediate lags where
    the unresolved values exist but the frame has not yet aligned. A direction that
    a step Jacobian annihilates to within rounding (``|R_ii| <= S·eps·‖J_t‖_F``,
    e.g. dead ReLU units) is an exact zero (``-inf`` in log).

    Non-normal products amplify rounding far beyond eps·σ₁, so that an SVD can
    return rounding noise above ``resolution``; ``rounding_check=True`` finds such
    values (at about twice the cost): the sweep is repeated with every Jacobian
    entry perturbed at the level of float64 rounding, and a value that moves by
    more than 1% is taken from the QR sweep too.

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
    rounding_check : bool
        Also take from the QR sweep the values that a perturbation of the
        Jacobians at the level of rounding moves by more than 1% (see above).

    Returns
    -------
    torch.Tensor
        ``(T, S)`` (or ``(B, T, S)``), each row in decreasing order.
    """
    traj = _check_trajectory(traj)
    check_bool("log", log)
    check_bool("rounding_check", rounding_check)
    resolution = check_real("resolution", resolution, low=0.0, high=1e-6, low_open=True)
    if _use_blocks(traj, diagonal):
        out = blocks.log_jacobian_singular_values(traj, chunk_size)
        return traj.unbatch(exp_checked(out, log, "a singular value of ∂s_T/∂s_t"))
    chunk_size = chunk_size_of(traj, chunk_size, elements=_PRODUCT_CHUNK)
    S = traj.state_size
    out = _resolved_log_singular_values(traj, chunk_size, resolution)
    unresolved = out < out[..., :1] + math.log(resolution)
    if rounding_check:
        # the same with every Jacobian entry perturbed at the level of rounding: a singular value
        # it moves by more than `_NOISE_TOL` (in log) is rounding noise of the renormalised product
        moved = _resolved_log_singular_values(traj, chunk_size, resolution, perturbation=_ROUNDING * S**0.5, seed=1)
        unresolved |= ~((out - moved).abs() <= _NOISE_TOL)
    if bool(unresolved.any()):
        qr_logs = _qr_log_diagonals(traj, chunk_size)
        out = torch.where(unresolved, qr_logs, out)
        # keep the order: a tail estimate never exceeds a resolved value above it
        out = torch.cummin(out, dim=-1).values
    out = out.permute(1, 0, 2)
    return traj.unbatch(exp_checked(out, log, "a singular value of ∂s_T/∂s_t"))


# the projection keeps the values above this fraction of σ₁ (and _MARGIN more directions)
_KEEP = 1e-15
_MARGIN = 8


def _resolved_log_singular_values(traj: Trajectory, chunk_size: int, resolution: float, *,
                                  perturbation: float = 0.0, seed: int = 0) -> torch.Tensor:
    """log singular values ``(T, B, S)`` of the renormalised products plus their log scales.

    Exact SVDs where a projection would keep more than half the directions; elsewhere the
    SVD of ``QᵀP̂`` (see :func:`jacobian_singular_values`), whose values beyond its ``l``
    are ``-inf`` (unresolved).
    """
    B, T, S = traj.batch_size, traj.length, traj.state_size
    eps = torch.finfo(traj.dtype).eps
    out = torch.full((T, B, S), -math.inf, dtype=traj.dtype, device=traj.device)
    basis = None                     # (B, S, l): top left singular directions of the longest lag done
    for start, P, logs in normalized_products(traj, chunk_size, perturbation=perturbation, seed=seed):
        C = P.shape[0]
        A = P.reshape(C * B, S, S)                                      # rows (lag, sequence)
        logsv = torch.full((C * B, S), -math.inf, dtype=traj.dtype, device=traj.device)
        if basis is None:
            sv = torch.linalg.svdvals(A)
            logsv[:] = torch.log(sv)
            l = _kept(sv[:B])
            if 2 * l <= S:                                              # the next chunk projects
                basis = torch.linalg.svd(P[0])[0][..., :l]
        else:
            l = basis.shape[-1]
            Q = torch.linalg.qr(A @ (A.mT @ basis.expand(C, B, S, l).reshape(C * B, S, l)))[0]
            Bm = Q.mT @ A                                               # (M, l, S)
            sv = torch.linalg.svdvals(Bm)
            delta2 = torch.linalg.vector_norm(A - Q @ Bm, dim=(-2, -1)) ** 2
            ok = delta2 <= 2 * eps * resolution * sv[:, 0] ** 2
            logsv[:, :l] = torch.log(sv)
            bad = (~ok).nonzero().squeeze(-1)
            if bad.numel():
                logsv[bad] = torch.log(torch.linalg.svdvals(A[bad]))
            l_next = _kept(sv[:B])
            if not bool(ok[:B].all()) or 2 * l_next > S:
                basis = None if 2 * l_next > S else torch.linalg.svd(P[0])[0][..., :l_next]
            elif l_next > l:
                basis = torch.linalg.svd(P[0])[0][..., :l_next]
            else:
                # the top l_next left singular vectors of the longest lag: Q rotated by those of QᵀP̂
                basis = Q[:B] @ torch.linalg.svd(Bm[:B])[0][..., :l_next]
        out[start : start + C] = logsv.reshape(C, B, S) + logs[..., None]
    return out


def _kept(sv: torch.Tensor) -> int:
    """Directions a projection keeps after singular values ``sv`` ``(B, S)`` (decreasing): the most of all rows."""
    count = (sv > _KEEP * sv[:, :1]).sum(-1).max()
    return min(sv.shape[-1], int(count) + _MARGIN)


#: the backward QR sweep re-orthonormalises its frame once the frame's condition number
#: (largest column norm over smallest live |R_ii|) passes this: R_ii then carry relative errors
#: of about eps·ρ (Householder QR is column-wise backward stable), 2e-13 in float64
_TAIL_KAPPA = 1e6
_TAIL_MAX_EVERY = 64


def _qr_log_diagonals(traj: Trajectory, chunk_size: int | None) -> torch.Tensor:
    """Sorted accumulated ``log|R_ii|`` of a backward QR sweep, ``(T, B, S)``.

    The transposed product ``M(t) = P(t)ᵀ = J[t]ᵀ M(t+1)`` applied to a frame F is
    carried as ``X = M(t) F R_0⁻¹`` with ``log|diag R_0|`` kept aside: the diagonal
    of the R factor of ``M(t) F`` is that of ``X`` times ``diag R_0`` (a product of
    upper-triangular matrices), so one R-only (Householder, no Q) factorisation per
    step gives ``log|diag R(t)|``, and X is re-orthonormalised (``X = Q``, ``R_0 ← R R_0``)
    only when its condition number ``ρ = max_j ‖X e_j‖ / min_i |R_ii|`` passes
    :data:`_TAIL_KAPPA` or after :data:`_TAIL_MAX_EVERY` steps. With F the left singular
    vectors of ``P(t)`` the diagonal of R(t) is exactly its singular values; F is
    taken from a forward QR sweep of the whole chain applied to a generic frame
    (re-orthonormalised every m steps, m chosen from the previous block's growth of
    log ρ per step to keep ρ near :data:`_TAIL_KAPPA`), whose final Q
    converges to the left singular vectors of the longest products (exponentially
    fast in the lag), which is where the tail estimate is used.
    """
    B, T, S = traj.batch_size, traj.length, traj.state_size
    chunk_size = chunk_size_of(traj, chunk_size)
    frame = start_vectors(S, S, dtype=traj.dtype, device=traj.device, seed=7).T
    X = torch.linalg.qr(frame)[0].expand(B, S, S)
    log_kappa = math.log(_TAIL_KAPPA)
    every, steps = 1, 0
    for _, J in traj.iter_jacobians(chunk_size, check=False):      # checked by the SVD sweep
        J = pow2_normalize(J)[0]                          # the frame depends on J's directions only
        for i in range(J.shape[0]):
            X = J[i] @ X
            steps += 1
            if steps >= every:
                # the next block's length from this one's growth of log ρ per step
                top = torch.linalg.vector_norm(X, dim=-2).amax(-1)
                X, R = torch.linalg.qr(X)
                d = torch.diagonal(R, dim1=-2, dim2=-1).abs()
                log_rho = float((torch.log(top) - torch.log(torch.where(d > 0, d, math.inf)).amin(-1)).max())
                every = max(1, min(_TAIL_MAX_EVERY, 2 * steps, int(log_kappa * steps / max(log_rho, 1e-300))))
                steps = 0
    base = torch.zeros(B, S, dtype=traj.dtype, device=traj.device)    # log|diag R_0| (and the 2^e scales)
    dead = torch.zeros(B, S, dtype=torch.bool, device=traj.device)
    prev = torch.zeros(B, S, dtype=traj.dtype, device=traj.device)    # log|diag R| of X one step later
    out = torch.empty(T, B, S, dtype=traj.dtype, device=traj.device)
    eps = torch.finfo(traj.dtype).eps
    log_kappa = math.log(_TAIL_KAPPA)
    X, steps = torch.linalg.qr(X)[0], 0
    for start, J in traj.iter_jacobians(chunk_size, reverse=True, check=False):
        # J = 2^e Ĵ exactly: R of Ĵᵀ X is R of Jᵀ X scaled by 2^-e, and nothing over- or underflows
        J, e = pow2_normalize(J)
        log_e = e.to(traj.dtype) * _LN2
        # a direction a step annihilates to within rounding (|R'_ii| <= S·eps·‖J_t‖_F) is lost:
        # an exact zero (e.g. a dead ReLU unit), not the rounding noise QR leaves there
        log_floor = torch.log(S * eps * torch.linalg.matrix_norm(J, ord="fro"))
        for i in range(J.shape[0] - 1, -1, -1):
            X = J[i].mT @ X
            base = base + log_e[i, :, None]
            steps += 1
            R = torch.linalg.qr(X, mode="r")[1]
            logd = torch.log(torch.diagonal(R, dim1=-2, dim2=-1).abs())
            # the step's own R'_ii = R_ii(t) / R_ii(t+1)
            dead |= logd - prev <= log_floor[i, :, None]
            live = torch.where(dead, torch.full_like(logd, math.inf), logd)
            log_rho = torch.log(torch.linalg.vector_norm(X, dim=-2)).amax(-1) - live.amin(-1)
            out[start + i] = torch.where(dead, torch.full_like(logd, -math.inf), base + logd)
            if steps >= _TAIL_MAX_EVERY or bool((log_rho > log_kappa).any()):
                X, R = torch.linalg.qr(X)
                base = base + torch.log(torch.diagonal(R, dim1=-2, dim2=-1).abs())
                prev.zero_()
                steps = 0
            else:
                prev = logd
    return torch.sort(out, dim=-1, descending=True).values
