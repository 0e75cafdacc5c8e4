"""The architectures rnnprobe builds by name.

``rnnprobe.architectures`` is a read-only mapping from name to
:class:`ArchitectureSpec`, in registration order; :func:`build` makes a seeded
model from a name. Everything else that lists architectures reads this registry:
the hypothesis strategies (:func:`rnnprobe.strategies.models` draws each entry's
``draw_options``), the report palette (one colour per entry, in registration
order), the studies' accepted architectures and their cost factors, the assertion
hints of :mod:`rnnprobe.testing` (by the model class's declared ``family``).

Adding a built-in architecture is one :class:`~rnnprobe.models.StepModel`
subclass (with ``name``, ``family``, ``kind`` as class attributes) exported by
:mod:`rnnprobe.models`, plus one :class:`ArchitectureSpec` appended to ``_SPECS``
below. :func:`register_architecture` adds one at run time (a user's own, or a
test's).

Examples
--------
>>> import rnnprobe
>>> sorted(rnnprobe.architectures)[:4]
['dense', 'densemlp', 'gru', 'gru-torch']
>>> rnnprobe.architectures["lstm"].kind, rnnprobe.architectures["lstm"].family
('recurrent', 'gated')
>>> "lstm" in rnnprobe.architectures, "lsmt" in rnnprobe.architectures
(True, False)
>>> model = rnnprobe.build("vanilla-tanh", hidden_size=8, gain=0.9, seed=3)
>>> model.name, model.state_size, model.family
('vanilla-tanh', 8, 'vanilla')
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from rnnprobe._validation import check_choice, nearest
from rnnprobe.errors import InvalidArgument
from rnnprobe.models.base import FAMILIES, StepModel
from rnnprobe.models.feedforward import MLP, DenseMLP, ResMLP
from rnnprobe.models.gated import GRU, LSTM, TorchGRU
from rnnprobe.models.lru import LRU
from rnnprobe.models.mingated import MinGRU, MinLSTM
from rnnprobe.models.ssm import S4D, S6
from rnnprobe.models.unitary import UnitaryRNN
from rnnprobe.models.vanilla import DenseRNN, ResidualRNN, VanillaRNN

__all__ = ["ArchitectureSpec", "architectures", "build", "register_architecture", "unregister_architecture"]

KINDS = ("recurrent", "feedforward")


@dataclass(frozen=True)
class ArchitectureSpec:
    """What one architecture name means.

    Attributes
    ----------
    name : str
        Registry name (what :func:`build` and the studies' ``arch`` column take).
    factory : callable
        A :class:`~rnnprobe.models.StepModel` subclass (or a ``functools.partial``
        of one) called as ``factory(size, input_size, **options)`` for recurrent
        nets and ``factory(width, depth, **options)`` for stacks.
    kind : {'recurrent', 'feedforward'}
        Whether steps are time steps or layers (must be the class's ``kind``).
    description : str
        One line: the update rule.
    fixed : dict
        Options this name fixes (e.g. the nonlinearity of ``vanilla-relu``).
    cost : float
        Relative cost of one step at equal hidden size (1 for a vanilla RNN);
        studies start their most expensive grid points first.
    draw_options : dict
        Options :func:`rnnprobe.strategies.models` draws by default, name ->
        ``(low, high)``: two ints draw an integer, otherwise a float, in that
        closed range (e.g. ``{"forget_bias": (0.0, 3.0)}``).

    The model's ``family`` (one of :data:`rnnprobe.models.FAMILIES`) is declared
    by the class: :attr:`family` reads it.
    """

    name: str
    factory: Callable[..., StepModel]
    kind: str
    description: str
    fixed: Mapping[str, object] = field(default_factory=dict)
    cost: float = 1.0
    draw_options: Mapping[str, tuple] = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name or self.name != self.name.strip():
            raise InvalidArgument(f"name must be a non-empty string without surrounding spaces; got {self.name!r}")
        cls = self.model_class
        if not (isinstance(cls, type) and issubclass(cls, StepModel)):
            raise InvalidArgument(f"factory of architecture {self.name!r} must be a StepModel subclass (or a "
                                  f"functools.partial of one); got {self.factory!r}")
        check_choice("kind", self.kind, KINDS)
        if cls.kind != self.kind:
            raise InvalidArgument(f"kind of architecture {self.name!r} must be its class's kind "
                                  f"{cls.kind!r} ({cls.__name__}); got {self.kind!r}")
        if cls.family not in FAMILIES:
            raise InvalidArgument(f"{cls.__name__}.family must be one of {', '.join(map(repr, FAMILIES))} "
                                  f"(architecture {self.name!r}); got {cls.family!r}")
        if isinstance(self.cost, bool) or not isinstance(self.cost, numbers.Real) \
                or not math.isfinite(self.cost) or self.cost <= 0:
            raise InvalidArgument(f"cost of architecture {self.name!r} must be a finite number > 0; got {self.cost!r}")
        for key, bounds in self.draw_options.items():
            if key not in self.options:
                raise InvalidArgument(f"draw_options of architecture {self.name!r} must name options it accepts "
                                      f"({', '.join(self.options)}); got {key!r}")
            ok = (isinstance(bounds, tuple) and len(bounds) == 2
                  and all(isinstance(b, numbers.Real) and not isinstance(b, bool) and math.isfinite(b) for b in bounds)
                  and bounds[0] <= bounds[1])
            if not ok:
                raise InvalidArgument(f"draw_options[{key!r}] of architecture {self.name!r} must be a pair "
                                      f"(low, high) of finite numbers with low <= high; got {bounds!r}")

    @property
    def model_class(self) -> type:
        """The :class:`~rnnprobe.models.StepModel` subclass this name builds."""
        return self.factory.func if isinstance(self.factory, functools.partial) else self.factory

    @property
    def family(self) -> str:
        """The family the model class declares (one of :data:`rnnprobe.models.FAMILIES`)."""
        return self.model_class.family

    @functools.cached_property
    def options(self) -> tuple[str, ...]:
        """Keyword options :func:`build` accepts for this architecture (computed once)."""
        names = []
        for klass in self.model_class.__mro__:
            if "__init__" not in vars(klass):
                continue
            for p in inspect.signature(klass.__init__).parameters.values():
                if p.kind is p.KEYWORD_ONLY and p.name not in names and p.name not in self.fixed:
                    names.append(p.name)
        return tuple(names)


def _vanilla(nonlinearity):
    return functools.partial(VanillaRNN, nonlinearity=nonlinearity)


# Registration order is display order: the report palette gives colours in this order,
# so append new architectures at the end (existing ones keep their colours).
_SPECS = [
    ArchitectureSpec("vanilla-tanh", _vanilla("tanh"), "recurrent", "h' = tanh(W_h h + W_x x + b)", {"nonlinearity": "tanh"}),
    ArchitectureSpec("vanilla-relu", _vanilla("relu"), "recurrent", "h' = relu(W_h h + W_x x + b)", {"nonlinearity": "relu"}),
    ArchitectureSpec("vanilla-sigmoid", _vanilla("sigmoid"), "recurrent", "h' = sigmoid(W_h h + W_x x + b)", {"nonlinearity": "sigmoid"}),
    ArchitectureSpec("vanilla-linear", _vanilla("linear"), "recurrent", "h' = W_h h + W_x x + b (linear RNN)", {"nonlinearity": "linear"}),
    ArchitectureSpec("gru", GRU, "recurrent", "GRU as in the lecture (Cho et al. 2014): reset gate before U",
                     cost=1.5, draw_options={"update_bias": (0.0, 2.0)}),
    ArchitectureSpec("gru-torch", TorchGRU, "recurrent", "GRU as torch.nn.GRU: reset gate after W_hn h + b_hn",
                     cost=2.0, draw_options={"update_bias": (0.0, 2.0)}),
    ArchitectureSpec("lstm", LSTM, "recurrent", "LSTM as torch.nn.LSTM, state [h; c], settable forget bias / chrono init",
                     cost=3.0, draw_options={"forget_bias": (0.0, 3.0)}),
    ArchitectureSpec("residual", ResidualRNN, "recurrent", "h' = h + alpha tanh(W_h h + W_x x + b)",
                     draw_options={"alpha": (0.1, 1.0)}),
    ArchitectureSpec("dense", DenseRNN, "recurrent", "h' = tanh(sum_k<K W_k h_{t-k} + W_x x + b), window state",
                     cost=4.0, draw_options={"window": (1, 3)}),
    ArchitectureSpec("mlp", MLP, "feedforward", "s' = tanh(W_l s + b_l), depth L"),
    ArchitectureSpec("resmlp", ResMLP, "feedforward", "s' = s + alpha tanh(W_l s + b_l), depth L",
                     draw_options={"alpha": (0.1, 1.0)}),
    ArchitectureSpec("densemlp", DenseMLP, "feedforward", "DenseNet: layer l appends tanh(W_l [all features]) ",
                     draw_options={"growth": (1, 3)}),
    ArchitectureSpec("lru", LRU, "recurrent", "x' = lambda x + gamma (B u + b), complex diagonal, state [Re x; Im x] "
                     "(Orvieto et al. 2023)", cost=1.5,
                     draw_options={"r_min": (0.3, 0.9), "r_max": (0.9, 1.0), "max_phase": (0.0, 6.28)}),
    ArchitectureSpec("s4d", S4D, "recurrent", "h' = exp(Delta A) h + B_bar u per channel, diagonal A "
                     "(S4D, Gu et al. 2022)", cost=1.0, draw_options={"dt_min": (1e-3, 1e-2), "dt_max": (1e-2, 1.0)}),
    ArchitectureSpec("s6", S6, "recurrent", "h' = exp(Delta(x) A) h + Delta(x) B(x) u: selective SSM "
                     "(Mamba, Gu & Dao 2023)", cost=1.5, draw_options={"dt_min": (1e-3, 1e-2), "dt_max": (1e-2, 1.0)}),
    ArchitectureSpec("mingru", MinGRU, "recurrent", "h' = (1 - z(x)) h + z(x) (W_h x + b_h) "
                     "(Feng et al. 2024)", cost=1.0, draw_options={"update_bias": (-3.0, 1.0)}),
    ArchitectureSpec("minlstm", MinLSTM, "recurrent", "h' = f'(x) h + i'(x) (W_h x + b_h), f' = f/(f+i) "
                     "(Feng et al. 2024)", cost=1.0, draw_options={"forget_bias": (0.0, 3.0)}),
    ArchitectureSpec("unitary", UnitaryRNN, "recurrent", "h' = modReLU(exp(A) h + W_x x + b), A skew-symmetric "
                     "(Lezcano-Casado & Martinez-Rubio 2019)", cost=1.5, draw_options={"modrelu_bias": (-0.5, 0.5)}),
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

    def of_family(self, family: str) -> list[str]:
        """Names of the architectures of one family (see :data:`rnnprobe.models.FAMILIES`)."""
        check_choice("family", family, FAMILIES)
        return [n for n, s in self._specs.items() if s.family == family]


architectures = _Architectures(_SPECS)


def register_architecture(spec: ArchitectureSpec, *, replace: bool = False) -> ArchitectureSpec:
    """Add an architecture to :data:`rnnprobe.architectures` (at the end of its order).

    From then on :func:`build` makes it, :func:`rnnprobe.strategies.models`
    draws it, the report palette colours it and the studies accept it.

    Parameters
    ----------
    spec : ArchitectureSpec
    replace : bool
        Whether an architecture of the same name may be replaced (it keeps its
        place in the order).

    Returns
    -------
    ArchitectureSpec
        ``spec``.

    Examples
    --------
    >>> import functools, rnnprobe
    >>> from rnnprobe.models import ArchitectureSpec, ResidualRNN
    >>> spec = ArchitectureSpec("residual-relu", functools.partial(ResidualRNN, nonlinearity="relu"), "recurrent",
    ...                         "h' = h + alpha relu(W_h h + W_x x + b)", {"nonlinearity": "relu"},
    ...                         draw_options={"alpha": (0.1, 0.5)})
    >>> _ = register_architecture(spec)
    >>> model = rnnprobe.build("residual-relu", hidden_size=2, alpha=0.3)
    >>> model.name, model.family
    ('residual-relu', 'residual')
    >>> unregister_architecture("residual-relu").name
    'residual-relu'
    """
    if not isinstance(spec, ArchitectureSpec):
        raise InvalidArgument(f"spec must be an ArchitectureSpec; got {type(spec).__name__}")
    if spec.name in architectures._specs and not replace:
        raise InvalidArgument(f"architecture {spec.name!r} is already registered (pass replace=True to replace "
                              f"it); got spec.name={spec.name!r}")
    architectures._specs[spec.name] = spec
    return spec


def unregister_architecture(name: str) -> ArchitectureSpec:
    """Remove an architecture from :data:`rnnprobe.architectures`; return its spec."""
    spec = architectures[name]           # unknown: InvalidArgument with the nearest name
    del architectures._specs[name]
    return spec


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
        (gru); ``growth`` (densemlp); ``r_min``, ``r_max``, ``max_phase``,
        ``normalize`` (lru); ``state_dim``, ``dt_min``, ``dt_max``,
        ``discretization`` (s4d, s6); ``update_bias`` (mingru), ``forget_bias``
        (minlstm); ``modrelu_bias`` (unitary). ``ArchitectureSpec.options`` lists them.

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
