"""The theory study's report pages: predicted against measured, per prediction, with tolerances.

Every function draws frames from :func:`analysis.pool_checks` (one row per
check × index, seeds pooled) or :func:`analysis.check_summary` (one row per
check) and computes nothing:

* :func:`plot_theory_profile`: a quantity against its index (lag, layer, path
  length, decile): the prediction as a line (the published large-size value
  dashed, where it differs), the measurement as markers with the range over
  seeds, the tolerance as a band around the prediction;
* :func:`plot_theory_scatter`: scalar quantities, measured against predicted,
  with the diagonal;
* :func:`plot_theory_scores`: every check's error as a fraction of its
  tolerance (the pass band is −1 … 1; an upper bound shows measured/bound);
* :func:`plot_theory_prediction`: one prediction's page: a panel per quantity
  and the scores.

Colours follow the report's palette: the architecture (for ``mlp`` and
``resmlp`` stacks, the vanilla RNN of the same φ), in shades per setting.

Examples
--------
>>> import pandas as pd
>>> checks = pd.DataFrame({"prediction": "capacity", "setting": "s1", "quantity": "mc_lag", "arch": "vanilla-linear",
...     "index_kind": "lag", "position": [1, 2, 3], "predicted": [0.9, 0.5, 0.2], "measured": [0.91, 0.49, 0.2],
...     "measured_min": [0.9, 0.48, 0.19], "measured_max": [0.92, 0.5, 0.21], "tolerance": 0.03,
...     "limit": float("nan"), "relation": "equal"})
>>> ax = plot_theory_profile(checks)
>>> ax.get_xlabel(), len(ax.get_lines()) >= 1
('lag k', True)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from rnnprobe.reports._plotting import check_frame, new_axes, new_figure, tidy_log_axis
from matplotlib.colors import to_hex, to_rgb

from rnnprobe.reports.palette import arch_color
from rnnprobe.errors import InvalidArgument

__all__ = ["PREDICTION_TITLES", "QUANTITY_LABELS", "INDEX_NAMES", "theory_palette", "plot_theory_profile", "plot_theory_scatter",
           "plot_theory_scores", "plot_theory_prediction"]

#: page titles of the predictions
PREDICTION_TITLES = {
    "meanfield": "Mean-field signal propagation: q* and χ₁",
    "pascanu": "The Pascanu et al. (2013) bound (γσ_max)^k",
    "isometry": "Dynamical isometry: moments of the Jacobian spectrum",
    "capacity": "Linear memory capacity (Jaeger 2001)",
    "paths": "Residual networks as ensembles of paths",
    "gates": "Gate-bias timescales at the origin",
    "diagonal": "Diagonal recurrences: spectra, rings, gates and selection",
    "memory_curse": "The curse of memory (Zucchet & Orvieto 2024)",
}

#: quantity -> (axis label of the value, axis label of the index, short name used in captions)
QUANTITY_LABELS = {
    "q": ("pre-activation variance q_l", "layer l", "q_l"),
    "chi1": ("χ₁ = growth of E‖J v‖² per layer", "", "χ₁"),
    "G": ("G(k) = ‖∂h$_T$/∂h$_{T−k}$‖₂", "lag k", "G(k)"),
    "lambda_mean": ("mean of λ = s² (singular values of ∂s_L/∂s_0)", "", "mean λ"),
    "lambda_variance": ("variance of λ", "", "var λ"),
    "mc_lag": ("MC_k", "lag k", "MC_k"),
    "mc_total": ("MC = Σ_k MC_k", "", "MC"),
    "path_share": ("share of paths of length m", "path length m", "path share"),
    "path_norm2": ("E‖gᵀP[m]‖² (paths of length m)", "path length m", "E‖gᵀP[m]‖²"),
    "retention": ("per-step retention factor", "", "factor"),
    "efold": ("e-folding time (steps)", "", "e-fold"),
    "forgetting_time": ("forgetting time Σ_k G(k)/G(1) (steps)", "", "forgetting time"),
    "forgetting_time_quantile": ("forgetting time (steps)", "decile i of the units' 1/(1 − f_i) (q = i/10)", "decile"),
    "timescale_order": ("unit timescale −1/log|λ_j| (steps)", "decile i (order statistic k = i·n/10)", "decile"),
    "decay_rate": ("per-unit decay rate −E log a_t (per step)", "unit j", "rate"),
    "factor_order": ("per-step factor exp(Δ_t A)", "decile i (order statistic k = i·T/10)", "decile"),
    "state_variance": ("E h_T²", "", "E h²"),
    "sensitivity": ("E (∂h_T/∂θ)²", "", "E (∂h/∂θ)²"),
}
_INDEX_AXIS = {"lag": "lag k", "layer": "layer l", "index": "index"}
_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "*"]
#: y scale per quantity (None: log when the values span more than a factor 10)
QUANTITY_LOG = {"G": True, "path_norm2": True, "mc_lag": False, "path_share": False,
                "forgetting_time_quantile": False, "factor_order": False, "decay_rate": False}
#: how the index of a quantity is named in tables and captions ('lag 3', 'm = 2', 'decile 7')
INDEX_NAMES = {"q": "layer", "G": "lag", "mc_lag": "lag", "path_share": "m =", "path_norm2": "m =",
               "forgetting_time_quantile": "decile", "timescale_order": "decile", "factor_order": "decile",
               "decay_rate": "unit"}


def _quantity_labels(quantity: str, index_kind: str = "") -> tuple[str, str, str]:
    value, index, short = QUANTITY_LABELS.get(quantity, (quantity, "", quantity))
    return value, index or _INDEX_AXIS.get(index_kind, "index"), short


def _family(row) -> str:
    arch = str(row.get("arch", ""))
    phi = row.get("nonlinearity")
    if arch in ("mlp", "resmlp") and isinstance(phi, str):
        return f"vanilla-{phi}"
    return arch


def theory_palette(frame: pd.DataFrame) -> dict:
    """Setting -> colour: the architecture's colour (the vanilla RNN of the same φ for mlp/resmlp), shaded per setting.

    Examples
    --------
    >>> pal = theory_palette(pd.DataFrame({"setting": ["a", "b", "c"], "arch": ["mlp", "mlp", "lstm"],
    ...                                    "nonlinearity": ["tanh", "tanh", None]}))
    >>> pal["a"] != pal["b"], pal["c"]
    (True, '#d55e00')
    """
    firsts = frame.drop_duplicates("setting")
    arch_of = {str(r["setting"]): _family(r) for _, r in firsts.iterrows()}
    families: dict[str, list[str]] = {}
    for setting, family in arch_of.items():
        families.setdefault(family, []).append(setting)
    out = {}
    for family, members in families.items():
        base = to_rgb(arch_color(family))
        for i, setting in enumerate(members):
            # from a slightly lighter tint to a dark shade: light tints of yellow or grey vanish on white
            t = 0.0 if len(members) == 1 else -0.2 + 0.75 * i / (len(members) - 1)
            target = (1.0, 1.0, 1.0) if t < 0 else (0.0, 0.0, 0.0)
            out[setting] = to_hex(tuple((1 - abs(t)) * c + abs(t) * w for c, w in zip(base, target)))
    return out


def _spread(data: pd.DataFrame) -> np.ndarray:
    y = data["measured"].to_numpy(float)
    lo = data["measured_min"].to_numpy(float) if "measured_min" in data else y
    hi = data["measured_max"].to_numpy(float) if "measured_max" in data else y
    return np.vstack([np.clip(y - lo, 0, None), np.clip(hi - y, 0, None)])


def _positive_span(values) -> float:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    return float(v.max() / v.min()) if v.size and (v > 0).all() else 0.0


def plot_theory_profile(checks: pd.DataFrame, *, ax=None, palette=None, markers=None, log=None, legend=True):
    """One quantity against its index for one or more settings: prediction, measurement, tolerance.

    Parameters
    ----------
    checks : DataFrame
        Rows of :func:`analysis.pool_checks` for one quantity (several settings allowed).
    ax : matplotlib Axes, optional
    palette : dict, optional
        Setting -> colour (default :func:`theory_palette`).
    markers : dict, optional
        Setting -> marker (default: one per setting, in order).
    log : bool, optional
        Log y axis (default per quantity, :data:`QUANTITY_LOG`; else when the
        positive values span more than a factor 10).
    legend : bool
        Draw the legend (settings, and the line styles).

    Returns
    -------
    matplotlib.axes.Axes
        Lines: the predictions (solid) and the published limits (dashed, where
        given); markers: the measurements (mean over seeds) with the range over
        seeds; shaded: prediction ± tolerance (for an upper bound: the region
        above the bound is excluded, so nothing is shaded).
    """
    check_frame(checks, ["setting", "quantity", "position", "predicted", "measured"], name="checks",
                hint="use analysis.pool_checks(results, summary)")
    order = {st: i for i, st in enumerate(dict.fromkeys(checks["setting"].astype(str)))}
    data = checks.assign(_order=checks["setting"].astype(str).map(order)).sort_values(["_order", "position"],
                                                                                      kind="stable")
    ax = new_axes(ax, figsize=(6.0, 4.2))
    palette = palette or theory_palette(data)
    quantity = str(data["quantity"].iloc[0])
    kind = str(data["index_kind"].iloc[0]) if "index_kind" in data else ""
    value_label, index_label, _ = _quantity_labels(quantity, kind)
    values = np.concatenate([data["predicted"].to_numpy(float), data["measured"].to_numpy(float)])
    if log is None:
        log = QUANTITY_LOG.get(quantity)
    if log is None:
        log = _positive_span(values) > 10 and (values[np.isfinite(values)] > 0).all()
    has_limit = False
    settings = list(dict.fromkeys(data["setting"].astype(str)))
    marker_of = markers or {st: _MARKERS[i % len(_MARKERS)] for i, st in enumerate(settings)}
    for setting, g in data.groupby("setting", sort=False):
        color = palette.get(str(setting), "0.3")
        x = g["position"].to_numpy(float)
        pred = g["predicted"].to_numpy(float)
        bound = "relation" in g and (g["relation"] == "at most").all()
        if "tolerance" in g and not bound:
            tol = g["tolerance"].to_numpy(float)
            lo, hi = pred - tol, pred + tol
            if log:
                lo = np.where(lo > 0, lo, np.nan)
            ax.fill_between(x, lo, hi, color=color, alpha=0.18, linewidth=0)
        ax.plot(x, pred, color=color, linewidth=1.3, linestyle=":" if bound else "-")
        if "limit" in g and g["limit"].notna().any():
            has_limit = True
            ax.plot(x, g["limit"].to_numpy(float), color=color, linewidth=1.0, linestyle="--", alpha=0.8)
        ax.errorbar(x, g["measured"].to_numpy(float), yerr=_spread(g), fmt=marker_of[str(setting)], markersize=3.5,
                    color=color, ecolor=color, elinewidth=0.9, capsize=1.5, linestyle="none")
    if log:
        ax.set_yscale("log")
        tidy_log_axis(ax, "y")
    ax.set_xlabel(index_label)
    ax.set_ylabel(value_label)
    if legend:
        handles = [Line2D([], [], color=palette.get(st, "0.3"), marker=marker_of[st], markersize=4, label=st)
                   for st in settings]
        if "relation" not in data or (data["relation"] != "at most").any():
            handles.append(Line2D([], [], color="0.3", linestyle="-", label="predicted"))
        if "relation" in data and (data["relation"] == "at most").any():
            handles.append(Line2D([], [], color="0.3", linestyle=":", label="upper bound"))
        if has_limit:
            handles.append(Line2D([], [], color="0.3", linestyle="--", label="large-size limit"))
        handles.append(Line2D([], [], color="0.3", marker="o", markersize=4, linestyle="none",
                              label="measured (range over seeds)"))
        ax.legend(handles=handles, fontsize=7, framealpha=0.85, loc="best")
    return ax


def plot_theory_scatter(checks: pd.DataFrame, *, ax=None, palette=None, markers=None, log=None, legend=True):
    """Scalar quantities: measured against predicted, one marker per setting, with the diagonal.

    Parameters
    ----------
    checks : DataFrame
        Rows of :func:`analysis.pool_checks` for one quantity (scalar checks, one row per setting).
    ax : matplotlib Axes, optional
    palette : dict, optional
        Setting -> colour.
    markers : dict, optional
        Setting -> marker.
    log : bool, optional
        Log-log axes (default: when the values span more than a factor 20).
    legend : bool

    Returns
    -------
    matplotlib.axes.Axes
        Filled markers: (predicted, measured), error bars the range over seeds;
        hollow grey markers: (published limit, measured) where the limit differs
        from the finite-size prediction; dash-dotted: measured = predicted.

    Examples
    --------
    >>> import pandas as pd
    >>> c = pd.DataFrame({"setting": ["a", "b"], "quantity": "chi1", "arch": "mlp", "nonlinearity": "tanh",
    ...     "position": 0, "predicted": [0.7, 1.3], "measured": [0.71, 1.29], "limit": [0.702, 1.33]})
    >>> ax = plot_theory_scatter(c)
    >>> len(ax.collections) >= 2
    True
    """
    check_frame(checks, ["setting", "quantity", "predicted", "measured"], name="checks",
                hint="use analysis.pool_checks(results, summary)")
    data = checks
    ax = new_axes(ax, figsize=(5.0, 4.5))
    palette = palette or theory_palette(data)
    quantity = str(data["quantity"].iloc[0])
    value_label, _, _ = _quantity_labels(quantity)
    x = data["predicted"].to_numpy(float)
    y = data["measured"].to_numpy(float)
    lim_vals = data["limit"].to_numpy(float) if "limit" in data else np.full(len(data), np.nan)
    both = np.concatenate([x, y, lim_vals[np.isfinite(lim_vals)]])
    both = both[np.isfinite(both)]
    if log is None:
        log = _positive_span(both) > 20 and (both > 0).all()
    settings = list(dict.fromkeys(data["setting"].astype(str)))
    marker_of = markers or {st: _MARKERS[i % len(_MARKERS)] for i, st in enumerate(settings)}
    spread = _spread(data)
    for i, st in enumerate(data["setting"].astype(str)):
        color = palette.get(st, "0.3")
        ax.errorbar(x[i:i + 1], y[i:i + 1], yerr=spread[:, i:i + 1], fmt="none", ecolor=color, elinewidth=0.9,
                    capsize=2)
        ax.scatter(x[i:i + 1], y[i:i + 1], color=color, marker=marker_of[st], s=40, zorder=3, edgecolors="white",
                   linewidths=0.5)
    has_limit = np.isfinite(lim_vals) & ~np.isclose(lim_vals, x, rtol=1e-9, atol=0)
    if has_limit.any():
        ax.scatter(lim_vals[has_limit], y[has_limit], facecolors="none", edgecolors="0.45", s=36, zorder=2)
    ends = np.concatenate([both, y - spread[0], y + spread[1]])
    ends = ends[np.isfinite(ends) & ((ends > 0) if log else True)]
    lo, hi = (ends.min(), ends.max()) if ends.size else (0.0, 1.0)
    if log:
        lims = (lo / 1.4, hi * 1.4)
    else:
        # at least 2% of the values' size: exact agreement must not zoom into rounding errors
        span = max(hi - lo, 0.02 * max(abs(lo), abs(hi)), 1e-12)
        mid = (hi + lo) / 2
        lims = (mid - 0.58 * span, mid + 0.58 * span)
    ax.plot(lims, lims, color="0.35", linestyle="-.", linewidth=0.9, zorder=1)
    ax.set_xlim(lims)
    ax.set_ylim(lims)
    if log:
        ax.set_xscale("log")
        ax.set_yscale("log")
        tidy_log_axis(ax, "x")
        tidy_log_axis(ax, "y")
    ax.set_xlabel(f"predicted {QUANTITY_LABELS.get(quantity, ('', '', quantity))[2]}")
    ax.set_ylabel(f"measured {QUANTITY_LABELS.get(quantity, ('', '', quantity))[2]}")
    ax.set_title(value_label, fontsize=9.5)
    if legend:
        handles = [Line2D([], [], color=palette.get(st, "0.3"), marker=marker_of[st], linestyle="none", markersize=5,
                          label=st) for st in settings]
        if has_limit.any():
            handles.append(Line2D([], [], color="0.45", marker="o", markerfacecolor="none", linestyle="none",
                                  markersize=5, label="vs large-size limit"))
        ax.legend(handles=handles, fontsize=7, framealpha=0.85, loc="upper left")
    return ax


def plot_theory_scores(summary: pd.DataFrame, *, ax=None, palette=None):
    """Every check's signed error as a fraction of its tolerance (pass: −1 … 1).

    Parameters
    ----------
    summary : DataFrame
        From :func:`analysis.check_summary` (one row per check: its worst index).
    ax : matplotlib Axes, optional
    palette : dict, optional
        Setting -> colour.

    Returns
    -------
    matplotlib.axes.Axes
        One horizontal bar per check, labelled 'setting: quantity'. For an
        'equal' check the bar is error/tolerance at its worst index; for an
        upper bound ('at most') it is the largest measured/bound ratio (hatched),
        which passes at ≤ 1 as well. The shaded band is the pass region; failed
        checks are outlined in red.

    Examples
    --------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"prediction": "gates", "setting": ["a", "b"], "quantity": ["efold", "G"], "arch": "lstm",
    ...     "error": [0.01, -5.0], "tolerance": [0.1, 1e-9], "measured_to_bound": [float("nan"), 0.3],
    ...     "relation": ["equal", "at most"], "passed": [True, True]})
    >>> ax = plot_theory_scores(s)
    >>> len(ax.containers[0]), bool(ax.get_xlim()[0] <= -1)
    (2, True)
    """
    check_frame(summary, ["setting", "quantity", "error", "tolerance", "passed"], name="summary",
                hint="use analysis.check_summary(checks)")
    ax = new_axes(ax, figsize=(6.0, 0.3 * len(summary) + 1.0))
    palette = palette or theory_palette(summary)
    bound = (summary["relation"] == "at most").to_numpy() if "relation" in summary else np.zeros(len(summary), bool)
    err, tol = summary["error"].to_numpy(float), summary["tolerance"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(tol > 0, err / tol, np.where(err == 0, 0.0, np.sign(err) * np.inf))
    if "measured_to_bound" in summary:
        score = np.where(bound, summary["measured_to_bound"].to_numpy(float), score)
    shown = np.clip(score, -1.6, 1.6)
    y = np.arange(len(summary))[::-1]
    colors = [palette.get(str(s), "0.3") for s in summary["setting"]]
    passed = summary["passed"].astype(bool).to_numpy()
    ax.axvspan(-1, 1, color="#dfeedd", zorder=0)
    bars = ax.barh(y, shown, color=colors, height=0.62, zorder=2)
    for bar, b, ok in zip(bars, bound, passed):
        if b:
            bar.set_hatch("////")
            bar.set_edgecolor("white")
        if not ok:
            bar.set_edgecolor("#c00000")
            bar.set_linewidth(1.5)
    ax.axvline(0, color="0.3", linewidth=0.8, zorder=3)
    for v in (-1, 1):
        ax.axvline(v, color="0.45", linewidth=0.8, linestyle="--", zorder=3)
    labels = [f"{s}: {QUANTITY_LABELS.get(q, ('', '', q))[2]}" for s, q in zip(summary["setting"], summary["quantity"])]
    ax.set_yticks(y, labels, fontsize=7 if len(summary) <= 12 else 6.5)
    ax.set_ylim(-0.7, len(summary) - 0.3)
    ax.set_xlim(-1.7, 1.7)
    ax.set_xlabel("error / tolerance at the worst index (upper bounds, hatched: measured / bound)")
    ax.grid(axis="y", visible=False)
    handles = [Patch(facecolor="#dfeedd", label="pass region")]
    if bound.any():
        handles.append(Patch(facecolor="0.7", hatch="////", edgecolor="white", label="upper bound"))
    ax.legend(handles=handles, fontsize=7, loc="lower right", framealpha=0.85)
    return ax


def plot_theory_prediction(checks: pd.DataFrame, summary: pd.DataFrame, *, fig=None):
    """One prediction's figure: a shared legend, a panel per quantity (and relation), and the scores.

    Parameters
    ----------
    checks : DataFrame
        :func:`analysis.pool_checks` rows of one prediction.
    summary : DataFrame
        :func:`analysis.check_summary` rows of the same checks.
    fig : matplotlib Figure or SubFigure, optional

    Returns
    -------
    matplotlib.figure.Figure or SubFigure
        Indexed quantities as :func:`plot_theory_profile` panels, scalar ones as
        :func:`plot_theory_scatter` panels (two per row), a
        :func:`plot_theory_scores` panel across the bottom, and one legend of
        the settings (colour and marker are the same in every panel) and line
        styles above them.

    Examples
    --------
    >>> import pandas as pd
    >>> checks = pd.DataFrame({"prediction": "gates", "setting": ["a", "b"], "quantity": "efold", "arch": "gru",
    ...     "index_kind": "", "position": 0, "predicted": [1.0, 2.0], "measured": [1.0, 2.0], "relation": "equal"})
    >>> summary = checks.assign(error=0.0, tolerance=1e-9, passed=True)
    >>> fig = plot_theory_prediction(checks, summary)
    >>> legend = fig.subfigs[0].legends[0]
    >>> len(fig.axes), [t.get_text() for t in legend.get_texts()][:2]
    (2, ['a', 'b'])
    """
    check_frame(checks, ["prediction", "setting", "quantity", "position", "predicted", "measured"], name="checks",
                hint="use analysis.pool_checks(results, summary)")
    if checks["prediction"].nunique() != 1:
        raise InvalidArgument(f"checks must hold one prediction; got {sorted(checks['prediction'].unique())}")
    fig = new_figure(fig, figsize=(10.0, 9.0))
    palette = theory_palette(checks)
    settings = list(dict.fromkeys(checks["setting"].astype(str)))
    markers = {st: _MARKERS[i % len(_MARKERS)] for i, st in enumerate(settings)}
    relation = checks["relation"] if "relation" in checks else pd.Series("equal", index=checks.index)
    groups = list(dict.fromkeys(zip(checks["quantity"], relation)))
    n_rows = (len(groups) + 1) // 2
    handles = _legend_handles(checks, relation, settings, palette, markers)
    longest = max(len(h.get_label()) for h in handles)
    ncol = max(2, min(len(handles), int(9.5 // (0.068 * longest + 0.6))))
    legend_rows = -(-len(handles) // ncol)
    head, top, bottom = fig.subfigures(3, 1, height_ratios=[0.19 * legend_rows + 0.15, 2.6 * n_rows,
                                                            0.17 * len(summary) + 0.8])
    axes = top.subplots(n_rows, 2, squeeze=False).ravel()
    for ax, (quantity, rel) in zip(axes, groups):
        part = checks[(checks["quantity"] == quantity) & (relation == rel)]
        indexed = "index_kind" in part and (part["index_kind"].fillna("") != "").any()
        if indexed:
            plot_theory_profile(part, ax=ax, palette=palette, markers=markers, legend=False)
            title = QUANTITY_LABELS.get(quantity, (quantity,))[0] + (" — upper bound" if rel == "at most" else "")
            ax.set_title(title, fontsize=9.5)
        else:
            plot_theory_scatter(part, ax=ax, palette=palette, markers=markers, legend=False)
    for ax in axes[len(groups):]:
        ax.remove()
    plot_theory_scores(summary, ax=bottom.add_subplot(), palette=palette)
    head.legend(handles=handles, loc="center", ncol=ncol, fontsize=7.5, frameon=False, handlelength=1.8,
                columnspacing=1.2)
    return fig


def _legend_handles(checks, relation, settings, palette, markers) -> list:
    """The shared legend of a prediction's figure: the settings, then the line styles its panels use."""
    handles = [Line2D([], [], color=palette[st], marker=markers[st], linestyle="none", markersize=5, label=st)
               for st in settings]
    has_index = "index_kind" in checks and (checks["index_kind"].fillna("") != "").any()
    if has_index and (relation != "at most").any():
        handles.append(Line2D([], [], color="0.3", linestyle="-", label="predicted"))
        handles.append(Patch(facecolor="0.8", label="predicted ± tolerance"))
    if (relation == "at most").any():
        handles.append(Line2D([], [], color="0.3", linestyle=":", label="upper bound"))
    if "limit" in checks and checks["limit"].notna().any():
        if has_index:
            handles.append(Line2D([], [], color="0.3", linestyle="--", label="large-size limit"))
        if not checks.loc[checks["limit"].notna(), "index_kind"].fillna("").astype(bool).all():
            handles.append(Line2D([], [], color="0.45", marker="o", markerfacecolor="none", linestyle="none",
                                  markersize=5, label="measured vs large-size limit"))
    if not has_index or (~checks["index_kind"].fillna("").astype(bool)).any():
        handles.append(Line2D([], [], color="0.35", linestyle="-.", label="measured = predicted"))
    return handles

