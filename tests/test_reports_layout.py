"""Layout of every figure and page of every study's report: legends off the data, text on the page, no raw TeX.

``reports.layout.layout_problems`` reads matplotlib's renderer bounding boxes;
the first tests plant each defect and check that it is found (the checks can
fail), the others run it over every page and every figure a report builds
(``build_report(...).pages`` and ``.figures``: whatever figures the report
registers, so a new figure is checked as soon as a report draws it). The
theory study's report is checked in test_study_theory.py, on its quick run.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex, to_rgb
from matplotlib.figure import Figure

from rnnprobe.errors import InvalidArgument
from rnnprobe.reports import report as report_module
from rnnprobe.reports._plotting import MAX_CURVES, facets
from rnnprobe.reports.layout import layout_problems
from rnnprobe.reports.palette import report_style
from tests.report_fixtures import GRIDS, make_study


# ------------------------------------------------------------------ the checks find what they should
def _line_figure(**legend):
    fig = Figure(figsize=(4, 3), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(np.arange(10), np.arange(10), label="data")
    ax.set_title("a title")
    return fig, ax


def test_a_legend_on_the_data_is_found_and_one_outside_is_not():
    fig, ax = _line_figure()
    ax.legend(loc="center")
    assert layout_problems(fig) == ["legend ('data') covers the data of axes 'a title' (line)"]
    ax.get_legend().remove()
    fig.legend(loc="outside right upper")
    assert layout_problems(fig) == []


def test_a_legend_on_a_title_markers_and_bands_is_found():
    fig = Figure(figsize=(4, 3), layout="constrained")
    ax = fig.add_subplot()
    ax.scatter([0.5], [0.5])
    ax.set_xlim(0, 1), ax.set_ylim(0, 1)
    ax.set_title("covered title")
    fig.legend(handles=ax.get_lines() or [ax.collections[0]], labels=["point"], loc="upper center",
               bbox_to_anchor=(0.55, 1.0))
    problems = layout_problems(fig)
    assert any("covers the title 'covered title'" in p for p in problems), problems
    fig2 = Figure(figsize=(4, 3))
    ax2 = fig2.add_subplot()
    ax2.fill_between([0, 1], [0, 0], [1, 1], label="band")
    ax2.legend(loc="center")
    assert any("PolyCollection)" in p for p in layout_problems(fig2))


def test_text_outside_the_figure_raw_tex_and_overlapping_texts_are_found():
    fig = Figure(figsize=(4, 3))
    fig.text(0.5, -0.05, "caption past the bottom", va="top")
    fig.text(0.1, 0.5, "g(k) = ‖∂L/∂h_{T−k}‖")
    fig.text(0.1, 0.8, "a page title")
    fig.text(0.12, 0.8, "an overlapping text")
    problems = layout_problems(fig)
    assert any(p.startswith("text 'caption past the bottom' reaches outside the figure") and "below the bottom" in p
               for p in problems), problems
    assert any("raw TeX braces" in p for p in problems)
    assert any(p.startswith("texts 'a page title' and 'an overlapping text' overlap") for p in problems)
    fig = Figure(figsize=(4, 3))
    fig.text(0.1, 0.5, "g(k) = ‖∂L/∂h$_{T−k}$‖")           # mathtext is fine
    assert layout_problems(fig) == []


def test_labels_of_neighbouring_axes_that_collide_are_found():
    fig = Figure(figsize=(3, 3))
    top, bottom = fig.subplots(2, 1)
    top.set_ylabel("a very long y label that cannot fit its row")
    bottom.set_ylabel("another very long y label, too long as well")
    assert any("of two axes overlap" in p for p in layout_problems(fig))


def test_the_axis_texts_of_an_axes_switched_off_are_not_counted():
    fig = Figure(figsize=(4, 3))
    ax = fig.add_axes([0.0, 0.0, 1.0, 1.0])        # tick labels below and left of the figure
    assert any("reaches outside the figure" in p for p in layout_problems(fig))
    ax.axis("off")                                  # not drawn: nothing reaches outside
    assert layout_problems(fig) == []


def test_layout_problems_refuses_what_is_not_a_figure():
    with pytest.raises(InvalidArgument, match="fig must be a matplotlib Figure or SubFigure; got str"):
        layout_problems("figure")


# ------------------------------------------------------------------ facets: at most MAX_CURVES per panel
def test_facets_keep_families_together_and_split_an_option_set_everywhere():
    variants = [f"lstm b_f={b}" for b in range(5)] + [f"gru b_z={b}" for b in range(4)] + ["vanilla-tanh", "dense"]
    data = pd.DataFrame({"variant": variants, "arch": [v.split(" ")[0] for v in variants]})
    groups = facets(data)
    assert all(len(g) <= MAX_CURVES for _, g in groups)
    assert sorted(v for _, g in groups for v in g["variant"]) == sorted(variants)
    for arch in ("lstm", "gru"):                       # one architecture's variants share a panel
        assert sum(arch in set(g["arch"]) for _, g in groups) == 1
    inits = pd.DataFrame({"arch": ["mlp", "resmlp", "densemlp", "stacked-rnn"] * 2,
                          "init": ["gaussian"] * 4 + ["orthogonal"] * 4})
    groups = facets(inits.assign(variant=inits["arch"] + " init=" + inits["init"]), max_curves=4)
    assert [t for t, _ in groups] == ["init=gaussian", "init=orthogonal"]
    assert list(groups[0][1]["variant"]) == ["mlp", "resmlp", "densemlp", "stacked-rnn"]     # the option leaves the labels
    assert [t for t, _ in facets(data.head(3))] == [""]                     # few variants: one panel


def _GREYS(ax):
    return {to_hex(ln.get_color()) for ln in ax.get_lines() if len(set(np.round(to_rgb(ln.get_color()), 3))) == 1}


# ------------------------------------------------------------------ every page and figure of every study's report
#: the fixture grids, widened to the default studies' variety: every architecture of the default vanishing
#: grid (the diagonal recurrences lru and mingru included), and the memory study's 15 variants (4 forget
#: biases, 4 update biases for both GRU conventions) on few seeds and short sequences
LAYOUT_GRIDS = {
    "vanishing": dict(GRIDS["vanishing"], arch=["vanilla-tanh", "vanilla-relu", "gru", "gru-torch", "lstm", "residual",
                                                "dense", "lru", "mingru"]),
    "depth": GRIDS["depth"],
    "memory": dict(GRIDS["memory"], arch=["vanilla-tanh", "gru", "gru-torch", "lstm", "residual", "dense"],
                   forget_bias=[0.0, 1.0, 2.0, 4.0], update_bias=[0.0, 1.0, 2.0, 4.0]),
}


@pytest.fixture(scope="module", params=["vanishing", "depth", "memory"])
def built(request, tmp_path_factory):
    directory = make_study(request.param, tmp_path_factory.mktemp(f"layout-{request.param}"),
                           grid=LAYOUT_GRIDS[request.param])
    with report_style(), warnings.catch_warnings():
        warnings.simplefilter("error")
        result = report_module.build_report(directory)
        yield request.param, result


def test_every_page_reads_cleanly(built):
    study, result = built
    with report_style():
        problems = {n: layout_problems(page) for n, page in enumerate(result.pages, start=1)}
    assert {n: p for n, p in problems.items() if p} == {}, study


def test_every_figure_reads_cleanly_on_its_own(built):
    study, result = built
    assert result.figures
    with report_style():
        for item in result.figures:
            fig = Figure(figsize=item.size, layout="constrained")
            item.draw(fig)
            assert layout_problems(fig) == [], (study, item.name)
            axes = [ax for ax in fig.axes if ax.get_visible()]
            for ax in axes:                             # at most MAX_CURVES colours of data per axes (greys: references)
                colours = {to_hex(ln.get_color()) for ln in ax.get_lines()} - _GREYS(ax)
                assert len(colours) <= MAX_CURVES, (study, item.name, ax.get_title(), len(colours))
            legends = list(fig.legends) + [ax.get_legend() for ax in axes if ax.get_legend() is not None]
            assert len(legends) <= 1 or item.name.startswith("theory"), (item.name, len(legends))


def test_a_long_caption_shrinks_its_figure_and_font_but_stays_on_the_page():
    item = report_module._Item("figure", "x", "A figure", "word " * 900,
                               lambda c: c.add_subplot().plot([0, 1], [0, 1]), size=(10.0, 9.0))
    with report_style():
        page = report_module._figure_page(item, 1)
        assert layout_problems(page) == []
