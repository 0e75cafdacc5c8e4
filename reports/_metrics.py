"""Text metrics shared by every PDF renderer while a report is written (matplotlib measures each text anew per page).

matplotlib caches the size of a text per renderer instance, and saving a page to
a PDF makes two renderers (one for the constrained-layout pass, one for the
drawing), each with an empty cache: the tick labels, legends and table cells of a
report are measured again on every page and in every pass. A PDF renderer's
measure of a text depends only on the text, its font properties and whether it is
mathtext (it always works at 72 dpi, from the font files), so within
:func:`shared_pdf_text_metrics` all PDF renderers share one cache. The pages come
out the same; only the repeated measuring is saved. Other renderers (Agg for the
PNGs) keep matplotlib's own per-renderer cache. Where matplotlib does not have
the private hook this relies on, the context manager does nothing.

Examples
--------
>>> import io
>>> from matplotlib.figure import Figure
>>> fig = Figure(figsize=(3, 2), layout="constrained")
>>> _ = fig.subplots().set_xlabel("lag $k$")
>>> with shared_pdf_text_metrics() as cache:
...     fig.savefig(io.BytesIO(), format="pdf")
...     fig.savefig(io.BytesIO(), format="pdf")
>>> ("lag $k$" in {key[0] for key in cache}) and len(cache) > 0
True
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import matplotlib.text as mtext
from matplotlib.backends.backend_pdf import RendererPdf

__all__ = ["shared_pdf_text_metrics"]


@contextlib.contextmanager
def shared_pdf_text_metrics() -> Iterator[dict]:
    """Context manager: PDF renderers share one text-metrics cache; yields the cache (key -> width, height, descent)."""
    per_renderer = getattr(mtext, "_get_text_metrics_function", None)
    cache: dict = {}
    if per_renderer is None:
        yield cache
        return

    def metrics_function(renderer, _per_renderer=per_renderer):
        # a PDF page is drawn through a MixedModeRenderer whose _renderer is the RendererPdf (Agg while rasterising)
        if type(getattr(renderer, "_renderer", renderer)) is not RendererPdf:
            return _per_renderer(renderer)

        def metrics(text, fontprop, ismath, dpi):
            key = (text, fontprop, ismath, dpi)
            try:
                return cache[key]
            except KeyError:
                value = cache[key] = renderer.get_text_width_height_descent(text, fontprop, ismath)
                return value

        return metrics

    mtext._get_text_metrics_function = metrics_function
    try:
        yield cache
    finally:
        mtext._get_text_metrics_function = per_renderer
