"""rnnprobe.theory.diagonal and rnnprobe.theory.memory_curse against rnnprobe's measurements.

Tolerances: exact identities to rounding; laws of large numbers with five standard errors computed from the
same run; distributions by Kolmogorov–Smirnov tests at α = 1e-3; moments of Gaussian samples (a quadratic form
of white noise is Gaussian, so the relative standard error of a mean square over B draws is √(2/B)) within five
standard errors.
"""

import math

import numpy as np
import pytest
import scipy.stats
import torch

import rnnprobe
from rnnprobe.errors import InvalidArgument
from rnnprobe.theory import diagonal as th
from rnnprobe.theory import memory_curse as mc

F64 = torch.float64


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


# --------------------------------------------------------------------------- linear diagonal recurrences
@pytest.mark.parametrize("name, kw", [("lru", dict(r_min=0.6, r_max=0.97)), ("s4d", dict(dt_max=0.3)),
                                      ("lru", dict(r_min=0.9, r_max=0.999, gain=1.2))])
def test_jacobian_norms_are_max_modulus_powers(name, kw):
    model = rnnprobe.build(name, hidden_size=8, input_size=2, seed=3, bias_std=0.3, **kw)
    traj = rnnprobe.record(model, _randn(300, 2, seed=1))
    lam = model.eigenvalues() if name == "lru" else torch.diag(model.recurrent_weights()["A_bar"])
    lags = traj.lags.numpy()
    np.testing.assert_allclose(rnnprobe.jacobian_norms(traj, log=True).numpy(),
                               th.diagonal_jacobian_norms(lam.numpy(), lags, log=True), rtol=1e-11, atol=1e-12)
    # the general sweep agrees with the closed form too (it is the measurement the fast path replaces)
    np.testing.assert_allclose(rnnprobe.jacobian_norms(traj, log=True, diagonal=False).numpy(),
                               th.diagonal_jacobian_norms(lam.numpy(), lags, log=True), rtol=1e-9, atol=1e-9)
    efold = th.diagonal_efold_time(lam.numpy())
    measured = rnnprobe.memory_length(traj).efold
    assert measured == pytest.approx(efold, rel=1e-8) if math.isfinite(efold) else measured == math.inf


def test_diagonal_closed_form_edge_cases():
    assert th.diagonal_efold_time([0.0, 0.0]) == 0.0 and th.diagonal_efold_time([1.0, 0.5]) == math.inf
    assert th.diagonal_efold_time([0.5j]) == pytest.approx(1 / math.log(2))
    assert th.diagonal_jacobian_norms([0.0], [0, 1, 2]).tolist() == [1.0, 0.0, 0.0]
    with pytest.raises(InvalidArgument, match=r"eigenvalues must be a non-empty array of finite numbers"):
        th.diagonal_efold_time([])
    with pytest.raises(InvalidArgument, match=r"eigenvalues must be .*finite.*nan"):
        th.diagonal_jacobian_norms([math.nan], [1])


def test_lru_ring_spreads_timescales_as_predicted():
    """Per-unit timescales measured from the Jacobian products (2000 units) follow the ring's law."""
    r_min, r_max = 0.5, 0.99
    lru = rnnprobe.build("lru", hidden_size=2000, r_min=r_min, r_max=r_max, seed=0)
    traj = rnnprobe.record(lru, _randn(40, 1, seed=2))
    k = traj.length
    log_sigma = rnnprobe.block_singular_values(traj, log=True)[0, :, 0]          # lag T, per unit
    tau = (-k / log_sigma).numpy()                                              # −1/log|λ_j|, measured
    ks = scipy.stats.kstest(tau, lambda t: th.ring_timescale_cdf(t, r_min, r_max))
    assert ks.pvalue > 1e-3, ks
    # the quantiles bound the spread: median and extremes
    lo, med, hi = th.ring_timescale_quantile([0.0, 0.5, 1.0], r_min, r_max)
    assert lo <= tau.min() and tau.max() <= hi
    assert np.median(tau) == pytest.approx(med, rel=0.1)
    assert lo == pytest.approx(-1 / math.log(r_min)) and hi == pytest.approx(-1 / math.log(r_max))


def test_ring_distribution_functions():
    r = np.linspace(0.0, 1.0, 11)
    cdf = th.ring_modulus_cdf(r, 0.3, 0.8)
    assert cdf[0] == 0 and cdf[-1] == 1 and np.all(np.diff(cdf) >= 0)
    q = np.linspace(0, 1, 7)
    tau = th.ring_timescale_quantile(q, 0.3, 0.8)
    np.testing.assert_allclose(th.ring_timescale_cdf(tau, 0.3, 0.8), q, atol=1e-12)
    assert th.ring_modulus_cdf([0.69, 0.7, 0.71], 0.7, 0.7).tolist() == [0.0, 1.0, 1.0]
    assert th.ring_timescale_quantile(1.0, 0.5, 1.0) == math.inf
    with pytest.raises(InvalidArgument, match=r"r_min must be <= r_max .*got r_min=0.9 > r_max=0.5"):
        th.ring_timescale_cdf(3.0, 0.9, 0.5)
    with pytest.raises(InvalidArgument, match=r"q must lie in \[0, 1\]; got \[1.5\]"):
        th.ring_timescale_quantile([1.5], 0.3, 0.8)


# --------------------------------------------------------------------------- input-gated forgetting
def _gate_stats(W, b, rows):
    """Means and standard deviations of the pre-activations w_j·x + b_j for x ~ N(0, I)."""
    return b[rows], np.linalg.norm(W[rows], axis=1)


@pytest.mark.parametrize("name", ["mingru", "minlstm"])
def test_min_gated_memory_follows_the_gate_statistics(name):
    """Per unit, log ∏(kept fraction)/T → −r_j (five standard errors); the memory is 1/min_j r_j."""
    n, d, T = 20, 3, 4000
    kw = dict(update_bias=-1.0) if name == "mingru" else dict(forget_bias=1.0)
    model = rnnprobe.build(name, hidden_size=n, input_size=d, seed=1, bias_std=0.5, **kw)
    x = _randn(T, d, seed=5)
    traj = rnnprobe.record(model, x)
    measured = -rnnprobe.block_singular_values(traj, log=True)[0, :, 0].numpy() / T      # per-unit rates
    W, b = model.weight.detach().numpy(), model.bias.detach().numpy()
    if name == "mingru":
        predicted = np.array([th.mingru_decay_rate(b[j], np.linalg.norm(W[j])) for j in range(n)])
        kept = 1 - model.update_gate(x).detach()
    else:
        nf, ni = np.linalg.norm(W[:n], axis=1), np.linalg.norm(W[n : 2 * n], axis=1)
        corr = np.einsum("ij,ij->i", W[:n], W[n : 2 * n]) / (nf * ni)
        predicted = np.array([th.minlstm_decay_rate(b[j], b[n + j], nf[j], ni[j], corr[j]) for j in range(n)])
        kept = model.gates(x)[0].detach()
    se = torch.log(kept).std(0).numpy() / math.sqrt(T)
    assert np.all(np.abs(measured - predicted) <= 5 * se), (measured, predicted, se)
    # the memory of the whole net: the slowest unit (Theil–Sen over every lag; slack 1% for the max over units)
    slowest = int(np.argmin(predicted))
    rel_se = se[slowest] / predicted[slowest]
    assert rnnprobe.memory_length(traj).efold == pytest.approx(th.gated_efold_time(predicted), rel=5 * rel_se + 0.01)


def test_gated_rates_closed_forms():
    # no input (std 0): the rate is −log of the kept fraction at the bias
    assert th.mingru_decay_rate(-2.0, 0.0) == pytest.approx(-math.log(1 - 1 / (1 + math.exp(2.0))), rel=1e-13)
    sf, si = 1 / (1 + math.exp(-1.5)), 1 / (1 + math.exp(0.5))
    assert th.minlstm_decay_rate(1.5, -0.5, 0.0, 0.0) == pytest.approx(-math.log(sf / (sf + si)), rel=1e-12)
    assert th.mingru_decay_rate(0.0, 0.0, gain=2.0) == pytest.approx(math.log(2) - math.log(2), abs=1e-14)
    # E softplus(a) by Monte Carlo (10⁶ draws; 5 standard errors)
    a = np.random.default_rng(0).normal(0.3, 1.7, 1_000_000)
    sp = np.logaddexp(0, a)
    assert th.softplus_mean(0.3, 1.7) == pytest.approx(sp.mean(), abs=5 * sp.std() / 1000)
    assert th.gated_efold_time([0.5, 0.25]) == 4.0 and th.gated_efold_time([0.1, -0.1]) == math.inf
    with pytest.raises(InvalidArgument, match=r"std must lie in \[0, inf\); got -1.0"):
        th.softplus_mean(0.0, -1.0)
    with pytest.raises(InvalidArgument, match=r"correlation must lie in \[-1, 1\]; got 2.0"):
        th.minlstm_decay_rate(0.0, 0.0, 1.0, 1.0, 2.0)
    with pytest.raises(InvalidArgument, match=r"gain must lie in \(0, inf\); got 0.0"):
        th.mingru_decay_rate(0.0, 1.0, gain=0.0)


def test_s6_forgetting_factors_vary_with_the_input_as_predicted():
    """Selectivity: each unit's per-step factor exp(Δ_t A) over 3000 Gaussian inputs follows the law of
    softplus of a Gaussian pre-activation (KS at α = 1e-3, per unit); s4d's does not move at all."""
    D, N, d, T = 2, 3, 2, 3000
    s6 = rnnprobe.build("s6", hidden_size=D * N, input_size=d, state_dim=N, seed=4, bias_std=0.3, dt_max=0.5,
                        gain=0.9)
    x = _randn(T, d, seed=6)
    traj = rnnprobe.record(s6, x)
    factors = s6.jacobian_blocks(traj.inputs, traj.states)[:, 0, :, 0, 0].detach().numpy()     # (T, D·N)
    with torch.no_grad():
        W_in, b_in, W_d, b_d = (p.numpy() for p in (s6.W_in, s6.b_in, s6.W_delta, s6.b_delta))
        A = s6.A().numpy()
    mean = W_d @ b_in + b_d                              # p = W_Δ (W_in x + b_in) + b_Δ, x ~ N(0, I)
    std = np.sqrt(np.diag(W_d @ W_in @ W_in.T @ W_d.T))
    for c in range(D):
        for k in range(N):
            law = lambda y: th.selective_factor_cdf(y, A[c, k], mean[c], std[c], gain=0.9)  # noqa: E731
            ks = scipy.stats.kstest(factors[:, c * N + k], law)
            assert ks.pvalue > 1e-3, (c, k, ks)
            rate = th.selective_decay_rate(A[c, k], mean[c], std[c], gain=0.9)
            logs = np.log(factors[:, c * N + k])
            assert -logs.mean() == pytest.approx(rate, abs=5 * logs.std() / math.sqrt(T))
    spread = factors.std(0)
    assert np.all(spread > 1e-3)                                      # the spectrum moves with the input
    s4d = rnnprobe.build("s4d", hidden_size=D * N, input_size=d, state_dim=N, seed=4, bias_std=0.3)
    traj4 = rnnprobe.record(s4d, x)
    with torch.no_grad():
        fixed = s4d.jacobian_blocks(traj4.inputs, traj4.states)[:, 0, :, 0, 0]
    assert float(fixed.std(0).max()) == 0.0


def test_selective_factor_cdf_edges():
    assert th.selective_factor_cdf([-1.0, 0.0, 1.0, 2.0], -1.0, 0.0, 1.0).tolist()[:2] == [0.0, 0.0]
    assert th.selective_factor_cdf(1.0, -1.0, 0.0, 1.0) == 1.0
    # std 0: a step at exp(softplus(mean)·A)
    y0 = math.exp(math.log1p(math.exp(0.2)) * -2.0)
    assert th.selective_factor_cdf([y0 * 0.999, y0 * 1.001], -2.0, 0.2, 0.0).tolist() == [0.0, 1.0]
    with pytest.raises(InvalidArgument, match=r"A must lie in \(-inf, 0\); got 0.5"):
        th.selective_factor_cdf(0.5, 0.5, 0.0, 1.0)


# --------------------------------------------------------------------------- the curse of memory
def test_memory_curse_formulas_against_direct_sums():
    for lam in (-0.6, 0.3, 0.9, 0.99):
        k = np.arange(20000, dtype=float)
        assert mc.state_variance(lam) == pytest.approx(float((lam ** (2 * k)).sum()), rel=1e-12)
        assert mc.lambda_sensitivity(lam) == pytest.approx(float((k**2 * lam ** (2 * np.maximum(k - 1, 0))).sum()),
                                                           rel=1e-10)
        assert mc.lambda_sensitivity(lam) == pytest.approx((1 + lam**2) / (1 - lam**2) ** 3, rel=1e-12)
        assert mc.state_variance(lam, normalization="lru") == pytest.approx(1.0, rel=1e-12)
        assert mc.lambda_sensitivity(lam, normalization="coupled") == pytest.approx(1 / (1 - lam**2) ** 2, rel=1e-10)
        assert mc.lambda_sensitivity(lam, horizon=20000) == pytest.approx(mc.lambda_sensitivity(lam), rel=1e-10)
    # the blow-up as λ → 1, and the exponential parametrisation taming it (limits 1/2 and 1/4)
    near = [0.9, 0.99, 0.999, 0.9999]
    assert np.all(np.diff([mc.lambda_sensitivity(x, normalization="lru") for x in near]) > 0)
    assert mc.lambda_sensitivity(1 - 1e-7, normalization="lru", parametrization="exp") == pytest.approx(0.5, rel=1e-5)
    assert mc.lambda_sensitivity(1 - 1e-7, normalization="coupled", parametrization="exp") == pytest.approx(0.25,
                                                                                                           rel=1e-5)
    with pytest.raises(InvalidArgument, match=r"lam must lie in \(-1, 1\); got 1.0"):
        mc.state_variance(1.0)
    with pytest.raises(InvalidArgument, match=r"lam must lie in \(0, 1\) for parametrization='exp'.*got -0.5"):
        mc.lambda_sensitivity(-0.5, parametrization="exp")
    with pytest.raises(InvalidArgument, match=r"normalization must be one of 'none', 'lru', 'coupled'; got 'LRU'"):
        mc.state_variance(0.5, normalization="LRU")
    with pytest.raises(InvalidArgument, match=r"horizon must be >= 1; got 0"):
        mc.lambda_sensitivity(0.5, horizon=0)


B, T = 20000, 150


def _tolerance():
    return 5 * math.sqrt(2 / B)            # five standard errors of a Gaussian mean square, relative


@pytest.mark.parametrize("lam", [0.5, 0.9, 0.97])
def test_curse_of_memory_measured_on_a_linear_rnn(lam):
    """h' = λ h + x: E h_T² and E(∂h_T/∂λ)² measured over 20000 white-noise sequences (T = 150)."""
    model = rnnprobe.build("vanilla-linear", hidden_size=1, input_size=1, seed=0)
    with torch.no_grad():
        model.W_h.fill_(lam)
        model.W_x.fill_(1.0)
    x = _randn(T, B, 1, seed=7)
    h = rnnprobe.record(model, x).states[-1, :, 0]
    sens = rnnprobe.parameter_sensitivity(model, x, "W_h").flatten()
    assert float((h**2).mean()) == pytest.approx(mc.state_variance(lam, horizon=T), rel=_tolerance())
    assert float((sens**2).mean()) == pytest.approx(mc.lambda_sensitivity(lam, horizon=T), rel=_tolerance())


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("lam", [0.5, 0.9, 0.97])
def test_curse_of_memory_measured_on_the_lru(normalize, lam):
    """The LRU (one real unit, max_phase = 0, B = 1): γ normalisation makes E h² = 1 for every λ, and the
    exponential parametrisation's sensitivity E(∂h_T/∂ν)² is the formula's (γ a separate parameter: 'lru')."""
    lru = rnnprobe.build("lru", hidden_size=1, max_phase=0.0, normalize=normalize, seed=0)
    with torch.no_grad():
        lru.nu_log.fill_(math.log(-math.log(lam)))
        lru.B_re.fill_(1.0)
        if normalize:
            lru.gamma.fill_(math.sqrt(1 - lam**2))
    assert float(lru.eigenvalues().real) == pytest.approx(lam, rel=1e-14)
    x = _randn(T, B, 1, seed=8)
    h = rnnprobe.record(lru, x).hidden_states()[-1, :, 0]
    sens = rnnprobe.parameter_sensitivity(lru, x, "nu_log").flatten()
    norm = "lru" if normalize else "none"
    assert float((h**2).mean()) == pytest.approx(mc.state_variance(lam, normalization=norm, horizon=T),
                                                 rel=_tolerance())
    predicted = mc.lambda_sensitivity(lam, normalization=norm, parametrization="exp", horizon=T)
    assert float((sens**2).mean()) == pytest.approx(predicted, rel=_tolerance())


def test_coupled_normalisation_measured_by_autograd():
    """γ(λ) = √(1 − λ²) differentiated with λ: E(∂h_T/∂λ)² = 1/(1 − λ²)² (stationary), by plain autograd."""
    lam = 0.9
    x = _randn(T, B, seed=9)
    # per-sequence derivatives: sequence b has its own copy λ_b of the parameter, so ∂(Σ_b h_b)/∂λ_b = ∂h_b/∂λ
    ps = torch.full((B,), lam, dtype=F64, requires_grad=True)
    h = torch.zeros(B, dtype=F64)
    for t in range(T):
        h = ps * h + torch.sqrt(1 - ps**2) * x[t]
    (d,) = torch.autograd.grad(h.sum(), ps)
    assert float((h.detach() ** 2).mean()) == pytest.approx(mc.state_variance(lam, normalization="coupled",
                                                                               horizon=T), rel=_tolerance())
    assert float((d**2).mean()) == pytest.approx(mc.lambda_sensitivity(lam, normalization="coupled", horizon=T),
                                                 rel=_tolerance())


def test_parameter_sensitivity_against_finite_differences_and_bad_names():
    model = rnnprobe.build("mingru", hidden_size=3, input_size=2, seed=1, bias_std=0.3)
    x = _randn(12, 2, 2, seed=10)
    J = rnnprobe.parameter_sensitivity(model, x, "bias")                       # (B, n, 2n)
    assert J.shape == (2, 3, 6)
    eps = 1e-6
    for j in (0, 4):
        with torch.no_grad():
            model.bias[j] += eps
            up = rnnprobe.record(model, x).states[-1]
            model.bias[j] -= 2 * eps
            down = rnnprobe.record(model, x).states[-1]
            model.bias[j] += eps
        torch.testing.assert_close(J[..., j], (up - down) / (2 * eps), rtol=1e-6, atol=1e-9)
    with pytest.raises(InvalidArgument, match=r"parameter must be one of 'weight', 'bias'; got 'wieght' "
                                              r"\(did you mean 'weight'\?\)"):
        rnnprobe.parameter_sensitivity(model, x, "wieght")


@pytest.mark.parametrize("k, n", [(1, 1), (1, 5), (3, 5), (5, 5), (2, 40), (40, 40)])
def test_order_statistic_mean_against_closed_forms(k, n):
    """Exponential(1): E X_(k) = Σ_{i=n−k+1}^{n} 1/i (Rényi's representation); uniform: k/(n + 1); the maximum of
    two standard normals: 1/√π. To 1e-4 relative: the quadrature in the Beta quantile is limited by its behaviour at
    v → 0, 1 (measured at most 6.3e-5 for the exponential, 2.5e-5 for the uniform, 5.8e-6 for the normal)."""
    expo = th.order_statistic_mean(lambda u: -np.log1p(-u), k, n)
    assert expo == pytest.approx(sum(1.0 / i for i in range(n - k + 1, n + 1)), rel=1e-4)
    assert th.order_statistic_mean(lambda u: u, k, n) == pytest.approx(k / (n + 1), rel=1e-4)
    assert th.order_statistic_mean(scipy.stats.norm.ppf, 2, 2) == pytest.approx(1 / math.sqrt(math.pi), rel=1e-4)


def test_order_statistic_mean_against_monte_carlo():
    """The docs' check: the ring's timescale order statistics against 4000 sorted samples, within 3 standard errors."""
    r_min, r_max, n = 0.6, 0.97, 16
    rng = np.random.default_rng(0)
    draws = np.sort(th.ring_timescale_quantile(rng.random((4000, n)), r_min, r_max), axis=1)
    for k in (1, 8, 16):
        pred = th.order_statistic_mean(lambda u: th.ring_timescale_quantile(u, r_min, r_max), k, n)
        col = draws[:, k - 1]
        assert abs(col.mean() - pred) <= 3 * col.std(ddof=1) / math.sqrt(len(col))


@pytest.mark.parametrize("quantile, fragment", [
    (3, "quantile must be a callable u -> Q(u); got int"),
    (lambda u: np.full_like(u, np.nan), "quantile must map an array of u in (0, 1) to as many finite values; got NaN/Inf"),
    (lambda u: 1.0, "got shape ()"),
])
def test_order_statistic_mean_refuses_bad_quantiles(quantile, fragment):
    with pytest.raises(InvalidArgument) as info:
        th.order_statistic_mean(quantile, 1, 3)
    assert fragment in str(info.value)
