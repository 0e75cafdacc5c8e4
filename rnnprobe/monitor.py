"""Watch gradient flow and memory change while a model trains: :class:`ProbeMonitor`.

A plain PyTorch loop calls the monitor every N steps (after ``backward``, before
the optimizer step). On a fixed probe sequence it records, through the model's
recurrent core:

* the all-lag profile G(k) = ‖∂s_T/∂s_{T−k}‖₂ (``jacobian_norm``, one row per lag);
* the memory length: threshold (largest k with G(k) ≥ eps) and e-folding time;
* σ_max of each recurrent weight block (W_h, or one per gate);
* the top-k Lyapunov exponents along the probe trajectory;
* the loss the loop passes in, and the gradient norm of each parameter group
  (the parameters of one module; ``total`` for all).

The numbers are those of the direct probes (:func:`rnnprobe.record`,
:func:`rnnprobe.jacobian_norms`, :func:`rnnprobe.memory_length`,
:func:`rnnprobe.weight_spectrum`, :func:`rnnprobe.trajectory_lyapunov_spectrum`)
on a float64 copy of the core's weights: a trained model is just a model.

Rows are tidy dicts with the columns :data:`MONITOR_COLUMNS` — the studies'
row columns (``metric, lag, layer, index, block, value``) plus ``step`` and any
constant ``context`` columns (e.g. a study's grid columns) first — and the
metric names :data:`MONITOR_METRICS`, so ``pandas.DataFrame(monitor.rows)``
takes them as they are.

The model is a :class:`~rnnprobe.sequence.charrnn.CharRNN` (the probe
sequence is then character ids), an rnnprobe step model, or a torch
``RNN``/``GRU``/``LSTM`` (the probe sequence is then the core's inputs
``(T, d)``); any object with a ``probe_core(inputs, layer)`` method returning
``(step_model, core_inputs)`` works too.

Cost: one call records the probe sequence and runs the probes on it, about
the cost of a few training steps (measured in the README); calling it every N
steps bounds its share of the training time.

Examples
--------
>>> import torch, rnnprobe
>>> rnn = torch.nn.GRU(3, 8)
>>> probe = torch.randn(40, 3, generator=torch.Generator().manual_seed(0))
>>> monitor = ProbeMonitor(probe, every=10, lyapunov_k=2)
>>> rows = monitor(0, rnn)
>>> sorted({r["metric"] for r in rows})
['jacobian_norm', 'lyapunov_exponent', 'memory_efold', 'memory_threshold', 'sigma_max']
>>> monitor(5, rnn), len(monitor.rows) == len(rows)      # not due at step 5
([], True)
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping

import torch
from torch import nn

from rnnprobe._validation import check_dtype, check_int, check_real
from rnnprobe.errors import InvalidArgument
from rnnprobe.lyapunov import default_burn_in, trajectory_lyapunov_spectrum
from rnnprobe.memory import summarise_memory
from rnnprobe.models.adapters import adapt, is_adaptable
from rnnprobe.models.base import StepModel
from rnnprobe.products import jacobian_norms
from rnnprobe.schema import MONITOR_COLUMNS, MONITOR_METRICS
from rnnprobe.spectrum import weight_spectrum
from rnnprobe.trajectory import record

__all__ = ["ProbeMonitor", "MONITOR_COLUMNS", "MONITOR_METRICS", "gradient_norms_by_group", "write_scalars"]

# the column and metric names are declared once, in rnnprobe.schema (MONITOR_COLUMNS, MONITOR_METRICS)

_TOTAL = "total"


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def gradient_norms_by_group(parameters) -> dict[str, float]:
    """L2 norms of the gradients, one per module (the parameter name without its last part), and ``total``.

    Parameters
    ----------
    parameters : torch.nn.Module or iterable of (name, parameter)
        Parameters without a gradient are skipped.

    Returns
    -------
    dict
        ``{group: norm}`` in first-seen order, then ``'total'``; empty when no
        parameter has a gradient.

    Examples
    --------
    >>> lin = torch.nn.Linear(2, 1)
    >>> lin(torch.ones(1, 2)).sum().backward()
    >>> {k: round(v, 4) for k, v in gradient_norms_by_group(torch.nn.Sequential(lin)).items()}
    {'0': 1.7321, 'total': 1.7321}
    """
    named = parameters.named_parameters() if isinstance(parameters, nn.Module) else parameters
    sq: dict[str, float] = {}
    for name, p in named:
        if p.grad is None:
            continue
        group = name.rsplit(".", 1)[0] if "." in name else name
        sq[group] = sq.get(group, 0.0) + float(p.grad.detach().double().pow(2).sum())
    if not sq:
        return {}
    out = {g: math.sqrt(v) for g, v in sq.items()}
    out[_TOTAL] = math.sqrt(sum(sq.values()))
    return out


class ProbeMonitor:
    """Probe a model's recurrent core on a fixed sequence every ``every`` steps; keep tidy rows.

    Parameters
    ----------
    inputs : torch.Tensor
        The fixed probe sequence: character ids ``(T,)`` for a model with
        ``probe_core`` (a char-RNN), else the core's inputs ``(T, d)``.
    every : int
        Probe at steps 0, every, 2·every, … (>= 1).
    eps : float
        Threshold of the memory length on G(k), in (0, 1).
    lyapunov_k : int
        How many Lyapunov exponents (at most the state size).
    burn_in : int, optional
        Burn-in of the Lyapunov exponents (default: rnnprobe's, T // 10 up to 200).
    layers : iterable of int
        Which core layers to probe (default: layer 0).
    dtype : torch.dtype or str
        dtype of the probed copy (float64 by default).
    context : dict, optional
        Constant columns put first in every row (e.g. ``{"arch": "lstm"}``).

    Attributes
    ----------
    rows : list of dict
        Every row recorded so far (the monitor's only state).
    """

    def __init__(self, inputs: torch.Tensor, *, every: int = 100, eps: float = 0.01, lyapunov_k: int = 4,
                 burn_in: int | None = None, layers: Iterable[int] = (0,), dtype=torch.float64,
                 context: Mapping | None = None):
        if not isinstance(inputs, torch.Tensor):
            raise InvalidArgument(f"inputs must be a torch.Tensor (the probe sequence); got {type(inputs).__name__}")
        if inputs.dim() not in (1, 2) or inputs.shape[0] < 2:
            raise InvalidArgument(f"inputs must be a probe sequence (T,) of ids or (T, d) with T >= 2; "
                                  f"got shape {tuple(inputs.shape)}")
        self.inputs = inputs.detach().clone()
        self.every = check_int("every", every, min_value=1)
        self.eps = check_real("eps", eps, low=0.0, high=1.0, low_open=True, high_open=True)
        self.lyapunov_k = check_int("lyapunov_k", lyapunov_k, min_value=1)
        T = inputs.shape[0]
        self.burn_in = default_burn_in(T) if burn_in is None else check_int("burn_in", burn_in, min_value=0,
                                                                             max_value=T - 1)
        self.layers = tuple(check_int("layers", l, min_value=0) for l in layers)
        if not self.layers:
            raise InvalidArgument("layers must name at least one core layer; got an empty list")
        self.dtype = check_dtype("dtype", dtype)
        self.context = dict(context or {})
        clash = set(self.context) & set(MONITOR_COLUMNS)
        if clash:
            raise InvalidArgument(f"context columns must not be monitor columns ({', '.join(MONITOR_COLUMNS)}); "
                                  f"got {sorted(clash)}")
        self.rows: list[dict] = []

    @property
    def columns(self) -> list[str]:
        """The columns of every row: the context's, then :data:`MONITOR_COLUMNS`."""
        return list(self.context) + list(MONITOR_COLUMNS)

    def due(self, step: int) -> bool:
        """Whether the monitor probes at ``step``."""
        return check_int("step", step, min_value=0) % self.every == 0

    def row(self, step: int, metric: str, value: float, *, lag=None, layer=None, index=None, block=None) -> dict:
        """One tidy row (with the context columns)."""
        if metric not in MONITOR_METRICS:
            raise InvalidArgument(f"metric must be one of {', '.join(MONITOR_METRICS)}; got {metric!r}")
        value = float(value)
        if math.isnan(value):
            raise InvalidArgument(f"value of {metric!r} at step {step} must not be NaN")
        return {**self.context, "step": int(step), "metric": metric, "lag": lag, "layer": layer, "index": index,
                "block": block, "value": value}

    def log(self, step: int, metric: str, value: float, **fields) -> dict:
        """Append a row of a scalar metric (a loss, a validation score) and return it."""
        r = self.row(step, metric, value, **fields)
        self.rows.append(r)
        return r

    def __call__(self, step: int, model, *, loss=None, parameters=None, force: bool = False) -> list[dict]:
        """Probe ``model`` if ``step`` is due (or ``force``); append and return the rows.

        Parameters
        ----------
        step : int
            The number of optimizer updates done so far.
        model : CharRNN, StepModel or torch RNN/GRU/LSTM
        loss : float or torch.Tensor, optional
            The training loss at this step (recorded as ``loss``).
        parameters : torch.nn.Module or iterable of (name, parameter), optional
            Whose gradients to record (default: ``model`` if it is a module).
            Call the monitor after ``backward`` and before ``optimizer.step``.
        force : bool
            Probe even if the step is not due.
        """
        if not force and not self.due(step):
            return []
        rows = self.measure(step, model, loss=loss, parameters=parameters)
        self.rows.extend(rows)
        return rows

    # ----------------------------------------------------------------- probes
    def _core(self, model, layer: int) -> tuple[StepModel, torch.Tensor]:
        if hasattr(model, "probe_core"):
            return model.probe_core(self.inputs, layer, dtype=self.dtype)
        if not self.inputs.is_floating_point():
            raise InvalidArgument(f"inputs must be float inputs (T, d) of the core for a {type(model).__name__} "
                                  f"(character ids need a model with probe_core); got dtype {self.inputs.dtype}")
        if isinstance(model, StepModel):
            if layer != 0:
                raise InvalidArgument(f"layers must be (0,) for a single step model; got layer {layer!r}")
            core = copy.deepcopy(model).to(self.dtype)
            core.requires_grad_(False)
        elif is_adaptable(model):
            with torch.random.fork_rng(devices=[]):
                core = adapt(model, layer, dtype=self.dtype)
        else:
            raise InvalidArgument(f"model must be a char-RNN (with probe_core), an rnnprobe StepModel or a torch "
                                  f"RNN/GRU/LSTM; got {type(model).__name__}")
        return core, self.inputs.to(dtype=self.dtype, device=core.device)

    def measure(self, step: int, model, *, loss=None, parameters=None) -> list[dict]:
        """The rows of one probe (pure: the monitor's rows are not changed)."""
        step = check_int("step", step, min_value=0)
        rows = []
        for layer in self.layers:
            core, x = self._core(model, layer)
            if core.kind != "recurrent":
                raise InvalidArgument(f"model's core must be recurrent; got a {core.kind!r} stack")
            traj = record(core, x)
            log_G = jacobian_norms(traj, log=True)
            lags = traj.lags
            k = min(self.lyapunov_k, traj.state_size)
            lam = trajectory_lyapunov_spectrum(traj, k, burn_in=self.burn_in)
            mem = summarise_memory(lags.numpy(), log_G.cpu().numpy(), float(lam[0]), self.eps)
            for lag, v in sorted(zip(lags.tolist(), log_G.tolist())):
                rows.append(self.row(step, "jacobian_norm", _exp(v), lag=int(lag), layer=layer))
            rows.append(self.row(step, "memory_threshold", mem.threshold, layer=layer))
            rows.append(self.row(step, "memory_efold", mem.efold, layer=layer))
            for name, block in weight_spectrum(core).blocks.items():
                rows.append(self.row(step, "sigma_max", block.spectral_norm, layer=layer, block=name))
            for i, v in enumerate(lam.tolist()):
                rows.append(self.row(step, "lyapunov_exponent", v, layer=layer, index=i))
        if loss is not None:
            value = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)
            rows.append(self.row(step, "loss", value))
        if parameters is None and isinstance(model, nn.Module):
            parameters = model
        if parameters is not None:
            for group, norm in gradient_norms_by_group(parameters).items():
                rows.append(self.row(step, "parameter_gradient_norm", norm, block=group))
        return rows


#: lags whose G(k) :func:`write_scalars` writes by default
SCALAR_LAGS = (1, 10, 100)


def write_scalars(writer, rows: Iterable[Mapping], *, lags: Iterable[int] = SCALAR_LAGS, prefix: str = "rnnprobe") -> int:
    """Write monitor rows as TensorBoard scalars; return how many were written.

    Parameters
    ----------
    writer : torch.utils.tensorboard.SummaryWriter or any object with ``add_scalar(tag, value, step)``
    rows : iterable of dict
        Monitor rows.
    lags : iterable of int
        The lags whose ``jacobian_norm`` is written (all lags would be one scalar each).
    prefix : str
        Tag prefix.

    Notes
    -----
    Tags are ``prefix/metric`` plus ``/block``, ``/layer_l``, ``/lambda_i`` or
    ``/lag_k`` where the row has one, e.g. ``rnnprobe/jacobian_norm/layer_0/lag_10``.

    Examples
    --------
    >>> class Writer:
    ...     def __init__(self): self.tags = []
    ...     def add_scalar(self, tag, value, step): self.tags.append(tag)
    >>> w = Writer()
    >>> write_scalars(w, [{"step": 0, "metric": "loss", "lag": None, "layer": None, "index": None,
    ...                    "block": None, "value": 2.0}]), w.tags
    (1, ['rnnprobe/loss'])
    """
    keep = set(lags)
    n = 0
    for r in rows:
        if r["metric"] == "jacobian_norm" and r["lag"] not in keep:
            continue
        parts = [prefix, r["metric"]]
        if r.get("layer") is not None:
            parts.append(f"layer_{r['layer']}")
        if r.get("block") is not None:
            parts.append(str(r["block"]))
        if r.get("index") is not None:
            parts.append(f"lambda_{r['index'] + 1}")
        if r.get("lag") is not None:
            parts.append(f"lag_{r['lag']}")
        writer.add_scalar("/".join(parts), float(r["value"]), int(r["step"]))
        n += 1
    return n
