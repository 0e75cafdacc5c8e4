"""The loss hooks of the gradient probes: your training loss, evaluated on the recorded states.

A gradient probe measures ``g(t) = ‖∂L/∂s_t‖`` for a loss L of the trajectory. The loss
comes in one of three forms (give at most one; none: a fixed random unit readout of h_T):

``loss=``
    one sequence's final hidden vector ``h_T`` ``(n,)`` -> a scalar; called once per
    sequence, in batch order (the original form).
``batch_loss=``
    the batch of final hidden vectors ``h_T`` ``(B, n)`` -> per-sequence losses ``(B,)``:
    what a training loop computes before it reduces, e.g.
    ``lambda h: (head(h).squeeze(-1) - y) ** 2`` with the targets ``y`` of the batch.
    Row b is sequence b of the inputs as you passed them (``(B, T, d)`` or ``(T, B, d)``);
    unbatched inputs give B = 1. Entry b must depend on row b only.
``loss_over_steps=``
    the hidden states of every step ``h_1 … h_T`` -> per-sequence losses ``(B,)``, as a
    language model's ``Σ_t ℓ(y_t, h_t)``: ``(T, B, n)``, or ``(B, T, n)`` when the inputs
    were batch-first (what ``out`` of ``out, _ = rnn(x)`` is). L then reaches every state
    directly as well as through the chain: ``∂L/∂s_t = ∂L/∂s_{t+1}·J_t + ∂ℓ_t/∂s_t``.

Every form sees the *hidden* vector h (an LSTM's ``h``, not its cell state c); the
gradient is taken with respect to the full state s (``[h; c]``), as G is, so that for an
LSTM ``∂L/∂s_T = [∂L/∂h_T; 0]`` and ``g(t) = ‖[∂L/∂h_t; ∂L/∂c_t]‖ ≤ ‖∂L/∂h_T‖·G(t)``
(for a loss of the final state).

dtype: the hook is called with states in the dtype of your module (float32 for a
float32 ``torch.nn.LSTM``, whose float64 copy the probes run; the dtype of the
parameters of a loss that is itself an ``nn.Module``; else the probes' dtype), so that the
float32 head you train with takes them as they are. A hook that refuses that dtype (a
float64 closure), or states beyond that dtype's range, get the probes' dtype instead; if
that fails too, the error says which dtypes were tried and why. The gradient is converted
to the probes' dtype.

Examples
--------
>>> import torch, rnnprobe
>>> lstm = torch.nn.LSTM(2, 4, batch_first=True)                  # float32, as trained
>>> head = torch.nn.Linear(4, 1)
>>> x, y = torch.randn(3, 10, 2), torch.randn(3)                   # a batch and its targets
>>> traj = rnnprobe.record(lstm, x)
>>> g = rnnprobe.gradient_norms(traj, batch_loss=lambda h: (head(h).squeeze(-1) - y) ** 2)
>>> g.shape                                                        # (B, T)
torch.Size([3, 10])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from rnnprobe._validation import check_seed
from rnnprobe.errors import InvalidArgument
from rnnprobe.linalg import start_vectors
from rnnprobe.trajectory import Trajectory

__all__ = ["LOSS_FORMS", "LossGradient", "loss_form", "loss_gradient"]

#: the keywords a loss may be given by (at most one per call)
LOSS_FORMS = ("loss", "batch_loss", "loss_over_steps")


@dataclass(frozen=True)
class LossGradient:
    """The gradient a loss puts on the states directly.

    Attributes
    ----------
    final : torch.Tensor
        ``∂L/∂s_T`` ``(B, S)`` (the whole gradient at the last state).
    direct : torch.Tensor or None
        For ``loss_over_steps``: ``(T, B, S)``, entry t the gradient of the step-t term
        on s_t alone (``∂ℓ_t/∂s_t``, zero for t = 0); None for losses of s_T only.
    form : str
        Which of :data:`LOSS_FORMS` gave it (``'default'`` for the unit readout).
    """

    final: torch.Tensor
    direct: torch.Tensor | None
    form: str


def loss_form(loss=None, batch_loss=None, loss_over_steps=None, *, allow_steps: bool = True) -> tuple[str, Callable] | None:
    """``(form, callable)`` of the one loss given, or None; InvalidArgument for two, or one not callable."""
    given = [(name, fn) for name, fn in zip(LOSS_FORMS, (loss, batch_loss, loss_over_steps)) if fn is not None]
    if len(given) > 1:
        raise InvalidArgument(f"give at most one of loss, batch_loss and loss_over_steps; got "
                              f"{' and '.join(name for name, _ in given)}")
    if not given:
        return None
    name, fn = given[0]
    if not callable(fn):
        shapes = {"loss": "h_T -> scalar", "batch_loss": "h_T (B, n) -> (B,)",
                  "loss_over_steps": "h_1…h_T (T, B, n) or (B, T, n) -> (B,)"}
        raise InvalidArgument(f"{name} must be a callable {shapes[name]} or None; got {type(fn).__name__}")
    if name == "loss_over_steps" and not allow_steps:
        raise InvalidArgument("loss_over_steps is not accepted here: this measure needs a loss of the last state s_T "
                              "(loss= or batch_loss=); got loss_over_steps")
    return name, fn


def _dtypes(traj: Trajectory, fn) -> list[torch.dtype]:
    """The dtypes to call a hook with, in order: the user's module's, then the probes'."""
    own = None
    if isinstance(fn, nn.Module):
        own = next((p.dtype for p in fn.parameters() if p.is_floating_point()), None)
    if own is None:
        own = getattr(traj.model, "source_dtype", None)
    out = [own] if own is not None else []
    return out + [traj.dtype] if traj.dtype not in out else out


def _dtype_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "dtype" in text or "double" in text or "float" in text or "half" in text


def _call(name: str, fn, states: torch.Tensor, view: Callable[[torch.Tensor], torch.Tensor], described: str,
          dtypes: list[torch.dtype]) -> tuple[torch.Tensor, torch.Tensor]:
    """Call ``fn(view(s))`` on a leaf copy ``s`` of ``states`` in the first dtype it takes: (s, output)."""
    failures = []
    for i, dtype in enumerate(dtypes):
        s = states.detach().to(dtype).clone().requires_grad_(True)
        if i + 1 < len(dtypes) and not bool(torch.isfinite(s).all()):
            continue                                  # states beyond the module's dtype's range: the probes' dtype
        try:
            with torch.enable_grad():
                out = fn(view(s))
        except (RuntimeError, TypeError) as exc:
            failures.append(f"{str(dtype).removeprefix('torch.')}: {type(exc).__name__}: {exc}")
            if i + 1 < len(dtypes) and _dtype_error(exc):
                continue
            tried = " and ".join(str(d).removeprefix("torch.") for d in dtypes[: i + 1])
            raise InvalidArgument(
                f"{name} failed on {described} (dtype tried: {tried}): " + "; ".join(failures)
                + ("; the loss must take your module's states in that dtype, e.g. a head of the module's dtype"
                   if _dtype_error(exc) else "")) from exc
        return s, out
    raise AssertionError("unreachable")  # pragma: no cover


def _grad(out: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    if not out.requires_grad:                       # a loss that does not depend on the states
        return torch.zeros_like(s)
    (g,) = torch.autograd.grad(out.sum(), s, allow_unused=True)
    return torch.zeros_like(s) if g is None else g


def _check_finite(name: str, g: torch.Tensor, where: str) -> torch.Tensor:
    if not bool(torch.isfinite(g).all()):
        raise InvalidArgument(f"{name} must have a finite gradient at {where}; got NaN/Inf")
    return g


def loss_gradient(traj: Trajectory, loss=None, *, batch_loss=None, loss_over_steps=None, seed: int = 0,
                  allow_steps: bool = True) -> LossGradient:
    """The gradient of the given loss (one of :data:`LOSS_FORMS`) on the recorded states.

    Parameters
    ----------
    traj : Trajectory
    loss, batch_loss, loss_over_steps : callable, optional
        At most one (see the module docstring); none: ``L = uᵀ h_T`` with a fixed random
        unit vector u drawn from ``seed`` (gradient norm 1).
    seed : int
        Seed of the default readout.
    allow_steps : bool
        Whether ``loss_over_steps`` is accepted (measures of the last state refuse it).

    Returns
    -------
    LossGradient
    """
    seed = check_seed("seed", seed)
    chosen = loss_form(loss, batch_loss, loss_over_steps, allow_steps=allow_steps)
    model = traj.model
    final_state = traj.states[-1].detach()
    B, n = traj.batch_size, model.hidden_size
    if chosen is None:
        u = start_vectors(1, n, dtype=traj.dtype, device=traj.device, seed=seed)[0]
        with torch.enable_grad():
            s = final_state.clone().requires_grad_(True)
            g = _grad(model.hidden(s) @ u, s)
        return LossGradient(g, None, "default")
    name, fn = chosen
    dtypes = _dtypes(traj, fn)
    if name == "loss":
        grads = []
        for b in range(B):
            s, out = _call(name, fn, final_state[b : b + 1], lambda v: model.hidden(v)[0],
                           f"sequence {b}'s h_T of shape ({n},)", dtypes)
            dtypes = [s.dtype] + [d for d in dtypes if d != s.dtype]     # the dtype that worked first next time
            if not isinstance(out, torch.Tensor) or out.numel() != 1:
                raise InvalidArgument(
                    f"loss must return a scalar tensor for one sequence's h_T of shape ({n},); got "
                    f"{type(out).__name__} of shape {tuple(getattr(out, 'shape', ()))} (for the batch at once, "
                    "(B, n) -> (B,), use batch_loss=)")
            grads.append(_grad(out.reshape(()), s)[0])
        g = torch.stack(grads)
        return LossGradient(_check_finite(name, g.to(traj.dtype), "h_T"), None, name)
    if name == "batch_loss":
        s, out = _call(name, fn, final_state, model.hidden, f"h_T of shape ({B}, {n})", dtypes)
        _check_per_sequence(name, out, B, f"h_T of shape ({B}, {n})")
        g = _grad(out, s)
        return LossGradient(_check_finite(name, g.to(traj.dtype), "h_T"), None, name)
    T = traj.length
    layout = f"({B}, {T}, {n})" if traj.batch_first else f"({T}, {B}, {n})"

    def view(states):                                     # (T, B, S) -> the hidden states as the inputs were laid out
        h = model.hidden(states)
        return h.transpose(0, 1) if traj.batch_first else h

    s, out = _call(name, fn, traj.states[1:], view, f"h_1…h_T of shape {layout}", dtypes)
    _check_per_sequence(name, out, B, f"h_1…h_T of shape {layout}")
    g = _check_finite(name, _grad(out, s).to(traj.dtype), "h_1…h_T")      # (T, B, S): ∂L/∂s_t, t = 1…T, directly
    direct = torch.cat([torch.zeros_like(g[:1]), g[:-1]])                 # entry t: s_t (t = 0 … T−1)
    return LossGradient(g[-1], direct, name)


def _check_per_sequence(name: str, out, B: int, described: str) -> None:
    ok = isinstance(out, torch.Tensor) and (tuple(out.shape) == (B,) or (B == 1 and out.numel() == 1))
    if not ok:
        raise InvalidArgument(
            f"{name} must return one loss per sequence, shape ({B},), for {described}; got "
            f"{type(out).__name__}" + (f" of shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else "")
            + " (compute the loss with reduction='none' and sum over every dimension but the batch)")
