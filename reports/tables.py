"""Tables for people: readable headers and numbers, Markdown, and matplotlib table pages.

Examples
--------
>>> import pandas as pd
>>> from rnnprobe.reports.tables import format_table, to_markdown
>>> t = pd.DataFrame({"arch": ["lstm"], "memory_efold": [41.234], "ratio_product": [3.2e15]})
>>> print(to_markdown(format_table(t)))
| architecture | e-fold (steps) | B_prod/g at k = T |
|---|---|---|
| lstm | 41.2 | 3.2e+15 |
"""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pandas as pd
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

__all__ = ["COLUMN_LABELS", "format_value", "format_table", "to_markdown", "table_pages", "A4"]

#: Page size (inches) of the reports: A4 portrait.
A4 = (8.27, 11.69)

#: Display headers of analysis columns ('\n' breaks a header over two lines in PDF tables).
COLUMN_LABELS = {
    "arch": "architecture", "variant": "variant", "gain": "gain", "length": "T", "depth": "L", "hidden": "n",
    "seed": "seed", "n_seeds": "seeds", "metric": "metric", "pascanu": "Pascanu\nverdict", "measured": "measured\ndecay",
    "memory_threshold": "threshold\n(steps)", "memory_threshold_min": "threshold\nmin", "memory_threshold_max": "threshold\nmax",
    "memory_efold": "e-fold\n(steps)", "memory_efold_min": "e-fold\nmin", "memory_efold_max": "e-fold\nmax",
    "lyapunov_time": "Lyapunov\ntime", "lyapunov_time_min": "Lyap. time\nmin", "lyapunov_time_max": "Lyap. time\nmax",
    "memory_capacity": "MC", "memory_capacity_min": "MC\nmin", "memory_capacity_max": "MC\nmax",
    "censored_fraction": "censored\nshare", "measures_agree": "measures\nagree", "horizon_ok": "T ≥ 5τ",
    "lyapunov_exponent": "λ₁\n(per step)", "sigma_max": "σ_max", "gamma": "γ", "gamma_sigma_max": "γσ_max",
    "ratio_product": "B_prod/g\nat k = T", "ratio_weight": "B_W/g\nat k = T", "ratio_jacobian": "‖∂L/∂h_T‖G/g\nat k = T",
    "ratio_product_at_max": "B_prod/g\nat k = T", "ratio_weight_at_max": "B_W/g\nat k = T",
    "ratio_jacobian_at_max": "‖∂L/∂h_T‖G/g\nat k = T",
    "ratio_product_median": "B_prod/g\nmedian k", "ratio_weight_median": "B_W/g\nmedian k",
    "ratio_jacobian_median": "‖∂L/∂h_T‖G/g\nmedian k", "holds_all": "chain\nholds",
    "slope": "slope\n(per step)", "slope_low": "slope\n95% low", "slope_high": "slope\n95% high",
    "efold": "e-fold\n(steps)", "efold_min": "e-fold\nmin", "efold_max": "e-fold\nmax",
    "growth_per_step": "factor\nper step",
    "log_sv_mean": "mean\nlog s", "log_sv_std": "std\nlog s", "log_condition": "log\ns_max/s_min",
    "isometry_distance": "RMS\nlog s", "log_sv_mean_seed_std": "± seeds", "log_sv_std_seed_std": "± seeds",
    "q_star": "q*", "chi1_predicted": "χ₁\npredicted", "chi1_measured": "χ₁\nmeasured", "chi1_low": "χ₁\n95% low",
    "chi1_high": "χ₁\n95% high", "relative_error": "relative\nerror", "error": "log error\n(per step)",
    "depth_scale_predicted": "ξ\npredicted", "depth_scale_measured": "ξ\nmeasured", "nonlinearity": "φ", "phi": "φ",
    "sigma_b": "σ_b", "input_variance": "v_x", "forget_bias": "b_f", "update_bias": "b_z",
    "vanishing": "vanishing", "neutral": "neutral", "exploding": "exploding", "undetermined": "undetermined",
    "total": "total", "agreement": "agreement", "holds_all": "chain\nholds",
}

_INTEGER_COLUMNS = {"length", "depth", "hidden", "seed", "n_seeds", "total", "vanishing", "neutral", "exploding",
                    "undetermined", "n_points", "memory_threshold"}


def format_value(value, column: str = "") -> str:
    """A number as a person reads it: 3 significant digits, ∞, '–' for missing, yes/no.

    Examples
    --------
    >>> [format_value(v) for v in (3.14159, 1234567.0, 2.5e-7, float("inf"), float("nan"), True, 12)]
    ['3.14', '1.23e+06', '2.5e-07', '∞', '–', 'yes', '12']
    """
    if value is None or value is pd.NA:
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(v):
        return "–"
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    if column in _INTEGER_COLUMNS and v.is_integer():
        return f"{int(v)}"
    if column in ("agreement", "censored_fraction", "holds_all", "measures_agree", "horizon_ok"):
        return f"{100 * v:.0f}%"
    if v == 0:
        return "0"
    a = abs(v)
    if 1e3 <= a < 1e5:
        return f"{v:.0f}"
    if a >= 1e5 or a < 1e-3:
        return f"{v:.3g}"
    if v.is_integer() and a < 1e5:
        return f"{int(v)}"
    return f"{v:.3g}"


def format_table(frame: pd.DataFrame, *, columns=None, ranges=None) -> pd.DataFrame:
    """Strings for display: formatted cells, :data:`COLUMN_LABELS` headers, the index as a column.

    Parameters
    ----------
    frame : DataFrame
        An analysis table.
    columns : list of str, optional
        Which columns, in order (default all).
    ranges : dict, optional
        ``{column: (low_column, high_column[, 'range' | 'ci'])}``: print
        ``value (low–high)`` (a range over seeds) or ``value [low, high]`` (a
        confidence interval) in one cell instead of three columns; the range is
        left out when it is the value itself (one seed).

    Examples
    --------
    >>> t = pd.DataFrame({"arch": ["gru"], "efold": [4.0], "efold_min": [3.5], "efold_max": [5.25]})
    >>> format_table(t, ranges={"efold": ("efold_min", "efold_max")}).iloc[0].tolist()
    ['gru', '4 (3.5–5.25)']
    """
    data = frame.reset_index() if frame.index.name is not None else frame
    spec = {}
    for c, r in (ranges or {}).items():
        lo, hi, kind = (*r, "range") if len(r) == 2 else r
        if c in data and lo in data and hi in data:
            spec[c] = (lo, hi, kind)
    hidden = {x for lo, hi, _ in spec.values() for x in (lo, hi)}
    cols = [c for c in (columns if columns is not None else data.columns) if c in data.columns and c not in hidden]
    out = {}
    for c in cols:
        label = COLUMN_LABELS.get(c, c)
        if c not in spec:
            out[label] = [format_value(v, c) for v in data[c]]
            continue
        lo, hi, kind = spec[c]
        cells = []
        for v, a, b in zip(data[c], data[lo], data[hi]):
            text, fa, fb = format_value(v, c), format_value(a, lo), format_value(b, hi)
            if not (fa == fb == text) and not (fa == fb == "–"):
                text += f" [{fa}, {fb}]" if kind == "ci" else f" ({fa}–{fb})"
            cells.append(text)
        first, *rest = label.split("\n")
        out[first + "\n" + " ".join(rest + ["[95% CI]" if kind == "ci" else "(range)"])] = cells
    return pd.DataFrame(out, index=range(len(data)))


def to_markdown(table: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of a (formatted) frame; headers on one line."""
    def cell(s):
        return str(s).replace("\n", " ").replace("|", "\\|")

    lines = ["| " + " | ".join(cell(c) for c in table.columns) + " |",
             "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


_CELL_PAD = 0.1      # left-aligned text starts this fraction of the cell width in (matplotlib.table.Cell.PAD)
_CHAR_IN = 0.072     # average width of a character at 8.5 pt (DejaVu Sans), inches
_PAD_IN = 0.16


def _lines(text) -> list[str]:
    return str(text).split("\n")


def _col_widths(table: pd.DataFrame, fontsize: float) -> list[float]:
    scale = fontsize / 8.5
    widths = []
    for c in table.columns:
        longest = max(len(line) for text in [c, *table[c]] for line in _lines(text))
        widths.append(longest * _CHAR_IN * scale + _PAD_IN)
    return widths


def _wrap_cells(table: pd.DataFrame, max_chars: int) -> pd.DataFrame:
    """Break cell texts longer than ``max_chars`` over several lines (at spaces)."""
    def wrap(v):
        v = str(v)
        return v if len(v) <= max_chars else textwrap.fill(v, width=max_chars, break_long_words=False)

    return table.apply(lambda col: col.map(wrap))


def _column_chunks(table: pd.DataFrame, n_keys: int, avail: float, fontsize: float) -> list[list[int]]:
    """Split columns into chunks that fit the width, repeating the first ``n_keys`` columns."""
    widths = _col_widths(table, fontsize)
    if sum(widths) <= avail:
        return [list(range(len(widths)))]
    keys = list(range(min(n_keys, len(widths))))
    base = sum(widths[i] for i in keys)
    chunks, current, used = [], [], base
    for i in range(len(keys), len(widths)):
        if current and used + widths[i] > avail:
            chunks.append(keys + current)
            current, used = [], base
        current.append(i)
        used += widths[i]
    if current:
        chunks.append(keys + current)
    return chunks


def table_pages(table: pd.DataFrame, *, title: str, note: str = "", n_keys: int = 2, rows_per_page: int | None = None,
                fontsize: float = 8.5, page_size=A4, footer: str = "", max_cell_chars: int = 28,
                landscape="auto") -> list[Figure]:
    """Render a formatted table as A4 pages: rows split across pages, landscape or split columns when too wide.

    Parameters
    ----------
    table : DataFrame
        Usually from :func:`format_table` (strings; ``\\n`` in headers breaks lines).
    title : str
        Printed on every page ("(continued)" after the first).
    note : str
        A paragraph under the title of the first page (what the columns mean).
    n_keys : int
        Leading identifier columns repeated when the columns are split.
    rows_per_page : int, optional
        At most this many rows per page (default: as many as fit the page height).
    fontsize : float
        Reduced (to 7 pt at least) before columns are split.
    footer : str
        Small text at the bottom of each page.
    max_cell_chars : int
        Longer cell texts are broken over several lines.
    landscape : bool or 'auto'
        Turn the page when the table is too wide for portrait at 8 pt
        (``'auto'``); columns are split only when landscape is not enough.

    Returns
    -------
    list of matplotlib.figure.Figure
        One per page.

    Examples
    --------
    >>> import pandas as pd
    >>> pages = table_pages(pd.DataFrame({"a": range(50), "b": ["x"] * 50}), title="T", rows_per_page=20)
    >>> len(pages)
    3
    """
    margin = 0.6
    table = _wrap_cells(table.astype(str), max_cell_chars)
    width, height = page_size
    if landscape == "auto":
        landscape = sum(_col_widths(table, 8.0)) > width - 2 * margin and width < height
    if landscape and width < height:
        width, height = page_size = (height, width)
    avail = width - 2 * margin
    while fontsize > 7.0 and sum(_col_widths(table, fontsize)) > avail:
        fontsize -= 0.5
    chunks = _column_chunks(table, n_keys, avail, fontsize)
    note_text = textwrap.fill(note, width=int(avail / (_CHAR_IN * 9 / 8.5))) if note else ""
    note_h = (note_text.count("\n") + 1) * 0.19 + 0.15 if note else 0.0
    body = height - margin - 0.35 - 0.75            # below the title, above the footer
    header_h, row_hs = _heights(table, fontsize)
    row_blocks, start = [], 0
    while start < len(table) or not row_blocks:
        room = body - header_h - (note_h if not row_blocks else 0.0)
        stop, used = start, 0.0
        while stop < len(table) and (stop == start or used + row_hs[stop] <= room) \
                and (rows_per_page is None or stop - start < rows_per_page):
            used += row_hs[stop]
            stop += 1
        row_blocks.append(range(start, stop))
        start = stop
    pages = []
    for ci, cols in enumerate(chunks):
        for ri, rows in enumerate(row_blocks):
            first = ci == 0 and ri == 0
            fig = Figure(figsize=page_size)
            label = title if first else f"{title} (continued)"
            if len(chunks) > 1:
                label += f"  [columns {ci + 1}/{len(chunks)}]"
            fig.text(margin / width, 1 - margin / height, label, ha="left", va="top", fontsize=12, weight="bold")
            top = 1 - (margin + 0.35) / height
            if ri == 0 and note:
                fig.text(margin / width, top, note_text, ha="left", va="top", fontsize=9, linespacing=1.35)
                top -= note_h / height
            _draw_table(fig, table.iloc[list(rows), cols], top=top, left=margin / width, fontsize=fontsize,
                        page_size=page_size)
            if footer:
                fig.text(0.5, 0.35 / height, footer, ha="center", va="bottom", fontsize=7.5, color="0.4")
            pages.append(fig)
    return pages


def _heights(table: pd.DataFrame, fontsize: float) -> tuple[float, list[float]]:
    """Header and row heights (inches) of a table at ``fontsize``."""
    line_h = 0.16 * fontsize / 8.5
    header_lines = max([len(_lines(c)) for c in table.columns] + [1])
    row_lines = [max([len(_lines(v)) for v in row] + [1]) for row in table.itertuples(index=False)]
    return header_lines * line_h + 0.1 * fontsize / 8.5, [n * line_h + 0.08 * fontsize / 8.5 for n in row_lines]


def _draw_table(fig, table: pd.DataFrame, *, top, left, fontsize, page_size):
    """Cells as one collection of rectangles and one text each (as ``matplotlib.table`` lays them out, drawn in
    a fraction of its time: one path collection instead of a patch per cell)."""
    width, height = page_size
    widths = [w / width for w in _col_widths(table, fontsize)]
    header_h, row_hs = _heights(table, fontsize)
    heights = [header_h] + row_hs
    total_w, total_h = sum(widths), sum(heights) / height
    ax = fig.add_axes([left, top - total_h, total_w, total_h])
    ax.axis("off")
    xs = np.concatenate([[0.0], np.cumsum(widths)]) / total_w
    hs = [h / height / total_h for h in heights]
    ys = 1.0 - np.cumsum(hs)                       # bottom edge of each row, header first
    boxes, faces, edges = [], [], []
    for i in range(len(heights)):
        face = "#e8e8e8" if i == 0 else ("#f6f6f6" if i % 2 == 0 else "white")
        edge = "0.6" if i == 0 else "0.8"
        for j in range(len(table.columns)):
            x0, x1, y0, y1 = xs[j], xs[j + 1], ys[i], ys[i] + hs[i]
            boxes.append([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
            faces.append(face)
            edges.append(edge)
    ax.add_collection(PolyCollection(boxes, facecolors=faces, edgecolors=edges, linewidths=1.0,
                                     transform=ax.transAxes, clip_on=False))
    rows = [list(map(str, table.columns))] + [list(map(str, r)) for r in table.itertuples(index=False)]
    for i, row in enumerate(rows):
        y = ys[i] + hs[i] / 2
        for j, v in enumerate(row):
            left_aligned = i > 0 and j == 0
            x = xs[j] + (xs[j + 1] - xs[j]) * (_CELL_PAD if left_aligned else 0.5)
            ax.text(x, y, v, transform=ax.transAxes, ha="left" if left_aligned else "center", va="center",
                    fontsize=fontsize, weight="bold" if i == 0 else "normal", linespacing=1.1, clip_on=False)
    return ax
