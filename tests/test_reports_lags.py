"""reports.plot_lags: trajectories or probe outputs, one colour per label, the state named, bad calls."""

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

import rnnprobe
from rnnprobe.errors import InvalidArgument
from rnnprobe.reports import plot_lags

F64 = torch.float64
X = torch.randn(25, 3, 1, dtype=F64, generator=torch.Generator().manual_seed(0))


def trajs():
    return {"rnn": rnnprobe.record(rnnprobe.build("vanilla-tanh", 6, seed=0), X),
            "lstm": rnnprobe.record(rnnprobe.build("lstm", 6, seed=0), X),
            "lstm b_f=3": rnnprobe.record(rnnprobe.build("lstm", 6, forget_bias=3.0, seed=0), X)}


def test_trajectories_get_their_own_colours_and_states():
    ax = plot_lags(trajs())
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["rnn (s = h)", "lstm (s = [h; c])", "lstm b_f=3 (s = [h; c])"]
    colours = [line.get_color() for line in lines]
    assert len(set(colours)) == 3                                   # two LSTMs, still two colours
    from rnnprobe.reports import ARCH_PALETTE

    assert colours[:2] == [ARCH_PALETTE["vanilla-tanh"], ARCH_PALETTE["lstm"]]
    assert len(ax.collections) == 3                                 # the bands over the 3 sequences
    assert ax.get_yscale() == "log"


def test_one_kind_of_state_is_named_on_the_axis_and_arrays_are_drawn_as_given():
    lstm = trajs()["lstm"]
    ax = plot_lags({"lstm": lstm})
    assert ax.get_ylabel() == "G(k) = ‖∂[h; c]_T/∂[h; c]_(T−k)‖₂"
    # precomputed values, per start step (as the probes return them): lag k is entry T − k
    G = rnnprobe.jacobian_norms(lstm)[0]
    fig = Figure()
    ax = plot_lags({"mine": G.numpy(), "again": G}, ax=fig.add_subplot(), legend=False, band=False)
    assert ax.figure is fig and ax.get_legend() is None
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), G.flip(0).numpy(), rtol=1e-12)
    assert ax.get_ylabel() == "G(k) = ‖∂s_T/∂s_(T−k)‖₂"


def test_gradient_norms_with_a_loss_per_label():
    t = trajs()
    losses = {"rnn": lambda h: h.sum(-1), "lstm": lambda h: (h ** 2).sum(-1)}
    ax = plot_lags({k: t[k] for k in ("rnn", "lstm")}, quantity="gradient_norm", batch_loss=losses, title="g")
    expected = np.exp(np.median(rnnprobe.gradient_norms(t["lstm"], batch_loss=losses["lstm"], log=True).flip(-1).numpy(), 0))
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), expected, rtol=1e-12)
    assert ax.get_title() == "g" and ax.get_ylabel() == "g(k) = ‖∂L/∂s_(T−k)‖, s as in the legend"
    ax = plot_lags({"rnn": t["rnn"]}, quantity="gradient_norm")
    assert ax.get_ylabel() == "g(k) = ‖∂L/∂h_(T−k)‖ (L: a random unit readout of h_T)"


def test_values_that_underflow_are_left_out_not_drawn_as_zero():
    ax = plot_lags({"zeros": np.array([0.0, 1e-3, 1.0])})
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [1, 2])       # lag 3 is 0: not on a log axis


@pytest.mark.parametrize("call, fragment", [
    (lambda: plot_lags({}), "data must be a non-empty mapping label -> Trajectory or values; got an empty mapping"),
    (lambda: plot_lags([1, 2]), "data must be a non-empty mapping label -> Trajectory or values; got list"),
    (lambda: plot_lags({"a": np.ones(3)}, quantity="memory"), "quantity must be one of 'jacobian_norm', 'gradient_norm'; got 'memory'"),
    (lambda: plot_lags({"a": np.ones((2, 2, 2))}), "data['a'] must have shape (T,) or (B, T) with T >= 1"),
    (lambda: plot_lags({"a": np.array([1.0, -1.0])}), "data['a'] must hold norms: finite and >= 0; got NaN, Inf or negative"),
    (lambda: plot_lags({"a": np.array([1.0, np.nan])}), "data['a'] must hold norms"),
    (lambda: plot_lags({"a": "text"}), "data['a'] must be a Trajectory or the values a probe returned"),
    (lambda: plot_lags({"a": trajs()["rnn"]}, batch_loss=lambda h: h.sum(-1)), "loss, batch_loss and loss_over_steps apply to quantity='gradient_norm'"),
    (lambda: plot_lags({"a": np.ones(3)}, batch_loss={"b": len}), "batch_loss must map labels of data ('a') to callables; got unknown labels ['b']"),
    (lambda: plot_lags({"a": np.ones(3)}, loss=3), "loss must be a callable, a mapping label -> callable, or None; got int"),
    (lambda: plot_lags({"a": np.ones(3)}, ax="axes"), "ax must be a matplotlib Axes or None; got str"),
])
def test_bad_calls(call, fragment):
    with pytest.raises(InvalidArgument) as info:
        call()
    assert fragment in str(info.value)


def test_the_figure_reads_cleanly():
    # the layout checks of the reports (reports.layout): the legend off the curves and bands, labels on the figure
    from rnnprobe.reports.layout import layout_problems

    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = plot_lags(trajs(), ax=fig.add_subplot())
    assert layout_problems(fig) == []
    ax.get_legend().set_loc("center")           # the check can fail: a legend moved onto the curves is found
    assert any("covers the data" in p for p in layout_problems(fig))
