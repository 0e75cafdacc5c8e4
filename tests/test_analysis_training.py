"""The training study's analysis frames and captions, on small hand-made results with known answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from rnnprobe import analysis
from rnnprobe.reports import training_pages


def results(steps=(0, 10, 20, 30), seeds=(0, 1), lags=(1, 2, 3, 4)):
    """Two runs (vanilla-tanh plain and flossed) × seeds × steps, with values that encode where they come from."""
    rows = []
    for floss in (0, 2):
        for seed in seeds:
            for step in steps:
                base = dict(study="training", arch="vanilla-tanh", hidden=8, length=max(lags), gain=1.0, seed=seed,
                            init="gaussian", floss=floss, train_steps=max(steps), chars=5000, step=step,
                            lag=np.nan, layer=np.nan, index=np.nan, block=np.nan)
                decay = 0.5 + 0.01 * step + 0.1 * floss          # G(k) = decay^k
                for k in lags:
                    rows.append({**base, "metric": "jacobian_norm", "lag": k, "layer": 0, "value": decay ** k})
                rows.append({**base, "metric": "val_bits_per_char", "value": 7.0 - 0.1 * step + seed})
                if step:
                    rows.append({**base, "metric": "train_loss", "value": math.log(2) * (6.0 - 0.1 * step)})
                rows.append({**base, "metric": "memory_threshold", "layer": 0, "value": float(step + seed)})
                rows.append({**base, "metric": "memory_efold", "layer": 0, "value": 1.0 + step})
                for i in range(2):
                    rows.append({**base, "metric": "lyapunov_exponent", "layer": 0, "index": i,
                                 "value": -1.0 + 0.01 * step - i})
                for j, block in enumerate(("W_h", "W_x")):
                    rows.append({**base, "metric": "sigma_max", "layer": 0, "block": block,
                                 "value": 1.0 + 0.1 * step + j})
    return pd.DataFrame(rows)


def test_stage_steps_takes_the_first_the_last_and_the_nearest_to_half_way():
    stages = analysis.stage_steps(results())
    assert stages.groupby("floss")["step"].apply(list).to_dict() == {0: [0, 10, 30], 2: [0, 10, 30]}
    assert stages["stage"].tolist()[:3] == ["initialisation", "middle", "end"]
    assert analysis.stage_steps(results(steps=(0, 5, 20, 40)))["step"].tolist()[:3] == [0, 20, 40]


def test_training_curves_convert_the_training_loss_to_bits_and_take_medians_over_seeds():
    curves = analysis.training_curves(results())
    val = curves[(curves["metric"] == "val_bits_per_char") & (curves["step"] == 10)]
    assert val["median"].tolist() == [6.5, 6.5] and val["low"].tolist() == [6.0, 6.0] and (val["n_seeds"] == 2).all()
    train = curves[curves["metric"] == "train_bits_per_char"]
    assert sorted(train["step"].unique()) == [10, 20, 30]                  # no training loss at step 0
    assert train[train["step"] == 30]["median"].tolist() == pytest.approx([3.0, 3.0], rel=1e-12)
    assert curves["variant"].unique().tolist() == ["vanilla-tanh", "vanilla-tanh flossed (k=2)"]


def test_gradient_profiles_and_measures_pick_the_right_rows():
    prof = analysis.gradient_profiles(results())
    end = prof[(prof["stage"] == "end") & (prof["variant"] == "vanilla-tanh flossed (k=2)")]
    assert end["lag"].tolist() == [1, 2, 3, 4] and end["median"].tolist() == pytest.approx([1.0 ** k for k in range(1, 5)])
    mid = prof[(prof["stage"] == "middle") & (prof["variant"] == "vanilla-tanh")]
    assert mid["median"].tolist() == pytest.approx([0.6 ** k for k in range(1, 5)])
    m = analysis.training_measures(results())
    lam = m[(m["measure"] == "lyapunov_exponent") & (m["step"] == 20) & (m["variant"] == "vanilla-tanh")]
    assert lam["median"].item() == pytest.approx(-0.8)                         # index 0 only
    sig = m[(m["measure"] == "sigma_max") & (m["step"] == 20) & (m["variant"] == "vanilla-tanh")]
    assert sig["median"].item() == pytest.approx(4.0)                          # the largest block, W_x
    w = analysis.weight_norms(results())
    assert set(w["block"]) == {"W_h", "W_x"} and len(w) == 2 * 2 * 4


def test_training_table_has_each_measure_at_the_start_and_the_end():
    table = analysis.training_table(results()).set_index("variant")
    row = table.loc["vanilla-tanh"]
    assert row["steps_done"] == 30 and row["n_seeds"] == 2 and row["lag"] == 2
    assert (row["val_bits_per_char_initial"], row["val_bits_per_char_final"]) == (7.5, 4.5)
    assert (row["memory_threshold_initial"], row["memory_threshold_final"]) == (0.5, 30.5)
    assert row["G_lag_initial"] == pytest.approx(0.25) and row["G_lag_final"] == pytest.approx(0.8 ** 2)
    display = training_pages.summary_display(analysis.training_table(results()))
    assert display.iloc[0]["validation\nbits/char"] == "7.5 → 4.5" and display.iloc[0]["seeds"] == "2"


def test_captions_state_the_numbers_of_their_frames():
    R = results()
    curves = analysis.training_curves(R)
    text = training_pages.curves_caption(curves)
    assert "vanilla-tanh 7.5 → 4.5" in text and "Flossing changes the final value by less than 0.005" in text
    prof = training_pages.profiles_caption(analysis.gradient_profiles(R))
    assert "G(2) went vanilla-tanh 0.25 → 0.36 → 0.64" in prof
    assert "Flossing leaves G(2) a factor 1.6 above the same core trained without it." in prof
    meas = training_pages.measures_caption(analysis.training_measures(R))
    assert "vanilla-tanh: threshold 0.5 → 30.5 steps, λ₁ -1.000 → -0.700" in meas
    w = training_pages.weight_norms_caption(analysis.weight_norms(R))
    assert "vanilla-tanh W_x 2.00 → 5.00" in w


def test_overfitting_is_stated_only_when_the_validation_loss_rises_again():
    R = results()
    R.loc[(R["metric"] == "val_bits_per_char") & (R["step"] == 30), "value"] += 3.0    # 4.5 -> 7.5 at the end
    text = training_pages.curves_caption(analysis.training_curves(R))
    assert "rose again after its lowest value for vanilla-tanh (lowest 5.5 at step 20)" in text
    assert "overfitting" in text
    assert "rose again" not in training_pages.curves_caption(analysis.training_curves(results()))


def test_small_numbers_print_with_superscript_powers():
    assert [training_pages._sci(x) for x in (3.5e-10, 0.063, 1.3, 2.3e-19, 1e12)] == \
        ["3.5·10⁻¹⁰", "0.063", "1.3", "2.3·10⁻¹⁹", "1.0·10¹²"]


def _samples(variants=("vanilla-tanh", "gru")):
    text = "def f(x):\n    return x + 1\n" * 8                     # long: cut at max_lines with '…'
    rows = [dict(variant=v, stage=stage, step=step, text=text, temperature=0.8, seed=0)
            for v in variants for stage, step in (("initialisation", 0), ("middle", 10), ("end", 20))]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("height", [7.0, 4.0])
def test_sample_pages_never_overlap_and_stay_inside_their_figure(height):
    """The samples page (its labels once ran into the previous sample's last lines): every text artist keeps clear
    of the others and inside the figure it was drawn into, at a page's plot height and at a short one."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    page = Figure(figsize=(8.27, height + 2.0), layout="constrained")
    FigureCanvasAgg(page)
    plot, _ = page.subfigures(2, 1, height_ratios=[height, 2.0])
    training_pages.plot_samples(_samples(), fig=plot)
    renderer = page.canvas.get_renderer()
    page.canvas.draw()
    texts = [t for ax in plot.axes for t in ax.texts]
    assert len(texts) == 2 * (1 + 2 * 3)                      # a head, and a label and a text per stage
    boxes = [t.get_window_extent(renderer) for t in texts]
    inside = plot.bbox
    for i, a in enumerate(boxes):
        assert a.y0 >= inside.y0 - 1 and a.y1 <= inside.y1 + 1, (texts[i].get_text()[:30], a, inside)
        for j in range(i):
            assert not a.overlaps(boxes[j]), (texts[i].get_text()[:30], texts[j].get_text()[:30])


def test_weight_norm_legends_do_not_cover_the_curves():
    """Each panel's legend sits in head room above its curves (loc='best' once hid an LSTM gate's curve)."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    R = results()
    fig = Figure(figsize=(10, 7))
    FigureCanvasAgg(fig)
    training_pages.plot_weight_norms(analysis.weight_norms(R), fig=fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        legend = ax.get_legend().get_window_extent(renderer)
        for line in ax.get_lines():
            points = ax.transData.transform(line.get_xydata())
            assert not any(legend.contains(x, y) for x, y in points), line.get_label()
