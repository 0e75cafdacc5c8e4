"""Figures of gradients and memory through time: one function per quantity.

Every function takes an analysis frame (from :mod:`analysis`), draws it, and
returns the Axes (or, for multi-panel figures, the Figure). They compute
nothing and never call ``plt.show()``; without ``ax``/``fig`` they draw on a new
pyplot-free Figure (rendered with Agg when saved). Colours come from
:data:`reports.palette.ARCH_PALETTE`.

Examples
--------
>>> import numpy as np, pandas as pd
>>> from rnnprobe import analysis
>>> from rnnprobe.reports.figures import plot_gradient_decay
>>> k = np.arange(1, 31)
>>> results = pd.DataFrame({"arch": np.repeat(["vanilla-tanh", "lstm"], 30), "gain": 1.0, "length": 30,
...     "seed": 0, "metric": "gradient_norm", "lag": np.tile(k, 2),
...     "value": np.concatenate([np.exp(-k / 3), np.exp(-k / 40)])})
>>> ax = plot_gradient_decay(analysis.lag_profile(results, "gradient_norm"))
>>> ax.get_yscale(), len(ax.get_lines())
('log', 2)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import LogNorm, to_rgb
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter

from rnnprobe.reports._plotting import (MAX_CURVES, check_frame, facets, fmt_gain, gain_styles, is_depth, new_axes, new_figure, palette_of,
                               panel_grid, plain_log_ticks, steps_label, style_handles, tidy_log_axis, variant_handles,
                               variant_order)
from rnnprobe.reports.palette import arch_color
from rnnprobe.errors import InvalidArgument

__all__ = ["METRIC_LABELS", "plot_gradient_decay", "plot_gradient_decay_panels", "plot_bounds",
           "plot_memory_heatmap", "plot_memory_capacity", "plot_memory_capacity_panels", "plot_pascanu", "plot_chi1"]

#: y-axis labels of the per-step metrics.
METRIC_LABELS = {
    "gradient_norm": "g(k) = ‖∂L/∂h$_{T−k}$‖",
    "jacobian_norm": "G(k) = ‖∂h$_T$/∂h$_{T−k}$‖₂",
    "memory_capacity_lag": "MC_k",
    "bound_product": "B_prod(k)",
    "bound_weight": "B_W(k)",
    "bound_jacobian": "‖∂L/∂h_T‖·G(k)",
}
_DEPTH_LABELS = {
    "gradient_norm": "‖∂L/∂s_l‖",
    "jacobian_norm": "‖∂s_L/∂s_l‖₂",
}


def _curve_keys(data: pd.DataFrame, extra=()) -> list[str]:
    return [c for c in ("variant", "gain", "hidden", "length", "depth", *extra) if c in data and data[c].notna().any()]


def _draw_curves(ax, data, *, x, y, palette, styles, band=True):
    """One line per curve (variant × gain × …), a seed-range band where there are several seeds."""
    keys = _curve_keys(data)
    for _, curve in data.groupby(keys, sort=False, dropna=False):
        curve = curve.sort_values(x)
        variant = str(curve["variant"].iloc[0])
        style = styles.get(curve["gain"].iloc[0], "-") if "gain" in curve else "-"
        color = palette[variant]
        ax.plot(curve[x].to_numpy(float), curve[y].to_numpy(float), color=color, linestyle=style)
        if band and {"low", "high"} <= set(curve.columns) and curve.get("n_seeds", pd.Series([1])).max() > 1:
            ax.fill_between(curve[x].to_numpy(float), curve["low"].to_numpy(float), curve["high"].to_numpy(float),
                            color=color, alpha=0.15, linewidth=0)


def _metric_ylabel(data: pd.DataFrame) -> str:
    metric = str(data["metric"].iloc[0]) if "metric" in data else ""
    if is_depth(data) and metric in _DEPTH_LABELS:
        return _DEPTH_LABELS[metric]
    return METRIC_LABELS.get(metric, metric)


def plot_gradient_decay(profile: pd.DataFrame, *, ax=None, log: bool = True, legend: bool = True,
                        title: str | None = None, ylabel: str | None = None, tidy: bool = True):
    """Gradient (or Jacobian) norm against the lag, one line per architecture: the lecture's central picture.

    Parameters
    ----------
    profile : DataFrame
        From :func:`analysis.lag_profile` (``variant``, ``steps``, ``median``,
        ``low``, ``high``, ``gain``, …). Several gains are drawn with different
        line styles; the seed range is a shaded band.
    ax : matplotlib Axes, optional
    log : bool
        Log scale on the norm (values span decades).
    legend : bool
        Draw the legend (architectures by colour, gains by line style).
    title, ylabel : str, optional
    tidy : bool
        Readable log ticks for the data drawn (turn off when the axes share
        their y axis with others still to be drawn).

    Returns
    -------
    matplotlib.axes.Axes
    """
    check_frame(profile, ["variant", "steps", "median"], name="profile", hint="use analysis.lag_profile(results, metric)")
    ax = new_axes(ax)
    palette, styles = palette_of(profile), gain_styles(profile)
    _draw_curves(ax, profile, x="steps", y="median", palette=palette, styles=styles)
    if log:
        ax.set_yscale("log")
        if tidy:
            tidy_log_axis(ax)
    ax.set_xlabel(steps_label(profile))
    ax.set_ylabel(ylabel or _metric_ylabel(profile))
    if title:
        ax.set_title(title)
    if legend:
        handles = variant_handles(palette)
        if len(styles) > 1:
            handles += style_handles({fmt_gain(g): s for g, s in styles.items()}, prefix="gain ")
        ax.legend(handles=handles, loc="best", frameon=True, framealpha=0.85)
    return ax


def plot_gradient_decay_panels(profile: pd.DataFrame, *, fig=None, log: bool = True, sharey: bool = False,
                               max_cols: int = 3, max_curves: int = MAX_CURVES):
    """:func:`plot_gradient_decay` with one panel per gain and one shared legend outside the panels.

    Each panel has its own y range by default (``sharey``): at a small gain
    vanilla RNNs fall by hundreds of decades, which would flatten every other
    panel. More than ``max_curves`` variants are split over rows of panels
    (:func:`reports._plotting.facets`: by an option such as ``init``, else by
    family), one column per gain.

    Returns
    -------
    matplotlib.figure.Figure
        (or the SubFigure passed as ``fig``).

    Examples
    --------
    >>> import pandas as pd
    >>> p = pd.DataFrame({"arch": "gru", "variant": "gru", "gain": [0.5, 0.5, 2.0, 2.0], "steps": [1, 2, 1, 2],
    ...     "median": [0.5, 0.25, 2.0, 4.0], "metric": "jacobian_norm", "length": 2})
    >>> fig = plot_gradient_decay_panels(p)
    >>> [ax.get_title() for ax in fig.axes]
    ['gain 0.5', 'gain 2']
    """
    check_frame(profile, ["variant", "steps", "median", "gain"], name="profile",
                hint="use analysis.lag_profile(results, metric)")
    fig = new_figure(fig, figsize=(10.0, 4.2))
    cells, axes, palette = _gain_facet_cells(profile, fig, max_cols=max_cols, max_curves=max_curves, sharey=sharey)
    rows = _n_rows(axes)
    for ax, g, title, d in cells:
        plot_gradient_decay(d, ax=ax, log=log, legend=False, title=f"gain {fmt_gain(g)}" + (f"\n{title}" if title else ""),
                            tidy=not sharey)
        if rows > 1 or not ax.get_subplotspec().is_first_col():
            ax.set_ylabel("")
        ax.set_xlabel("")
    if rows > 1:
        fig.supylabel(_metric_ylabel(profile), fontsize=10)
    if sharey and log:
        tidy_log_axis(axes[0])
    fig.supxlabel(steps_label(profile), fontsize=10)
    fig.legend(handles=variant_handles(palette), loc="outside right upper", title="architecture")
    return fig


def _n_rows(axes) -> int:
    return len({ax.get_subplotspec().rowspan.start for ax in axes if ax.get_subplotspec() is not None})


def _gain_facet_cells(profile, fig, *, max_cols, max_curves, sharey=False):
    """Panels: one per gain, and rows of them when the variants are split (:func:`facets`).

    Returns ``[(ax, gain, facet title, rows of that panel)]``, every axes, and the palette of the variants."""
    gains = sorted(profile["gain"].dropna().unique())
    groups = facets(profile, max_curves=max_curves)
    palette = {}
    if len(groups) == 1:
        axes = panel_grid(fig, len(gains), max_cols=max_cols, sharey=sharey)
        cells = [(ax, g, "", profile) for ax, g in zip(axes, gains)]
    else:
        grid = fig.subplots(len(groups), len(gains), sharex=True, sharey="col" if sharey else False, squeeze=False)
        cells = [(grid[i, j], g, title, part) for i, (title, part) in enumerate(groups) for j, g in enumerate(gains)]
        axes = list(grid.ravel())
    out = []
    for ax, g, title, part in cells:
        palette.update(palette_of(part))
        d = part[np.isclose(part["gain"].astype(float), float(g))]
        if d.empty:
            ax.set_visible(False)
            continue
        out.append((ax, g, title, d))
    return out, axes, palette


def decay_panel_rows(profile: pd.DataFrame, *, max_curves: int = MAX_CURVES) -> int:
    """How many rows of panels :func:`plot_gradient_decay_panels` draws (to size its page)."""
    return len(facets(profile, max_curves=max_curves))


_BOUND_STYLES = {
    "gradient": ("-", "g(k), true gradient"),
    "bound_jacobian": ("-.", "‖∂L/∂h_T‖·G(k)"),
    "bound_product": ("--", "B_prod(k) = ‖∂L/∂h_T‖ ∏‖J_s‖₂"),
    "bound_weight": (":", "B_W(k) = ‖∂L/∂h_T‖ ‖W_h‖₂^k ∏‖D_s‖₂"),
}


def plot_bounds(tightness: pd.DataFrame, *, fig=None, max_cols: int = 3):
    """True gradient norm and its upper bounds against the lag, one panel per architecture.

    Parameters
    ----------
    tightness : DataFrame
        From :func:`analysis.bound_tightness`, restricted to one grid point per
        architecture (e.g. with :func:`analysis.select_points`).
    fig : Figure or SubFigure, optional

    Returns
    -------
    matplotlib.figure.Figure
        One log-scale panel per architecture; line style = quantity
        (solid g, dash-dot ‖∂L/∂h_T‖G, dashed B_prod, dotted B_W).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"arch": "vanilla-tanh", "gain": 1.0, "seed": 0, "steps": [1.0, 2.0],
    ...     "gradient": [0.5, 0.1], "bound_product": [1.0, 0.9], "bound_weight": [2.0, 4.0]})
    >>> fig = plot_bounds(t)
    >>> len(fig.axes[0].get_lines()), fig.axes[0].get_yscale()
    (3, 'log')
    """
    check_frame(tightness, ["arch", "steps", "gradient"], name="tightness", hint="use analysis.bound_tightness(results)")
    data = tightness if "variant" in tightness else tightness.assign(variant=tightness["arch"].astype(str))
    if data.duplicated(["variant", "steps"]).any():
        raise InvalidArgument("tightness must hold one grid point per architecture (one row per variant and lag); "
                              "got several: select one with analysis.select_points(tightness)")
    fig = new_figure(fig, figsize=(10.0, 6.0))
    palette = palette_of(data)
    variants = variant_order(data)
    axes = panel_grid(fig, len(variants), max_cols=max_cols)
    present = [q for q in _BOUND_STYLES if q in data and data[q].notna().any()]
    for ax, v in zip(axes, variants):
        d = data[data["variant"] == v].sort_values("steps")
        for q in present:
            if d[q].notna().any():
                ax.plot(d["steps"].to_numpy(float), d[q].to_numpy(float), color=palette[v],
                        linestyle=_BOUND_STYLES[q][0])
        ax.set_yscale("log")
        tidy_log_axis(ax)
        ax.set_title(v, color=palette[v])
        ax.set_xlabel("lag k")
        ax.set_ylabel("norm" if ax.get_subplotspec().is_first_col() else "")
    fig.legend(handles=style_handles({_BOUND_STYLES[q][1]: _BOUND_STYLES[q][0] for q in present}),
               loc="outside lower center", ncol=min(2, len(present)))
    return fig


def _format_cell(v) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if np.isinf(v):
        return "∞" if v > 0 else "−∞"
    a = abs(v)
    if a >= 1000:
        return f"{v:.3g}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def plot_memory_heatmap(grid: pd.DataFrame, *, ax=None, log: bool | None = None, label: str | None = None,
                        cmap: str = "mako_r", low: pd.DataFrame | None = None, high: pd.DataFrame | None = None,
                        marks: pd.DataFrame | None = None):
    """A memory measure as an architecture × gain heatmap, numbers in the cells.

    Parameters
    ----------
    grid : DataFrame
        From :func:`analysis.memory_grid`: rows variants, columns gains.
    ax : Axes, optional
    log : bool, optional
        Logarithmic colour scale (default: when the finite positive values span
        more than a decade).
    label : str, optional
        Colour-bar label (default from ``grid.attrs['measure']``).
    cmap : str
        A sequential colormap; darker = longer memory. Infinite cells (no decay)
        take its darkest colour and read "∞".
    low, high : DataFrame, optional
        The range over seeds (same rows and columns as ``grid``): printed under
        the median, smaller, where it differs from it ("123–∞").
    marks : DataFrame, optional
        Strings appended to a cell's value (e.g. "†" where the memory measures
        disagree, "*" where the horizon is too short); explain them in the caption.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import pandas as pd
    >>> grid = pd.DataFrame({0.5: [2.0, 30.0], 1.0: [4.0, float("inf")]}, index=["vanilla-tanh", "lstm"])
    >>> ax = plot_memory_heatmap(grid)
    >>> sorted(t.get_text() for t in ax.texts)
    ['2.00', '30.0', '4.00', '∞']
    """
    if not isinstance(grid, pd.DataFrame) or grid.empty:
        raise InvalidArgument("grid must be a non-empty DataFrame from analysis.memory_grid(table, measure); "
                              f"got {type(grid).__name__}" + (" with 0 rows" if isinstance(grid, pd.DataFrame) else ""))
    ax = new_axes(ax, figsize=(1.6 + 1.1 * grid.shape[1], 1.2 + 0.45 * grid.shape[0]))
    values = grid.to_numpy(dtype=float)
    finite = values[np.isfinite(values) & (values > 0)]
    if log is None:
        log = finite.size > 0 and finite.max() / finite.min() > 10
    colour = np.where(np.isfinite(values), values, np.nan)
    norm = LogNorm(vmin=finite.min(), vmax=finite.max()) if log and finite.size else None
    labels = np.vectorize(_format_cell, otypes=[object])(values)
    ranges = np.full(values.shape, "", dtype=object)
    if low is not None and high is not None:
        lo = low.reindex(index=grid.index, columns=grid.columns).to_numpy(dtype=float)
        hi = high.reindex(index=grid.index, columns=grid.columns).to_numpy(dtype=float)
        for i, j in np.ndindex(values.shape):
            a, b = _format_cell(lo[i, j]), _format_cell(hi[i, j])
            if a and b and not (a == b == labels[i, j]):
                ranges[i, j] = f"{a}–{b}"
    if marks is not None:
        m = marks.reindex(index=grid.index, columns=grid.columns).fillna("").astype(str).to_numpy()
        labels = np.array([[f"{labels[i, j]}{m[i, j]}" for j in range(values.shape[1])]
                           for i in range(values.shape[0])], dtype=object)
    measure = grid.attrs.get("measure", "")
    label = label or {"memory_efold": "e-folding time (steps)", "memory_threshold": "threshold length (steps)",
                      "lyapunov_time": "Lyapunov time (steps)", "memory_capacity": "memory capacity"}.get(measure, measure)
    palette = sns.color_palette(cmap, as_cmap=True)
    sns.heatmap(pd.DataFrame(colour, index=grid.index, columns=[fmt_gain(c) for c in grid.columns]), ax=ax,
                annot=np.where(np.isposinf(values), "", labels), fmt="", cmap=palette, norm=norm, linewidths=0.5, linecolor="white",
                cbar_kws={"label": label + ("  (∞: no decay)" if np.isposinf(values).any() else "")},
                annot_kws={"fontsize": 9})
    for i, j in zip(*np.where(np.isposinf(values))):
        ax.add_patch(Rectangle((j, i), 1, 1, facecolor="0.3", edgecolor="0.5", hatch="///", linewidth=0.0))
        ax.text(j + 0.5, i + 0.5, labels[i, j], ha="center", va="center", color="white", fontsize=12 if
                labels[i, j] == "∞" else 10, bbox=dict(boxstyle="round,pad=0.15", facecolor="0.3", edgecolor="none"))
    annotations = {(round(t.get_position()[1] - 0.5), round(t.get_position()[0] - 0.5)): t for t in ax.texts}
    for i, j in zip(*np.nonzero(ranges != "")):
        median = annotations.get((i, j))
        colour = median.get_color() if median is not None and not np.isposinf(values[i, j]) else "white"
        if median is not None:
            median.set_y(i + 0.4)
        ax.text(j + 0.5, i + 0.78, ranges[i, j], ha="center", va="center", fontsize=7, color=colour)
    ax.set_xlabel("gain")
    ax.set_ylabel("")
    ax.grid(False)
    if norm is not None and ax.collections and ax.collections[0].colorbar is not None:
        cax = ax.collections[0].colorbar.ax.yaxis
        cax.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        cax.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "25" else ""))
    for tick in ax.get_yticklabels():
        base = to_rgb(arch_color(tick.get_text().split(" ")[0]))
        tick.set_color(tuple(0.8 * c for c in base))
        tick.set_rotation(0)
    return ax


def plot_memory_capacity(profile: pd.DataFrame, *, ax=None, legend: bool = True):
    """Jaeger's memory capacity per delay, MC_k against k, one line per architecture.

    Parameters
    ----------
    profile : DataFrame
        From ``analysis.lag_profile(results, "memory_capacity_lag")``.

    Returns
    -------
    matplotlib.axes.Axes
        MC_k in [0, 1] (1: u(t − k) is perfectly linearly recoverable from
        h(t), the state that has just read u(t)); the area under a curve is the
        capacity.

    Examples
    --------
    >>> import pandas as pd
    >>> p = pd.DataFrame({"arch": "lstm", "variant": "lstm", "gain": 1.0, "steps": [1, 2, 3],
    ...     "median": [1.0, 0.8, 0.1], "metric": "memory_capacity_lag"})
    >>> tuple(map(float, plot_memory_capacity(p).get_ylim()))
    (0.0, 1.05)
    """
    check_frame(profile, ["variant", "steps", "median"], name="profile",
                hint='use analysis.lag_profile(results, "memory_capacity_lag")')
    ax = new_axes(ax)
    palette, styles = palette_of(profile), gain_styles(profile)
    _draw_curves(ax, profile, x="steps", y="median", palette=palette, styles=styles)
    ax.set_ylim(0.0, 1.05)
    ax.set_xlabel("delay k (u(t − k) read back from h(t))")
    ax.set_ylabel("MC_k (squared correlation)")
    if legend:
        handles = variant_handles(palette)
        if len(styles) > 1:
            handles += style_handles({fmt_gain(g): s for g, s in styles.items()}, prefix="gain ")
        ax.legend(handles=handles, loc="upper right", framealpha=0.85)
    return ax


_VERDICT_MARKERS = {"vanishing": "o", "inconclusive": "s", "not applicable": "^"}


def plot_memory_capacity_panels(profile: pd.DataFrame, *, fig=None, max_cols: int = 3, max_curves: int = MAX_CURVES):
    """:func:`plot_memory_capacity` with one panel per gain, variants split over rows beyond ``max_curves``.

    Returns
    -------
    matplotlib.figure.Figure
        (or the SubFigure passed as ``fig``); one legend of the variants, outside the panels.

    Examples
    --------
    >>> import pandas as pd
    >>> p = pd.DataFrame({"arch": "lstm", "variant": [f"lstm b_f={b}" for b in range(8) for _ in range(2)],
    ...     "gain": 1.0, "steps": [1, 2] * 8, "median": [0.9, 0.5] * 8, "metric": "memory_capacity_lag"})
    >>> fig = plot_memory_capacity_panels(p)
    >>> [len(ax.get_lines()) for ax in fig.axes]
    [4, 4]
    """
    check_frame(profile, ["variant", "steps", "median", "gain"], name="profile",
                hint='use analysis.lag_profile(results, "memory_capacity_lag")')
    fig = new_figure(fig, figsize=(10.0, 4.2))
    cells, axes, palette = _gain_facet_cells(profile, fig, max_cols=max_cols, max_curves=max_curves)
    rows = _n_rows(axes)
    for ax, g, title, d in cells:
        plot_memory_capacity(d, ax=ax, legend=False)
        ax.set_title(f"gain {fmt_gain(g)}" + (f"\n{title}" if title else ""))
        ax.set_xlabel("")
        if rows > 1 or not ax.get_subplotspec().is_first_col():
            ax.set_ylabel("")
    if rows > 1:
        fig.supylabel("MC_k (squared correlation)", fontsize=10)
    fig.supxlabel("delay k (u(t − k) read back from h(t))", fontsize=10)
    fig.legend(handles=variant_handles(palette), loc="outside right upper", title="architecture")
    return fig


def plot_pascanu(agreement: pd.DataFrame, *, ax=None):
    """Measured decay slope against γσ_max(W_h): the Pascanu et al. (2013) condition tested.

    Parameters
    ----------
    agreement : DataFrame
        From :func:`analysis.pascanu_agreement`; points without γ (gated,
        residual, dense nets: the condition does not apply) are not drawn.

    Returns
    -------
    matplotlib.axes.Axes
        x: γσ_max (log scale; left of the line x = 1 the sufficient condition
        holds), y: slope of log G per step with its 95% interval (below 0: decay).
        Marker shape = verdict.

    Examples
    --------
    >>> import pandas as pd
    >>> a = pd.DataFrame({"arch": "vanilla-tanh", "gain": [0.5, 2.0], "pascanu": ["vanishing", "inconclusive"],
    ...     "gamma_sigma_max": [0.8, 3.0], "slope": [-0.5, 0.1], "slope_low": [-0.6, 0.0], "slope_high": [-0.4, 0.2]})
    >>> ax = plot_pascanu(a)
    >>> ax.get_xscale(), len(ax.collections) >= 2
    ('log', True)
    """
    check_frame(agreement, ["arch", "pascanu", "gamma_sigma_max", "slope"], name="agreement",
                hint="use analysis.pascanu_agreement(summary)")
    data = agreement if "variant" in agreement else agreement.assign(variant=agreement["arch"].astype(str))
    data = data[np.isfinite(data["gamma_sigma_max"].astype(float)) & np.isfinite(data["slope"].astype(float))]
    if data.empty:
        raise InvalidArgument("agreement has no point with a finite γσ_max and slope (the Pascanu condition "
                              "applies to vanilla RNNs only)")
    ax = new_axes(ax)
    palette = palette_of(data)
    x = data["gamma_sigma_max"].to_numpy(float)
    y = data["slope"].to_numpy(float)
    lo, hi = data["slope_low"].to_numpy(float), data["slope_high"].to_numpy(float)
    yerr = np.vstack([np.where(np.isfinite(lo), y - lo, 0), np.where(np.isfinite(hi), hi - y, 0)])
    ax.axvspan(min(x.min(), 1.0) / 1.2, 1.0, color="0.85", alpha=0.5, zorder=0, linewidth=0)
    ax.axvline(1.0, color="0.3", linewidth=1.0)
    ax.axhline(0.0, color="0.3", linewidth=1.0)
    for v, d in data.groupby("variant", sort=False):
        ax.errorbar(d["gamma_sigma_max"], d["slope"], yerr=yerr[:, data["variant"].to_numpy() == v],
                    fmt="none", ecolor=palette[str(v)], alpha=0.6, linewidth=1.0)
    sns.scatterplot(data=data, x="gamma_sigma_max", y="slope", hue="variant", palette=palette,
                    hue_order=list(palette), style="pascanu", markers=_VERDICT_MARKERS, s=45, ax=ax, legend=False,
                    zorder=3)
    ax.set_xscale("log")
    ax.set_xlim(min(x.min(), 1.0) / 1.2, max(x.max(), 1.0) * 1.2)
    plain_log_ticks(ax.xaxis, ax.get_xlim())
    ax.set_xlabel("γ·σ_max(W_h)   (shaded: < 1, vanishing guaranteed)")
    ax.set_ylabel("slope of log G per step (95% CI)")
    verdicts = [v for v in _VERDICT_MARKERS if (data["pascanu"] == v).any()]
    handles = variant_handles(palette) + [Line2D([], [], color="0.3", marker=_VERDICT_MARKERS[v], linestyle="",
                                                 label=f"verdict: {v}") for v in verdicts]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, framealpha=0.85)
    return ax


def _horizon_labels(data: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Per row 'T = 50' or 'L = 32' ('' where a row has neither), and the distinct labels by horizon."""
    keys = []
    for _, r in data.iterrows():
        if "depth" in r and pd.notna(r["depth"]):
            keys.append((1, float(r["depth"]), f"L = {float(r['depth']):g}"))
        elif "length" in r and pd.notna(r["length"]):
            keys.append((0, float(r["length"]), f"T = {float(r['length']):g}"))
        else:
            keys.append((2, 0.0, ""))
    return [k[2] for k in keys], [k[2] for k in sorted(set(keys))]


def plot_chi1(comparison: pd.DataFrame, *, ax=None):
    """Predicted (mean-field χ₁) against measured per-step growth of the mean squared gradient.

    Parameters
    ----------
    comparison : DataFrame
        From :func:`analysis.chi1_comparison`.

    Returns
    -------
    matplotlib.axes.Axes
        Log–log; the diagonal is perfect agreement; error bars are the fit's
        confidence interval; marker shape = horizon (T or L).

    Examples
    --------
    >>> import pandas as pd
    >>> c = pd.DataFrame({"arch": "mlp", "gain": [0.8, 1.5], "depth": 32, "chi1_predicted": [0.64, 1.14],
    ...     "chi1_measured": [0.6, 1.1], "chi1_low": [0.58, 1.05], "chi1_high": [0.62, 1.15]})
    >>> ax = plot_chi1(c)
    >>> ax.get_xscale(), ax.get_yscale()
    ('log', 'log')
    """
    check_frame(comparison, ["arch", "chi1_predicted", "chi1_measured"], name="comparison",
                hint="use analysis.chi1_comparison(results)")
    data = comparison if "variant" in comparison else comparison.assign(variant=comparison["arch"].astype(str))
    data = data[(data["chi1_predicted"] > 0) & (data["chi1_measured"] > 0)]
    if data.empty:
        raise InvalidArgument("comparison has no row with positive predicted and measured χ₁")
    ax = new_axes(ax, figsize=(6.0, 5.0))
    palette = palette_of(data)
    y = data["chi1_measured"].to_numpy(float)
    lo = data["chi1_low"].to_numpy(float) if "chi1_low" in data else y
    hi = data["chi1_high"].to_numpy(float) if "chi1_high" in data else y
    yerr = np.vstack([np.where(np.isfinite(lo), y - lo, 0), np.where(np.isfinite(hi), hi - y, 0)])
    for v in palette:
        m = data["variant"].to_numpy() == v
        ax.errorbar(data["chi1_predicted"][m], y[m], yerr=yerr[:, m], fmt="none", ecolor=palette[v], alpha=0.6)
    horizons, levels = _horizon_labels(data)
    markers = ["o", "s", "^", "D", "v", "P", "X", "*"]
    marker_of = {h: markers[i % len(markers)] for i, h in enumerate(levels)}
    sns.scatterplot(data=data.assign(_h=horizons), x="chi1_predicted", y="chi1_measured", hue="variant",
                    palette=palette, hue_order=list(palette), style="_h", markers=marker_of, s=50, ax=ax,
                    legend=False, zorder=3)
    both = np.concatenate([data["chi1_predicted"].to_numpy(float), y])
    lims = (both.min() / 1.3, both.max() * 1.3)
    ax.plot(lims, lims, color="0.3", linewidth=1.0, linestyle="--", zorder=1)
    ax.axhline(1.0, color="0.6", linewidth=0.8)
    ax.axvline(1.0, color="0.6", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lims)
    ax.set_ylim(lims)
    plain_log_ticks(ax.xaxis, lims)
    plain_log_ticks(ax.yaxis, lims)
    ax.set_xlabel("predicted χ₁ (mean field)")
    ax.set_ylabel("measured growth of mean g² per step")
    handles = variant_handles(palette, marker="o")
    handles += [Line2D([], [], color="0.3", marker=marker_of[h], linestyle="", label=h) for h in levels if h]
    handles.append(Line2D([], [], color="0.3", linestyle="--", label="measured = predicted"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, framealpha=0.85)
    ax.set_title("per-step growth of the mean squared gradient")
    return ax
