"""memory_length: threshold, e-folding time and Lyapunov time on closed forms."""

import math
import re

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

import rnnprobe
from rnnprobe import strategies as rs
from rnnprobe.errors import InvalidArgument

F64 = torch.float64


def _orthogonal_linear(gain, n=4, seed=0):
    return rnnprobe.build("vanilla-linear", hidden_size=n, init="orthogonal", gain=gain, seed=seed, bias_std=0.5)


@given(model=rs.models(architectures="vanilla-linear", inits="orthogonal", min_gain=0.2, max_gain=0.98, max_hidden=5,
                       min_input=0, max_input=2),
       eps=st.floats(1e-4, 0.5), data=st.data())
def test_orthogonal_linear_rnn_closed_forms(model, eps, data):
    """G(k) = g^k, so threshold = floor(log ε / log g), e-fold = Lyapunov time = -1/log g."""
    sv = torch.linalg.svdvals(model.W_h.detach())
    gain = float(sv[0])                               # W_h = g·Q: every singular value is g
    torch.testing.assert_close(sv, torch.full_like(sv, gain), rtol=1e-13, atol=0)
    ratio = math.log(eps) / math.log(gain)
    assume(abs(ratio - round(ratio)) > 1e-6)          # not exactly on a lag: rounding decides there
    threshold = math.floor(ratio)
    T = min(threshold + 20, 400)
    x = data.draw(rs.sequences_for(model, min_length=T, max_length=T), label="x")
    m = rnnprobe.memory_length(rnnprobe.record(model, x), eps=eps)
    assert m.eps == eps
    if threshold < T:
        assert (m.threshold, m.threshold_censored) == (threshold, False)
    else:
        assert (m.threshold, m.threshold_censored) == (T, True)
    assert m.slope == pytest.approx(math.log(gain), rel=1e-9)
    assert m.slope_low <= m.slope <= m.slope_high
    assert m.intercept == pytest.approx(0.0, abs=1e-9)
    assert m.efold == pytest.approx(-1 / math.log(gain), rel=1e-9)
    assert m.lyapunov_exponent == pytest.approx(math.log(gain), rel=1e-9)
    assert m.lyapunov_time == pytest.approx(-1 / math.log(gain), rel=1e-9)


def test_censored_threshold_when_every_lag_passes():
    m = rnnprobe.memory_length(rnnprobe.record(_orthogonal_linear(0.9), torch.zeros(10, 1)), eps=0.01)
    assert (m.threshold, m.threshold_censored) == (10, True)         # 0.9^10 = 0.35 >= 0.01


@pytest.mark.parametrize("gain", [1.0, 1.3])
def test_non_decaying_memory_is_unbounded(gain):
    m = rnnprobe.memory_length(rnnprobe.record(_orthogonal_linear(gain), torch.zeros(50, 1)))
    assert m.threshold == 50 and m.threshold_censored
    if gain > 1:
        assert m.efold == math.inf and m.lyapunov_time == math.inf
    else:
        # isometric: the slope and λ₁ are 0 up to rounding (±1e-16), which can land on
        # either side of 0: 'unbounded' is inf or beyond any horizon (reported to the lead)
        assert m.efold > 1e12 and m.lyapunov_time > 1e12
    assert m.lyapunov_exponent == pytest.approx(math.log(gain), abs=1e-12)


def test_diagonal_rnn_memory_follows_the_slowest_mode():
    model = rnnprobe.build("vanilla-linear", hidden_size=3, seed=0)
    with torch.no_grad():
        model.W_h.copy_(torch.diag(torch.tensor([0.8, -0.5, 0.1], dtype=F64)))
    m = rnnprobe.memory_length(rnnprobe.record(model, torch.randn(100, 1, dtype=F64)), eps=1e-3)
    assert m.threshold == math.floor(math.log(1e-3) / math.log(0.8))
    assert m.efold == pytest.approx(-1 / math.log(0.8), rel=1e-9)
    assert m.lyapunov_time == pytest.approx(-1 / math.log(0.8), rel=1e-6)


def test_nonlinear_memory_length_is_consistent_with_G():
    model = rnnprobe.build("gru", hidden_size=4, gain=1.0, seed=3)
    x = torch.randn(300, 1, dtype=F64, generator=torch.Generator().manual_seed(3))
    traj = rnnprobe.record(model, x)
    m = rnnprobe.memory_length(traj, eps=0.05)
    G = rnnprobe.jacobian_norms(traj)
    lags = traj.lags
    assert m.threshold == int(lags[G >= 0.05].max())
    # the robust slope of log G on the lag and λ₁ measure the same decay rate
    assert m.slope < 0 and m.lyapunov_exponent < 0
    assert m.slope == pytest.approx(m.lyapunov_exponent, rel=0.1)
    assert m.efold == pytest.approx(-1 / m.slope, rel=1e-12)


def test_batched_memory_length_is_a_list_per_sequence():
    model = rnnprobe.build("vanilla-tanh", hidden_size=3, gain=0.9, seed=4)
    x = torch.randn(40, 3, 1, dtype=F64, generator=torch.Generator().manual_seed(4))
    ms = rnnprobe.memory_length(rnnprobe.record(model, x), eps=0.1)
    assert isinstance(ms, list) and len(ms) == 3
    for b, m in enumerate(ms):
        single = rnnprobe.memory_length(rnnprobe.record(model, x[:, b]), eps=0.1)
        assert m.threshold == single.threshold and m.threshold_censored == single.threshold_censored
        for key in ("efold", "slope", "intercept", "lyapunov_exponent"):
            assert getattr(m, key) == pytest.approx(getattr(single, key), rel=1e-9)
    d = ms[0].as_dict()
    assert set(d) == {"threshold", "threshold_censored", "efold", "slope", "intercept", "slope_low", "slope_high",
                      "lyapunov_exponent", "lyapunov_time", "eps"}


def test_zero_jacobians_give_zero_memory_not_nan():
    model = rnnprobe.build("vanilla-relu", hidden_size=3, seed=0)
    with torch.no_grad():
        model.b.fill_(-10.0)
    m = rnnprobe.memory_length(rnnprobe.record(model, torch.randn(8, 1, dtype=F64)))
    assert m.threshold == 0 and not m.threshold_censored
    for key in ("efold", "slope", "lyapunov_exponent", "lyapunov_time"):
        assert not math.isnan(getattr(m, key)), key
    assert m.efold == 0.0 and m.lyapunov_time == 0.0


@pytest.mark.parametrize("eps", [0.0, 1.0, -0.1, 1.5, 10, math.nan, math.inf])
def test_eps_outside_the_open_unit_interval_is_rejected(eps):
    traj = rnnprobe.record(rnnprobe.build("vanilla-tanh", hidden_size=2), torch.zeros(5, 1))
    with pytest.raises(InvalidArgument, match=rf"^eps must .*; got {re.escape(repr(float(eps)))}"):
        rnnprobe.memory_length(traj, eps=eps)


def test_eps_messages_name_the_range_and_give_a_hint():
    traj = rnnprobe.record(rnnprobe.build("vanilla-tanh", hidden_size=2), torch.zeros(5, 1))
    with pytest.raises(InvalidArgument, match=r"eps must lie in \(0, 1\); got 1.5 \(eps is a threshold on the Jacobian norm G; e.g. 0.01\)"):
        rnnprobe.memory_length(traj, eps=1.5)
    with pytest.raises(InvalidArgument, match=r"eps must be a finite real number; got '0.1'"):
        rnnprobe.memory_length(traj, eps="0.1")
    with pytest.raises(InvalidArgument, match=r"burn_in must be smaller than the number of steps T = 5; got 7"):
        rnnprobe.memory_length(traj, burn_in=7)


def test_long_fits_are_thinned_the_same_way_in_the_probes_and_the_analysis():
    import numpy as np
    from scipy import stats

    from rnnprobe.analysis.fits import fit_log_linear
    from rnnprobe.memory import MAX_FIT_POINTS, efold_fit, thin_evenly

    # a noisy decay over 5000 lags, in the probes' order (descending lag) and shuffled for the analysis
    rng = np.random.default_rng(0)
    lags = np.arange(5000, 0, -1).astype(float)
    log_g = -0.01 * lags + 0.3 * rng.standard_normal(lags.size)
    x, y = thin_evenly(lags[::-1].copy(), log_g[::-1].copy())
    assert x.size == MAX_FIT_POINTS and x[0] == 1 and x[-1] == 5000 and np.all(np.diff(x) > 0)
    reference = stats.theilslopes(y, x, alpha=0.95)                       # the fit of the thinned points
    slope, intercept, low, high = efold_fit(lags, log_g)
    assert (slope, low, high) == pytest.approx((reference.slope, reference.low_slope, reference.high_slope), rel=1e-12)
    order = rng.permutation(lags.size)
    fit = fit_log_linear(lags[order], log_g[order], log=True)
    assert (fit["slope"], fit["slope_low"], fit["slope_high"]) == pytest.approx((slope, low, high), rel=1e-12)
    assert low < -0.01 < high


def test_a_flat_memory_cut_to_exactly_zero_has_e_folding_time_zero_not_infinity():
    """A minGRU whose gate saturates once (1 − z = 0 exactly at step t0) and is shut otherwise (1 − z = 1 to
    rounding): G(k) = 1 up to lag T − 1 − t0, exactly 0 beyond. The finite part has no slope, but G did fall:
    slope −inf, e-folding time 0 (before: slope 0 and an e-folding time of ∞, "no decay")."""
    import math

    model = rnnprobe.build("mingru", hidden_size=1, input_size=1, update_bias=-50.0, seed=0)
    w = float(model.weight.detach()[0, 0])
    T, t0 = 30, 12
    x = torch.zeros(T, 1, dtype=torch.float64)
    x[t0] = 1000.0 * math.copysign(1.0, w)
    traj = rnnprobe.record(model, x)
    G = rnnprobe.jacobian_norms(traj)
    assert bool((G[t0 + 1 :] == 1.0).all()) and bool((G[: t0 + 1] == 0.0).all())
    m = rnnprobe.memory_length(traj)
    assert m.threshold == T - 1 - t0 and not m.threshold_censored
    assert (m.slope, m.slope_low, m.slope_high, m.efold) == (-math.inf, -math.inf, -math.inf, 0.0)
    # a flat G without zeros still measures no decay
    flat = rnnprobe.memory_length(rnnprobe.record(model, torch.zeros(T, 1, dtype=torch.float64)))
    assert flat.efold == math.inf and flat.slope == 0.0
