"""The figures of a report as PNG, cut from the pages as laid out for the PDF, drawn beside the PDF when possible.

A figure page is laid out once, when the PDF draws it. Its plot is then rendered
as PNG from that layout (:func:`plot_png`) rather than drawn and laid out a second
time. :class:`PngRenderer` does that in a forked process started as soon as the
PDF has drawn its last figure page, so that on a machine with two cores the PNGs
are rendered while the PDF draws its table and methods pages. The child only
renders: it sends the PNG bytes back and the caller writes the files, after the
PDF, in the same order and in the same way as without a child. Where a child
cannot be forked (no ``fork``, other threads running) or it fails, the PNGs are
rendered in this process, which gives the same bytes (and raises the same error).

Examples
--------
>>> from matplotlib.figure import Figure
>>> page = Figure(figsize=(4, 3), layout="constrained")
>>> plot = page.subfigures(2, 1)[1]
>>> _ = plot.subplots().plot([0, 1], [1, 0])
>>> page.draw_without_rendering()
>>> renderer = PngRenderer([page], dpi=40)
>>> renderer.start()
>>> [png[:4] for png in renderer.result()]
[b'\\x89PNG']
"""

from __future__ import annotations

import io
import multiprocessing
import os
import sys
import threading
import warnings

from matplotlib.figure import Figure

__all__ = ["PngRenderer", "plot_png"]


def plot_png(page: Figure, dpi: int) -> bytes:
    """The plot of a figure page (its second subfigure) as PNG bytes, as laid out when the page was drawn.

    The page's layout is frozen (its layout engine removed, so that saving it does
    not lay it out again) and only the plot's box rendered.
    """
    page.set_layout_engine(None)
    plot = page.subfigs[1]
    box = plot.bbox.transformed(page.dpi_scale_trans.inverted())
    out = io.BytesIO()
    page.savefig(out, format="png", dpi=dpi, bbox_inches=box)
    return out.getvalue()


def _can_fork() -> bool:
    return (sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()
            and threading.active_count() == 1 and (os.cpu_count() or 1) > 1)


def _child(conn, pages, dpi) -> None:
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pngs = [plot_png(page, dpi) for page in pages]
        conn.send(("ok", pngs, [(str(w.message), w.category) for w in caught]))
    except BaseException:       # the parent renders them itself, and meets the error there
        try:
            conn.send(("failed", None, None))
        except BaseException:
            pass
    finally:
        conn.close()


class PngRenderer:
    """Render the plots of laid-out figure pages as PNG, in a forked child when possible.

    Parameters
    ----------
    pages : list of Figure
        Figure pages already drawn once (laid out); their plot is subfigure 1.
    dpi : int
        Resolution of the PNGs.
    """

    def __init__(self, pages: list[Figure], dpi: int):
        self.pages, self.dpi = list(pages), dpi
        self._process = self._conn = None

    def start(self) -> None:
        """Start rendering in a child process (nothing happens where a child cannot be forked)."""
        if not self.pages or not _can_fork():
            return
        ctx = multiprocessing.get_context("fork")
        parent, child = ctx.Pipe(duplex=False)
        process = ctx.Process(target=_child, args=(child, self.pages, self.dpi), daemon=True)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)     # "fork() in a multi-threaded process"
                process.start()
        except OSError:
            parent.close()
            return
        finally:
            child.close()
        self._process, self._conn = process, parent

    def result(self) -> list[bytes]:
        """The PNG bytes, one per page, in order (rendered here if the child was not started or failed)."""
        status, pngs, caught = "failed", None, None
        if self._conn is not None:
            try:
                status, pngs, caught = self._conn.recv()
            except (EOFError, OSError):
                pass
            self.close()
        if status != "ok":
            return [plot_png(page, self.dpi) for page in self.pages]
        for message, category in caught:
            warnings.warn(message, category, stacklevel=2)
        return pngs

    def close(self) -> None:
        """Let the child go (it stops when it finds nobody reading) and wait for it."""
        if self._conn is not None:
            self._conn.close()
            self._process.join()
            self._process.close()
            self._conn = self._process = None
