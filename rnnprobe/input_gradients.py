"""Input gradients and input–output Jacobians of any sequence model, position by position.

Beyond chains of states (attention, transformers, encoder–decoders, your own model) the
probes are taken at the inputs of any differentiable ``model(x) -> y`` over time-major
sequences ``x`` ``(T, d)`` or ``(T, B, d)``:

* :func:`input_gradient_norms`: ``‖∂L/∂x_t‖`` for every position t, from one backward pass;
* :func:`input_jacobian_norms`: ``‖∂y_s/∂x_t‖₂`` (the spectral norm of the ``k × d`` block)
  for one output position ``s = at`` and every t, from one forward pass and a batch of
  vector–Jacobian products (one per output component and sequence, vectorised with
  ``torch.autograd.grad(..., is_grads_batched=True)``).

For a causal model (a recurrent net, causal self-attention) ``‖∂y_s/∂x_t‖`` is 0 for t > s;
for a recurrent net it is the input-to-output analogue of the state Jacobian norms
(:func:`rnnprobe.jacobian_norms`).

Examples
--------
>>> import torch
>>> from rnnprobe.input_gradients import input_gradient_norms, input_jacobian_norms
>>> rnn = torch.nn.RNN(2, 4, dtype=torch.float64)
>>> model = lambda x: rnn(x)[0]                                  # (T, B, 2) -> (T, B, 4)
>>> x = torch.randn(6, 3, 2, dtype=torch.float64)
>>> G = input_jacobian_norms(model, x, at=3)
>>> G.shape, bool((G[:, 4:] == 0).all())                        # (B, T); causal: zero after t = 3
(torch.Size([3, 6]), True)
>>> input_gradient_norms(model, x).shape
torch.Size([3, 6])
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from rnnprobe._validation import check_finite_tensor, check_int
from rnnprobe.errors import InvalidArgument
from rnnprobe.linalg import start_vectors

__all__ = ["input_gradient_norms", "input_jacobian_norms"]


def _check_model_and_input(model, x) -> torch.Tensor:
    if not callable(model):
        raise InvalidArgument(f"model must be callable as model(x) -> y; got {type(model).__name__}")
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise InvalidArgument(
            f"x must be a floating tensor (T, d) or (T, B, d); got "
            f"{f'{x.dtype} tensor' if isinstance(x, torch.Tensor) else type(x).__name__}")
    if x.ndim not in (2, 3):
        raise InvalidArgument(f"x must have shape (T, d) or (T, B, d) (time-major); got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise InvalidArgument(f"x must hold at least one time step (T >= 1); got shape {tuple(x.shape)}")
    check_finite_tensor("x", x)
    if isinstance(model, nn.Module):
        for p in model.parameters():                 # compute in the model's dtype and on its device
            x = x.to(dtype=p.dtype, device=p.device)
            break
    return x.detach().clone().requires_grad_(True)


def _output(model, x: torch.Tensor) -> torch.Tensor:
    y = model(x)
    if isinstance(y, tuple):                         # (output, extras): torch's RNNs, our Seq2SeqOutput
        y = y[0]
    if not isinstance(y, torch.Tensor) or y.ndim < 1 or y.shape[0] == 0:
        raise InvalidArgument(
            f"model must return a time-major tensor y (T_out, …); got "
            f"{type(y).__name__ if not isinstance(y, torch.Tensor) else f'shape {tuple(y.shape)}'}")
    if x.ndim == 3 and (y.ndim < 2 or y.shape[1] != x.shape[1]):
        raise InvalidArgument(
            f"model must keep the batch dimension: y of shape (T_out, B = {x.shape[1]}, …); got shape {tuple(y.shape)}")
    if not bool(torch.isfinite(y).all()):
        raise InvalidArgument("model(x) must be finite; got NaN/Inf outputs")
    return y


def _per_position_norms(g: torch.Tensor, batched: bool) -> torch.Tensor:
    """``‖g_t‖`` per position (and sequence): ``(B, T)`` batched, ``(T,)`` unbatched."""
    if batched:
        return torch.linalg.vector_norm(g.flatten(2), dim=-1).T
    return torch.linalg.vector_norm(g.flatten(1), dim=-1)


def input_gradient_norms(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                         loss: Callable[[torch.Tensor], torch.Tensor] | None = None, *, seed: int = 0) -> torch.Tensor:
    """``‖∂L/∂x_t‖`` for every input position t.

    Parameters
    ----------
    model : callable
        Any differentiable ``model(x) -> y`` over time-major sequences (a tuple output: its first
        element). An ``nn.Module``'s inputs are cast to the dtype of its parameters.
    x : torch.Tensor
        ``(T, d)`` or ``(T, B, d)``.
    loss : callable, optional
        ``y -> scalar``; default a fixed random unit readout of the last output,
        ``L = Σ_b uᵀ y_{T_out−1, b}`` (u from ``seed``; each sequence's gradient is its own as
        long as the model keeps batch rows apart).
    seed : int
        Seed of the default readout.

    Returns
    -------
    torch.Tensor
        ``(T,)`` or ``(B, T)``: ``‖∂L/∂x_t‖`` over the other input dimensions.
    """
    x = _check_model_and_input(model, x)
    with torch.enable_grad():
        y = _output(model, x)
        if loss is None:
            last = y[-1]
            u = start_vectors(1, last.shape[-1], dtype=y.dtype, device=y.device,
                              seed=check_int("seed", seed, min_value=0))[0]
            L = (last @ u).sum()
        elif not callable(loss):
            raise InvalidArgument(f"loss must be a callable y -> scalar or None; got {type(loss).__name__}")
        else:
            L = loss(y)
            if not isinstance(L, torch.Tensor) or L.numel() != 1:
                raise InvalidArgument(
                    f"loss must return a scalar tensor for y of shape {tuple(y.shape)}; got "
                    f"{type(L).__name__} of shape {tuple(getattr(L, 'shape', ()))}")
        (g,) = torch.autograd.grad(L.reshape(()), x, allow_unused=True) if L.requires_grad else (None,)
    g = torch.zeros_like(x) if g is None else g
    if not bool(torch.isfinite(g).all()):
        raise InvalidArgument("loss must have a finite gradient at x; got NaN/Inf")
    return _per_position_norms(g.detach(), x.ndim == 3)


def input_jacobian_norms(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, at: int, *,
                         chunk_size: int | None = None, vectorize: bool = True) -> torch.Tensor:
    """``‖∂y_s/∂x_t‖₂`` for the output position ``s = at`` and every input position t.

    Parameters
    ----------
    model : callable
        Any differentiable ``model(x) -> y``; ``y`` time-major ``(T_out, k…)`` or ``(T_out, B, k…)``.
    x : torch.Tensor
        ``(T, d)`` or ``(T, B, d)``.
    at : int
        The output position s, ``0 <= at < T_out``.
    chunk_size : int, optional
        Vector–Jacobian products per batched backward pass (default: all ``B·k`` at once).
    vectorize : bool
        Batch the products with ``is_grads_batched`` (falls back to one at a time for models
        ``torch.vmap`` cannot batch); False: one at a time.

    Returns
    -------
    torch.Tensor
        ``(T,)`` or ``(B, T)``: the spectral norm of ``∂y_s[b]/∂x_t[b]`` (a ``k × d`` matrix).
        Exact whatever the model does across the batch (one product per sequence and component).
    """
    x = _check_model_and_input(model, x)
    batched = x.ndim == 3
    with torch.enable_grad():
        y = _output(model, x)
        at = check_int("at", at, min_value=0, max_value=y.shape[0] - 1)
        ys = y[at] if batched else y[at].unsqueeze(0)          # (B, k…)
        B = ys.shape[0]
        k = ys[0].numel()
        n = B * k
        chunk_size = n if chunk_size is None else check_int("chunk_size", chunk_size, min_value=1)
        eye = torch.eye(n, dtype=ys.dtype, device=ys.device).reshape(n, *ys.shape)
        rows = []
        for start in range(0, n, chunk_size):
            rows.append(_vjps(ys, x, eye[start : start + chunk_size], vectorize=vectorize))
    J = torch.cat(rows)                                          # (B·k, T, [B,] d)
    if not batched:
        J = J.unsqueeze(2)
    T = x.shape[0]
    J = J.reshape(B, k, T, B, -1)
    blocks = torch.stack([J[b, :, :, b] for b in range(B)])      # (B, k, T, d)
    norms = torch.linalg.matrix_norm(blocks.permute(0, 2, 1, 3), ord=2)   # (B, T)
    if not bool(torch.isfinite(norms).all()):
        raise InvalidArgument("model must have finite Jacobians at x; got NaN/Inf")
    return norms if batched else norms[0]


def _vjps(ys, x, V, *, vectorize: bool) -> torch.Tensor:
    """``Vᵢᵀ ∂ys/∂x`` for each row of V ``(m, *ys.shape)``: ``(m, *x.shape)``."""
    if not ys.requires_grad:                          # y does not depend on x at all
        return torch.zeros(V.shape[0], *x.shape, dtype=x.dtype, device=x.device)
    if vectorize:
        try:
            (g,) = torch.autograd.grad(ys, x, grad_outputs=V, is_grads_batched=True, retain_graph=True,
                                       allow_unused=True)
            return torch.zeros(V.shape[0], *x.shape, dtype=x.dtype, device=x.device) if g is None else g
        except RuntimeError:      # an operation without a batching rule: one product at a time
            pass
    out = []
    for v in V:
        (g,) = torch.autograd.grad(ys, x, grad_outputs=v, retain_graph=True, allow_unused=True)
        out.append(torch.zeros_like(x) if g is None else g)
    return torch.stack(out)
