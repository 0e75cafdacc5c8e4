"""The lecture's char-RNN: embedding → recurrent core → linear readout.

It models a text one character at a time, p(x_{1:T}) = ∏_t p(x_t | x_{1:t−1}):
the core reads the embedded characters, and a linear readout of its hidden
vector gives the logits of the next character. The core is any recurrent
architecture of :data:`rnnprobe.architectures` (its ``step`` is looped over
time, so its analytic Jacobians and every probe apply unchanged), or one of
torch's fused modules ``nn.RNN``, ``nn.GRU``, ``nn.LSTM``; one or more layers.
The readout (and the next layer) reads the core's hidden vector, which for the
state-space cores ``s4d`` and ``s6`` is their flattened state: their own readout
``y = C h + D u`` is replaced by the char-RNN's, so the parameters listed in the
core's ``readout_only_parameters`` (C, W_C, D_skip) get no gradient and keep their
initial values.

The architecture is described by a :class:`CharRNNSpec`, a plain dict in
checkpoints (``{"charrnn": {...}}``), so a checkpoint is rebuilt without
unpickling code.

Examples
--------
>>> import torch
>>> from rnnprobe.sequence.charrnn import CharRNN, CharRNNSpec
>>> model = CharRNN(CharRNNSpec("gru", vocab_size=5, hidden_size=8, embedding_size=4))
>>> logits, state = model(torch.zeros(7, 2, dtype=torch.long))
>>> tuple(logits.shape)
(7, 2, 5)
>>> core, x = model.probe_core(torch.tensor([0, 1, 2, 3]))
>>> core.name, tuple(x.shape), x.dtype
('gru', (4, 4), torch.float64)
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from rnnprobe._validation import check_choice, check_dtype, check_int
from rnnprobe.errors import InvalidArgument
from rnnprobe.models.adapters import adapt
from rnnprobe.models.base import RecurrentModel, StepModel
from rnnprobe.models.gated import LSTM, TorchGRU
from rnnprobe.models.registry import architectures, build
from rnnprobe.models.vanilla import VanillaRNN

__all__ = ["CharRNN", "CharRNNSpec", "TORCH_CORES", "core_names", "TiedTorchLayer"]

#: torch's fused recurrent modules a char-RNN may use as its core, and the options each accepts
TORCH_CORES = {"nn.RNN": ("nonlinearity", "bias"), "nn.GRU": ("bias",), "nn.LSTM": ("bias",)}
#: options of a built-in core that the char-RNN sets itself
_RESERVED = ("seed", "dtype")


def core_names() -> list[str]:
    """The cores a char-RNN accepts: every recurrent architecture, then torch's modules."""
    return list(architectures.recurrent()) + list(TORCH_CORES)


def _plain(value):
    """Check that an option value is a JSON scalar (it goes into checkpoints as is)."""
    if value is None or isinstance(value, (bool, str)) or isinstance(value, numbers.Real):
        return value
    raise InvalidArgument(f"char-RNN options must be numbers, strings, booleans or None; got {value!r}")


@dataclass(frozen=True)
class CharRNNSpec:
    """What a char-RNN is: everything needed to rebuild it, as plain values.

    Attributes
    ----------
    core : str
        A recurrent architecture name (``rnnprobe.architectures.recurrent()``) or
        ``'nn.RNN'``, ``'nn.GRU'``, ``'nn.LSTM'``.
    vocab_size : int
        Number of distinct characters.
    hidden_size : int
        Hidden size of every core layer.
    embedding_size : int
        Size of the character embedding (the core's input size).
    num_layers : int
        Stacked core layers.
    options : dict
        Options of the core: :func:`rnnprobe.build` options for a built-in
        architecture (``gain``, ``init``, ``forget_bias`` …), ``nonlinearity``
        and ``bias`` for torch modules.
    seed : int
        Seed of every initial parameter.
    dtype : {'float32', 'float64'}
        dtype the model trains in (probes copy it to float64).
    """

    core: str
    vocab_size: int
    hidden_size: int = 128
    embedding_size: int = 32
    num_layers: int = 1
    options: Mapping = field(default_factory=dict)
    seed: int = 0
    dtype: str = "float32"

    def __post_init__(self):
        check_choice("core", self.core, core_names())
        check_int("vocab_size", self.vocab_size, min_value=1)
        check_int("hidden_size", self.hidden_size, min_value=1)
        check_int("embedding_size", self.embedding_size, min_value=1)
        check_int("num_layers", self.num_layers, min_value=1)
        check_int("seed", self.seed, min_value=0)
        check_dtype("dtype", self.dtype)
        if not isinstance(self.options, Mapping):
            raise InvalidArgument(f"options must be a mapping of option names to values; got {self.options!r}")
        options = {str(k): _plain(v) for k, v in dict(self.options).items()}
        for key in options:
            if key in _RESERVED:
                raise InvalidArgument(f"option {key!r} is set by the char-RNN itself (use its {key} field); "
                                      f"got options={options!r}")
            if self.core in TORCH_CORES and key not in TORCH_CORES[self.core]:
                raise InvalidArgument(f"option {key!r} is not accepted by core {self.core!r}; allowed: "
                                      f"{', '.join(TORCH_CORES[self.core])}")
        object.__setattr__(self, "options", options)
        if self.core not in TORCH_CORES:        # unknown options and bad values fail here, not in training
            build(self.core, 1, 1, dtype=self.dtype, **options)

    @property
    def torch_dtype(self) -> torch.dtype:
        return check_dtype("dtype", self.dtype)

    def as_dict(self) -> dict:
        """The spec as plain values (what a checkpoint stores under ``"charrnn"``)."""
        out = asdict(self)
        out["options"] = dict(self.options)
        return out

    @classmethod
    def from_dict(cls, data) -> CharRNNSpec:
        """Rebuild a spec from :meth:`as_dict` (InvalidArgument for a malformed one)."""
        if not isinstance(data, Mapping):
            raise InvalidArgument(f"a char-RNN spec must be a dict; got {data!r}")
        allowed = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - allowed)
        if unknown or "core" not in data or "vocab_size" not in data:
            raise InvalidArgument(f"a char-RNN spec needs 'core' and 'vocab_size' and accepts only "
                                  f"{', '.join(sorted(allowed))}; got {dict(data)!r}")
        return cls(**dict(data))


class TiedTorchLayer(RecurrentModel):
    """One layer of a torch ``RNN``/``GRU``/``LSTM`` as a step model that *shares* its parameters.

    :func:`rnnprobe.adapt` copies weights (for probing); this view computes the
    step and its analytic step Jacobian from the module's live parameters, so
    autograd flows back into them (gradient flossing differentiates through it).
    """

    def __init__(self, module: nn.Module, layer: int = 0):
        super().__init__()
        if not isinstance(module, (nn.RNN, nn.GRU, nn.LSTM)) or module.bidirectional or getattr(module, "proj_size", 0):
            raise InvalidArgument(f"module must be a unidirectional torch.nn.RNN, GRU or LSTM; got {module!r}")
        layer = check_int("layer", layer, min_value=0, max_value=module.num_layers - 1)
        d = module.input_size if layer == 0 else module.hidden_size
        dtype = next(module.parameters()).dtype
        if isinstance(module, nn.RNN):
            self.template = VanillaRNN(module.hidden_size, d, nonlinearity=module.nonlinearity, dtype=dtype)
        else:
            self.template = (TorchGRU if isinstance(module, nn.GRU) else LSTM)(module.hidden_size, d, dtype=dtype)
        self.template.requires_grad_(False)
        self.layer = layer
        self._module = [module]          # not registered: its parameters stay the module's own
        self.name = self.template.name
        self.input_size = self.template.input_size
        self.hidden_size = self.template.hidden_size
        self.state_size = self.template.state_size
        self.lecture_form = self.template.lecture_form
        self.family = self.template.family
        self.sigma = getattr(self.template, "sigma", None)

    def _params(self) -> dict:
        m, l = self._module[0], self.layer
        W_ih, W_hh = getattr(m, f"weight_ih_l{l}"), getattr(m, f"weight_hh_l{l}")
        b_ih, b_hh = getattr(m, f"bias_ih_l{l}", None), getattr(m, f"bias_hh_l{l}", None)
        if b_ih is None:
            b_ih = b_hh = torch.zeros(W_hh.shape[0], dtype=W_hh.dtype, device=W_hh.device)
        if isinstance(m, nn.RNN):
            return {"W_h": W_hh, "W_x": W_ih, "b": b_ih + b_hh}
        return {"weight_ih": W_ih, "weight_hh": W_hh, "bias_ih": b_ih, "bias_hh": b_hh}

    def _call(self, method: str, *args):
        return torch.func.functional_call(_Method(self.template, method),
                                          {f"cell.{k}": v for k, v in self._params().items()}, args)

    def step(self, x, state, t=0):
        return self._call("step", x, state)

    def step_jacobian(self, x, state, t=0):
        return self._call("step_jacobian", x, state)

    def hidden(self, state):
        return self.template.hidden(state)

    def recurrent_weights(self):
        return self._call("recurrent_weights")

    def derivative_diagonals(self, xs, states, t0=0):
        return self._call("derivative_diagonals", xs, states)

    def reference_parameter(self):
        return next(self._module[0].parameters())


class _Method(nn.Module):
    """``forward`` calls one method of a wrapped cell (for ``torch.func.functional_call``)."""

    def __init__(self, cell: StepModel, method: str):
        super().__init__()
        self.cell = cell
        self.method = method

    def forward(self, *args):
        return getattr(self.cell, self.method)(*args)


class CharRNN(nn.Module):
    """Embedding → recurrent core → linear readout of next-character logits.

    Parameters
    ----------
    spec : CharRNNSpec
        The architecture; every parameter is drawn from ``spec.seed``.

    Notes
    -----
    Inputs are time-major character ids ``(T, B)``. The recurrent state is
    opaque: :meth:`initial_state`, :meth:`detach_state`, and the state
    returned by :meth:`forward`.
    """

    def __init__(self, spec: CharRNNSpec):
        super().__init__()
        if not isinstance(spec, CharRNNSpec):
            raise InvalidArgument(f"spec must be a CharRNNSpec; got {type(spec).__name__}")
        self.spec = spec
        dtype = spec.torch_dtype
        generator_state = torch.random.get_rng_state()
        try:
            torch.manual_seed(spec.seed)            # the embedding, the readout and torch cores draw from it
            self.embedding = nn.Embedding(spec.vocab_size, spec.embedding_size, dtype=dtype)
            if spec.core in TORCH_CORES:
                cls = getattr(nn, spec.core.removeprefix("nn."))
                self.core = cls(spec.embedding_size, spec.hidden_size, num_layers=spec.num_layers,
                                dtype=dtype, **spec.options)
            else:
                self.core = nn.ModuleList([
                    build(spec.core, spec.hidden_size, spec.embedding_size if layer == 0 else spec.hidden_size,
                          seed=spec.seed + layer, dtype=dtype, **spec.options)
                    for layer in range(spec.num_layers)])
            self.readout = nn.Linear(spec.hidden_size, spec.vocab_size, dtype=dtype)
        finally:
            torch.random.set_rng_state(generator_state)

    @property
    def fused(self) -> bool:
        """Whether the core is a torch module (fused kernels) rather than looped steps."""
        return self.spec.core in TORCH_CORES

    # ------------------------------------------------------------------ forward
    def initial_state(self, batch: int):
        """The zero state for ``batch`` sequences."""
        p = self.readout.weight
        if self.fused:
            shape = (self.spec.num_layers, batch, self.spec.hidden_size)
            h = torch.zeros(shape, dtype=p.dtype, device=p.device)
            return (h, h.clone()) if self.spec.core == "nn.LSTM" else h
        return [layer.initial_state(batch) for layer in self.core]

    @staticmethod
    def detach_state(state):
        """The state cut from the graph (truncated backpropagation through time)."""
        if isinstance(state, torch.Tensor):
            return state.detach()
        return type(state)(s.detach() for s in state)

    def _check_ids(self, ids: torch.Tensor) -> torch.Tensor:
        if not isinstance(ids, torch.Tensor) or ids.dtype != torch.int64:
            raise InvalidArgument(f"ids must be an int64 tensor of character ids; got "
                                  f"{getattr(ids, 'dtype', type(ids).__name__)}")
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.spec.vocab_size):
            raise InvalidArgument(f"ids must lie in [0, {self.spec.vocab_size}) (the vocabulary); got values in "
                                  f"[{int(ids.min())}, {int(ids.max())}]")
        return ids

    def core_outputs(self, x: torch.Tensor, state=None):
        """Run the core on inputs ``(T, B, E)``: the top layer's hidden vectors ``(T, B, n)`` and the state."""
        if state is None:
            state = self.initial_state(x.shape[1])
        if self.fused:
            return self.core(x, state)
        new_state = []
        for layer, s in zip(self.core, state):
            outs = []
            for t in range(x.shape[0]):
                s = layer.step(x[t], s, t)
                outs.append(layer.hidden(s))
            x = torch.stack(outs)
            new_state.append(s)
        return x, new_state

    def forward(self, ids: torch.Tensor, state=None):
        """Next-character logits ``(T, B, V)`` for ids ``(T, B)``, and the final state."""
        ids = self._check_ids(ids)
        out, state = self.core_outputs(self.embedding(ids), state)
        return self.readout(out), state

    # ------------------------------------------------------------------ probes
    def core_layer(self, layer: int = 0) -> StepModel:
        """Layer ``layer`` of the core as a step model sharing the live parameters (autograd flows)."""
        layer = check_int("layer", layer, min_value=0, max_value=self.spec.num_layers - 1)
        if self.fused:
            return TiedTorchLayer(self.core, layer)
        return self.core[layer]

    def core_layer_inputs(self, ids: torch.Tensor, layer: int = 0) -> torch.Tensor:
        """The inputs ``(T, B, d)`` that core layer ``layer`` reads for ids ``(T, B)`` from the zero state.

        Layer 0 reads the embedded characters; layer l > 0 the hidden vectors of
        layer l − 1. Differentiable (gradient flossing uses it detached).
        """
        layer = check_int("layer", layer, min_value=0, max_value=self.spec.num_layers - 1)
        x = self.embedding(self._check_ids(ids))
        if layer == 0:
            return x
        for below in (self.core_layer(i) for i in range(layer)):
            s, outs = below.initial_state(x.shape[1]), []
            for t in range(x.shape[0]):
                s = below.step(x[t], s, t)
                outs.append(below.hidden(s))
            x = torch.stack(outs)
        return x

    def core_model(self, layer: int = 0, *, dtype=torch.float64) -> StepModel:
        """A detached copy of core layer ``layer`` as an rnnprobe step model (float64 by default).

        For a torch core it is :func:`rnnprobe.adapt`'s copy, which runs the
        layers below inside ``prepare_inputs`` (it reads embedded characters);
        a built-in core's layer l > 0 reads the hidden vectors of layer l − 1.
        """
        return self._copies(layer, check_dtype("dtype", dtype))[-1]

    def _copies(self, layer: int, dtype: torch.dtype) -> list[StepModel]:
        layer = check_int("layer", layer, min_value=0, max_value=self.spec.num_layers - 1)
        if self.fused:
            with torch.random.fork_rng(devices=[]):     # adapt builds the lower layers: keep the global RNG
                return [adapt(self.core, layer, dtype=dtype)]
        copies = []
        for i, original in enumerate(self.core[: layer + 1]):
            copy = build(self.spec.core, self.spec.hidden_size,
                         self.spec.embedding_size if i == 0 else self.spec.hidden_size,
                         seed=self.spec.seed + i, dtype=dtype, **self.spec.options)
            copy.load_state_dict(original.state_dict())
            copy.requires_grad_(False)
            copies.append(copy.to(original.reference_parameter().device))
        return copies

    def probe_core(self, ids: torch.Tensor, layer: int = 0, *, dtype=torch.float64):
        """A detached copy of core layer ``layer`` and the inputs it reads, for rnnprobe's probes.

        Parameters
        ----------
        ids : torch.Tensor
            Character ids ``(T,)`` (one probe sequence) or ``(T, B)``.
        layer : int
            Which core layer.
        dtype : torch.dtype
            dtype of the copy and the inputs (float64, as the probes).

        Returns
        -------
        (StepModel, torch.Tensor)
            The model (:meth:`core_model`), and its inputs ``(T, d)`` (or
            ``(T, B, d)``), ready for :func:`rnnprobe.record`: the embedded
            characters for layer 0 and for torch cores, the lower layers'
            hidden vectors otherwise.
        """
        dtype = check_dtype("dtype", dtype)
        ids = self._check_ids(ids)
        batched = ids.dim() == 2
        ids2 = ids if batched else ids.unsqueeze(1)
        with torch.no_grad():
            copies = self._copies(layer, dtype)
            x = self.embedding(ids2).to(dtype)
            for below in copies[:-1]:
                s, outs = below.initial_state(x.shape[1]), []
                for t in range(x.shape[0]):
                    s = below.step(x[t], s, t)
                    outs.append(below.hidden(s))
                x = torch.stack(outs)
        return copies[-1], (x if batched else x[:, 0])

    def extra_repr(self) -> str:
        s = self.spec
        return f"core={s.core!r}, layers={s.num_layers}, hidden={s.hidden_size}, vocab={s.vocab_size}"
