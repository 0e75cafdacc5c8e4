"""The report's PNGs rendered in a forked child: the same bytes as rendered in-process, failures and warnings
handled in the caller; write_report writes the same files either way and none with png=False."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from matplotlib.figure import Figure

from rnnprobe import reports
from rnnprobe.reports import _pngs
from tests.report_fixtures import make_study

needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


def laid_out_pages(n: int = 3) -> list[Figure]:
    pages = []
    for i in range(n):
        page = Figure(figsize=(4, 5), layout="constrained")
        top, plot = page.subfigures(2, 1, height_ratios=[1, 3])
        top.text(0.1, 0.5, f"title {i}")
        ax = plot.subplots()
        x = np.linspace(0, 1, 20)
        ax.plot(x, x ** (i + 1), label=f"x^{i + 1}")
        ax.set_xlabel("lag $k$")
        ax.legend()
        page.draw_without_rendering()          # as the PDF lays them out
        pages.append(page)
    return pages


@pytest.fixture
def forking(monkeypatch):
    monkeypatch.setattr(_pngs, "_can_fork", lambda: True)


@needs_fork
def test_child_renders_the_same_bytes_as_this_process(forking):
    here = [_pngs.plot_png(p, 50) for p in laid_out_pages()]
    renderer = _pngs.PngRenderer(laid_out_pages(), 50)
    renderer.start()
    assert renderer._process is not None                  # it did run in a child
    got = renderer.result()
    assert got == here and all(png.startswith(b"\x89PNG") for png in got)
    assert renderer._process is None                      # the child was waited for


def test_without_a_child_the_pngs_are_rendered_here(monkeypatch):
    monkeypatch.setattr(_pngs, "_can_fork", lambda: False)
    renderer = _pngs.PngRenderer(laid_out_pages(2), 50)
    renderer.start()
    assert renderer._process is None
    assert renderer.result() == [_pngs.plot_png(p, 50) for p in laid_out_pages(2)]


@needs_fork
def test_a_failing_child_falls_back_to_this_process(forking, monkeypatch):
    parent, real = os.getpid(), _pngs.plot_png

    def fails_in_the_child(page, dpi):
        if os.getpid() != parent:
            raise MemoryError("planted in the child")
        return real(page, dpi)

    monkeypatch.setattr(_pngs, "plot_png", fails_in_the_child)
    renderer = _pngs.PngRenderer(laid_out_pages(2), 50)
    renderer.start()
    assert renderer._process is not None
    assert renderer.result() == [real(p, 50) for p in laid_out_pages(2)]


@needs_fork
def test_an_error_raised_everywhere_reaches_the_caller(forking, monkeypatch):
    def broken(page, dpi):
        raise OSError("planted")

    monkeypatch.setattr(_pngs, "plot_png", broken)
    renderer = _pngs.PngRenderer(laid_out_pages(1), 50)
    renderer.start()
    with pytest.raises(OSError, match="planted"):
        renderer.result()


@needs_fork
def test_warnings_in_the_child_are_warned_in_the_caller(forking, monkeypatch):
    parent, real = os.getpid(), _pngs.plot_png

    def warns_in_the_child(page, dpi):
        if os.getpid() != parent:
            warnings.warn("planted child warning", RuntimeWarning)
        return real(page, dpi)

    monkeypatch.setattr(_pngs, "plot_png", warns_in_the_child)
    renderer = _pngs.PngRenderer(laid_out_pages(1), 50)
    renderer.start()
    with pytest.warns(RuntimeWarning, match="planted child warning"):
        renderer.result()


def test_close_without_result_lets_the_child_go(forking):
    renderer = _pngs.PngRenderer(laid_out_pages(2), 50)
    renderer.start()
    renderer.close()
    assert renderer._process is None
    renderer.close()                                      # twice is harmless


@needs_fork
def test_write_report_writes_the_same_pngs_with_and_without_a_child(tmp_path, monkeypatch):
    directory = make_study("vanishing", tmp_path / "study", quick=True)
    written = {}
    for forks in (True, False):
        monkeypatch.setattr(_pngs, "_can_fork", lambda forks=forks: forks)
        out = tmp_path / f"fork-{forks}"
        reports.write_report(directory, out, tables=False, dpi=40)
        written[forks] = {p.name: p.read_bytes() for p in (out / "figures").glob("*.png")}
    assert written[True] and written[True] == written[False]
    no_png = tmp_path / "no-png"
    reports.write_report(directory, no_png, png=False, tables=False)
    assert (no_png / "report.pdf").exists() and not (no_png / "figures").exists()


# ------------------------------------------------------------------ text metrics shared by the PDF renderers
def _pdf_bytes(fig) -> bytes:
    import io

    out = io.BytesIO()
    fig.savefig(out, format="pdf", metadata={"CreationDate": None})
    return out.getvalue()


def test_shared_pdf_text_metrics_give_the_same_pdf_and_measure_each_text_once():
    import matplotlib.text as mtext

    from rnnprobe.reports._metrics import shared_pdf_text_metrics

    hook = mtext._get_text_metrics_function
    pages = laid_out_pages(2)
    alone = [_pdf_bytes(p) for p in pages]
    with shared_pdf_text_metrics() as cache:
        shared = [_pdf_bytes(p) for p in pages]
        n = len(cache)
        again = [_pdf_bytes(p) for p in pages]          # new renderers, nothing new to measure
        assert len(cache) == n > 0
    assert shared == alone and again == alone
    assert mtext._get_text_metrics_function is hook     # restored
    assert any(key[0] == "lag $k$" for key in cache)
    # the PNGs (Agg) keep matplotlib's own cache
    with shared_pdf_text_metrics() as cache:
        _pngs.plot_png(laid_out_pages(1)[0], 40)
    assert cache == {}
