"""Your own models, lag by lag: G(k) or g(k) of trajectories (or of probe outputs), one line per label.

:func:`plot_lags` takes what a notebook has — ``{"rnn": traj_a, "lstm": traj_b}`` from
:func:`rnnprobe.record` — and draws the Jacobian norm ``G(k) = ‖∂s_T/∂s_{T−k}‖₂`` or the
gradient norm ``g(k) = ‖∂L/∂s_{T−k}‖`` against the lag k on a log scale. Unlike the study
figures it needs no study-shaped frame: it calls the probes itself on trajectories (or
takes their outputs), names the state each line measures (``[h; c]`` for an LSTM) and
gives every label its own colour.

Examples
--------
>>> import torch, rnnprobe
>>> from rnnprobe.reports import plot_lags
>>> x = torch.randn(40, 3, 1, generator=torch.Generator().manual_seed(0))
>>> trajs = {"rnn": rnnprobe.record(rnnprobe.build("vanilla-tanh", 8, seed=0), x),
...          "lstm": rnnprobe.record(rnnprobe.build("lstm", 8, seed=0), x)}
>>> ax = plot_lags(trajs)
>>> [t.get_text() for t in ax.get_legend().get_texts()]
['rnn (s = h)', 'lstm (s = [h; c])']
>>> ax.get_yscale(), ax.get_xlabel()
('log', 'lag k (steps back from the last state, T − t)')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch
from matplotlib.colors import to_rgb

from rnnprobe.diagnosis import state_label
from rnnprobe.errors import InvalidArgument
from rnnprobe.reports._plotting import new_axes, tidy_log_axis
from rnnprobe.reports.palette import ARCH_COLOURS, ARCH_PALETTE
from rnnprobe.trajectory import Trajectory

__all__ = ["plot_lags", "LAG_QUANTITIES"]

#: what :func:`plot_lags` draws
LAG_QUANTITIES = ("jacobian_norm", "gradient_norm")


def _per_label(name: str, value, labels) -> dict:
    """A loss keyword given once for every label, or as a mapping label -> callable."""
    if value is None or callable(value):
        return {label: value for label in labels}
    if isinstance(value, Mapping):
        unknown = [k for k in value if k not in labels]
        if unknown:
            raise InvalidArgument(f"{name} must map labels of data ({', '.join(map(repr, labels))}) to callables; "
                                  f"got unknown labels {unknown!r}")
        return {label: value.get(label) for label in labels}
    raise InvalidArgument(f"{name} must be a callable, a mapping label -> callable, or None; got {type(value).__name__}")


def _log_values(label: str, value, quantity: str, losses: dict, seed: int) -> tuple[np.ndarray, str | None]:
    """(log values (B, T) by ascending lag, the state's name or None) of one entry of ``data``."""
    import rnnprobe

    if isinstance(value, Trajectory):
        if quantity == "jacobian_norm":
            if any(v is not None for v in losses.values()):
                raise InvalidArgument("loss, batch_loss and loss_over_steps apply to quantity='gradient_norm'; "
                                      f"got a loss with quantity={quantity!r}")
            logs = rnnprobe.jacobian_norms(value, log=True)
        else:
            logs = rnnprobe.gradient_norms(value, **losses, log=True, seed=seed)
        logs = logs if value.batched else logs.unsqueeze(0)
        return logs.flip(-1).to(torch.float64).cpu().numpy(), state_label(value.model)
    try:
        arr = np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"data[{label!r}] must be a Trajectory or the values a probe returned ((T,) or (B, T)); "
                              f"got {type(value).__name__}") from exc
    if arr.ndim not in (1, 2) or arr.shape[-1] == 0:
        raise InvalidArgument(f"data[{label!r}] must have shape (T,) or (B, T) with T >= 1, entry t at lag T − t "
                              f"(as jacobian_norms and gradient_norms return it); got shape {arr.shape}")
    if np.isnan(arr).any() or (arr < 0).any() or np.isposinf(arr).any():
        raise InvalidArgument(f"data[{label!r}] must hold norms: finite and >= 0; got NaN, Inf or negative values")
    with np.errstate(divide="ignore"):
        return np.log(np.atleast_2d(arr))[:, ::-1], None


def _colours(labels: list[str], names: dict) -> dict:
    """One colour per label: its architecture's, unless another label has it already; else the palette colour
    farthest (in RGB) from those in use, so that two variants of one architecture do not get near hues."""
    used, out = [], {}
    for label in labels:
        own = ARCH_PALETTE[names[label]] if names.get(label) in ARCH_PALETTE else None
        if own is not None and own not in used:
            colour = own
        else:
            free = [c for c in ARCH_COLOURS if c not in used and _luminance(c) < 0.5] or [f"C{len(out) % 10}"]
            colour = max(free, key=lambda c: min((_distance(c, u) for u in used), default=0.0))
        used.append(colour)
        out[label] = colour
    return out


def _luminance(colour: str) -> float:
    """Relative luminance: pale colours (yellow, pink) read badly as thin lines on white."""
    r, g, b = to_rgb(colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _distance(a: str, b: str) -> float:
    return float(np.linalg.norm(np.subtract(to_rgb(a), to_rgb(b))))


def plot_lags(data: Mapping, *, quantity: str = "jacobian_norm", ax=None, loss: Callable | Mapping | None = None,
              batch_loss: Callable | Mapping | None = None, loss_over_steps: Callable | Mapping | None = None,
              band: bool = True, legend: bool = True, title: str | None = None, seed: int = 0):
    """G(k) or g(k) against the lag k, one line (and colour) per label: your own models side by side.

    Parameters
    ----------
    data : mapping of str to Trajectory or array
        Label -> a trajectory from :func:`rnnprobe.record` (the probe is run here), or the
        values a probe returned, ``(T,)`` or ``(B, T)`` with entry t at lag T − t (as
        :func:`rnnprobe.jacobian_norms` and :func:`rnnprobe.gradient_norms` return them).
    quantity : {'jacobian_norm', 'gradient_norm'}
        ``G(k) = ‖∂s_T/∂s_{T−k}‖₂`` or ``g(k) = ‖∂L/∂s_{T−k}‖`` (for trajectories).
    ax : matplotlib Axes, optional
        Drawn on a new pyplot-free Figure when None.
    loss, batch_loss, loss_over_steps : callable or mapping of label to callable, optional
        The loss of ``quantity='gradient_norm'`` (see :mod:`rnnprobe.losses`), for every
        label or per label (each model its own head); default a fixed random unit readout.
    band : bool
        For batched trajectories: the median over the sequences is the line, their range
        a shaded band.
    legend : bool
        Label each line with the state it measures (``rnn (s = h)``, ``lstm (s = [h; c])``).
    title : str, optional
    seed : int
        Seed of the default readout.

    Returns
    -------
    matplotlib.axes.Axes
        Lags on the x axis, the norm on a log y axis. Values below the smallest float
        (exactly 0) are not drawn.

    Raises
    ------
    InvalidArgument
        For empty ``data``, an unknown ``quantity``, values that are not norms, or a loss
        given for ``quantity='jacobian_norm'``.
    """
    if not isinstance(data, Mapping) or not data:
        raise InvalidArgument(f"data must be a non-empty mapping label -> Trajectory or values; got "
                              f"{type(data).__name__ if not isinstance(data, Mapping) else 'an empty mapping'}")
    if quantity not in LAG_QUANTITIES:
        raise InvalidArgument(f"quantity must be one of {', '.join(map(repr, LAG_QUANTITIES))}; got {quantity!r}")
    labels = [str(k) for k in data]
    per = {name: _per_label(name, value, labels) for name, value in
           (("loss", loss), ("batch_loss", batch_loss), ("loss_over_steps", loss_over_steps))}
    ax = new_axes(ax)
    curves, states, names = {}, {}, {}
    for key, label in zip(data, labels):
        value = data[key]
        losses = {name: per[name][label] for name in per}
        curves[label], states[label] = _log_values(label, value, quantity, losses, seed)
        if isinstance(value, Trajectory):
            names[label] = value.model.name
    colours = _colours(labels, names)
    for label in labels:
        logs = curves[label]
        lags = np.arange(1, logs.shape[-1] + 1)
        with np.errstate(over="ignore"):
            values = np.exp(logs)
        median = np.exp(np.median(logs, axis=0))
        shown = label if states[label] is None else f"{label} (s = {states[label]})"
        keep = median > 0
        ax.plot(lags[keep], median[keep], color=colours[label], label=shown, lw=1.8)
        if band and values.shape[0] > 1:
            lo, hi = values.min(0), values.max(0)
            keep = hi > 0
            ax.fill_between(lags[keep], np.where(lo[keep] > 0, lo[keep], np.nan), hi[keep], color=colours[label],
                            alpha=0.2, lw=0)
    ax.set_yscale("log")
    tidy_log_axis(ax)
    ax.set_xlabel("lag k (steps back from the last state, T − t)")
    named = set(states.values())
    s = next(iter(named)) if len(named) == 1 and None not in named else "s"
    if quantity == "jacobian_norm":
        ylabel = f"G(k) = ‖∂{s}_T/∂{s}_(T−k)‖₂"
    else:
        given = any(v is not None for p in per.values() for v in p.values())
        ylabel = f"g(k) = ‖∂L/∂{s}_(T−k)‖" + ("" if given else " (L: a random unit readout of h_T)")
    if s == "s" and named - {None}:
        ylabel += ", s as in the legend"
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if legend:
        ax.legend(loc="best", frameon=True, framealpha=0.85)
    return ax
