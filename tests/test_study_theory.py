"""The theory study: its grid, its checks (which can fail), and a quick run end to end through the CLI and the report."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from pypdf import PdfReader
from scipy import stats

from rnnprobe import analysis
import rnnprobe
from rnnprobe import studies
from rnnprobe.reports.captions import THEORY_INTROS
from rnnprobe.reports.prediction_pages import PREDICTION_TITLES
from rnnprobe.cli import main
from rnnprobe.errors import InvalidArgument
from rnnprobe.theory import critical_sigma_w

STUDY = studies.load("theory")
MODULE = STUDY.module


def squash(text: str) -> str:
    """Text without whitespace: line breaks from wrapping and PDF extraction do not matter."""
    return re.sub(r"\s+", "", text)


def rows_by_metric(rows):
    out = {}
    for metric, lag, layer, index, block, value in rows:
        out.setdefault(metric, []).append(value)
    return {m: np.array(v) for m, v in out.items()}


def quick_point(setting, quantity, seed=0):
    return next(p for p in STUDY.points(STUDY.resolve(quick=True))
                if p["setting"] == setting and p["quantity"] == quantity and p["seed"] == seed)


def judged(rows, summary, point=None):
    """The analysis's per-point verdict (analysis.check_points) of one point's rows and summary."""
    keys = {k: (point or {}).get(k, "x") for k in ("prediction", "setting", "quantity")}
    results = pd.DataFrame([dict(keys, seed=0, metric=m, lag=lag, layer=layer, index=index, value=v)
                            for m, lag, layer, index, block, v in rows])
    return analysis.check_points(results, pd.DataFrame([dict(keys, seed=0, **summary)]))


# --------------------------------------------------------------------------------------------- grid
def test_grid_covers_every_prediction_and_both_phases():
    points = STUDY.points(STUDY.resolve())
    checks = {(p["prediction"], p["setting"], p["quantity"]) for p in points}
    assert {c[0] for c in checks} == set(MODULE.PREDICTIONS)
    assert len(points) == len(checks) * len(MODULE.GRID["seed"])
    assert len({STUDY.point_id(p) for p in points}) == len(points)
    meanfield = {s for pred, s, q in checks if pred == "meanfield"}
    assert {"tanh-ordered", "tanh-critical", "tanh-chaotic", "relu-ordered", "relu-critical", "relu-chaotic"} <= meanfield
    quick = STUDY.points(STUDY.resolve(quick=True))
    assert {p["prediction"] for p in quick} == set(MODULE.PREDICTIONS) and len(quick) < len(points) / 5
    # the setting axis filters, and the columns carry the setting's parameters
    only = STUDY.points(STUDY.resolve({"setting": ["relu-chaotic"], "seed": [3]}))
    assert [(p["quantity"], p["gain"], p["bias_std"], p["nonlinearity"], p["seed"]) for p in only] == \
        [("q", 1.6, 0.0, "relu", 3), ("chi1", 1.6, 0.0, "relu", 3)]
    assert all(STUDY.cost(p) > 0 for p in quick)


def test_written_out_critical_points_are_on_the_order_to_chaos_line():
    assert abs(MODULE.TANH_CRITICAL_SIGMA_W - critical_sigma_w(0.3, "tanh")) < 1e-9
    assert MODULE.RELU_CRITICAL_SIGMA_W == pytest.approx(critical_sigma_w(0.0, "relu"), rel=1e-15)


def test_critical_value_is_the_bonferroni_split_quantile():
    assert analysis.critical_value(math.inf, 4, 0.01) == pytest.approx(stats.norm.ppf(1 - 0.01 / 8))
    assert analysis.critical_value(7, 1, 1e-4) == pytest.approx(stats.t.ppf(1 - 5e-5, 7))
    assert analysis.critical_value(7, 3) == pytest.approx(stats.t.ppf(1 - 1e-4 / 6, 7))


def test_the_study_emits_measurements_not_verdicts():
    assert "tolerance" not in STUDY.metrics and "passed" not in STUDY.summary_scalars
    assert not hasattr(MODULE, "critical_value") and not hasattr(MODULE, "SIGNIFICANCE")


# --------------------------------------------------------------------------------------- the checks
@pytest.mark.parametrize("setting,quantity", [("tanh-chaotic", "chi1"), ("bound-tanh", "G"),
                                              ("identical-branches", "path_share"), ("chrono-60", "forgetting_time_quantile")])
def test_rows_follow_the_schema_and_the_tolerance_rule(setting, quantity):
    point = quick_point(setting, quantity)
    rows, summary = MODULE.probe(point)
    assert {r[0] for r in rows} <= set(MODULE.EXTRA_METRICS)
    assert set(summary) <= set(STUDY.summary_scalars)
    m = rows_by_metric(rows)
    n = len(m["predicted"])
    assert all(len(v) == n for v in m.values() if v is not m.get("limit"))
    pts = judged(rows, summary, point)
    assert len(pts) == n and pts["point_passed"].all()
    c = analysis.critical_value(summary["dof"], n)
    assert np.allclose(pts["tolerance"], c * m["standard_error"] + m["allowance"], rtol=1e-12, atol=0)
    if summary["relation"] == "at most":
        assert np.all(m["measured"] <= m["predicted"] + m["allowance"])
    else:
        assert np.all(np.abs(m["measured"] - m["predicted"]) <= pts["tolerance"].to_numpy())


def test_a_check_fails_when_the_measurement_leaves_the_tolerance():
    # the same machinery that passes the real checks: a shifted measurement fails, a violated bound fails
    check = MODULE._Check(None, [0], [[1.0]], [[1.0], [1.1], [0.9], [1.05]], 0.0, "test")
    rows, summary = MODULE._finish(check, "meanfield")
    assert summary["dof"] == 3.0 and judged(rows, summary)["point_passed"].all()
    # 4 replicates: dof 3 and c = t_3(1 − 5e-5) = 28.0, so the tolerance is 28.0 × 0.0427 = 1.195: an offset of 3 fails
    shifted = MODULE._Check(None, [0], [[1.0]], [[4.0], [4.1], [3.9], [4.05]], 0.0, "test")
    pts = judged(*MODULE._finish(shifted, "meanfield"))
    assert not pts["point_passed"].any() and pts["tolerance"].iloc[0] == pytest.approx(1.1955, abs=1e-4)
    bound = MODULE._Check("lag", [1, 2], [[1.0, 0.5]], [[0.9, 0.51]], 1e-10, "test", relation="at most", exact=True)
    assert judged(*MODULE._finish(bound, "pascanu"))["point_passed"].tolist() == [True, False]
    assert judged(*MODULE._finish(MODULE._Check("lag", [1, 2], [[1.0, 0.5]], [[0.9, 0.4]], 1e-10, "test",
                                                relation="at most", exact=True), "pascanu"))["point_passed"].all()
    with pytest.raises(rnnprobe.RnnProbeError, match="one replicate per point"):
        MODULE._finish(MODULE._Check(None, [0], [[1.0]], [[0.9], [0.8]], 0.0, "test", relation="at most"), "pascanu")


def test_orthogonal_isometry_excludes_the_gaussian_prediction():
    """The check has power: orthogonal tanh nets at criticality measure far from the Gaussian-weight variance."""
    from rnnprobe.theory import isometry as iso

    point = quick_point("tanh-critical-orthogonal", "lambda_variance")
    rows, summary = MODULE.probe(point)
    m = rows_by_metric(rows)
    pts = judged(rows, summary, point)
    gaussian = iso.jacobian_spectrum_moments(6, MODULE.TANH_CRITICAL_SIGMA_W, 0.3, "tanh", weights="gaussian")
    assert pts["point_passed"].all() and abs(m["measured"][0] - gaussian.variance) > 2 * pts["tolerance"].iloc[0]


def test_probe_refuses_other_dtypes_and_quantities():
    point = quick_point("gru-bz2", "efold")
    with pytest.raises(InvalidArgument, match="float64"):
        MODULE.probe(point, dtype="float32")
    with pytest.raises(InvalidArgument, match="quantity 'q' is not checked"):
        MODULE.probe({**point, "quantity": "q"})


# ------------------------------------------------------------------------------- quick run, end to end
@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("theory") / "out"
    result = CliRunner().invoke(main, ["study", "theory", "--quick", "--jobs", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result


def test_quick_run_every_verdict_passes(quick_run):
    out, result = quick_run
    summary = pd.read_csv(out / "summary.csv")
    results = pd.read_csv(out / "results.csv")
    assert len(summary) == len(STUDY.points(STUDY.resolve(quick=True)))
    assert {"relation", "replicates", "dof", "tolerance_basis", "reference"} <= set(summary.columns)
    assert not {"passed", "significance"} & set(summary.columns) and "tolerance" not in set(results["metric"])
    assert analysis.check_points(results, summary)["point_passed"].all()
    checks = analysis.check_summary(analysis.pool_checks(results, summary))
    assert len(checks) == summary.groupby(["prediction", "setting", "quantity"]).ngroups
    assert checks["passed"].all() and (checks["verdict"] == "pass").all()


def test_quick_run_report_has_the_summary_table_and_every_prediction_page(quick_run):
    out, result = quick_run
    pdf = out / "report.pdf"
    assert pdf.exists() and "report:" in result.output
    text = squash(" ".join(page.extract_text() for page in PdfReader(pdf).pages))
    for header in ("Table1:Everypredictionchecked", "prediction", "setting", "quantity", "worstat", "predicted",
                   "measured", "error", "tolerance", "seedspassing", "verdict", "Table3:Tolerancesandtheirjustification",
                   "Methods", "Statisticsandverdicts"):
        assert header in text, header
    for prediction, title in PREDICTION_TITLES.items():
        assert squash(title) in text, title
        assert squash(THEORY_INTROS[prediction][:120]) in text, prediction
    n = len(analysis.check_summary(analysis.pool_checks(pd.read_csv(out / "results.csv"),
                                                        pd.read_csv(out / "summary.csv"))))
    assert text.count("Verdict:all") == len(PREDICTION_TITLES) and "FAIL" not in text
    assert f"{n}of{n}checkspass" in text
    assert {p.name for p in (out / "figures").iterdir()} == {f"theory_{p}.png" for p in PREDICTION_TITLES}
    assert (out / "tables" / "theory_checks.csv").exists() and (out / "tables" / "summary.md").exists()


def test_capacity_estimator_expectation_against_rnnprobe_memory_capacity():
    """docs/theory.md §4: on average rnnprobe.memory_capacity reads expected_heldout_capacity of the closed form.

    Small samples, so that the finite-sample effects are large: one linear reservoir (N = 20, orthogonal W at gain
    0.9, delays 0 … 40), n = 400 samples (320 to fit, 80 held out), 40 input sequences. The mean per delay must
    match the expected value within 4 standard errors plus the study's allowance, and the data must exclude the
    closed form itself where the predicted bias is largest.
    """
    import warnings

    from rnnprobe.capacity import CapacityResolutionWarning
    from rnnprobe.studies import theory as study
    from rnnprobe.theory import capacity as cap

    model = rnnprobe.build("vanilla-linear", 20, init="orthogonal", gain=0.9, seed=3)
    M, n, runs = 40, 400, 40
    closed = cap.predicted_memory_capacity(model, max_lag=M).per_lag
    with warnings.catch_warnings():
        warnings.simplefilter("error", CapacityResolutionWarning)
        results = [rnnprobe.memory_capacity(model, max_lag=M, n_samples=n, seed=s) for s in range(runs)]
    r, n_train, n_test = results[0].effective_rank, results[0].n_train, results[0].n_test
    est = np.array([res.per_lag.numpy() for res in results])
    mean, se = est.mean(0), est.std(0, ddof=1) / math.sqrt(runs)
    expected = cap.expected_heldout_capacity(closed, r, n_train, n_test)
    allowance = study.capacity_allowance(closed, r, n_train, n_test)
    assert np.all(np.abs(mean - expected) <= 4 * se + allowance), (mean, expected, se)
    k = int(np.argmax(np.abs(expected - closed) / (se + 1e-12)))
    assert abs(mean[k] - closed[k]) > 5 * se[k], (k, mean[k], closed[k], se[k])        # the bias is real


def test_quick_run_report_pages_and_figures_read_cleanly(quick_run):
    # the layout checks of test_reports_layout.py on the theory report: legends off the data, captions on their pages
    from matplotlib.figure import Figure

    from rnnprobe.reports import report as report_module
    from rnnprobe.reports.layout import layout_problems
    from rnnprobe.reports.palette import report_style

    out, _ = quick_run
    with report_style():
        built = report_module.build_report(out)
        problems = {n: layout_problems(page) for n, page in enumerate(built.pages, start=1)}
        assert {n: p for n, p in problems.items() if p} == {}
        for item in built.figures:
            fig = Figure(figsize=item.size, layout="constrained")
            item.draw(fig)
            assert layout_problems(fig) == [], item.name
