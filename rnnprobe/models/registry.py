"""The architectures rnnprobe builds by name.

``rnnprobe.architectures`` is a read-only mapping from name to
:class:`ArchitectureSpec`; :func:`build` makes a seeded model from a name.

Examples
--------
>>> import rnnprobe
>>> sorted(rnnprobe.architectures)[:4]
['dense', 'densemlp', 'gru', 'gru-torch']
>>> rnnprobe.architectures["lstm"].kind
'recurrent'
>>> "lstm" in rnnprobe.architectures, "lsmt" in rnnprobe.architectures
(True, False)
>>> model = rnnprobe.build("vanilla-tanh", hidden_size=8, gain=0.9, seed=3)
>>> model.name, model.state_size
('vanilla-tanh', 8)
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from rnnprobe._validation import check_choice, nearest
from rnnprobe.errors import InvalidArgument
from rnnprobe.models.base import StepModel
from rnnprobe.models.feedforward import MLP, DenseMLP, ResMLP
from rnnprobe.models.gated import GRU, LSTM, TorchGRU
from rnnprobe.models.vanilla import DenseRNN, ResidualRNN, VanillaRNN

__all__ = ["ArchitectureSpec", "architectures", "build"]


@dataclass(frozen=True)
class ArchitectureSpec:
    """What one architecture name means.

    Attributes
    ----------
    name : str
        Registry name.
    factory : callable
        Class (or partial) called as ``factory(size, input_size, **options)``
        for recurrent nets and ``factory(width, depth, **options)`` for stacks.
    kind : {'recurrent', 'feedforward'}
        Whether steps are time steps or layers.
    description : str
        One line: the update rule.
    fixed : dict
        Options this name fixes (e.g. the nonlinearity of ``vanilla-relu``).
    """

    name: str
    factory: Callable[..., StepModel]
    kind: str
    description: str
    fixed: Mapping[str, object] = field(default_factory=dict)

    @functools.cached_property
    def options(self) -> tuple[str, ...]:
        """Keyword options :func:`build` accepts for this architecture (computed once)."""
        cls = self.factory.func if isinstance(self.factory, functools.partial) else self.factory
        names = []
        for klass in cls.__mro__:
            if "__init__" not in vars(klass):
                continue
            for p in inspect.signature(klass.__init__).parameters.values():
                if p.kind is p.KEYWORD_ONLY and p.name not in names and p.name not in self.fixed:
                    names.append(p.name)
        return tuple(names)


def _vanilla(nonlinearity):
    return functools.partial(VanillaRNN, nonlinearity=nonlinearity)


_SPECS = [
    ArchitectureSpec("vanilla-tanh", _vanilla("tanh"), "recurrent", "h' = tanh(W_h h + W_x x + b)", {"nonlinearity": "tanh"}),
    ArchitectureSpec("vanilla-relu", _vanilla("relu"), "recurrent", "h' = relu(W_h h + W_x x + b)", {"nonlinearity": "relu"}),
    ArchitectureSpec("vanilla-sigmoid", _vanilla("sigmoid"), "recurrent", "h' = sigmoid(W_h h + W_x x + b)", {"nonlinearity": "sigmoid"}),
    ArchitectureSpec("vanilla-linear", _vanilla("linear"), "recurrent", "h' = W_h h + W_x x + b (linear RNN)", {"nonlinearity": "linear"}),
    ArchitectureSpec("gru", GRU, "recurrent", "GRU as in the lecture (Cho et al. 2014): reset gate before U"),
    ArchitectureSpec("gru-torch", TorchGRU, "recurrent", "GRU as torch.nn.GRU: reset gate after W_hn h + b_hn"),
    ArchitectureSpec("lstm", LSTM, "recurrent", "LSTM as torch.nn.LSTM, state [h; c], settable forget bias / chrono init"),
    ArchitectureSpec("residual", ResidualRNN, "recurrent", "h' = h + alpha tanh(W_h h + W_x x + b)"),
    ArchitectureSpec("dense", DenseRNN, "recurrent", "h' = tanh(sum_k<K W_k h_{t-k} + W_x x + b), window state"),
    ArchitectureSpec("mlp", MLP, "feedforward", "s' = tanh(W_l s + b_l), depth L"),
    ArchitectureSpec("resmlp", ResMLP, "feedforward", "s' = s + alpha tanh(W_l s + b_l), depth L"),
    ArchitectureSpec("densemlp", DenseMLP, "feedforward", "DenseNet: layer l appends tanh(W_l [all features]) "),
]


class _Architectures(Mapping):
    """Read-only mapping name -> :class:`ArchitectureSpec`, with helpful misses."""

    def __init__(self, specs):
        self._specs = {s.name: s for s in specs}

    def __getitem__(self, name: str) -> ArchitectureSpec:
        if not isinstance(name, str) or name not in self._specs:   # a list is unhashable: say so, not TypeError
            check_choice("architecture", name, self._specs)
        return self._specs[name]

    def __contains__(self, name) -> bool:
        # Mapping's default calls __getitem__ and catches KeyError only; ours raises InvalidArgument
        return isinstance(name, str) and name in self._specs

    def get(self, name, default=None):
        return self._specs.get(name, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def __repr__(self) -> str:
        return "architectures(" + ", ".join(self._specs) + ")"

    def recurrent(self) -> list[str]:
        """Names of the recurrent architectures."""
        return [n for n, s in self._specs.items() if s.kind == "recurrent"]

    def feedforward(self) -> list[str]:
        """Names of the feed-forward stacks."""
        return [n for n, s in self._specs.items() if s.kind == "feedforward"]


architectures = _Architectures(_SPECS)


def build(name: str, hidden_size: int = 32, input_size: int = 1, *, depth: int | None = None, **options) -> StepModel:
    """Build a seeded model by architecture name.

    Parameters
    ----------
    name : str
        One of ``rnnprobe.architectures``.
    hidden_size : int
        Hidden size n (the width for feed-forward stacks).
    input_size : int
        Input size d (recurrent nets only).
    depth : int, optional
        Number of layers (feed-forward stacks only; default 8).
    **options
        The architecture's keyword options: ``gain``, ``init``, ``seed``,
        ``dtype``, ``bias_std`` for all; ``nonlinearity``; ``alpha`` (residual);
        ``window`` (dense); ``forget_bias``, ``chrono`` (lstm); ``update_bias``
        (gru); ``growth`` (densemlp). ``ArchitectureSpec.options`` lists them.

    Returns
    -------
    StepModel

    Raises
    ------
    InvalidArgument
        For an unknown name or option, or an option out of range.
    """
    spec = architectures[name]
    allowed = spec.options
    for key in options:
        if key not in allowed:
            hint = nearest(key, allowed)
            msg = f"option {key!r} is not accepted by architecture {name!r}; allowed: {', '.join(allowed)}"
            if key in spec.fixed:
                msg = f"option {key!r} is fixed to {spec.fixed[key]!r} by architecture {name!r}"
            elif hint:
                msg += f" (did you mean {hint!r}?)"
            raise InvalidArgument(msg)
    if spec.kind == "feedforward":
        if input_size not in (0, 1):
            raise InvalidArgument(f"input_size is not used by feed-forward stack {name!r} (its input is the initial state); got {input_size!r}")
        return spec.factory(hidden_size, 8 if depth is None else depth, **options)
    if depth is not None:
        raise InvalidArgument(f"depth applies to feed-forward stacks only; got depth={depth!r} for {name!r}")
    return spec.factory(hidden_size, input_size, **options)
