"""Tests of rnnprobe.testing: each assertion passes on a model with the property and fails, with the
documented message, on one without it. Planted cases use closed forms: an orthogonal linear RNN with
gain g has G(k) = g^k exactly, every singular value of its k-step product is g^k and λ₁ = log g."""

import math
import re

import pytest
import torch
from hypothesis import given, settings
from torch import nn

import rnnprobe
from rnnprobe import strategies as rs
from rnnprobe import testing as rt
from rnnprobe.errors import InvalidArgument
from rnnprobe.models.vanilla import VanillaRNN

X30 = rs.seeded_sequence(30, 1, seed=0)


def linear(gain, n=4, seed=0):
    return rnnprobe.build("vanilla-linear", hidden_size=n, init="orthogonal", gain=gain, seed=seed)


def g3(x):
    return f"{x:.3g}"


def failure(fn, *args, **kwargs) -> str:
    with pytest.raises(AssertionError) as info:
        fn(*args, **kwargs)
    return str(info.value)


# --------------------------------------------------------------------------- defaults
def test_defaults_get_set_override():
    d = rt.get_defaults()
    assert (d.rtol, d.atol, d.eps, d.max_norm, d.isometry_tol, d.seed) == (1e-7, 1e-10, 1e-2, 100.0, 0.1, 0)
    with rt.override_defaults(eps=0.05) as inner:
        assert inner.eps == 0.05 and rt.get_defaults().eps == 0.05
        with rt.override_defaults(max_norm=5):
            assert rt.get_defaults().eps == 0.05 and rt.get_defaults().max_norm == 5.0
        assert rt.get_defaults().max_norm == 100.0
    assert rt.get_defaults() == d
    previous = rt.set_defaults(seed=3)
    try:
        assert previous == d and rt.get_defaults().seed == 3
    finally:
        rt.set_defaults(seed=previous.seed)
    assert rt.get_defaults() == d


@pytest.mark.parametrize("kwargs, message", [
    (dict(epsilon=0.1), r"unknown default 'epsilon'.*did you mean 'eps'"),
    (dict(eps=1.0), r"eps must lie in \(0, 1\); got 1.0"),
    (dict(eps=0), r"eps must lie in \(0, 1\); got 0"),
    (dict(max_norm=0.0), r"max_norm must lie in \(0, inf\); got 0.0"),
    (dict(rtol=-1e-3), r"rtol must lie in \[0, inf\); got -0.001"),
    (dict(seed=1.5), r"seed must be an integer; got 1.5"),
])
def test_invalid_defaults(kwargs, message):
    with pytest.raises(InvalidArgument, match=message):
        with rt.override_defaults(**kwargs):
            pass
    with pytest.raises(InvalidArgument, match=message):
        rt.set_defaults(**kwargs)


# --------------------------------------------------------------------------- vanish
def test_vanish_within_passes_and_fails_at_the_closed_form_lag():
    # G(k) = 0.5^k: below eps = 0.01 from k = 7 (0.5^7 = 0.0078), not at k = 6 (0.0156)
    rt.assert_gradients_vanish(linear(0.5), X30, within=7)
    message = failure(rt.assert_gradients_vanish, linear(0.5), X30, within=6)
    lines = message.splitlines()
    assert lines[0] == ("gradients do not vanish within 6 steps (criterion within): G(k) = 0.0156 >= eps = 0.01 at lag k = 6 "
                        "(1 of 25 lags k >= 6 fail)")
    # 0.5^5 = 0.03125 sits on a rounding boundary of the 3-digit display
    assert re.fullmatch(r"  G\(k\) = ‖∂s_T/∂s_\{T−k\}‖₂ at lags k = 1, 2, 5, 6, 10, 20, 30: "
                        r"0.5, 0.25, 0.031[23], 0.0156, 0.000977, 9.54e-07, 9.31e-10", lines[1])
    assert lines[2] == f"  fitted decay rate: {g3(math.log(2))} per step (e-folding time: {g3(1 / math.log(2))} steps)"
    assert lines[3] == ("  model: vanilla-linear, state size 4; σ_max(W_h) = 0.5, spectral radius ρ(W_h) = 0.5; "
                        "γ = sup|σ′| = 1")
    # σγ = 0.5 guarantees G < eps only from lag ceil(log 0.01 / log 0.5) = 7
    assert lines[4] == ("  hint: σ_max(W_h)·γ = 0.5 < 1 guarantees G(k) <= 0.5^k < eps only from lag 7: "
                        "allow within >= 7, or lower the gain")
    # eps from the defaults
    with rt.override_defaults(eps=0.02):
        rt.assert_gradients_vanish(linear(0.5), X30, within=6)


def test_vanish_fails_for_an_isometric_linear_rnn():
    message = failure(rt.assert_gradients_vanish, linear(1.0), X30)  # within defaults to T
    assert message.startswith("gradients do not vanish within 30 steps (criterion within): G(k) = 1 >= eps = 0.01 at lag k = 30")
    assert "σ_max(W_h) = 1, spectral radius ρ(W_h) = 1" in message
    assert message.endswith("hint: σ_max(W_h)·γ = 1 >= 1, so nothing forces gradients to vanish (Pascanu et al. 2013): "
                            "a gain below 1/γ = 1 makes every step contract")


def test_vanish_rate_uses_the_fitted_decay_rate():
    rt.assert_gradients_vanish(linear(0.5), X30, rate=0.69)          # log 2 = 0.693
    message = failure(rt.assert_gradients_vanish, linear(0.5), X30, rate=0.7)
    assert message.startswith(f"gradients decay too slowly (criterion rate): fitted decay rate {g3(math.log(2))} per step < rate = 0.7 "
                              "(Theil–Sen fit of log G(k) on k = 1…30; 95% CI of the rate [0.693, 0.693]; G(30) = 9.31e-10)")
    # both conditions at once: each reported
    message = failure(rt.assert_gradients_vanish, linear(0.9), X30, within=10, rate=0.5)
    assert message.splitlines()[0].startswith("gradients do not vanish within 10 steps (criterion within)")
    assert message.splitlines()[1].startswith("  gradients decay too slowly (criterion rate): fitted decay rate 0.105 per step < rate = 0.5")


def test_vanish_with_a_loss_measures_its_relative_gradient():
    # L = 3·h_T[0]: ‖∂L/∂s_{T−k}‖ / ‖∂L/∂s_T‖ = ‖(Wᵀ)^k e_0‖ = 0.5^k for orthogonal W
    rt.assert_gradients_vanish(linear(0.5), X30, within=7, loss=lambda h: 3 * h[0])
    message = failure(rt.assert_gradients_vanish, linear(0.5), X30, within=6, loss=lambda h: 3 * h[0])
    assert message.startswith("gradients do not vanish within 6 steps (criterion within): ĝ(k) = 0.0156 >= eps = 0.01 at lag k = 6")
    assert "ĝ(k) = ‖∂L/∂s_{T−k}‖ / ‖∂L/∂s_T‖ at lags" in message


def test_vanish_reports_which_sequence_of_a_batch_fails():
    # tanh with orthogonal W (gain 1): a zero input keeps h = 0 where σ′ = 1, so G(k) = 1 (no vanishing);
    # huge inputs saturate every unit, σ′ ≈ 0, and G collapses
    model = rnnprobe.build("vanilla-tanh", hidden_size=4, init="orthogonal", gain=1.0, seed=0)
    x = torch.full((20, 3, 1), 1e3, dtype=torch.float64)
    x[:, 1] = 0.0
    message = failure(rt.assert_gradients_vanish, model, x, within=5)
    assert message.splitlines()[1] == "  sequence 1 of batch 3 (T = 20)"
    rt.assert_gradients_vanish(model, x[:, [0, 2]], within=5)
    x[:, 2] = 0.0
    assert failure(rt.assert_gradients_vanish, model, x, within=5).splitlines()[1] == \
        "  sequence 1 of batch 3 (T = 20); also fails for sequence 2"


@pytest.mark.parametrize("check, failing_input", [
    (lambda m, x: rt.assert_gradients_do_not_explode(m, x, max_norm=0.5), "zero"),     # zero inputs: G(k) = 1
    (lambda m, x: rt.assert_bound_holds(m, x, bound=0.5), "zero"),
    (lambda m, x: rt.assert_near_isometry(m, x, tol=0.1), "saturating"),               # saturated: G(k) ≈ 0
])
def test_every_assertion_reports_the_first_failing_sequence_and_the_others(check, failing_input):
    # the same batch logic in every assertion: the first failing sequence is reported, the others listed
    model = rnnprobe.build("vanilla-tanh", hidden_size=4, init="orthogonal", gain=1.0, seed=0)
    fails, passes = (0.0, 1e3) if failing_input == "zero" else (1e3, 0.0)
    x = torch.full((20, 4, 1), passes, dtype=torch.float64)
    x[:, [1, 2]] = fails
    with pytest.raises(AssertionError) as info:
        check(model, x)
    assert str(info.value).splitlines()[1] == "  sequence 1 of batch 4 (T = 20); also fails for sequence 2"
    check(model, x[:, [0, 3]])                                   # the passing sequences alone pass


def test_vanish_argument_checks():
    with pytest.raises(InvalidArgument, match=r"within must be <= T = 30, the number of steps .*got 31"):
        rt.assert_gradients_vanish(linear(0.5), X30, within=31)
    with pytest.raises(InvalidArgument, match=r"rate must lie in \(0, inf\); got 0.0"):
        rt.assert_gradients_vanish(linear(0.5), X30, rate=0.0)
    with pytest.raises(InvalidArgument, match=r"rate needs a sequence of T >= 2 steps to fit; got T = 1"):
        rt.assert_gradients_vanish(linear(0.5), X30[:1], rate=0.1)
    with pytest.raises(InvalidArgument, match=r"inputs must be a tensor .*got None"):
        rt.assert_gradients_vanish(linear(0.5))
    traj = rnnprobe.record(linear(0.5), X30)
    rt.assert_gradients_vanish(traj, within=7)          # a Trajectory in place of model, inputs
    with pytest.raises(InvalidArgument, match=r"inputs and h0 must be None when a Trajectory is passed"):
        rt.assert_gradients_vanish(traj, X30)


def test_vanish_on_a_feedforward_stack_counts_layers():
    mlp = rnnprobe.build("mlp", 4, depth=10, nonlinearity="linear", init="orthogonal", gain=0.5)
    x = rs.seeded_network_input(4)
    rt.assert_gradients_vanish(mlp, x, within=7)
    message = failure(rt.assert_gradients_vanish, mlp, x, within=6)
    assert message.startswith("gradients do not vanish within 6 layers (criterion within): G(k) = 0.0156")
    assert "σ_max(W_h) = 0.5 (largest over W_0…W_9 (10 matrices): W_" in message


# --------------------------------------------------------------------------- explode
def test_do_not_explode_passes_for_isometric_and_gated_models():
    rt.assert_gradients_do_not_explode(linear(1.0), X30, max_rate=1e-9)
    rt.assert_gradients_do_not_explode(rnnprobe.build("lstm", hidden_size=8, seed=0), X30)


def test_explode_fails_at_the_closed_form_lags():
    # G(k) = 1.2^k: above 100 from k = 26 (1.2^25 = 95.4, 1.2^26 = 114.5); largest at k = 30 (237)
    message = failure(rt.assert_gradients_do_not_explode, linear(1.2), X30)
    assert message.splitlines()[0] == ("gradients explode (criterion max_norm = 100): G(k) = 237 > max_norm at lag k = 30 "
                                       "(first above max_norm at lag 26; 5 of 30 lags fail)")
    assert f"  fitted growth rate: {g3(math.log(1.2))} per step\n" in message
    assert message.endswith("hint: σ_max(W_h) = 1.2 > 1/γ = 1: consider orthogonal init with gain <= 1, "
                            "a smaller gain, or gradient clipping (torch.nn.utils.clip_grad_norm_)")
    rt.assert_gradients_do_not_explode(linear(1.2), X30, max_norm=238)
    message = failure(rt.assert_gradients_do_not_explode, linear(1.2), X30, max_norm=238, max_rate=0.1)
    assert message.startswith(f"gradients grow too fast (criterion max_rate = 0.1): fitted growth rate {g3(math.log(1.2))} "
                              "per step > max_rate")


def test_gain_two_relu_explodes_with_its_spectral_norm_in_the_message():
    model = rnnprobe.build("vanilla-relu", hidden_size=16, gain=2.0, seed=0)
    W = model.W_h.detach()
    sigma = float(torch.linalg.matrix_norm(W, ord=2))        # independent of weight_spectrum
    radius = float(torch.linalg.eigvals(W).abs().max())
    message = failure(rt.assert_gradients_do_not_explode, model, X30)
    assert re.match(r"gradients explode \(criterion max_norm = 100\): G\(k\) = \S+ > max_norm at lag k = \d+ "
                    r"\(first above max_norm at lag \d+",
                    message)
    assert f"σ_max(W_h) = {g3(sigma)}, spectral radius ρ(W_h) = {g3(radius)}" in message
    assert f"hint: σ_max(W_h) = {g3(sigma)} > 1/γ = 1: consider orthogonal init" in message


def test_explode_on_a_torch_lstm_names_the_module_and_gates():
    torch.manual_seed(0)
    lstm = nn.LSTM(1, 6)
    with torch.no_grad():
        lstm.weight_hh_l0.mul_(20.0)
        lstm.bias_hh_l0[6:12] = 20.0                     # forget gate open: nothing damps the growth
    message = failure(rt.assert_gradients_do_not_explode, lstm, X30, max_norm=2.0)
    assert "model: lstm (LSTM layer 0), state size 12; σ_max(W_h) = " in message
    assert "(largest over W_hi, W_hf, W_hg, W_ho: " in message
    assert "hint: the recurrent gate matrices (σ_max = " in message


# --------------------------------------------------------------------------- memory
def test_memory_threshold_matches_the_closed_form():
    # G(k) = 0.9^k >= 0.01 iff k <= log(0.01)/log(0.9) = 43.7: threshold memory 43
    model = linear(0.9)
    rt.assert_memory_at_least(model, 43)
    rt.assert_memory_at_most(model, 43)
    message = failure(rt.assert_memory_at_least, model, 44)
    assert message.splitlines()[0] == ("memory is shorter than 44 steps: threshold memory length 43 < 44 "
                                       f"(G(k) < eps = 0.01 from lag k = 44; G(44) = {g3(0.9 ** 44)})")
    assert "memory length: threshold 43 (eps = 0.01), e-folding 9.49, Lyapunov time 9.49 steps" in message
    # the hint is the diagnosis's: an orthogonal W_h at gain 0.9 and a linear σ: the weights, ρ(W_h) = 0.9
    assert "hint: the recurrent weights set the decay (-0.105 of -0.105 per step): ρ(W_h) = 0.9" in message
    assert message.endswith("initialise W_h orthogonally with gain 1/γ = 1 (torch.nn.init.orthogonal_), or raise its "
                            "gain until ρ(W_h) is near 1/γ; or use a gated cell (LSTM, GRU)")
    message = failure(rt.assert_memory_at_most, model, 42)
    assert message.splitlines()[0] == ("memory is longer than 42 steps: threshold memory length 43 > 42 "
                                       f"(G(43) = {g3(0.9 ** 43)} >= eps = 0.01)")


def test_memory_is_the_exact_negation_of_vanishing():
    model = linear(0.9)
    x = rs.seeded_sequence(60, 1)
    for steps in (43, 44):
        vanishes = _passes(rt.assert_gradients_vanish, model, x, within=steps)
        remembers = _passes(rt.assert_memory_at_least, model, steps, x)
        assert vanishes != remembers


def _passes(fn, *args, **kwargs) -> bool:
    try:
        fn(*args, **kwargs)
    except AssertionError:
        return False
    return True


@settings(max_examples=15, deadline=None)
@given(rs.trajectories(rs.models(max_hidden=4, min_gain=0.3, max_gain=2.0), min_length=4, max_length=25))
def test_memory_and_vanishing_are_dual_on_drawn_models(traj):
    for steps in (1, 3, traj.length):
        if steps == traj.length and rnnprobe.memory_length(traj).threshold_censored:
            # censored at T = steps: vanishing fails and the memory assertion refuses to certify
            assert not _passes(rt.assert_memory_at_least, traj, steps)
            assert not _passes(rt.assert_gradients_vanish, traj, within=steps)
            continue
        assert _passes(rt.assert_memory_at_least, traj, steps) != _passes(rt.assert_gradients_vanish, traj, within=steps)
        if steps < traj.length:
            assert _passes(rt.assert_memory_at_most, traj, steps) == _passes(rt.assert_gradients_vanish, traj,
                                                                              within=steps + 1)


@settings(max_examples=20, deadline=None)
@given(rs.trajectories(rs.models(max_hidden=4, min_gain=0.3, max_gain=2.0), min_length=2, max_length=25, batch=2))
def test_memory_lengths_are_rnnprobe_memory_length(traj):
    """The assertions compute G once (SVD for small states) and derive memory lengths from it: the same numbers."""
    from rnnprobe.testing import _log_G, _memory_lengths

    assert torch.allclose(_log_G(traj), rnnprobe.jacobian_norms(traj, log=True).flip(-1), rtol=1e-9, atol=1e-9)
    ours = _memory_lengths(traj, 0.01, _log_G(traj))
    for mine, core in zip(ours, rnnprobe.memory_length(traj, 0.01)):
        mine, core = mine.as_dict(), core.as_dict()
        assert (mine["threshold"], mine["threshold_censored"]) == (core["threshold"], core["threshold_censored"])
        for key in ("efold", "slope", "lyapunov_exponent", "lyapunov_time"):
            assert mine[key] == pytest.approx(core[key], rel=1e-6, abs=1e-9), key


def test_memory_efold_and_lyapunov_measures():
    model = linear(0.9)                         # e-folding time = Lyapunov time = -1/log 0.9 = 9.49
    rt.assert_memory_at_least(model, 9, measure="efold")
    message = failure(rt.assert_memory_at_least, model, 10, measure="efold")
    assert message.startswith(f"memory is shorter than 10 steps: e-folding time 9.49 < 10 (fitted decay rate "
                              f"{g3(-math.log(0.9))} per step)")
    rt.assert_memory_at_least(model, 9, measure="lyapunov_time")
    message = failure(rt.assert_memory_at_most, model, 9, measure="lyapunov_time")
    assert message.startswith(f"memory is longer than 9 steps: Lyapunov time −1/λ₁ 9.49 > 9 (top Lyapunov exponent "
                              f"λ₁ = {g3(math.log(0.9))} per step)")


def test_lstm_memory_depends_on_the_forget_gate_bias():
    rt.assert_memory_at_least(rnnprobe.build("lstm", hidden_size=8, forget_bias=3.0, seed=0), 10)
    message = failure(rt.assert_memory_at_least, rnnprobe.build("lstm", hidden_size=8, forget_bias=0.0, seed=0), 20)
    assert message.startswith("memory is shorter than 20 steps: threshold memory length ")
    # the diagnosis's hint: torch's forget gates sit near σ(0) = 0.5, and their path sets the decay
    assert "hint: the forget gate f sets the decay: mean f = " in message
    assert message.endswith("raise the forget-gate bias b_f (forget_bias; about 1 + e^b_f steps of memory at the "
                            "origin), or chrono init with T_max >= 20 (rnnprobe.build('lstm', chrono=20))")
    rt.assert_memory_at_least(rnnprobe.build("lstm", hidden_size=8, chrono=20, seed=0), 20)


def test_memory_default_inputs_and_argument_checks():
    with rt.override_defaults(seed=4):  # default inputs come from the seed
        rt.assert_memory_at_least(linear(0.9), 43)
    with pytest.raises(InvalidArgument, match=r"inputs must be at least 44 steps long to certify a memory of 44"):
        rt.assert_memory_at_least(linear(0.9), 44, X30[:20])
    with pytest.raises(InvalidArgument, match=r"inputs must be at least 21 steps long to refute"):
        rt.assert_memory_at_most(linear(0.9), 20, X30[:20])
    with pytest.raises(InvalidArgument, match=r"measure must be one of 'threshold', 'efold', 'lyapunov_time'"):
        rt.assert_memory_at_least(linear(0.9), 3, measure="half-life")
    with pytest.raises(InvalidArgument, match=r"steps must be >= 1; got 0"):
        rt.assert_memory_at_least(linear(0.9), 0)


# --------------------------------------------------------------------------- bounds
@settings(max_examples=20, deadline=None)
@given(rs.trajectories(rs.models(max_hidden=4, min_gain=0.3, max_gain=3.0), max_length=20, batch=2))
def test_the_bound_chain_holds_on_drawn_models(traj):
    rt.assert_bound_holds(traj)


class _WrongJacobian(VanillaRNN):
    """A vanilla RNN whose analytic step Jacobian is twice the true one."""

    def step_jacobian(self, x, state, t=0):
        return 2 * super().step_jacobian(x, state, t)


def test_a_wrong_step_jacobian_breaks_the_chain_and_is_caught_against_autograd():
    model = _WrongJacobian(4, 1, nonlinearity="tanh", init="orthogonal", gain=0.9, seed=0)
    message = failure(rt.assert_bound_holds, model, X30[:10])
    # G and B_prod use the (wrong) Jacobians; B_W uses the weights: B_prod = 2^k·B_W at lag k
    assert message.startswith("gradient bound chain violated at lag k = 10: B_prod(k) = ")
    assert f"by a factor {g3(2.0 ** 10)} > 1 + rtol" in message
    assert message.endswith("hint: these bounds hold for any correct step Jacobian: check the model's step_jacobian "
                            "against autograd with assert_jacobian_close(model, 'autograd', inputs)")
    message = failure(rt.assert_jacobian_close, model, "autograd", X30[:10])
    assert message.startswith("step Jacobians differ at step t = ")
    assert "analytic step_jacobian of vanilla-tanh gives" in message and "torch.func autograd gives" in message
    assert "hint: the closed-form step_jacobian of 'vanilla-tanh' is wrong at row" in message


def test_user_bounds():
    model = linear(0.5)
    rt.assert_bound_holds(model, X30, bound=lambda k: 0.5**k)          # G(k) = 0.5^k, within rtol
    rt.assert_bound_holds(model, X30, bound=1.0)
    rt.assert_bound_holds(model, X30, bound=[0.5**k for k in range(1, 31)])
    message = failure(rt.assert_bound_holds, model, X30, bound=lambda k: 0.4**k)
    # the excess (0.5/0.4)^k is largest at the longest lag
    assert message.splitlines()[0] == (f"bound violated at lag k = 30: G(k) = {g3(0.5 ** 30)} > bound(30) = "
                                       f"{g3(0.4 ** 30)} (by a factor {g3(1.25 ** 30)}; 30 of 30 lags violate it)")
    # with a loss, the raw gradient norm: L = 3·h_T[0] gives g(k) = 3·0.5^k
    rt.assert_bound_holds(model, X30, bound=lambda k: 3 * 0.5**k, loss=lambda h: 3 * h[0], rtol=1e-9)
    message = failure(rt.assert_bound_holds, model, X30, bound=lambda k: 2.9 * 0.5**k, loss=lambda h: 3 * h[0])
    assert message.startswith("bound violated at lag k = ") and ": g(k) = " in message


@pytest.mark.parametrize("bound, message", [
    ([1.0, 2.0], r"bound must hold one value per lag k = 1…30 \(30 values\); got 2"),
    (lambda k: torch.ones(3), r"bound\(k\) must return one value per lag k = 1…30 \(shape \(30,\)\); got shape \(3,\)"),
    (-1.0, r"bound values must be >= 0"),
    ("tight", r"bound must be a callable, a number or 30 values; got str"),
    (True, r"bound must be a callable, a number or 30 values; got True"),
])
def test_invalid_bounds(bound, message):
    with pytest.raises(InvalidArgument, match=message):
        rt.assert_bound_holds(linear(0.5), X30, bound=bound)


# --------------------------------------------------------------------------- isometry
def test_near_isometry_closed_forms():
    rt.assert_near_isometry(linear(1.0), X30, tol=1e-9)
    # tanh at the origin with zero inputs: σ′ = 1, so the products are exactly orthogonal
    tanh = rnnprobe.build("vanilla-tanh", hidden_size=5, init="orthogonal", gain=1.0, seed=0)
    rt.assert_near_isometry(tanh, torch.zeros(20, 1), tol=1e-9)
    # gain 1.05: every singular value of the k-step product is 1.05^k; 1.05 <= 1.1 < 1.05^2
    model = linear(1.05)
    rt.assert_near_isometry(model, X30, lags=1)
    message = failure(rt.assert_near_isometry, model, X30, lags=[1, 2, 5])
    assert message.splitlines()[0] == (f"the Jacobian product is not a near-isometry at lag k = 5: its singular values "
                                       f"span [{g3(1.05 ** 5)}, {g3(1.05 ** 5)}], outside [1/(1+tol), 1+tol] = "
                                       "[0.909, 1.1] (tol = 0.1; 2 of 3 checked lags fail)")
    with rt.override_defaults(isometry_tol=0.3):
        rt.assert_near_isometry(model, X30, lags=[1, 2, 5])
    with pytest.raises(InvalidArgument, match=r"lags must be <= 30; got 31"):
        rt.assert_near_isometry(model, X30, lags=[31])


def test_driven_tanh_is_not_an_isometry():
    tanh = rnnprobe.build("vanilla-tanh", hidden_size=6, init="orthogonal", gain=1.0, seed=0)
    message = failure(rt.assert_near_isometry, tanh, X30)
    assert message.startswith("the Jacobian product is not a near-isometry at lag k = 30")
    assert "σ_min(k) = smallest singular value at lags" in message
    assert "hint: dynamical isometry needs every singular value of W_h near 1/γ" in message


# --------------------------------------------------------------------------- Jacobians
@settings(max_examples=25, deadline=None)
@given(rs.trajectories(rs.models(architectures=sorted(rnnprobe.architectures), max_hidden=3, max_depth=4),
                       max_length=6, batch=2))
def test_analytic_jacobians_match_autograd_on_drawn_models(traj):
    rt.assert_jacobian_close(traj, "autograd", rtol=1e-9, atol=1e-12)


def test_torch_gru_matches_gru_torch_but_not_the_lecture_gru():
    torch.manual_seed(0)
    gru = nn.GRU(2, 3)
    x = rs.seeded_sequence(6, 2)
    ours = rnnprobe.build("gru-torch", hidden_size=3, input_size=2)
    lecture = rnnprobe.build("gru", hidden_size=3, input_size=2)
    for model in (ours, lecture):
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(model, name).copy_(getattr(gru, f"{name}_l0").double())
    rt.assert_jacobian_close(gru, ours, x, rtol=1e-5, atol=1e-6)       # the module is float32
    message = failure(rt.assert_jacobian_close, gru, lecture, x, rtol=1e-5, atol=1e-6)
    assert message.startswith("step Jacobians differ at step t = ")
    assert "a = gru-torch (GRU layer 0) gives" in message and "b = gru gives" in message
    assert "the forward passes already differ: from state s_1 on (largest difference " in message
    assert message.endswith("hint: compare the two models' weights and conventions (e.g. 'gru' puts the reset gate "
                            "before U, 'gru-torch' and torch.nn.GRU after it)")


def test_an_lstm_cell_matches_the_lstm_module_with_the_same_weights():
    torch.manual_seed(1)
    lstm = nn.LSTM(2, 4)
    cell = nn.LSTMCell(2, 4)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(lstm, f"{name}_l0"))
    rt.assert_jacobian_close(lstm, rnnprobe.CellAdapter(cell), rs.seeded_sequence(5, 2, batch=2), rtol=1e-5, atol=1e-6)


def test_jacobian_close_on_tensors():
    a = torch.eye(3, dtype=torch.float64)
    rt.assert_jacobian_close(a, a + 1e-12)
    b = a.clone()
    b[1, 2] = 0.5
    message = failure(rt.assert_jacobian_close, a, b)
    assert message == ("Jacobians differ at index (1, 2): a = 0, b = 0.5, |a − b| = 0.5 > atol + rtol·|b| = 5.01e-08 "
                       "(rtol = 1e-07, atol = 1e-10)\n  1 of 9 entries differ; largest |a − b| = 0.5")
    with rt.override_defaults(atol=1.0):
        rt.assert_jacobian_close(a, b)
    assert failure(rt.assert_jacobian_close, a, a[:2]) == "Jacobians differ in shape: a (3, 3) vs b (2, 3)"
    nan = a.clone()
    nan[0, 0] = math.nan
    assert failure(rt.assert_jacobian_close, nan, a).startswith("Jacobians differ at index (0, 0): a = nan")


def test_jacobian_close_argument_checks():
    model = linear(0.5)
    with pytest.raises(InvalidArgument, match=r"b must be one of 'autograd'; got 'autograds'"):
        rt.assert_jacobian_close(model, "autograds", X30)
    with pytest.raises(InvalidArgument, match=r"b must be a model like the other argument"):
        rt.assert_jacobian_close(model, torch.eye(4), X30)
    message = failure(rt.assert_jacobian_close, model, linear(0.5, n=3), X30)
    assert message.startswith("the models' Jacobians cannot match: (steps, batch, state size) = (30, 1, 4)")


# --------------------------------------------------------------------------- Lyapunov, Pascanu
def test_lyapunov_exponent_closed_forms():
    rt.assert_lyapunov_exponent_below(linear(0.9), X30)                         # λ₁ = log 0.9
    message = failure(rt.assert_lyapunov_exponent_below, linear(0.9), X30, value=-0.2)
    assert message.splitlines()[0] == (f"top Lyapunov exponent λ₁ = {g3(math.log(0.9))} per step is not below -0.2: "
                                       "perturbations do not shrink fast enough")
    assert message.splitlines()[1] == f"  Lyapunov time −1/λ₁ = {g3(-1 / math.log(0.9))} steps (T = 30, burn-in 3)"
    message = failure(rt.assert_lyapunov_exponent_below, linear(1.1), X30)
    assert message.startswith(f"top Lyapunov exponent λ₁ = {g3(math.log(1.1))} per step is not below 0: nearby states "
                              "diverge: the dynamics are chaotic")
    assert message.endswith("hint: σ_max(W_h)·γ = 1.1: a gain below 1/γ = 1 makes every step contract")


def test_pascanu_criterion():
    rt.assert_pascanu_vanishing(rnnprobe.build("vanilla-sigmoid", hidden_size=8, init="orthogonal", gain=3.0))
    message = failure(rt.assert_pascanu_vanishing, rnnprobe.build("vanilla-tanh", hidden_size=8, init="orthogonal", gain=1.5))
    assert message.splitlines()[0] == ("σ_max(W_h) = 1.5 >= 1/γ = 1: Pascanu et al.'s (2013) sufficient condition for "
                                       "vanishing gradients does not hold")
    assert message.endswith("hint: scale W_h by a factor below 0.667 (e.g. orthogonal init with gain < 1) if gradients "
                            "must vanish for every input")
    with pytest.raises(InvalidArgument, match=r"model must have step Jacobians D·W_h"):
        rt.assert_pascanu_vanishing(rnnprobe.build("lstm", hidden_size=4))


def test_assertions_accept_torch_modules_and_cells():
    torch.manual_seed(0)
    rnn = nn.RNN(1, 5)
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(0.5 * torch.linalg.qr(torch.randn(5, 5))[0])
    x = X30.float()
    rt.assert_gradients_vanish(rnn, x, within=10)
    rt.assert_gradients_do_not_explode(rnn, x)
    rt.assert_pascanu_vanishing(rnn)
    rt.assert_gradients_do_not_explode(rnnprobe.CellAdapter(nn.GRUCell(1, 3)), x)
