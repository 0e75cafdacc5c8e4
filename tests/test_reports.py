"""Figure functions return Axes/Figures with the expected artists and labels; the palette; tables."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.colors import to_hex, to_rgb
from matplotlib.figure import Figure

from rnnprobe import analysis
from rnnprobe import reports
import rnnprobe
from rnnprobe.reports import ARCH_PALETTE
from rnnprobe.errors import InvalidArgument

NAN = float("nan")


def hexes(lines):
    return [to_hex(line.get_color()) for line in lines]


def legend_texts(legend):
    return [t.get_text() for t in legend.get_texts()]


@pytest.fixture(autouse=True)
def no_pyplot_figures():
    """Figure functions must not leave pyplot figures behind (they never call plt.show either)."""
    before = set(plt.get_fignums())
    yield
    assert set(plt.get_fignums()) == before


def time_results(archs=("vanilla-tanh", "lstm", "residual"), gains=(0.5, 1.0), seeds=(0, 1), T=20):
    rows = []
    rates = {"vanilla-tanh": 0.5, "lstm": 0.05, "residual": -0.02, "gru": 0.3}
    for arch in archs:
        for gain in gains:
            for seed in seeds:
                for k in range(1, T + 1):
                    g = math.exp(-rates[arch] * gain * k) * (1 + 0.1 * seed)
                    for metric, v in (("gradient_norm", g), ("jacobian_norm", 1.5 * g),
                                      ("bound_product", 2 * g * 1.3 ** k), ("memory_capacity_lag", math.exp(-k / 5))):
                        rows.append(dict(study="vanishing", arch=arch, hidden=4, length=T, depth=NAN, gain=gain,
                                         seed=seed, metric=metric, lag=k, value=v))
                    if arch == "vanilla-tanh":
                        rows.append(dict(study="vanishing", arch=arch, hidden=4, length=T, depth=NAN, gain=gain,
                                         seed=seed, metric="bound_weight", lag=k, value=3 * g * 1.5 ** k))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- palette


def test_palette_has_a_distinct_colour_for_every_architecture():
    assert set(rnnprobe.architectures) <= set(ARCH_PALETTE)
    assert len(set(ARCH_PALETTE.values())) == len(ARCH_PALETTE)
    assert reports.arch_color("lstm") == ARCH_PALETTE["lstm"]
    assert reports.arch_color("my-cell") == reports.arch_color("my-cell")       # stable for unknown names


def test_variant_palette_shades_one_hue_per_architecture():
    pal = reports.variant_palette(["lstm b_f=0", "lstm b_f=1", "lstm b_f=3", "gru"])
    assert pal["gru"] == ARCH_PALETTE["gru"]
    shades = [np.array(to_rgb(pal[v])) for v in ("lstm b_f=0", "lstm b_f=1", "lstm b_f=3")]
    assert shades[0].sum() > shades[1].sum() > shades[2].sum()                 # light to dark
    base = np.array(to_rgb(ARCH_PALETTE["lstm"]))
    for s in shades:                                                            # same hue: on the white/black line
        assert np.argmax(s) == np.argmax(base)


# ---------------------------------------------------------------- gradient decay


def test_plot_gradient_decay_lines_colours_scales_labels_legend():
    profile = analysis.lag_profile(time_results(), "gradient_norm")
    ax = reports.plot_gradient_decay(profile)
    assert isinstance(ax, Axes)
    lines = ax.get_lines()
    assert len(lines) == 3 * 2                                                  # arch × gain
    assert set(hexes(lines)) == {ARCH_PALETTE[a] for a in ("vanilla-tanh", "lstm", "residual")}
    assert {line.get_linestyle() for line in lines} == {"-", "--"}              # one style per gain
    assert ax.get_yscale() == "log"
    assert ax.get_ylabel() == "g(k) = ‖∂L/∂h$_{T−k}$‖" and ax.get_xlabel().startswith("lag k")   # mathtext subscript
    texts = legend_texts(ax.get_legend())
    assert texts == ["vanilla-tanh", "lstm", "residual", "gain 0.5", "gain 1"]
    assert len(ax.collections) == 6                                             # seed bands (2 seeds)
    # the plotted values are the profile's medians, untouched
    first = profile[(profile["variant"] == "vanilla-tanh") & (profile["gain"] == 0.5)]
    np.testing.assert_allclose(lines[0].get_ydata(), first["median"])


def test_plot_gradient_decay_draws_into_a_given_axes_and_checks_input():
    fig = Figure()
    ax = fig.add_subplot()
    profile = analysis.lag_profile(time_results(gains=(1.0,), seeds=(0,)), "jacobian_norm")
    assert reports.plot_gradient_decay(profile, ax=ax, log=False) is ax
    assert ax.get_yscale() == "linear" and len(ax.collections) == 0               # one seed: no band
    with pytest.raises(InvalidArgument, match="profile must not be empty"):
        reports.plot_gradient_decay(profile.iloc[:0])
    with pytest.raises(InvalidArgument, match="missing"):
        reports.plot_gradient_decay(profile.drop(columns="median"))
    with pytest.raises(InvalidArgument, match="ax must be a matplotlib Axes"):
        reports.plot_gradient_decay(profile, ax="left")


def test_plot_gradient_decay_panels_one_per_gain():
    fig = reports.plot_gradient_decay_panels(analysis.lag_profile(time_results(), "gradient_norm"))
    assert isinstance(fig, Figure)
    assert [ax.get_title() for ax in fig.axes] == ["gain 0.5", "gain 1"]
    assert all(len(ax.get_lines()) == 3 and ax.get_yscale() == "log" for ax in fig.axes)
    assert legend_texts(fig.legends[0]) == ["vanilla-tanh", "lstm", "residual"]
    assert fig.get_supxlabel().startswith("lag k")


def test_depth_profiles_are_labelled_in_layers():
    rows = [dict(study="depth", arch="mlp", hidden=4, length=NAN, depth=6, gain=1.0, seed=0, metric="gradient_norm",
                 layer=l, value=0.5 ** (6 - l)) for l in range(6)]
    ax = reports.plot_gradient_decay(analysis.lag_profile(pd.DataFrame(rows), "gradient_norm"))
    assert ax.get_xlabel() == "layers back from the output, L − l" and ax.get_ylabel() == "‖∂L/∂s_l‖"
    assert hexes(ax.get_lines()) == [ARCH_PALETTE["mlp"]]


# ---------------------------------------------------------------- bounds


def test_plot_bounds_one_panel_per_architecture_line_style_per_quantity():
    tight = analysis.select_points(analysis.bound_tightness(time_results()))
    fig = reports.plot_bounds(tight)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["vanilla-tanh", "lstm", "residual"]
    tanh, lstm = fig.axes[0], fig.axes[1]
    assert [line.get_linestyle() for line in tanh.get_lines()] == ["-", "--", ":"]   # g, B_prod, B_W
    assert [line.get_linestyle() for line in lstm.get_lines()] == ["-", "--"]         # no B_W for gated nets
    assert set(hexes(lstm.get_lines())) == {ARCH_PALETTE["lstm"]}
    assert all(ax.get_yscale() == "log" for ax in fig.axes)
    assert any(t.startswith("B_W(k)") for t in legend_texts(fig.legends[0]))
    with pytest.raises(InvalidArgument, match="one grid point per architecture"):
        reports.plot_bounds(analysis.bound_tightness(time_results()))


# ---------------------------------------------------------------- memory


def test_plot_memory_heatmap_cells_infinity_and_label_colours():
    grid = pd.DataFrame({0.5: [2.0, 30.0, math.inf], 1.0: [4.0, 300.0, NAN]}, index=["vanilla-tanh", "lstm", "residual"])
    grid.attrs["measure"] = "memory_efold"
    ax = reports.plot_memory_heatmap(grid)
    texts = sorted(t.get_text() for t in ax.texts)
    assert texts == ["2.00", "30.0", "300", "4.00", "∞"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["vanilla-tanh", "lstm", "residual"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.5", "1"]
    assert ax.get_xlabel() == "gain"
    mesh = ax.collections[0]
    assert type(mesh.norm).__name__ == "LogNorm"                   # 2 … 300 spans two decades
    assert "e-folding time" in mesh.colorbar.ax.get_ylabel() and "∞" in mesh.colorbar.ax.get_ylabel()
    tanh_label = ax.get_yticklabels()[0]
    assert np.allclose(to_rgb(tanh_label.get_color()), [0.8 * c for c in to_rgb(ARCH_PALETTE["vanilla-tanh"])])


def test_plot_memory_heatmap_from_a_memory_table_and_bad_input():
    s = pd.DataFrame({"arch": ["gru", "gru", "lstm", "lstm"], "gain": [0.5, 1.0, 0.5, 1.0], "length": 20, "seed": 0,
                      "memory_threshold": [3, 4, 5, 6]})
    ax = reports.plot_memory_heatmap(analysis.memory_grid(analysis.memory_table(s), "memory_threshold"))
    assert type(ax.collections[0].norm).__name__ == "Normalize"     # 3 … 6: linear colours
    with pytest.raises(InvalidArgument, match="grid must be a non-empty DataFrame"):
        reports.plot_memory_heatmap(pd.DataFrame())


def test_plot_memory_capacity():
    ax = reports.plot_memory_capacity(analysis.lag_profile(time_results(gains=(1.0,)), "memory_capacity_lag"))
    assert len(ax.get_lines()) == 3 and tuple(ax.get_ylim()) == (0.0, 1.05)
    assert ax.get_xlabel().startswith("delay k") and ax.get_ylabel().startswith("MC_k")
    assert legend_texts(ax.get_legend()) == ["vanilla-tanh", "lstm", "residual"]


# ---------------------------------------------------------------- Pascanu, theory


def test_plot_pascanu_only_draws_points_the_condition_applies_to():
    a = pd.DataFrame({"arch": ["vanilla-tanh", "vanilla-tanh", "vanilla-relu", "lstm"], "gain": [0.5, 2, 2, 1],
                      "pascanu": ["vanishing", "inconclusive", "inconclusive", "not applicable"],
                      "gamma_sigma_max": [0.8, 3.0, 2.5, NAN], "slope": [-0.5, 0.1, 0.3, -0.1],
                      "slope_low": [-0.6, 0.0, 0.2, -0.2], "slope_high": [-0.4, 0.2, 0.4, 0.0]})
    ax = reports.plot_pascanu(a)
    assert ax.get_xscale() == "log"
    points = ax.collections[-1].get_offsets()
    assert len(points) == 3                                         # lstm (γ undefined) left out
    texts = legend_texts(ax.get_legend())
    assert texts == ["vanilla-tanh", "vanilla-relu", "verdict: vanishing", "verdict: inconclusive"]
    facecolors = {to_hex(c) for c in ax.collections[-1].get_facecolors()}
    assert facecolors == {ARCH_PALETTE["vanilla-tanh"], ARCH_PALETTE["vanilla-relu"]}
    with pytest.raises(InvalidArgument, match="applies to vanilla RNNs only"):
        reports.plot_pascanu(a[a["arch"] == "lstm"])


def test_plot_chi1_log_log_with_diagonal():
    c = pd.DataFrame({"arch": ["mlp", "mlp", "vanilla-tanh"], "gain": [0.8, 1.5, 1.0], "depth": [8, 32, NAN],
                      "chi1_predicted": [0.64, 1.14, 0.4], "chi1_measured": [0.6, 1.1, 0.55],
                      "chi1_low": [0.58, 1.05, 0.5], "chi1_high": [0.62, 1.15, 0.6]})
    ax = reports.plot_chi1(c)
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    diagonal = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert len(diagonal) == 1 and np.allclose(diagonal[0].get_xdata(), diagonal[0].get_ydata())
    assert ax.get_xlabel() == "predicted χ₁ (mean field)"
    assert legend_texts(ax.get_legend()) == ["mlp", "vanilla-tanh", "L = 8", "L = 32", "measured = predicted"]
    markers = {tuple(np.round(p.vertices.ravel()[:4], 3)) for p in ax.collections[-1].get_paths()}
    assert len(markers) == 3                      # one marker per horizon (and one for the row without any)


# ---------------------------------------------------------------- spectra


def spectra_results():
    rows = []
    for arch, blocks in (("vanilla-tanh", ["W_h"]), ("gru", ["U_r", "U_z", "U"])):
        for gain in (0.5, 1.0):
            for b in blocks:
                rows += [dict(arch=arch, hidden=3, length=10, gain=gain, seed=0, metric="weight_singular_value",
                              block=b, index=i, value=gain * v) for i, v in enumerate([2.0, 1.0, 0.1])]
            rows += [dict(arch=arch, hidden=3, length=10, gain=gain, seed=0, metric="lyapunov_exponent",
                          index=i, value=v) for i, v in enumerate([-0.1, -1.0, -30.0 if gain == 1.0 else -2.0])]
    return pd.DataFrame(rows).assign(study="vanishing", depth=NAN)


def test_plot_weight_spectra_panels_blocks_and_reference():
    fig = reports.plot_weight_spectra(analysis.spectrum_profile(spectra_results()))
    assert [ax.get_title() for ax in fig.axes] == ["gain 0.5", "gain 1"]
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    data_lines = [line for line in ax.get_lines() if len(line.get_xdata()) == 3]
    assert len(data_lines) == 1 + 3                                     # W_h, and three GRU blocks
    gru_styles = [line.get_linestyle() for line in data_lines if to_hex(line.get_color()) == ARCH_PALETTE["gru"]]
    assert len(set(gru_styles)) == 3
    assert any(line.get_ydata()[0] == 1.0 and line.get_linestyle() == "--" for line in ax.get_lines())
    assert "line style: weight block" in legend_texts(fig.legends[0])


def test_plot_lyapunov_spectra_zero_line_and_symlog_for_very_negative_exponents():
    fig = reports.plot_lyapunov_spectra(analysis.spectrum_profile(spectra_results(), "lyapunov_exponent"))
    assert [ax.get_yscale() for ax in fig.axes] == ["linear", "symlog"]     # its own y range: −30 beside −0.1 at gain 1
    assert fig.axes[0].get_ylabel() == "λ_i (per step)"
    small = analysis.spectrum_profile(spectra_results().query("value > -10"), "lyapunov_exponent")
    assert reports.plot_lyapunov_spectra(small).axes[0].get_yscale() == "linear"


def depth_results():
    rows = []
    for arch, spread in (("mlp", 3.0), ("resmlp", 0.5), ("densemlp", 0.1)):
        for depth in (2, 8):
            for seed in (0, 1):
                sv = np.exp(np.linspace(spread, -spread, 4) * depth / 8 + 0.01 * seed)
                rows += [dict(study="depth", arch=arch, hidden=4, length=NAN, depth=depth, gain=1.0, seed=seed,
                              metric="jacobian_singular_value", index=i, value=v) for i, v in enumerate(sv)]
    return pd.DataFrame(rows)


def test_plot_depth_isometry_rows_per_init_columns_per_gain():
    table = analysis.isometry_table(depth_results())
    both = pd.concat([table.assign(init="gaussian"), table.assign(init="orthogonal", log_sv_mean=0.0)])
    fig = reports.plot_depth_isometry(pd.concat([both, both.assign(gain=2.0)]))
    assert len(fig.axes) == 2 * 2 * 2                             # (mean, std) x 2 inits, x 2 gains
    assert [ax.get_ylabel() for ax in fig.axes[::2]] == ["mean of log s_i\ninit=gaussian",
                                                          "mean of log s_i\ninit=orthogonal",
                                                          "std of log s_i\ninit=gaussian", "std of log s_i\ninit=orthogonal"]
    assert [ax.get_title() for ax in fig.axes[:2]] == ["gain 1", "gain 2"]
    for ax in fig.axes:                                           # one line per architecture: no zigzag across inits
        lines = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-"]       # not the reference, not the caps
        assert len(lines) == 3 and all(len(ln.get_xdata()) == 2 for ln in lines)
    assert np.allclose(fig.axes[2].get_lines()[0].get_ydata(), 0.0)          # the orthogonal row's own data


def test_plot_depth_isometry_two_panels_with_depth_ticks():
    fig = reports.plot_depth_isometry(analysis.isometry_table(depth_results()))
    assert len(fig.axes) == 2                                    # one gain, one init: the mean above the spread
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == ["2", "8"]
    assert fig.axes[0].get_ylabel() == "mean of log s_i" and fig.axes[1].get_ylabel() == "std of log s_i"
    colours = {to_hex(line.get_color()) for line in fig.axes[1].get_lines() if line.get_linestyle() != "--"}
    assert colours == {ARCH_PALETTE[a] for a in ("mlp", "resmlp", "densemlp")}


def test_plot_jacobian_spectra_panel_per_architecture_shaded_by_depth():
    spectra = analysis.select_points(analysis.spectrum_profile(depth_results(), "jacobian_singular_value",
                                                               horizon=None), seed=None, horizon=None)
    fig = reports.plot_jacobian_spectra(spectra)
    assert [ax.get_title() for ax in fig.axes] == ["mlp", "resmlp", "densemlp"]
    lines = [line for line in fig.axes[0].get_lines() if len(line.get_xdata()) == 4]
    shallow, deep = (np.array(to_rgb(line.get_color())) for line in lines)
    assert shallow.sum() > deep.sum()                                      # light to dark with depth
    assert fig.axes[0].get_legend() is None                               # one legend, outside the panels
    assert legend_texts(fig.legends[0]) == ["L = 2", "L = 8", "s = 1 (isometry)"]
    assert fig.axes[0].get_yscale() == "log"
    assert not fig.axes[0].get_shared_y_axes().joined(fig.axes[0], fig.axes[1])     # its own y range


def test_multi_panel_functions_draw_into_a_subfigure():
    page = Figure(figsize=(8, 8), layout="constrained")
    top, bottom = page.subfigures(2, 1)
    out = reports.plot_depth_isometry(analysis.isometry_table(depth_results()), fig=bottom)
    assert out is bottom and len(page.axes) == 2
    with pytest.raises(InvalidArgument, match="fig must be a matplotlib Figure"):
        reports.plot_depth_isometry(analysis.isometry_table(depth_results()), fig="page")


# ---------------------------------------------------------------- tables


def test_format_value_cases():
    assert [reports.format_value(v) for v in (0.0, 12, 41.234, 1234.5, 3.2e15, -2.5e-7, -math.inf, None)] == \
        ["0", "12", "41.2", "1234", "3.2e+15", "-2.5e-07", "−∞", "–"]
    assert reports.format_value(0.5, "agreement") == "50%"
    assert reports.format_value(np.bool_(False)) == "no"


def test_format_table_headers_ranges_and_markdown():
    t = pd.DataFrame({"arch": ["lstm", "gru"], "memory_efold": [41.0, 2.0], "memory_efold_min": [40.0, 2.0],
                      "memory_efold_max": [45.0, 2.0], "slope": [-0.1, 0.2], "slope_low": [-0.2, 0.1],
                      "slope_high": [0.0, 0.3]})
    f = reports.format_table(t, ranges={"memory_efold": ("memory_efold_min", "memory_efold_max"),
                                        "slope": ("slope_low", "slope_high", "ci")})
    assert list(f.columns) == ["architecture", "e-fold\n(steps) (range)", "slope\n(per step) [95% CI]"]
    assert f.iloc[0].tolist() == ["lstm", "41 (40–45)", "-0.1 [-0.2, 0]"]
    assert f.iloc[1].tolist() == ["gru", "2", "0.2 [0.1, 0.3]"]               # one-seed range collapses
    md = reports.to_markdown(f).splitlines()
    assert md[0] == "| architecture | e-fold (steps) (range) | slope (per step) [95% CI] |"
    assert md[1] == "|---|---|---|" and len(md) == 4


def test_table_pages_split_rows_turn_wide_tables_and_split_columns():
    long = pd.DataFrame({"a": range(120), "b": ["x"] * 120})
    pages = reports.table_pages(long, title="Long")
    assert len(pages) == 3 and all(p.get_size_inches()[1] > p.get_size_inches()[0] for p in pages)
    assert len(reports.table_pages(long, title="Long", rows_per_page=50)) == 3
    wide = pd.DataFrame({f"column {i}": ["a fairly long value"] for i in range(6)})
    pages = reports.table_pages(wide, title="Wide")
    assert len(pages) == 1 and pages[0].get_size_inches()[0] > pages[0].get_size_inches()[1]   # landscape
    very_wide = pd.DataFrame({f"column {i}": ["a fairly long value"] for i in range(30)})
    pages = reports.table_pages(very_wide, title="Very wide", n_keys=1)
    assert len(pages) > 1
    headers = [{t.get_text() for t in p.axes[0].texts if t.get_weight() == "bold"} for p in pages]   # the header row
    assert all("column 0" in h for h in headers)                                # the key column repeats
    titles = [p.texts[0].get_text() for p in pages]
    assert titles[0].startswith("Very wide  [columns 1/") and "(continued)" in titles[1]


def test_log_axes_of_equal_values_span_a_readable_range():
    rows = [dict(arch="vanilla-tanh", hidden=4, length=10, gain=1.0, seed=0, metric="weight_singular_value",
                 block="W_h", index=i, value=1.0 + 1e-16 * i) for i in range(4)]
    ax = reports.plot_weight_spectra(analysis.spectrum_profile(pd.DataFrame(rows).assign(study="v", depth=NAN))).axes[0]
    lo, hi = ax.get_ylim()
    assert hi / lo == pytest.approx(4.0) and lo < 1.0 < hi            # not an axis of rounding errors
    assert [t.get_text() for t in ax.get_yticklabels() if t.get_text()] == ["0.5", "1", "2"]


def test_depth_study_rows_with_a_length_are_still_about_depth():
    # the depth study's stacked RNN has both a length T and a depth L: its horizon is the depth
    rows = [dict(study="depth", arch="stacked-rnn", hidden=4, length=20, depth=L, gain=1.0, seed=0,
                 metric="gradient_norm", layer=l, value=0.8 ** (L - l)) for L in (2, 8) for l in range(L)]
    profile = analysis.lag_profile(pd.DataFrame(rows), "gradient_norm")
    assert profile["depth"].unique().tolist() == [8]
    ax = reports.plot_gradient_decay(profile)
    assert ax.get_xlabel() == "layers back from the output, L − l"
    assert hexes(ax.get_lines()) == [ARCH_PALETTE["stacked-rnn"]]


def test_findings_name_each_variant_and_the_lines_that_underflow():
    from rnnprobe.reports import captions

    table = pd.DataFrame({"arch": ["lstm", "lstm", "gru"], "gain": 1.0, "length": 100, "forget_bias": [1.0, 4.0, NAN],
                          "efold": [7.2, 201.0, 3.0], "slope": [-0.14, -0.005, -0.33], "slope_low": [-0.15, -0.006, -0.34],
                          "slope_high": [-0.13, -0.004, -0.32]})
    assert captions.efold_finding(table) == ("at gain 1 the fitted e-folding time is 7.2 steps for lstm b_f=1, "
                                             "201 for lstm b_f=4 and 3 for gru")
    rows = [dict(study="memory", arch="lstm", hidden=4, length=3, depth=NAN, gain=1.0, seed=0, forget_bias=b,
                 metric="jacobian_norm", lag=k, value=v)
            for b, values in ((1.0, [1.0, 1e-200, 0.0]), (4.0, [1.0, 0.9, 0.8])) for k, v in enumerate(values, 1)]
    profile = analysis.lag_profile(pd.DataFrame(rows), "jacobian_norm")
    text = captions.decay_caption(profile, table, metric="jacobian_norm")
    assert "Lines that end at a panel's lower edge (lstm b_f=1) fell below 10⁻³⁰⁸" in text
    assert "lower edge" not in captions.decay_caption(profile[profile["median"] > 0], table, metric="jacobian_norm")
