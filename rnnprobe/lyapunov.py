"""Lyapunov spectrum by QR re-orthonormalisation along a trajectory.

``λ_i = (1/T′) Σ log|R_ii|`` where ``J_{t+m−1} ⋯ J_t Q_t = Q_{t+m} R`` and the sum
runs over the blocks of the T′ = T − burn_in steps after a burn-in during which
the frame aligns (Benettin et al. 1980; Eckmann & Ruelle 1985). Re-orthonormalising
every m steps instead of every step gives the same sums in exact arithmetic (the
diagonal of a product of triangular factors is the product of their diagonals);
by default m is chosen block by block from the measured growth of the frame's
condition number, and a block that grew more than foreseen is redone in halves,
so that the exponents agree with the every-step ones to rounding and nothing
under- or overflows at any horizon (see :mod:`rnnprobe._qr_sweep`).
``reorthonormalize_every=1`` is the textbook every-step algorithm.

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

from rnnprobe._qr_sweep import FrameSweep
from rnnprobe._validation import check_int, check_seed
from rnnprobe.errors import InvalidArgument
from rnnprobe.linalg import start_vectors
from rnnprobe.products import _check_trajectory
from rnnprobe.trajectory import Trajectory, record

__all__ = ["lyapunov_spectrum", "trajectory_lyapunov_spectrum"]


def default_burn_in(length: int) -> int:
    """Default burn-in: a tenth of the trajectory, at most 200 steps."""
    return min(200, length // 10)


def check_k(k, state_size: int) -> int:
    """``k`` in ``[1, state_size]`` (None: all of them)."""
    return state_size if k is None else check_int("k", k, min_value=1, max_value=state_size)


def check_every(every) -> int | None:
    """``reorthonormalize_every``: None (automatic) or an integer >= 1."""
    return None if every is None else check_int("reorthonormalize_every", every, min_value=1)


def start_frame(traj: Trajectory, k: int, seed: int) -> torch.Tensor:
    """A fixed random orthonormal frame ``(B, S, k)``, generic (aligned with no invariant subspace).

    The first k vectors of one fixed S-frame, so that the top-k exponents use
    the frame of the full spectrum.
    """
    S = traj.state_size
    frame = start_vectors(S, S, dtype=traj.dtype, device=traj.device, seed=seed)[:k].T
    return torch.linalg.qr(frame)[0].expand(traj.batch_size, S, k)


def trajectory_lyapunov_spectrum(traj: Trajectory, k: int | None = None, *, burn_in: int | None = None,
                                 seed: int = 0, reorthonormalize_every: int | None = None) -> torch.Tensor:
    """Lyapunov exponents along a recorded trajectory (see :func:`lyapunov_spectrum`)."""
    traj = _check_trajectory(traj)
    seed = check_seed("seed", seed)
    T = traj.length
    k = check_k(k, traj.state_size)
    burn_in = default_burn_in(T) if burn_in is None else check_int("burn_in", burn_in, min_value=0)
    if burn_in >= T:
        raise InvalidArgument(f"burn_in must be smaller than the number of steps T = {T}; got {burn_in!r}")
    sweep = FrameSweep(traj, check_every(reorthonormalize_every))
    Q = start_frame(traj, k, seed)
    for _, Q, _ in sweep.run(Q, 0, burn_in):
        pass
    total = torch.zeros(traj.batch_size, k, dtype=traj.dtype, device=traj.device)
    for _, Q, R in sweep.run(Q, burn_in, T):
        total = total + torch.log(torch.diagonal(R, dim1=-2, dim2=-1).abs())
    lam = total / (T - burn_in)
    # QR without pivoting gives the exponents in decreasing order only asymptotically
    lam = torch.sort(lam, dim=-1, descending=True).values
    return traj.unbatch(lam)


def lyapunov_spectrum(model, inputs: torch.Tensor, k: int | None = None, *, burn_in: int | None = None,
                      h0: torch.Tensor | None = None, seed: int = 0,
                      reorthonormalize_every: int | None = None) -> torch.Tensor:
    """The top-k (or full) Lyapunov spectrum of a model driven by ``inputs``.

    Parameters
    ----------
    model : StepModel or torch recurrent module
    inputs : torch.Tensor
        ``(T, d)`` or ``(T, B, d)``, as for :func:`rnnprobe.record`.
    k : int, optional
        How many exponents, ``1 <= k <= state_size`` (default: all ``state_size``).
    burn_in : int, optional
        Steps run before exponents are accumulated, ``0 <= burn_in < T``
        (default ``min(200, T // 10)``).
    h0 : torch.Tensor, optional
        Initial state.
    seed : int
        Seed of the initial orthonormal frame.
    reorthonormalize_every : int, optional
        Re-orthonormalise (QR) the frame every this many steps (>= 1; 1 is the
        textbook algorithm). Default: chosen automatically, block by block, from
        the measured growth of the frame's condition number ρ, so that ρ stays
        below ``eps^(−1/6)`` (about 400 in float64): the exponents then agree
        with the every-step ones to rounding, at a fraction of the QRs (at most
        one per 64 steps). A fixed value is taken as given: with a large one the
        small exponents lose digits (ρ grows like ``exp(m(λ₁ − λ_k))``), or the
        products under- or overflow. Blocks always end at the burn-in and at a
        step whose Jacobian has an exactly zero row (a singular direction).

    Returns
    -------
    torch.Tensor
        ``(k,)`` or ``(B, k)`` exponents per step (natural log), decreasing.
        Their sum over the full spectrum equals the mean ``log|det J_t|``.

    Raises
    ------
    InvalidArgument
        For ``k`` outside ``[1, state_size]``, ``burn_in`` outside ``[0, T)``,
        ``reorthonormalize_every < 1``, and what :func:`rnnprobe.record` rejects.

    Examples
    --------
    The every-step and the automatic schedules agree to rounding:

    >>> import torch, rnnprobe
    >>> model = rnnprobe.build("vanilla-tanh", hidden_size=8, gain=2.0, seed=0)
    >>> x = torch.randn(500, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    >>> fast = rnnprobe.lyapunov_spectrum(model, x)
    >>> slow = rnnprobe.lyapunov_spectrum(model, x, reorthonormalize_every=1)
    >>> bool((fast - slow).abs().max() < 1e-12)
    True
    """
    return trajectory_lyapunov_spectrum(record(model, inputs, h0), k, burn_in=burn_in, seed=seed,
                                        reorthonormalize_every=reorthonormalize_every)
