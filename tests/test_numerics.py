"""Huge and tiny finite weights and inputs: every probe is exact in log space or says why not, never NaN.

The rule (README, "Numerics"): every probe returns finite numbers, exact zeros (``-inf`` in log) or
documented infinities (an e-folding or Lyapunov time of a non-decaying net) for finite inputs; values
beyond the dtype's largest float come back only as logs (``log=True``), and a call with
``log=False`` (or a probe without a log option) raises InvalidArgument instead of returning ``inf``;
values below the smallest float underflow to 0 with ``log=False``.

References here are independent of the probes' renormalised sweeps: closed forms (an orthogonal
linear RNN with gain g has every product singular value equal to g^k) and products formed in
mpmath, whose exponent range is unbounded, from autograd step Jacobians.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import mpmath
import pytest
import torch
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rnnprobe
from rnnprobe import testing as rt
from rnnprobe.cli import main
from rnnprobe.errors import InvalidArgument
from rnnprobe.linalg import log_norm, mul_pow2, pow2_normalize

F64, F32 = torch.float64, torch.float32
# the examples: the Frobenius renormalisation overflowed at these gains
HUGE = [(F64, 1e160), (F32, 1e19)]
TINY = [(F64, 1e-160), (F32, 1e-19)]


def _linear(dtype, gain, n=4):
    return rnnprobe.build("vanilla-linear", hidden_size=n, init="orthogonal", gain=gain, seed=0, dtype=dtype)


def _close(a, b, dtype, scale=1.0):
    """log values within rounding: float64 1e-12, float32 1e-5, relative to max(1, |b|)."""
    tol = (1e-12 if dtype == F64 else 1e-5) * max(1.0, float(torch.as_tensor(b).abs().max())) * scale
    return bool(((torch.as_tensor(a, dtype=F64) - torch.as_tensor(b, dtype=F64)).abs() <= tol).all())


# --------------------------------------------------------------------------- closed forms
@pytest.mark.parametrize("dtype, gain", HUGE + TINY)
def test_orthogonal_linear_rnn_at_extreme_gains_is_exact_in_log_space(dtype, gain):
    """W = g·Q (Q orthogonal), zero inputs: ∂s_T/∂s_t = W^k has every singular value g^k, k = T − t."""
    model, T = _linear(dtype, gain), 3
    traj = rnnprobe.record(model, torch.zeros(T, 1))
    want = traj.lags.to(F64) * math.log(gain)                                    # log g^k
    assert _close(rnnprobe.jacobian_norms(traj, log=True), want, dtype)
    assert _close(rnnprobe.jacobian_norms(traj, log=True, method="power"), want, dtype)
    sv = rnnprobe.jacobian_singular_values(traj, log=True)
    assert _close(sv, want[:, None].expand(T, 4), dtype)
    # the default readout u is a unit vector: ‖uᵀ W^k‖ = g^k too
    assert _close(rnnprobe.gradient_norms(traj, log=True), want, dtype)
    b = rnnprobe.gradient_bounds(traj, log=True)
    for field in (b.gradient, b.jacobian, b.product, b.weight):
        assert _close(field, want, dtype)
    assert b.holds(1e-9 if dtype == F64 else 1e-4)
    assert _close(rnnprobe.step_norms(traj, log=True), torch.full((T,), math.log(gain), dtype=F64), dtype)
    assert _close(rnnprobe.trajectory_lyapunov_spectrum(traj, burn_in=0), torch.full((4,), math.log(gain), dtype=F64), dtype)
    assert rnnprobe.weight_spectrum(model).sigma_max == pytest.approx(gain, rel=1e-12 if dtype == F64 else 1e-6)
    m = rnnprobe.memory_length(traj, burn_in=0)
    if gain > 1:          # G(k) = g^k >= eps at every lag: memory at least T
        assert (m.threshold, m.threshold_censored, m.efold, m.lyapunov_time) == (T, True, math.inf, math.inf)
    else:                 # G(1) = g < eps: no memory; decay rate −log g per step
        assert (m.threshold, m.threshold_censored) == (0, False)
        assert m.efold == pytest.approx(-1 / math.log(gain), rel=1e-5)
    assert m.slope == pytest.approx(math.log(gain), rel=1e-5)
    assert m.slope_low <= m.slope <= m.slope_high


@pytest.mark.parametrize("dtype, gain", HUGE)
def test_values_beyond_the_float_range_are_refused_without_log(dtype, gain):
    traj = rnnprobe.record(_linear(dtype, gain), torch.zeros(3, 1))
    calls = [lambda: rnnprobe.jacobian_norms(traj), lambda: rnnprobe.jacobian_singular_values(traj),
             lambda: rnnprobe.gradient_norms(traj), lambda: rnnprobe.gradient_bounds(traj)]
    for call in calls:
        with pytest.raises(InvalidArgument, match=r"log must be True here: .* exceeds the largest float.*got log=False"):
            call()
    # lag 1 alone is representable: G(T−1) = g
    with pytest.raises(InvalidArgument, match=r"start and stop must span a product jacobian_product can represent"):
        rnnprobe.jacobian_product(traj)
    one_step = rnnprobe.jacobian_product(traj, start=2, stop=3)
    assert torch.equal(one_step, traj.model.W_h.detach())
    assert rnnprobe.step_norms(traj)[0] == pytest.approx(gain, rel=1e-12 if dtype == F64 else 1e-5)


@pytest.mark.parametrize("dtype, gain", TINY)
def test_values_below_the_float_range_underflow_to_zero_without_log(dtype, gain):
    traj = rnnprobe.record(_linear(dtype, gain), torch.zeros(3, 1))
    G = rnnprobe.jacobian_norms(traj)                   # g^3 underflows, g^1 does not
    assert G[0] == 0.0 and G[-1] == pytest.approx(gain, rel=1e-6) and not bool(torch.isnan(G).any())
    assert bool((rnnprobe.jacobian_product(traj) == 0).all())
    assert torch.equal(rnnprobe.jacobian_product(traj, start=2), traj.model.W_h.detach())


@pytest.mark.parametrize("dtype, gain", HUGE)
def test_assertions_fail_on_exploding_huge_weights(dtype, gain):
    """They passed on NaN: comparisons with NaN are all false."""
    model, x = _linear(dtype, gain), torch.zeros(3, 1)
    with pytest.raises(AssertionError, match=r"gradients explode \(criterion max_norm = 10\): G\(k\) = .* > max_norm"):
        rt.assert_gradients_do_not_explode(model, x, max_norm=10)
    with pytest.raises(AssertionError, match=r"gradients do not vanish within 3 steps"):
        rt.assert_gradients_vanish(model, x)
    with pytest.raises(AssertionError, match=r"memory is longer than 1 steps: threshold memory length 3"):
        rt.assert_memory_at_most(model, 1, x)
    rt.assert_memory_at_least(model, 2, x)
    with pytest.raises(AssertionError, match=r"cannot certify a memory of 3 steps: the measurement is censored at T = 3"):
        rt.assert_memory_at_least(model, 3, x)
    rt.assert_bound_holds(model, x, rtol=1e-9 if dtype == F64 else 1e-4)


def test_probe_command_measures_huge_gains():
    """`rnnprobe probe` printed "memory length 0 steps" (from NaN) with exit 0."""
    result = CliRunner().invoke(main, ["probe", "vanilla-linear", "--gain", "1e160", "--length", "2", "--hidden", "3"])
    assert result.exit_code == 0, result.output
    assert "memory length      2 steps at eps = 0.01 (censored: all lags pass)" in result.output
    assert "nan" not in result.output.lower()


# --------------------------------------------------------------------------- exact scaling helpers
@given(st.floats(min_value=-1e308, max_value=1e308, allow_subnormal=True), st.integers(-1200, 1200))
def test_pow2_helpers_are_exact(x, shift):
    t = torch.tensor([[x, x / 3]], dtype=F64)
    t_hat, e = pow2_normalize(t)
    assert torch.equal(mul_pow2(t_hat, e), t)
    if x != 0:
        assert 0.5 <= float(t_hat.abs().max()) < 1.0
        assert float(log_norm(t, dim=(-2, -1))) == pytest.approx(
            float(mpmath.log(mpmath.sqrt(mpmath.mpf(x) ** 2 + mpmath.mpf(x / 3) ** 2))), rel=1e-14, abs=1e-14)
    # x · 2^shift, exactly where representable (the reference is exact rational arithmetic)
    ref = mpmath.ldexp(mpmath.mpf(x), shift)
    got = float(mul_pow2(torch.tensor(x, dtype=F64), torch.tensor(shift)))
    if abs(ref) > 1.7976931348623157e308:
        assert math.isinf(got)
    elif abs(ref) >= 2.0**-1022:
        assert got == float(ref)


# --------------------------------------------------------------------------- the property
def _mp_reference(traj):
    """log G(t) and log g(t) per start step from mpmath products of autograd step Jacobians (sequence 0)."""
    model = traj.model
    with torch.enable_grad():
        J = torch.stack([model.autograd_step_jacobian(traj.inputs[t], traj.states[t], t).detach()[0]
                         for t in range(traj.length)]).to(F64)
    u = rnnprobe.gradients.final_gradient(traj)[0].to(F64)
    T, S = J.shape[0], J.shape[1]
    log_G, log_g = [0.0] * T, [0.0] * T
    with mpmath.workdps(40):
        P = mpmath.eye(S)
        for t in range(T - 1, -1, -1):
            P = P * mpmath.matrix(J[t].tolist())
            sv = mpmath.svd_r(P, compute_uv=False)
            top = max(sv[i] for i in range(S))
            log_G[t] = float(mpmath.log(top)) if top != 0 else -math.inf
            row = mpmath.matrix([u.tolist()]) * P
            norm = mpmath.sqrt(sum(row[0, j] ** 2 for j in range(S)))
            log_g[t] = float(mpmath.log(norm)) if norm != 0 else -math.inf
    return torch.tensor(log_G, dtype=F64), torch.tensor(log_g, dtype=F64)


def _agree(est, ref, dtype):
    """Equal logs: ``-inf`` (an exact zero) at the same places, else within rounding relative to the magnitude."""
    est = est.to(F64)
    eps = 1e-9 if dtype == F64 else 2e-4
    for e, r in zip(est.tolist(), ref.tolist()):
        if r == -math.inf or e == -math.inf:
            assert e == r, (est, ref)
        else:
            assert abs(e - r) <= eps * max(1.0, abs(r)), (est, ref)


GAIN_EXPONENTS = {F64: (-300, 300), F32: (-30, 30)}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), arch=st.sampled_from(sorted(rnnprobe.architectures)),
       dtype=st.sampled_from([F64, F32]), n=st.integers(1, 3), T=st.integers(1, 4),
       scale=st.sampled_from([0.0, 1e-200, 1e-3, 1.0, 1e6, 1e200]))
def test_no_probe_returns_nan_for_finite_inputs_at_any_gain(data, arch, dtype, n, T, scale):
    """For gains 10^−300 … 10^300 (float32: 10^−30 … 10^30), log-uniform: no probe returns NaN, and
    log G(t), log g(t) equal mpmath's log-norms of the explicit products of autograd step Jacobians.

    Tolerance 1e-9 (float32: 2e-4) relative to max(1, |log|): the probes' float64 rounding
    over T <= 4 steps is ~1e-15 per step; in float32 the Jacobians themselves carry ~1e-7.
    """
    lo, hi = GAIN_EXPONENTS[dtype]
    gain = 10.0 ** data.draw(st.floats(lo, hi), label="log10 gain")
    feedforward = arch in rnnprobe.architectures.feedforward()
    options = {"depth": T} if feedforward else {}
    model = rnnprobe.build(arch, hidden_size=n, gain=gain, seed=data.draw(st.integers(0, 3), label="seed"),
                           dtype=dtype, **options)
    x = torch.randn((n,) if feedforward else (T, 1), generator=torch.Generator().manual_seed(0), dtype=F64) * scale
    try:
        traj = rnnprobe.record(model, x)
    except InvalidArgument as err:                         # the forward pass overflows: said, not silent
        assert "NaN/Inf" in str(err)
        return
    results = {
        "G": rnnprobe.jacobian_norms(traj, log=True),
        "G_power": rnnprobe.jacobian_norms(traj, log=True, method="power"),
        "sv": rnnprobe.jacobian_singular_values(traj, log=True),
        "g": rnnprobe.gradient_norms(traj, log=True),
        "steps": rnnprobe.step_norms(traj, log=True),
        "lyap": rnnprobe.trajectory_lyapunov_spectrum(traj, burn_in=0),
        "sigma": torch.tensor([b.spectral_norm for b in rnnprobe.weight_spectrum(model).blocks.values()]),
    }
    b = rnnprobe.gradient_bounds(traj, log=True)
    results.update({f"bound_{k}": v for k, v in vars(b).items() if isinstance(v, torch.Tensor)})
    m = rnnprobe.memory_length(traj, burn_in=0)
    results["memory"] = torch.tensor([float(v) for v in m.as_dict().values()])
    if arch in ("resmlp", "residual"):
        try:
            results["paths"] = rnnprobe.path_lengths(traj).distribution
        except InvalidArgument as err:                     # path sums beyond the float range: said
            assert "exceeds the largest" in str(err)
    if not feedforward and model.input_size >= 1 and T == 4:
        try:
            with warnings.catch_warnings():          # degenerate drawn reservoirs say so; not the point here
                warnings.simplefilter("ignore", rnnprobe.CapacityResolutionWarning)
                results["capacity"] = rnnprobe.memory_capacity(model, max_lag=3, n_samples=60, washout=5).per_lag
        except InvalidArgument as err:
            assert "NaN/Inf" in str(err)
    # without logs: the values, or InvalidArgument naming log where one exceeds the float range; never inf
    for name, call in [("G", lambda: rnnprobe.jacobian_norms(traj)), ("sv", lambda: rnnprobe.jacobian_singular_values(traj)),
                       ("g", lambda: rnnprobe.gradient_norms(traj)), ("steps", lambda: rnnprobe.step_norms(traj)),
                       ("bounds", lambda: rnnprobe.gradient_bounds(traj).product),
                       ("P", lambda: rnnprobe.jacobian_product(traj))]:
        try:
            value = call()
        except InvalidArgument as err:
            assert "log must be True here" in str(err) or "start and stop must span" in str(err), err
            continue
        assert bool(torch.isfinite(value).all()), (name, value)
        results[name + "_nolog"] = value
    for key, value in results.items():
        assert not bool(torch.isnan(value).any()), (key, value)
    assert not bool(torch.isinf(results["G"]).logical_and(results["G"] > 0).any())
    ref_G, ref_g = _mp_reference(traj)
    _agree(results["G"], ref_G, dtype)
    _agree(results["sv"][:, 0], ref_G, dtype)
    _agree(results["g"], ref_g, dtype)


# --------------------------------------------------------------------------- assertions on non-finite measures
def _nan_like(real):
    def probe(traj, *args, **kwargs):
        out = real(traj, *args, **kwargs)
        if isinstance(out, torch.Tensor):
            return torch.full_like(out, math.nan)
        return dataclasses.replace(out, **{k: torch.full_like(v, math.nan) for k, v in vars(out).items()
                                           if isinstance(v, torch.Tensor)})
    return probe


@pytest.mark.parametrize("patched, call", [
    ("jacobian_norms", lambda m, x: rt.assert_gradients_do_not_explode(m, x, max_norm=10)),
    ("jacobian_norms", lambda m, x: rt.assert_gradients_vanish(m, x, within=1)),
    ("jacobian_norms", lambda m, x: rt.assert_memory_at_most(m, 1, x)),
    ("jacobian_norms", lambda m, x: rt.assert_memory_at_least(m, 1, x)),
    ("jacobian_norms", lambda m, x: rt.assert_bound_holds(m, x, bound=1e9)),
    ("gradient_norms", lambda m, x: rt.assert_gradients_do_not_explode(m, x, loss=lambda h: h.sum())),
    ("gradient_bounds", lambda m, x: rt.assert_bound_holds(m, x)),
    ("jacobian_singular_values", lambda m, x: rt.assert_near_isometry(m, x, tol=1e9)),
    ("trajectory_lyapunov_spectrum", lambda m, x: rt.assert_lyapunov_exponent_below(m, x, 1e9)),
    ("trajectory_lyapunov_spectrum", lambda m, x: rt.assert_memory_at_least(m, 1, x, measure="lyapunov_time")),
])
def test_every_assertion_fails_loudly_on_a_non_finite_measure(monkeypatch, patched, call):
    """A NaN compares false with every bound: each helper must fail on it, not pass.

    The probes no longer return NaN for finite inputs (see above), so the NaN is injected.
    """
    monkeypatch.setattr(rt, patched, _nan_like(getattr(rt, patched)))
    model = rnnprobe.build("vanilla-tanh", hidden_size=3, gain=0.5, seed=0)
    with pytest.raises(AssertionError, match=r"is not finite: nan"):
        call(model, torch.randn(6, 1, generator=torch.Generator().manual_seed(0), dtype=F64))
