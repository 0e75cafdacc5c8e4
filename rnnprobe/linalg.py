"""Numerical kernels: warm-started spectral norms (subspace iteration), exact power-of-two scaling, safe logarithms.

Entries anywhere in a float's range are handled by scaling with powers of two
(:func:`pow2_normalize`), which is exact: ``‖A‖`` of a matrix with entries
near 1e160 overflows float64 when formed directly (its squares do), the
scaled one does not.

Examples
--------
>>> import torch
>>> from rnnprobe.linalg import spectral_norms
>>> A = torch.randn(5, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
>>> sigma, u, converged = spectral_norms(A)
>>> bool(torch.allclose(sigma, torch.linalg.matrix_norm(A, ord=2), rtol=1e-10))
True
"""

from __future__ import annotations

import math

import torch

__all__ = ["spectral_norms", "exact_spectral_norms", "subspace_iteration", "warm_block", "safe_log", "start_vectors", "pow2_normalize", "mul_pow2",
           "log_norm"]

_MIN_PATIENCE = 8


def safe_log(x: torch.Tensor) -> torch.Tensor:
    """``log(x)`` with ``log(0) = -inf`` and no warnings (x >= 0)."""
    return torch.log(x)


def pow2_normalize(A: torch.Tensor, dims: tuple[int, ...] = (-2, -1)) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``A = 2^e · Â`` exactly, with ``max |Â|`` in ``[1/2, 1)`` over ``dims``.

    Returns ``(Â, e)`` with ``e`` an int64 tensor of ``A``'s shape without
    ``dims`` (``e = 0`` and ``Â = A`` where A is all zero). Scaling by a power
    of two is exact (short of entries that fall below the smallest subnormal,
    far beneath the largest), so norms, products and factorisations of ``Â``
    neither over- nor underflow where those of ``A`` would.

    Examples
    --------
    >>> import math
    >>> A = torch.tensor([[1e300, -3e300], [0.0, 2e299]], dtype=torch.float64)
    >>> A_hat, e = pow2_normalize(A)
    >>> torch.linalg.matrix_norm(A, ord="fro")      # the squares overflow
    tensor(inf, dtype=torch.float64)
    >>> bool(torch.equal(mul_pow2(A_hat, e), A))              # exact
    True
    >>> fro = float(torch.linalg.matrix_norm(A_hat, ord="fro")) * 2.0 ** int(e)
    >>> round(fro / 1e300, 12) == round(math.sqrt(1 + 9 + 0.04), 12)
    True
    """
    amax = A.abs().amax(dim=dims)
    _, e = torch.frexp(amax)
    e = e.to(torch.int64)
    shape = list(e.shape)
    for d in sorted(x % A.ndim for x in dims):
        shape.insert(d, 1)
    return mul_pow2(A, -e.reshape(shape)), e


def mul_pow2(x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
    """``x · 2^e`` for an integer tensor ``e`` (broadcast), exact wherever the result is representable.

    The factor is applied in pieces that are normal floats of ``x``'s dtype, so
    ``e`` may exceed the exponent range (``x`` tiny and ``e`` large, or the
    reverse); results beyond the largest float are ``±inf``.
    """
    fi = torch.finfo(x.dtype)
    step = int(math.log2(fi.max)) - 1          # 1022 (float64), 126 (float32): 2^±step is normal
    # beyond ±(the whole range, subnormals included) every nonzero result is 0 or inf already
    bound = 2 * (step + 2) + int(-math.log2(fi.eps)) + 2
    e = torch.as_tensor(e, device=x.device).to(torch.int64).clamp(-bound, bound)
    while True:
        c = e.clamp(-step, step)
        if not bool((c != 0).any()):
            return x
        x = x * torch.exp2(c.to(x.dtype))
        e = e - c


def log_norm(x: torch.Tensor, dim=-1) -> torch.Tensor:
    """``log ‖x‖₂`` over ``dim`` without over- or underflow (``-inf`` for a zero vector).

    Examples
    --------
    >>> import math
    >>> x = torch.tensor([3e200, 4e200], dtype=torch.float64)
    >>> float(torch.log(torch.linalg.vector_norm(x))), round(float(log_norm(x)), 9) == round(math.log(5e200), 9)
    (inf, True)
    """
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    x_hat, e = pow2_normalize(x, dims)
    return torch.log(torch.linalg.vector_norm(x_hat, dim=dims)) + e.to(x.dtype) * math.log(2.0)


def start_vectors(count: int, size: int, *, dtype, device, seed: int = 0) -> torch.Tensor:
    """Deterministic unit start vectors ``(count, size)`` for power iterations."""
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(count, size, generator=g, dtype=torch.float64).to(dtype=dtype, device=device)
    return v / torch.linalg.vector_norm(v, dim=-1, keepdim=True)


def spectral_norms(
    A: torch.Tensor,
    u0: torch.Tensor | None = None,
    *,
    tol: float = 1e-10,
    max_iter: int = 100,
    fallback: bool = True,
    block: int = 8,
    return_subspace: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Largest singular values of a batch of matrices by warm-started subspace iteration.

    Each iteration applies ``Aᵀ`` then ``A`` to an orthonormal block ``U`` of
    ``k = min(block, m, n)`` left vectors and takes the Rayleigh–Ritz values of
    ``A Aᵀ`` on it: the top Ritz pair (θ, y) converges at the rate
    ``(σ_{k+1}/σ₁)²`` per iteration instead of the single vector's
    ``(σ₂/σ₁)²``, which matters where the top singular values cluster; and since
    the iteration is bound by reading ``A``, a block of a few vectors costs
    little more than one. A matrix counts as converged once the relative
    residual ``‖A Aᵀy − θy‖/θ`` is at most ``tol`` (then an eigenvalue of
    ``A Aᵀ`` lies within ``tol·θ`` of θ), or at most ``√(tol·gap)`` where the
    relative gap between θ and an upper bound of λ₂ from ``‖A‖_F²`` and the other
    Ritz values is certified (Kato–Temple; see :func:`subspace_iteration`): either
    way σ₁ = √θ is known to ``tol/2`` relative (a small *change* of the estimate
    alone proves nothing: near-equal top singular values make it stall far from
    σ₁). With ``fallback``, a matrix
    whose residual, at its current rate of decrease, would need more than
    ``max(8, min(m, n) // 8)`` further iterations (about the cost of the exact
    method) stops iterating, and it and any matrix unconverged after
    ``max_iter`` get the exact top eigenpairs of ``A Aᵀ`` (σ₁ to float eps).

    Parameters
    ----------
    A : torch.Tensor
        ``(M, m, n)`` batch of matrices.
    u0 : torch.Tensor, optional
        Start vectors: ``(M, m)``, or ``(M, j, m)`` rows spanning a start
        subspace (e.g. the subspace returned for a neighbouring matrix): its
        first ``k − 1`` rows are used, perturbed by 1e-3 in fixed pseudo-random
        directions, and such directions fill the rest of the block, so that a
        start orthogonal to the top singular vector cannot stall.
    tol : float
        Relative residual tolerance (reachable down to a few float eps).
    max_iter : int
        Iteration cap before the exact fallback.
    fallback : bool
        Use the exact method (:func:`exact_spectral_norms`) for slow and
        unconverged matrices.
    block : int
        Number of vectors iterated together (1 is the plain power iteration).
    return_subspace : bool
        Return the whole final block as ``u`` (see below).

    Returns
    -------
    sigma : torch.Tensor
        ``(M,)`` spectral norms.
    u : torch.Tensor
        ``(M, m)`` the final top left vectors, or with ``return_subspace`` the
        ``(M, k, m)`` orthonormal rows of the final block, in decreasing order
        of their Ritz values (warm starts for the next batch).
    converged : torch.Tensor
        ``(M,)`` bool, whether the iteration converged (before fallback).
    """
    M, m, n = A.shape
    k = max(1, min(int(block), m, n))
    # a matrix that would need more iterations than this goes to the exact fallback, which
    # costs about as much as `patience` iterations (O(m³) against O(m n k) each)
    patience = max(_MIN_PATIENCE, min(m, n) // 8) if fallback else max_iter
    noise = start_vectors(k, m, dtype=A.dtype, device=A.device, seed=12345)      # (k, m)
    if u0 is None:
        U = _orthonormal_rows(noise.unsqueeze(0)).expand(M, k, m)
    else:
        U0 = (u0.unsqueeze(1) if u0.dim() == 2 else u0)[:, : max(k - 1, 1)]
        U = warm_block(U0, noise)
    sigma, U_out, converged = subspace_iteration(A, U, tol=tol, max_iter=max_iter, patience=patience)
    if fallback:
        idx = (~converged).nonzero().squeeze(-1)
        if idx.numel():
            sigma[idx], U_out[idx] = exact_spectral_norms(A[idx], k)
    return sigma, (U_out if return_subspace else U_out[:, 0]), converged


def warm_block(U0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """An orthonormal start block ``(M, k, m)`` from warm rows ``U0`` ``(M, j, m)`` and ``k`` noise rows.

    The first ``k − 1`` warm rows (at least one), each perturbed by 1e-3 in a fixed
    pseudo-random direction, and such directions fill the rest of the block: a
    warm start that spans an invariant subspace without the top singular vector
    would otherwise pass the residual test at once, on the wrong singular value.
    """
    k = noise.shape[0]
    U0 = U0[:, : max(k - 1, 1)]
    j = U0.shape[1]
    return _orthonormal_rows(torch.cat([U0 + 1e-3 * noise[:j], noise[j:].expand(U0.shape[0], k - j, -1)], dim=1))


def subspace_iteration(A: torch.Tensor, U: torch.Tensor, *, tol: float, max_iter: int, patience: int,
                       fro2: torch.Tensor | None = None, power_first: bool = False,
                       W0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The iteration of :func:`spectral_norms` from an orthonormal block ``U`` ``(M, k, m)`` (may be expanded).

    Each iteration takes the Rayleigh–Ritz values θ₁ ≥ … ≥ θ_k of ``A Aᵀ`` on the
    block and the residual ``ε = ‖A Aᵀy − θ₁y‖`` of the top Ritz vector y. A matrix
    has converged once ``ε <= tol·θ₁`` (an eigenvalue lies within ``tol·θ₁`` of θ₁), or
    once ``ε² <= tol·θ₁(θ₁ − α)`` where ``α = ‖A‖_F² − θ₁ − Σ_{i>=3} θ_i`` bounds λ₂ from
    above (λ_i >= θ_i by interlacing, and the eigenvalues sum to ‖A‖_F²): then θ₁ > α
    makes λ₁ the only eigenvalue above α, and the Kato–Temple inequality
    ``θ₁ <= λ₁ <= θ₁ + ε²/(θ₁ − α)`` gives σ₁ = √θ₁ to ``tol/2`` relative, from a
    residual of only about ``√tol``.

    Parameters
    ----------
    A : torch.Tensor
        ``(M, m, n)``.
    U : torch.Tensor
        ``(M, k, m)`` orthonormal rows.
    tol : float
    max_iter, patience : int
        A matrix stops iterating once converged, or once it would need more than
        ``patience`` further iterations at its current rate (unconverged: the
        caller's fallback), or after ``max_iter``.
    fro2 : torch.Tensor, optional
        ``‖A‖_F²`` per matrix (computed when omitted).
    power_first : bool
        Skip the Rayleigh–Ritz step of the first iteration (a warm start that is
        known not to be converged yet: the first iteration is then a plain power step).
    W0 : torch.Tensor, optional
        ``U A`` ``(M, k, n)``, if already known (saves the first product).

    Returns
    -------
    sigma, ritz, converged
        √θ₁ ``(M,)``, the final Ritz vectors ``(M, k, m)`` (orthonormal rows, top
        first), and whether the test above was met.
    """
    M, m, _ = A.shape
    k = U.shape[1]
    tiny = torch.finfo(A.dtype).tiny
    if fro2 is None:
        fro2 = torch.linalg.vector_norm(A, dim=(-2, -1)) ** 2
    # slack for rounding in ‖A‖_F² and the Ritz values (relative 1e4·eps ≫ their errors:
    # 2e-12 in float64, 1e-3 in float32)
    fro2 = fro2 * (1 + 1e4 * torch.finfo(A.dtype).eps)
    sigma = A.new_zeros(M)
    ritz = A.new_empty(M, k, m)
    converged = torch.zeros(M, dtype=torch.bool, device=A.device)
    active = None                                              # indices still iterating (None: all)
    A_act, prev_res, steps = A, None, 0
    for it in range(max_iter):
        # row form (Uᵀ A, then (Uᵀ A) Aᵀ): faster than A Aᵀ U for thin blocks
        Wt = W0 if it == 0 and W0 is not None else torch.matmul(U, A_act)      # (M', k, n) = (Aᵀ U)ᵀ
        Xt = torch.bmm(Wt, A_act.mT)                           # (M', k, m) = (A Aᵀ U)ᵀ
        steps += 1
        if it == 0 and power_first and max_iter > 1:
            U = _orthonormal_rows(Xt)
            steps = 0
            continue
        theta, V = torch.linalg.eigh(torch.bmm(Wt, Wt.mT))     # Ritz values of A Aᵀ, ascending
        theta1 = theta[:, -1].clamp_min(0)
        v1 = V[:, :, -1:]                                      # (M', k, 1)
        # residual of the top Ritz pair (θ, y = Uᵀv): ‖A Aᵀ y − θ y‖ / θ
        r = torch.matmul(Xt.mT, v1) - theta1[:, None, None] * torch.matmul(U.mT, v1)
        res = torch.linalg.vector_norm(r, dim=(-2, -1)) / theta1.clamp_min(tiny)
        # relative gap (θ₁ − α)/θ₁ to the upper bound α of λ₂; <= 0: none certified
        alpha = fro2 - theta1 - theta[:, : max(k - 2, 0)].clamp_min(0).sum(-1)
        gap = (1 - alpha / theta1.clamp_min(tiny)).clamp(0, 1)
        target = torch.maximum((tol * gap).sqrt(), torch.full_like(gap, tol))
        done = (res <= target) | (theta1 == 0)
        finished = done
        if prev_res is not None and steps >= 3:
            # iterations still needed at the current rate of decrease of the residual
            rate = (res / prev_res.clamp_min(tiny)).clamp(max=1.0)
            needed = torch.log(target / res.clamp_min(tiny)) / torch.log(rate).clamp(max=-1e-12)
            finished = done | (needed > min(patience, max_iter - it))
        last = it == max_iter - 1
        V = V.flip(-1)                                         # top direction first
        all_done = last or bool(finished.all())
        if all_done or bool(finished.any()):
            f = slice(None) if all_done else finished
            rows = torch.arange(M, device=A.device) if active is None else active
            rows = rows if all_done else rows[f]
            sigma[rows] = theta1[f].sqrt()
            ritz[rows] = torch.matmul(V[f].mT, U[f])
            converged[rows] = done[f]
            if all_done:
                break
            keep = ~finished
            active = (torch.arange(M, device=A.device) if active is None else active)[keep]
            A_act, Xt, V, res, fro2 = A_act[keep], Xt[keep], V[keep], res[keep], fro2[keep]
        U = _orthonormal_rows(torch.bmm(V.mT, Xt))             # next block, top direction first
        prev_res = res
    return sigma, ritz, converged


def exact_spectral_norms(A: torch.Tensor, block: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Spectral norms and top left singular subspaces from the eigenpairs of ``A Aᵀ``.

    σ₁² is exact to float eps relative (the top eigenvalue of a symmetric
    matrix), at less cost than an SVD.

    Parameters
    ----------
    A : torch.Tensor
        ``(M, m, n)``.
    block : int
        Number of leading left singular vectors returned.

    Returns
    -------
    sigma : torch.Tensor
        ``(M,)``.
    U : torch.Tensor
        ``(M, k, m)`` orthonormal rows, k = min(block, m), in decreasing order
        of their singular values.
    """
    lam, E = torch.linalg.eigh(A @ A.mT)
    k = max(1, min(int(block), A.shape[-2]))
    return lam[:, -1].clamp_min(0).sqrt(), E.flip(-1)[:, :, :k].mT


def _orthonormal_rows(U: torch.Tensor) -> torch.Tensor:
    """Orthonormalise the rows of ``(M, k, m)`` in order (QR of the transpose)."""
    return torch.linalg.qr(U.mT)[0].mT
