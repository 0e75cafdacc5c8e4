"""write_report on study output made by the real probes: pages, text, captions, files; graceful degradation."""

from __future__ import annotations

import json
import re
import shutil
import warnings

import pandas as pd
import pytest
from pypdf import PdfReader

from rnnprobe import analysis
from rnnprobe import reports
from rnnprobe.reports import report as report_module
from rnnprobe.errors import InvalidArgument
from tests.report_fixtures import make_study

EXPECTED_FIGURES = {
    "vanishing": {"gradient_decay", "bounds", "memory_heatmap", "pascanu", "weight_spectra", "lyapunov_spectra",
                  "hyperbolicity", "chi1"},
    "depth": {"gradient_decay", "pascanu", "depth_isometry", "jacobian_spectra", "chi1"},
    "memory": {"gradient_decay", "bounds", "memory_heatmap", "memory_capacity", "pascanu", "weight_spectra",
               "lyapunov_spectra", "chi1"},
}
EXPECTED_TABLES = {
    "vanishing": {"summary", "decay", "memory", "bounds", "pascanu", "pascanu_points", "chi1"},
    "depth": {"summary", "decay", "pascanu", "pascanu_points", "isometry", "chi1"},
    "memory": {"summary", "decay", "memory", "bounds", "pascanu", "pascanu_points", "chi1"},
}


def squash(text: str) -> str:
    """Text without whitespace: line breaks from wrapping and extraction do not matter."""
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module", params=["vanishing", "depth", "memory"])
def written(request, tmp_path_factory):
    directory = make_study(request.param, tmp_path_factory.mktemp(request.param), quick=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")              # a report of a healthy study warns about nothing
        pdf = reports.write_report(directory)
    reader = PdfReader(pdf)
    texts = [page.extract_text() for page in reader.pages]
    return request.param, directory, pdf, texts


def contents_of(title_text: str) -> list[tuple[str, int]]:
    after = title_text.split("Contents", 1)[1].split("rnnprobe ·", 1)[0]      # up to the footer
    return [(m.group(1).strip(), int(m.group(2))) for m in re.finditer(r"^(.+?)\s+(\d+)$", after, re.M)]


def test_pages_match_the_contents(written):
    study, _, pdf, texts = written
    assert texts[0].startswith(f"rnnprobe report: {study} study")
    contents = contents_of(texts[0])
    names = [name for name, _ in contents]
    assert names[:2] == ["Configuration", "Table 1: Summary"] and names[-1] == "Methods"
    for name, page in contents:                       # every entry starts on its page
        assert squash(name) in squash(texts[page - 1]), name
    methods_page = contents[-1][1]
    assert len(texts) in (methods_page, methods_page + 1)          # the methods take one page, or two
    assert all(f"page {i} of {len(texts)}" in t for i, t in enumerate(texts, start=1))
    n_figures = sum(name.startswith("Figure") for name in names)
    assert n_figures == len(EXPECTED_FIGURES[study])


def test_title_and_configuration_pages_state_the_run(written):
    study, directory, _, texts = written
    meta = json.loads((directory / "meta.json").read_text())
    assert squash(report_module.STUDY_QUESTIONS[study]) in squash(texts[0])
    assert meta["created"] in texts[0]
    assert f"torch {meta['versions']['torch']}" in texts[0]
    config_page = texts[1]
    for key, value in meta["grid"].items():
        assert key in config_page
    assert "Versions" in config_page and meta["versions"]["numpy"] in config_page


def test_summary_headers_and_values_are_in_the_pdf(written):
    study, directory, _, texts = written
    study_data = reports.load_study(directory)
    summary = analysis.summary_table(study_data.summary, study_data.results)
    display, _ = report_module._display(summary)
    summary_text = squash(texts[2])
    for header in display.columns:
        assert squash(header) in summary_text, header
    for cell in display.iloc[:, 0]:
        assert squash(cell) in summary_text


def test_each_caption_is_in_the_pdf_with_its_numbers(written):
    study, directory, _, texts = written
    study_data = reports.load_study(directory)
    frames, skipped = reports.analyse(study_data)
    assert skipped == []
    items = report_module._figure_items(study_data, frames)
    assert {item.name for item in items} == EXPECTED_FIGURES[study]
    full = squash("".join(texts))
    for number, item in enumerate(items, start=1):
        assert "Finding:" in item.caption, item.name
        assert squash(f"Figure {number}. {item.caption}") in full, item.name


def test_figures_and_tables_are_written_beside_the_pdf(written):
    study, directory, pdf, _ = written
    assert pdf == directory / "report.pdf"
    assert {p.stem for p in (directory / "figures").glob("*.png")} == EXPECTED_FIGURES[study]
    tables = directory / "tables"
    assert {p.stem for p in tables.glob("*.csv")} == EXPECTED_TABLES[study]
    assert {p.stem for p in tables.glob("*.md")} == EXPECTED_TABLES[study]
    study_data = reports.load_study(directory)
    expected = analysis.summary_table(study_data.summary, study_data.results)
    written_csv = pd.read_csv(tables / "summary.csv")
    pd.testing.assert_frame_equal(written_csv, expected, check_dtype=False)
    md = (tables / "summary.md").read_text().splitlines()
    assert md[0] == "# Summary" and md[2].startswith(("| architecture |", "| variant |"))
    assert not list(directory.glob(".report-*"))                  # no temporary file left behind


def test_quick_vanishing_finding_quotes_the_fitted_efolding_time(tmp_path):
    directory = make_study("vanishing", tmp_path, quick=True)
    study_data = reports.load_study(directory)
    fits = analysis.decay_table(analysis.decay_fits(study_data.results, "gradient_norm"))
    row = fits[(fits["arch"] == "lstm") & (fits["gain"] == 1.5)].iloc[0]
    frames, _ = reports.analyse(study_data)
    caption = report_module._figure_items(study_data, frames)[0].caption
    assert f"{reports.format_value(row['efold'])} for lstm" in caption or "∞ (no decay) for lstm" in caption


# ---------------------------------------------------------------- degradation


@pytest.fixture(scope="module")
def vanishing_quick(tmp_path_factory):
    return make_study("vanishing", tmp_path_factory.mktemp("source"), quick=True)


def copy_study(source, target, *, keep):
    target.mkdir(parents=True, exist_ok=True)
    for name in keep:
        shutil.copy(source / name, target / name)
    return target


def test_summary_only_gives_the_summary_based_figures(vanishing_quick, tmp_path):
    d = copy_study(vanishing_quick, tmp_path / "s", keep=["summary.csv", "meta.json"])
    pdf = reports.write_report(d, tables=False)
    names = {p.stem for p in (d / "figures").glob("*.png")}
    assert names == {"memory_heatmap", "pascanu"}
    assert "Methods" in PdfReader(pdf).pages[-1].extract_text()


def test_results_only_and_no_meta(vanishing_quick, tmp_path):
    d = copy_study(vanishing_quick, tmp_path / "r", keep=["results.csv"])
    out = tmp_path / "elsewhere" / "x.pdf"
    pdf = reports.write_report(d, out, tables=False)
    assert pdf == out and out.exists() and (out.parent / "figures" / "gradient_decay.png").exists()
    names = {p.stem for p in (out.parent / "figures").glob("*.png")}
    assert "memory_heatmap" not in names and "pascanu" not in names     # both need summary.csv
    text = PdfReader(pdf).pages[0].extract_text()
    assert "rnnprobe report: vanishing study" in text                    # the name comes from results.csv


def test_output_directory_and_invalid_meta(vanishing_quick, tmp_path):
    d = copy_study(vanishing_quick, tmp_path / "m", keep=["summary.csv", "results.csv"])
    (d / "meta.json").write_text("{not json")
    with pytest.warns(UserWarning, match="meta.json"):
        pdf = reports.write_report(d, tmp_path / "outdir", png=False, tables=False)
    assert pdf == tmp_path / "outdir" / "report.pdf"
    assert not (tmp_path / "outdir" / "figures").exists()


def test_a_failing_analysis_is_reported_not_fatal(vanishing_quick, tmp_path, monkeypatch):
    d = copy_study(vanishing_quick, tmp_path / "f", keep=["summary.csv", "results.csv", "meta.json"])

    def broken(*args, **kwargs):
        raise RuntimeError("planted failure")

    monkeypatch.setattr(analysis, "bound_tightness", broken)
    with pytest.warns(UserWarning, match="planted failure"):
        pdf = reports.write_report(d, png=False, tables=False)
    assert "planted failure" in PdfReader(pdf).pages[0].extract_text()


@pytest.mark.parametrize("make, match", [
    (lambda p: p / "missing", "not a directory"),
    (lambda p: p, "must contain results.csv or summary.csv"),
])
def test_not_a_study_directory(tmp_path, make, match):
    with pytest.raises(InvalidArgument, match=match):
        reports.write_report(make(tmp_path))
