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
    tol: float = 1e-13,
    max_iter: int = 200,
    fallback: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Largest singular values of a batch of matrices by warm-started power iteration.

    Each iteration applies ``Aᵀ`` then ``A`` to the current left vector ``u``;
    both ``‖Aᵀu‖`` and ``‖A Aᵀu‖/‖Aᵀu‖`` are lower bounds of σ₁ that increase to
    it. The iteration stops for a matrix once the relative residual
    ``‖A Aᵀu − θu‖/θ`` (θ = ‖Aᵀu‖²) falls below ``tol``; a small change of the
    estimate alone is not enough, as near-equal top singular values make it
    stall far from σ₁. Matrices still unconverged after ``max_iter``
    iterations get an exact SVD (when ``fallback``).

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
        Use ``torch.linalg.matrix_norm(ord=2)`` for unconverged matrices.

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
    noise = start_vectors(1, m, dtype=A.dtype, device=A.device, seed=12345)
    u = noise.expand(M, m) if u0 is None else u0 + 1e-3 * noise
    u = (u / torch.linalg.vector_norm(u, dim=-1, keepdim=True).clamp_min(torch.finfo(A.dtype).tiny)).unsqueeze(1)
    tiny = torch.finfo(A.dtype).tiny
    sigma = torch.zeros(M, dtype=A.dtype, device=A.device)
    converged = torch.zeros(M, dtype=torch.bool, device=A.device)
    for _ in range(max_iter):
        w = torch.bmm(u, A)                                    # (M, 1, n): uᵀA = (Aᵀu)ᵀ
        s1 = torch.linalg.vector_norm(w, dim=-1)               # (M, 1)
        x = torch.bmm(A, (w / s1.clamp_min(tiny).unsqueeze(-1)).mT)  # (M, m, 1)
        sigma = torch.linalg.vector_norm(x, dim=1).squeeze(-1)       # (M,)
        # relative residual of the Rayleigh quotient θ = s1² of A Aᵀ at u:
        # ‖A Aᵀu − θu‖/θ = ‖x − s1·u‖/s1. Small changes of the estimate alone do
        # not mean convergence (near-equal top singular values stall it).
        residual = torch.linalg.vector_norm(x.mT - s1.unsqueeze(-1) * u, dim=(-2, -1))
        u = (x / sigma.clamp_min(tiny)[:, None, None]).mT
        converged = residual <= tol * s1.squeeze(-1)
        if bool(converged.all()):
            break
    u = u.squeeze(1)
    if fallback and not bool(converged.all()):
        idx = (~converged).nonzero().squeeze(-1)
        U, S, _ = torch.linalg.svd(A[idx])
        sigma = sigma.clone()
        sigma[idx] = S[:, 0]
        u = u.clone()
        u[idx] = U[:, :, 0]
    return sigma, u, converged
