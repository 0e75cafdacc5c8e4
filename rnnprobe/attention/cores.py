"""Run any recurrent core as an encoder or a decoder, with one state format.

A *core* is an rnnprobe recurrent :class:`~rnnprobe.models.base.StepModel`
(``rnnprobe.build("gru", …)``, a :class:`~rnnprobe.CellAdapter` around your own
cell), a unidirectional ``torch.nn.RNN``/``GRU``/``LSTM`` (any number of layers),
or a torch cell (``RNNCell``, ``GRUCell``, ``LSTMCell``); an upper or reversed layer adapted with
:func:`rnnprobe.adapt` is refused (its lower layers run without gradients). Its state travels as one
flat tensor ``(B, S)`` per step, whatever the core's native format:

* StepModel: its own state (an LSTM's is ``[h; c]``);
* ``nn.RNN``/``nn.GRU``: the ``(L, B, n)`` state, layers concatenated (layer 0 first);
* ``nn.LSTM``: ``[h of every layer; c of every layer]``;
* cells: ``h``, or ``[h; c]`` for ``LSTMCell``.

So an encoder's last state can start a decoder of another kind with the same
flat state size (``rnnprobe``'s LSTM and ``nn.LSTM`` agree on ``[h; c]``). The
hidden vector a core exposes (the one attention reads) is read from the flat
state: the top layer's ``h``.

Examples
--------
>>> import torch, rnnprobe
>>> from rnnprobe.attention.cores import CoreSpec
>>> spec = CoreSpec.of(torch.nn.LSTM(3, 4, num_layers=2), "encoder")
>>> spec.input_size, spec.hidden_size, spec.state_size
(3, 4, 16)
>>> CoreSpec.of(rnnprobe.build("gru", hidden_size=5, input_size=2), "decoder").state_size
5
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rnnprobe.errors import InvalidArgument
from rnnprobe.models.base import StepModel

__all__ = ["CoreSpec", "run_core"]

_TORCH_RNNS = (nn.RNN, nn.GRU, nn.LSTM)
_TORCH_CELLS = (nn.RNNCell, nn.GRUCell, nn.LSTMCell)


@dataclass(frozen=True)
class CoreSpec:
    """Sizes and state layout of one core.

    Attributes
    ----------
    kind : {'step', 'rnn', 'cell'}
        rnnprobe StepModel, torch multi-step module, or torch cell.
    input_size, hidden_size, state_size : int
        d, n (the hidden vector attention reads), and the flat state size S.
    layers : int
        Number of stacked layers (torch modules).
    lstm : bool
        Whether the torch state is a pair ``(h, c)``.
    """

    kind: str
    input_size: int
    hidden_size: int
    state_size: int
    layers: int = 1
    lstm: bool = False

    @classmethod
    def of(cls, core, role: str) -> CoreSpec:
        """Inspect ``core``; ``role`` ('encoder' or 'decoder') names it in errors."""
        if isinstance(core, StepModel):
            if core.kind != "recurrent":
                raise InvalidArgument(
                    f"{role} must be a recurrent core; got the feed-forward stack {core.name!r}")
            if getattr(core, "lower", None) is not None or getattr(core, "reverse", False):
                raise InvalidArgument(
                    f"{role} must be one layer that reads its inputs directly; got {getattr(core, 'source', core.name)!r} "
                    "(an adapted upper or reversed layer: pass the torch module itself instead)")
            return cls("step", core.input_size, core.hidden_size, core.state_size)
        if isinstance(core, _TORCH_RNNS):
            if core.bidirectional:
                raise InvalidArgument(
                    f"{role} must be unidirectional (a decoder runs forward; a bidirectional encoder would see "
                    f"the whole source in every state); got {type(core).__name__}(bidirectional=True)")
            if isinstance(core, nn.LSTM) and core.proj_size:
                raise InvalidArgument(f"{role}.proj_size must be 0; got {core.proj_size!r}")
            lstm = isinstance(core, nn.LSTM)
            n, L = core.hidden_size, core.num_layers
            return cls("rnn", core.input_size, n, (2 if lstm else 1) * L * n, L, lstm)
        if isinstance(core, _TORCH_CELLS):
            lstm = isinstance(core, nn.LSTMCell)
            return cls("cell", core.input_size, core.hidden_size, (2 if lstm else 1) * core.hidden_size, 1, lstm)
        raise InvalidArgument(
            f"{role} must be an rnnprobe recurrent model (rnnprobe.build), a torch.nn.RNN/GRU/LSTM or a torch "
            f"cell; got {type(core).__name__} (wrap your own cell(x, h) -> h in rnnprobe.CellAdapter)")

    # ------------------------------------------------------------ flat <-> native
    def native(self, flat: torch.Tensor):
        """The core's own state from a flat ``(B, S)`` state."""
        if self.kind == "step":
            return flat
        B, n, L = flat.shape[0], self.hidden_size, self.layers
        if self.kind == "cell":
            return tuple(flat.split(n, dim=-1)) if self.lstm else flat
        parts = flat.reshape(B, -1, n).transpose(0, 1)                 # (parts·L, B, n)
        return (parts[:L].contiguous(), parts[L:].contiguous()) if self.lstm else parts.contiguous()

    def flat(self, native) -> torch.Tensor:
        """A flat ``(B, S)`` state from the core's own state."""
        if self.kind == "step":
            return native
        if self.kind == "cell":
            return torch.cat(native, dim=-1) if self.lstm else native
        parts = torch.cat(native, dim=0) if self.lstm else native     # (parts·L, B, n)
        return parts.transpose(0, 1).reshape(parts.shape[1], -1)

    def hidden(self, core, flat: torch.Tensor) -> torch.Tensor:
        """The hidden vector ``(B, n)`` of a flat state (the top layer's h)."""
        if self.kind == "step":
            return core.hidden(flat)
        top = self.layers - 1
        return flat[:, top * self.hidden_size:(top + 1) * self.hidden_size]


def run_core(core, spec: CoreSpec, x: torch.Tensor, state: torch.Tensor, *, stepwise: bool = False):
    """Run ``core`` over ``x`` ``(T, B, d)`` from the flat state ``state`` ``(B, S)``.

    Parameters
    ----------
    core : StepModel or torch module
    spec : CoreSpec
        ``CoreSpec.of(core, …)``.
    x : torch.Tensor
        Inputs, time-major ``(T, B, d)``.
    state : torch.Tensor
        The flat start state.
    stepwise : bool
        Run torch multi-step modules one step at a time (every state is then a node of the
        autograd graph, as the path probes need); StepModels and cells always run step by step.

    Returns
    -------
    hiddens : torch.Tensor
        ``(T, B, n)``, the hidden vector after each step.
    states : list of torch.Tensor or None
        The flat states after each step, ``T`` of ``(B, S)``; None for a fused torch run,
        whose intermediate states torch does not expose.
    final : torch.Tensor
        The flat last state ``(B, S)``.
    """
    if spec.kind == "rnn" and not stepwise:
        out, last = core(x, spec.native(state))
        return out, None, spec.flat(last)
    states = []
    for t in range(x.shape[0]):
        if spec.kind == "step":
            state = core.step(x[t], state, t)
        elif spec.kind == "cell":
            state = spec.flat(core(x[t], spec.native(state)))
        else:
            state = spec.flat(core(x[t : t + 1], spec.native(state))[1])
        states.append(state)
    hiddens = torch.stack([spec.hidden(core, s) for s in states])
    return hiddens, states, state
