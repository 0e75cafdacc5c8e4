"""plot_hyperbolicity: the angles of covariant Lyapunov vectors, drawn per architecture (objects, not pixels)."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

import rnnprobe
from rnnprobe.errors import InvalidArgument
from rnnprobe.reports.lyapunov import plot_hyperbolicity
from rnnprobe.reports.palette import ARCH_PALETTE


def _angles():
    rows = []
    x = torch.randn(160, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for arch in ("vanilla-tanh", "gru"):
        for gain in (1.0, 3.0):
            for seed in (0, 1):
                model = rnnprobe.build(arch, hidden_size=3, gain=gain, seed=seed)
                clv = rnnprobe.covariant_lyapunov_vectors(model, x, burn_in=50, burn_out=50)
                rows += [{"arch": arch, "gain": gain, "seed": seed, "time": int(t), "angle": float(a)}
                         for t, a in zip(clv.times, clv.angles)]
    return pd.DataFrame(rows)


def test_one_panel_per_gain_one_line_per_architecture_in_its_colour():
    data = _angles()
    fig = plot_hyperbolicity(data)
    assert [ax.get_title() for ax in fig.axes] == ["gain 1", "gain 3"]
    for ax, gain in zip(fig.axes, (1.0, 3.0)):
        lines = ax.get_lines()
        assert [line.get_color() for line in lines] == [ARCH_PALETTE["vanilla-tanh"], ARCH_PALETTE["gru"]]
        for line, arch in zip(lines, ("vanilla-tanh", "gru")):
            d = data[(data.arch == arch) & (data.gain == gain)]
            median = np.degrees(d.groupby("time")["angle"].median())
            np.testing.assert_allclose(line.get_ydata(), median.to_numpy())          # degrees, median over seeds
            np.testing.assert_allclose(line.get_xdata(), median.index.to_numpy(float))
        assert len(ax.collections) == 2                                             # seed bands
        assert ax.get_legend() is None and ax.get_yscale() == "log"
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["vanilla-tanh", "gru"]     # one legend, outside


def test_single_run_has_no_band_and_angles_are_checked():
    data = pd.DataFrame({"arch": "lstm", "time": [5, 6, 7], "angle": [0.1, 0.2, math.pi / 2]})
    fig = plot_hyperbolicity(data)
    assert len(fig.axes) == 1 and len(fig.axes[0].collections) == 0
    with pytest.raises(InvalidArgument, match=r"angles\['angle'\] must be finite radians in \[0, π/2\]; got nan"):
        plot_hyperbolicity(data.assign(angle=[0.1, float("nan"), 0.2]))
    with pytest.raises(InvalidArgument, match=r"angles\['angle'\] must be finite radians in \[0, π/2\]; got 2.0"):
        plot_hyperbolicity(data.assign(angle=[0.1, 2.0, 0.2]))
    with pytest.raises(InvalidArgument, match=r"angles must have columns \['arch', 'time', 'angle'\]; missing \['angle'\]"):
        plot_hyperbolicity(data.drop(columns="angle"))
    with pytest.raises(InvalidArgument, match=r"angles must be a pandas DataFrame; got list"):
        plot_hyperbolicity([1, 2])
