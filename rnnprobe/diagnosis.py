"""Why do gradients vanish or explode? A diagnosis that names the cause, with the numbers.

:func:`diagnose` measures the per-step rate at which ``G(k) = ‖∂s_T/∂s_{T−k}‖₂`` decays
(or grows) along a trajectory of your model on your inputs, and splits it by cause, per
family (the model's declared :attr:`~rnnprobe.StepModel.family`):

* **vanilla** (``J_t = D_t W_h``, ``D_t = diag σ′``): the gradient carried back from s_T
  (your loss's, or a fixed random readout's) is multiplied at every step by ``D_t`` and
  then by ``W_h``. Its log growth per step splits *exactly* into an activation part
  ``log ‖v D_t‖`` and a weight part ``log ‖u W_h‖`` (v, u the unit vectors before each
  factor); their means over the steps, shifted by ``log γ`` (γ = sup|σ′|) so that a unit
  at σ′ = γ counts as no loss, are ``parts['activations'] ≤ 0`` and ``parts['weights']``,
  and they sum to the gradient's mean log growth per step. Beside them: ρ(W_h), whose log
  is the weights' asymptotic rate, ``‖W_h^T‖^{1/T}``, σ_max(W_h) and the Pascanu verdict;
  the mean σ′ and how many unit-steps are saturated or dead (σ′ ≤ γ/10).
* **gated**, LSTM and GRU: the state is carried by a gate (the LSTM's forget gate f on
  its cell state c, the GRU's update gate z on h) and, besides, through the recurrent
  matrices. ``parts['gate']`` is the rate of the gate's own path for the most persistent
  unit, ``max_i ⟨log f_i(t)⟩_t`` (exact for that path); ``parts['weights']`` the rate of
  the path through the recurrent matrices alone (the LSTM's ``∂h_{t+1}/∂h_t``, the GRU's
  Jacobian without ``diag z``), measured by a renormalised product. G follows the slower
  of the two; the diagnosis says which, with the mean gate value.
* **diagonal** (LRU, SSMs, minGRU, …; exactly diagonal step Jacobians, or the LRU's 2×2
  rotation–scaling blocks, whose factor is the modulus |λ_j|): G(k) is the
  product of the slowest unit's factors; its rate splits into the factor at zero input
  (``parts['weights']``: the eigenvalue, the gate's bias) and what the inputs do to it
  along the trajectory (``parts['gates']``).
* any other family (residual, dense, feed-forward, custom, other block-diagonal steps): not
  decomposed, and the diagnosis says so; the measured rate, ρ(W_h), σ_max and the
  memory lengths are still reported.

Examples
--------
An RNN with torch's default initialisation forgets because of its weights, not its units:

>>> import torch, rnnprobe
>>> _ = torch.manual_seed(0)
>>> rnn = torch.nn.RNN(2, 32)                             # torch's default init
>>> d = rnnprobe.diagnose(rnn, torch.rand(60, 4, 2) * 0.5)
>>> d.dominant, round(d.spectral_radius, 2)
('weights', 0.66)
>>> d.parts["weights"] < d.parts["activations"] < 0
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from rnnprobe._validation import check_real, check_seed
from rnnprobe.errors import InvalidArgument
from rnnprobe.linalg import pow2_normalize, start_vectors
from rnnprobe.losses import loss_gradient
from rnnprobe.lyapunov import trajectory_lyapunov_spectrum
from rnnprobe.memory import efold_fit, summarise_memory
from rnnprobe.models.adapters import CellAdapter, LayerAdapter
from rnnprobe.models.base import StepModel
from rnnprobe.models.gated import GRU, LSTM, TorchGRU
from rnnprobe.models.vanilla import VanillaRNN
from rnnprobe.products import _check_trajectory, chunk_size_of, jacobian_norms
from rnnprobe.spectrum import WeightSpectrum, weight_spectrum
from rnnprobe.trajectory import Trajectory, record

__all__ = ["Diagnosis", "diagnose", "diagnose_trajectory", "state_label", "DECOMPOSED"]

#: the kinds of step :func:`diagnose` splits by cause
DECOMPOSED = ("vanilla", "lstm", "gru", "diagonal")
# rates (per step) within this of 0 are no trend
_FLAT = 1e-9
# a unit-step is saturated (or dead) when σ′ <= γ·_SATURATED
_SATURATED = 0.1


def _fmt(x) -> str:
    if x is None:
        return "n/a"
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.3g}"


# =========================================================================== what the model is
def _core(model: StepModel) -> StepModel:
    """The rnnprobe cell that computes ``model``'s step (the adapted layer's cell, a torch cell's equivalent)."""
    if isinstance(model, LayerAdapter):
        return model.cell
    if isinstance(model, CellAdapter) and isinstance(model.inner, (nn.RNNCell, nn.LSTMCell, nn.GRUCell)):
        cell = model.inner
        n, d, dtype = cell.hidden_size, cell.input_size, model.dtype
        zeros = torch.zeros(cell.weight_hh.shape[0], dtype=dtype, device=model.device)

        def bias(name):
            b = getattr(cell, name)
            return zeros.clone() if b is None else b.detach().to(dtype).clone()

        if isinstance(cell, nn.RNNCell):
            core = VanillaRNN(n, d, nonlinearity=cell.nonlinearity, dtype=dtype)
            core.W_h.data, core.W_x.data = cell.weight_hh.detach().to(dtype).clone(), cell.weight_ih.detach().to(dtype).clone()
            core.b.data = bias("bias_ih") + bias("bias_hh")
        else:
            core = (LSTM if isinstance(cell, nn.LSTMCell) else TorchGRU)(n, d, dtype=dtype)
            core.weight_ih.data, core.weight_hh.data = (cell.weight_ih.detach().to(dtype).clone(),
                                                        cell.weight_hh.detach().to(dtype).clone())
            core.bias_ih.data, core.bias_hh.data = bias("bias_ih"), bias("bias_hh")
        return core.to(model.device)
    return model


def _kind(model: StepModel, core: StepModel) -> str:
    """``'vanilla'``, ``'lstm'``, ``'gru'``, ``'diagonal'`` (decomposed), or the family that is not."""
    if model.kind == "feedforward":
        return "feedforward"
    if isinstance(core, LSTM):
        return "lstm"
    if isinstance(core, (GRU, TorchGRU)):
        return "gru"
    if core.lecture_form and getattr(core, "sigma", None) is not None and "W_h" in _weights(core):
        return "vanilla"
    return model.family


def _weights(model: StepModel) -> dict:
    try:
        return model.recurrent_weights()
    except NotImplementedError:
        return {}


def state_label(model) -> str:
    """How the state G is measured on is written: ``'h'``, ``'[h; c]'`` (LSTMs), the dense RNN's window, or ``'s'``.

    Examples
    --------
    >>> import torch, rnnprobe
    >>> state_label(rnnprobe.build("lstm", hidden_size=3)), state_label(torch.nn.GRU(2, 3))
    ('[h; c]', 'h')
    """
    from rnnprobe.trajectory import as_model

    model = as_model(model)
    core = _core(model)
    if isinstance(core, LSTM) or (isinstance(model, CellAdapter) and model.tuple_state and model.parts == 2):
        return "[h; c]"
    if model.family == "dense" and getattr(core, "window", None):
        return f"[h_t; …; h_(t−{core.window - 1})]"
    return "h" if model.state_size == model.hidden_size else "s"


# =========================================================================== the result
@dataclass(frozen=True)
class Diagnosis:
    """What sets the decay (or growth) of G(k) along a trajectory, with the numbers.

    Rates are natural logs per step: negative decays, positive grows.

    Attributes
    ----------
    model : str
        The model, as the messages name it.
    kind : str
        ``'vanilla'``, ``'lstm'``, ``'gru'`` or ``'diagonal'`` when decomposed (:data:`DECOMPOSED`);
        else the model's family.
    state : str
        The state G is measured on (:func:`state_label`): ``'h'``, ``'[h; c]'`` …
    length, batch_size : int
        T and B of the trajectory (B = 1 when one ``sequence`` was diagnosed).
    rate : float
        Measured: slope of the Theil–Sen fit of log G(k) (averaged over the sequences) on
        k = 1 … T.
    rate_interval : tuple of float
        Its 95% confidence interval.
    loss_rate : float or None
        The same for your loss's ``ĝ(k) = ‖∂L/∂s_{T−k}‖ / ‖∂L/∂s_T‖``, when a loss was given.
    parts : dict of str to float
        Per-step rates by cause (see the module docstring): ``weights`` and ``activations``
        (vanilla), ``gate`` and ``weights`` (LSTM, GRU), ``weights`` and ``gates``
        (diagonal); empty when not decomposed.
    dominant : str or None
        The key of ``parts`` that sets the rate; None when not decomposed or G neither
        decays nor grows.
    share : float or None
        Vanilla and diagonal: the fraction of the decay (or growth) the dominant part
        accounts for.
    spectral_radius : float or None
        ρ(W_h) (the largest over the gate matrices of a gated cell; of the zero-input
        step Jacobian for a diagonal one).
    spectral_radius_block : str or None
        Which matrix has it.
    power_norm : float or None
        ``‖W_h^T‖₂^{1/T}`` (vanilla): the weights' own per-step factor over the horizon.
    sigma_max : float
        σ_max over the recurrent matrices (NaN without them).
    gamma : float or None
        sup|σ′| (vanilla).
    pascanu : str
        The Pascanu et al. (2013) verdict (:func:`rnnprobe.weight_spectrum`).
    derivative_mean : float or None
        Vanilla: mean σ′ over units, steps and sequences.
    saturated_fraction : float or None
        Vanilla: fraction of unit-steps with σ′ <= γ/10 (saturated or, for ReLU, dead).
    saturated_units : int or None
        Vanilla: units saturated (or dead) at more than half of the steps.
    gate_mean : float or None
        Gated: mean value of the carrying gate (f, z); diagonal: mean |factor|.
    memory : tuple of MemoryLength
        :func:`rnnprobe.memory_length` of each sequence.
    spectrum : WeightSpectrum
        :func:`rnnprobe.weight_spectrum` of the model (every block's singular values and radius).
    cause : str
        One sentence: what sets the rate, with its number.
    remedy : str
        What to change (empty when there is nothing to explain).
    """

    model: str
    kind: str
    state: str
    length: int
    batch_size: int
    rate: float
    rate_interval: tuple
    loss_rate: float | None
    parts: dict = field(default_factory=dict)
    dominant: str | None = None
    share: float | None = None
    spectral_radius: float | None = None
    spectral_radius_block: str | None = None
    power_norm: float | None = None
    sigma_max: float = math.nan
    gamma: float | None = None
    pascanu: str = "not applicable"
    derivative_mean: float | None = None
    saturated_fraction: float | None = None
    saturated_units: int | None = None
    gate_mean: float | None = None
    memory: tuple = ()
    cause: str = ""
    remedy: str = ""
    spectrum: WeightSpectrum | None = None

    @property
    def decomposed(self) -> bool:
        """Whether the rate was split by cause."""
        return bool(self.parts)

    @property
    def hint(self) -> str:
        """``cause: remedy`` in one line (what the assertions print)."""
        return f"{self.cause}: {self.remedy}" if self.remedy else self.cause

    def lines(self) -> list[str]:
        """The diagnosis as lines of text (``str(diagnosis)`` joins them)."""
        T = self.length
        quantity = f"G(k) = ‖∂{self.state}_T/∂{self.state}_(T−k)‖₂"
        trend = "decays" if self.rate < -_FLAT else "grows" if self.rate > _FLAT else "neither decays nor grows"
        speed = f" at {_fmt(abs(self.rate))} per step" if abs(self.rate) > _FLAT else ""
        efold = f"; e-folding time {_fmt(-1 / self.rate)} steps" if self.rate < -_FLAT else ""
        seqs = f" × {self.batch_size} sequences" if self.batch_size > 1 else ""
        out = [f"diagnosis of {self.model}, state {self.state}, on T = {T} steps{seqs}",
               f"measured: {quantity} {trend}{speed} (Theil–Sen fit of log G on k = 1…{T}, 95% CI of the rate "
               f"[{_fmt(self.rate_interval[0])}, {_fmt(self.rate_interval[1])}]{efold})"]
        if self.loss_rate is not None:
            out.append(f"your loss: ĝ(k) = ‖∂L/∂s_(T−k)‖ / ‖∂L/∂s_T‖ changes at {_fmt(self.loss_rate)} per step")
        p = self.parts
        if self.kind == "vanilla" and p:
            total = p["weights"] + p["activations"]
            share = f": the {self.dominant} account for {100 * self.share:.0f}%" if self.dominant else ""
            out.append(f"along the back-propagated gradient: weights {_fmt(p['weights'])} + activations "
                       f"{_fmt(p['activations'])} = {_fmt(total)} per step{share}")
        elif self.kind in ("lstm", "gru") and p:
            gate = "forget gate f on the cell state c" if self.kind == "lstm" else "update gate z on h"
            out.append(f"paths: the {gate} decays at {_fmt(-p['gate'])} per step (most persistent unit; mean "
                       f"{'f' if self.kind == 'lstm' else 'z'} = {_fmt(self.gate_mean)}), the path through the "
                       f"recurrent matrices at {_fmt(-p['weights'])} per step; G follows the {self.dominant} path")
        elif self.kind == "diagonal" and p:
            out.append(f"slowest unit: factor at zero input {_fmt(p['weights'])} + inputs' effect on it "
                       f"{_fmt(p['gates'])} per step (mean |factor| {_fmt(self.gate_mean)})")
        weights = []
        if self.spectral_radius is not None:
            block = "W_h" if self.spectral_radius_block in (None, "W_h") else self.spectral_radius_block
            weights.append(f"ρ({block}) = {_fmt(self.spectral_radius)}")
        if self.power_norm is not None:
            weights.append(f"‖W_h^{T}‖^(1/{T}) = {_fmt(self.power_norm)}")
        if not math.isnan(self.sigma_max):
            weights.append(f"σ_max = {_fmt(self.sigma_max)}")
        if self.gamma is not None:
            weights.append(f"γ = sup|σ′| = {_fmt(self.gamma)}")
        weights.append(f"Pascanu verdict: {self.pascanu}")
        out.append("weights: " + ", ".join(weights))
        if self.derivative_mean is not None:
            out.append(f"activations: mean σ′ = {_fmt(self.derivative_mean)}; {100 * self.saturated_fraction:.1f}% of "
                       f"unit-steps saturated or dead (σ′ <= γ/10); {self.saturated_units} units saturated or dead "
                       "at more than half of the steps")
        if self.memory:
            med = lambda name: float(np.median([getattr(m, name) for m in self.memory]))  # noqa: E731
            censored = "+" if any(m.threshold_censored for m in self.memory) else ""
            over = f" (median over {len(self.memory)} sequences)" if len(self.memory) > 1 else ""
            out.append(f"memory: threshold {med('threshold'):g}{censored} (eps = {_fmt(self.memory[0].eps)}), "
                       f"e-folding {_fmt(med('efold'))}, Lyapunov time {_fmt(med('lyapunov_time'))} steps{over}")
        out.append(f"cause: {self.cause}")
        if self.remedy:
            out.append(f"remedy: {self.remedy}")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


# =========================================================================== measuring
def _sweep_rate(traj: Trajectory, blocks, start: torch.Tensor, chunk: int) -> torch.Tensor:
    """Mean log growth per step ``(B,)`` of a row vector carried back through ``blocks(t0, J) -> (C, B, m, m)``,
    ``J`` the step Jacobians of steps t0, t0 + 1, …"""
    v = start / start.norm(dim=-1, keepdim=True)
    total = torch.zeros(v.shape[0], dtype=traj.dtype, device=traj.device)
    for start_step, J in traj.iter_jacobians(chunk, reverse=True):
        M, e = pow2_normalize(blocks(start_step, J))
        for i in range(M.shape[0] - 1, -1, -1):
            w = torch.bmm(v.unsqueeze(1), M[i]).squeeze(1)
            n = w.norm(dim=-1)
            total = total + torch.log(n) + e[i].to(traj.dtype) * math.log(2.0)
            v = w / torch.where(n > 0, n, torch.ones_like(n))[:, None]
    return total / traj.length


def _vanilla_parts(traj: Trajectory, core: StepModel, v: torch.Tensor, chunk: int):
    """(activations, weights) mean log factors per step ``(B,)`` along the back-propagated ``v``, and σ′ ``(T, B, n)``."""
    W, e = pow2_normalize(core.recurrent_weights()["W_h"].to(traj.dtype))
    log_e = float(e) * math.log(2.0)
    B, T = traj.batch_size, traj.length
    act = torch.zeros(B, dtype=traj.dtype, device=traj.device)
    wts = torch.zeros_like(act)
    steps = torch.zeros_like(act)
    alive = torch.ones(B, dtype=torch.bool, device=traj.device)
    v = v / torch.where(v.norm(dim=-1) > 0, v.norm(dim=-1), torch.ones_like(act))[:, None]
    derivs = torch.empty(T, B, core.hidden_size, dtype=traj.dtype, device=traj.device)
    for start in reversed(range(0, T, chunk)):
        stop = min(start + chunk, T)
        with torch.no_grad():
            d = core.derivative_diagonals(traj.inputs[start:stop], traj.states[start:stop], start)
        derivs[start:stop] = d
        for i in range(stop - start - 1, -1, -1):
            a = v * d[i]
            na = a.norm(dim=-1)
            dead = alive & (na == 0)
            act = torch.where(dead, torch.full_like(act, -math.inf), torch.where(alive, act + torch.log(na), act))
            steps = steps + alive.to(steps.dtype)
            alive = alive & ~dead
            u = a / torch.where(na > 0, na, torch.ones_like(na))[:, None]
            w = u @ W
            nw = w.norm(dim=-1)
            wts = torch.where(alive, wts + torch.log(nw) + log_e, wts)
            v = w / torch.where(nw > 0, nw, torch.ones_like(nw))[:, None]
    steps = torch.clamp(steps, min=1)
    return act / steps, wts / steps, derivs


def _log_power_norm(W: torch.Tensor, k: int) -> float:
    """log ‖W^k‖₂, by repeated squaring with exact power-of-two rescaling (no over- or underflow)."""
    base, e = pow2_normalize(W.detach().to(torch.float64).cpu())
    result, result_log = None, 0.0
    base_log = float(e) * math.log(2.0)
    while k:
        if k & 1:
            if result is None:
                result, result_log = base, base_log
            else:
                result, e = pow2_normalize(result @ base)
                result_log += base_log + float(e) * math.log(2.0)
        k >>= 1
        if k:
            base, e = pow2_normalize(base @ base)
            base_log = 2 * base_log + float(e) * math.log(2.0)
    norm = float(torch.linalg.matrix_norm(result, ord=2))
    return (math.log(norm) if norm > 0 else -math.inf) + result_log


def _gate_values(traj: Trajectory, core: StepModel) -> torch.Tensor:
    """The carrying gate along the trajectory ``(T, B, n)``: the LSTM's f, the GRU's z."""
    T, B, n = traj.length, traj.batch_size, core.hidden_size
    xs = traj.inputs.reshape(T * B, -1)
    h = core.hidden(traj.states[:-1]).reshape(T * B, n)
    with torch.no_grad():
        gates = core._gates(xs, h)
    return gates[1].reshape(T, B, n)              # (i, f, g, o) and (r, z, …): the second


def _dominant(parts: dict, rate: float) -> tuple[str | None, float | None]:
    """The part that accounts for most of a decay (rate < 0) or growth (rate > 0), and its share."""
    if abs(rate) <= _FLAT or not parts:
        return None, None
    sign = -1.0 if rate < 0 else 1.0
    pushing = {k: max(sign * v, 0.0) for k, v in parts.items()}
    total = sum(pushing.values())
    if total == 0:
        return None, None
    if math.isinf(total):
        key = next(k for k, v in pushing.items() if math.isinf(v))
        return key, 1.0
    key = max(pushing, key=pushing.get)
    return key, pushing[key] / total


def _mean(x: torch.Tensor) -> float:
    return float(x.to(torch.float64).mean())


def diagnose_trajectory(traj: Trajectory, loss=None, *, batch_loss=None, eps: float = 0.01, seed: int = 0,
                        sequence: int | None = None) -> Diagnosis:
    """:func:`diagnose` of a recorded trajectory; ``sequence`` picks one sequence of a batch (default: all)."""
    traj = _check_trajectory(traj)
    seed = check_seed("seed", seed)
    eps = check_real("eps", eps, low=0.0, high=1.0, low_open=True, high_open=True,
                     hint="eps is a threshold on the Jacobian norm G; e.g. 0.01")
    B, T = traj.batch_size, traj.length
    if sequence is not None and not (isinstance(sequence, int) and 0 <= sequence < B):
        raise InvalidArgument(f"sequence must be None or an index in [0, {B - 1}]; got {sequence!r}")
    pick = list(range(B)) if sequence is None else [sequence]
    model = traj.model
    core = _core(model)
    kind = _kind(model, core)
    chunk = chunk_size_of(traj, None)

    log_G = jacobian_norms(traj, log=True)
    log_G = (log_G if traj.batched else log_G.unsqueeze(0)).flip(-1).to(torch.float64).cpu()   # (B, T) by lag
    lags = np.arange(1, T + 1)
    slope, _, low, high = efold_fit(lags, log_G[pick].mean(0).numpy())
    lam = trajectory_lyapunov_spectrum(traj, 1)
    lam = (lam if traj.batched else lam.unsqueeze(0))[:, 0].to(torch.float64).cpu()
    memory = tuple(summarise_memory(lags, log_G[b].numpy(), float(lam[b]), eps) for b in pick)

    lg = loss_gradient(traj, loss, batch_loss=batch_loss, seed=seed, allow_steps=False)
    loss_rate = None
    if lg.form != "default":
        from rnnprobe.gradients import _vjp_sweep
        from rnnprobe.linalg import log_norm

        log_g = _vjp_sweep(traj, lg.final, chunk).T.flip(-1).to(torch.float64).cpu()
        log_hat = log_g - log_norm(lg.final, dim=-1).to(torch.float64).cpu()[:, None]
        loss_rate = efold_fit(lags, log_hat[pick].mean(0).numpy())[0]

    try:           # a torch cell's equivalent rnnprobe cell knows its σ (the Pascanu verdict needs γ)
        spec = weight_spectrum(core if isinstance(model, CellAdapter) else model)
    except (NotImplementedError, InvalidArgument):
        spec = WeightSpectrum()
    radius, radius_block = None, None
    for name, block in spec.blocks.items():
        if block.spectral_radius is not None and (radius is None or block.spectral_radius > radius):
            radius, radius_block = block.spectral_radius, name

    fields = dict(model=_describe(model), kind=kind, state=state_label(model), length=T, batch_size=len(pick),
                  rate=slope, rate_interval=(low, high), loss_rate=loss_rate, spectral_radius=radius,
                  spectral_radius_block=radius_block, sigma_max=spec.sigma_max, gamma=spec.gamma,
                  pascanu=spec.pascanu, memory=memory, spectrum=spec)
    param = _torch_parameter(model)
    if kind == "vanilla":
        gamma = core.sigma.gamma
        act, wts, derivs = _vanilla_parts(traj, core, lg.final, chunk)
        log_gamma = math.log(gamma)
        parts = {"weights": _mean(wts[pick]) + log_gamma, "activations": _mean(act[pick]) - log_gamma}
        d = derivs[:, pick]
        saturated = d <= gamma * _SATURATED
        fields.update(parts=parts, derivative_mean=_mean(d), saturated_fraction=_mean(saturated),
                      saturated_units=int((saturated.to(torch.float64).mean((0, 1)) > 0.5).sum()),
                      power_norm=math.exp(_log_power_norm(core.recurrent_weights()["W_h"], T) / T),
                      gamma=gamma, spectral_radius_block="W_h")
        fields["dominant"], fields["share"] = _dominant(parts, slope)
        fields["cause"], fields["remedy"] = _vanilla_story(fields, param, core.sigma.name == "relu")
    elif kind in ("lstm", "gru"):
        keep_all = _gate_values(traj, core)                              # (T, B, n)
        keep = keep_all[:, pick]
        gate_rate = torch.log(keep).mean(0).amax(-1)                      # (b,)
        n = core.hidden_size
        gen = start_vectors(B, n, dtype=traj.dtype, device=traj.device, seed=seed)

        def weight_path(t0, J):                                           # the step without the gate's own path
            if kind == "lstm":
                return J[:, :, :n, :n]
            return J - torch.diag_embed(keep_all[t0 : t0 + J.shape[0]])

        weights_rate = _sweep_rate(traj, weight_path, gen, chunk)[pick]
        parts = {"gate": _mean(gate_rate), "weights": _mean(weights_rate)}
        dominant = "gate" if parts["gate"] >= parts["weights"] else "weights"
        fields.update(parts=parts, dominant=dominant if abs(slope) > _FLAT else None, gate_mean=_mean(keep))
        fields["cause"], fields["remedy"] = _gated_story(fields, param)
    elif kind == "diagonal":
        fields.update(_diagonal_fields(traj, model, pick, slope, chunk))
    else:
        fields["cause"] = (f"not decomposed: rnnprobe splits the rate by cause for vanilla, LSTM, GRU and diagonal "
                           f"steps, not for the {kind!r} family; G(k) {_trend(slope)}")
    if fields.get("remedy") and slope < 0 and all(m.threshold_censored for m in memory):
        # nothing vanished within the sequence: the remedy is for longer dependencies only
        fields["remedy"] = (f"none needed over these T = {T} steps (G(k) >= eps = {_fmt(eps)} at every lag); for "
                            f"longer dependencies: {fields['remedy']}")
    return Diagnosis(**fields)


def _trend(rate: float) -> str:
    if rate < -_FLAT:
        return f"decays at {_fmt(-rate)} per step"
    if rate > _FLAT:
        return f"grows at {_fmt(rate)} per step"
    return "neither decays nor grows"


def _describe(model: StepModel) -> str:
    source = getattr(model, "source", None)
    return model.name + (f" ({source})" if source else "")


def _torch_parameter(model: StepModel) -> tuple[str, str] | None:
    """(module, parameter suffix) of an adapted torch layer, e.g. ``('torch.nn.LSTM', 'l1')``; None otherwise."""
    if isinstance(model, LayerAdapter):
        kind, _, rest = model.source.partition(" layer ")
        layer = rest.split(" ")[0]
        return f"torch.nn.{kind}", f"l{layer}" + ("_reverse" if "reverse" in rest else "")
    if isinstance(model, CellAdapter) and isinstance(model.inner, nn.Module):
        return f"torch.nn.{type(model.inner).__name__}", ""
    return None


def _vanilla_story(f: dict, torch_param, relu: bool) -> tuple[str, str]:
    p, rate, gamma, rho = f["parts"], f["rate"], f["gamma"], f["spectral_radius"]
    if f["dominant"] is None:
        return f"G(k) {_trend(rate)}: nothing to explain", ""
    param = "W_h" if torch_param is None else \
        f"{torch_param[0]}'s weight_hh" + (f"_{torch_param[1]}" if torch_param[1] else "")
    if rate > 0:
        return (f"the recurrent weights make G grow: ρ(W_h)·γ = {_fmt(rho * gamma)} > 1",
                f"orthogonal init of {param} with gain <= 1/γ = {_fmt(1 / gamma)}, a smaller gain, or gradient "
                "clipping (torch.nn.utils.clip_grad_norm_)")
    if f["dominant"] == "weights":
        return (f"the recurrent weights set the decay ({_fmt(p['weights'])} of {_fmt(p['weights'] + p['activations'])} "
                f"per step): ρ(W_h) = {_fmt(rho)}, so γρ(W_h) = {_fmt(gamma * rho)} < 1 shrinks gradients about "
                f"{_fmt(gamma * rho)}-fold per step; the units are not the cause (mean σ′ = {_fmt(f['derivative_mean'])}, "
                f"{100 * f['saturated_fraction']:.1f}% of unit-steps saturated)",
                f"initialise {param} orthogonally with gain 1/γ = {_fmt(1 / gamma)} (torch.nn.init.orthogonal_), "
                "or raise its gain until ρ(W_h) is near 1/γ; or use a gated cell (LSTM, GRU)")
    dead = "dead (σ′ = 0)" if relu else "saturated"
    return (f"saturated units set the decay ({_fmt(p['activations'])} of {_fmt(p['weights'] + p['activations'])} per "
            f"step): mean σ′ = {_fmt(f['derivative_mean'])}, {100 * f['saturated_fraction']:.1f}% of unit-steps "
            f"{dead}, {f['saturated_units']} units so at more than half of the steps; the weights are not the cause "
            f"(ρ(W_h) = {_fmt(rho)})",
            "keep the pre-activations in σ's linear range: smaller inputs (or input weights), smaller biases, or a "
            "smaller recurrent gain")


def _gated_story(f: dict, torch_param) -> tuple[str, str]:
    p, rate, kind = f["parts"], f["rate"], f["kind"]
    gate = "forget gate f" if kind == "lstm" else "update gate z"
    symbol = "f" if kind == "lstm" else "z"
    where = ""
    if torch_param is not None:
        module, suffix = torch_param
        suffix = f"_{suffix}" if suffix else ""
        where = f"in {module}: bias_ih{suffix}[n:2n] + bias_hh{suffix}[n:2n], n = hidden_size; "
    if kind == "lstm":
        bias = (f"the forget-gate bias b_f ({where}" + ("" if where else "forget_bias; ")
                + "about 1 + e^b_f steps of memory at the origin), or chrono init")
    else:
        bias = f"the update-gate bias b_z ({where}" + ("" if where else "update_bias; ") + "z near 1 keeps the state)"
    if f["dominant"] is None:
        return f"G(k) {_trend(rate)}: nothing to explain", ""
    if rate > 0:
        return (f"G grows through the recurrent matrices (their path grows at {_fmt(p['weights'])} per step; "
                f"ρ = {_fmt(f['spectral_radius'])} for {f['spectral_radius_block']})",
                "lower the gain of the recurrent matrices, or clip gradients (torch.nn.utils.clip_grad_norm_)")
    if f["dominant"] == "gate":
        return (f"the {gate} sets the decay: mean {symbol} = {_fmt(f['gate_mean'])}, its path decays at "
                f"{_fmt(-p['gate'])} per step (most persistent unit; G at {_fmt(-rate)}, the path through the "
                f"recurrent matrices at {_fmt(-p['weights'])})",
                f"raise {bias}")
    return (f"the {gate} is nearly closed (mean {symbol} = {_fmt(f['gate_mean'])}; its path decays at "
            f"{_fmt(-p['gate'])} per step), so the memory left goes through the recurrent matrices, which decay at "
            f"{_fmt(-p['weights'])} per step",
            f"raise {bias}, so that the gate carries the state")


#: what moves a built-in diagonal recurrence's factors at zero input toward 1 (None: any other model)
_DIAGONAL_KNOB = {
    "lru": "the LRU ring's r_max closer to 1, e.g. build('lru', r_min=0.9, r_max=0.999)",
    "s4d": "smaller steps Δ, so that exp(ΔA) is nearer 1: lower dt_min and dt_max",
    "s6": "smaller steps Δ, so that exp(ΔA) is nearer 1: lower dt_min and dt_max",
    "mingru": "a negative update_bias b_z: minGRU's z writes and 1 − σ(b_z) is kept per step at zero input",
    "minlstm": "a larger forget_bias b_f",
    None: "e.g. an LRU ring with r_max closer to 1, or a larger gain",
}
#: the gate bias that makes a built-in diagonal recurrence keep its state when the inputs close the gates
_DIAGONAL_GATE_KNOB = {
    "mingru": "lower minGRU's update_bias b_z: its z is the fraction written",
    "minlstm": "raise minLSTM's forget_bias b_f",
    "s6": "lower dt_min and dt_max, which set S6's Δ bias b_Δ, so that the inputs' Δ_t stay small",
    None: "raise the bias of the gate that keeps the state; minGRU: lower its update_bias, whose z writes",
}


def _conformal_moduli(M: torch.Tensor, index: torch.Tensor) -> torch.Tensor | None:
    """|λ_j| of the 2×2 blocks ``(..., S, S)`` at ``index`` ``(m, 2)`` when every block is a rotation–scaling
    ``[[a, −b], [b, a]]`` (a complex factor a + ib, as the LRU's) and nothing lies outside them; else None."""
    i, j = index[:, 0].to(M.device), index[:, 1].to(M.device)
    a, b = M[..., i, i], M[..., j, i]
    if not bool(((M[..., j, j] == a) & (M[..., i, j] == -b)).all()):
        return None
    rest = M.clone()
    rest[..., i, i] = rest[..., j, j] = rest[..., i, j] = rest[..., j, i] = 0
    return None if bool(rest.abs().amax() > 0) else torch.hypot(a, b)


def _diagonal_fields(traj: Trajectory, model: StepModel, pick: list[int], slope: float, chunk: int) -> dict:
    blocks = getattr(model, "jacobian_block_size", 1) == 2 and hasattr(model, "jacobian_block_index")
    index = model.jacobian_block_index() if blocks else None
    factors = []
    for start, J in traj.iter_jacobians(chunk):
        if blocks:       # complex factors held as 2×2 rotation–scaling blocks (the LRU): their moduli are the factors
            diag = _conformal_moduli(J, index)
            if diag is None:
                return dict(cause=f"not decomposed: the step Jacobians of {model.name!r} have 2×2 blocks that are "
                                  f"not rotation–scalings (complex factors); G(k) {_trend(slope)}")
        else:
            diag = torch.diagonal(J, dim1=-2, dim2=-1)
            if bool((J - torch.diag_embed(diag)).abs().amax() > 0):
                return dict(cause=f"not decomposed: the step Jacobians of {model.name!r} are not diagonal; "
                                  f"G(k) {_trend(slope)}")
        factors.append(diag)
    a = torch.cat(factors)[:, pick].abs()                                  # (T, b, S) (blocks: (T, b, m))
    log_a = torch.log(a).mean(0)                                           # (b, S)
    slow = log_a.argmax(-1)                                                # (b,)
    rate = log_a.gather(-1, slow[:, None])[:, 0]
    W0 = _weights(model)
    zero = None
    if len(W0) == 1:
        W = next(iter(W0.values())).to(torch.float64)
        if W.ndim == 2 and W.shape[0] == W.shape[1] == traj.state_size:
            if blocks:
                moduli = _conformal_moduli(W, index)
                zero = None if moduli is None else torch.log(moduli).to(traj.device)
            elif bool((W - torch.diag(torch.diagonal(W))).abs().max() == 0):
                zero = torch.log(torch.diagonal(W).abs()).to(traj.device)
    out = dict(gate_mean=_mean(a))
    if zero is None:
        out["cause"] = (f"not decomposed: {model.name!r} does not give its factors at zero input (a diagonal "
                        f"recurrent_weights()); the slowest unit's factors average {_fmt(_mean(rate))} per step")
        return out
    static = zero[slow].to(rate.dtype)
    # a unit whose factor is exactly 0 at zero input and along the trajectory: the inputs add nothing (not −inf − −inf)
    moved = torch.where(rate == static, torch.zeros_like(rate), rate - static)
    parts = {"weights": _mean(static), "gates": _mean(moved)}
    dominant, share = _dominant(parts, slope)
    out.update(parts=parts, dominant=dominant, share=share)
    if dominant is None:
        out["cause"] = f"G(k) {_trend(slope)}: nothing to explain"
    elif slope > 0:
        out.update(cause=f"factors above 1 make G grow ({_fmt(parts['weights'])} per step at zero input)",
                   remedy="keep every factor's modulus below 1 (a smaller gain, or the published init)")
    elif dominant == "weights":
        out.update(cause=f"the factors themselves set the decay: the slowest unit's factor at zero input is "
                         f"{_fmt(math.exp(parts['weights']))} ({_fmt(parts['weights'])} per step); the inputs add "
                         f"{_fmt(parts['gates'])}",
                   remedy=f"move the largest factors toward 1 ({_DIAGONAL_KNOB.get(model.name, _DIAGONAL_KNOB[None])})")
    else:
        out.update(cause=f"the inputs close the gates: they move the slowest unit's rate by {_fmt(parts['gates'])} per "
                         f"step, against {_fmt(parts['weights'])} at zero input",
                   remedy=f"bias the gate towards keeping the state ({_DIAGONAL_GATE_KNOB.get(model.name, _DIAGONAL_GATE_KNOB[None])}), "
                          "or scale the inputs down")
    return out


def diagnose(model, inputs=None, loss=None, *, batch_loss=None, h0=None, batch_first: bool | None = None,
             eps: float = 0.01, seed: int = 0) -> Diagnosis:
    """What makes gradients of ``model`` decay (or grow) on ``inputs``: a diagnosis with the numbers.

    Parameters
    ----------
    model : StepModel, torch.nn.RNN/GRU/LSTM, cell, or Trajectory
        A recorded trajectory may be given in place of ``model, inputs``.
    inputs : torch.Tensor
        Your inputs (as :func:`rnnprobe.record` takes them: ``(T, d)``, ``(T, B, d)``, or
        ``(B, T, d)`` for a batch-first module).
    loss : callable, optional
        ``h_T (n,) -> scalar`` per sequence; or ``batch_loss``, ``h_T (B, n) -> (B,)``
        (see :mod:`rnnprobe.losses`). The gradient of your loss is the one the
        decomposition follows back, and its own rate is reported; default a fixed random
        unit readout (``seed``).
    h0 : torch.Tensor, optional
    batch_first : bool, optional
        As for :func:`rnnprobe.record`.
    eps : float
        Threshold of the memory length, in (0, 1).
    seed : int
        Seed of the default readout and of the start vector of the gated weights path.

    Returns
    -------
    Diagnosis
        ``print(d)`` gives the report; ``d.cause`` and ``d.remedy`` one sentence each.
    """
    if isinstance(model, Trajectory):
        if inputs is not None or h0 is not None or batch_first is not None:
            raise InvalidArgument("inputs, h0 and batch_first must be None when a Trajectory is passed in place of "
                                  f"the model; got inputs={type(inputs).__name__}")
        traj = model
    else:
        if inputs is None:
            raise InvalidArgument("inputs must be a tensor (your inputs, as record takes them) for a model; got None")
        traj = record(model, inputs, h0, batch_first=batch_first)
    return diagnose_trajectory(traj, loss, batch_loss=batch_loss, eps=eps, seed=seed)
