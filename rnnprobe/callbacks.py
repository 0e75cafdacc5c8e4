"""A Lightning callback around :class:`rnnprobe.monitor.ProbeMonitor` (optional: ``pip install 'rnnprobe[lightning]'``).

:class:`ProbeCallback` calls the monitor at every due step of a
``lightning.pytorch.Trainer``: in ``on_before_optimizer_step`` (the gradients
of the step are there, the weights not yet updated — the same point as in a
plain loop), then adds the step's training loss in ``on_train_batch_end``. The
rows are the monitor's (``callback.monitor.rows``); when the trainer logs to
TensorBoard they are also written there as scalars
(:func:`rnnprobe.monitor.write_scalars`).

Examples
--------
>>> import torch
>>> monitor = ProbeMonitor(torch.randn(30, 2, generator=torch.Generator().manual_seed(0)), every=1)
>>> callback = ProbeCallback(monitor, model="rnn") if HAVE_LIGHTNING else None
"""

from __future__ import annotations

from collections.abc import Callable

from rnnprobe.errors import InvalidArgument
from rnnprobe.monitor import ProbeMonitor, write_scalars

try:  # Lightning is optional
    from lightning.pytorch.callbacks import Callback as _Callback
    HAVE_LIGHTNING = True
except ImportError:  # pragma: no cover - exercised only without the extra
    _Callback = object
    HAVE_LIGHTNING = False

__all__ = ["ProbeCallback", "HAVE_LIGHTNING"]


class ProbeCallback(_Callback):
    """Probe a LightningModule's recurrent core every ``monitor.every`` optimizer steps.

    Parameters
    ----------
    monitor : ProbeMonitor
        Its probe sequence and settings; its ``rows`` collect the results.
    model : str or callable, optional
        The model the monitor probes: an attribute name of the LightningModule
        (``"rnn"``), a callable ``pl_module -> model``, or None for the
        LightningModule itself (it must then have ``probe_core``). Gradient
        norms are those of all the LightningModule's parameters.
    tensorboard : bool
        Also write the rows as scalars when the trainer's logger is a TensorBoard logger.
    """

    def __init__(self, monitor: ProbeMonitor, *, model: str | Callable | None = None, tensorboard: bool = True):
        if not HAVE_LIGHTNING:
            raise InvalidArgument("ProbeCallback needs Lightning: pip install 'rnnprobe[lightning]'; got no "
                                  "importable 'lightning' package")
        if not isinstance(monitor, ProbeMonitor):
            raise InvalidArgument(f"monitor must be a ProbeMonitor; got {type(monitor).__name__}")
        if model is not None and not isinstance(model, str) and not callable(model):
            raise InvalidArgument(f"model must be an attribute name, a callable or None; got {model!r}")
        super().__init__()
        self.monitor = monitor
        self.model = model
        self.tensorboard = bool(tensorboard)
        self._pending: int | None = None

    def _target(self, pl_module):
        if self.model is None:
            return pl_module
        if isinstance(self.model, str):
            if not hasattr(pl_module, self.model):
                raise InvalidArgument(f"model names attribute {self.model!r}, which the LightningModule "
                                      f"{type(pl_module).__name__} does not have")
            return getattr(pl_module, self.model)
        return self.model(pl_module)

    def _write(self, trainer, rows) -> None:
        if not self.tensorboard or not rows:
            return
        for logger in trainer.loggers:
            experiment = getattr(logger, "experiment", None)
            if hasattr(experiment, "add_scalar"):
                write_scalars(experiment, rows)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        step = trainer.global_step            # optimizer updates done so far
        if self.monitor.due(step):
            rows = self.monitor(step, self._target(pl_module), parameters=pl_module)
            self._write(trainer, rows)
            self._pending = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self._pending is None:
            return
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if loss is not None:
            value = float(loss.detach()) if hasattr(loss, "detach") else float(loss)
            self._write(trainer, [self.monitor.log(self._pending, "loss", value)])
        self._pending = None
