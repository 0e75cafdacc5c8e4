"""Causal self-attention (``torch.nn.TransformerEncoderLayer`` with a causal mask) as a sequence model.

:class:`CausalSelfAttention` maps a sequence ``x`` ``(T, B, d)`` to ``y`` ``(T, B, d_model)``
where ``y_s`` depends on ``x_1 … x_s`` only: an input projection, learned position
embeddings, and ``num_layers`` of torch's own ``TransformerEncoderLayer`` (post-norm, ReLU,
no dropout) run with the causal mask. It is a ``model(x) -> y`` like any recurrent net, so
the probes of :mod:`rnnprobe.input_gradients` apply to it unchanged.

:class:`CausalTransformer` is the same stack over symbols with the interface of
:class:`~rnnprobe.attention.seq2seq.EncoderDecoder` (``model(source, decoder_inputs)``):
it reads ``[source; decoder_inputs]`` as one sequence (the decoder inputs start with BOS,
the separator) and predicts the target from the decoder positions, a decoder-only transformer.

Examples
--------
>>> import torch
>>> from rnnprobe.attention.selfattention import CausalSelfAttention
>>> net = CausalSelfAttention(3, d_model=8, nhead=2, seed=0)
>>> x = torch.randn(6, 2, 3, dtype=torch.float64)
>>> y = net(x)
>>> y.shape
torch.Size([6, 2, 8])
>>> x2 = x.clone(); x2[4:] += 1.0                              # change the future only
>>> torch.allclose(net(x2)[:4], y[:4])                         # causal: the past is unchanged
True
>>> w = net.attention_weights(x)[0]                            # layer 0, (B, T, T), head-averaged
>>> bool((w.triu(1) == 0).all()), torch.allclose(w.sum(-1), torch.ones(2, 6, dtype=w.dtype))
(True, True)
"""

from __future__ import annotations

import math

import torch
from torch import nn

from rnnprobe._validation import check_dtype, check_finite_tensor, check_int
from rnnprobe.attention._inputs import sequence_input
from rnnprobe.attention.seq2seq import Seq2SeqOutput
from rnnprobe.errors import InvalidArgument

__all__ = ["CausalSelfAttention", "CausalTransformer", "causal_mask"]


def causal_mask(length: int, *, dtype=torch.float64, device=None) -> torch.Tensor:
    """Additive mask ``(T, T)``: 0 on and below the diagonal, −inf above (position s sees t <= s)."""
    return torch.triu(torch.full((length, length), -math.inf, dtype=dtype, device=device), diagonal=1)


class CausalSelfAttention(nn.Module):
    """A causal transformer encoder stack: ``y_s`` depends on ``x_1 … x_s``.

    Parameters
    ----------
    input_size : int
        d, the size of each input vector (0 is not allowed).
    d_model : int
        Width of the stack; must be divisible by ``nhead``.
    nhead : int
        Attention heads per layer.
    num_layers : int
        Number of ``nn.TransformerEncoderLayer``.
    dim_feedforward : int, optional
        Hidden width of each layer's MLP (default ``2 * d_model``).
    max_positions : int
        Longest sequence it accepts (learned position embeddings).
    seed : int
        Seed of every parameter.
    dtype : torch.dtype or str
        float64 (default) or float32.
    """

    def __init__(self, input_size: int, d_model: int = 32, nhead: int = 4, num_layers: int = 1, *,
                 dim_feedforward: int | None = None, max_positions: int = 256, seed: int = 0, dtype=torch.float64):
        super().__init__()
        self.input_size = check_int("input_size", input_size, min_value=1)
        self.d_model = check_int("d_model", d_model, min_value=1)
        self.nhead = check_int("nhead", nhead, min_value=1)
        if d_model % nhead:
            raise InvalidArgument(f"d_model must be divisible by nhead = {nhead}; got {d_model!r}")
        num_layers = check_int("num_layers", num_layers, min_value=1)
        ff = 2 * d_model if dim_feedforward is None else check_int("dim_feedforward", dim_feedforward, min_value=1)
        self.max_positions = check_int("max_positions", max_positions, min_value=1)
        seed = check_int("seed", seed, min_value=0)
        dtype = check_dtype("dtype", dtype)
        with torch.random.fork_rng(devices=[]):          # torch's layers draw from the global generator
            torch.manual_seed(seed)
            self.input = nn.Linear(input_size, d_model, dtype=dtype)
            self.positions = nn.Embedding(max_positions, d_model, dtype=dtype)
            nn.init.normal_(self.positions.weight, std=1.0 / math.sqrt(d_model))
            self.layers = nn.ModuleList(
                nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward=ff, dropout=0.0, dtype=dtype)
                for _ in range(num_layers))

    @property
    def dtype(self) -> torch.dtype:
        return self.input.weight.dtype

    def _prepare(self, x: torch.Tensor) -> tuple[torch.Tensor, bool]:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.ndim not in (2, 3):
            raise InvalidArgument(
                f"x must be a float tensor (T, {self.input_size}) or (T, B, {self.input_size}); got "
                f"{type(x).__name__ if not isinstance(x, torch.Tensor) else f'{x.dtype} of shape {tuple(x.shape)}'}")
        if x.shape[0] == 0:
            raise InvalidArgument(f"x must hold at least one time step (T >= 1); got shape {tuple(x.shape)}")
        if x.shape[0] > self.max_positions:
            raise InvalidArgument(f"x must be at most max_positions = {self.max_positions} steps long; got T = {x.shape[0]}")
        if x.shape[-1] != self.input_size:
            raise InvalidArgument(f"x must have last dimension input_size = {self.input_size}; got shape {tuple(x.shape)}")
        check_finite_tensor("x", x)
        batched = x.ndim == 3
        x = (x if batched else x.unsqueeze(1)).to(dtype=self.dtype, device=self.input.weight.device)
        h = self.input(x) + self.positions.weight[: x.shape[0]].unsqueeze(1)
        return h, batched

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``y`` ``(T, B, d_model)`` (``(T, d_model)`` unbatched) from ``x`` ``(T, B, d)``."""
        h, batched = self._prepare(x)
        mask = causal_mask(h.shape[0], dtype=h.dtype, device=h.device)
        for layer in self.layers:
            h = layer(h, src_mask=mask, is_causal=True)
        return h if batched else h[:, 0]

    @torch.no_grad()
    def attention_weights(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each layer's head-averaged attention weights ``(B, T, T)`` (row s: query s, column t: key t)."""
        h, batched = self._prepare(x)
        mask = causal_mask(h.shape[0], dtype=h.dtype, device=h.device)
        weights = []
        for layer in self.layers:
            q = layer.norm1(h) if layer.norm_first else h
            _, w = layer.self_attn(q, q, q, attn_mask=mask, need_weights=True, average_attn_weights=True)
            weights.append(w if batched else w[0])
            h = layer(h, src_mask=mask, is_causal=True)
        return weights


class CausalTransformer(nn.Module):
    """A decoder-only transformer for sequence-to-sequence tasks over symbols.

    It reads ``z = [source; decoder_inputs]`` (length T + S) through a
    :class:`CausalSelfAttention` stack and reads the target's logits at the S decoder
    positions; the decoder inputs start with BOS = ``vocab_size``, which separates the two.

    Parameters
    ----------
    vocab_size : int
        Symbols V >= 2 (plus BOS).
    d_model, nhead, num_layers, dim_feedforward, max_positions, seed, dtype
        As :class:`CausalSelfAttention` (``max_positions`` bounds T + S).

    Examples
    --------
    >>> import torch
    >>> model = CausalTransformer(vocab_size=4, d_model=8, nhead=2, seed=0)
    >>> logits, attention = model(torch.tensor([0, 1, 2]), torch.tensor([4, 2, 1]))
    >>> logits.shape, attention is None
    (torch.Size([3, 4]), True)
    """

    def __init__(self, vocab_size: int, d_model: int = 32, nhead: int = 4, num_layers: int = 1, *,
                 dim_feedforward: int | None = None, max_positions: int = 256, seed: int = 0, dtype=torch.float64):
        super().__init__()
        self.vocab_size = check_int("vocab_size", vocab_size, min_value=2)
        self.stack = CausalSelfAttention(d_model, d_model, nhead, num_layers, dim_feedforward=dim_feedforward,
                                         max_positions=max_positions, seed=seed, dtype=dtype)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 1)
            self.embedding = nn.Embedding(vocab_size + 1, d_model, dtype=self.stack.dtype)
            self.readout = nn.Linear(d_model, vocab_size, dtype=self.stack.dtype)

    @property
    def bos(self) -> int:
        return self.vocab_size

    def _sequence(self, source, decoder_inputs):
        x, batched = sequence_input("source", source, self.embedding, symbols=self.vocab_size, dtype=self.stack.dtype)
        y, batched_y = sequence_input("decoder_inputs", decoder_inputs, self.embedding, symbols=self.vocab_size + 1,
                                      dtype=self.stack.dtype)
        if batched != batched_y or x.shape[1] != y.shape[1]:
            raise InvalidArgument(
                f"decoder_inputs must have the source's batch size; got shape {tuple(decoder_inputs.shape)} for a "
                f"source of shape {tuple(source.shape)}")
        return torch.cat([x, y]), x.shape[0], batched

    def forward(self, source: torch.Tensor, decoder_inputs: torch.Tensor) -> Seq2SeqOutput:
        """Logits ``(S, B, V)`` at the decoder positions (``attention`` is None: see :meth:`attention_weights`)."""
        z, T, batched = self._sequence(source, decoder_inputs)
        logits = self.readout(self.stack(z)[T:])
        return Seq2SeqOutput(logits if batched else logits[:, 0], None)

    def attention_weights(self, source: torch.Tensor, decoder_inputs: torch.Tensor) -> list[torch.Tensor]:
        """Each layer's head-averaged weights over the whole sequence ``(B, T+S, T+S)``."""
        z, _, batched = self._sequence(source, decoder_inputs)
        weights = self.stack.attention_weights(z)
        return weights if batched else [w[0] for w in weights]

    @torch.no_grad()
    def generate(self, source: torch.Tensor, steps: int) -> Seq2SeqOutput:
        """Greedy decoding from BOS (the prefix is re-run at each step: O(S²), for small S)."""
        steps = check_int("steps", steps, min_value=1)
        if not isinstance(source, torch.Tensor) or source.is_floating_point() or source.ndim not in (1, 2):
            raise InvalidArgument(f"source must be integer symbols (T,) or (T, B); got {source!r:.80}")
        batched = source.ndim == 2
        src = (source if batched else source.unsqueeze(1)).to(self.embedding.weight.device)
        inputs = torch.full((1, src.shape[1]), self.bos, dtype=torch.long, device=src.device)
        for s in range(steps):
            logits = self(src, inputs).logits
            if s < steps - 1:
                inputs = torch.cat([inputs, logits[-1:].argmax(-1)])
        return Seq2SeqOutput(logits if batched else logits[:, 0], None)
