"""Layout checks of drawn figures and report pages, from matplotlib's renderer bounding boxes.

:func:`layout_problems` draws a Figure (or a report page) and lists, as readable
sentences, every place where

* a legend covers data (a point, a line segment, a marker, a filled area, a bar
  or a heat-map cell of any axes), an axes title, an axis label, tick labels or
  another legend;
* text reaches outside the figure (or the page), e.g. a caption running past the
  bottom of its page or a label cut at the edge;
* two figure-level texts (page title, caption, footer, supxlabel) overlap;
* text shows raw TeX braces (``h_{T−k}`` outside ``$…$``).

An empty list means the figure reads cleanly in these respects. The tests run it
over every figure and every page of every study's report.

Examples
--------
>>> from matplotlib.figure import Figure
>>> fig = Figure(figsize=(4, 3), layout="constrained")
>>> ax = fig.add_subplot()
>>> _ = ax.plot([0, 1, 2], [0, 1, 2], label="data")
>>> _ = ax.legend(loc="center")                 # right on the line
>>> layout_problems(fig)
["legend ('data') covers the data of axes 'untitled axes 1' (line)"]
>>> ax.get_legend().remove()
>>> _ = fig.legend(loc="outside right upper")
>>> layout_problems(fig)
[]
"""

from __future__ import annotations

import re

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import Collection, QuadMesh
from matplotlib.figure import Figure, SubFigure
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.text import Text
from matplotlib.transforms import Bbox

__all__ = ["layout_problems"]

#: slack in pixels (at 100 dpi): anti-aliasing and rounding, not layout
_TOL = 1.0


def _renderer(fig):
    root = fig.figure if isinstance(fig, SubFigure) else fig
    root.draw_without_rendering()
    return root._get_renderer()


def _undrawn_tick_labels(container) -> set[int]:
    """Texts matplotlib keeps but does not draw: tick labels outside the view limits, and every text of the
    axis of an axes that is switched off (``ax.axis("off")``)."""
    out = set()
    for ax in container.findobj(Axes):
        if not ax.axison:
            for axis in ax._axis_map.values():
                out.update(id(t) for t in axis.findobj(Text))
            continue
        for axis in ax._axis_map.values():
            drawn = {id(t) for t in axis._update_ticks()}
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if id(tick) not in drawn or not tick.get_visible():
                    out.update({id(tick.label1), id(tick.label2)})
    return out


def _visible_texts(container) -> list[Text]:
    skip = _undrawn_tick_labels(container)
    return [t for t in container.findobj(Text) if t.get_visible() and t.get_text().strip()
            and _in_visible_parents(t) and id(t) not in skip]


def _in_visible_parents(artist) -> bool:
    ax = getattr(artist, "axes", None)
    return ax is None or ax.get_visible()


def _shrink(bbox: Bbox, px: float) -> Bbox:
    return Bbox.from_extents(bbox.x0 + px, bbox.y0 + px, bbox.x1 - px, bbox.y1 - px)


def _overlaps(a: Bbox, b: Bbox) -> bool:
    a, b = _shrink(a, _TOL), _shrink(b, _TOL)
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _axes_name(ax: Axes, i: int) -> str:
    title = ax.get_title() or ax.get_title("left") or ax.get_ylabel()
    return title if title else f"untitled axes {i + 1}"


def _segments_hit(points: np.ndarray, box: Bbox, samples: int = 8) -> bool:
    """Whether a polyline (display coordinates, NaN breaks it) enters the box."""
    pts = points[np.isfinite(points).all(axis=1)] if len(points) else points
    if len(points) == 0:
        return False
    inside = (points[:, 0] > box.x0) & (points[:, 0] < box.x1) & (points[:, 1] > box.y0) & (points[:, 1] < box.y1)
    if inside.any():
        return True
    if len(pts) < 2:
        return False
    a, b = points[:-1], points[1:]
    ok = np.isfinite(a).all(axis=1) & np.isfinite(b).all(axis=1)
    a, b = a[ok], b[ok]
    if not len(a):
        return False
    # segments whose bounding box misses the box cannot cross it
    cand = (np.minimum(a[:, 0], b[:, 0]) < box.x1) & (np.maximum(a[:, 0], b[:, 0]) > box.x0) & \
           (np.minimum(a[:, 1], b[:, 1]) < box.y1) & (np.maximum(a[:, 1], b[:, 1]) > box.y0)
    if not cand.any():
        return False
    a, b = a[cand], b[cand]
    t = np.linspace(0.0, 1.0, samples + 2)[None, :, None]
    p = a[:, None, :] + t * (b - a)[:, None, :]
    return bool(((p[..., 0] > box.x0) & (p[..., 0] < box.x1) & (p[..., 1] > box.y0) & (p[..., 1] < box.y1)).any())


def _data_hits(ax: Axes, box: Bbox, renderer) -> list[str]:
    """What data of ``ax`` lie under ``box`` (display coordinates)."""
    hits = []
    clip = ax.bbox
    for line in ax.get_lines():
        if not line.get_visible() or line.get_label().startswith("_child") and False:
            continue
        xy = line.get_xydata()
        if xy is None or len(xy) == 0:
            continue
        pts = line.get_transform().transform(np.asarray(xy, float))
        pts = pts.copy()
        outside = (pts[:, 0] < clip.x0 - _TOL) | (pts[:, 0] > clip.x1 + _TOL) | \
                  (pts[:, 1] < clip.y0 - _TOL) | (pts[:, 1] > clip.y1 + _TOL)
        pts[outside] = np.nan
        drawn = line.get_linestyle() not in ("None", "none", "", " ")
        if drawn and _segments_hit(pts, box):
            hits.append("line")
        elif not drawn and len(pts) and _segments_hit(pts, box, samples=0):
            hits.append("markers")
    for coll in ax.collections:
        if not coll.get_visible() or isinstance(coll, QuadMesh):
            continue
        extent = coll.get_window_extent(renderer)
        if not _overlaps(extent, box):
            continue
        offsets = coll.get_offsets()
        if len(offsets) > 1 or not coll.get_paths():
            pts = coll.get_offset_transform().transform(np.asarray(offsets, float))
            if _segments_hit(pts, box, samples=0):
                hits.append(type(coll).__name__)
            continue
        transform = coll.get_transform()
        filled = len(coll.get_facecolor()) > 0 and float(np.max(np.asarray(coll.get_facecolor())[:, 3])) > 0
        for path in coll.get_paths():
            shown = transform.transform_path(path)
            if shown.intersects_bbox(box, filled=filled):
                hits.append(type(coll).__name__)
                break
    for patch in ax.patches:
        if patch.get_visible() and isinstance(patch, (Rectangle, Patch)) and patch is not ax.patch:
            if _overlaps(patch.get_window_extent(renderer), box):
                hits.append(type(patch).__name__)
    for coll in ax.collections:
        if isinstance(coll, QuadMesh) and coll.get_visible() and _overlaps(coll.get_window_extent(renderer), box):
            hits.append("heatmap")
    return list(dict.fromkeys(hits))


def _legends(container) -> list[Legend]:
    out = [lg for lg in container.findobj(Legend) if lg.get_visible()]
    return list(dict.fromkeys(out))


def _legend_name(legend: Legend) -> str:
    texts = [t.get_text() for t in legend.get_texts()][:2]
    return "legend (" + ", ".join(repr(t) for t in texts) + (", …" if len(legend.get_texts()) > 2 else "") + ")"


def _axes_texts(ax: Axes) -> list[tuple[str, Text]]:
    out = [("title", t) for t in (ax.title, ax._left_title, ax._right_title)]
    out += [("axis label", ax.xaxis.label), ("axis label", ax.yaxis.label)]
    drawn = [t for axis in (ax.xaxis, ax.yaxis) for tick in axis._update_ticks() if tick.get_visible()
             for t in (tick.label1, tick.label2)]
    out += [("tick label", t) for t in drawn]
    return [(k, t) for k, t in out if t.get_visible() and t.get_text().strip()]


def _all_axes(fig) -> list[Axes]:
    return [a for a in fig.findobj(Axes) if a.get_visible()]


def layout_problems(fig, *, check_data: bool = True) -> list[str]:
    """Draw ``fig`` and list its layout defects (empty: none found).

    Parameters
    ----------
    fig : matplotlib Figure or SubFigure
        A figure, or a report page (an A4 Figure). For a SubFigure the whole
        figure it belongs to is drawn and the checks are limited to its part.
    check_data : bool
        Check legends against the data of the axes they overlap.

    Returns
    -------
    list of str
        One sentence per defect.
    """
    if not isinstance(fig, (Figure, SubFigure)):
        from rnnprobe.errors import InvalidArgument

        raise InvalidArgument(f"fig must be a matplotlib Figure or SubFigure; got {type(fig).__name__}")
    renderer = _renderer(fig)
    problems = []
    root = fig.figure if isinstance(fig, SubFigure) else fig
    page = root.bbox
    # 1. every text inside the figure
    for t in _visible_texts(fig):
        box = t.get_window_extent(renderer)
        if box.width == 0 and box.height == 0:
            continue
        if box.x0 < page.x0 - _TOL or box.y0 < page.y0 - _TOL or box.x1 > page.x1 + _TOL or box.y1 > page.y1 + _TOL:
            where = []
            if box.y0 < page.y0 - _TOL:
                where.append(f"{page.y0 - box.y0:.0f} px below the bottom")
            if box.y1 > page.y1 + _TOL:
                where.append(f"{box.y1 - page.y1:.0f} px above the top")
            if box.x0 < page.x0 - _TOL:
                where.append(f"{page.x0 - box.x0:.0f} px left of the left edge")
            if box.x1 > page.x1 + _TOL:
                where.append(f"{box.x1 - page.x1:.0f} px past the right edge")
            problems.append(f"text {_short(t.get_text())!r} reaches outside the figure ({', '.join(where)})")
    # raw TeX (braces outside $…$ mathtext) where a subscript was meant
    for t in _visible_texts(fig):
        plain = re.sub(r"\$[^$]*\$", "", t.get_text())
        if "{" in plain or "}" in plain:
            problems.append(f"text {_short(t.get_text())!r} shows raw TeX braces (use mathtext $…$ or plain text)")
    # 2. legends: against data, titles, labels, ticks and each other
    axes = _all_axes(fig)
    legends = _legends(fig)
    boxes = {id(lg): lg.get_window_extent(renderer) for lg in legends}
    for lg in legends:
        box = boxes[id(lg)]
        name = _legend_name(lg)
        for i, ax in enumerate(axes):
            if not _overlaps(ax.bbox, box) and not any(_overlaps(t.get_window_extent(renderer), box)
                                                       for _, t in _axes_texts(ax)):
                continue
            if check_data and _overlaps(ax.bbox, box):
                hits = _data_hits(ax, _shrink(box, _TOL), renderer)
                if hits:
                    problems.append(f"{name} covers the data of axes {_axes_name(ax, i)!r} ({', '.join(hits)})")
            for kind, t in _axes_texts(ax):
                if _overlaps(t.get_window_extent(renderer), box):
                    problems.append(f"{name} covers the {kind} {_short(t.get_text())!r} of axes {_axes_name(ax, i)!r}")
                    break
        for other in legends:
            if other is not lg and id(other) > id(lg) and _overlaps(boxes[id(other)], box):
                problems.append(f"{name} overlaps {_legend_name(other)}")
    # 3. titles and axis labels of different axes do not overlap (e.g. y labels taller than their row)
    labelled = [(i, t) for i, ax in enumerate(axes) for kind, t in _axes_texts(ax) if kind != "tick label"]
    boxes_t = [(i, t, t.get_window_extent(renderer)) for i, t in labelled]
    for n, (i, a, ba) in enumerate(boxes_t):
        for j, b, bb in boxes_t[n + 1:]:
            if i != j and _overlaps(ba, bb):
                problems.append(f"labels {_short(a.get_text())!r} and {_short(b.get_text())!r} of two axes overlap")
    # 4. figure-level texts (titles, captions, footers, suplabels) and axes titles do not overlap each other
    titles = [t for ax in axes for t in (ax.title, ax._left_title, ax._right_title)]
    top = [t for t in dict.fromkeys(_figure_texts(fig) + titles) if t.get_visible() and t.get_text().strip()]
    extents = [(t, t.get_window_extent(renderer)) for t in top]
    for i, (a, ba) in enumerate(extents):
        for b, bb in extents[i + 1:]:
            if _overlaps(ba, bb):
                problems.append(f"texts {_short(a.get_text())!r} and {_short(b.get_text())!r} overlap")
    return list(dict.fromkeys(problems))


def _figure_texts(fig) -> list[Text]:
    out = list(fig.texts)
    for name in ("_suptitle", "_supxlabel", "_supylabel"):
        t = getattr(fig, name, None)
        if t is not None:
            out.append(t)
    for sub in getattr(fig, "subfigs", []):
        out += _figure_texts(sub)
    return out


def _short(text: str, n: int = 40) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"
