"""Hypothesis strategies for recurrent models, weight matrices and input sequences.

The strategies follow the conventions of :mod:`hypothesis.extra.numpy`: each is
named for what it generates, takes keyword-only ``min_*``/``max_*`` bounds, and
checks its arguments when it is *called* (an
:class:`~rnnprobe.errors.InvalidArgument` naming the parameter and the value,
before any example is drawn).

Everything random is drawn as sizes, gains and seeds with
``hypothesis.strategies.integers()``/``floats()``, then built by a seeded,
deterministic constructor (:func:`rnnprobe.build`, :func:`seeded_matrix`,
:func:`seeded_sequence`, :func:`seeded_torch_rnn`). So Hypothesis shrinks a
failing example to the smallest model and the shortest sequence, and reports it
as a call you can paste to reproduce it, e.g.::

    m=build('vanilla-tanh', hidden_size=3, input_size=1, gain=1.0, init='gaussian', bias_std=0.0, seed=0)

Strategies
----------
* :func:`recurrent_matrices` — square weight matrices (Gaussian, orthogonal,
  given spectral radius, given spectral norm, sparse);
* :func:`models` — rnnprobe models of any architecture in
  :data:`rnnprobe.architectures`, with drawn sizes, gains, inits, biases and
  architecture options;
* :func:`torch_rnns` — ``torch.nn.RNN``/``GRU``/``LSTM`` modules;
* :func:`sequences` — input sequences ``(T, d)`` or ``(T, B, d)``;
* :func:`sequences_for` — inputs that fit a given model;
* :func:`states_for` — states of a given model: initial states ``h0`` for
  :func:`rnnprobe.record`, points at which to evaluate its step;
* :func:`trajectories` — a drawn model run on drawn inputs
  (:class:`rnnprobe.Trajectory`).

Examples
--------
>>> import rnnprobe
>>> from hypothesis import given, settings
>>> from rnnprobe import strategies as rs
>>> @settings(max_examples=5, deadline=None)
... @given(rs.trajectories(rs.models(architectures=["vanilla-tanh", "lstm"], max_hidden=4), max_length=10))
... def test_bounds_chain(traj):
...     assert rnnprobe.gradient_bounds(traj).holds()
>>> test_bounds_chain()
>>> rs.models(min_hidden=5, max_hidden=2)
Traceback (most recent call last):
    ...
rnnprobe.errors.InvalidArgument: max_hidden must be >= min_hidden = 5; got 2
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping

import torch
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy
from torch import nn

from rnnprobe._validation import check_choice, check_dtype, check_int, check_real, nearest
from rnnprobe.errors import InvalidArgument
from rnnprobe.init import INIT_SCHEMES, init_matrix
from rnnprobe.models import architectures as _architectures
from rnnprobe.models import build
from rnnprobe.models.base import StepModel
from rnnprobe.trajectory import as_model, record

__all__ = [
    "MATRIX_SCHEMES",
    "TORCH_RNN_KINDS",
    "recurrent_matrices",
    "models",
    "torch_rnns",
    "sequences",
    "sequences_for",
    "states_for",
    "trajectories",
    "seeded_matrix",
    "seeded_sequence",
    "seeded_network_input",
    "seeded_torch_rnn",
]

#: Schemes :func:`recurrent_matrices` draws from (see :func:`seeded_matrix`).
MATRIX_SCHEMES = ("gaussian", "orthogonal", "spectral_radius", "spectral_norm", "sparse")

#: Module kinds :func:`torch_rnns` builds.
TORCH_RNN_KINDS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}

_MAX_SEED = 2**32 - 1


# --------------------------------------------------------------------------- validation
def _int_bounds(min_name, min_value, max_name, max_value, *, lowest=0):
    """Validate ``lowest <= min_value <= max_value`` (integers)."""
    lo = check_int(min_name, min_value, min_value=lowest)
    hi = check_int(max_name, max_value, min_value=lowest)
    if hi < lo:
        raise InvalidArgument(f"{max_name} must be >= {min_name} = {lo!r}; got {hi!r}")
    return lo, hi


def _real_bounds(min_name, min_value, max_name, max_value, *, low=0.0, low_open=False, high=None, hint=""):
    """Validate ``low <= min_value <= max_value (<= high)`` (finite reals)."""
    lo = check_real(min_name, min_value, low=low, low_open=low_open, high=high, hint=hint)
    hi = check_real(max_name, max_value, low=low, low_open=low_open, high=high, hint=hint)
    if hi < lo:
        raise InvalidArgument(f"{max_name} must be >= {min_name} = {lo!r}; got {hi!r}")
    return lo, hi


def _names(param: str, value, choices, *, default) -> tuple[str, ...]:
    """A name or a non-empty iterable of names, each one of ``choices``."""
    if value is None:
        value = default
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Iterable):
        raise InvalidArgument(f"{param} must be a name or an iterable of names; got {value!r}")
    value = list(value)
    if not value:
        raise InvalidArgument(f"{param} must name at least one of {', '.join(map(repr, choices))}; got {value!r}")
    for v in value:
        check_choice(param, v, choices)
    return tuple(dict.fromkeys(value))


def _int_or_strategy(name: str, value, *, min_value: int, allow_none: bool = False):
    """An int (validated now) or a SearchStrategy of ints (validated when drawn)."""
    if value is None and allow_none:
        return None
    if isinstance(value, SearchStrategy):
        return value.map(lambda v: None if v is None and allow_none else check_int(name, v, min_value=min_value))
    return check_int(name, value, min_value=min_value)


def _as_strategy(value):
    return value if isinstance(value, SearchStrategy) else st.just(value)


def _floats(lo: float, hi: float) -> SearchStrategy[float]:
    return st.just(lo) if lo == hi else st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def _seeds() -> SearchStrategy[int]:
    return st.integers(0, _MAX_SEED)


def _one_of_names(names, make) -> SearchStrategy:
    """``sampled_from(names).flatmap(make)``, each name's strategy made once."""
    made = {name: make(name) for name in names}
    return st.sampled_from(names).flatmap(made.__getitem__)


# --------------------------------------------------------------------------- seeded constructors
def seeded_matrix(size: int, scheme: str = "gaussian", *, gain: float = 1.0, density: float = 1.0,
                  seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    """A deterministic ``size × size`` recurrent weight matrix.

    Parameters
    ----------
    size : int
        n >= 1.
    scheme : {'gaussian', 'orthogonal', 'spectral_radius', 'spectral_norm', 'sparse'}
        ``gaussian``: entries N(0, gain²/n) (spectral radius ≈ gain for large n);
        ``orthogonal``: gain × a Haar orthogonal matrix (every singular value is
        gain); ``spectral_radius``: a Gaussian matrix rescaled so that its
        spectral radius is exactly gain; ``spectral_norm``: rescaled so that its
        largest singular value is exactly gain; ``sparse``: each entry non-zero
        with probability ``density``, non-zeros N(0, gain²/(density·n))
        (spectral radius ≈ gain for large n).
    gain : float
        g >= 0.
    density : float
        Fraction of non-zero entries, in (0, 1] (``sparse`` only).
    seed : int
        Seed (same seed, same matrix).
    dtype : torch.dtype or str

    Returns
    -------
    torch.Tensor

    Examples
    --------
    >>> import torch
    >>> W = seeded_matrix(5, "spectral_norm", gain=0.9, seed=1)
    >>> round(float(torch.linalg.matrix_norm(W, ord=2)), 12)
    0.9
    """
    size = check_int("size", size, min_value=1)
    check_choice("scheme", scheme, MATRIX_SCHEMES)
    gain = check_real("gain", gain, low=0.0)
    density = check_real("density", density, low=0.0, high=1.0, low_open=True)
    seed = check_int("seed", seed, min_value=0)
    dtype = check_dtype("dtype", dtype)
    generator = torch.Generator().manual_seed(seed)
    if scheme in ("gaussian", "orthogonal"):
        return init_matrix(size, size, scheme=scheme, gain=gain, generator=generator, dtype=dtype)
    if scheme == "spectral_radius":
        return init_matrix(size, size, scheme="spectral", gain=gain, generator=generator, dtype=dtype)
    g = torch.randn(size, size, generator=generator, dtype=torch.float64)
    if scheme == "spectral_norm":
        W = g * (gain / torch.linalg.matrix_norm(g, ord=2))
    else:
        mask = torch.rand(size, size, generator=generator, dtype=torch.float64) < density
        W = g * mask * (gain / math.sqrt(density * size))
    return W.to(dtype)


def seeded_sequence(length: int, input_size: int = 1, *, batch: int | None = None, scale: float = 1.0,
                    seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    """Deterministic Gaussian inputs N(0, scale²), time-major.

    Parameters
    ----------
    length : int
        T >= 1.
    input_size : int
        d >= 0.
    batch : int, optional
        B >= 1 for a batched ``(T, B, d)`` tensor; None for ``(T, d)``.
    scale : float
        Standard deviation (0 gives zeros: an undriven net).
    seed : int
    dtype : torch.dtype or str

    Returns
    -------
    torch.Tensor

    Examples
    --------
    >>> seeded_sequence(4, 2, batch=3).shape
    torch.Size([4, 3, 2])
    """
    length = check_int("length", length, min_value=1)
    input_size = check_int("input_size", input_size, min_value=0)
    if batch is not None:
        batch = check_int("batch", batch, min_value=1)
    scale = check_real("scale", scale, low=0.0)
    seed = check_int("seed", seed, min_value=0)
    dtype = check_dtype("dtype", dtype)
    shape = (length, input_size) if batch is None else (length, batch, input_size)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return (scale * x).to(dtype)


def seeded_network_input(width: int, *, batch: int | None = None, scale: float = 1.0, seed: int = 0,
                         dtype=torch.float64) -> torch.Tensor:
    """Deterministic Gaussian network inputs ``(width,)`` or ``(batch, width)`` for feed-forward stacks."""
    width = check_int("width", width, min_value=1)
    x = seeded_sequence(width, 1, batch=batch, scale=scale, seed=seed, dtype=dtype)
    return x[:, 0] if batch is None else x[..., 0].T.contiguous()


def seeded_torch_rnn(kind: str = "lstm", input_size: int = 1, hidden_size: int = 4, *, num_layers: int = 1,
                     bias: bool = True, bidirectional: bool = False, nonlinearity: str = "tanh",
                     batch_first: bool = False, gain: float = 1.0, seed: int = 0, dtype=torch.float32) -> nn.Module:
    """A deterministic ``torch.nn.RNN``/``GRU``/``LSTM``, torch's default init then ``weight_hh *= gain``.

    The parameters are drawn with torch's own initialisation,
    U(−1/√n, 1/√n), from ``seed`` without touching torch's global random state;
    then every recurrent matrix ``weight_hh_l*`` is multiplied by ``gain``.

    Parameters
    ----------
    kind : {'rnn', 'gru', 'lstm'}
    input_size, hidden_size, num_layers : int
    bias, bidirectional, batch_first : bool
        As for the torch module.
    nonlinearity : {'tanh', 'relu'}
        ``rnn`` only (ignored by the other kinds).
    gain : float
        Factor on the recurrent matrices (1 keeps torch's init).
    seed : int
    dtype : torch.dtype or str
        float32 (torch's default) or float64.

    Returns
    -------
    torch.nn.Module

    Examples
    --------
    >>> seeded_torch_rnn("gru", 2, 3, seed=0)
    GRU(2, 3)
    """
    check_choice("kind", kind, TORCH_RNN_KINDS)
    input_size = check_int("input_size", input_size, min_value=1)
    hidden_size = check_int("hidden_size", hidden_size, min_value=1)
    num_layers = check_int("num_layers", num_layers, min_value=1)
    gain = check_real("gain", gain, low=0.0)
    seed = check_int("seed", seed, min_value=0)
    dtype = check_dtype("dtype", dtype)
    kwargs = dict(num_layers=num_layers, bias=bool(bias), bidirectional=bool(bidirectional), batch_first=bool(batch_first))
    if kind == "rnn":
        kwargs["nonlinearity"] = check_choice("nonlinearity", nonlinearity, ("tanh", "relu"))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = TORCH_RNN_KINDS[kind](input_size, hidden_size, **kwargs)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.startswith("weight_hh"):
                p.mul_(gain)
    return module.to(dtype)


# --------------------------------------------------------------------------- strategies
def recurrent_matrices(*, schemes=MATRIX_SCHEMES, min_size: int = 1, max_size: int = 8, min_gain: float = 0.5,
                       max_gain: float = 1.5, min_density: float = 0.1, max_density: float = 0.5,
                       dtype=torch.float64) -> SearchStrategy[torch.Tensor]:
    """Square recurrent weight matrices.

    Parameters
    ----------
    schemes : str or iterable of str
        Drawn from :data:`MATRIX_SCHEMES` (all by default): ``'gaussian'``,
        ``'orthogonal'``, ``'spectral_radius'``, ``'spectral_norm'``,
        ``'sparse'``; see :func:`seeded_matrix` for what ``gain`` means in each.
        For a given spectral radius r, use ``schemes='spectral_radius',
        min_gain=r, max_gain=r``.
    min_size, max_size : int
        Bounds on n (1 <= min_size <= max_size).
    min_gain, max_gain : float
        Bounds on the gain (0 <= min_gain <= max_gain).
    min_density, max_density : float
        Bounds on the fraction of non-zeros of ``sparse`` matrices, in (0, 1].
    dtype : torch.dtype or str

    Returns
    -------
    SearchStrategy[torch.Tensor]
        Shrinks towards n = min_size, the first scheme, gain 1 (or the bound
        nearest to it) and seed 0.

    Examples
    --------
    >>> import torch
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10)
    ... @given(recurrent_matrices(schemes="orthogonal", min_gain=0.9, max_gain=0.9))
    ... def test_orthogonal(W):
    ...     assert torch.allclose(torch.linalg.svdvals(W), torch.full((W.shape[0],), 0.9, dtype=W.dtype))
    >>> test_orthogonal()
    """
    schemes = _names("schemes", schemes, MATRIX_SCHEMES, default=MATRIX_SCHEMES)
    min_size, max_size = _int_bounds("min_size", min_size, "max_size", max_size, lowest=1)
    min_gain, max_gain = _real_bounds("min_gain", min_gain, "max_gain", max_gain)
    min_density, max_density = _real_bounds("min_density", min_density, "max_density", max_density,
                                            low=0.0, low_open=True, high=1.0)
    dtype = check_dtype("dtype", dtype)

    def one(scheme):
        density = _floats(min_density, max_density) if scheme == "sparse" else st.just(1.0)
        return st.builds(seeded_matrix, st.integers(min_size, max_size), st.just(scheme), gain=_floats(min_gain, max_gain),
                         density=density, seed=_seeds(), dtype=st.just(dtype))

    return _one_of_names(schemes, one)


def models(*, architectures=None, min_hidden: int = 1, max_hidden: int = 8, min_input: int = 1, max_input: int = 3,
           min_gain: float = 0.5, max_gain: float = 1.5, inits=INIT_SCHEMES, min_bias_std: float = 0.0,
           max_bias_std: float = 0.5, min_depth: int = 1, max_depth: int = 8, options: Mapping | None = None,
           dtype=torch.float64) -> SearchStrategy[StepModel]:
    """rnnprobe models of the given architectures, with drawn sizes, gains, inits and biases.

    Each example is ``rnnprobe.build(name, hidden_size, input_size, gain=…,
    init=…, bias_std=…, seed=…, **architecture options)``.

    Parameters
    ----------
    architectures : str or iterable of str, optional
        Names from :data:`rnnprobe.architectures`; default: every recurrent
        one (``rnnprobe.architectures.recurrent()``). Feed-forward stacks
        (``mlp``, ``resmlp``, ``densemlp``) are drawn only when named.
    min_hidden, max_hidden : int
        Bounds on the hidden size (the width of stacks), >= 1.
    min_input, max_input : int
        Bounds on the input size d of recurrent nets, >= 0 (0: autonomous).
    min_gain, max_gain : float
        Bounds on the gain of the recurrent matrices, >= 0.
    inits : str or iterable of str
        Initialisation schemes drawn from (:data:`rnnprobe.INIT_SCHEMES`).
    min_bias_std, max_bias_std : float
        Bounds on the bias standard deviation, >= 0.
    min_depth, max_depth : int
        Bounds on the depth of feed-forward stacks, >= 1.
    options : mapping, optional
        Architecture options, each a value or a strategy, applied to every
        drawn architecture that accepts it, e.g. ``{"forget_bias": 1.0}`` or
        ``{"nonlinearity": st.sampled_from(["tanh", "relu"])}``. By default
        each architecture's ``ArchitectureSpec.draw_options`` are drawn (for the
        built-in ones ``alpha`` ∈ [0.1, 1], ``window`` ∈ {1, 2, 3},
        ``forget_bias`` ∈ [0, 3], ``update_bias`` ∈ [0, 2] (mingru: [−3, 1]),
        ``growth`` ∈ {1, 2, 3}, the LRU's ring ``r_min`` ∈ [0.3, 0.9],
        ``r_max`` ∈ [0.9, 1] and ``max_phase`` ∈ [0, 6.28], the SSMs'
        ``dt_min`` ∈ [0.001, 0.01] and ``dt_max`` ∈ [0.01, 1], and
        ``modrelu_bias`` ∈ [−0.5, 0.5]).
    dtype : torch.dtype or str

    Returns
    -------
    SearchStrategy[StepModel]
        Shrinks towards the first architecture, the smallest sizes, gain 1 (or
        the bound nearest to it), the first init, zero bias and seed 0.

    Raises
    ------
    InvalidArgument
        At call time, for bounds out of range or in the wrong order, unknown
        architecture or init names, an option no drawn architecture accepts, or
        a fixed option value an architecture rejects (values drawn from a
        strategy option are checked when drawn).

    Examples
    --------
    >>> from hypothesis import Phase, find, settings
    >>> quick = settings(database=None, phases=[Phase.generate, Phase.shrink])
    >>> m = find(models(architectures="lstm", max_hidden=6), lambda m: m.hidden_size >= 2,
    ...          settings=quick)
    >>> m.name, m.hidden_size
    ('lstm', 2)
    """
    names = _names("architectures", architectures, _architectures, default=_architectures.recurrent())
    min_hidden, max_hidden = _int_bounds("min_hidden", min_hidden, "max_hidden", max_hidden, lowest=1)
    min_input, max_input = _int_bounds("min_input", min_input, "max_input", max_input, lowest=0)
    min_gain, max_gain = _real_bounds("min_gain", min_gain, "max_gain", max_gain,
                                      hint="gain scales the recurrent matrices; 1 is the edge of chaos for tanh")
    inits = _names("inits", inits, INIT_SCHEMES, default=INIT_SCHEMES)
    min_bias_std, max_bias_std = _real_bounds("min_bias_std", min_bias_std, "max_bias_std", max_bias_std)
    min_depth, max_depth = _int_bounds("min_depth", min_depth, "max_depth", max_depth, lowest=1)
    dtype = check_dtype("dtype", dtype)
    options = dict(options or {})
    if not isinstance(options, dict):  # pragma: no cover - dict() above raises first
        raise InvalidArgument(f"options must be a mapping; got {options!r}")
    accepted = {n: set(_architectures[n].options) for n in names}
    managed = {"gain", "init", "bias_std", "seed", "dtype"}
    for key in options:
        if key in managed:
            raise InvalidArgument(
                f"options must not set {key!r}: models() draws it (use min_{key}/max_{key} or inits=); got options={options!r}"
                if key in ("gain", "bias_std") else
                f"options must not set {key!r}: models() draws it; got options={options!r}")
        if not any(key in acc for acc in accepted.values()):
            allowed = sorted(set().union(*accepted.values()) - managed)
            hint = nearest(key, allowed)
            raise InvalidArgument(
                f"option {key!r} is not accepted by any of the architectures {', '.join(names)}; "
                f"allowed: {', '.join(allowed)}" + (f" (did you mean {hint!r}?)" if hint else ""))

    # fixed option values are checked now, by building a tiny model of each architecture that takes them
    for name in names:
        fixed = {k: v for k, v in options.items() if k in accepted[name] and not isinstance(v, SearchStrategy)}
        if fixed:
            if _architectures[name].kind == "feedforward":
                build(name, 1, depth=1, **fixed)
            else:
                build(name, 1, 1, **fixed)

    def one(name):
        spec = _architectures[name]
        kwargs = dict(gain=_floats(min_gain, max_gain), init=st.sampled_from(inits),
                      bias_std=_floats(min_bias_std, max_bias_std), seed=_seeds())
        for key, (lo, hi) in spec.draw_options.items():
            integral = all(isinstance(v, numbers.Integral) for v in (lo, hi))
            kwargs[key] = st.integers(lo, hi) if integral else _floats(float(lo), float(hi))
        for key, value in options.items():
            if key in accepted[name]:
                kwargs[key] = _as_strategy(value)
        if dtype != torch.float64:
            kwargs["dtype"] = st.just(dtype)
        if spec.kind == "feedforward":
            return st.builds(build, st.just(name), st.integers(min_hidden, max_hidden),
                             depth=st.integers(min_depth, max_depth), **kwargs)
        return st.builds(build, st.just(name), st.integers(min_hidden, max_hidden),
                         st.integers(min_input, max_input), **kwargs)

    return _one_of_names(names, one)


_models = models  # for trajectories(), whose parameter "models" shadows the function


def _torch_kind(value) -> str:
    if isinstance(value, type):
        for name, cls in TORCH_RNN_KINDS.items():
            if value is cls:
                return name
        raise InvalidArgument(f"kinds must name torch.nn.RNN, torch.nn.GRU or torch.nn.LSTM; got {value!r}")
    if isinstance(value, str):
        return check_choice("kinds", value.lower(), TORCH_RNN_KINDS)
    raise InvalidArgument(f"kinds must be 'rnn', 'gru', 'lstm' or the torch classes; got {value!r}")


def _flags(name: str, value) -> SearchStrategy[bool]:
    if value is None:
        return st.booleans()
    if not isinstance(value, bool):
        raise InvalidArgument(f"{name} must be True, False or None (draw both); got {value!r}")
    return st.just(value)


def torch_rnns(*, kinds=("rnn", "gru", "lstm"), min_input: int = 1, max_input: int = 3, min_hidden: int = 1,
               max_hidden: int = 8, min_layers: int = 1, max_layers: int = 1, bidirectional: bool | None = False,
               bias: bool | None = True, nonlinearities=("tanh", "relu"), batch_first: bool = False,
               min_gain: float = 1.0, max_gain: float = 1.0, dtype=torch.float32) -> SearchStrategy[nn.Module]:
    """``torch.nn.RNN``, ``torch.nn.GRU`` and ``torch.nn.LSTM`` modules (see :func:`seeded_torch_rnn`).

    Parameters
    ----------
    kinds : str, class or iterable of them
        ``'rnn'``, ``'gru'``, ``'lstm'`` (or ``nn.RNN``, ``nn.GRU``, ``nn.LSTM``).
    min_input, max_input : int
        Bounds on ``input_size`` (>= 1).
    min_hidden, max_hidden : int
        Bounds on ``hidden_size`` (>= 1).
    min_layers, max_layers : int
        Bounds on ``num_layers`` (>= 1).
    bidirectional, bias : bool or None
        Fixed, or None to draw both.
    nonlinearities : str or iterable of str
        For ``nn.RNN``: drawn from ``'tanh'``, ``'relu'``.
    batch_first : bool
        Passed to the module (rnnprobe's own inputs are always time-major).
    min_gain, max_gain : float
        Bounds on the factor applied to torch's default recurrent weights.
    dtype : torch.dtype or str
        float32 (torch's default) or float64.

    Returns
    -------
    SearchStrategy[torch.nn.Module]

    Examples
    --------
    >>> import torch, rnnprobe
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=5, deadline=None)
    ... @given(torch_rnns(kinds="lstm", max_hidden=4))
    ... def test_adapt(lstm):
    ...     assert rnnprobe.adapt(lstm).state_size == 2 * lstm.hidden_size
    >>> test_adapt()
    """
    if isinstance(kinds, (str, type)):
        kinds = [kinds]
    if not isinstance(kinds, Iterable):
        raise InvalidArgument(f"kinds must be a name, a class or an iterable of them; got {kinds!r}")
    kinds = tuple(dict.fromkeys(_torch_kind(k) for k in kinds))
    if not kinds:
        raise InvalidArgument("kinds must name at least one of 'rnn', 'gru', 'lstm'; got an empty iterable")
    min_input, max_input = _int_bounds("min_input", min_input, "max_input", max_input, lowest=1)
    min_hidden, max_hidden = _int_bounds("min_hidden", min_hidden, "max_hidden", max_hidden, lowest=1)
    min_layers, max_layers = _int_bounds("min_layers", min_layers, "max_layers", max_layers, lowest=1)
    bidir, biases = _flags("bidirectional", bidirectional), _flags("bias", bias)
    nonlinearities = _names("nonlinearities", nonlinearities, ("tanh", "relu"), default=("tanh", "relu"))
    if not isinstance(batch_first, bool):
        raise InvalidArgument(f"batch_first must be True or False; got {batch_first!r}")
    min_gain, max_gain = _real_bounds("min_gain", min_gain, "max_gain", max_gain)
    dtype = check_dtype("dtype", dtype)

    # one builds() for every kind (no flatmap): the same draws whatever the kind, so the kind shrinks too;
    # nonlinearity is drawn always and used by 'rnn' only
    kwargs = dict(num_layers=st.integers(min_layers, max_layers), bias=biases, bidirectional=bidir,
                  nonlinearity=st.sampled_from(nonlinearities), gain=_floats(min_gain, max_gain), seed=_seeds())
    if batch_first:
        kwargs["batch_first"] = st.just(True)
    if dtype != torch.float32:
        kwargs["dtype"] = st.just(dtype)
    return st.builds(seeded_torch_rnn, st.sampled_from(kinds), st.integers(min_input, max_input),
                     st.integers(min_hidden, max_hidden), **kwargs)


def _tensor_from_elements(shape, elements, dtype):
    from hypothesis.extra.numpy import arrays  # numpy strategies: only when asked for
    import numpy as np

    return arrays(np.float64, shape, elements=elements).map(lambda a: torch.from_numpy(a.copy()).to(dtype))


def _sequence_strategy(lengths, input_size, batch, min_scale, max_scale, scales, elements, dtype):
    """Inputs ``(T, d)``/``(T, B, d)`` with T from ``lengths`` (a strategy)."""
    batches = st.none() if batch is None else _as_strategy(batch)
    sizes = _as_strategy(input_size)
    if elements is None:
        extra = {} if dtype == torch.float64 else {"dtype": st.just(dtype)}
        return st.builds(seeded_sequence, lengths, sizes, batch=batches,
                         scale=_scale_strategy(min_scale, max_scale, scales), seed=_seeds(), **extra)

    def shaped(args):
        T, d, B = args
        return _tensor_from_elements((T, d) if B is None else (T, B, d), elements, dtype)

    return st.tuples(lengths, sizes, batches).flatmap(shaped)


def _check_elements(elements):
    if elements is not None and not isinstance(elements, SearchStrategy):
        raise InvalidArgument(f"elements must be a hypothesis strategy of floats or None; got {elements!r}")
    return elements


def _check_scales(scales, elements):
    """``scales``: None or a strategy of standard deviations (each checked when drawn); not with ``elements``."""
    if scales is None:
        return None
    if not isinstance(scales, SearchStrategy):
        raise InvalidArgument(
            f"scales must be a hypothesis strategy of floats >= 0 or None; got {scales!r}"
            + (" (use st.sampled_from([...]) for a list of scales)" if isinstance(scales, Iterable) else ""))
    if elements is not None:
        raise InvalidArgument("scales and elements cannot both be given: elements draws every entry itself; "
                              f"got scales={scales!r}, elements={elements!r}")
    return scales


def _scale_strategy(min_scale, max_scale, scales):
    return _floats(min_scale, max_scale) if scales is None else scales


def sequences(*, min_length: int = 1, max_length: int = 20, input_size=1, batch=None, min_scale: float = 1.0,
              max_scale: float = 1.0, scales: SearchStrategy | None = None, elements: SearchStrategy | None = None,
              dtype=torch.float64) -> SearchStrategy[torch.Tensor]:
    """Time-major input sequences: ``(T, d)``, or ``(T, B, d)`` when ``batch`` is given.

    Parameters
    ----------
    min_length, max_length : int
        Bounds on T (1 <= min_length <= max_length).
    input_size : int or SearchStrategy[int]
        d >= 0.
    batch : int or SearchStrategy[int or None] or None
        B >= 1 for batched sequences; None (default) for unbatched ones; a
        strategy may draw both (e.g. ``st.none() | st.integers(1, 3)``).
    min_scale, max_scale : float
        Bounds on the standard deviation of the Gaussian entries (>= 0; 0
        gives zeros).
    scales : SearchStrategy[float], optional
        Draw the standard deviation from this strategy instead of
        ``[min_scale, max_scale]``, e.g. ``st.sampled_from([0.0, 1e-3, 1.0,
        3.0])`` to hit given regimes (undriven, linear, saturated) every
        time; each value must be >= 0 (checked when drawn). Not with
        ``elements``.
    elements : SearchStrategy[float], optional
        Draw every entry from this strategy instead (as
        :func:`hypothesis.extra.numpy.arrays` does); slower, but shrinks the
        values themselves. ``min_scale``/``max_scale`` are then unused.
    dtype : torch.dtype or str

    Returns
    -------
    SearchStrategy[torch.Tensor]
        Shrinks towards T = min_length and seed 0.

    Examples
    --------
    >>> from hypothesis import Phase, find, settings
    >>> quick = settings(database=None, phases=[Phase.generate, Phase.shrink])
    >>> x = find(sequences(max_length=30, batch=2), lambda x: x.shape[0] >= 5, settings=quick)
    >>> tuple(x.shape)
    (5, 2, 1)
    >>> from hypothesis import strategies as st
    >>> x = find(sequences(scales=st.sampled_from([0.0, 1e-3])), lambda x: bool(x.any()), settings=quick)
    >>> bool(x.abs().max() < 0.01)
    True
    """
    min_length, max_length = _int_bounds("min_length", min_length, "max_length", max_length, lowest=1)
    input_size = _int_or_strategy("input_size", input_size, min_value=0)
    batch = _int_or_strategy("batch", batch, min_value=1, allow_none=True)
    min_scale, max_scale = _real_bounds("min_scale", min_scale, "max_scale", max_scale)
    elements = _check_elements(elements)
    scales = _check_scales(scales, elements)
    dtype = check_dtype("dtype", dtype)
    return _sequence_strategy(st.integers(min_length, max_length), input_size, batch, min_scale, max_scale, scales,
                              elements, dtype)


def _model_input_size(model) -> tuple[str, int]:
    """('recurrent', d) or ('feedforward', width) for an rnnprobe model or a torch module."""
    if isinstance(model, StepModel):
        if model.kind == "feedforward":
            return "feedforward", model.width
        return "recurrent", model.input_size
    size = getattr(model, "input_size", None)
    if isinstance(model, nn.Module) and isinstance(size, numbers.Integral):
        return "recurrent", int(size)
    raise InvalidArgument(
        f"model must be an rnnprobe model or a torch recurrent module with an input_size; got {type(model).__name__}")


def sequences_for(model, *, min_length: int = 1, max_length: int = 20, batch=None, min_scale: float = 1.0,
                  max_scale: float = 1.0, scales: SearchStrategy | None = None,
                  elements: SearchStrategy | None = None) -> SearchStrategy[torch.Tensor]:
    """Inputs that fit ``model``: what :func:`rnnprobe.record` takes for it.

    Recurrent nets (rnnprobe models, torch modules and cells): sequences
    ``(T, d)`` or ``(T, B, d)`` with ``d = model.input_size``, in the model's
    dtype; ``(B, T, d)`` for a module built with ``batch_first=True``. Feed-forward stacks: the network input ``(width,)`` or ``(B, width)``
    (its depth fixes T, so ``min_length``/``max_length`` are not used).

    Parameters
    ----------
    model : StepModel or torch.nn.Module
    min_length, max_length, batch, min_scale, max_scale, scales, elements
        As for :func:`sequences`.

    Returns
    -------
    SearchStrategy[torch.Tensor]

    Examples
    --------
    >>> import rnnprobe
    >>> from hypothesis import Phase, find, settings
    >>> quick = settings(database=None, phases=[Phase.generate, Phase.shrink])
    >>> model = rnnprobe.build("gru", hidden_size=3, input_size=2)
    >>> x = find(sequences_for(model, min_length=4), lambda x: True, settings=quick)
    >>> tuple(x.shape)
    (4, 2)
    """
    kind, size = _model_input_size(model)
    min_length, max_length = _int_bounds("min_length", min_length, "max_length", max_length, lowest=1)
    batch = _int_or_strategy("batch", batch, min_value=1, allow_none=True)
    min_scale, max_scale = _real_bounds("min_scale", min_scale, "max_scale", max_scale)
    elements = _check_elements(elements)
    scales = _check_scales(scales, elements)
    dtype = _model_dtype(model)
    if kind == "recurrent":
        drawn = _sequence_strategy(st.integers(min_length, max_length), size, batch, min_scale, max_scale, scales,
                                   elements, dtype)
        if getattr(model, "batch_first", False) is True:     # what record takes: (B, T, d), as the module does
            return drawn.map(lambda x: x.transpose(0, 1) if x.ndim == 3 else x)
        return drawn
    return _vector_strategy(size, batch, min_scale, max_scale, scales, elements, dtype)


def _model_dtype(model) -> torch.dtype:
    param = next(iter(model.parameters()), None)
    return param.dtype if param is not None and param.is_floating_point() else torch.float64


def _vector_strategy(size, batch, min_scale, max_scale, scales, elements, dtype):
    """Vectors ``(size,)``, or ``(B, size)`` when ``batch`` draws B."""
    batches = st.none() if batch is None else _as_strategy(batch)
    if elements is None:
        extra = {} if dtype == torch.float64 else {"dtype": st.just(dtype)}
        return st.builds(seeded_network_input, st.just(size), batch=batches,
                         scale=_scale_strategy(min_scale, max_scale, scales), seed=_seeds(), **extra)
    return batches.flatmap(lambda B: _tensor_from_elements((size,) if B is None else (B, size), elements, dtype))


def states_for(model, *, batch=None, min_scale: float = 1.0, max_scale: float = 1.0,
               scales: SearchStrategy | None = None,
               elements: SearchStrategy | None = None) -> SearchStrategy[torch.Tensor]:
    """States of ``model``: Gaussian points ``(S,)`` or ``(B, S)`` in its state space.

    ``S = model.state_size`` (for an LSTM the state is ``[h; c]``, ``2n``; for
    a dense RNN the window of past states). Use them as initial states,
    ``rnnprobe.record(model, inputs, h0)`` (recurrent nets), or as the points at
    which to check a step, ``model.step_jacobian(x, state, t)`` (any model,
    feed-forward stacks included).

    Parameters
    ----------
    model : StepModel or torch.nn.Module
        An rnnprobe model, or a torch recurrent module or cell (its state
        size is that of :func:`rnnprobe.adapt`'s model; dtype its own).
    batch : int or SearchStrategy[int or None] or None
        B >= 1 for ``(B, S)``; None (default) for ``(S,)``.
    min_scale, max_scale, scales, elements
        As for :func:`sequences`.

    Returns
    -------
    SearchStrategy[torch.Tensor]
        Reported on failure as ``seeded_network_input(S, batch=B, scale=…,
        seed=…)``.

    Examples
    --------
    >>> import rnnprobe
    >>> from hypothesis import Phase, find, settings
    >>> quick = settings(database=None, phases=[Phase.generate, Phase.shrink])
    >>> lstm = rnnprobe.build("lstm", hidden_size=3)
    >>> h0 = find(states_for(lstm, batch=2), lambda h: True, settings=quick)
    >>> tuple(h0.shape)
    (2, 6)
    >>> rnnprobe.record(lstm, torch.zeros(4, 2, 1), h0).length
    4
    """
    state_size = as_model(model).state_size     # refuses what is not a model, adapts torch modules
    batch = _int_or_strategy("batch", batch, min_value=1, allow_none=True)
    min_scale, max_scale = _real_bounds("min_scale", min_scale, "max_scale", max_scale)
    elements = _check_elements(elements)
    scales = _check_scales(scales, elements)
    return _vector_strategy(state_size, batch, min_scale, max_scale, scales, elements, _model_dtype(model))


def trajectories(models: SearchStrategy | None = None, *, min_length: int = 1, max_length: int = 20, batch=None,
                 min_scale: float = 1.0, max_scale: float = 1.0, scales: SearchStrategy | None = None,
                 elements: SearchStrategy | None = None) -> SearchStrategy:
    """A drawn model run on drawn inputs: ``rnnprobe.record(model, inputs)``.

    Parameters
    ----------
    models : SearchStrategy, optional
        Where the models come from (default :func:`models` with its defaults);
        any strategy of rnnprobe models or torch recurrent modules.
    min_length, max_length, batch, min_scale, max_scale, scales, elements
        As for :func:`sequences_for`.

    Returns
    -------
    SearchStrategy[rnnprobe.Trajectory]
        Reported on failure as ``record(build(...), seeded_sequence(...))``.

    Examples
    --------
    >>> import rnnprobe
    >>> from hypothesis import Phase, find, settings
    >>> quick = settings(database=None, phases=[Phase.generate, Phase.shrink])
    >>> traj = find(trajectories(max_length=30), lambda tr: tr.length >= 5, settings=quick)
    >>> traj.length, traj.model.name, traj.model.hidden_size
    (5, 'vanilla-tanh', 1)
    """
    if models is None:
        models = _models()
    if not isinstance(models, SearchStrategy):
        raise InvalidArgument(f"models must be a hypothesis strategy of models (e.g. rnnprobe.strategies.models()); got {models!r}")
    # validate now, not at the first draw
    min_length, max_length = _int_bounds("min_length", min_length, "max_length", max_length, lowest=1)
    batch = _int_or_strategy("batch", batch, min_value=1, allow_none=True)
    min_scale, max_scale = _real_bounds("min_scale", min_scale, "max_scale", max_scale)
    elements = _check_elements(elements)
    scales = _check_scales(scales, elements)

    def run(model):
        inputs = sequences_for(model, min_length=min_length, max_length=max_length, batch=batch,
                               min_scale=min_scale, max_scale=max_scale, scales=scales, elements=elements)
        return st.builds(record, st.just(model), inputs)

    return models.flatmap(run)
