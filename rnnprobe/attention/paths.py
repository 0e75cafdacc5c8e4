"""The gradient reaching each encoder state, split by the bridge it crossed: attention or recurrence.

In :class:`~rnnprobe.attention.seq2seq.EncoderDecoder` the decoder side (decoder states,
attention, readout) reads the encoder through exactly two bridges: the attention reads the
hidden states ``e_1 … e_T`` (as keys and values), and the decoder starts from the encoder's
last state ``s_T``. Nothing flows back from the decoder side into the encoder (the context
enters the output only). So every path from an encoder state ``s_t`` to the loss L crosses
exactly one bridge, and by the chain rule ``∂L/∂s_t`` is the sum of

* **through attention**: ``Σ_{t' >= t} (∂e_{t'}/∂s_t)ᵀ ∂L/∂e_{t'}|attention`` — the gradient
  that enters the encoder through the attention at some position t' (t' = t: the direct path;
  t' > t: it then travels back along the encoder chain from t' to t);
* **through recurrence**: ``(∂s_T/∂s_t)ᵀ ∂L/∂s_T|decoder start`` — the gradient that enters
  through the decoder's start state and travels back the whole encoder chain from T to t
  (the only bridge without attention: the lecture's bottleneck).

Here ``s_t`` is the encoder's flat state after reading ``x_t`` (``e_t`` itself for vanilla
and GRU cores, ``[h_t; c_t]`` for an LSTM; :mod:`rnnprobe.attention.cores`). Both parts
come from one forward pass: one backward pass gives the total ``∂L/∂s_t`` (plain autograd) and
the gradient arriving at each bridge, and one vector–Jacobian product through the encoder per
bridge carries that back to every ``s_t``. The tests hold the parts' sum to the total,
and each part to the gradient of a forward pass with the other bridge cut (detached).

Examples
--------
>>> import torch, rnnprobe
>>> from rnnprobe.attention import EncoderDecoder, attention_path_split
>>> core = lambda seed: rnnprobe.build("gru", hidden_size=6, input_size=3, seed=seed)
>>> model = EncoderDecoder(core(0), core(1), vocab_size=4, seed=0)
>>> split = attention_path_split(model, torch.tensor([0, 1, 2, 3, 1]), torch.tensor([4, 1, 3]), at=2)
>>> split.total.shape, split.recurrent_steps.tolist()
(torch.Size([5, 6]), [7, 6, 5, 4, 3])
>>> torch.allclose(split.attention + split.recurrence, split.total, atol=1e-12)
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from rnnprobe._validation import check_int
from rnnprobe.attention.seq2seq import EncoderDecoder
from rnnprobe.errors import InvalidArgument
from rnnprobe.linalg import start_vectors

__all__ = ["attention_path_split", "PathSplit"]


@dataclass(frozen=True, eq=False)
class PathSplit:
    """``∂L/∂s_t`` for every encoder state, and its two parts by bridge.

    Attributes
    ----------
    total, attention, recurrence : torch.Tensor
        ``(B, T, S)`` (``(T, S)`` unbatched): index t is the state after reading source
        position t (0-based). ``attention + recurrence == total`` up to rounding.
    at : int or None
        The target position whose output the loss reads (None: all positions).
    """

    total: torch.Tensor
    attention: torch.Tensor
    recurrence: torch.Tensor
    at: int | None

    @property
    def length(self) -> int:
        """T, the source length."""
        return self.total.shape[-2]

    def norms(self) -> dict[str, torch.Tensor]:
        """Euclidean norms per state: ``{'total', 'attention', 'recurrence'}`` → ``(B, T)`` or ``(T,)``."""
        return {name: torch.linalg.vector_norm(getattr(self, name), dim=-1)
                for name in ("total", "attention", "recurrence")}

    @property
    def recurrent_steps(self) -> torch.Tensor | None:
        """Recurrent steps on the path from ``s_t`` to the decoder state ``d_at`` through the decoder's
        start, ``T − t + at`` (``(T,)``): the source–target distance the recurrence must bridge
        (through attention the distance is one step). None when ``at`` is None."""
        if self.at is None:
            return None
        return self.length - torch.arange(self.length) + self.at


def attention_path_split(model: EncoderDecoder, source: torch.Tensor, decoder_inputs: torch.Tensor,
                         loss: Callable[[torch.Tensor], torch.Tensor] | None = None, *,
                         targets: torch.Tensor | None = None, at: int | None = None, seed: int = 0) -> PathSplit:
    """Split the gradient reaching each encoder state into its attention and recurrence parts.

    Parameters
    ----------
    model : EncoderDecoder
    source, decoder_inputs : torch.Tensor
        Symbols ``(T,)``/``(T, B)`` and ``(S,)``/``(S, B)`` as :meth:`EncoderDecoder.forward` reads them.
    loss : callable, optional
        Maps the logits (``(B, V)`` at target position ``at``, or all ``(S, B, V)`` when ``at`` is
        None; unbatched shapes without B) to a scalar.
    targets : torch.Tensor, optional
        Target symbols shaped like ``decoder_inputs``; the default loss is then the summed
        cross-entropy (at ``at``, or over all positions). Without ``loss`` and ``targets`` the
        loss is a fixed random unit readout ``uᵀ y`` of the logits (``u`` from ``seed``), summed
        over positions when ``at`` is None. Batch rows never interact, so summing over the batch
        gives every sequence its own gradient.
    at : int, optional
        Target position ``0 <= at < S`` whose output the loss reads.
    seed : int
        Seed of the default readout.

    Returns
    -------
    PathSplit

    Raises
    ------
    InvalidArgument
        For a model that is not an EncoderDecoder, ``at`` out of range, bad shapes, a loss that
        is not a finite scalar.
    """
    if not isinstance(model, EncoderDecoder):
        raise InvalidArgument(f"model must be an EncoderDecoder; got {type(model).__name__}")
    if loss is not None and targets is not None:
        raise InvalidArgument("give at most one of loss and targets; got both")
    if loss is not None and not callable(loss):
        raise InvalidArgument(f"loss must be a callable logits -> scalar or None; got {type(loss).__name__}")
    with torch.enable_grad():
        out = model.unrolled(source, decoder_inputs, stepwise=True)
        logits = out["logits"]
        S = logits.shape[0]
        if at is not None:
            at = check_int("at", at, min_value=0, max_value=S - 1)
        L = _loss(logits, loss, targets, at, seed, model)
        states, keys, bridge = out["states"], out["keys"], out["bridge"]
        grads = torch.autograd.grad(L, [*states, keys, bridge], retain_graph=True, allow_unused=True)
        total = grads[:-2]
        seeds = [torch.zeros_like(t) if g is None else g for t, g in zip((keys, bridge), grads[-2:])]
        through_attention = torch.autograd.grad(keys, states, grad_outputs=seeds[0], retain_graph=True, allow_unused=True)
        through_recurrence = torch.autograd.grad(bridge, states, grad_outputs=seeds[1], allow_unused=True)
    batched = logits.ndim == 3

    def stack(grads):
        g = torch.stack([torch.zeros_like(s) if v is None else v for s, v in zip(states, grads)], dim=1)
        return g if batched else g[0]

    total, attention, recurrence = stack(total), stack(through_attention), stack(through_recurrence)
    for name, g in (("total", total), ("attention", attention), ("recurrence", recurrence)):
        if not bool(torch.isfinite(g).all()):
            raise InvalidArgument(f"loss must have finite gradients; the {name} gradient has NaN/Inf entries")
    return PathSplit(total.detach(), attention.detach(), recurrence.detach(), at)


def _loss(logits, loss, targets, at, seed, model):
    y = logits if at is None else logits[at]
    if loss is not None:
        L = loss(y)
        if not isinstance(L, torch.Tensor) or L.numel() != 1:
            raise InvalidArgument(
                f"loss must return a scalar tensor for logits of shape {tuple(y.shape)}; got "
                f"{type(L).__name__} of shape {tuple(getattr(L, 'shape', ()))}")
        return L.reshape(())
    if targets is not None:
        if not isinstance(targets, torch.Tensor) or targets.is_floating_point() or tuple(targets.shape) != tuple(logits.shape[:-1]):
            raise InvalidArgument(
                f"targets must be integer symbols of shape {tuple(logits.shape[:-1])} (like decoder_inputs); got "
                f"{tuple(targets.shape) if isinstance(targets, torch.Tensor) else type(targets).__name__}")
        if targets.numel() and (int(targets.min()) < 0 or int(targets.max()) >= model.vocab_size):
            raise InvalidArgument(f"targets symbols must lie in [0, {model.vocab_size}); got {targets.min().item()!r}..{targets.max().item()!r}")
        t = targets.to(y.device) if at is None else targets[at].to(y.device)
        return torch.nn.functional.cross_entropy(y.reshape(-1, y.shape[-1]), t.reshape(-1), reduction="sum")
    u = start_vectors(1, y.shape[-1], dtype=y.dtype, device=y.device, seed=check_int("seed", seed, min_value=0))[0]
    return (y @ u).sum()
