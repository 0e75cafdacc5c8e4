"""The memory measures checked against each other, the heat map that says where they disagree, the study's horizon."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

import rnnprobe
from rnnprobe import analysis, reports
from rnnprobe.analysis import memory as memory_module
from rnnprobe.reports import report as report_module
from rnnprobe.theory import gates

INF = math.inf


def _summary(**columns):
    base = dict(arch="lstm", gain=1.0, length=400, seed=0, eps=0.01)
    base.update(columns)
    return pd.DataFrame(base)


def test_rates_of_one_exponential_agree_and_a_missing_decay_does_not():
    # G(k) = exp(-k/20) measured by the fit and by lambda_1 alike: agree, threshold at ln(100)*20 = 92
    s = _summary(seed=[0, 1], memory_efold=[20.0, INF], efold_slope=[-0.05, 0.0012], efold_slope_low=[-0.051, 0.001],
                 efold_slope_high=[-0.049, 0.0014], lyapunov_exponent=[-0.05, -1 / 113], lyapunov_time=[20.0, 113.0],
                 memory_threshold=[92, 400], memory_threshold_censored=[False, True])
    a = analysis.memory_agreement(s)
    assert a["efold_lyapunov_agree"].tolist() == [True, False]
    np.testing.assert_allclose(a["lyapunov_rate"], [0.05, 1 / 113])
    # tolerance: 10% of the larger rate + 2/T + the half-width of the fit's interval
    np.testing.assert_allclose(a["rate_tolerance"], [0.1 * 0.05 + 2 / 400 + 0.001, 0.1 / 113 + 2 / 400 + 0.0002])
    assert a["horizon_ok"].tolist() == [True, False]            # 400 >= 5 x 20; an inf beside a finite time
    assert a["measures_agree"].tolist() == [True, False]


@pytest.mark.parametrize("threshold, censored, agree", [
    (92, False, True),          # ln(100) e-folds of 20 steps
    (47, False, True),          # within a factor 2 of 92
    (45, False, False),         # not
    (400, True, False),         # 'at least T' while the decay predicts 92 < T/2
])
def test_threshold_within_a_factor_two_of_ln_one_over_eps_efolds(threshold, censored, agree):
    s = _summary(memory_efold=[20.0], lyapunov_time=[20.0], memory_threshold=[threshold],
                 memory_threshold_censored=[censored])
    a = analysis.memory_agreement(s)
    assert bool(a["threshold_agree"].iloc[0]) is agree and bool(a["measures_agree"].iloc[0]) is agree


def test_rates_apart_by_more_than_the_tolerance_disagree():
    T = 1000
    tol = memory_module.RELATIVE_TOLERANCE * 0.1 + memory_module.TRANSIENT_EFOLDS / T
    inside, outside = 0.1 - 0.99 * tol, 0.1 - 1.01 * tol
    s = _summary(length=T, seed=[0, 1], memory_efold=[10.0, 10.0], lyapunov_time=[1 / inside, 1 / outside])
    assert analysis.memory_agreement(s)["efold_lyapunov_agree"].tolist() == [True, False]
    # both not decaying (residual RNNs): they agree, and nothing is to be resolved
    a = analysis.memory_agreement(_summary(memory_efold=[INF], lyapunov_time=[INF], memory_threshold=[400],
                                           memory_threshold_censored=[True]))
    assert a[["efold_lyapunov_agree", "horizon_ok"]].iloc[0].tolist() == [True, True]


def test_measured_lstm_rates_agree_at_a_long_horizon():
    # an LSTM with forget bias 4 (e-folding time 55 at the origin) driven by N(0, 1) inputs: at T = 2000
    # the fitted decay of G and the top Lyapunov exponent measure the same rate
    model = rnnprobe.build("lstm", 8, 1, gain=0.5, forget_bias=4.0, seed=1)
    x = torch.from_numpy(np.random.default_rng(1).standard_normal((2000, 1)))
    m = rnnprobe.memory_length(rnnprobe.record(model, x))
    s = _summary(length=2000, memory_efold=[m.efold], efold_slope=[m.slope], efold_slope_low=[m.slope_low],
                 efold_slope_high=[m.slope_high], lyapunov_exponent=[m.lyapunov_exponent],
                 lyapunov_time=[m.lyapunov_time], memory_threshold=[m.threshold],
                 memory_threshold_censored=[m.threshold_censored])
    a = analysis.memory_agreement(s)
    assert bool(a["measures_agree"].iloc[0]) and bool(a["horizon_ok"].iloc[0]), (m.efold, m.lyapunov_time)


def test_memory_table_gives_the_shares_of_seeds_and_the_report_marks_the_heat_map():
    s = pd.concat([
        _summary(arch="lstm", forget_bias=4.0, seed=[0, 1], memory_efold=[123.0, INF], lyapunov_time=[118.0, 113.0],
                 efold_slope=[-1 / 123, 0.0012], lyapunov_exponent=[-1 / 118, -1 / 113], memory_threshold=[400, 400],
                 memory_threshold_censored=[True, True]),
        _summary(arch="gru", forget_bias=float("nan"), seed=[0, 1], memory_efold=[3.0, 3.2], lyapunov_time=[3.0, 3.1],
                 efold_slope=[-1 / 3, -1 / 3.2], lyapunov_exponent=[-1 / 3, -1 / 3.1], memory_threshold=[14, 15],
                 memory_threshold_censored=[False, False]),
    ], ignore_index=True)
    table = analysis.memory_table(s)
    row = table.set_index("arch").loc["lstm"]
    assert (row["measures_agree"], row["horizon_ok"]) == (0.5, 0.0)
    assert (row["memory_efold_min"], row["memory_efold_max"]) == (123.0, INF)
    assert table.set_index("arch").loc["gru", ["measures_agree", "horizon_ok"]].tolist() == [1.0, 1.0]
    low, high, marks = report_module._memory_grid_extras(table, "memory_efold")
    assert marks.loc["lstm b_f=4", 1.0] == "†*" and marks.loc["gru", 1.0] == ""
    grid = analysis.memory_grid(table, "memory_efold")
    ax = reports.plot_memory_heatmap(grid, low=low, high=high, marks=marks)
    texts = [t.get_text() for t in ax.texts]
    assert "∞†*" in texts and "123–∞" in texts and "3.00–3.20" in texts     # the median of {123, ∞} shows its range
    caption = reports.report.captions.heatmap_caption(grid, table, marks)
    assert "† (here 1 of 2 cells)" in caption and "* (here 1 cells)" in caption


def test_the_memory_study_horizon_spans_five_gate_timescales():
    from rnnprobe.studies import memory

    grid = memory.GRID
    longest = max(gates.efold_time(max(grid["forget_bias"])), gates.efold_time(max(grid["update_bias"])),
                  max(grid["chrono"]))                          # chrono: forgetting times uniform on [2, T_max]
    assert memory.longest_timescale(grid) == pytest.approx(longest)
    assert min(grid["length"]) >= memory.RESOLVED_FACTOR * longest
    assert memory.RESOLVED_FACTOR == analysis.memory.RESOLVED_FACTOR
