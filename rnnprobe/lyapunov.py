"""Lyapunov spectrum by QR re-orthonormalisation along a trajectory.

``λ_i = (1/T′) Σ_t log|R_ii(t)|`` where ``J_t Q_t = Q_{t+1} R(t)`` and the sum
runs over the T′ = T − burn_in steps after a burn-in during which the frame
aligns. Every step is re-orthonormalised, so nothing under- or overflows at
any horizon (Benettin et al. 1980; Eckmann & Ruelle 1985).

Examples
--------
For a linear map with a normal W the exponents are log|eigenvalues|:

>>> import torch, rnnprobe
>>> model = rnnprobe.build("vanilla-linear", hidden_size=2, input_size=0, seed=0)
>>> with torch.no_grad():
...     _ = model.W_h.copy_(torch.diag(torch.tensor([0.5, 0.25], dtype=torch.float64)))
>>> lam = rnnprobe.lyapunov_spectrum(model, torch.zeros(100, 0), burn_in=50)
>>> torch.allclose(lam, torch.log(torch.tensor([0.5, 0.25], dtype=torch.float64)))
True
"""

from __future__ import annotations

import torch

from rnnprobe._validation import check_int, check_seed
from rnnprobe.errors import InvalidArgument
from rnnprobe.linalg import start_vectors
from rnnprobe.products import _check_trajectory, default_chunk_size
from rnnprobe.trajectory import Trajectory, record

__all__ = ["lyapunov_spectrum", "trajectory_lyapunov_spectrum"]


def default_burn_in(length: int) -> int:
    """Default burn-in: a tenth of the trajectory, at most 200 steps."""
    return min(200, length // 10)


def trajectory_lyapunov_spectrum(traj: Trajectory, k: int | None = None, *, burn_in: int | None = None,
                                 seed: int = 0) -> torch.Tensor:
    """Lyapunov exponents along a recorded trajectory (see :func:`lyapunov_spectrum`)."""
    traj = _check_trajectory(traj)
    seed = check_seed("seed", seed)
    B, T, S = traj.batch_size, traj.length, traj.state_size
    k = S if k is None else check_int("k", k, min_value=1, max_value=S)
    burn_in = default_burn_in(T) if burn_in is None else check_int("burn_in", burn_in, min_value=0)
    if burn_in >= T:
        raise InvalidArgument(f"burn_in must be smaller than the number of steps T = {T}; got {burn_in!r}")
    # a fixed random orthonormal frame (generic: not aligned with any invariant subspace)
    # the first k vectors of one fixed S-frame, so the top-k exponents use the frame of the full spectrum
    frame = start_vectors(S, S, dtype=traj.dtype, device=traj.device, seed=seed)[:k].T
    Q = torch.linalg.qr(frame)[0].expand(B, S, k)
    total = torch.zeros(B, k, dtype=traj.dtype, device=traj.device)
    chunk = default_chunk_size(S, B)
    for start, J in traj.iter_jacobians(chunk):
        for i in range(J.shape[0]):
            Q, R = torch.linalg.qr(J[i] @ Q)
            if start + i >= burn_in:
                total = total + torch.log(torch.diagonal(R, dim1=-2, dim2=-1).abs())
    lam = total / (T - burn_in)
    # QR without pivoting gives the exponents in decreasing order only asymptotically
    lam = torch.sort(lam, dim=-1, descending=True).values
    return traj.unbatch(lam)


def lyapunov_spectrum(model, inputs: torch.Tensor, k: int | None = None, *, burn_in: int | None = None,
                      h0: torch.Tensor | None = None, seed: int = 0) -> torch.Tensor:
    """The top-k (or full) Lyapunov spectrum of a model driven by ``inputs``.

    Parameters
    ----------
    model : StepModel or torch recurrent module
    inputs : torch.Tensor
        ``(T, d)`` or ``(T, B, d)``, as for :func:`rnnprobe.record`.
    k : int, optional
        How many exponents (default: all ``state_size``).
    burn_in : int, optional
        Steps run before exponents are accumulated (default ``min(200, T // 10)``).
    h0 : torch.Tensor, optional
        Initial state.
    seed : int
        Seed of the initial orthonormal frame.

    Returns
    -------
    torch.Tensor
        ``(k,)`` or ``(B, k)`` exponents per step (natural log), decreasing.
        Their sum over the full spectrum equals the mean ``log|det J_t|``.
    """
    return trajectory_lyapunov_spectrum(record(model, inputs, h0), k, burn_in=burn_in, seed=seed)
