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

import math
from dataclasses import dataclass

import torch

from rnnprobe._validation import check_int
from rnnprobe.errors import InvalidArgument
from rnnprobe.gradients import final_gradient
from rnnprobe.linalg import log_norm, mul_pow2, pow2_normalize
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
    if not bool(torch.isfinite(Bj).all()):
        raise InvalidArgument(f"traj's branch Jacobians must be finite; got NaN/Inf entries for {traj.model.name!r}")
    # Every P[m] is carried as 2^E[m] P̂[m] with max|P̂[m]| in [1/2, 1) (exact power-of-two scaling), so
    # that branches with huge or tiny weights neither overflow nor underflow the sums of paths.
    Bj, e_b = pow2_normalize(Bj)                                  # (L, B, S, S), (L, B)
    P = torch.zeros(L + 1, Bsz, S, S, dtype=traj.dtype, device=traj.device)
    P[0] = torch.eye(S, dtype=traj.dtype, device=traj.device)
    E = torch.zeros(L + 1, Bsz, dtype=torch.int64, device=traj.device)
    for l in range(L):
        # lengths l+1 … 1 at once from the old P[0 … l]: P[m] + B_l P[m−1], on the larger exponent
        old, new = P[1 : l + 2], Bj[l] @ P[0 : l + 1]
        e_old, e_new = E[1 : l + 2], E[0 : l + 1] + e_b[l]
        # an all-zero term (e.g. P[l+1] before any path reaches it) must not set the exponent
        e_old = torch.where(old.flatten(2).abs().amax(-1) > 0, e_old, torch.full_like(e_old, _NO_EXP))
        e_new = torch.where(new.flatten(2).abs().amax(-1) > 0, e_new, torch.full_like(e_new, _NO_EXP))
        top = torch.maximum(e_old, e_new)
        total = (mul_pow2(old, (e_old - top).clamp_min(_NO_EXP)[..., None, None])
                 + mul_pow2(new, (e_new - top).clamp_min(_NO_EXP)[..., None, None]))
        total, e_t = pow2_normalize(total)
        P[1 : l + 2] = total
        E[1 : l + 2] = torch.where(top > _NO_EXP, top + e_t, torch.zeros_like(top))
    g = final_gradient(traj, loss, seed=seed)                     # (B, S) at s_T
    g, E_g = pow2_normalize(g, (-1,))
    if stop < T:
        with torch.no_grad():
            J, e_j = pow2_normalize(traj.step_jacobians(stop, T, check=True))
            for i in range(J.shape[0] - 1, -1, -1):
                g, e_i = pow2_normalize((g.unsqueeze(1) @ J[i]).squeeze(1), (-1,))
                E_g = E_g + e_j[i] + e_i
    grads_hat = torch.einsum("bi,mbij->mbj", g, P)                # (L+1, B, S), times 2^(E + E_g)
    E_grad = E + E_g
    log_norms = log_norm(grads_hat, dim=-1) + E_grad.to(traj.dtype) * math.log(2.0)      # (L+1, B)
    dist = _normalised(log_norms)
    sq_dist = _normalised(2 * log_norms)
    jacobians = mul_pow2(P, E[..., None, None])
    grads = mul_pow2(grads_hat, E_grad[..., None])
    norms = torch.exp(log_norms)
    for name, value in (("P[m]", jacobians), ("gᵀP[m]", grads), ("‖gᵀP[m]‖", norms)):
        if not bool(torch.isfinite(value).all()):
            raise InvalidArgument(
                f"traj must have path sums path_lengths can represent: {name} exceeds the largest "
                f"{str(traj.dtype).removeprefix('torch.')} for {traj.model.name!r} (largest log ‖gᵀP[m]‖ = "
                f"{float(log_norms.max()):.6g}); lower the gain or alpha, or span fewer steps with start/stop")
    lengths = torch.arange(L + 1)
    if traj.batched:
        return PathLengths(lengths, jacobians.transpose(0, 1), grads.transpose(0, 1), norms.T, dist.T, sq_dist.T)
    return PathLengths(lengths, jacobians[:, 0], grads[:, 0], norms[:, 0], dist[:, 0], sq_dist[:, 0])


# the exponent of an all-zero term: below any real one, and far enough that 2^(it − real) is 0
_NO_EXP = -(1 << 20)


def _normalised(log_w: torch.Tensor) -> torch.Tensor:
    """``w / Σ_m w`` over dim 0 from ``log w`` (``-inf`` for 0), computed in log space; all zeros stay zeros."""
    top = log_w.amax(0, keepdim=True)
    w = torch.where(torch.isfinite(top), torch.exp(log_w - top), torch.zeros_like(log_w))
    total = w.sum(0, keepdim=True)
    return torch.where(total > 0, w / torch.where(total > 0, total, torch.ones_like(total)), torch.zeros_like(w))
