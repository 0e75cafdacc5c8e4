"""pytest plugin: seeded-model fixtures and rnnprobe's tolerance defaults per run or per test.

Loading
-------
Installed rnnprobe (``pip install rnnprobe``) registers this plugin through the
``pytest11`` entry point ``rnnprobe.pytest_plugin``: nothing to do. From a
source checkout that is not installed, load it with ``-p rnnprobe.pytest_plugin``
(or ``pytest_plugins = ["rnnprobe.pytest_plugin"]`` in your top-level
``conftest.py``). The entry point has the module's name, so both ways may be
combined without a double registration. ``-p no:rnnprobe.pytest_plugin``
disables it.

Importing this module is cheap: torch, hypothesis and :mod:`rnnprobe.testing`
are imported only by the fixtures, or when an option or marker is used.

Options and marker
------------------
Each default of :class:`rnnprobe.testing.Defaults` can be set for the run on
the command line or in the ini file, and per test (or class, or module via
``pytestmark``) with the marker; the closest wins: marker > command line >
ini > built-in default.

====================================  ==========================  ===========================
command line                          ini file                    marker keyword
====================================  ==========================  ===========================
``--rnnprobe-rtol=1e-6``              ``rnnprobe_rtol = 1e-6``    ``rtol=1e-6``
``--rnnprobe-atol=1e-9``              ``rnnprobe_atol``           ``atol``
``--rnnprobe-eps=1e-3``               ``rnnprobe_eps``            ``eps``
``--rnnprobe-max-norm=1e3``           ``rnnprobe_max_norm``       ``max_norm``
``--rnnprobe-isometry-tol=0.05``      ``rnnprobe_isometry_tol``   ``isometry_tol``
``--rnnprobe-seed=7``                 ``rnnprobe_seed``           ``seed``
====================================  ==========================  ===========================

``@pytest.mark.rnnprobe(eps=1e-3, seed=7)`` makes every assertion of
:mod:`rnnprobe.testing` in that test use ``eps=1e-3`` unless given explicitly,
and the seeded fixtures use seed 7.

Fixtures
--------
``rnnprobe_seed``
    The seed in force (default 0); torch's global random generator is seeded
    with it for the test and restored afterwards, so ``torch.nn.LSTM(...)``
    built inside the test is reproducible.
``rnnprobe_model``
    Factory: ``rnnprobe_model("lstm", hidden_size=8, input_size=1, **options)``
    is ``rnnprobe.build(...)`` with ``seed=rnnprobe_seed`` unless given.
``rnnprobe_torch_rnn``
    Factory: ``rnnprobe_torch_rnn("lstm", input_size=1, hidden_size=8, **kwargs)``
    is a seeded ``torch.nn.LSTM`` (see :func:`rnnprobe.strategies.seeded_torch_rnn`).
``rnnprobe_inputs``
    Factory: ``rnnprobe_inputs(model, length=50, batch=None, scale=1.0)``: seeded
    N(0, scale²) inputs that fit ``model`` (time-major, in the model's dtype).
``rnnprobe_defaults``
    The :class:`rnnprobe.testing.Defaults` in force for the test.

Use the strategies of :mod:`rnnprobe.strategies`, not these function-scoped
fixtures, inside ``@given`` tests.

Examples
--------
>>> from rnnprobe.pytest_plugin import OPTIONS
>>> OPTIONS
('rtol', 'atol', 'eps', 'max_norm', 'isometry_tol', 'seed')
"""

from __future__ import annotations

import pytest

__all__ = ["OPTIONS"]

#: The defaults the options and the marker set (the fields of rnnprobe.testing.Defaults).
OPTIONS = ("rtol", "atol", "eps", "max_norm", "isometry_tol", "seed")

_HELP = {
    "rtol": "relative tolerance of Jacobian comparisons and slack of bounds (default 1e-7)",
    "atol": "absolute tolerance of Jacobian comparisons (default 1e-10)",
    "eps": "level in (0, 1) below which a gradient has vanished / memory ends (default 0.01)",
    "max_norm": "largest Jacobian-product norm assert_gradients_do_not_explode accepts (default 100)",
    "isometry_tol": "assert_near_isometry accepts singular values in [1/(1+tol), 1+tol] (default 0.1)",
    "seed": "seed of the rnnprobe fixtures and of default inputs (default 0)",
}

_SESSION_KEY = pytest.StashKey[dict]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rnnprobe", "rnnprobe gradient and memory assertions (rnnprobe.testing)")
    for name in OPTIONS:
        group.addoption(f"--rnnprobe-{name.replace('_', '-')}", dest=f"rnnprobe_{name}", default=None,
                        metavar="INT" if name == "seed" else "FLOAT", help=_HELP[name])
        parser.addini(f"rnnprobe_{name}", _HELP[name], default=None)


def _convert(name: str, text, where: str):
    try:
        return int(text) if name == "seed" else float(text)
    except (TypeError, ValueError):
        kind = "an integer" if name == "seed" else "a number"
        raise pytest.UsageError(f"{where} must be {kind}; got {text!r}") from None


def _validate(overrides: dict, where: str, error=pytest.UsageError) -> dict:
    """Check values with rnnprobe.testing's own rules; ``error`` reports a bad one."""
    if not overrides:
        return {}
    from rnnprobe.errors import InvalidArgument
    from rnnprobe.testing import _validated

    try:
        return _validated(overrides)
    except InvalidArgument as problem:
        raise error(f"{where}: {problem}") from None


def _fail_test(message: str):
    """Fail the test being set up (a bad marker), with no traceback into the plugin."""
    pytest.fail(message, pytrace=False)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "rnnprobe(rtol=None, atol=None, eps=None, max_norm=None, isometry_tol=None, seed=None): "
        "set rnnprobe.testing's defaults (and the fixtures' seed) for this test",
    )
    overrides = {}
    for name in OPTIONS:
        ini = config.getini(f"rnnprobe_{name}")
        if ini not in (None, "", []):
            overrides[name] = _convert(name, ini, f"ini option rnnprobe_{name}")
    for name in OPTIONS:
        value = config.getoption(f"rnnprobe_{name}", default=None)
        if value is not None:
            overrides[name] = _convert(name, value, f"--rnnprobe-{name.replace('_', '-')}")
    config.stash[_SESSION_KEY] = _validate(overrides, "rnnprobe options")


def pytest_report_header(config: pytest.Config) -> str | None:
    overrides = config.stash.get(_SESSION_KEY, {})
    if not overrides:
        return None
    return "rnnprobe defaults: " + ", ".join(f"{k}={v!r}" for k, v in overrides.items())


def _overrides(request: pytest.FixtureRequest) -> dict:
    overrides = dict(request.config.stash.get(_SESSION_KEY, {}))
    markers = list(request.node.iter_markers("rnnprobe"))       # closest first
    for marker in reversed(markers):
        if marker.args:
            _fail_test(f"@pytest.mark.rnnprobe takes keyword arguments only ({', '.join(OPTIONS)}); "
                       f"got positional {marker.args!r}")
        overrides.update(_validate(dict(marker.kwargs), "@pytest.mark.rnnprobe", error=_fail_test))
    return overrides


@pytest.fixture(autouse=True)
def _rnnprobe_apply_defaults(request: pytest.FixtureRequest):
    """Apply the options and the marker to rnnprobe.testing for the duration of each test."""
    overrides = _overrides(request)
    if not overrides:
        yield None
        return
    from rnnprobe.testing import override_defaults

    with override_defaults(**overrides) as defaults:
        yield defaults


@pytest.fixture
def rnnprobe_defaults(_rnnprobe_apply_defaults):
    """The :class:`rnnprobe.testing.Defaults` in force for this test."""
    from rnnprobe.testing import get_defaults

    return get_defaults()


@pytest.fixture
def rnnprobe_seed(rnnprobe_defaults):
    """The seed in force (marker > option > ini > 0); torch's global RNG is seeded with it for the test."""
    import torch

    seed = rnnprobe_defaults.seed
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield seed


@pytest.fixture
def rnnprobe_model(rnnprobe_seed):
    """Factory of seeded rnnprobe models: ``rnnprobe_model(name, hidden_size=8, input_size=1, **options)``."""
    import rnnprobe

    def make(name: str = "lstm", hidden_size: int = 8, input_size: int = 1, **options):
        options.setdefault("seed", rnnprobe_seed)
        if rnnprobe.architectures[name].kind == "feedforward":
            return rnnprobe.build(name, hidden_size, **options)
        return rnnprobe.build(name, hidden_size, input_size, **options)

    return make


@pytest.fixture
def rnnprobe_torch_rnn(rnnprobe_seed):
    """Factory of seeded torch modules: ``rnnprobe_torch_rnn(kind, input_size=1, hidden_size=8, **kwargs)``."""
    from rnnprobe.strategies import seeded_torch_rnn

    def make(kind: str = "lstm", input_size: int = 1, hidden_size: int = 8, **kwargs):
        kwargs.setdefault("seed", rnnprobe_seed)
        return seeded_torch_rnn(kind, input_size, hidden_size, **kwargs)

    return make


@pytest.fixture
def rnnprobe_inputs(rnnprobe_seed):
    """Factory of seeded inputs that fit a model: ``rnnprobe_inputs(model, length=50, batch=None, scale=1.0)``."""
    from rnnprobe.strategies import _model_input_size, seeded_network_input, seeded_sequence

    def make(model, length: int = 50, batch: int | None = None, scale: float = 1.0):
        kind, size = _model_input_size(model)
        param = next(iter(model.parameters()), None)
        dtype = param.dtype if param is not None and param.is_floating_point() else None
        kwargs = dict(batch=batch, scale=scale, seed=rnnprobe_seed) | ({"dtype": dtype} if dtype else {})
        if kind == "feedforward":
            return seeded_network_input(size, **kwargs)
        return seeded_sequence(length, size, **kwargs)

    return make
