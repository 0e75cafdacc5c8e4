"""Shared plumbing of the figure functions: new axes, colours per variant, legends, checks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

from rnnprobe.reports.palette import linestyle_for, variant_palette
from rnnprobe.errors import InvalidArgument

__all__ = ["new_axes", "new_figure", "check_frame", "palette_of", "variant_order", "gain_styles",
           "variant_handles", "style_handles", "fmt_gain", "steps_label", "panel_grid",
           "is_depth", "plain_log_ticks", "tidy_log_axis"]


def new_axes(ax, figsize=(7.0, 4.5)) -> Axes:
    """``ax``, or the axes of a new (pyplot-free, Agg-rendered) figure."""
    if ax is None:
        fig = Figure(figsize=figsize, layout="constrained")
        return fig.add_subplot()
    if not isinstance(ax, Axes):
        raise InvalidArgument(f"ax must be a matplotlib Axes or None; got {type(ax).__name__}")
    return ax


def new_figure(fig, figsize=(9.0, 5.0)):
    """``fig`` (a Figure or SubFigure), or a new constrained-layout Figure."""
    if fig is None:
        return Figure(figsize=figsize, layout="constrained")
    if not isinstance(fig, (Figure, SubFigure)):
        raise InvalidArgument(f"fig must be a matplotlib Figure, SubFigure or None; got {type(fig).__name__}")
    return fig


def panel_grid(fig, n: int, *, max_cols: int = 3, sharex=True, sharey=False):
    """``n`` axes in a grid of at most ``max_cols`` columns (extra cells removed)."""
    cols = min(n, max_cols)
    rows = math.ceil(n / cols)
    axes = np.atleast_1d(fig.subplots(rows, cols, sharex=sharex, sharey=sharey, squeeze=False)).ravel()
    for extra in axes[n:]:
        extra.remove()
    return list(axes[:n])


def check_frame(data, columns, *, name: str, hint: str = "") -> pd.DataFrame:
    """Raise InvalidArgument unless ``data`` is a non-empty DataFrame with ``columns``."""
    if not isinstance(data, pd.DataFrame):
        raise InvalidArgument(f"{name} must be a pandas DataFrame; got {type(data).__name__}")
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise InvalidArgument(f"{name} must have columns {list(columns)}; missing {missing}" + (f" ({hint})" if hint else ""))
    if data.empty:
        raise InvalidArgument(f"{name} must not be empty; got 0 rows" + (f" ({hint})" if hint else ""))
    return data


def variant_order(data: pd.DataFrame) -> list[str]:
    """Variants in the order of the frame (analysis sorts by architecture)."""
    col = "variant" if "variant" in data else "arch"
    return list(dict.fromkeys(data[col].astype(str)))


def palette_of(data: pd.DataFrame) -> dict:
    """Variant -> colour for the variants of ``data`` (see :func:`reports.palette.variant_palette`)."""
    col = "variant" if "variant" in data else "arch"
    arch_of = dict(zip(data[col].astype(str), data["arch"].astype(str))) if "arch" in data else None
    return variant_palette(variant_order(data), arch_of)


def gain_styles(data: pd.DataFrame) -> dict:
    """Gain -> line style (lowest gain solid)."""
    if "gain" not in data:
        return {}
    gains = sorted(pd.to_numeric(data["gain"], errors="coerce").dropna().unique())
    return {g: linestyle_for(i) for i, g in enumerate(gains)}


def fmt_gain(g) -> str:
    return f"{float(g):g}"


def variant_handles(palette: dict, *, marker=None) -> list:
    """Legend handles: one coloured line per variant."""
    return [Line2D([], [], color=c, marker=marker, linestyle="-" if marker is None else "", label=v)
            for v, c in palette.items()]


def style_handles(styles: dict, *, prefix: str = "", color="0.25") -> list:
    """Legend handles: one grey line per line style."""
    return [Line2D([], [], color=color, linestyle=s, label=f"{prefix}{k}") for k, s in styles.items()]


def steps_label(data: pd.DataFrame) -> str:
    """The x label of a per-step plot: lags for time studies, layers for depth."""
    if is_depth(data):
        return "layers back from the output, L − l"
    if "length" in data and data["length"].notna().any():
        return "lag k (steps back from the last state, T − t)"
    return "steps"


def is_depth(data: pd.DataFrame) -> bool:
    """Whether a frame is about depth (it has depths; a depth study's stacked RNN also has a length)."""
    return "depth" in data and data["depth"].notna().any()


def plain_log_ticks(axis, lims=None):
    """Ticks 1, 2, 5 × 10^k labelled as plain numbers on a log axis (readable for narrow ranges)."""
    lo, hi = sorted(lims if lims is not None else axis.get_view_interval())
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo <= 0:
        return
    decades = range(int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi))) + 1)
    for mantissas in ((1, 2, 5), (1, 2, 3, 4, 5, 6, 7, 8, 9), np.round(np.arange(1.0, 10.0, 0.1), 1)):
        ticks = [m * 10.0 ** e for e in decades for m in mantissas if lo <= m * 10.0 ** e <= hi]
        if len(ticks) >= 2:
            break
    if len(ticks) > 9:
        ticks = ticks[:: int(np.ceil(len(ticks) / 9))]
    if len(ticks) >= 2:
        axis.set_major_locator(FixedLocator(ticks))
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
        axis.set_minor_formatter(NullFormatter())


def tidy_log_axis(ax, which: str = "y", *, max_decades: float = 2.0) -> None:
    """Readable log axes: at least a factor 4 of range, plain ticks (0.5, 1, 2) when spanning few decades.

    Data that are all (nearly) equal, e.g. the singular values of an orthogonal
    matrix, would otherwise get an axis spanning their rounding errors.
    """
    axis = ax.yaxis if which == "y" else ax.xaxis
    get, set_ = (ax.get_ylim, ax.set_ylim) if which == "y" else (ax.get_xlim, ax.set_xlim)
    lo, hi = sorted(get())
    if lo <= 0 or not np.isfinite(hi):
        return
    decades = math.log10(hi) - math.log10(lo)      # hi / lo may overflow: G spans more than 308 decades
    if decades < math.log10(4.0):
        mid = 10.0 ** ((math.log10(lo) + math.log10(hi)) / 2.0)
        lo, hi = mid / 2.0, mid * 2.0
        set_(lo, hi)
        decades = math.log10(hi) - math.log10(lo)
    if decades <= max_decades:
        plain_log_ticks(axis, (lo, hi))
    elif decades > 8:
        # a tick every 1, 2, 5, 10, 20, … decades, at most 8 of them (not every 27th)
        step = next((s for s in (1, 2, 5, 10, 20, 25, 50, 100, 200, 500) if decades / s <= 8), 1000)
        first, last = math.ceil(np.log10(lo) / step), math.floor(np.log10(hi) / step)
        axis.set_major_locator(FixedLocator([10.0 ** (k * step) for k in range(first, last + 1)]))
        axis.set_minor_locator(NullLocator())


#: at most this many curves share one axes; more are split over panels (by family, or by an option like init)
MAX_CURVES = 6


def _family(arch: str) -> str:
    from rnnprobe.models.registry import architectures

    try:
        return str(architectures[arch].family)
    except Exception:
        return str(arch)


def _facet_column(data: pd.DataFrame):
    """An extra grid option set on every row with a few values (``init``): the natural facet, or None."""
    from rnnprobe.schema import EXTRA_GRID_COLUMNS, GRID_COLUMNS as BASE_GRID_COLUMNS

    for c in EXTRA_GRID_COLUMNS:
        if c in data and c not in BASE_GRID_COLUMNS and data[c].notna().all() and 1 < data[c].nunique() <= 4:
            return c
    return None


def _partition(sizes: list[int], limit: int) -> list[int]:
    """Cut points splitting ``sizes`` (in order) into the fewest consecutive groups of sum <= limit,
    the largest group as small as possible."""
    n = len(sizes)
    best = None
    for mask in range(1 << max(n - 1, 0)):
        cuts = [i + 1 for i in range(n - 1) if mask >> i & 1]
        bounds = [0, *cuts, n]
        sums = [sum(sizes[a:b]) for a, b in zip(bounds, bounds[1:])]
        if max(sums) > limit and any(b - a > 1 for a, b in zip(bounds, bounds[1:])):
            continue
        key = (len(sums), max(sums), -min(sums), -sums[0])
        if best is None or key < best[0]:
            best = (key, cuts)
    return best[1] if best else []


def facets(data: pd.DataFrame, *, max_curves: int = MAX_CURVES, curves=None) -> list[tuple[str, pd.DataFrame]]:
    """Split a frame of variants into panels of at most ``max_curves`` curves each.

    Parameters
    ----------
    data : DataFrame
        With ``variant`` (or ``arch``) labels.
    max_curves : int
        Curves per panel.
    curves : callable, optional
        ``curves(frame of one variant) -> int``, the curves a variant draws (default 1).

    Returns
    -------
    list of (title, DataFrame)
        ``[('', data)]`` when everything fits one panel. Otherwise, when an option
        such as ``init`` is set on every row, one panel per value (titled
        ``'init=gaussian'``, the option dropped from the variant labels); else whole
        families (architectures of one ``family`` in the registry, then single
        architectures, then chunks of one architecture's variants) packed in order.

    Examples
    --------
    >>> d = pd.DataFrame({"arch": ["lstm"] * 5 + ["gru"] * 4, "variant": [f"lstm b_f={i}" for i in range(5)]
    ...                   + [f"gru b_z={i}" for i in range(4)]})
    >>> [(t, sorted(set(f["arch"]))) for t, f in facets(d)]
    [('', ['lstm']), ('', ['gru'])]
    """
    col = "variant" if "variant" in data else "arch"
    data = data if "variant" in data else data.assign(variant=data["arch"].astype(str))
    count = curves or (lambda frame: 1)
    order = variant_order(data)
    sizes = {v: max(1, int(count(data[data["variant"].astype(str) == v]))) for v in order}
    if sum(sizes.values()) <= max_curves:
        return [("", data)]
    facet = _facet_column(data)
    if facet is not None:
        from rnnprobe.analysis import with_variant

        out = []
        for value in list(dict.fromkeys(data[facet])):
            part = data[data[facet] == value].drop(columns=["variant"])
            relabelled = with_variant(part.assign(**{facet: value}))
            for title, sub in facets(relabelled, max_curves=max_curves, curves=curves):
                label = f"{facet}={value}" if not isinstance(value, float) else f"{facet}={value:g}"
                out.append((label + (f" · {title}" if title else ""), sub))
        return out
    arch_of = dict(zip(data["variant"].astype(str), data["arch"].astype(str))) if "arch" in data else {}
    # units: families that fit a panel, else their architectures, else chunks of one architecture's variants
    families: dict[str, list[str]] = {}
    for v in order:
        families.setdefault(_family(arch_of.get(v, v.split(" ")[0])), []).append(v)
    units: list[list[str]] = []
    for members in families.values():
        if sum(sizes[v] for v in members) <= max_curves:
            units.append(members)
            continue
        by_arch: dict[str, list[str]] = {}
        for v in members:
            by_arch.setdefault(arch_of.get(v, v.split(" ")[0]), []).append(v)
        for vs in by_arch.values():
            size = sum(sizes[v] for v in vs)
            n_chunks = -(-size // max_curves)
            target = -(-size // n_chunks)            # balanced chunks: 8 variants -> 4 + 4, not 6 + 2
            chunk, used = [], 0
            for v in vs:
                if chunk and used + sizes[v] > target:
                    units.append(chunk)
                    chunk, used = [], 0
                chunk.append(v)
                used += sizes[v]
            units.append(chunk)
    cuts = _partition([sum(sizes[v] for v in u) for u in units], max_curves)
    bounds = [0, *cuts, len(units)]
    groups = [[v for u in units[a:b] for v in u] for a, b in zip(bounds, bounds[1:])]
    return [("", data[data["variant"].astype(str).isin(g)]) for g in groups]
