"""Figures of spectra: W_h singular values, Lyapunov exponents, depth and the input–output Jacobian.

Like :mod:`reports.figures`: analysis frames in, Axes or Figure out, nothing
computed, no ``plt.show()``; colours from :data:`reports.palette.ARCH_PALETTE`.

Examples
--------
>>> import pandas as pd
>>> from rnnprobe.reports.spectra import plot_lyapunov_spectra
>>> s = pd.DataFrame({"arch": "gru", "variant": "gru", "gain": 1.0, "block": "", "index": [0, 1],
...     "rel_index": [0.0, 1.0], "median": [-0.1, -0.6]})
>>> fig = plot_lyapunov_spectra(s)
>>> fig.axes[0].get_ylabel()
'λ_i (per step)'
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.colors import to_rgb
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, NullLocator

from rnnprobe.reports._plotting import (MAX_CURVES, check_frame, facets, fmt_gain, gain_styles, new_figure, palette_of, panel_grid,
                               style_handles, tidy_log_axis, variant_handles, variant_order)
from rnnprobe.reports.palette import arch_color, linestyle_for

__all__ = ["plot_weight_spectra", "plot_lyapunov_spectra", "plot_depth_isometry", "plot_jacobian_spectra"]


def _text(series: pd.Series) -> pd.Series:
    """Strings, '' for missing values (block names of an all-empty CSV column read as NaN)."""
    return series.astype(object).where(series.notna(), "").astype(str)


def _n_blocks(frame: pd.DataFrame) -> int:
    return max(1, _text(frame["block"]).nunique()) if "block" in frame else 1


def _spectrum_panels(spectra, *, fig, ylabel, log, reference, reference_label, max_cols=3, band=True,
                     symlog_below=None, max_curves=MAX_CURVES):
    fig = new_figure(fig, figsize=(10.0, 4.2))
    gains = sorted(spectra["gain"].dropna().unique()) if "gain" in spectra else [None]
    groups = facets(spectra, max_curves=max_curves, curves=_n_blocks)
    if len(groups) == 1:
        axes = panel_grid(fig, len(gains), max_cols=max_cols)
        cells = [(ax, g, "", spectra) for ax, g in zip(axes, gains)]
    else:
        grid = fig.subplots(len(groups), len(gains), sharex=True, squeeze=False)
        cells = [(grid[i, j], g, t, part) for i, (t, part) in enumerate(groups) for j, g in enumerate(gains)]
    palette = {}
    blocks_used = False
    for ax, g, title, part in cells:
        palette.update(palette_of(part))
        d = part if g is None else part[part["gain"] == g]
        if d.empty:
            ax.set_visible(False)
            continue
        for v in variant_order(d):
            dv = d[d["variant"].astype(str) == v]
            block_of = _text(dv["block"]) if "block" in dv else pd.Series("", index=dv.index)
            blocks = list(dict.fromkeys(block_of))
            blocks_used |= len(blocks) > 1
            for i, b in enumerate(blocks):
                curve = dv[block_of == b]
                curve = curve.sort_values("rel_index")
                ax.plot(curve["rel_index"].to_numpy(float), curve["median"].to_numpy(float), color=palette[v],
                        linestyle=linestyle_for(i), marker="o" if len(curve) <= 12 else None, markersize=3.5)
                if band and "n_seeds" in curve and curve["n_seeds"].max() > 1:
                    ax.fill_between(curve["rel_index"].to_numpy(float), curve["low"].to_numpy(float),
                                    curve["high"].to_numpy(float), color=palette[v], alpha=0.12, linewidth=0)
        if reference is not None:
            ax.axhline(reference, color="0.3", linewidth=1.0, linestyle="--")
        if log:
            ax.set_yscale("log")
            tidy_log_axis(ax)
        elif symlog_below is not None and np.nanmin(d["median"].to_numpy(float)) < symlog_below:
            ax.set_yscale("symlog", linthresh=1.0)   # very negative exponents (dying ReLU units) beside small ones
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_xlabel("")
        ax.set_ylabel(ylabel if ax.get_subplotspec().is_first_col() and len(groups) == 1 else "")
        if g is not None or title:
            ax.set_title("\n".join(x for x in ((f"gain {fmt_gain(g)}" if g is not None else ""), title) if x))
    fig.supxlabel("relative index i / (N − 1)", fontsize=10)
    if len(groups) > 1:
        fig.supylabel(ylabel, fontsize=10)
    handles = variant_handles(palette)
    if reference is not None:
        handles.append(Line2D([], [], color="0.3", linestyle="--", label=reference_label))
    if blocks_used:
        handles.append(Line2D([], [], color="0.5", linestyle=":", label="line style: weight block"))
    fig.legend(handles=handles, loc="outside right upper", title="architecture")
    return fig


def plot_weight_spectra(spectra: pd.DataFrame, *, fig=None, log: bool = True):
    """Singular values of the recurrent weights (W_h; every gate block), one panel per gain.

    Parameters
    ----------
    spectra : DataFrame
        From ``analysis.spectrum_profile(results, "weight_singular_value")``.
    fig : Figure or SubFigure, optional
    log : bool
        Log scale (the small singular values span decades).

    Returns
    -------
    matplotlib.figure.Figure
        Singular values in decreasing order against i/(N−1); line style
        distinguishes the blocks of gated nets; the dashed line σ = 1 is 1/γ
        for tanh and ReLU (the Pascanu threshold).

    Examples
    --------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"arch": "lstm", "variant": "lstm", "gain": 1.0, "block": ["W_hi", "W_hi", "W_hf", "W_hf"],
    ...     "index": [0, 1, 0, 1], "rel_index": [0.0, 1.0, 0.0, 1.0], "median": [2.0, 0.5, 1.8, 0.2]})
    >>> ax = plot_weight_spectra(s).axes[0]
    >>> ax.get_yscale(), len(ax.get_lines())
    ('log', 3)
    """
    check_frame(spectra, ["variant", "rel_index", "median"], name="spectra",
                hint='use analysis.spectrum_profile(results, "weight_singular_value")')
    return _spectrum_panels(spectra, fig=fig, ylabel="singular value σ_i", log=log,
                            reference=1.0, reference_label="σ = 1 (= 1/γ for tanh, ReLU)", band=False)


def plot_lyapunov_spectra(spectra: pd.DataFrame, *, fig=None):
    """Lyapunov spectra λ_1 ≥ λ_2 ≥ … (per step), one panel per gain.

    Parameters
    ----------
    spectra : DataFrame
        From ``analysis.spectrum_profile(results, "lyapunov_exponent")`` (−∞
        exponents, e.g. dead ReLU units, are NaN there and not drawn).

    Returns
    -------
    matplotlib.figure.Figure
        λ_i against i/(N−1); the dashed line is 0: λ₁ < 0 means every
        perturbation of the state is forgotten, at rate e^{λ₁} per step. When
        some exponent is below −10 the axis is symmetric-log (linear in [−1, 1]).
    """
    check_frame(spectra, ["variant", "rel_index", "median"], name="spectra",
                hint='use analysis.spectrum_profile(results, "lyapunov_exponent")')
    return _spectrum_panels(spectra, fig=fig, ylabel="λ_i (per step)", log=False,
                            reference=0.0, reference_label="λ = 0 (neutral)", symlog_below=-10.0)


def plot_depth_isometry(table: pd.DataFrame, *, fig=None):
    """Mean and spread of the log singular values of the input–output Jacobian against depth.

    Parameters
    ----------
    table : DataFrame
        From :func:`analysis.isometry_table` (``log_sv_mean``, ``log_sv_std``,
        their ``_seed_std``, ``depth``, ``gain``, ``arch``).

    Returns
    -------
    matplotlib.figure.Figure
        Panels against depth L (log₂ axis), one column per gain: the mean of
        log s_i (upper rows; 0: norms preserved on average) and the standard
        deviation of log s_i (lower rows; 0: an isometry, every direction alike),
        one row each per initialisation when ``init`` varies. Colour =
        architecture, error bars = spread over seeds; each panel has its own y range.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"arch": ["mlp", "mlp", "resmlp", "resmlp"], "gain": 1.0, "depth": [2, 8, 2, 8],
    ...     "log_sv_mean": [-1.0, -4.0, 0.0, -0.1], "log_sv_std": [1.0, 3.0, 0.5, 1.0]})
    >>> fig = plot_depth_isometry(t)
    >>> [ax.get_xscale() for ax in fig.axes], fig.axes[0].get_ylabel()
    (['log', 'log'], 'mean of log s_i')
    """
    check_frame(table, ["arch", "depth", "log_sv_mean", "log_sv_std"], name="table",
                hint="use analysis.isometry_table(results)")
    data = table if "variant" in table else table.assign(variant=table["arch"].astype(str))
    fig = new_figure(fig, figsize=(10.0, 4.2))
    inits = list(dict.fromkeys(data["init"].dropna())) if "init" in data and data["init"].nunique() > 1 else [None]
    gains = sorted(data["gain"].dropna().unique()) if "gain" in data else [None]
    quantities = (("log_sv_mean", "mean of log s_i"), ("log_sv_std", "std of log s_i"))
    rows = [(col, label, init) for col, label in quantities for init in inits]
    grid = fig.subplots(len(rows), len(gains), sharex=True, squeeze=False)
    palette = palette_of(data)
    depths = sorted(data["depth"].dropna().unique())
    for i, (col, label, init) in enumerate(rows):
        for j, g in enumerate(gains):
            ax = grid[i, j]
            d = data if init is None else data[data["init"] == init]
            d = d if g is None else d[np.isclose(d["gain"].astype(float), float(g))]
            for v, dv in d.groupby("variant", sort=False):
                dv = dv.sort_values("depth")
                err = dv.get(f"{col}_seed_std")
                ax.errorbar(dv["depth"].to_numpy(float), dv[col].to_numpy(float),
                            yerr=None if err is None else err.fillna(0).to_numpy(float),
                            color=palette[str(v)], marker="o", markersize=3.0, capsize=2, linewidth=1.4)
            ax.axhline(0.0, color="0.3", linewidth=1.0, linestyle="--")
            ax.set_xscale("log", base=2)
            shown = depths if len(depths) <= 5 else depths[::2] if depths[-1] in depths[::2] else depths[1::2]
            ax.set_xticks(shown, [f"{x:g}" for x in shown])
            ax.xaxis.set_minor_locator(NullLocator())
            if i == 0 and g is not None:
                ax.set_title(f"gain {fmt_gain(g)}")
            ax.set_ylabel((label + (f"\ninit={init}" if init is not None else "")) if j == 0 else "")
    fig.supxlabel("depth L (layers)", fontsize=10)
    fig.legend(handles=variant_handles(palette), loc="outside right upper", title="architecture")
    return fig


def _shades(color, n):
    base = np.array(to_rgb(color))
    if n == 1:
        return [tuple(base)]
    out = []
    for i in range(n):
        t = -0.55 + 0.9 * i / (n - 1)
        target = np.ones(3) if t < 0 else np.zeros(3)
        out.append(tuple((1 - abs(t)) * base + abs(t) * target))
    return out


def plot_jacobian_spectra(spectra: pd.DataFrame, *, fig=None, max_cols: int = 3):
    """Singular values of the input–output Jacobian ∂s_L/∂s_0 at every depth, one panel per architecture.

    Parameters
    ----------
    spectra : DataFrame
        From ``analysis.spectrum_profile(results, "jacobian_singular_value", horizon=None)``
        at one gain (e.g. :func:`analysis.select_points` with ``seed=None``).

    Returns
    -------
    matplotlib.figure.Figure
        Log scale, each panel with its own y range (the depths span hundreds
        of decades in some architectures and none in others); within a panel,
        light to dark = shallow to deep, in the architecture's colour; the
        dashed line s = 1 is isometry. With several initialisations (``init``),
        one row of panels per initialisation. One legend, outside the panels.

    Examples
    --------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"arch": "mlp", "variant": "mlp", "gain": 1.0, "depth": [2, 2, 8, 8],
    ...     "rel_index": [0.0, 1.0, 0.0, 1.0], "median": [1.5, 0.5, 3.0, 0.01]})
    >>> ax = plot_jacobian_spectra(s).axes[0]
    >>> ax.get_title(), len(ax.get_lines()), len(ax.figure.legends)
    ('mlp', 3, 1)
    """
    check_frame(spectra, ["variant", "depth", "rel_index", "median"], name="spectra",
                hint='use analysis.spectrum_profile(results, "jacobian_singular_value", horizon=None)')
    fig = new_figure(fig, figsize=(10.0, 4.2))
    data = spectra
    inits = list(dict.fromkeys(data["init"].dropna())) if "init" in data and data["init"].nunique() > 1 else [None]
    if inits != [None]:
        # one row per initialisation, one column per architecture: the option leaves the labels
        archs = list(dict.fromkeys(data["arch"].astype(str)))
        grid = fig.subplots(len(inits), len(archs), sharex=True, squeeze=False)
        cells = [(grid[i, j], a, init, data[(data["arch"].astype(str) == a) & (data["init"] == init)])
                 for i, init in enumerate(inits) for j, a in enumerate(archs)]
        palette = {a: arch_color(a) for a in archs}
    else:
        variants = variant_order(data)
        axes = panel_grid(fig, len(variants), max_cols=max_cols)
        palette = palette_of(data)
        cells = [(ax, v, None, data[data["variant"].astype(str) == v]) for ax, v in zip(axes, variants)]
    all_depths = sorted(data["depth"].dropna().unique())
    for ax, v, init, d in cells:
        depths = sorted(d["depth"].dropna().unique())
        colours = _shades(palette[v], len(all_depths))
        for depth, c in zip(all_depths, colours):
            if depth not in depths:
                continue
            curve = d[d["depth"] == depth].sort_values("rel_index")
            ax.plot(curve["rel_index"].to_numpy(float), curve["median"].to_numpy(float), color=c)
        ax.axhline(1.0, color="0.3", linewidth=1.0, linestyle="--")
        ax.set_yscale("log")
        tidy_log_axis(ax)
        ax.set_title(v, color=palette[v])
        ax.set_xlabel("")
        first = ax.get_subplotspec().is_first_col()
        ax.set_ylabel(("s_i of ∂s_L/∂s_0" + (f"\ninit={init}" if init is not None else "")) if first else "")
    grey = _shades("#4d4d4d", len(all_depths))
    handles = [Line2D([], [], color=c, label=f"L = {depth:g}") for depth, c in zip(all_depths, grey)]
    handles.append(Line2D([], [], color="0.3", linestyle="--", label="s = 1 (isometry)"))
    fig.legend(handles=handles, loc="outside right upper", title="depth (light to\ndark, in each\narchitecture's\ncolour)")
    fig.supxlabel("relative index i / (N − 1)", fontsize=10)
    return fig
