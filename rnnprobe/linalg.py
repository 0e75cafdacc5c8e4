"""Numerical kernels: warm-started spectral norms and safe logarithms.

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

import torch

__all__ = ["spectral_norms", "safe_log", "start_vectors"]


def safe_log(x: torch.Tensor) -> torch.Tensor:
    """``log(x)`` with ``log(0) = -inf`` and no warnings (x >= 0)."""
    return torch.log(x)


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
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Largest singular values of a batch of matrices by warm-started power iteration.

    Each iteration applies ``Aᵀ`` then ``A`` to the current left vector ``u``.
    A matrix counts as converged once the relative residual of the Rayleigh
    quotient θ = ‖Aᵀu‖² of ``A Aᵀ``, ``‖A Aᵀu − θu‖/θ``, is at most ``tol``: then
    an eigenvalue of ``A Aᵀ`` lies within ``tol·θ`` of θ, so σ₁ is known to
    ``tol/2`` relative (a small *change* of the estimate alone proves nothing:
    near-equal top singular values make it stall far from σ₁). Power iteration
    is slow exactly there, so a matrix whose residual, at its current rate of
    decrease, would not reach ``tol`` within ``max_iter`` iterations stops
    iterating, and it and any matrix unconverged after ``max_iter`` get an exact
    SVD (when ``fallback``).

    Parameters
    ----------
    A : torch.Tensor
        ``(M, m, n)`` batch of matrices.
    u0 : torch.Tensor, optional
        ``(M, m)`` start vectors (e.g. the left singular vectors of a
        neighbouring matrix); a fixed pseudo-random direction is mixed in so
        that a start orthogonal to the top singular vector cannot stall.
    tol : float
        Relative residual tolerance (reachable down to a few float eps).
    max_iter : int
        Iteration cap before the SVD fallback.
    fallback : bool
        Use an SVD for slow and unconverged matrices.

    Returns
    -------
    sigma : torch.Tensor
        ``(M,)`` spectral norms.
    u : torch.Tensor
        ``(M, m)`` the final left vectors (warm starts for the next batch).
    converged : torch.Tensor
        ``(M,)`` bool, whether the power iteration converged (before fallback).
    """
    M, m, n = A.shape
    tiny = torch.finfo(A.dtype).tiny
    noise = start_vectors(1, m, dtype=A.dtype, device=A.device, seed=12345)
    u = noise.expand(M, m) if u0 is None else u0 + 1e-3 * noise
    u = u / torch.linalg.vector_norm(u, dim=-1, keepdim=True).clamp_min(tiny)
    sigma = torch.zeros(M, dtype=A.dtype, device=A.device)
    u_out = u.clone()
    converged = torch.zeros(M, dtype=torch.bool, device=A.device)
    slow = torch.zeros(M, dtype=torch.bool, device=A.device)
    active = torch.arange(M, device=A.device)
    A_act, u_act = A, u.unsqueeze(1)
    prev_res = None
    for it in range(max_iter):
        w = torch.bmm(u_act, A_act)                              # (M', 1, n): uᵀA = (Aᵀu)ᵀ
        s1 = torch.linalg.vector_norm(w, dim=-1).squeeze(-1)     # (M',)
        x = torch.bmm(A_act, (w / s1.clamp_min(tiny)[:, None, None]).mT)   # (M', m, 1): A Aᵀu / ‖Aᵀu‖
        s2 = torch.linalg.vector_norm(x, dim=(-2, -1))
        # ‖A Aᵀu − θu‖/θ with θ = s1²:  ‖x − s1·u‖/s1
        res = torch.linalg.vector_norm(x.mT - s1[:, None, None] * u_act, dim=(-2, -1)) / s1.clamp_min(tiny)
        u_act = (x / s2.clamp_min(tiny)[:, None, None]).mT
        done = (res <= tol) | (s1 == 0)
        stalled = torch.zeros_like(done)
        if prev_res is not None and it >= 2:
            # iterations still needed at the current rate of decrease of the residual
            rate = (res / prev_res.clamp_min(tiny)).clamp(max=1.0)
            needed = torch.log(tol / res.clamp_min(tiny)) / torch.log(rate).clamp(max=-1e-12)
            stalled = ~done & (needed > max_iter - it)
        finished = done | stalled
        sigma[active] = s2
        u_out[active] = u_act.squeeze(1)
        converged[active] = done
        slow[active] = stalled
        if bool(finished.all()):
            active = active[:0]
            break
        if bool(finished.any()):
            keep = ~finished
            active, A_act, u_act, res = active[keep], A_act[keep], u_act[keep], res[keep]
        prev_res = res
    if fallback:
        idx = (~converged).nonzero().squeeze(-1)
        if idx.numel():
            U, S, _ = torch.linalg.svd(A[idx])
            sigma[idx] = S[:, 0]
            u_out[idx] = U[:, :, 0]
    return sigma, u_out, converged
