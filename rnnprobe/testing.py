"""Assertions about gradients and memory, for your own test suite.

Each ``assert_*`` function records a forward pass of your model on your inputs
(:func:`rnnprobe.record`; ``torch.nn.RNN``/``GRU``/``LSTM`` modules are adapted
on the fly, layer 0 — pass ``rnnprobe.adapt(module, layer=k)`` for another
layer), measures one quantity with rnnprobe's probes, and raises an
``AssertionError`` whose message says what was measured, the threshold, the lag
where it failed, the spectral norm of the recurrent weights and a one-line hint.
A recorded :class:`rnnprobe.Trajectory` may be passed in place of
``model, inputs``.

The quantity
------------
For a sequence of length T with states s_0 … s_T, and a lag k = 1 … T:

* ``G(k) = ‖∂s_T/∂s_{T−k}‖₂``, the spectral norm of the Jacobian product (how
  much a perturbation of the state k steps back can move the last state; it
  bounds the gradient of *every* loss of s_T: ``‖∂L/∂s_{T−k}‖ ≤ ‖∂L/∂s_T‖·G(k)``);
* with your loss given — ``batch_loss=`` (``h_T (B, n) -> (B,)``, the training
  loss per sequence), ``loss_over_steps=`` (every step's hidden states ->
  ``(B,)``) or ``loss=`` (``h_T (n,) -> scalar``, per sequence); see
  :mod:`rnnprobe.losses` — the gradient of that loss relative to its size at
  the last step, ``ĝ(k) = ‖∂L/∂s_{T−k}‖ / ‖∂L/∂s_T‖`` (≤ G(k) for a loss of
  the last state).

A failure's headline names the criterion that fired; where memory is too
short, the hint is :func:`rnnprobe.diagnose`'s cause and remedy.

Batched inputs ``(T, B, d)``: the property must hold for every sequence; the
message reports the first one that fails.

Defaults
--------
Thresholds not passed explicitly come from :func:`get_defaults`, which the
pytest plugin (``--rnnprobe-eps``, ``@pytest.mark.rnnprobe(eps=...)``) and
:func:`override_defaults` set: ``rtol``, ``atol`` (Jacobian comparisons and the
slack of bounds), ``eps`` (the level below which a gradient has vanished; the
memory-length threshold of :func:`rnnprobe.memory_length`), ``max_norm``
(exploding), ``isometry_tol`` and ``seed`` (default inputs).

Examples
--------
>>> import torch, rnnprobe
>>> from rnnprobe.testing import assert_gradients_vanish
>>> fading = rnnprobe.build("vanilla-linear", hidden_size=4, init="orthogonal", gain=0.5, seed=0)
>>> assert_gradients_vanish(fading, torch.zeros(30, 1), within=7)        # G(k) = 0.5**k
>>> keeping = rnnprobe.build("vanilla-linear", hidden_size=4, init="orthogonal", gain=1.0, seed=0)
>>> assert_gradients_vanish(keeping, torch.zeros(30, 1), within=7)
Traceback (most recent call last):
    ...
AssertionError: gradients do not vanish within 7 steps (criterion within): G(k) = 1 >= eps = 0.01 at lag k = 7 (24 of 24 lags k >= 7 fail)
  G(k) = ‖∂s_T/∂s_{T−k}‖₂ at lags k = 1, 2, 5, 7, 10, 20, 30: 1, 1, 1, 1, 1, 1, 1
  fitted decay rate: 0 per step (e-folding time: inf steps)
  model: vanilla-linear, state size 4; σ_max(W_h) = 1, spectral radius ρ(W_h) = 1; γ = sup|σ′| = 1
  hint: σ_max(W_h)·γ = 1 >= 1, so nothing forces gradients to vanish (Pascanu et al. 2013): a gain below 1/γ = 1 makes every step contract
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import math
import numbers
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import torch
from torch import nn

from rnnprobe._measured import require_finite_measure
from rnnprobe._validation import check_choice, check_int, check_real, nearest
from rnnprobe.errors import InvalidArgument
from rnnprobe.diagnosis import Diagnosis, diagnose_trajectory
from rnnprobe.diagnosis import _fmt  # numbers in messages: 3 significant digits, nan/inf spelled out
from rnnprobe.gradients import gradient_bounds, gradient_norms
from rnnprobe.linalg import log_norm
from rnnprobe.losses import loss_form, loss_gradient
from rnnprobe.lyapunov import trajectory_lyapunov_spectrum
from rnnprobe.memory import MemoryLength, efold_fit, summarise_memory
from rnnprobe.models.adapters import CellAdapter, LayerAdapter
from rnnprobe.models.base import StepModel
from rnnprobe.models.gated import GRU, LSTM, TorchGRU
from rnnprobe.products import jacobian_norms, jacobian_singular_values
from rnnprobe.spectrum import WeightSpectrum, weight_spectrum
from rnnprobe.trajectory import Trajectory, record

__all__ = [
    "Defaults",
    "get_defaults",
    "set_defaults",
    "override_defaults",
    "MEMORY_MEASURES",
    "assert_gradients_vanish",
    "assert_gradients_do_not_explode",
    "assert_memory_at_least",
    "assert_memory_at_most",
    "assert_bound_holds",
    "assert_near_isometry",
    "assert_jacobian_close",
    "assert_lyapunov_exponent_below",
    "assert_pascanu_vanishing",
]

#: Forms of memory length :func:`assert_memory_at_least` can check (fields of :class:`rnnprobe.MemoryLength`).
MEMORY_MEASURES = ("threshold", "efold", "lyapunov_time")


# =========================================================================== defaults
@dataclasses.dataclass(frozen=True)
class Defaults:
    """Tolerances and thresholds the assertions use when not given explicitly.

    Attributes
    ----------
    rtol, atol : float
        Relative and absolute tolerance of :func:`assert_jacobian_close`
        (``|a − b| ≤ atol + rtol·|b|``); ``rtol`` is also the relative slack of
        :func:`assert_bound_holds`. Defaults 1e-7 and 1e-10 (float64 probes).
    eps : float
        In (0, 1): a gradient has vanished at lag k when its measure is below
        eps; the threshold memory length is the largest lag where it is not
        (as :func:`rnnprobe.memory_length`). Default 0.01.
    max_norm : float
        > 0: :func:`assert_gradients_do_not_explode` fails above it. Default 100.
    isometry_tol : float
        >= 0: :func:`assert_near_isometry` accepts singular values in
        ``[1/(1+tol), 1+tol]``. Default 0.1.
    seed : int
        >= 0: seed of the default inputs of the memory assertions. Default 0.
    """

    rtol: float = 1e-7
    atol: float = 1e-10
    eps: float = 1e-2
    max_norm: float = 100.0
    isometry_tol: float = 0.1
    seed: int = 0


_FIELDS = tuple(f.name for f in dataclasses.fields(Defaults))
_BASE = Defaults()
_OVERRIDE: contextvars.ContextVar[Defaults | None] = contextvars.ContextVar("rnnprobe_testing_defaults", default=None)


def _check_default(name: str, value):
    if name == "seed":
        return check_int("seed", value, min_value=0)
    if name == "eps":
        return check_real("eps", value, low=0.0, high=1.0, low_open=True, high_open=True,
                          hint="eps is a level of the Jacobian norm G; e.g. 0.01")
    if name == "max_norm":
        return check_real("max_norm", value, low=0.0, low_open=True)
    return check_real(name, value, low=0.0)


def _validated(overrides: dict) -> dict:
    out = {}
    for name, value in overrides.items():
        if name not in _FIELDS:
            hint = nearest(name, _FIELDS)
            raise InvalidArgument(f"unknown default {name!r}; allowed: {', '.join(_FIELDS)}; got {name}={value!r}"
                                  + (f" (did you mean {hint!r}?)" if hint else ""))
        out[name] = _check_default(name, value)
    return out


def get_defaults() -> Defaults:
    """The defaults in force here (an :func:`override_defaults` block, else the process-wide ones).

    Examples
    --------
    >>> get_defaults().eps
    0.01
    """
    current = _OVERRIDE.get()
    return _BASE if current is None else current


def set_defaults(**overrides) -> Defaults:
    """Change the process-wide defaults (e.g. from a ``conftest.py``); returns the previous ones.

    Values set inside an :func:`override_defaults` block win over these.

    Raises
    ------
    InvalidArgument
        For an unknown name or a value out of range.
    """
    global _BASE
    previous = _BASE
    _BASE = dataclasses.replace(_BASE, **_validated(overrides))
    return previous


@contextlib.contextmanager
def override_defaults(**overrides) -> Iterator[Defaults]:
    """Use other defaults inside a ``with`` block (what the pytest marker does).

    Examples
    --------
    >>> with override_defaults(eps=1e-3, rtol=1e-5) as d:
    ...     d.eps, get_defaults().rtol
    (0.001, 1e-05)
    >>> get_defaults().eps
    0.01
    """
    token = _OVERRIDE.set(dataclasses.replace(get_defaults(), **_validated(overrides)))
    try:
        yield _OVERRIDE.get()
    finally:
        _OVERRIDE.reset(token)


def _default(name: str, value):
    return getattr(get_defaults(), name) if value is None else _check_default(name, value)


# =========================================================================== formatting
def _fmt_log(log_value: float) -> str:
    """A positive quantity given by its natural log, readable at any magnitude."""
    log_value = float(log_value)
    if log_value == -math.inf:
        return "0"
    if abs(log_value) < 700:
        return _fmt(math.exp(log_value))
    return f"exp({log_value:.4g})"


def _sample_lags(T: int, focus: Iterable[int] = ()) -> list[int]:
    picks = {1, T, *[k for k in focus if 1 <= k <= T]}
    for k in (2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000):
        if k < T:
            picks.add(k)
    return sorted(picks)


class _Context:
    """Everything a failure message reports about one trajectory."""

    def __init__(self, traj: Trajectory):
        self.traj = traj
        self.model = traj.model
        self.T = traj.length
        self.B = traj.batch_size
        self.unit = "layers" if self.model.kind == "feedforward" else "steps"
        self._spectrum = None

    @property
    def spectrum(self) -> WeightSpectrum | None:
        if self._spectrum is None:
            try:
                self._spectrum = weight_spectrum(self.model)
            except (NotImplementedError, InvalidArgument):  # a cell without recurrent weights
                self._spectrum = WeightSpectrum()
        return self._spectrum

    def diagnosis(self, b: int) -> Diagnosis | None:
        """:func:`rnnprobe.diagnose` of sequence ``b`` (None where it cannot be made: the hint then falls back)."""
        try:
            return diagnose_trajectory(self.traj, sequence=b)
        except (InvalidArgument, NotImplementedError, RuntimeError):
            return None

    @property
    def family(self) -> str:
        """Which hints apply: ``'lecture'`` for a ``D·W_h`` step with a known γ (σ_max(W_h)·γ decides),
        ``'lstm'``/``'gru'`` for gated models with those gates, else the model's declared family."""
        if self.model.lecture_form and self.spectrum.gamma is not None:
            return "lecture"
        family = self.model.family
        if family == "gated":
            return _gate_kind(self.model) or family
        return family

    @property
    def torch_module(self) -> bool:
        """Whether the model wraps a user's torch module (hints then name its parameters)."""
        return isinstance(self.model, (LayerAdapter, CellAdapter))

    @property
    def sigma_gamma(self) -> float | None:
        spec = self.spectrum
        return None if spec.gamma is None else spec.sigma_max * spec.gamma

    def weights_line(self) -> str:
        model, spec = self.model, self.spectrum
        source = getattr(model, "source", None)
        head = f"model: {model.name}" + (f" ({source})" if source else "") + f", state size {model.state_size}"
        blocks = spec.blocks
        if not blocks:
            return head + "; no recurrent weight matrices found (σ_max(W_h) unknown)"
        if list(blocks) == ["W_h"]:
            b = blocks["W_h"]
            text = f"σ_max(W_h) = {_fmt(b.spectral_norm)}, spectral radius ρ(W_h) = {_fmt(b.spectral_radius)}"
        else:
            names = list(blocks)
            worst = spec.largest_block
            over = ", ".join(names) if len(names) <= 4 else f"{names[0]}…{names[-1]} ({len(names)} matrices)"
            text = f"σ_max(W_h) = {_fmt(spec.sigma_max)} (largest over {over}: {worst})"
        if spec.gamma is not None:
            text += f"; γ = sup|σ′| = {_fmt(spec.gamma)}"
        return f"{head}; {text}"

    def profile_line(self, label: str, definition: str, log_values: torch.Tensor, focus=()) -> str:
        lags = _sample_lags(self.T, focus)
        values = ", ".join(_fmt_log(log_values[k - 1]) for k in lags)
        return f"{label} = {definition} at lags k = {', '.join(map(str, lags))}: {values}"

    def where(self, b: int, failing: list[int]) -> str | None:
        """Which sequence failed, for batched trajectories."""
        if not self.traj.batched:
            return None
        others = [i for i in failing if i != b]
        text = f"sequence {b} of batch {self.B} (T = {self.T})"
        if others:
            shown = ", ".join(map(str, others[:8])) + (" …" if len(others) > 8 else "")
            text += f"; also fails for sequence{'s' if len(others) > 1 else ''} {shown}"
        return text


def _gate_kind(model: StepModel) -> str | None:
    """``'lstm'`` or ``'gru'`` by the class of the model (or of the torch module it adapts), else None."""
    core = model.cell if isinstance(model, LayerAdapter) else model.inner if isinstance(model, CellAdapter) else model
    if isinstance(core, (LSTM, nn.LSTMCell)):
        return "lstm"
    if isinstance(core, (GRU, TorchGRU, nn.GRUCell)):
        return "gru"
    return None


def _argmax(values: torch.Tensor, tol: float = 1e-9) -> int:
    """Index of the largest value; among values within ``tol`` of it (rounding ties), the first."""
    values = torch.nan_to_num(values, nan=math.inf)
    top = values.max()
    near = values >= top - tol if torch.isfinite(top) else values == top
    return int(torch.nonzero(near)[0])


def _first_failure(batch: int, problem: Callable[[int], object]) -> tuple[int, object, list[int]] | None:
    """Check every sequence b of a batch: ``problem(b)`` is falsy when it passes, else what went wrong.

    Returns ``(b, problem(b), failing)`` for the first failing sequence, ``failing`` listing every failing
    one (the message names the others, :meth:`_Context.where`); None when all pass.
    """
    problems = {}
    for b in range(batch):
        found = problem(b)
        if found:
            problems[b] = found
    if not problems:
        return None
    b = next(iter(problems))
    return b, problems[b], list(problems)


def _raise(headline: str, lines: list[str | None], hint: str | None) -> None:
    body = [headline] + ["  " + line for line in lines if line]
    if hint:
        body.append("  hint: " + hint)
    raise AssertionError("\n".join(body))


# =========================================================================== trajectories and measures
def _trajectory(model, inputs, h0) -> Trajectory:
    if isinstance(model, Trajectory):
        if inputs is not None or h0 is not None:
            raise InvalidArgument("inputs and h0 must be None when a Trajectory is passed in place of the model; "
                                  f"got inputs={type(inputs).__name__}, h0={type(h0).__name__}")
        return model
    if inputs is None:
        raise InvalidArgument("inputs must be a tensor (T, d) or (T, B, d) for a model (or pass a recorded "
                              "rnnprobe.Trajectory instead of the model); got None")
    return record(model, inputs, h0)


def _default_inputs(model, length: int, seed: int) -> torch.Tensor:
    from rnnprobe.trajectory import as_model

    model = as_model(model)
    generator = torch.Generator().manual_seed(seed)
    if model.kind == "feedforward":
        return torch.randn(model.width, generator=generator, dtype=torch.float64)
    return torch.randn(length, model.input_size, generator=generator, dtype=torch.float64)


def _by_lag(traj: Trajectory, per_start: torch.Tensor) -> torch.Tensor:
    """``(B, T)`` values indexed by lag k−1 (ascending), from per-start-step output."""
    values = per_start if traj.batched else per_start.unsqueeze(0)
    return require_finite_measure("log value", values.flip(-1).detach().to(torch.float64).cpu())


def _log_G(traj: Trajectory) -> torch.Tensor:
    """log G(k), ``(B, T)`` by ascending lag."""
    return _by_lag(traj, jacobian_norms(traj, log=True))


def _memory_lengths(traj: Trajectory, eps: float, log_G: torch.Tensor) -> list[MemoryLength]:
    """:func:`rnnprobe.memory_length` per sequence, from an already computed log G(k) (by ascending lag)."""
    lam = trajectory_lyapunov_spectrum(traj, 1)
    lam = require_finite_measure("λ₁", (lam if traj.batched else lam.unsqueeze(0))[:, 0].to(torch.float64).cpu(),
                                 by_lag=False)
    lags = np.arange(1, traj.length + 1)
    return [summarise_memory(lags, log_G[b].numpy(), float(lam[b]), eps) for b in range(traj.batch_size)]


def _measure(traj: Trajectory, losses: dict) -> tuple[str, str, torch.Tensor]:
    """(label, definition, log values (B, T) by ascending lag) of G(k), or of ĝ(k) for a loss.

    ``losses``: the ``loss``/``batch_loss``/``loss_over_steps`` keywords (at most one not None).
    """
    chosen = loss_form(**losses)
    if chosen is None:
        return "G(k)", "‖∂s_T/∂s_{T−k}‖₂", _log_G(traj)
    lg = loss_gradient(traj, **losses)
    log_g = _by_lag(traj, gradient_norms(traj, **losses, log=True))
    log_final = log_norm(lg.final, dim=-1).to(torch.float64).cpu()
    where = " (L = Σ_t ℓ_t over every step)" if chosen[0] == "loss_over_steps" else ""
    return "ĝ(k)", "‖∂L/∂s_{T−k}‖ / ‖∂L/∂s_T‖" + where, log_g - log_final[:, None]


def _fit(log_values: torch.Tensor) -> tuple[float, float, float]:
    """(slope, low, high) of the Theil–Sen fit of log values on lag 1..T."""
    lags = np.arange(1, log_values.shape[-1] + 1)
    slope, _, low, high = efold_fit(lags, log_values.numpy())
    return slope, low, high


# fitted rates (per step) within this of 0 are no trend
_FLAT_RATE = 1e-12


def _fmt_rate(rate: float) -> str:
    """A rate per step; float noise below 1e-12 shows as 0."""
    return "0" if abs(rate) < 1e-12 else _fmt(rate)


def _rate_line(log_values: torch.Tensor) -> str:
    slope, _, _ = _fit(log_values)
    decay = -slope
    efold = 1.0 / decay if decay > 1e-12 else math.inf
    return f"fitted decay rate: {_fmt_rate(decay)} per step (e-folding time: {_fmt(efold)} steps)"


# =========================================================================== hints
def _hint_explode(ctx: _Context, max_norm: float) -> str:
    spec, family = ctx.spectrum, ctx.family
    if family == "lecture":
        sg = ctx.sigma_gamma
        if sg > 1:
            return (f"σ_max(W_h) = {_fmt(spec.sigma_max)} > 1/γ = {_fmt(1 / spec.gamma)}: consider orthogonal init "
                    f"with gain <= {_fmt(1 / spec.gamma)}, a smaller gain, or gradient clipping (torch.nn.utils.clip_grad_norm_)")
        return (f"σ_max(W_h)·γ = {_fmt(sg)} <= 1 already bounds G(k) <= 1 for every lag: "
                f"max_norm = {_fmt(max_norm)} < 1 cannot be met")
    if family == "residual":
        return ("the residual step I + α·D·W_h can stretch by up to 1 + α·σ_max(W_h) per step: "
                "lower alpha or the gain, or clip gradients (torch.nn.utils.clip_grad_norm_)")
    if family in ("lstm", "gru", "gated"):
        return (f"the recurrent gate matrices (σ_max = {_fmt(spec.sigma_max)}) stretch the state: lower their gain, "
                "or clip gradients (torch.nn.utils.clip_grad_norm_)")
    return "consider a smaller recurrent gain, orthogonal init, or gradient clipping (torch.nn.utils.clip_grad_norm_)"


def _hint_persist(ctx: _Context, eps: float, within: int | None) -> str:
    """Gradients (or memory) last longer than wanted."""
    spec, family = ctx.spectrum, ctx.family
    if family == "lecture":
        sg = ctx.sigma_gamma
        if sg >= 1:
            return (f"σ_max(W_h)·γ = {_fmt(sg)} >= 1, so nothing forces gradients to vanish (Pascanu et al. 2013): "
                    f"a gain below 1/γ = {_fmt(1 / spec.gamma)} makes every step contract")
        if sg == 0:
            return "W_h is zero: every lag k >= 1 has G(k) = 0"
        guaranteed = math.ceil(math.log(eps) / math.log(sg))
        return (f"σ_max(W_h)·γ = {_fmt(sg)} < 1 guarantees G(k) <= {_fmt(sg)}^k < eps only from lag {guaranteed}: "
                + (f"allow within >= {guaranteed}, " if within is not None else "")
                + "or lower the gain")
    if family == "lstm":
        return "the forget gate keeps the cell state: a lower forget-gate bias (forget_bias) shortens the memory"
    if family == "gru":
        return "the update gate keeps the state: a lower update-gate bias (update_bias) shortens the memory"
    if family == "residual":
        return "the identity path of the residual step I + α·D·W_h keeps gradients alive: lower alpha"
    if family == "diagonal":
        return ("the per-unit factors of the diagonal recurrence (the diagonal of its step Jacobian) near 1 keep "
                "the state: move the largest of them further below 1")
    return "lower the recurrent gain if the model should forget"


def _hint_short(ctx: _Context, steps: int, eps: float, b: int = 0) -> str:
    """Gradients (or memory) die out sooner than wanted: the diagnosis's cause and remedy where it names one."""
    diagnosis = ctx.diagnosis(b)
    if diagnosis is not None and diagnosis.dominant is not None and diagnosis.rate < 0:
        if diagnosis.kind == "diagonal":
            return f"{_hint_diagonal(eps, steps)}; here {diagnosis.hint}"
        if diagnosis.kind == "lstm" and diagnosis.remedy.endswith("or chrono init"):
            return diagnosis.hint + (f", b_f = log U(1, T_max − 1) with T_max >= {steps}" if ctx.torch_module else
                                     f" with T_max >= {steps} (rnnprobe.build('lstm', chrono={steps}))")
        return diagnosis.hint
    spec, family = ctx.spectrum, ctx.family
    if family == "lecture":
        sg = ctx.sigma_gamma
        if 0 < sg < 1:
            reach = math.floor(math.log(eps) / math.log(sg))
            return (f"σ_max(W_h)·γ = {_fmt(sg)} < 1 forces G(k) <= {_fmt(sg)}^k, below eps = {_fmt(eps)} beyond lag "
                    f"{reach}: use orthogonal init with gain near 1/γ = {_fmt(1 / spec.gamma)}")
        return ("G(k) decays through the σ′ factors (saturated or dead units): try orthogonal init with gain near "
                f"1/γ = {_fmt(1 / spec.gamma) if spec.gamma else '1'}, smaller inputs or biases, or a gated architecture")
    if family == "lstm":
        if ctx.torch_module:
            return ("raise the forget-gate bias b_f (about 1 + e^b_f steps of memory at the origin): in torch.nn.LSTM, "
                    "bias_ih_l0[n:2n] + bias_hh_l0[n:2n] with n = hidden_size; or chrono init, "
                    f"b_f = log U(1, T_max − 1) with T_max >= {steps}")
        return ("raise the forget-gate bias (forget_bias: about 1 + e^b steps of memory at the origin), "
                f"or use chrono init with T_max >= {steps} (rnnprobe.build('lstm', chrono={steps}))")
    if family == "gru":
        if ctx.torch_module:
            return ("raise the update-gate bias (z near 1 keeps the state): in torch.nn.GRU, "
                    "bias_ih_l0[n:2n] + bias_hh_l0[n:2n] with n = hidden_size")
        return "raise the update-gate bias (update_bias: z near 1 keeps the state)"
    if family == "residual":
        return "keep the residual step I + α·D·W_h near the identity: a smaller alpha or gain lets gradients pass the skip path"
    if family == "diagonal":
        return _hint_diagonal(eps, steps)
    return "try orthogonal init with gain near 1, or a gated architecture (LSTM with forget_bias >= 1)"


def _hint_diagonal(eps: float, steps: int) -> str:
    return ("the per-unit factors λ_i of the diagonal recurrence (the diagonal of its step Jacobian) set how long "
            f"it remembers: G(k) ≈ max|λ_i|^k stays >= eps = {_fmt(eps)} up to lag {steps} only if max|λ_i| >= "
            f"eps^(1/{steps}) = {_fmt(eps ** (1 / steps))}")


# =========================================================================== gradient assertions
def assert_gradients_vanish(model, inputs=None, *, within: int | None = None, rate: float | None = None,
                            eps: float | None = None, loss: Callable | None = None, batch_loss: Callable | None = None,
                            loss_over_steps: Callable | None = None, h0=None) -> None:
    """Assert that gradients vanish: small beyond a lag, or decaying at least at a rate.

    Passes when, for every sequence,

    * ``within`` given: the measure (``G(k)``, or ``ĝ(k)`` with ``loss``) is
      below ``eps`` at *every* lag ``k >= within`` (equivalently, the threshold
      memory length of :func:`rnnprobe.memory_length` is < ``within``);
    * ``rate`` given: the decay rate, minus the slope of a Theil–Sen fit of
      ``log G(k)`` against k over k = 1 … T, is at least ``rate`` per step
      (G(k) ≈ C·e^(−rate·k));
    * neither given: ``within = T`` — the influence of the first state has
      fallen below ``eps`` by the end of the sequence.

    Both ``within`` and ``rate`` may be given; both must then hold.

    Parameters
    ----------
    model : StepModel, torch.nn.RNN/GRU/LSTM, cell, or Trajectory
    inputs : torch.Tensor
        ``(T, d)`` or ``(T, B, d)``, time-major (None when ``model`` is a Trajectory).
    within : int, optional
        Lag, 1 <= within <= T.
    rate : float, optional
        Minimum decay rate (natural log per step), > 0; needs T >= 2.
    eps : float, optional
        Level in (0, 1); default :attr:`Defaults.eps` (0.01).
    loss, batch_loss, loss_over_steps : callable, optional
        Your loss (at most one; see :mod:`rnnprobe.losses`): ``loss`` maps one
        sequence's ``h_T`` ``(n,)`` to a scalar, ``batch_loss`` the batch's ``h_T``
        ``(B, n)`` to per-sequence losses ``(B,)`` (as in training, with your
        targets in batch order), ``loss_over_steps`` every step's hidden states
        to ``(B,)``. The assertion then measures that loss's relative gradient
        ĝ(k) instead of G(k).
    h0 : torch.Tensor, optional
        Initial state.

    Raises
    ------
    AssertionError
        ``gradients do not vanish within N steps (criterion within): G(k) = … >=
        eps = … at lag k = …`` (the lag with the largest G among k >= within) or
        ``gradients decay too slowly (criterion rate): fitted decay rate … < rate
        = …``, with the G profile, the fitted rate, σ_max(W_h) and a hint.
    InvalidArgument
        For arguments out of range (e.g. within > T).
    """
    traj = _trajectory(model, inputs, h0)
    ctx = _Context(traj)
    T = ctx.T
    eps = _default("eps", eps)
    if within is not None:
        within = check_int("within", within, min_value=1)
        if within > T:
            raise InvalidArgument(f"within must be <= T = {T}, the number of {ctx.unit} (longer inputs show longer "
                                  f"lags); got {within!r}")
    if rate is not None:
        rate = check_real("rate", rate, low=0.0, low_open=True, hint="a decay rate per step, e.g. 0.1")
        if T < 2:
            raise InvalidArgument(f"rate needs a sequence of T >= 2 {ctx.unit} to fit; got T = {T}")
    if within is None and rate is None:
        within = T
    label, definition, log_q = _measure(traj, dict(loss=loss, batch_loss=batch_loss, loss_over_steps=loss_over_steps))
    log_eps = math.log(eps)

    def problems_of(b):
        problems = []
        if within is not None:
            tail = log_q[b, within - 1 :]
            bad = tail >= log_eps
            if bool(bad.any()):
                i = _argmax(tail)
                lag = within + i
                problems.append((f"gradients do not vanish within {within} {ctx.unit} (criterion within): {label} = "
                                 f"{_fmt_log(tail[i])} >= eps = {_fmt(eps)} at lag k = {lag} "
                                 f"({int(bad.sum())} of {T - within + 1} lags k >= {within} fail)", lag))
        if rate is not None:
            slope, low, high = _fit(log_q[b])
            if -slope < rate:
                problems.append((f"gradients decay too slowly (criterion rate): fitted decay rate {_fmt_rate(-slope)} per step < "
                                 f"rate = {_fmt(rate)} (Theil–Sen fit of log {label} on k = 1…{T}; 95% CI of the "
                                 f"rate [{_fmt_rate(-high)}, {_fmt_rate(-low)}]; {label[0]}({T}) = "
                                 f"{_fmt_log(log_q[b, -1])})", T))
        return problems

    failure = _first_failure(ctx.B, problems_of)
    if failure is None:
        return
    b, problems, failing = failure
    focus = [lag for _, lag in problems] + ([within] if within else [])
    _raise("\n".join(p for p, _ in problems).replace("\n", "\n  "),
           [ctx.where(b, failing), ctx.profile_line(label, definition, log_q[b], focus), _rate_line(log_q[b]),
            ctx.weights_line()],
           _hint_persist(ctx, eps, within))


def assert_gradients_do_not_explode(model, inputs=None, *, max_norm: float | None = None,
                                    max_rate: float | None = None, loss: Callable | None = None,
                                    batch_loss: Callable | None = None, loss_over_steps: Callable | None = None,
                                    h0=None) -> None:
    """Assert that gradients do not explode: bounded at every lag, and not growing too fast.

    Passes when, for every sequence, the measure (``G(k)``, or ``ĝ(k)`` with
    ``loss``) is at most ``max_norm`` at every lag k = 1 … T, and, when
    ``max_rate`` is given, the slope of a Theil–Sen fit of its log against k
    (the growth rate per step) is at most ``max_rate``.

    Parameters
    ----------
    model, inputs, loss, batch_loss, loss_over_steps, h0
        As for :func:`assert_gradients_vanish`.
    max_norm : float, optional
        > 0; default :attr:`Defaults.max_norm` (100).
    max_rate : float, optional
        Largest allowed growth rate (natural log per step; 0: no growth); needs T >= 2.

    Raises
    ------
    AssertionError
        The headline names the criterion that fired. ``max_norm``: ``gradients
        explode (criterion max_norm = …): G(k) = … > max_norm at lag k = …``
        (the lag with the largest G, and the first lag above max_norm) when the
        fitted growth rate is positive, ``gradients exceed max_norm without
        growing (criterion max_norm = …): …`` when it is not (G is large at
        short lags, not exploding); ``max_rate``: ``gradients grow too fast
        (criterion max_rate = …): fitted growth rate … per step > max_rate``.
        With the profile, the fitted rate, σ_max(W_h) and a hint (e.g.
        orthogonal init or gradient clipping).

    Examples
    --------
    >>> import torch, rnnprobe
    >>> model = rnnprobe.build("lstm", hidden_size=8, seed=0)
    >>> assert_gradients_do_not_explode(model, torch.randn(50, 1), max_norm=10)
    """
    traj = _trajectory(model, inputs, h0)
    ctx = _Context(traj)
    T = ctx.T
    max_norm = _default("max_norm", max_norm)
    if max_rate is not None:
        max_rate = check_real("max_rate", max_rate, hint="a growth rate per step (natural log), e.g. 0.0")
        if T < 2:
            raise InvalidArgument(f"max_rate needs a sequence of T >= 2 {ctx.unit} to fit; got T = {T}")
    label, definition, log_q = _measure(traj, dict(loss=loss, batch_loss=batch_loss, loss_over_steps=loss_over_steps))
    log_max = math.log(max_norm)

    def problems_of(b):
        problems = []
        bad = log_q[b] > log_max
        slope, low, high = _fit(log_q[b]) if T >= 2 else (0.0, -math.inf, math.inf)
        if bool(bad.any()):
            worst = _argmax(log_q[b]) + 1
            first_lag = int(torch.nonzero(bad)[0]) + 1
            what = ("gradients explode" if slope > _FLAT_RATE else "gradients exceed max_norm without growing")
            problems.append((f"{what} (criterion max_norm = {_fmt(max_norm)}): {label} = "
                             f"{_fmt_log(log_q[b, worst - 1])} > max_norm at lag k = {worst} (first above max_norm at "
                             f"lag {first_lag}; {int(bad.sum())} of {T} lags fail)", worst))
        if max_rate is not None and slope > max_rate:
            problems.append((f"gradients grow too fast (criterion max_rate = {_fmt(max_rate)}): fitted growth rate "
                             f"{_fmt_rate(slope)} per step > max_rate (Theil–Sen fit of log {label} on k = 1…{T}; "
                             f"95% CI [{_fmt(low)}, {_fmt(high)}])", T))
        return problems

    failure = _first_failure(ctx.B, problems_of)
    if failure is None:
        return
    b, problems, failing = failure
    slope = _fit(log_q[b])[0] if T >= 2 else 0.0
    rate_note = ""
    if slope <= _FLAT_RATE:
        rate_note = f" (not positive: {label} is above max_norm without growing with the lag)"
    elif max_rate is not None and slope <= max_rate:
        rate_note = f" (within max_rate = {_fmt(max_rate)}: only max_norm failed)"
    hint = (_hint_explode(ctx, max_norm) if loss_over_steps is None else
            "a loss with a term at every step adds the gradients of every later step at s_{T−k} (up to Σ_{j<=k} G(j) "
            "times the largest term), so ĝ(k) can exceed G(k) and 1 where nothing explodes: give max_norm of that order, "
            "or measure G (no loss) for explosion through the recurrence")
    _raise("\n  ".join(p for p, _ in problems),
           [ctx.where(b, failing), ctx.profile_line(label, definition, log_q[b], [lag for _, lag in problems]),
            f"fitted growth rate: {_fmt_rate(slope)} per step{rate_note}", ctx.weights_line()],
           hint)


def assert_bound_holds(model, inputs=None, bound=None, *, loss: Callable | None = None, rtol: float | None = None,
                       h0=None, seed: int = 0, batch_loss: Callable | None = None,
                       loss_over_steps: Callable | None = None) -> None:
    """Assert a gradient-norm bound at every lag: rnnprobe's chain of bounds, or your own.

    ``bound=None``: the chain of the vanishing/exploding-gradient analysis,
    ``g(k) <= ‖∂L/∂s_T‖·G(k) <= B_prod(k) <= B_W(k)`` with
    ``g(k) = ‖∂L/∂s_{T−k}‖``, ``B_prod(k) = ‖∂L/∂s_T‖·∏‖J_s‖₂`` over the last k
    steps and, for vanilla RNNs and plain MLPs, the lecture's
    ``B_W(k) = ‖∂L/∂s_T‖·‖W_h‖₂^k·∏‖D_s‖₂`` (see :func:`rnnprobe.gradient_bounds`).
    It holds for every correct step Jacobian; a violation means the model's
    ``step_jacobian`` is wrong.

    ``bound`` given: the measure (``G(k)``; the raw gradient norm
    ``g(k) = ‖∂L/∂s_{T−k}‖`` when ``loss`` is given) is at most ``bound(k)`` at
    every lag k = 1 … T.

    Every inequality is checked with relative slack ``rtol``: ``a <= b·(1 + rtol)``.

    Parameters
    ----------
    model, inputs, h0
        As for :func:`assert_gradients_vanish`.
    bound : callable, float, or sequence of T floats, optional
        ``bound(k)`` for a tensor of lags ``k = 1 … T`` (int64), returning T
        values (or a scalar), e.g. ``lambda k: 0.9 ** k``; a number for a
        constant bound; or T values for lags 1 … T in that order.
    loss, batch_loss : callable, optional
        Your loss of the last state (see :func:`assert_gradients_vanish`); default a
        fixed random unit readout (``seed``) for the chain.
    loss_over_steps : callable, optional
        Only with ``bound`` given (the chain bounds a loss of s_T): its raw gradient
        norm g(k) is checked against the bound.
    rtol : float, optional
        Default :attr:`Defaults.rtol`.
    seed : int
        Seed of the default readout.

    Raises
    ------
    AssertionError
        ``bound violated at lag k = …: G(k) = … > bound(k) = …`` (at the
        worst lag), or for the chain ``gradient bound chain violated at lag
        k = …: ‖∂L/∂s_T‖·G(k) = … > B_prod(k) = …``.

    Examples
    --------
    >>> import torch, rnnprobe
    >>> model = rnnprobe.build("vanilla-tanh", hidden_size=6, init="orthogonal", gain=0.9, seed=0)
    >>> x = torch.randn(20, 1)
    >>> assert_bound_holds(model, x)                          # rnnprobe's chain
    >>> assert_bound_holds(model, x, bound=lambda k: 0.9 ** k)  # G(k) <= (σ_max γ)^k
    """
    traj = _trajectory(model, inputs, h0)
    ctx = _Context(traj)
    T = ctx.T
    rtol = _default("rtol", rtol)
    slack = math.log1p(rtol)
    losses = dict(loss=loss, batch_loss=batch_loss, loss_over_steps=loss_over_steps)
    if bound is None:
        gb = gradient_bounds(traj, **losses, log=True, seed=seed)
        chain = [("g(k) = ‖∂L/∂s_{T−k}‖", gb.gradient), ("‖∂L/∂s_T‖·G(k)", gb.jacobian), ("B_prod(k)", gb.product)]
        if gb.weight is not None:
            chain.append(("B_W(k)", gb.weight))
        chain = [(name, _by_lag(traj, values)) for name, values in chain]
        def violation(b):          # the first link of the chain that breaks for sequence b
            for (lo_name, lo), (hi_name, hi) in zip(chain, chain[1:]):
                excess = lo[b] - hi[b]
                bad = excess > slack
                if bool(bad.any()):
                    lag = _argmax(excess) + 1
                    return lo_name, hi_name, lo[b, lag - 1], hi[b, lag - 1], lag, int(bad.sum())
            return None

        failure = _first_failure(ctx.B, violation)
        if failure is None:
            return
        b, (lo_name, hi_name, lo_v, hi_v, lag, count), failing = failure
        _raise(f"gradient bound chain violated at lag k = {lag}: {lo_name} = {_fmt_log(lo_v)} > {hi_name} = "
               f"{_fmt_log(hi_v)} (by a factor {_fmt_log(lo_v - hi_v)} > 1 + rtol = {1 + rtol:.10g}; {count} of {T} lags)",
               [ctx.where(b, failing), ctx.weights_line()],
               "these bounds hold for any correct step Jacobian: check the model's step_jacobian against autograd "
               "with assert_jacobian_close(model, 'autograd', inputs)")
        return
    lags = torch.arange(1, T + 1)
    values = _bound_values(bound, lags)
    if loss_form(**losses) is None:
        label, definition, log_q = "G(k)", "‖∂s_T/∂s_{T−k}‖₂", _log_G(traj)
    else:
        label, definition, log_q = "g(k)", "‖∂L/∂s_{T−k}‖", _by_lag(traj, gradient_norms(traj, **losses, log=True, seed=seed))
    log_bound = torch.log(values)

    def violation(b):
        excess = log_q[b] - log_bound
        bad = excess > slack
        return (_argmax(excess) + 1, int(bad.sum())) if bool(bad.any()) else None

    failure = _first_failure(ctx.B, violation)
    if failure is None:
        return
    b, (lag, count), failing = failure
    _raise(f"bound violated at lag k = {lag}: {label} = {_fmt_log(log_q[b, lag - 1])} > bound({lag}) = "
           f"{_fmt(values[lag - 1])} (by a factor {_fmt_log(log_q[b, lag - 1] - log_bound[lag - 1])}; "
           f"{count} of {T} lags violate it)",
           [ctx.where(b, failing), ctx.profile_line(label, definition, log_q[b], [lag]),
            "bound at the same lags: " + ", ".join(_fmt(values[k - 1]) for k in _sample_lags(T, [lag])),
            ctx.weights_line()],
           _hint_explode(ctx, math.inf) if ctx.family != "lecture" or (ctx.sigma_gamma or 0) > 1 else
           f"the model guarantees only G(k) <= (σ_max(W_h)·γ)^k = {_fmt(ctx.sigma_gamma)}^k: a tighter bound needs a smaller gain")


def _bound_values(bound, lags: torch.Tensor) -> torch.Tensor:
    T = lags.numel()
    if isinstance(bound, bool):
        raise InvalidArgument(f"bound must be a callable, a number or {T} values; got {bound!r}")
    if isinstance(bound, numbers.Real):
        values = torch.full((T,), float(bound), dtype=torch.float64)
    elif callable(bound):
        out = bound(lags)
        values = torch.as_tensor(out, dtype=torch.float64)
        if values.ndim == 0:
            values = values.expand(T)
        if tuple(values.shape) != (T,):
            raise InvalidArgument(f"bound(k) must return one value per lag k = 1…{T} (shape ({T},)); "
                                  f"got shape {tuple(values.shape)}")
    else:
        try:
            values = torch.as_tensor(bound, dtype=torch.float64).reshape(-1)
        except (TypeError, ValueError, RuntimeError) as error:
            raise InvalidArgument(f"bound must be a callable, a number or {T} values; got {type(bound).__name__}") from error
        if values.numel() != T:
            raise InvalidArgument(f"bound must hold one value per lag k = 1…{T} ({T} values); got {values.numel()}")
    if bool(torch.isnan(values).any()) or bool((values < 0).any()):
        raise InvalidArgument(f"bound values must be >= 0 (and not NaN); got {values.tolist()[:8]}")
    return values


# =========================================================================== memory
def _memory_trajectory(model, steps: int, inputs, h0) -> Trajectory:
    if inputs is None and not isinstance(model, Trajectory):
        inputs = _default_inputs(model, 2 * steps + 1, get_defaults().seed)
    return _trajectory(model, inputs, h0)


def _memory_value(m, measure: str) -> float:
    return float(getattr(m, measure))


_MEASURE_NAMES = {"threshold": "threshold memory length", "efold": "e-folding time",
                  "lyapunov_time": "Lyapunov time −1/λ₁"}


def _memory_check(model, steps, inputs, eps, measure, h0, at_least: bool) -> None:
    steps = check_int("steps", steps, min_value=1)
    check_choice("measure", measure, MEMORY_MEASURES)
    eps = _default("eps", eps)
    traj = _memory_trajectory(model, steps, inputs, h0)
    ctx = _Context(traj)
    T = ctx.T
    if measure == "threshold":
        need = steps if at_least else steps + 1
        if T < need:
            raise InvalidArgument(
                f"inputs must be at least {need} {ctx.unit} long to {'certify' if at_least else 'refute'} a memory of "
                f"{steps} {ctx.unit} (threshold memory is measured up to lag T); got T = {T}")
    elif T < 2:
        raise InvalidArgument(f"measure={measure!r} needs T >= 2 {ctx.unit} to fit; got T = {T}")
    log_G_all = _log_G(traj)
    results = _memory_lengths(traj, eps, log_G_all)
    # a threshold censored at T <= steps saw G stay above eps up to the first state and no further: it does not
    # certify `steps` (only "at least T")
    censored = {b for b, m in enumerate(results)
                if at_least and measure == "threshold" and m.threshold_censored and T <= steps}
    failing = [b for b, m in enumerate(results)
               if b in censored or (_memory_value(m, measure) < steps if at_least else _memory_value(m, measure) > steps)]
    if not failing:
        return
    b = failing[0]
    m = results[b]
    log_G = log_G_all[b]
    value = _memory_value(m, measure)
    if b in censored:
        _raise(f"cannot certify a memory of {steps} {ctx.unit}: the measurement is censored at T = {T} (G(k) >= eps = "
               f"{_fmt(eps)} at every lag k = 1…{T}, the initial state's included; G({T}) = {_fmt_log(log_G[T - 1])}): "
               f"the memory is at least {T} {ctx.unit}, censored, and T <= steps = {steps}",
               [ctx.where(b, failing), ctx.profile_line("G(k)", "‖∂s_T/∂s_{T−k}‖₂", log_G, [T]), ctx.weights_line()],
               f"record inputs longer than {steps} {ctx.unit} (T > steps) so that lag {steps} is measured inside the "
               "sequence; the default inputs (inputs=None) are 2·steps + 1 long")
    shown = str(int(value)) + ("+ (censored: G >= eps at every lag)" if m.threshold_censored else "") \
        if measure == "threshold" else _fmt(value)
    if at_least:
        head = f"memory is shorter than {steps} {ctx.unit}: {_MEASURE_NAMES[measure]} {shown} < {steps}"
        lag = steps
    else:
        head = f"memory is longer than {steps} {ctx.unit}: {_MEASURE_NAMES[measure]} {shown} > {steps}"
        lag = min(T, steps + 1)
    if measure == "threshold":
        head += (f" (G(k) < eps = {_fmt(eps)} from lag k = {m.threshold + 1}; G({steps}) = {_fmt_log(log_G[steps - 1])})"
                 if at_least else f" (G({m.threshold}) = {_fmt_log(log_G[m.threshold - 1])} >= eps = {_fmt(eps)})")
    elif measure == "efold":
        head += f" (fitted decay rate {_fmt_rate(-m.slope)} per step)"
    else:
        head += f" (top Lyapunov exponent λ₁ = {_fmt(m.lyapunov_exponent)} per step)"
    lines = [ctx.where(b, failing), ctx.profile_line("G(k)", "‖∂s_T/∂s_{T−k}‖₂", log_G, [lag, m.threshold]),
             f"memory length: threshold {m.threshold} (eps = {_fmt(eps)}), e-folding {_fmt(m.efold)}, "
             f"Lyapunov time {_fmt(m.lyapunov_time)} {ctx.unit}",
             ctx.weights_line()]
    _raise(head, lines, _hint_short(ctx, steps, eps, b) if at_least else _hint_persist(ctx, eps, None))


def assert_memory_at_least(model, steps: int, inputs=None, *, eps: float | None = None, measure: str = "threshold",
                           h0=None) -> None:
    """Assert that the model remembers at least ``steps`` steps.

    Memory length is :func:`rnnprobe.memory_length` of the trajectory, in the
    form ``measure`` names:

    * ``'threshold'`` (default): the largest lag k with ``G(k) >= eps`` must be
      ``>= steps``; i.e. some state at least ``steps`` steps back still moves
      the last state by a factor ``eps``. The exact negation of
      ``assert_gradients_vanish(model, inputs, within=steps, eps=eps)``, except
      that a measurement censored at T = steps (G >= eps up to the initial
      state, the sequence too short to see it fall) does not certify ``steps``:
      it fails, saying the memory is at least T, censored.
    * ``'efold'``: the e-folding time −1/slope of the fit of log G(k) on k.
    * ``'lyapunov_time'``: −1/λ₁ (infinite when λ₁ >= 0).

    Parameters
    ----------
    model : StepModel, torch.nn.RNN/GRU/LSTM, cell, or Trajectory
    steps : int
        >= 1.
    inputs : torch.Tensor, optional
        Default: seeded N(0, 1) inputs of length ``2·steps + 1`` (seed
        :attr:`Defaults.seed`). With ``measure='threshold'`` they must be at
        least ``steps`` long.
    eps : float, optional
        Default :attr:`Defaults.eps` (0.01).
    measure : {'threshold', 'efold', 'lyapunov_time'}
    h0 : torch.Tensor, optional

    Raises
    ------
    AssertionError
        ``memory is shorter than N steps: threshold memory length M < N
        (G(k) < eps = … from lag k = M+1; G(N) = …)``, with the G profile, all
        three memory lengths, σ_max(W_h) and a hint (e.g. forget-gate bias,
        orthogonal init).

    Examples
    --------
    >>> import rnnprobe
    >>> assert_memory_at_least(rnnprobe.build("lstm", hidden_size=8, forget_bias=3.0, seed=0), 10)
    """
    _memory_check(model, steps, inputs, eps, measure, h0, at_least=True)


def assert_memory_at_most(model, steps: int, inputs=None, *, eps: float | None = None, measure: str = "threshold",
                          h0=None) -> None:
    """Assert that the model forgets within ``steps`` steps (memory length <= steps).

    With ``measure='threshold'`` this is ``G(k) < eps`` at every lag
    ``k > steps``, the same as ``assert_gradients_vanish(model, inputs,
    within=steps + 1, eps=eps)``; the inputs must be at least ``steps + 1``
    long. Other measures as for :func:`assert_memory_at_least`.

    Raises
    ------
    AssertionError
        ``memory is longer than N steps: threshold memory length M > N
        (G(M) = … >= eps = …)``, with the profile and a hint.

    Examples
    --------
    >>> import rnnprobe
    >>> model = rnnprobe.build("vanilla-tanh", hidden_size=8, init="orthogonal", gain=0.5, seed=0)
    >>> assert_memory_at_most(model, 10)
    """
    _memory_check(model, steps, inputs, eps, measure, h0, at_least=False)


# =========================================================================== isometry, Jacobians, Lyapunov
def _lag_list(lags, T: int, unit: str) -> list[int]:
    if lags is None:
        return list(range(1, T + 1))
    if isinstance(lags, numbers.Integral) and not isinstance(lags, bool):
        lags = [lags]
    if not isinstance(lags, Iterable):
        raise InvalidArgument(f"lags must be an int, an iterable of ints or None; got {lags!r}")
    out = [check_int("lags", k, min_value=1, max_value=T) for k in lags]
    if not out:
        raise InvalidArgument(f"lags must name at least one lag in [1, {T}] ({unit}); got {lags!r}")
    return sorted(set(out))


def assert_near_isometry(model, inputs=None, *, tol: float | None = None, lags=None, h0=None) -> None:
    """Assert that the Jacobian products are near-isometries (dynamical isometry).

    Passes when, for every sequence and every checked lag k, every singular
    value σ of ``∂s_T/∂s_{T−k}`` lies in ``[1/(1+tol), 1+tol]`` (i.e.
    ``|log σ| <= log(1 + tol)``): signals neither grow nor shrink in any
    direction over k steps. Check ``lags=1`` for the step Jacobians only.

    Parameters
    ----------
    model, inputs, h0
        As for :func:`assert_gradients_vanish`.
    tol : float, optional
        >= 0; default :attr:`Defaults.isometry_tol` (0.1).
    lags : int or iterable of int, optional
        Lags in [1, T] to check; default all.

    Raises
    ------
    AssertionError
        ``the Jacobian product is not a near-isometry at lag k = …: its
        singular values span [a, b], outside [1/(1+tol), 1+tol] = …``
        (at the worst lag), with σ_max(W_h) and a hint.

    Examples
    --------
    >>> import torch, rnnprobe
    >>> model = rnnprobe.build("vanilla-linear", hidden_size=5, init="orthogonal", gain=1.0, seed=0)
    >>> assert_near_isometry(model, torch.randn(40, 1), tol=1e-9)
    """
    traj = _trajectory(model, inputs, h0)
    ctx = _Context(traj)
    tol = _default("isometry_tol", tol)
    checked = _lag_list(lags, ctx.T, ctx.unit)
    sv = jacobian_singular_values(traj, log=True)
    sv = (sv if traj.batched else sv.unsqueeze(0)).flip(1).to(torch.float64).cpu()   # (B, T, S), ascending lag
    require_finite_measure("log singular value (sequence, lag − 1, index)", sv, by_lag=False)
    limit = math.log1p(tol) + 1e-12
    idx = torch.tensor(checked) - 1

    def violation(b):
        dev = sv[b, idx].abs().amax(-1)                                  # max |log σ| per checked lag
        bad = dev > limit
        return (checked[_argmax(dev)], int(bad.sum())) if bool(bad.any()) else None

    failure = _first_failure(ctx.B, violation)
    if failure is None:
        return
    b, (lag, count), failing = failure
    row = sv[b, lag - 1]
    _raise(f"the Jacobian product is not a near-isometry at lag k = {lag}: its singular values span "
           f"[{_fmt_log(row.min())}, {_fmt_log(row.max())}], outside [1/(1+tol), 1+tol] = "
           f"[{_fmt(1 / (1 + tol))}, {_fmt(1 + tol)}] (tol = {_fmt(tol)}; {count} of {len(checked)} checked lags fail)",
           [ctx.where(b, failing),
            ctx.profile_line("σ_max(k)", "largest singular value of ∂s_T/∂s_{T−k}", sv[b, :, 0], [lag]),
            ctx.profile_line("σ_min(k)", "smallest singular value", sv[b, :, -1], [lag]),
            ctx.weights_line()],
           ("dynamical isometry needs every singular value of W_h near 1/γ and σ′ near γ along the trajectory: "
            "orthogonal init with gain 1/γ and small pre-activations (inputs, biases)")
           if ctx.family == "lecture" else
           "near-isometry needs every step Jacobian close to orthogonal: e.g. orthogonal recurrent init with gain 1")


def _step_jacobians(traj: Trajectory, autograd: bool = False) -> torch.Tensor:
    """``(T, B, S, S)`` step Jacobians along the trajectory (analytic, or torch.func)."""
    if not autograd:
        return traj.step_jacobians()
    model = traj.model
    T, B, S = traj.length, traj.batch_size, traj.state_size
    with torch.enable_grad():
        if model.kind == "recurrent":  # time-invariant steps: one vectorised call over steps × batch
            xs, states = traj.inputs.reshape(T * B, -1), traj.states[:-1].reshape(T * B, S)
            return model.autograd_step_jacobian(xs, states, 0).detach().reshape(T, B, S, S)
        return torch.stack([model.autograd_step_jacobian(traj.inputs[t], traj.states[t], t).detach()
                            for t in range(T)])


def _describe(obj) -> str:
    if isinstance(obj, Trajectory):
        obj = obj.model
    if isinstance(obj, StepModel):
        source = getattr(obj, "source", None)
        return f"{obj.name}" + (f" ({source})" if source else "")
    return type(obj).__name__


def _close_report(a: torch.Tensor, b: torch.Tensor, rtol: float, atol: float):
    """None when close, else (index of the worst entry, count, total, max abs diff)."""
    a64, b64 = a.to(torch.float64), b.to(torch.float64)
    diff = (a64 - b64).abs()
    allowed = atol + rtol * b64.abs()
    bad = ~(diff <= allowed)                       # NaN counts as a difference
    if not bool(bad.any()):
        return None
    excess = torch.where(bad, torch.nan_to_num(diff - allowed, nan=math.inf), torch.full_like(diff, -math.inf))
    flat = int(torch.argmax(excess))
    index = tuple(int(i) for i in np.unravel_index(flat, tuple(diff.shape)))
    return index, int(bad.sum()), diff.numel(), float(torch.nan_to_num(diff, nan=math.inf).max())


def assert_jacobian_close(a, b, inputs=None, *, rtol: float | None = None, atol: float | None = None,
                          h0=None) -> None:
    """Assert that two Jacobians agree entrywise: ``|a − b| <= atol + rtol·|b|``.

    ``a`` and ``b`` may be:

    * two tensors (e.g. step Jacobians, or products from
      :func:`rnnprobe.jacobian_product`), of the same shape;
    * two models (rnnprobe models, torch modules, cells) or trajectories: each
      is run on ``inputs`` and their step Jacobians ``J_t = ∂s_{t+1}/∂s_t``
      are compared at every step t (e.g. your ``torch.nn.GRU`` against
      ``rnnprobe.build('gru-torch')`` with the same weights);
    * a model and the string ``'autograd'``: the model's analytic
      ``step_jacobian`` against ``torch.func`` autograd along the trajectory,
      the check for a custom :class:`rnnprobe.StepModel`.

    Values are compared in float64; NaN never matches.

    Parameters
    ----------
    a : torch.Tensor, model or Trajectory
    b : torch.Tensor, model, Trajectory or 'autograd'
    inputs : torch.Tensor, optional
        Needed when a model is given.
    rtol, atol : float, optional
        Defaults :attr:`Defaults.rtol` (1e-7) and :attr:`Defaults.atol` (1e-10).
    h0 : torch.Tensor, optional

    Raises
    ------
    AssertionError
        ``step Jacobians differ at step t = … (lag …), sequence …, entry
        (i, j) = ∂s'_i/∂s_j: A gives …, B gives …``, with the number of
        differing entries, the largest difference and a hint (including when
        the forward passes themselves already differ).

    Examples
    --------
    >>> import torch, rnnprobe
    >>> model = rnnprobe.build("lstm", hidden_size=3, seed=0)
    >>> assert_jacobian_close(model, "autograd", torch.randn(5, 1), rtol=1e-9)
    """
    rtol = _default("rtol", rtol)
    atol = _default("atol", atol)
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        if inputs is not None or h0 is not None:
            raise InvalidArgument("inputs and h0 must be None when comparing two tensors; got a tensor")
        if a.shape != b.shape:
            raise AssertionError(f"Jacobians differ in shape: a {tuple(a.shape)} vs b {tuple(b.shape)}")
        report = _close_report(a, b, rtol, atol)
        if report is None:
            return
        index, count, total, max_diff = report
        _raise(f"Jacobians differ at index {index}: a = {_fmt(a[index])}, b = {_fmt(b[index])}, |a − b| = "
               f"{_fmt(abs(float(a[index]) - float(b[index])))} > atol + rtol·|b| = "
               f"{_fmt(atol + rtol * abs(float(b[index])))} (rtol = {rtol:g}, atol = {atol:g})",
               [f"{count} of {total} entries differ; largest |a − b| = {_fmt(max_diff)}"], None)
        return
    if isinstance(b, str):
        check_choice("b", b, ("autograd",))
        traj = _trajectory(a, inputs, h0)
        J_a, J_b = _step_jacobians(traj), _step_jacobians(traj, autograd=True)
        name_a, name_b = f"analytic step_jacobian of {_describe(traj)}", "torch.func autograd"
        trajs = (traj, traj)
    else:
        for name, obj in (("a", a), ("b", b)):
            if isinstance(obj, torch.Tensor):
                raise InvalidArgument(f"{name} must be a model like the other argument (or both tensors); got a tensor")
        if isinstance(a, Trajectory) and isinstance(b, Trajectory):
            trajs = (_trajectory(a, None, None), _trajectory(b, None, None))
        else:
            trajs = (_trajectory(a, inputs, h0), _trajectory(b, inputs, h0))
        ta, tb = trajs
        name_a, name_b = f"a = {_describe(ta)}", f"b = {_describe(tb)}"
        if (ta.length, ta.batch_size, ta.state_size) != (tb.length, tb.batch_size, tb.state_size):
            raise AssertionError(
                f"the models' Jacobians cannot match: (steps, batch, state size) = {(ta.length, ta.batch_size, ta.state_size)} "
                f"for {name_a} but {(tb.length, tb.batch_size, tb.state_size)} for {name_b}")
        J_a, J_b = _step_jacobians(ta), _step_jacobians(tb)
    report = _close_report(J_a, J_b, rtol, atol)
    if report is None:
        return
    (t, seq, i, j), count, total, max_diff = report
    T = trajs[0].length
    va, vb = float(J_a[t, seq, i, j]), float(J_b[t, seq, i, j])
    lines = [f"{count} of {total} Jacobian entries differ; largest |difference| = {_fmt(max_diff)} "
             f"(rtol = {rtol:g}, atol = {atol:g})"]
    if trajs[0] is not trajs[1]:
        state_diff = _close_report(trajs[0].states, trajs[1].states, rtol, atol)
        if state_diff is not None:
            sa, sb = trajs[0].states.to(torch.float64), trajs[1].states.to(torch.float64)
            per_step = ~((sa - sb).abs() <= atol + rtol * sb.abs())
            first_step = int(torch.nonzero(per_step.flatten(1).any(1))[0])
            lines.append(f"the forward passes already differ: from state s_{first_step} on (largest difference "
                         f"{_fmt(state_diff[3])})")
            hint = ("compare the two models' weights and conventions (e.g. 'gru' puts the reset gate before U, "
                    "'gru-torch' and torch.nn.GRU after it)")
        else:
            hint = "the states agree but the Jacobians do not: one of the step_jacobian implementations is wrong"
    else:
        hint = (f"the closed-form step_jacobian of {traj.model.name!r} is wrong at row {i} (∂s'_{i}/∂s): fix it, or "
                "delete that override so that StepModel's default (torch.func autograd) applies")
    where = f"sequence {seq}, " if trajs[0].batched else ""
    _raise(f"step Jacobians differ at step t = {t} (lag {T - t}), {where}entry ({i}, {j}) = ∂s'_{i}/∂s_{j}: "
           f"{name_a} gives {_fmt(va)}, {name_b} gives {_fmt(vb)}; |difference| = {_fmt(abs(va - vb))} > "
           f"atol + rtol·|b| = {_fmt(atol + rtol * abs(vb))}", lines, hint)


def assert_lyapunov_exponent_below(model, inputs=None, value: float = 0.0, *, burn_in: int | None = None,
                                   h0=None, seed: int = 0) -> None:
    """Assert that the top Lyapunov exponent λ₁ along the trajectory is below ``value``.

    λ₁ (natural log per step, from QR re-orthonormalisation after a burn-in,
    :func:`rnnprobe.trajectory_lyapunov_spectrum`) < 0 means perturbations
    shrink on average: stable, non-chaotic dynamics with Lyapunov time
    −1/λ₁. λ₁ > 0 means they grow (chaos, exploding gradients over long
    horizons).

    Parameters
    ----------
    model, inputs, h0
        As for :func:`assert_gradients_vanish`; use long inputs (hundreds of
        steps) for a stable estimate.
    value : float
        The bound (default 0: not chaotic).
    burn_in : int, optional
        Steps before exponents are accumulated (default ``min(200, T // 10)``).
    seed : int
        Seed of the initial orthonormal frame.

    Raises
    ------
    AssertionError
        ``top Lyapunov exponent λ₁ = … per step is not below …``, with the
        Lyapunov time, σ_max(W_h) and a hint.

    Examples
    --------
    >>> import torch, rnnprobe
    >>> model = rnnprobe.build("vanilla-tanh", hidden_size=8, gain=0.5, seed=0)
    >>> assert_lyapunov_exponent_below(model, torch.randn(200, 1))
    """
    value = check_real("value", value)
    traj = _trajectory(model, inputs, h0)
    ctx = _Context(traj)
    lam = trajectory_lyapunov_spectrum(traj, 1, burn_in=burn_in, seed=seed)
    lam = require_finite_measure("λ₁", (lam if traj.batched else lam.unsqueeze(0))[:, 0].to(torch.float64).cpu(),
                                 by_lag=False)
    failing = [b for b in range(ctx.B) if not float(lam[b]) < value]
    if not failing:
        return
    b = failing[0]
    l1 = float(lam[b])
    burn = min(200, ctx.T // 10) if burn_in is None else burn_in
    meaning = ("nearby states diverge: the dynamics are chaotic (gradients explode over long horizons)" if l1 > 0
               else "perturbations do not shrink fast enough")
    lyap_time = -1.0 / l1 if l1 < 0 else math.inf
    spec = ctx.spectrum
    hint = (f"σ_max(W_h)·γ = {_fmt(ctx.sigma_gamma)}: a gain below 1/γ = {_fmt(1 / spec.gamma)} makes every step contract"
            if ctx.family == "lecture" else "lower the recurrent gain for contracting dynamics")
    _raise(f"top Lyapunov exponent λ₁ = {_fmt(l1)} per step is not below {_fmt(value)}: {meaning}",
           [ctx.where(b, failing),
            f"Lyapunov time −1/λ₁ = {_fmt(lyap_time)} {ctx.unit} (T = {ctx.T}, burn-in {burn})",
            ctx.weights_line()], hint)


def assert_pascanu_vanishing(model) -> None:
    """Assert Pascanu et al.'s (2013) sufficient condition for vanishing gradients: σ_max(W_h) < 1/γ.

    A property of the weights alone (no inputs): when it holds, every step
    Jacobian ``D_s W_h`` has norm at most ``γ·σ_max(W_h) < 1``, so gradients
    vanish at least geometrically for *any* input sequence. Only meaningful
    for models whose step Jacobian is ``D·W_h`` (vanilla RNNs, plain MLPs).

    Parameters
    ----------
    model : StepModel or torch.nn.RNN

    Raises
    ------
    AssertionError
        ``σ_max(W_h) = … >= 1/γ = …: Pascanu et al.'s sufficient condition for
        vanishing gradients does not hold``.
    InvalidArgument
        For architectures where the criterion does not apply (gated, residual,
        dense).

    Examples
    --------
    >>> import rnnprobe
    >>> assert_pascanu_vanishing(rnnprobe.build("vanilla-sigmoid", hidden_size=8, init="orthogonal", gain=3.0))
    """
    spec = weight_spectrum(model)
    if spec.pascanu == "not applicable":
        raise InvalidArgument(f"model must have step Jacobians D·W_h (vanilla RNNs, plain MLPs) for the Pascanu et al. "
                              f"(2013) criterion; got {spec.explanation}")
    if spec.pascanu == "vanishing":
        return
    ratio = 1 / (spec.gamma * spec.sigma_max)
    blocks = ", ".join(f"{name}: {_fmt(block.spectral_norm)}" for name, block in spec.blocks.items()
                       if block.spectral_norm * spec.gamma >= 1)
    _raise(f"σ_max(W_h) = {_fmt(spec.sigma_max)} >= 1/γ = {_fmt(1 / spec.gamma)}: Pascanu et al.'s (2013) sufficient "
           "condition for vanishing gradients does not hold",
           [f"γ = sup|σ′| = {_fmt(spec.gamma)}; offending matrices: {blocks}",
            "the condition is sufficient, not necessary: measure with assert_gradients_vanish(model, inputs, ...)"],
           f"scale W_h by a factor below {_fmt(ratio)} (e.g. orthogonal init with gain < {_fmt(1 / spec.gamma)}) "
           "if gradients must vanish for every input")
