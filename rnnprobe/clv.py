"""Covariant Lyapunov vectors by the algorithm of Ginelli et al. (2007).

The covariant Lyapunov vectors (CLVs) v_1(t), …, v_k(t) are the directions that
the dynamics carries into each other, ``J_t v_i(t) ∝ v_i(t+1)``, and along which
perturbations grow at the rates λ_i, forward and backward in time. Unlike the
orthonormal Gram–Schmidt frame of the QR method they are not orthogonal: the
angles between them, in particular between the unstable directions (λ > 0) and
the stable ones, measure how hyperbolic the dynamics is; a tangency (angle → 0)
means that a perturbation can move between growing and shrinking directions.

Algorithm (Ginelli et al. 2007, Phys. Rev. Lett. 99, 130601; Kuptsov & Parlitz
2012, J. Nonlinear Sci. 22, 727):

1. forward: carry an orthonormal frame Q along the trajectory, ``J_t Q_t = Q_{t+1} R_t``
   (QR), for ``burn_in`` steps until it aligns (the backward Lyapunov vectors),
   then keep every Q_t and R_t;
2. backward: from a random upper-triangular C at the end, iterate
   ``C_t = R_t^{-1} C_{t+1}`` (columns renormalised) for ``burn_out`` steps until
   it converges; then ``v_i(t) = Q_t C_t e_i`` for the states of the window.

Since ``J_t Q_t C_t = Q_{t+1} R_t C_t`` and ``R_t C_t ∝ C_{t+1}`` column by
column, ``v_i(t+1) = J_t v_i(t) / ‖J_t v_i(t)‖`` exactly (up to rounding), with
no sign flips.

Examples
--------
For a constant linear map the vectors are its eigenvectors:

>>> import torch, rnnprobe
>>> model = rnnprobe.build("vanilla-linear", hidden_size=2, input_size=0, seed=0)
>>> W = torch.tensor([[0.9, 1.0], [0.0, 0.5]], dtype=torch.float64)     # eigenvectors (1, 0), (1, -0.4)/|.|
>>> with torch.no_grad():
...     _ = model.W_h.copy_(W)
>>> clv = rnnprobe.covariant_lyapunov_vectors(model, torch.zeros(200, 0), burn_in=80, burn_out=80)
>>> clv.vectors.shape, clv.times[:3].tolist()
(torch.Size([40, 2, 2]), [80, 81, 82])
>>> clv.vectors[0].abs()
tensor([[1.0000, 0.9285],
        [0.0000, 0.3714]], dtype=torch.float64)
>>> clv.exponents.exp()
tensor([0.9000, 0.5000], dtype=torch.float64)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rnnprobe._qr_sweep import FrameSweep
from rnnprobe._validation import check_int, check_seed
from rnnprobe.errors import InvalidArgument, RnnProbeError
from rnnprobe.lyapunov import check_k, default_burn_in, start_frame
from rnnprobe.products import _check_trajectory
from rnnprobe.trajectory import Trajectory, record

__all__ = ["CovariantLyapunovVectors", "covariant_lyapunov_vectors", "trajectory_covariant_lyapunov_vectors"]


@dataclass(frozen=True, eq=False)
class CovariantLyapunovVectors:
    """Covariant Lyapunov vectors along the window of a trajectory.

    Attributes
    ----------
    vectors : torch.Tensor
        ``(T′, S, k)`` (``(B, T′, S, k)`` batched): ``vectors[i, :, j]`` is the unit
        vector v_j at state ``times[i]``; columns in the order of ``exponents``.
    exponents : torch.Tensor
        ``(k,)`` (``(B, k)``): the Lyapunov exponents per step (natural log) from the
        forward QR sweep over the steps after the burn-in, in the frame's order
        (decreasing once the frame has aligned; not re-sorted, so that column j of
        ``vectors`` belongs to ``exponents[j]``).
    angles : torch.Tensor or None
        ``(T′,)`` (``(B, T′)``): the minimum angle, in radians in ``[0, π/2]``,
        between span(v_1 … v_split) and span(v_split+1 … v_k) at every state of the
        window: between the unstable and the stable directions when ``split`` is the
        number of positive exponents. None when k = 1.
    split : int
        The number of vectors in the first subspace of ``angles`` (0 when k = 1).
    times : torch.Tensor
        ``(T′,)`` state indices of the window: ``burn_in, …, T − burn_out − 1``.
    burn_in, burn_out : int
        Steps before and after the window.
    """

    vectors: torch.Tensor
    exponents: torch.Tensor
    angles: torch.Tensor | None
    split: int
    times: torch.Tensor
    burn_in: int
    burn_out: int


def _check_window(T: int, burn_in, burn_out) -> tuple[int, int]:
    burn_in = default_burn_in(T) if burn_in is None else check_int("burn_in", burn_in, min_value=0)
    burn_out = default_burn_in(T) if burn_out is None else check_int("burn_out", burn_out, min_value=0)
    for name, value in (("burn_in", burn_in), ("burn_out", burn_out)):
        if value >= T:
            raise InvalidArgument(f"{name} must be smaller than the number of steps T = {T}; got {value!r}")
    if burn_in + burn_out >= T:
        raise InvalidArgument(
            f"burn_in + burn_out must be smaller than the number of steps T = {T} (the window keeps "
            f"T - burn_in - burn_out >= 1 states); got burn_in={burn_in!r} + burn_out={burn_out!r} = {burn_in + burn_out}"
        )
    return burn_in, burn_out


def _upper_start(batch: int, k: int, dtype, device, seed: int) -> torch.Tensor:
    """A random upper-triangular ``(B, k, k)`` with unit columns (nonzero diagonal)."""
    g = torch.Generator().manual_seed(seed)
    C = torch.randn(k, k, generator=g, dtype=torch.float64).triu()
    C.diagonal().copy_(1.0 + C.diagonal().abs())
    C = (C / torch.linalg.vector_norm(C, dim=0, keepdim=True)).to(dtype=dtype, device=device)
    return C.expand(batch, k, k).clone()


def subspace_angles(C: torch.Tensor, split: int) -> torch.Tensor:
    """Minimum angle between span(e_1 … e_split) and span(C[:, split:]) for upper-triangular C.

    With the vectors ``Q C`` (Q orthonormal), the first ``split`` vectors span
    Q's first ``split`` columns, so the angle is computed in the k coordinates of
    the frame: with A an orthonormal basis of span(C[:, split:]), ``θ = atan2(
    σ_min(A[split:]), σ_max(A[:split]))`` (accurate for small and large angles).
    """
    A = torch.linalg.qr(C[..., split:])[0]
    sin = torch.linalg.svdvals(A[..., split:, :])[..., -1]
    cos = torch.linalg.svdvals(A[..., :split, :])[..., 0]
    return torch.atan2(sin, cos)


def trajectory_covariant_lyapunov_vectors(traj: Trajectory, k: int | None = None, *, burn_in: int | None = None,
                                          burn_out: int | None = None, split: int | None = None,
                                          seed: int = 0) -> CovariantLyapunovVectors:
    """Covariant Lyapunov vectors along a recorded trajectory (see :func:`covariant_lyapunov_vectors`)."""
    traj = _check_trajectory(traj)
    seed = check_seed("seed", seed)
    T, S, B = traj.length, traj.state_size, traj.batch_size
    k = check_k(k, S)
    burn_in, burn_out = _check_window(T, burn_in, burn_out)
    if split is not None:
        if k == 1:
            raise InvalidArgument(f"split needs k >= 2 vectors to split; got split={split!r} with k = 1")
        split = check_int("split", split, min_value=1, max_value=k - 1)
    window = T - burn_in - burn_out
    dtype, device = traj.dtype, traj.device

    # 1. forward: align the frame over the burn-in (blocked QR), then a QR at every step
    Q = start_frame(traj, k, seed)
    for _, Q, _ in FrameSweep(traj).run(Q, 0, burn_in):
        pass
    Qs = torch.empty(window, B, S, k, dtype=dtype, device=device)
    Rs = torch.empty(T - burn_in, B, k, k, dtype=dtype, device=device)
    Qs[0] = Q
    for t, Q, R in FrameSweep(traj, every=1).run(Q, burn_in, T):
        Rs[t - 1 - burn_in] = R
        if t - burn_in < window:
            Qs[t - burn_in] = Q
    diag = torch.diagonal(Rs, dim1=-2, dim2=-1).abs()               # (T - burn_in, B, k)
    if not bool((diag > 0).all()):
        kept = int(torch.cumprod((diag > 0).all(0).all(0).to(torch.int64), 0).sum())
        raise InvalidArgument(
            f"k must be at most the number of directions that no step annihilates ({kept} here): a step "
            f"Jacobian is singular on the frame (an exponent -inf: dead or saturated units), where covariant "
            f"vectors are undefined; got k={k!r}"
        )
    exponents = torch.log(diag).sum(0) / (T - burn_in)              # (B, k)

    # 2. backward: C_t = R_t^{-1} C_{t+1}, renormalised, from a random upper-triangular C at state T
    C = _upper_start(B, k, dtype, device, seed)
    Cs = torch.empty(window, B, k, k, dtype=dtype, device=device)
    for j in range(T - burn_in - 1, -1, -1):                        # step t = burn_in + j
        C = torch.linalg.solve_triangular(Rs[j], C, upper=True)
        C = C / torch.linalg.vector_norm(C, dim=-2, keepdim=True)
        if j < window:
            Cs[j] = C
    vectors = torch.matmul(Qs, Cs)                                   # (T', B, S, k), unit columns
    if not bool(torch.isfinite(vectors).all()):
        raise RnnProbeError(
            "covariant Lyapunov vectors overflowed (a nearly singular step Jacobian on the frame); "
            f"lower k (got {k!r}) or shorten burn_out (got {burn_out!r})"
        )
    if k == 1:
        split, angles = 0, None
    else:
        if split is None:                                            # the unstable directions, at least one each side
            positive = int((exponents > 0).sum(-1).max())
            split = min(max(positive, 1), k - 1)
        angles = subspace_angles(Cs, split).transpose(0, 1)         # (B, T')
    vectors = vectors.permute(1, 0, 2, 3)                            # (B, T', S, k)
    times = torch.arange(burn_in, burn_in + window)
    return CovariantLyapunovVectors(
        vectors=traj.unbatch(vectors), exponents=traj.unbatch(exponents),
        angles=None if angles is None else traj.unbatch(angles), split=split, times=times,
        burn_in=burn_in, burn_out=burn_out,
    )


def covariant_lyapunov_vectors(model, inputs: torch.Tensor, k: int | None = None, *, burn_in: int | None = None,
                               burn_out: int | None = None, h0: torch.Tensor | None = None,
                               split: int | None = None, seed: int = 0) -> CovariantLyapunovVectors:
    """The k leading covariant Lyapunov vectors of a model driven by ``inputs`` (Ginelli et al. 2007).

    Parameters
    ----------
    model : StepModel or torch recurrent module
    inputs : torch.Tensor
        ``(T, d)`` or ``(T, B, d)``, as for :func:`rnnprobe.record`.
    k : int, optional
        How many vectors (the leading ones), ``1 <= k <= state_size``; default all.
    burn_in : int, optional
        Forward steps for the orthonormal frame to align before the window,
        ``>= 0`` (default ``min(200, T // 10)``).
    burn_out : int, optional
        Backward steps for the triangular coefficients to converge after the
        window, ``>= 0`` (default ``min(200, T // 10)``). The window is the states
        ``burn_in … T − burn_out − 1``: ``burn_in + burn_out < T``. The vectors
        converge exponentially in both, at the rate of the smallest gap between
        consecutive exponents among the first k + 1.
    h0 : torch.Tensor, optional
        Initial state.
    split : int, optional
        Size of the first subspace of ``angles``, ``1 <= split <= k − 1``. Default:
        the number of positive exponents (the unstable subspace), or 1 if none is
        positive (the least stable direction against the others), or k − 1 if all are.
    seed : int
        Seed of the initial frame and of the initial triangular coefficients.

    Returns
    -------
    CovariantLyapunovVectors
        ``vectors`` ``(T′, S, k)``, ``exponents`` ``(k,)``, ``angles`` ``(T′,)``,
        ``times``; with a batch dimension first when ``inputs`` is batched.

    Raises
    ------
    InvalidArgument
        For ``k`` outside ``[1, state_size]``, ``burn_in`` or ``burn_out`` negative
        or with ``burn_in + burn_out >= T``, ``split`` outside ``[1, k − 1]``, a frame
        annihilated by a singular step Jacobian (a −∞ exponent among the first k),
        and what :func:`rnnprobe.record` rejects.

    Examples
    --------
    >>> import torch, rnnprobe
    >>> model = rnnprobe.build("vanilla-tanh", hidden_size=6, gain=3.0, seed=0)
    >>> x = torch.randn(300, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    >>> clv = rnnprobe.covariant_lyapunov_vectors(model, x, k=3, burn_in=100, burn_out=100)
    >>> clv.vectors.shape, clv.exponents.shape, clv.angles.shape
    (torch.Size([100, 6, 3]), torch.Size([3]), torch.Size([100]))
    >>> J = model.step_jacobian(x[100:101], rnnprobe.record(model, x).states[100])[0]
    >>> v = J @ clv.vectors[0]
    >>> torch.allclose(v / v.norm(dim=0), clv.vectors[1])
    True
    """
    return trajectory_covariant_lyapunov_vectors(record(model, inputs, h0), k, burn_in=burn_in, burn_out=burn_out,
                                                 split=split, seed=seed)
