"""The lecture's encoder–decoder, with or without attention.

An encoder reads the source ``x_1 … x_T`` into states ``e_1 … e_T``; a decoder starts
from the encoder's last state and reads the target shifted right behind a start
symbol, giving states ``d_1 … d_S``. Convention (Luong et al. 2015, "global attention"):

* without attention, ``y_s = W_y d_s + b_y``: everything the decoder knows about the
  source went through the encoder's last state (the lecture's "asking the network too much");
* with attention, ``α_{t,s} = softmax_t(e_tᵀ d_s)``, ``c_s = Σ_t α_{t,s} e_t`` exactly as the
  lecture writes it (:func:`~rnnprobe.attention.dot.dot_attention`; ``attention='bilinear'``
  scores ``e_tᵀ W d_s`` with a learned W, initialised to the identity), and the context
  enters the *output* only: ``y_s = W_y [d_s; c_s] + b_y``. It is not fed back into the
  decoder's recurrence, so a gradient leaves the decoder side towards the encoder by
  exactly two bridges: the attention (at every e_t) and the decoder's start state (the
  encoder's last state). :func:`~rnnprobe.attention.paths.attention_path_split` splits by them.

The encoder and decoder are any recurrent cores (:mod:`rnnprobe.attention.cores`: rnnprobe
models, ``torch.nn.RNN/GRU/LSTM``, torch cells); their flat state sizes must agree, and
for the dot product so must their hidden sizes.

Examples
--------
>>> import torch, rnnprobe
>>> from rnnprobe.attention.seq2seq import EncoderDecoder
>>> enc = rnnprobe.build("gru", hidden_size=8, input_size=4, seed=0)
>>> dec = rnnprobe.build("gru", hidden_size=8, input_size=4, seed=1)
>>> model = EncoderDecoder(enc, dec, vocab_size=5, seed=0)
>>> source = torch.tensor([[0, 1, 2, 3, 4]]).T                  # (T, B) = (5, 1)
>>> decoder_inputs = torch.tensor([[5, 4, 3]]).T                 # BOS = 5, then the target
>>> logits, alpha = model(source, decoder_inputs)
>>> logits.shape, alpha.shape
(torch.Size([3, 1, 5]), torch.Size([1, 3, 5]))
>>> torch.allclose(alpha.sum(-1), torch.ones(1, 3, dtype=alpha.dtype))
True
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from rnnprobe._validation import check_choice, check_int
from rnnprobe.attention._inputs import sequence_input
from rnnprobe.attention.cores import CoreSpec, run_core
from rnnprobe.attention.dot import dot_attention
from rnnprobe.errors import InvalidArgument

__all__ = ["EncoderDecoder", "Seq2SeqOutput", "ATTENTION_KINDS"]

#: the attention options of :class:`EncoderDecoder`
ATTENTION_KINDS = {"dot": "the lecture's e_tᵀ d_s", "bilinear": "e_tᵀ W d_s, W learned (starts at I)",
                   "none": "no attention: the decoder sees only the encoder's last state"}

_CUTS = ("attention", "recurrence")


class Seq2SeqOutput(NamedTuple):
    """What a sequence-to-sequence model returns.

    Attributes
    ----------
    logits : torch.Tensor
        ``(S, B, V)`` (``(S, V)`` unbatched): scores of the V output symbols at each target position.
    attention : torch.Tensor or None
        ``(B, S, T)`` (``(S, T)`` unbatched): α_{t,s} at ``[b, s, t]``; None without attention.
    """

    logits: torch.Tensor
    attention: torch.Tensor | None


class EncoderDecoder(nn.Module):
    """Encoder–decoder over symbol sequences, with dot-product, bilinear or no attention.

    Parameters
    ----------
    encoder, decoder : recurrent core
        An rnnprobe recurrent model, a unidirectional ``torch.nn.RNN``/``GRU``/``LSTM`` or a
        torch cell. The source embedding has the encoder's input size, the target embedding
        the decoder's; the decoder starts from the encoder's last state, so their flat state
        sizes must agree (and their hidden sizes, for ``attention='dot'``).
    vocab_size : int
        Source and target symbols V >= 2; the decoder also reads the start symbol BOS = V.
    attention : {'dot', 'bilinear', 'none'}
        See :data:`ATTENTION_KINDS`.
    feedback : bool
        Whether the decoder reads the previous target symbol (teacher forcing in training, its own
        output in :meth:`generate`; the default, as Sutskever et al. 2014). False: it reads BOS at
        every step (``decoder_inputs`` give only the target length), so the decoder's states, and
        with them its attention queries, can encode the target position but no symbol.
    seed : int
        Seed of the embeddings, the readout and the bilinear weight (the cores bring their own).

    Notes
    -----
    Parameters are created in the encoder's dtype and on its device (rnnprobe models are
    float64 by default); the decoder must match them.
    """

    def __init__(self, encoder, decoder, vocab_size: int, *, attention: str = "dot", feedback: bool = True,
                 seed: int = 0):
        super().__init__()
        if not isinstance(feedback, bool):
            raise InvalidArgument(f"feedback must be True or False; got {feedback!r}")
        self.feedback = feedback
        self.vocab_size = check_int("vocab_size", vocab_size, min_value=2)
        self.attention = check_choice("attention", "none" if attention is None else attention, ATTENTION_KINDS)
        seed = check_int("seed", seed, min_value=0)
        self.encoder_spec = CoreSpec.of(encoder, "encoder")
        self.decoder_spec = CoreSpec.of(decoder, "decoder")
        enc, dec = self.encoder_spec, self.decoder_spec
        if enc.state_size != dec.state_size:
            raise InvalidArgument(
                f"decoder must have the encoder's state size {enc.state_size} (it starts from the encoder's "
                f"last state); got a decoder ({type(decoder).__name__}) of state size {dec.state_size!r}")
        if self.attention == "dot" and enc.hidden_size != dec.hidden_size:
            raise InvalidArgument(
                f"decoder must have the encoder's hidden size {enc.hidden_size} for dot-product attention "
                f"e_tᵀd_s (or use attention='bilinear'); got {dec.hidden_size!r}")
        for role, spec in (("encoder", enc), ("decoder", dec)):
            if spec.input_size < 1:
                raise InvalidArgument(f"{role} must read inputs (input_size >= 1) to embed symbols; got input_size={spec.input_size!r}")
        p_enc, p_dec = _reference(encoder, "encoder"), _reference(decoder, "decoder")
        if (p_enc.dtype, p_enc.device) != (p_dec.dtype, p_dec.device):
            raise InvalidArgument(
                f"decoder must have the encoder's dtype and device ({p_enc.dtype}, {p_enc.device}); "
                f"got ({p_dec.dtype}, {p_dec.device})")
        self.encoder, self.decoder = encoder, decoder
        kw = dict(dtype=p_enc.dtype, device=p_enc.device)
        g = torch.Generator().manual_seed(seed)

        def draw(*shape, std):
            return nn.Parameter((torch.randn(*shape, generator=g, dtype=torch.float64) * std).to(**kw))

        self.source_embedding = nn.Embedding(vocab_size, enc.input_size, **kw)
        self.target_embedding = nn.Embedding(vocab_size + 1, dec.input_size, **kw)
        self.source_embedding.weight = draw(vocab_size, enc.input_size, std=1.0)
        self.target_embedding.weight = draw(vocab_size + 1, dec.input_size, std=1.0)
        features = dec.hidden_size + (0 if self.attention == "none" else enc.hidden_size)
        self.readout = nn.Linear(features, vocab_size, **kw)
        self.readout.weight = draw(vocab_size, features, std=1.0 / math.sqrt(features))
        self.readout.bias = nn.Parameter(torch.zeros(vocab_size, **kw))
        if self.attention == "bilinear":
            self.bilinear = nn.Parameter(torch.eye(enc.hidden_size, dec.hidden_size, **kw))
        else:
            self.register_parameter("bilinear", None)

    @property
    def bos(self) -> int:
        """The decoder's start symbol (``vocab_size``)."""
        return self.vocab_size

    @property
    def dtype(self) -> torch.dtype:
        return self.readout.weight.dtype

    def forward(self, source: torch.Tensor, decoder_inputs: torch.Tensor) -> Seq2SeqOutput:
        """Logits for every target position, and the attention weights.

        Parameters
        ----------
        source : torch.Tensor
            Symbols ``(T,)``/``(T, B)`` in ``[0, V)``, or source embeddings ``(T, B, d_enc)``.
        decoder_inputs : torch.Tensor
            Symbols ``(S,)``/``(S, B)`` in ``[0, V]`` (BOS = V, then the target shifted right),
            or their embeddings ``(S, B, d_dec)``.

        Returns
        -------
        Seq2SeqOutput
        """
        out = self.unrolled(source, decoder_inputs)
        return Seq2SeqOutput(out["logits"], out["attention"])

    def unrolled(self, source, decoder_inputs, *, stepwise: bool = False, cut: str | None = None) -> dict:
        """One forward pass keeping what the path probes need.

        Parameters
        ----------
        source, decoder_inputs : torch.Tensor
            As in :meth:`forward`.
        stepwise : bool
            Run torch multi-step cores one step at a time so that every encoder state is a
            node of the autograd graph (rnnprobe models and cells always are).
        cut : {None, 'attention', 'recurrence'}
            Detach the encoder states where they enter the attention (``'attention'``) or where
            the last one starts the decoder (``'recurrence'``): the gradient then reaches the
            encoder by the other bridge only. Values are unchanged.

        Returns
        -------
        dict
            ``logits`` and ``attention`` (as :meth:`forward`), ``states``: the encoder's flat states
            ``s_1 … s_T`` (a list, or None for a fused torch run), ``keys``: the encoder hidden
            states ``(T, B, n)`` as the attention reads them, ``bridge``: the flat state the decoder
            starts from (``(B, S)``, a separate node equal to ``s_T``), ``decoder_states`` ``(S, B, n)``.
        """
        if cut is not None and cut not in _CUTS:
            check_choice("cut", cut, _CUTS)
        enc, dec = self.encoder_spec, self.decoder_spec
        x, batched = sequence_input("source", source, self.source_embedding, symbols=self.vocab_size, dtype=self.dtype)
        y, batched_y = sequence_input("decoder_inputs", decoder_inputs, self.target_embedding,
                                      symbols=self.vocab_size + 1, dtype=self.dtype)
        if batched != batched_y or x.shape[1] != y.shape[1]:
            raise InvalidArgument(
                f"decoder_inputs must have the source's batch size {x.shape[1] if batched else '(unbatched)'}; "
                f"got shape {tuple(decoder_inputs.shape)} for a source of shape {tuple(source.shape)}")
        if not self.feedback:
            y = self.target_embedding.weight[self.bos].expand_as(y)
        start = x.new_zeros(x.shape[1], enc.state_size)
        keys, states, last = run_core(self.encoder, enc, x, start, stepwise=stepwise)
        bridge = last.clone()                      # its own node: the start of the decoder
        if cut == "recurrence":
            bridge = bridge.detach()
        d_states, _, _ = run_core(self.decoder, dec, y, bridge, stepwise=stepwise)
        alpha = None
        if self.attention == "none":
            features = d_states
        else:
            attended = keys.detach() if cut == "attention" else keys
            context, alpha = dot_attention(attended, d_states, self.bilinear)
            features = torch.cat([d_states, context], dim=-1)
        logits = self.readout(features)
        if not batched:
            logits = logits[:, 0]
            alpha = None if alpha is None else alpha[0]
        return dict(logits=logits, attention=alpha, states=states, keys=keys, bridge=bridge, decoder_states=d_states)

    @torch.no_grad()
    def generate(self, source: torch.Tensor, steps: int) -> Seq2SeqOutput:
        """Greedy decoding: feed back the most likely symbol, starting from BOS.

        Parameters
        ----------
        source : torch.Tensor
            Symbols ``(T,)`` or ``(T, B)``.
        steps : int
            Number of symbols to emit, S >= 1.

        Returns
        -------
        Seq2SeqOutput
            ``logits`` as in :meth:`forward` (of the fed-back sequence) and ``attention``;
            the emitted symbols are ``logits.argmax(-1)``.
        """
        steps = check_int("steps", steps, min_value=1)
        enc, dec = self.encoder_spec, self.decoder_spec
        x, batched = sequence_input("source", source, self.source_embedding, symbols=self.vocab_size, dtype=self.dtype)
        B = x.shape[1]
        keys, _, state = run_core(self.encoder, enc, x, x.new_zeros(B, enc.state_size))
        symbol = torch.full((1, B), self.bos, dtype=torch.long, device=x.device)
        logits, alphas = [], []
        for _ in range(steps):
            d, _, state = run_core(self.decoder, dec, self.target_embedding(symbol), state, stepwise=True)
            if self.attention == "none":
                features = d
            else:
                context, alpha = dot_attention(keys, d, self.bilinear)
                features = torch.cat([d, context], dim=-1)
                alphas.append(alpha)
            logits.append(self.readout(features)[0])
            if self.feedback:
                symbol = logits[-1].argmax(-1).unsqueeze(0)
        logits = torch.stack(logits)
        alpha = torch.cat(alphas, dim=1) if alphas else None
        if not batched:
            logits, alpha = logits[:, 0], None if alpha is None else alpha[0]
        return Seq2SeqOutput(logits, alpha)

    def extra_repr(self) -> str:
        return f"vocab_size={self.vocab_size}, attention={self.attention!r}, feedback={self.feedback}"


def _reference(core, role: str) -> torch.Tensor:
    if isinstance(core, nn.Module):
        for p in core.parameters():
            return p
    raise InvalidArgument(f"{role} must have parameters (a trainable core); got {type(core).__name__} without any")
