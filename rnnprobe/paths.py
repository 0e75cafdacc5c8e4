"""Split a residual stack's Jacobian by path length (Veit, Wilber & Belongie 2016).

For residual steps ``s' = s + α σ(W s + b)`` (``resmlp`` through depth, the
``residual`` RNN through time) every step Jacobian is ``I + B_l`` with the
branch Jacobian ``B_l = α D_l W_l``, ``D_l = diag σ′(pre-activation)``. The
product over steps ``start … stop−1`` expands into one term per subset of
branches taken; grouping the terms by their number m of branches (the path
length),

    ∂s_stop/∂s_start = Σ_{m=0}^{L} P[m],    P_{l+1}[m] = P_l[m] + B_l P_l[m−1],

a dynamic programme over layers on matrices (L(L+1)/2 products, not 2^L).
Applied to the loss gradient g = ∂L/∂s_stop, ``‖gᵀ P[m]‖`` is how much
gradient the paths of length m carry together; normalised over m it is the
gradient-weighted path-length distribution. (Veit et al. sample single paths
and sum their gradient *norms*; here the paths of one length are summed
first, which is the decomposition of the actual gradient, and can be
compared with theory: :func:`rnnprobe.theory.path_length_weights`.)

Examples
--------
>>> import torch, rnnprobe
>>> from rnnprobe.paths import path_lengths
>>> net = rnnprobe.build("resmlp", hidden_size=6, depth=4, alpha=0.5, seed=0)
>>> traj = rnnprobe.record(net, torch.randn(6, dtype=torch.float64))
>>> pl = path_lengths(traj)
>>> pl.jacobians.shape, bool(torch.allclose(pl.jacobians.sum(0), rnnprobe.jacobian_product(traj)))
(torch.Size([5, 6, 6]), True)
>>> round(float(pl.distribution.sum()), 12)
1.0
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rnnprobe._validation import check_int
from rnnprobe.errors import InvalidArgument
from rnnprobe.gradients import final_gradient
from rnnprobe.models.feedforward import ResMLP
from rnnprobe.models.vanilla import ResidualRNN
from rnnprobe.products import _check_trajectory

__all__ = ["PathLengths", "path_lengths", "branch_jacobians"]


@dataclass(frozen=True)
class PathLengths:
    """A residual Jacobian split by path length m = 0 … L.

    Attributes
    ----------
    lengths : torch.Tensor
        ``0 … L`` (L = stop − start).
    jacobians : torch.Tensor
        ``(L+1, S, S)`` (``(B, L+1, S, S)`` batched): ``P[m]``, the sum of all
        paths through exactly m branches; they sum to ``∂s_stop/∂s_start``.
    gradients : torch.Tensor
        ``(L+1, S)`` (``(B, L+1, S)``): ``gᵀ P[m]``, the part of ``∂L/∂s_start``
        the paths of length m carry.
    norms : torch.Tensor
        ``(L+1,)`` (``(B, L+1)``): ``‖gᵀ P[m]‖``.
    distribution : torch.Tensor
        ``norms`` normalised to sum 1 over m: the gradient-weighted path-length distribution.
    squared_distribution : torch.Tensor
        ``norms²`` normalised to sum 1 (what :func:`rnnprobe.theory.path_length_weights` predicts).
    """

    lengths: torch.Tensor
    jacobians: torch.Tensor
    gradients: torch.Tensor
    norms: torch.Tensor
    distribution: torch.Tensor
    squared_distribution: torch.Tensor


def branch_jacobians(traj, start: int = 0, stop: int | None = None) -> torch.Tensor:
    """The residual branches' Jacobians ``B_l = α D_l W_l`` for steps ``start … stop−1``: ``(C, B, S, S)``.

    Computed from the recorded states and the model's weights (pre-activation
    ``W_l s_l + b_l``, plus ``W_x x_t`` for the residual RNN), independently of
    the model's step Jacobian.
    """
    traj = _check_trajectory(traj)
    model = traj.model
    T = traj.length
    stop = T if stop is None else check_int("stop", stop, min_value=0, max_value=T)
    start = check_int("start", start, min_value=0, max_value=stop)
    states = traj.states[start:stop]
    if isinstance(model, ResMLP):
        W = model.W[start:stop].detach()
        pre = torch.einsum("cbj,cij->cbi", states, W) + model.b[start:stop, None, :].detach()
        Ws = W[:, None]
    elif isinstance(model, ResidualRNN):
        xs = traj.inputs[start:stop]
        C, B = states.shape[:2]
        with torch.no_grad():
            pre = model.preactivation(xs.reshape(C * B, -1), states.reshape(C * B, -1)).reshape(C, B, -1)
        Ws = model.W_h.detach()[None, None]
    else:
        raise InvalidArgument(
            f"traj must come from a residual model ('resmlp' or 'residual': s' = s + α σ(W s + …)); got {model.name!r}"
        )
    with torch.no_grad():
        D = model.sigma.derivative(pre)
        return model.alpha * D.unsqueeze(-1) * Ws


def path_lengths(traj, loss=None, *, seed: int = 0, start: int = 0, stop: int | None = None) -> PathLengths:
    """Split ``∂s_stop/∂s_start`` of a residual trajectory by path length, and weight by the gradient.

    Parameters
    ----------
    traj : Trajectory
        Of a ``resmlp`` or ``residual`` model.
    loss : callable, optional
        ``h_T (n,) -> scalar`` for one sequence, as in :func:`rnnprobe.gradient_norms`
        (default a fixed random unit readout seeded by ``seed``). Its gradient
        is taken at the final state; with ``stop < T`` it is carried back to
        ``stop`` through the full Jacobian first.
    seed : int
        Seed of the default readout.
    start, stop : int
        The steps spanned (default the whole trajectory).

    Returns
    -------
    PathLengths
    """
    traj = _check_trajectory(traj)
    T = traj.length
    stop = T if stop is None else check_int("stop", stop, min_value=0, max_value=T)
    start = check_int("start", start, min_value=0, max_value=stop)
    Bj = branch_jacobians(traj, start, stop)                     # (L, B, S, S)
    L, Bsz, S = stop - start, traj.batch_size, traj.state_size
    P = torch.zeros(L + 1, Bsz, S, S, dtype=traj.dtype, device=traj.device)
    P[0] = torch.eye(S, dtype=traj.dtype, device=traj.device)
    for l in range(L):
        # lengths l+1 … 1, in place from the top so every P[m−1] is still the old one
        P[1 : l + 2] = P[1 : l + 2] + Bj[l] @ P[0 : l + 1]
    g = final_gradient(traj, loss, seed=seed)                     # (B, S) at s_T
    if stop < T:
        with torch.no_grad():
            J = traj.step_jacobians(stop, T)
            for i in range(J.shape[0] - 1, -1, -1):
                g = (g.unsqueeze(1) @ J[i]).squeeze(1)
    grads = torch.einsum("bi,mbij->mbj", g, P)                    # (L+1, B, S)
    norms = torch.linalg.vector_norm(grads, dim=-1)               # (L+1, B)
    total = norms.sum(0, keepdim=True)
    dist = torch.where(total > 0, norms / total.clamp_min(torch.finfo(traj.dtype).tiny), torch.zeros_like(norms))
    sq = norms**2
    sq_total = sq.sum(0, keepdim=True)
    sq_dist = torch.where(sq_total > 0, sq / sq_total.clamp_min(torch.finfo(traj.dtype).tiny), torch.zeros_like(sq))
    lengths = torch.arange(L + 1)
    if traj.batched:
        return PathLengths(lengths, P.transpose(0, 1), grads.transpose(0, 1), norms.T, dist.T, sq_dist.T)
    return PathLengths(lengths, P[:, 0], grads[:, 0], norms[:, 0], dist[:, 0], sq_dist[:, 0])
