"""Gradient norms through time and the bounds of the vanishing/exploding analysis.

For a loss L (of h_T, or of every step's h: :mod:`rnnprobe.losses`) and start step t (lag T − t):

* ``g(t) = ‖∂L/∂s_t‖``, the true gradient norm (a backward sweep of
  vector–Jacobian products, renormalised at every step: log space);
* ``‖∂L/∂s_T‖ · G(t)`` with ``G(t) = ‖∂s_T/∂s_t‖₂``;
* ``B_prod(t) = ‖∂L/∂s_T‖ · ∏_{s=t}^{T−1} ‖J_s‖₂``;
* for vanilla RNNs the lecture's ``B_W(t) = ‖∂L/∂s_T‖ · ‖W_h‖₂^{T−t} · ∏ ‖D_s‖₂``
  with ``D_s = diag σ′(pre-activation)``.

Always ``g ≤ ‖∂L/∂s_T‖·G ≤ B_prod ≤ B_W``.

Note the lecture's ``(∏ D_s) W^{T−t}`` is only valid for norms: the exact
Jacobian interleaves ``D_s W_h`` (``J_s = D_s W_h``), which is what is multiplied here.

Examples
--------
>>> import torch, rnnprobe
>>> model = rnnprobe.build("vanilla-tanh", hidden_size=6, gain=1.2, seed=0)
>>> traj = rnnprobe.record(model, torch.randn(20, 1, dtype=torch.float64))
>>> b = rnnprobe.gradient_bounds(traj)
>>> bool((b.gradient <= b.jacobian * (1 + 1e-12)).all() and (b.product <= b.weight * (1 + 1e-12)).all())
True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from rnnprobe._validation import check_bool
from rnnprobe.linalg import log_norm, pow2_normalize
from rnnprobe.losses import LossGradient, loss_gradient
from rnnprobe.products import _check_trajectory, chunk_size_of, exp_checked, jacobian_norms, safe_norm_range
from rnnprobe.trajectory import Trajectory, check_jacobians_finite

__all__ = ["gradient_norms", "gradient_bounds", "GradientBounds", "final_gradient", "step_norms"]


def final_gradient(traj: Trajectory, loss: Callable[[torch.Tensor], torch.Tensor] | None = None, *, seed: int = 0,
                   batch_loss: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """``∂L/∂s_T`` per sequence, ``(B, S)``, for a loss of the last state.

    ``loss`` maps one sequence's final hidden vector ``h_T`` ``(n,)`` to a
    scalar, ``batch_loss`` the batch ``h_T`` ``(B, n)`` to per-sequence losses
    ``(B,)`` (:mod:`rnnprobe.losses`); the default is a fixed random unit
    readout ``L = uᵀ h_T`` (u drawn from ``seed``), whose gradient has norm 1.
    """
    traj = _check_trajectory(traj)
    return loss_gradient(traj, loss, batch_loss=batch_loss, seed=seed, allow_steps=False).final


def gradient_norms(traj: Trajectory, loss=None, *, batch_loss=None, loss_over_steps=None, log: bool = False,
                   seed: int = 0, chunk_size: int | None = None) -> torch.Tensor:
    """True gradient norms ``g(t) = ‖∂L/∂s_t‖`` for every start step t.

    Parameters
    ----------
    traj : Trajectory
    loss : callable, optional
        ``h_T (n,) -> scalar`` for one sequence (called once per sequence).
    batch_loss : callable, optional
        ``h_T (B, n) -> (B,)``: the per-sequence losses of the batch, as in training
        (row b is sequence b of the inputs).
    loss_over_steps : callable, optional
        ``h_1…h_T -> (B,)`` with the hidden states of every step, ``(T, B, n)`` or
        ``(B, T, n)`` for batch-first inputs (a language model's Σ_t ℓ_t); then
        ``∂L/∂s_t`` includes the step-t term's own gradient.
        At most one of the three; none: a fixed random unit readout of h_T
        (seeded by ``seed``). They see the hidden vector h (an LSTM's, not its c),
        in the dtype of your module; see :mod:`rnnprobe.losses`.
    log : bool
        Return natural logs (for long horizons and large weights: with
        ``log=False`` a value above the largest float raises InvalidArgument).
    seed : int
        Seed of the default readout, in [0, 2**64 − 1].
    chunk_size : int, optional
        Steps of Jacobians held at once.

    Returns
    -------
    torch.Tensor
        ``(T,)`` or ``(B, T)``; entry t is for start step t (lag T − t).
    """
    traj = _check_trajectory(traj)
    check_bool("log", log)
    chunk_size = chunk_size_of(traj, chunk_size)
    lg = loss_gradient(traj, loss, batch_loss=batch_loss, loss_over_steps=loss_over_steps, seed=seed)
    out = _vjp_sweep(traj, lg.final, chunk_size) if lg.direct is None else _vjp_sweep_direct(traj, lg, chunk_size)
    out = out.T
    return traj.unbatch(exp_checked(out, log, "g(t) = ‖∂L/∂s_t‖"))


def _vjp_sweep_direct(traj: Trajectory, lg: LossGradient, chunk_size: int) -> torch.Tensor:
    """log ‖∂L/∂s_t‖ for every t, ``(T, B)``, for a loss with a term at every step.

    ``∂L/∂s_t = ∂L/∂s_{t+1}·J_t + d_t`` with ``d_t`` the step-t term's own gradient: the vector
    is carried as ``exp(a)·v`` (v of unit norm), so that neither over- nor underflows, and
    ``d_t`` is added at the common scale of the two.
    """
    T, B = traj.length, traj.batch_size
    v = lg.final
    log_scale = log_norm(v, dim=-1)                                                     # (B,)
    v = pow2_normalize(v, (-1,))[0]
    v = (v / _nonzero(torch.linalg.vector_norm(v, dim=-1))[:, None]).unsqueeze(1)       # (B, 1, S)
    d_scaled = pow2_normalize(lg.direct, (-1,))[0]                                      # (T, B, S)
    d_log = log_norm(lg.direct, dim=-1)                                                 # (T, B)
    out = torch.empty(T, B, dtype=traj.dtype, device=traj.device)
    lo, hi = safe_norm_range(traj.dtype)
    for start, J in traj.iter_jacobians(chunk_size, reverse=True, check=False):
        for i in range(J.shape[0] - 1, -1, -1):
            t = start + i
            step = J[i : i + 1]
            v_new, step_log = _vjp_chunk(v, step)
            if not bool(((step_log.exp() >= lo) & (step_log.exp() <= hi)).all()):
                check_jacobians_finite(traj.model, step, t)
                v_new, step_log = _vjp_chunk(v, step, scaled=True)
            carried = log_scale + step_log[0]                                           # log ‖∂L/∂s_{t+1}·J_t‖
            d = d_scaled[t] / _nonzero(torch.linalg.vector_norm(d_scaled[t], dim=-1))[:, None]
            top = torch.maximum(carried, d_log[t])
            top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))         # both parts zero
            w = (torch.exp(carried - top)[:, None] * v_new[:, 0]
                 + torch.exp(d_log[t] - top)[:, None] * d)                              # (B, S), at scale e^top
            norm = torch.linalg.vector_norm(w, dim=-1)
            log_scale = top + torch.log(norm)
            v = (w / _nonzero(norm)[:, None]).unsqueeze(1)
            out[t] = log_scale
    return out


def _vjp_sweep(traj: Trajectory, v: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """log ‖v J[T−1] ⋯ J[t]‖ for every t, ``(T, B)``, renormalising the vector each step.

    Every J is split exactly as ``2^e Ĵ`` (:func:`rnnprobe.linalg.pow2_normalize`), so that
    neither the vector nor its norm over- or underflows for any finite Jacobians.
    """
    T, B = traj.length, traj.batch_size
    log_scale = log_norm(v, dim=-1)
    v = pow2_normalize(v, (-1,))[0]
    v = (v / _nonzero(torch.linalg.vector_norm(v, dim=-1))[:, None]).unsqueeze(1)        # (B, 1, S)
    out = torch.empty(T, B, dtype=traj.dtype, device=traj.device)
    lo, hi = safe_norm_range(traj.dtype)
    for start, J in traj.iter_jacobians(chunk_size, reverse=True, check=False):
        v_in = v
        v, step_logs = _vjp_chunk(v_in, J)
        norms = torch.exp(step_logs)
        if not bool(((norms >= lo) & (norms <= hi)).all()):
            # out of the range where the norm is formed safely (huge or tiny weights), or a Jacobian
            # that is not finite: redo the chunk with every factor and vector split exactly as 2^e × …
            check_jacobians_finite(traj.model, J, start)
            v, step_logs = _vjp_chunk(v_in, J, scaled=True)
        logs = step_logs.flip(0).cumsum(0).flip(0) + log_scale
        out[start : start + J.shape[0]] = logs
        log_scale = logs[0]
    return out


def _vjp_chunk(v: torch.Tensor, J: torch.Tensor, *, scaled: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Carry the unit row vectors ``v`` ``(B, 1, S)`` back through one chunk: (final v, log norms ``(C, B)``).

    ``scaled``: each ``J[i]`` and each product vector is split exactly as ``2^e × (entries < 1)``
    before its norm is taken (no over- or underflow for any finite J).
    """
    norms = torch.empty(J.shape[:2], dtype=J.dtype, device=J.device)
    if scaled:
        J, e = pow2_normalize(J)
        e = e.clone()
    for i in range(J.shape[0] - 1, -1, -1):
        v = torch.bmm(v, J[i])
        if scaled:
            v, e_v = pow2_normalize(v)
            e[i] += e_v
        n = torch.linalg.vector_norm(v, dim=(-2, -1))
        norms[i] = n
        v = v / _nonzero(n)[:, None, None]
    logs = torch.log(norms)
    return v, (logs + e.to(J.dtype) * math.log(2.0) if scaled else logs)


def _nonzero(x: torch.Tensor) -> torch.Tensor:
    """``x`` with zeros replaced by ones (a divisor that leaves zero vectors zero)."""
    return torch.where(x > 0, x, torch.ones_like(x))


def step_norms(traj: Trajectory, *, log: bool = False, chunk_size: int | None = None) -> torch.Tensor:
    """Spectral norms ``‖J_t‖₂`` of every step Jacobian, ``(T,)`` or ``(B, T)``.

    ``log=True`` returns their natural logs (``-inf`` for a zero Jacobian);
    with ``log=False`` a norm beyond the largest float raises InvalidArgument.
    """
    traj = _check_trajectory(traj)
    check_bool("log", log)
    chunk_size = chunk_size_of(traj, chunk_size)
    parts = []
    for _, J in traj.iter_jacobians(chunk_size):
        # a batched SVD: exact, and (with no neighbour to warm-start from) faster than iterating;
        # of 2^-e J, so that no intermediate over- or underflows
        J, e = pow2_normalize(J)
        parts.append(torch.log(torch.linalg.matrix_norm(J, ord=2)) + e.to(J.dtype) * math.log(2.0))
    out = torch.cat(parts).T
    return traj.unbatch(exp_checked(out, log, "‖J_t‖₂"))


@dataclass(frozen=True)
class GradientBounds:
    """Per start step t: the gradient norm and its three upper bounds.

    Every field is ``(T,)`` (or ``(B, T)``), natural logs when ``log`` is True.

    Attributes
    ----------
    gradient : torch.Tensor
        ``g(t) = ‖∂L/∂s_t‖``.
    jacobian : torch.Tensor
        ``‖∂L/∂s_T‖ · G(t)``.
    product : torch.Tensor
        ``B_prod(t) = ‖∂L/∂s_T‖ · ∏_{s>=t} ‖J_s‖₂``.
    weight : torch.Tensor or None
        The lecture's ``B_W(t)`` (vanilla RNNs and plain MLPs); None otherwise.
    final_gradient_norm : torch.Tensor
        ``‖∂L/∂s_T‖``, ``()`` or ``(B,)`` (log when ``log``).
    log : bool
        Whether the fields are logarithms.
    """

    gradient: torch.Tensor
    jacobian: torch.Tensor
    product: torch.Tensor
    weight: torch.Tensor | None
    final_gradient_norm: torch.Tensor
    log: bool

    def holds(self, rtol: float = 1e-9) -> bool:
        """Whether ``g ≤ ‖∂L/∂s_T‖G ≤ B_prod ≤ B_W`` holds everywhere (relative slack ``rtol``)."""
        chain = [self.gradient, self.jacobian, self.product] + ([self.weight] if self.weight is not None else [])
        slack = torch.log1p(torch.tensor(rtol, dtype=self.gradient.dtype))
        for lo, hi in zip(chain, chain[1:]):
            a, b = (lo, hi) if self.log else (torch.log(lo), torch.log(hi))
            if not bool((a <= b + slack).all()):
                return False
        return True


def gradient_bounds(traj: Trajectory, loss=None, *, batch_loss=None, loss_over_steps=None, log: bool = False,
                    seed: int = 0, chunk_size: int | None = None) -> GradientBounds:
    """The gradient norm and the chain of bounds ``g ≤ ‖∂L/∂s_T‖G ≤ B_prod ≤ B_W``.

    Parameters
    ----------
    traj, loss, batch_loss, seed, chunk_size
        As for :func:`gradient_norms`.
    loss_over_steps
        Refused (InvalidArgument): the chain bounds a loss of the last state only.
    log : bool
        Return natural logs (for long horizons).

    Returns
    -------
    GradientBounds
    """
    traj = _check_trajectory(traj)
    check_bool("log", log)
    chunk_size = chunk_size_of(traj, chunk_size)
    v = loss_gradient(traj, loss, batch_loss=batch_loss, loss_over_steps=loss_over_steps, seed=seed,
                      allow_steps=False).final
    log_final = log_norm(v, dim=-1)                                     # (B,)
    log_g = _vjp_sweep(traj, v, chunk_size).T                           # (B, T)
    log_G = jacobian_norms(traj, log=True, chunk_size=chunk_size)
    log_G = log_G if traj.batched else log_G.unsqueeze(0)
    log_steps = step_norms(traj, log=True, chunk_size=chunk_size)
    log_steps = log_steps if traj.batched else log_steps.unsqueeze(0)
    log_prod = log_final[:, None] + log_steps.flip(-1).cumsum(-1).flip(-1)
    log_weight = _lecture_bound(traj, chunk_size)
    if log_weight is not None:
        log_weight = log_final[:, None] + log_weight
    fields = dict(gradient=log_g, jacobian=log_final[:, None] + log_G, product=log_prod, weight=log_weight)
    names = dict(gradient="g(t)", jacobian="‖∂L/∂s_T‖·G(t)", product="B_prod(t)", weight="B_W(t)")
    out = {k: (None if x is None else traj.unbatch(exp_checked(x, log, names[k]))) for k, x in fields.items()}
    final = traj.unbatch(exp_checked(log_final, log, "‖∂L/∂s_T‖"))
    return GradientBounds(final_gradient_norm=final, log=log, **out)


def _lecture_bound(traj: Trajectory, chunk_size: int | None) -> torch.Tensor | None:
    """``log(‖W_h‖^{T−t} ∏_{s>=t} ‖D_s‖)`` per start step, ``(B, T)``, or None."""
    model = traj.model
    D = model.derivative_diagonals(traj.inputs[:1], traj.states[:1], 0)
    if D is None:
        return None
    B, T = traj.batch_size, traj.length
    log_D = torch.empty(T, B, dtype=traj.dtype, device=traj.device)
    for start in range(0, T, chunk_size):
        stop = min(start + chunk_size, T)
        with torch.no_grad():
            d = model.derivative_diagonals(traj.inputs[start:stop], traj.states[start:stop], start)
        log_D[start:stop] = torch.log(d.abs().amax(-1))
    weights = model.recurrent_weights()
    if model.kind == "feedforward":
        log_W = torch.stack([_log_spectral_norm(weights[f"W_{l}"]) for l in range(T)])
        per_step = log_D + log_W.to(log_D)[:, None]
    else:
        per_step = log_D + _log_spectral_norm(weights["W_h"])
    return per_step.flip(0).cumsum(0).flip(0).T


def _log_spectral_norm(W: torch.Tensor) -> torch.Tensor:
    """log ‖W‖₂, from the exactly rescaled ``2^-e W`` (no over- or underflow)."""
    W_hat, e = pow2_normalize(W.detach())
    return torch.log(torch.linalg.matrix_norm(W_hat, ord=2)) + e.to(W.dtype) * math.log(2.0)
