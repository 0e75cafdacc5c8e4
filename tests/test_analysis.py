"""The analysis functions against hand-computed frames (and fits against known decay rates)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from rnnprobe import analysis
from rnnprobe.analysis._frames import aggregate_seeds, grid_columns, point_key, select_horizon, with_steps, with_variant
from rnnprobe.errors import InvalidArgument

NAN = float("nan")


def results_frame(rows):
    """A results.csv-like frame: every schema column, NaN where not given."""
    cols = ["study", "arch", "hidden", "length", "depth", "gain", "seed", "point_id", "metric", "lag", "layer",
            "index", "block", "value"]
    frame = pd.DataFrame(rows)
    for c in cols:
        if c not in frame:
            frame[c] = NAN
    return frame[cols + [c for c in frame.columns if c not in cols]]


def decay_rows(arch, rate, *, gain=1.0, seed=0, length=30, scale=1.0, metric="jacobian_norm", noise=0.0, rng=None):
    k = np.arange(1, length + 1)
    value = scale * np.exp(-rate * k)
    if noise:
        value = value * np.exp(noise * rng.standard_normal(k.size))
    return [dict(study="vanishing", arch=arch, hidden=8, length=length, gain=gain, seed=seed, metric=metric,
                 lag=int(kk), value=float(v)) for kk, v in zip(k, value)]


# ---------------------------------------------------------------- frames


def test_grid_columns_of_results_and_summary():
    r = results_frame(decay_rows("gru", 0.1, length=3))
    assert grid_columns(r) == ["study", "arch", "hidden", "length", "depth", "gain", "seed"]
    s = pd.DataFrame({"study": ["m"], "arch": ["lstm"], "forget_bias": [1.0], "custom": [2], "point_id": ["x"],
                      "memory_efold": [3.0], "sigma_max": [1.0]})
    # columns before point_id are grid columns; documented scalars never are
    assert grid_columns(s) == ["study", "arch", "forget_bias", "custom"]


def test_with_steps_time_and_depth_rows():
    r = results_frame([dict(arch="gru", length=5, lag=3, metric="jacobian_norm", value=1.0),
                       dict(arch="mlp", depth=8, layer=2, metric="gradient_norm", value=1.0),
                       dict(arch="mlp", depth=8, index=0, metric="jacobian_singular_value", value=1.0)])
    steps = with_steps(r)["steps"].tolist()
    assert steps[:2] == [3.0, 6.0] and math.isnan(steps[2])


def test_point_key_keeps_nan_groups_apart():
    f = pd.DataFrame({"a": ["x", "x", "x"], "b": [NAN, 1.0, NAN]})
    key = point_key(f, ["a", "b"])
    assert key[0] == key[2] != key[1]


def test_aggregate_seeds_median_min_max_with_nan_keys_and_inf():
    f = pd.DataFrame({"arch": ["a", "a", "a", "b"], "depth": NAN, "x": [1.0, 2.0, math.inf, 4.0]})
    out = aggregate_seeds(f, ["x"], by=["arch", "depth"])
    assert out["n_seeds"].tolist() == [3, 1]
    assert out["x"].tolist() == [2.0, 4.0]            # the median tolerates an infinite seed
    assert out["x_max"].tolist() == [math.inf, 4.0]


def test_select_horizon_and_points():
    f = pd.DataFrame({"arch": ["a", "a", "b", "b"], "gain": 1.0, "length": [10, 20, 10, 10], "seed": [0, 0, 0, 1]})
    assert select_horizon(f)["length"].tolist() == [20, 10, 10]       # longest per arch
    assert select_horizon(f, 10)["arch"].tolist() == ["a", "b", "b"]
    assert analysis.select_points(f)["seed"].tolist() == [0, 0]
    assert analysis.nearest_gain(pd.DataFrame({"gain": [0.5, 1.5, 0.8]})) == 0.8
    assert analysis.nearest_gain(pd.DataFrame({"gain": [0.5, 1.5]})) == 1.5   # tie: the larger


def test_with_variant_names_extra_options():
    f = pd.DataFrame({"arch": ["lstm", "lstm", "gru", "vanilla-tanh"], "forget_bias": [0.0, 3.0, NAN, NAN],
                      "update_bias": [NAN, NAN, 2.0, NAN], "gain": 1.0})
    assert with_variant(f)["variant"].tolist() == ["lstm b_f=0", "lstm b_f=3", "gru b_z=2", "vanilla-tanh"]


def test_arch_order_follows_the_registry():
    assert analysis.arch_order(["dense", "zz", "lstm", "vanilla-relu"]) == ["vanilla-relu", "lstm", "dense", "zz"]


# ---------------------------------------------------------------- fits


@pytest.mark.parametrize("method", analysis.FIT_METHODS)
def test_fit_recovers_an_exact_exponential(method):
    k = np.arange(1, 41)
    fit = analysis.fit_log_linear(k, 3.0 * np.exp(-k / 6.3), method=method)
    assert fit["slope"] == pytest.approx(-1 / 6.3, rel=1e-12)
    assert fit["intercept"] == pytest.approx(math.log(3.0), rel=1e-12)
    assert fit["efold"] == pytest.approx(6.3, rel=1e-12)
    assert fit["growth_per_step"] == pytest.approx(math.exp(-1 / 6.3))
    assert fit["slope_low"] <= fit["slope"] <= fit["slope_high"]


@pytest.mark.parametrize("method", analysis.FIT_METHODS)
def test_fit_interval_covers_the_true_rate_at_the_stated_level(method):
    # 200 noisy decays with rate 0.15: the 95% interval must cover it about 95% of the time
    rng = np.random.default_rng(1)
    k = np.arange(1, 41)
    hits, estimates = 0, []
    for _ in range(200):
        y = -0.15 * k + 0.3 * rng.standard_normal(k.size)
        fit = analysis.fit_log_linear(k, y, method=method, log=True)
        hits += fit["slope_low"] <= -0.15 <= fit["slope_high"]
        estimates.append(fit["slope"])
    # binomial(200, 0.95) lies in [0.91, 0.985] with probability > 0.99; Theil–Sen's interval is a bit conservative
    assert 0.90 <= hits / 200 <= 0.995
    assert np.mean(estimates) == pytest.approx(-0.15, abs=0.005)


def test_fit_drops_zeros_and_handles_growth():
    k = np.arange(1, 11)
    values = np.exp(0.2 * k)
    values[[2, 5]] = 0.0
    fit = analysis.fit_log_linear(k, values)
    assert fit["n_dropped"] == 2 and fit["n_points"] == 8
    assert fit["slope"] == pytest.approx(0.2)
    assert fit["efold"] == math.inf and fit["efold_low"] == math.inf
    few = analysis.fit_log_linear([1.0], [0.5])
    assert math.isnan(few["slope"]) and math.isnan(few["efold"])
    two = analysis.fit_log_linear([1.0, 2.0], [1.0, math.exp(-1)])
    assert two["slope"] == pytest.approx(-1.0) and math.isnan(two["slope_low"])   # no interval from 2 points


def test_efold_interval_is_open_when_the_slope_interval_reaches_zero():
    rng = np.random.default_rng(0)
    k = np.arange(1, 30)
    fit = analysis.fit_log_linear(k, -0.01 * k + 0.5 * rng.standard_normal(k.size), log=True, method="linregress")
    assert fit["slope_high"] > 0 and fit["efold_high"] == math.inf
    assert fit["efold_low"] == pytest.approx(-1 / fit["slope_low"])


@pytest.mark.parametrize("kwargs, match", [
    (dict(method="ols"), "method must be one of"),
    (dict(confidence=1.5), "confidence"),
    (dict(confidence=0.0), "confidence"),
])
def test_fit_rejects_bad_arguments(kwargs, match):
    with pytest.raises(InvalidArgument, match=match):
        analysis.fit_log_linear([1, 2, 3], [1.0, 0.5, 0.25], **kwargs)


def test_decay_fits_per_grid_point_recover_their_rates():
    rows = decay_rows("vanilla-tanh", 1 / 6.3) + decay_rows("lstm", 1 / 41, scale=2.0) + \
        decay_rows("lstm", 1 / 41, seed=1, scale=0.5)
    fits = analysis.decay_fits(results_frame(rows))
    assert len(fits) == 3 and (fits["metric"] == "jacobian_norm").all()
    assert fits["efold"].tolist() == pytest.approx([6.3, 41.0, 41.0])
    assert fits["depth"].isna().all()           # NaN grid columns survive the grouping
    table = analysis.decay_table(fits)
    assert table[["arch", "n_seeds"]].values.tolist() == [["vanilla-tanh", 1], ["lstm", 2]]


def test_decay_fits_on_depth_rows_use_layers_back_from_the_output():
    L = 12
    rows = [dict(study="depth", arch="mlp", hidden=8, depth=L, gain=1.0, seed=0, metric="gradient_norm", layer=l,
                 value=math.exp(-0.3 * (L - l))) for l in range(L)]
    fits = analysis.decay_fits(results_frame(rows), "gradient_norm")
    assert fits["slope"].iloc[0] == pytest.approx(-0.3)


def test_decay_fits_of_an_absent_metric_is_empty_with_columns():
    fits = analysis.decay_fits(results_frame(decay_rows("gru", 0.1)), "gradient_norm")
    assert fits.empty and {"slope", "efold", "arch"} <= set(fits.columns)


def test_decay_table_takes_medians_over_seeds_at_the_longest_length():
    fits = pd.DataFrame({"arch": "gru", "gain": 1.0, "length": [10, 50, 50, 50], "seed": [0, 0, 1, 2],
                         "metric": "jacobian_norm", "slope": [-9.0, -0.1, -0.2, -0.4], "slope_low": -1.0,
                         "slope_high": 0.0, "efold": [0.1, 10.0, 5.0, 2.5], "growth_per_step": 0.9})
    t = analysis.decay_table(fits)
    assert t["length"].tolist() == [50] and t["n_seeds"].tolist() == [3]
    assert t["slope"].iloc[0] == -0.2 and t["efold"].iloc[0] == 5.0
    assert (t["efold_min"].iloc[0], t["efold_max"].iloc[0]) == (2.5, 10.0)


# ---------------------------------------------------------------- memory


def memory_summary():
    return pd.DataFrame({
        "study": "vanishing", "arch": ["vanilla-tanh", "vanilla-tanh", "lstm", "lstm", "lstm"], "hidden": 8,
        "length": [50, 50, 50, 50, 20], "depth": NAN, "gain": 1.0, "seed": [0, 1, 0, 1, 0], "point_id": "p",
        "memory_threshold": [10, 14, 50, 44, 20], "memory_threshold_censored": [False, False, True, False, True],
        "memory_efold": [3.0, 5.0, math.inf, 40.0, 12.0], "lyapunov_time": [2.0, 4.0, 30.0, 50.0, 8.0],
    })


def test_memory_table_by_hand():
    t = analysis.memory_table(memory_summary())
    assert t[["arch", "length"]].values.tolist() == [["vanilla-tanh", 50], ["lstm", 20], ["lstm", 50]]
    tanh = t.iloc[0]
    assert (tanh["n_seeds"], tanh["memory_threshold"], tanh["memory_efold"]) == (2, 12.0, 4.0)
    assert (tanh["memory_efold_min"], tanh["memory_efold_max"]) == (3.0, 5.0)
    lstm = t.iloc[2]
    assert lstm["memory_efold"] == math.inf and lstm["memory_efold_min"] == 40.0
    assert lstm["censored_fraction"] == 0.5 and t.iloc[1]["censored_fraction"] == 1.0
    assert "memory_capacity" not in t and "depth" not in t


def test_memory_grid_pivots_the_longest_length():
    table = analysis.memory_table(memory_summary().assign(gain=[1.0, 1.0, 1.0, 1.0, 0.5]))
    grid = analysis.memory_grid(table, "lyapunov_time")
    assert list(grid.index) == ["vanilla-tanh", "lstm"] and list(grid.columns) == [0.5, 1.0]
    assert grid.loc["lstm", 1.0] == 40.0 and grid.loc["lstm", 0.5] == 8.0
    assert math.isnan(grid.loc["vanilla-tanh", 0.5])
    assert grid.attrs["measure"] == "lyapunov_time" and grid.attrs["horizon"] == [20, 50]


def test_memory_grid_rows_are_variants_and_duplicates_are_refused():
    s = pd.DataFrame({"arch": "lstm", "forget_bias": [0.0, 3.0], "gain": 1.0, "length": 30, "seed": 0,
                      "point_id": "p", "memory_efold": [2.0, 30.0]})
    grid = analysis.memory_grid(analysis.memory_table(s))
    assert list(grid.index) == ["lstm b_f=0", "lstm b_f=3"]
    twice = pd.DataFrame({"arch": "gru", "hidden": [8, 16], "gain": 1.0, "length": 30, "memory_efold": [1.0, 2.0]})
    with pytest.raises(InvalidArgument, match="one row per"):
        analysis.memory_grid(twice)


def test_spectral_memory_compares_fixed_factor_recurrences_with_minus_one_over_log_rho():
    from rnnprobe.reports import captions

    s = pd.DataFrame({"arch": ["lru", "lru", "s4d", "s6", "gru"], "gain": [1.0, 1.5, 1.0, 1.0, 1.0], "seed": 0,
                      "length": 100, "spectral_radius": [0.95, 1.2, 0.8, 0.9, 0.9],
                      "memory_efold": [-1 / math.log(0.95) * (1 + 1e-6), math.inf, 4.0, 5.0, 3.0]})
    t = analysis.spectral_memory(s)
    # s6 (input-dependent factors) and gru (dense) are left out
    assert t["arch"].tolist() == ["lru", "lru", "s4d"]
    assert t["predicted_efold"].tolist()[:2] == [pytest.approx(-1 / math.log(0.95)), math.inf]
    assert t["rel_error"].tolist() == [pytest.approx(1e-6), 0.0, pytest.approx(abs(4.0 * math.log(0.8) + 1))]
    assert analysis.spectral_memory(s[s["arch"] == "gru"]).empty
    with pytest.raises(InvalidArgument, match="spectral_radius"):
        analysis.spectral_memory(s.drop(columns="spectral_radius"))
    grid = analysis.memory_grid(analysis.memory_table(s[s["gain"] == 1.0]))
    text = captions.heatmap_caption(grid, analysis.memory_table(s), spectral=t)
    assert "−1/log ρ" in text and "0.107 for s4d (1 grid point, 1 with ρ < 1)" in text and "lru (2 grid points" in text


# ---------------------------------------------------------------- bounds


def bound_rows(*, broken=False):
    rows = []
    for lag, (g, bj, bp, bw) in enumerate([(0.5, 0.6, 1.0, 2.0), (0.1, 0.2, 1.0, 4.0), (0.01, 0.05, 2.0, 16.0)], 1):
        if broken and lag == 2:
            bp = 0.05                      # below g·G: the chain fails at lag 2
        for m, v in zip(["gradient_norm", "bound_jacobian", "bound_product", "bound_weight"], [g, bj, bp, bw]):
            rows.append(dict(study="vanishing", arch="vanilla-tanh", hidden=4, length=3, gain=1.0, seed=0,
                             metric=m, lag=lag, value=v))
    return results_frame(rows)


def test_bound_tightness_ratios_by_hand():
    t = analysis.bound_tightness(bound_rows())
    assert t["steps"].tolist() == [1.0, 2.0, 3.0]
    assert t["ratio_product"].tolist() == pytest.approx([2.0, 10.0, 200.0])
    assert t["ratio_weight"].tolist() == pytest.approx([4.0, 40.0, 1600.0])
    assert t["ratio_jacobian"].tolist() == pytest.approx([1.2, 2.0, 5.0])
    assert t["holds"].all()
    broken = analysis.bound_tightness(bound_rows(broken=True))
    assert broken["holds"].tolist() == [True, False, True]


def test_bound_tightness_summary_and_table():
    per_point = analysis.bound_tightness_summary(analysis.bound_tightness(bound_rows()))
    row = per_point.iloc[0]
    assert row["max_steps"] == 3 and row["ratio_product_at_max"] == pytest.approx(200.0)
    assert row["ratio_product_median"] == pytest.approx(10.0) and bool(row["holds_all"])
    table = analysis.bound_tightness_table(per_point)
    assert table["ratio_weight_at_max"].tolist() == pytest.approx([1600.0]) and table["holds_all"].tolist() == [1.0]


def test_bound_tightness_is_empty_without_bounds():
    depth = results_frame([dict(arch="mlp", depth=4, layer=1, metric="gradient_norm", value=0.5)])
    assert analysis.bound_tightness(depth).empty


# ---------------------------------------------------------------- Pascanu


def pascanu_summary():
    return pd.DataFrame({
        "study": "vanishing", "arch": ["vanilla-tanh"] * 4 + ["lstm"], "hidden": 8, "length": 40, "gain":
        [0.5, 0.5, 2.0, 2.0, 1.0], "seed": [0, 1, 0, 1, 0], "point_id": "p",
        "pascanu": ["vanishing", "vanishing", "inconclusive", "inconclusive", "not applicable"],
        "gamma": [1.0, 1.0, 1.0, 1.0, NAN], "sigma_max": [0.9, 0.95, 3.0, 3.1, 2.0],
        "efold_slope": [-0.5, 0.01, -0.2, 0.3, -0.1], "efold_slope_low": [-0.6, -0.02, -0.3, 0.2, -0.2],
        "efold_slope_high": [-0.4, 0.05, -0.1, 0.4, -0.05],
    })


def test_pascanu_agreement_by_hand():
    a = analysis.pascanu_agreement(pascanu_summary())
    assert a["measured"].tolist() == ["vanishing", "neutral", "vanishing", "exploding", "vanishing"]
    assert a["agreement"].tolist() == ["agrees", "contradicts", "no prediction", "no prediction", "no prediction"]
    assert a["gamma_sigma_max"].tolist()[:2] == pytest.approx([0.9, 0.95])


def test_pascanu_crosstab_counts():
    table = analysis.pascanu_crosstab(analysis.pascanu_agreement(pascanu_summary()))
    assert list(table.index) == ["vanishing", "inconclusive", "not applicable"]
    assert table.loc["vanishing", ["vanishing", "neutral", "total"]].tolist() == [1, 1, 2]
    assert table.loc["vanishing", "agreement"] == 0.5
    assert table.loc["inconclusive", ["vanishing", "exploding"]].tolist() == [1, 1]
    assert math.isnan(table.loc["inconclusive", "agreement"])


def test_pascanu_agreement_from_decay_fits():
    rng = np.random.default_rng(0)
    rows = decay_rows("vanilla-tanh", 0.4, gain=0.5, noise=0.01, rng=rng) + \
        decay_rows("vanilla-tanh", -0.2, gain=2.0, noise=0.01, rng=rng)
    fits = analysis.decay_fits(results_frame(rows))
    summary = pd.DataFrame({"study": "vanishing", "arch": "vanilla-tanh", "hidden": 8, "length": 30,
                            "depth": NAN, "gain": [0.5, 2.0], "seed": 0, "pascanu": ["vanishing", "inconclusive"],
                            "gamma": 1.0, "sigma_max": [0.8, 2.5]})
    a = analysis.pascanu_agreement(summary, fits)
    assert a["slope"].tolist() == pytest.approx([-0.4, 0.2], abs=0.01)
    assert a["measured"].tolist() == ["vanishing", "exploding"]
    with pytest.raises(InvalidArgument, match="efold_slope"):
        analysis.pascanu_agreement(summary)


# ---------------------------------------------------------------- isometry


def test_isometry_table_by_hand_with_a_zero_singular_value():
    sv = {0: [math.e, 1.0, 1 / math.e], 1: [math.e ** 2, 1.0, 0.0]}
    rows = [dict(study="depth", arch="mlp", hidden=3, depth=4, gain=1.0, seed=s, metric="jacobian_singular_value",
                 index=i, value=v) for s, vals in sv.items() for i, v in enumerate(vals)]
    points = analysis.isometry_points(results_frame(rows))
    assert points["log_sv_mean"].tolist() == pytest.approx([0.0, 1.0])
    assert points["log_sv_std"].tolist() == pytest.approx([math.sqrt(2 / 3), 1.0])
    assert points["log_condition"].tolist() == pytest.approx([2.0, 2.0])
    assert points["isometry_distance"].tolist() == pytest.approx([math.sqrt(2 / 3), math.sqrt(2.0)])
    assert points["n_zero"].tolist() == [0, 1]
    table = analysis.isometry_table(results_frame(rows))
    assert table["n_seeds"].tolist() == [2]
    assert table["log_sv_mean"].iloc[0] == pytest.approx(0.5)
    assert table["log_sv_mean_seed_std"].iloc[0] == pytest.approx(np.std([0.0, 1.0], ddof=1))


def test_isometry_falls_back_to_the_summary():
    s = pd.DataFrame({"study": "depth", "arch": "resmlp", "hidden": 4, "depth": [2, 8], "gain": 1.0, "seed": 0,
                      "point_id": "p", "log_sv_mean": [0.1, -0.3], "log_sv_std": [0.2, 0.4],
                      "max_singular_value": [2.0, 4.0], "min_singular_value": [1.0, 0.5]})
    table = analysis.isometry_table(None, s)
    assert table["depth"].tolist() == [2, 8]
    assert table["isometry_distance"].tolist() == pytest.approx([math.hypot(0.1, 0.2), math.hypot(0.3, 0.4)])
    assert table["log_condition"].tolist() == pytest.approx([math.log(2), math.log(8)])
    assert analysis.isometry_table(results_frame(decay_rows("gru", 0.1))).empty


# ---------------------------------------------------------------- profiles


def test_lag_profile_median_and_range_over_seeds_at_the_longest_length():
    rows = decay_rows("gru", 0.1, seed=0, length=5, scale=1.0) + decay_rows("gru", 0.1, seed=1, length=5, scale=3.0) \
        + decay_rows("gru", 0.1, seed=2, length=5, scale=2.0) + decay_rows("gru", 0.1, seed=0, length=3)
    p = analysis.lag_profile(results_frame(rows))
    assert p["length"].unique().tolist() == [5] and len(p) == 5
    first = p.iloc[0]
    assert (first["median"], first["low"], first["high"], first["n_seeds"]) == \
        pytest.approx((2 * math.exp(-0.1), math.exp(-0.1), 3 * math.exp(-0.1), 3))
    assert analysis.lag_profile(results_frame(rows), horizon=None)["length"].nunique() == 2


def test_spectrum_profile_relative_index_blocks_and_infinities():
    rows = [dict(arch="lstm", gain=1.0, seed=s, metric="weight_singular_value", block=b, index=i, value=v)
            for s in (0, 1) for b, vals in (("W_hi", [2.0, 1.0, 0.5]), ("W_hf", [1.0, 0.1])) for i, v in enumerate(vals)]
    rows += [dict(arch="vanilla-relu", gain=1.0, seed=0, metric="lyapunov_exponent", index=i, value=v)
             for i, v in enumerate([-0.1, -math.inf])]
    r = results_frame(rows)
    w = analysis.spectrum_profile(r)
    assert set(w["block"]) == {"W_hi", "W_hf"}
    assert w[w["block"] == "W_hi"]["rel_index"].tolist() == [0.0, 0.5, 1.0]
    assert w[w["block"] == "W_hf"]["rel_index"].tolist() == [0.0, 1.0]
    assert (w["n_seeds"] == 2).all()
    lam = analysis.spectrum_profile(r, "lyapunov_exponent")
    assert lam["n_infinite"].tolist() == [0, 1] and math.isnan(lam["median"].iloc[1])


# ---------------------------------------------------------------- summary table


def test_summary_table_one_row_per_arch_and_gain():
    s = pascanu_summary().assign(memory_efold=[2.0, 4.0, math.inf, 10.0, 30.0], lyapunov_exponent=-0.1)
    r = bound_rows()
    t = analysis.summary_table(s, r)
    assert t[["arch", "gain"]].values.tolist() == [["vanilla-tanh", 0.5], ["vanilla-tanh", 2.0], ["lstm", 1.0]]
    assert t["n_seeds"].tolist() == [2, 2, 1]
    assert t["memory_efold"].tolist() == [3.0, math.inf, 30.0]
    assert t["pascanu"].tolist() == ["vanishing", "inconclusive", "not applicable"]
    assert t["measured"].tolist()[1] == "mixed: vanishing 1/2, exploding 1/2"
    # bounds only exist for vanilla-tanh gain 1 in `r`: no gain matches, so the ratios are missing
    assert "ratio_product" in t and t["ratio_product"].isna().all()
    t1 = analysis.summary_table(s.assign(gain=1.0, length=3, hidden=4), r)
    assert t1.loc[t1["arch"] == "vanilla-tanh", "ratio_product"].tolist() == pytest.approx([200.0])


def test_summary_table_leaves_out_absent_measures():
    s = pd.DataFrame({"study": "depth", "arch": ["mlp", "resmlp"], "hidden": 4, "depth": 8, "gain": 1.0, "seed": 0,
                      "point_id": "p", "log_sv_mean": [-3.0, 0.1], "log_sv_std": [2.0, 0.5], "sigma_max": 1.2})
    t = analysis.summary_table(s)
    assert list(t.columns) == ["arch", "gain", "depth", "n_seeds", "sigma_max", "log_sv_mean", "log_sv_std"]
