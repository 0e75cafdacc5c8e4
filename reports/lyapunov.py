"""Figure of hyperbolicity: the angle between unstable and stable covariant Lyapunov directions over time.

Like the other figure modules: a tidy frame in, a Figure out, nothing computed,
no ``plt.show()``; colours from :data:`reports.palette.ARCH_PALETTE`.

The frame has one row per architecture × (gain) × (seed) × time step, with the
angle from :func:`rnnprobe.covariant_lyapunov_vectors` (``CovariantLyapunovVectors.angles``:
the minimum angle between span(v_1 … v_s) and span(v_s+1 … v_k), s the number of
positive exponents, or 1 when none is positive)::

    rows = []
    for arch in ("vanilla-tanh", "gru", "lstm"):
        model = rnnprobe.build(arch, hidden_size=8, gain=2.0, seed=0)
        clv = rnnprobe.covariant_lyapunov_vectors(model, x, burn_in=200, burn_out=200)
        rows += [{"arch": arch, "gain": 2.0, "seed": 0, "time": int(t), "angle": float(a)}
                 for t, a in zip(clv.times, clv.angles)]
    fig = plot_hyperbolicity(pd.DataFrame(rows))

Examples
--------
>>> import pandas as pd
>>> from rnnprobe.reports.lyapunov import plot_hyperbolicity
>>> a = pd.DataFrame({"arch": ["gru"] * 3 + ["lstm"] * 3, "time": [0, 1, 2] * 2,
...                   "angle": [0.5, 0.4, 0.6, 1.2, 1.1, 1.3]})
>>> fig = plot_hyperbolicity(a)
>>> fig.axes[0].get_ylabel(), fig.axes[0].get_yscale(), [t.get_text() for t in fig.legends[0].get_texts()]
('min angle between subspaces (degrees)', 'log', ['gru', 'lstm'])
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from rnnprobe.errors import InvalidArgument
from rnnprobe.reports._plotting import (MAX_CURVES, check_frame, facets, fmt_gain, new_figure, palette_of, panel_grid,
                                        tidy_log_axis)

__all__ = ["plot_hyperbolicity"]


def plot_hyperbolicity(angles: pd.DataFrame, *, fig=None, max_cols: int = 3, max_curves: int = MAX_CURVES):
    """The minimum angle between the leading unstable and stable directions over time, per architecture.

    Parameters
    ----------
    angles : DataFrame
        Columns ``arch``, ``time`` (state index) and ``angle`` (radians, in
        ``[0, π/2]``); optional ``gain`` (one panel per gain), ``seed`` (the
        line is the median over seeds, the band their range) and ``variant``
        (lines, when one architecture appears in several variants).
    fig : matplotlib Figure or SubFigure, optional
    max_cols : int
        Panels per row.
    max_curves : int
        More architectures than this are split over rows of panels (by family).

    Returns
    -------
    matplotlib.figure.Figure
        Angle in degrees on a log axis against time: a curve that dips towards 0
        marks near-tangencies between growing and shrinking directions (the
        dynamics is not uniformly hyperbolic there); a curve that stays near 90°
        means the two subspaces stay orthogonal, as for a normal (e.g. symmetric)
        Jacobian. One legend of the architectures, outside the panels; the panels
        share their y axis.
    """
    check_frame(angles, ["arch", "time", "angle"], name="angles",
                hint="rows of rnnprobe.covariant_lyapunov_vectors(...).angles per architecture and time")
    values = pd.to_numeric(angles["angle"], errors="coerce")
    bad = ~np.isfinite(values.to_numpy(float)) | (values < 0) | (values > math.pi / 2 + 1e-12)
    if bool(bad.any()):
        first = angles.loc[bad, "angle"].tolist()[0]
        raise InvalidArgument(f"angles['angle'] must be finite radians in [0, π/2]; got {first!r} "
                              f"({int(bad.sum())} such rows)")
    data = angles.assign(variant=angles["variant"].astype(str) if "variant" in angles else angles["arch"].astype(str),
                         degrees=np.degrees(values.to_numpy(float)))
    fig = new_figure(fig, figsize=(10.0, 4.2))
    gains = sorted(data["gain"].dropna().unique()) if "gain" in data else [None]
    groups = facets(data, max_curves=max_curves)
    if len(groups) == 1:
        axes = panel_grid(fig, len(gains), max_cols=max_cols, sharey=True)
        cells = [(ax, g, "", data) for ax, g in zip(axes, gains)]
    else:
        grid = fig.subplots(len(groups), len(gains), sharex=True, sharey=True, squeeze=False)
        cells = [(grid[i, j], g, t, part) for i, (t, part) in enumerate(groups) for j, g in enumerate(gains)]
        axes = list(grid.ravel())
    palette = {}
    for ax, g, title, part in cells:
        palette.update(palette_of(part))
        d = part if g is None else part[part["gain"] == g]
        if d.empty:
            ax.set_visible(False)
            continue
        for v, dv in d.groupby("variant", sort=False):
            per_time = dv.groupby("time")["degrees"]
            median, low, high = per_time.median(), per_time.min(), per_time.max()
            t = median.index.to_numpy(float)
            ax.plot(t, median.to_numpy(float), color=palette[v], linewidth=1.2)
            if "seed" in dv and dv["seed"].nunique() > 1:
                ax.fill_between(t, low.to_numpy(float), high.to_numpy(float), color=palette[v], alpha=0.15,
                                linewidth=0)
        ax.set_yscale("log")
        ax.set_xlabel("")
        heading = "\n".join(x for x in ((f"gain {fmt_gain(g)}" if g is not None else ""), title) if x)
        if heading:
            ax.set_title(heading)
    label = "min angle between subspaces (degrees)"
    if len(groups) > 1:
        fig.supylabel(label, fontsize=10)
    else:
        axes[0].set_ylabel(label)
    fig.supxlabel("time step t", fontsize=10)
    tidy_log_axis(axes[0])
    fig.legend(handles=[Line2D([], [], color=c, label=v) for v, c in palette.items()], loc="outside right upper",
               title="architecture")
    return fig
