"""Figures and captions of the theory study: returned artists, scales, labels and texts (not pixels)."""

from __future__ import annotations

import matplotlib.collections as mcoll
import numpy as np
import pandas as pd
import pytest
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure

from rnnprobe.reports import ARCH_PALETTE, plot_theory_prediction, plot_theory_profile, plot_theory_scatter, plot_theory_scores
from rnnprobe.reports.captions import theory_caption, theory_clause
from rnnprobe.reports.prediction_pages import theory_palette
from rnnprobe.errors import InvalidArgument


def profile_checks(quantity="G", relation="equal", limit=True):
    rows = []
    for setting, scale in (("tight-tanh-0.9", 0.9), ("tight-relu", 0.7)):
        for k in range(1, 11):
            rows.append(dict(prediction="pascanu", setting=setting, quantity=quantity, arch="vanilla-tanh",
                             index_kind="lag", position=k, predicted=scale**k, measured=scale**k * 1.001,
                             measured_min=scale**k, measured_max=scale**k * 1.002, tolerance=0.01 * scale**k,
                             limit=scale**k * 1.01 if limit else np.nan, relation=relation))
    return pd.DataFrame(rows)


def scalar_checks():
    return pd.DataFrame({"prediction": "meanfield", "setting": ["tanh-ordered", "tanh-chaotic", "relu-chaotic"],
                         "quantity": "chi1", "arch": "mlp", "nonlinearity": ["tanh", "tanh", "relu"],
                         "index_kind": "", "position": 0, "predicted": [0.6996, 1.3236, 1.28],
                         "measured": [0.7002, 1.322, 1.2802], "measured_min": [0.69, 1.31, 1.27],
                         "measured_max": [0.71, 1.33, 1.29], "limit": [0.7003, 1.327, np.nan],
                         "tolerance": 0.01, "relation": "equal"})


def summary_rows():
    return pd.DataFrame({"prediction": "pascanu", "setting": ["tight-tanh-0.9", "bound-tanh", "way-off"],
                         "quantity": ["G", "G", "G"], "arch": "vanilla-tanh", "error": [1e-3, -0.5, 50.0],
                         "tolerance": [0.01, 1e-10, 1.0], "measured_to_bound": [np.nan, 0.87, np.nan],
                         "relation": ["equal", "at most", "equal"], "passed": [True, True, False]})


def test_profile_draws_predictions_limits_measurements_and_bands():
    ax = plot_theory_profile(profile_checks())
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "lag k" and "G(k)" in ax.get_ylabel()
    errorbars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    bands = [c for c in ax.collections if isinstance(c, mcoll.PolyCollection)]
    assert len(errorbars) == 2 and len(bands) == 2
    styles = [line.get_linestyle() for line in ax.get_lines() if line.get_linestyle() != "None"]
    assert styles.count("-") == 2 and styles.count("--") == 2           # predictions, and the large-size limits
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:2] == ["tight-tanh-0.9", "tight-relu"] and "large-size limit" in labels


def test_profile_of_an_upper_bound_has_no_band_and_a_dotted_bound():
    ax = plot_theory_profile(profile_checks(relation="at most", limit=False))
    assert not [c for c in ax.collections if isinstance(c, mcoll.PolyCollection)]
    assert [line.get_linestyle() for line in ax.get_lines() if line.get_linestyle() != "None"] == [":", ":"]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "upper bound" in labels and "predicted" not in labels


def test_profile_scale_follows_the_quantity():
    checks = profile_checks(quantity="mc_lag")
    assert plot_theory_profile(checks).get_yscale() == "linear"       # MC_k: linear, whatever the span
    assert plot_theory_profile(checks, log=True).get_yscale() == "log"
    ax = plot_theory_profile(checks, ax=Figure().add_subplot(), legend=False)
    assert ax.get_legend() is None


def test_scatter_measured_against_predicted_with_the_diagonal_and_limits():
    ax = plot_theory_scatter(scalar_checks())
    assert ax.get_xlabel() == "predicted χ₁" and ax.get_ylabel() == "measured χ₁"
    diagonal = [line for line in ax.get_lines() if line.get_linestyle() == "-."]
    assert len(diagonal) == 1 and np.allclose(diagonal[0].get_xdata(), diagonal[0].get_ydata())
    hollow = [c for c in ax.collections if isinstance(c, mcoll.PathCollection) and len(c.get_offsets()) == 2]
    assert len(hollow) == 1                                           # the two rows whose limit differs
    assert ax.get_xscale() == "linear"
    lo, hi = ax.get_ylim()
    assert lo <= 0.69 and hi >= 1.33                                   # the seeds' ranges are in view


def test_scatter_does_not_zoom_into_rounding_errors():
    exact = pd.DataFrame({"setting": ["a", "b"], "quantity": "efold", "arch": "lstm", "predicted": [7.8784824, 7.8784824],
                          "measured": [7.8784824 + 1e-14, 7.8784824 - 1e-14]})
    lo, hi = plot_theory_scatter(exact).get_xlim()
    assert hi - lo > 0.1                                              # 2 % of the value at least


def test_scores_bars_band_hatching_and_failures():
    ax = plot_theory_scores(summary_rows())
    bars = list(ax.containers[0])
    assert len(bars) == 3
    widths = [b.get_width() for b in bars]
    assert widths == pytest.approx([0.1, 0.87, 1.6])                  # error/tol, measured/bound, clipped at 1.6
    assert bars[1].get_hatch() == "////" and bars[0].get_hatch() is None
    assert bars[2].get_edgecolor()[:3] == pytest.approx((0.75294, 0.0, 0.0), abs=1e-3)   # failed: red outline
    assert [t.get_text() for t in ax.get_yticklabels()] == ["tight-tanh-0.9: G(k)", "bound-tanh: G(k)", "way-off: G(k)"]
    assert ax.get_xlim()[0] < -1 < 1 < ax.get_xlim()[1]


def test_prediction_figure_has_a_panel_per_quantity_and_a_shared_legend():
    checks = pd.concat([profile_checks(), profile_checks(relation="at most", limit=False).assign(
        setting=lambda f: f["setting"].str.replace("tight", "bound"))], ignore_index=True)
    fig = plot_theory_prediction(checks, summary_rows())
    assert len(fig.axes) == 3                                          # G equal, G upper bound, scores
    titles = [ax.get_title() for ax in fig.axes]
    assert any("upper bound" in t for t in titles)
    legend = [t.get_text() for t in fig.subfigs[0].legends[0].get_texts()]
    assert legend[:4] == ["tight-tanh-0.9", "tight-relu", "bound-tanh-0.9", "bound-relu"]
    assert {"predicted", "upper bound", "large-size limit"} <= set(legend)


def test_bad_inputs_are_refused():
    with pytest.raises(InvalidArgument, match="missing"):
        plot_theory_profile(profile_checks().drop(columns="measured"))
    with pytest.raises(InvalidArgument, match="one prediction"):
        plot_theory_prediction(pd.concat([scalar_checks(), profile_checks()]), summary_rows())
    with pytest.raises(InvalidArgument, match="must not be empty"):
        plot_theory_scores(summary_rows().iloc[:0])
    with pytest.raises(InvalidArgument, match="Axes"):
        plot_theory_scatter(scalar_checks(), ax="not an axes")


def test_palette_uses_the_architecture_colours_in_shades():
    pal = theory_palette(scalar_checks())
    assert pal["relu-chaotic"] == ARCH_PALETTE["vanilla-relu"]       # a lone setting: the colour itself
    assert pal["tanh-ordered"] != pal["tanh-chaotic"]                   # two tanh settings: shades of blue


def test_captions_state_the_numbers_and_the_verdict():
    row = dict(setting="relu-chaotic", quantity="q", index_kind="layer", position=9, n_indices=12, predicted=9.223,
               measured=11.23, measured_std=2.1, limit=np.nan, error=2.0, tolerance=3.4, relation="equal",
               n_seeds=5, seeds_passed=4, passed=True)
    assert theory_clause(row, short="q_l") == ("q_l (worst of 12 layers: layer 9): predicted 9.223, measured 11.23 ± 2.1, "
                                               "error +2, tolerance 3.4 (4 of 5 seeds pass alone)")
    bound = dict(row, relation="at most", index_kind="lag", n_indices=40, measured_to_bound=0.871)
    assert theory_clause(bound, short="G(k)") == "G(k) ≤ bound at all 40 lags of every network (largest measured/bound 0.871)"
    summary = pd.DataFrame([row, dict(row, setting="exact-one", quantity="efold", index_kind="", n_indices=1,
                                      predicted=7.878, measured=7.878, error=5e-15, tolerance=7.9e-9),
                            dict(row, setting="broken", quantity="chi1", index_kind="", n_indices=1, error=9.0,
                                 tolerance=1.0, passed=False)])
    text = theory_caption("meanfield", summary, {"q": "q_l", "efold": "e-fold"})
    assert text.startswith("Mean-field signal propagation")
    assert "relu-chaotic — q_l (worst of 12 layers: layer 9): predicted 9.223" in text
    assert "exact-one — e-fold 7.878: measured = predicted to 5e-15" in text
    assert text.endswith("Verdict: 2 of 3 checks pass; failing: broken chi1.")
    assert theory_caption("meanfield", summary.iloc[:2]).endswith("Verdict: all 2 checks pass.")
