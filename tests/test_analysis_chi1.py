"""Mean-field χ₁ comparisons (rnnprobe.theory's quadrature is tested in test_theory_meanfield.py)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from rnnprobe import analysis
import rnnprobe
from rnnprobe import theory as mf
from rnnprobe.errors import InvalidArgument


def test_prediction_with_inputs_as_an_effective_bias():
    q, chi = analysis.predicted_chi1("tanh", 1.2, 0.3, input_variance=0.5)
    sigma_eff = math.sqrt(0.3 ** 2 + 0.5)
    assert (q, chi) == pytest.approx((mf.fixed_point(1.2, sigma_eff), mf.chi1(1.2, sigma_eff)), rel=1e-6)
    # q = σ_w² E φ² + σ_b² + v_x holds at the predicted fixed point
    assert mf.length_map(q, 1.2, 0.3) + 0.5 == pytest.approx(q, rel=1e-6)
    q, chi = analysis.predicted_chi1("relu", 2.0, input_variance=1.0)       # no finite q*, χ₁ still defined
    assert q == math.inf and chi == pytest.approx(2.0)


def _rows(arch, gain, g2_per_step, *, depth=None, length=None, seeds=(0, 1), n=10, init=None):
    rows = []
    for s in seeds:
        for k in range(1, n + 1):
            row = dict(study="x", arch=arch, hidden=64, gain=gain, seed=s, metric="gradient_norm",
                       value=math.sqrt(g2_per_step ** k) * (1.1 if s else 0.9))
            if depth is not None:
                row.update(depth=depth, length=np.nan, layer=depth - k, lag=np.nan)
            else:
                row.update(length=length, depth=np.nan, lag=k, layer=np.nan)
            if init is not None:
                row["init"] = init
            rows.append(row)
    return pd.DataFrame(rows)


def test_chi1_comparison_on_exact_growth():
    chi = mf.chi1(1.5)
    mlp = _rows("mlp", 1.5, chi, depth=10)
    rnn = _rows("vanilla-tanh", 0.8, mf.chi1(0.8, 1.0), length=10)          # v_x = 1 acts as σ_b = 1
    both = pd.concat([mlp, rnn], ignore_index=True)
    c = analysis.chi1_comparison(both)
    assert c["arch"].tolist() == ["mlp"]                     # recurrent nets need the input variance
    # the data are built with the local quadrature; rnnprobe.theory's (when present) agrees to ~1e-14
    assert c["chi1_measured"].iloc[0] == pytest.approx(chi, rel=1e-10)
    assert c["error"].iloc[0] == pytest.approx(0.0, abs=1e-10)
    assert c["n_seeds"].iloc[0] == 2 and c["phi"].iloc[0] == "tanh"
    c = analysis.chi1_comparison(both, input_variance=1.0)
    assert c["arch"].tolist() == ["vanilla-tanh", "mlp"]
    assert c["relative_error"].abs().max() < 1e-10
    assert c["depth_scale_predicted"].iloc[0] == pytest.approx(-1 / math.log(c["chi1_predicted"].iloc[0]))


def test_chi1_comparison_skips_spectral_init_and_other_architectures():
    frame = pd.concat([_rows("mlp", 1.0, 0.9, depth=10, init="spectral"), _rows("lstm", 1.0, 0.9, length=10)])
    assert analysis.chi1_comparison(frame, input_variance=1.0).empty


def test_chi1_prediction_matches_wide_random_tanh_networks():
    """rnnprobe's own probes against mean-field theory, on wide MLPs in both phases.

    Width 256, 16 seeds, depth 12: the gradient-independence approximation and
    finite width move E‖vᵀJ‖² by O(1/n) per layer, and the seed average of g²
    has a few per cent of noise per layer, so the per-layer log χ₁ must agree
    within 0.03 (measured here: 0.002 and 0.01; the two phases differ by 0.8).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rows = []
        for gain, bias in ((0.8, 0.3), (1.6, 0.3)):
            q_star = mf.fixed_point(gain, bias)
            for seed in range(16):
                model = rnnprobe.build("mlp", hidden_size=256, depth=12, gain=gain, bias_std=bias, seed=seed)
                # start at the fixed point: entries of variance q* for the pre-activations' images
                x = math.sqrt(q_star) * torch.randn(256, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
                x = torch.tanh(x)
                g = rnnprobe.gradient_norms(rnnprobe.record(model, x), seed=seed)
                rows += [dict(study="depth", arch="mlp", hidden=256, length=np.nan, depth=12, gain=gain, seed=seed,
                              metric="gradient_norm", lag=np.nan, layer=l, value=float(v)) for l, v in enumerate(g)]
    finally:
        torch.set_num_threads(threads)
    c = analysis.chi1_comparison(pd.DataFrame(rows), sigma_b=0.3, method="linregress")
    assert c["chi1_predicted"].iloc[0] < 1 < c["chi1_predicted"].iloc[1]      # one ordered, one chaotic
    assert c["error"].abs().max() < 0.03, c[["gain", "chi1_predicted", "chi1_measured"]]
