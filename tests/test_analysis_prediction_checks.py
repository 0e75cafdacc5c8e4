"""analysis.prediction_checks (the theory study's checks) against hand-computed frames: pooling over seeds, tolerances, verdicts, tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rnnprobe import analysis
from rnnprobe.analysis.prediction_checks import (check_points, check_settings, check_summary, check_tolerances, critical_value,
                                    is_theory, pool_checks, setting_label)
from rnnprobe.errors import InvalidArgument

KEYS = dict(prediction="meanfield", setting="tanh-ordered", quantity="chi1")


def frames(points, *, keys=KEYS, index=None, relation="equal"):
    """results and summary frames from ``points``: one dict per seed with per-index lists of the metrics.

    A ``tolerance`` entry is what the check's tolerance should come out as (not written: the analysis computes it).
    """
    rows, summary = [], []
    for seed, p in enumerate(points):
        n = len(p["predicted"])
        for metric in ("predicted", "measured", "standard_error", "allowance", "limit"):
            if metric not in p:
                continue
            for j in range(n):
                row = dict(keys, arch="mlp", hidden=256, seed=seed, metric=metric, value=p[metric][j],
                           lag=np.nan, layer=np.nan, index=np.nan)
                if index:
                    row[index] = j + 1
                rows.append(row)
        summary.append(dict(keys, arch="mlp", hidden=256, seed=seed, relation=relation, dof=p["dof"],
                            replicates=p.get("replicates", 1)))
    return pd.DataFrame(rows), pd.DataFrame(summary)


def test_pooling_three_seeds_by_hand():
    points = [dict(predicted=[1.0], measured=[1.1], standard_error=[0.02], allowance=[0.001], tolerance=[1.0], dof=4),
              dict(predicted=[1.0], measured=[0.9], standard_error=[0.03], allowance=[0.002], tolerance=[1.0], dof=9),
              dict(predicted=[1.0], measured=[1.05], standard_error=[0.01], allowance=[0.003], tolerance=[1.0], dof=5)]
    R, S = frames(points)
    row = pool_checks(R, S).iloc[0]
    assert row["n_seeds"] == 3 and row["predicted"] == 1.0
    assert row["measured"] == pytest.approx((1.1 + 0.9 + 1.05) / 3)
    assert row["measured_std"] == pytest.approx(np.std([1.1, 0.9, 1.05], ddof=1))
    assert (row["measured_min"], row["measured_max"]) == (0.9, 1.1)
    assert row["error"] == pytest.approx(0.05 / 3)
    se = math.sqrt(0.02**2 + 0.03**2 + 0.01**2) / 3                        # √(Σ se²)/S
    assert row["standard_error"] == pytest.approx(se)
    dof = 0.0014**2 / (0.02**4 / 4 + 0.03**4 / 9 + 0.01**4 / 5)           # Welch–Satterthwaite: 14.848…
    assert row["dof"] == pytest.approx(dof) and row["dof"] == pytest.approx(14.8485, abs=1e-4)
    c = stats.t.ppf(1 - 1e-4 / 2, dof)
    assert row["critical_value"] == pytest.approx(c)
    assert row["allowance"] == pytest.approx(0.002)
    assert row["tolerance"] == pytest.approx(c * se + 0.002)
    assert row["error_to_tolerance"] == pytest.approx((0.05 / 3) / (c * se + 0.002))
    assert row["passed"] and row["seeds_passed"] == 3 and row["check_seeds_passed"] == 3


def test_an_offset_beyond_the_tolerance_fails():
    base = dict(predicted=[1.0], standard_error=[0.001], allowance=[0.0], tolerance=[0.01], dof=7)
    R, S = frames([dict(base, measured=[1.02]), dict(base, measured=[1.021])])
    row = pool_checks(R, S).iloc[0]
    # SE = √2·0.001/2 = 7.07e-4, c = t_14(1 − 5e-5) = 5.2: tolerance 0.0037 < error 0.0205
    assert row["dof"] == pytest.approx(14.0)
    assert row["tolerance"] == pytest.approx(stats.t.ppf(1 - 5e-5, 14) * math.sqrt(2) * 0.001 / 2)
    assert not row["passed"] and row["seeds_passed"] == 0          # each seed alone: |0.02| > 0.01
    summary = check_summary(pool_checks(R, S))
    assert summary["verdict"].tolist() == ["FAIL"] and not summary["passed"].iloc[0]


def test_bonferroni_over_the_indices_and_the_worst_index():
    p = dict(predicted=[1.0, 2.0, 3.0], standard_error=[0.01, 0.01, 0.01], allowance=[0.0, 0.0, 0.0],
             tolerance=[1.0, 1.0, 1.0], dof=math.inf)
    R, S = frames([dict(p, measured=[1.0, 2.04, 3.01]), dict(p, measured=[1.0, 2.04, 2.99])], index="lag")
    checks = pool_checks(R, S)
    assert checks["index_kind"].tolist() == ["lag"] * 3 and checks["position"].tolist() == [1, 2, 3]
    c = stats.norm.ppf(1 - 1e-4 / 6)                                  # m = 3 indices, normal (exact s.e.)
    assert np.allclose(checks["critical_value"], c) and math.isinf(checks["dof"].iloc[0])
    assert np.allclose(checks["tolerance"], c * math.sqrt(2) * 0.01 / 2)
    # c = z(1 − 1e-4/6) = 4.15, SE = √2·0.01/2: tolerance 0.0293; errors 0, 0.04, 0
    assert checks["tolerance"].iloc[0] == pytest.approx(0.0293, abs=1e-4)
    assert checks["passed"].tolist() == [True, False, True]
    worst = check_summary(checks).iloc[0]
    assert worst["position"] == 2 and worst["n_indices"] == 3 and worst["verdict"] == "FAIL"
    assert worst["error"] == pytest.approx(0.04) and worst["index_kind"] == "lag"


def test_upper_bounds_pass_only_when_every_seed_is_below():
    p = dict(predicted=[1.0, 0.5], standard_error=[0.0, 0.0], allowance=[1e-10, 1e-10], tolerance=[1e-10, 1e-10],
             dof=math.inf)
    R, S = frames([dict(p, measured=[0.5, 0.1]), dict(p, measured=[0.9, 0.4])], index="lag", relation="at most")
    checks = pool_checks(R, S)
    assert checks["passed"].all() and checks["error"].tolist() == pytest.approx([-0.1, -0.1])
    assert checks["measured_to_bound"].tolist() == pytest.approx([0.9, 0.8])
    assert checks["error_to_tolerance"].isna().all()
    assert check_summary(checks).iloc[0]["measured_to_bound"] == pytest.approx(0.9)
    R, S = frames([dict(p, measured=[0.5, 0.1]), dict(p, measured=[0.9, 0.5 + 1e-6])], index="lag", relation="at most")
    checks = pool_checks(R, S)
    assert checks["passed"].tolist() == [True, False] and checks["seeds_passed"].tolist() == [2, 1]
    assert check_summary(checks).iloc[0]["seeds_passed"] == 1


def test_points_get_each_seeds_tolerance_and_verdict_and_default_without_summary():
    p = dict(predicted=[1.0], measured=[1.05], standard_error=[0.005], allowance=[0.001], dof=5, limit=[1.01])
    R, S = frames([p])
    pts = check_points(R, S)
    c = stats.t.ppf(1 - 5e-5, 5)                                       # one index: c = t_5(1 − 5e-5) = 11.18
    assert pts[["predicted", "measured", "limit"]].iloc[0].tolist() == [1.0, 1.05, 1.01]
    assert pts["critical_value"].iloc[0] == pytest.approx(c) and pts["n_indices"].iloc[0] == 1
    assert pts["tolerance"].iloc[0] == pytest.approx(c * 0.005 + 0.001)  # 0.057: |0.05| within
    assert pts["point_passed"].iloc[0]
    assert not check_points(R, S.assign(dof=math.inf))["point_passed"].iloc[0]   # normal: 3.89 × 0.005 + 0.001 < 0.05
    assert not check_points(R, S, significance=0.5)["point_passed"].iloc[0]      # c = t_5(0.75) = 0.73
    bare = check_points(R)                                             # no summary: 'equal', exact s.e.
    assert bare["relation"].iloc[0] == "equal" and math.isinf(bare["dof"].iloc[0])
    assert check_points(R[R["metric"] == "nothing"]).empty
    with pytest.raises(InvalidArgument, match="missing"):
        check_points(R.drop(columns="quantity"))
    assert is_theory(R) and not is_theory(R.assign(metric="jacobian_norm")) and not is_theory(None)


def test_settings_and_tolerance_tables():
    S = pd.DataFrame({"prediction": "gates", "setting": ["lstm-bf0", "lstm-bf0", "lstm-bf4", "lstm-bf4"],
                      "quantity": ["efold", "factor", "efold", "factor"], "seed": 0, "arch": "lstm", "hidden": 16,
                      "length": 400, "forget_bias": [0.0, 0.0, 4.0, 4.0], "replicates": 1, "relation": "equal",
                      "reference": "Gers et al. (2000)", "tolerance_basis": ["exact A", "exact B", "exact A", "exact B"]})
    settings = check_settings(S)
    assert settings[["setting", "quantities", "replicates", "n_seeds"]].to_dict("records") == [
        {"setting": "lstm-bf0", "quantities": "efold, factor", "replicates": 1, "n_seeds": 1},
        {"setting": "lstm-bf4", "quantities": "efold, factor", "replicates": 1, "n_seeds": 1}]
    assert settings["parameters"].iloc[1] == "lstm, n = 16, T = 400, b_f = 4"
    tol = check_tolerances(S)
    assert tol[["quantity", "settings", "tolerance_basis"]].values.tolist() == [
        ["efold", "lstm-bf0, lstm-bf4", "exact A"], ["factor", "lstm-bf0, lstm-bf4", "exact B"]]


def test_setting_label_names_the_parameters():
    assert setting_label(pd.Series({"arch": "mlp", "nonlinearity": "relu", "hidden": 256, "depth": 12, "gain": 1.6,
                                    "bias_std": 0.0, "length": np.nan})) == \
        "mlp relu, n = 256, L = 12, σ_w = 1.6, σ_b = 0"
    assert setting_label({"arch": "vanilla-tanh", "hidden": 16, "length": 30, "gain": 0.9, "init": "orthogonal"}) == \
        "vanilla-tanh orthogonal, n = 16, T = 30, g = 0.9"


def test_critical_value_and_exports():
    assert critical_value(math.inf, 1, 0.05) == pytest.approx(1.959964, abs=1e-6)
    assert critical_value(3, 2, 0.05) == pytest.approx(stats.t.ppf(1 - 0.0125, 3))
    for name in ("pool_checks", "check_points", "check_summary", "check_settings", "check_tolerances"):
        assert getattr(analysis, name) is globals()[name]
    assert check_summary(pd.DataFrame()).empty
    R, S = frames([dict(predicted=[1.0], measured=[1.0], standard_error=[0.0], allowance=[0.0], tolerance=[0.0],
                        dof=math.inf)])
    assert pool_checks(R.assign(metric="jacobian_norm"), S).empty
