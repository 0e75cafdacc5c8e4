"""Mean-field theory (rnnprobe.theory.meanfield) against closed forms and against rnnprobe's measurements.

Measurements use rnnprobe's ``mlp`` (fresh Gaussian W and b per layer, as the
theory assumes), its recorded states and its step Jacobians. Every tolerance
is derived in the test from the finite width n, the number of layers/seeds
averaged, and the order of the neglected terms.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.integrate
import scipy.stats
import torch

import rnnprobe
from rnnprobe.errors import InvalidArgument
from rnnprobe import theory
from rnnprobe.theory import meanfield as mf
from rnnprobe.theory._gauss import as_numpy_nonlinearity, bivariate_expectation, normal_expectation

# (nonlinearity, σ_w, σ_b): both phases for tanh and ReLU, plus the sigmoid


@pytest.fixture(autouse=True)
def _one_thread():
    """Small matrices: one BLAS thread avoids oversubscribing the 2 cores the suite runs on."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


ORDERED = [("tanh", 1.0, 0.3), ("relu", 1.2, 0.3), ("sigmoid", 6.0, 0.5)]
CHAOTIC = [("tanh", 2.0, 0.3), ("relu", 1.6, 0.0)]


# --------------------------------------------------------------------------- quadrature
@pytest.mark.parametrize("name", ["tanh", "sigmoid", "relu"])
@pytest.mark.parametrize("q", [1e-3, 0.5, 4.0, 400.0])
def test_normal_expectation_matches_adaptive_quadrature(name, q):
    nl = as_numpy_nonlinearity(name)
    for f in (lambda x: nl.phi(x) ** 2, lambda x: nl.dphi(x) ** 2, lambda x: nl.dphi(x) ** 4):
        ours = normal_expectation(f, q)
        s = math.sqrt(q)
        ref = sum(
            scipy.integrate.quad(lambda z: f(np.array([s * z]))[0] * scipy.stats.norm.pdf(z), a, b,
                                 epsabs=1e-14, epsrel=1e-12, limit=400)[0]
            for a, b in [(-40, 0), (0, 40)]
        )
        assert ours == pytest.approx(ref, rel=1e-10, abs=1e-14)


@pytest.mark.parametrize("c", [-0.95, -0.3, 0.0, 0.4, 0.9, 1.0])
def test_bivariate_expectation_relu_arccosine_kernel(c):
    # Cho & Saul (2009): E[relu(u1) relu(u2)] = q (sin θ + (π − θ) cos θ)/(2π), E[1{u1>0}1{u2>0}] = (π − θ)/(2π)
    q = 1.7
    theta = math.acos(c)
    got = bivariate_expectation(lambda a, b: np.maximum(a, 0) * np.maximum(b, 0), q, q, c)
    assert got == pytest.approx(q * (math.sin(theta) + (math.pi - theta) * c) / (2 * math.pi), abs=1e-13)
    got = bivariate_expectation(lambda a, b: (a > 0) * (b > 0) * 1.0, q, q, c)
    assert got == pytest.approx((math.pi - theta) / (2 * math.pi), abs=1e-13)


def test_bivariate_expectation_tanh_against_dblquad():
    q, c = 2.0, 0.6
    s = math.sqrt(1 - c * c)
    ours = bivariate_expectation(lambda a, b: np.tanh(a) * np.tanh(b), q, q, c)
    ref = scipy.integrate.dblquad(
        lambda z2, z1: math.tanh(math.sqrt(q) * z1) * math.tanh(math.sqrt(q) * (c * z1 + s * z2))
        * math.exp(-(z1 * z1 + z2 * z2) / 2) / (2 * math.pi), -9, 9, -9, 9, epsabs=1e-12, epsrel=1e-10)[0]
    assert ours == pytest.approx(ref, abs=1e-9)
    # limits: c = 1 is the 1-D second moment, c = 0 the square of the (zero) mean
    assert bivariate_expectation(lambda a, b: np.tanh(a) * np.tanh(b), q, q, 1.0) == pytest.approx(
        normal_expectation(lambda x: np.tanh(x) ** 2, q), abs=1e-13)
    assert bivariate_expectation(lambda a, b: np.tanh(a) * np.tanh(b), q, q, 0.0) == pytest.approx(0.0, abs=1e-14)


# ----------------------------------------------------------------------- closed forms
@pytest.mark.parametrize("sw,sb", [(0.5, 0.3), (0.9, 1.0), (0.2, 0.0)])
def test_linear_closed_forms(sw, sb):
    assert mf.fixed_point(sw, sb, "linear") == pytest.approx(sb**2 / (1 - sw**2), rel=1e-12, abs=1e-300)
    assert mf.chi1(sw, sb, "linear") == pytest.approx(sw**2, rel=1e-13)
    assert mf.length_map(0.7, sw, sb, "linear") == pytest.approx(sw**2 * 0.7 + sb**2, rel=1e-13)


@pytest.mark.parametrize("sw", [0.5, 1.0, 1.3])
def test_relu_closed_forms(sw):
    for q in (0.1, 1.0, 10.0):
        assert mf.chi1(sw, 0.2, "relu", q=q) == pytest.approx(sw**2 / 2, rel=1e-13)
        assert mf.length_map(q, sw, 0.2, "relu") == pytest.approx(sw**2 * q / 2 + 0.04, rel=1e-13)
    assert mf.fixed_point(sw, 0.2, "relu") == pytest.approx(0.04 / (1 - sw**2 / 2), rel=1e-12)


def test_diverging_length_maps_are_reported():
    with pytest.raises(InvalidArgument, match="sigma_w"):
        mf.fixed_point(1.2, 0.1, "linear")
    with pytest.raises(InvalidArgument, match="sigma_w"):
        mf.fixed_point(1.6, 0.0, "relu")
    mfc = mf.mean_field(1.6, 0.0, "relu")
    assert math.isnan(mfc.q_star) and mfc.phase == "chaotic" and mfc.chi1 == pytest.approx(1.28)


def test_tanh_critical_line():
    assert mf.critical_sigma_w(0.0, "tanh") == pytest.approx(1.0, abs=1e-9)
    assert mf.critical_sigma_w(0.0, "relu") == pytest.approx(math.sqrt(2), rel=1e-13)
    assert mf.critical_sigma_w(0.0, "linear") == pytest.approx(1.0, rel=1e-13)
    sbs = np.array([0.05, 0.3, 1.0])
    line = mf.order_to_chaos_line(sbs, "tanh")
    assert np.all(np.diff(line) > 0) and line[0] > 1.0     # bias pushes the line to larger σ_w
    for sb, sw in zip(sbs, line):
        q = mf.fixed_point(sw, sb, "tanh")
        assert mf.length_map(q, sw, sb, "tanh") == pytest.approx(q, rel=1e-10)
        assert mf.chi1(sw, sb, "tanh") == pytest.approx(1.0, abs=1e-9)
        assert mf.mean_field(sw * 0.95, sb).phase == "ordered" and mf.mean_field(sw * 1.05, sb).phase == "chaotic"


@pytest.mark.parametrize("name,sw,sb", ORDERED + [("tanh", 2.0, 0.3), ("tanh", 1.5, 0.0)])
def test_fixed_point_is_a_stable_fixed_point(name, sw, sb):
    q = mf.fixed_point(sw, sb, name)
    assert q > 0 and mf.length_map(q, sw, sb, name) == pytest.approx(q, rel=1e-11)
    # the same q* from below and from above, and iterating the map converges to it
    assert mf.fixed_point(sw, sb, name, q0=q / 50) == pytest.approx(q, rel=1e-10)
    assert mf.fixed_point(sw, sb, name, q0=q * 50) == pytest.approx(q, rel=1e-10)
    assert mf.length_iterates(5 * q, 200, sw, sb, name)[-1] == pytest.approx(q, rel=1e-8)


def test_collapse_to_zero_in_the_ordered_phase_without_bias():
    assert mf.fixed_point(0.8, 0.0, "tanh") == 0.0
    assert mf.chi1(0.8, 0.0, "tanh") == pytest.approx(0.64, rel=1e-13)   # φ′(0)² σ_w²


def test_depth_scale():
    assert mf.depth_scale(math.exp(-0.1)) == pytest.approx(10.0)
    assert mf.depth_scale(math.exp(0.5)) == pytest.approx(-2.0)
    assert mf.depth_scale(1.0) == math.inf and mf.depth_scale(0.0) == 0.0


def test_correlation_map_fixed_points_and_slopes():
    # ordered: c* = 1 and χ_c(1) = χ₁; chaotic: c* < 1 is a fixed point with slope χ_c < 1
    sw, sb = 1.0, 0.3
    assert mf.correlation_fixed_point(sw, sb) == 1.0
    assert mf.chi_c(sw, sb, c=1.0) == pytest.approx(mf.chi1(sw, sb), rel=1e-10)
    sw, sb = 2.0, 0.3
    cs = mf.correlation_fixed_point(sw, sb)
    assert 0.0 < cs < 1.0
    assert mf.correlation_map(cs, sw, sb) == pytest.approx(cs, abs=1e-12)
    assert mf.correlation_map(1.0, sw, sb) == pytest.approx(1.0, abs=1e-12)
    assert 0.0 < mf.chi_c(sw, sb) < 1.0 < mf.chi_c(sw, sb, c=1.0)
    # odd φ and no bias: c = 0 is the chaotic fixed point
    assert mf.correlation_fixed_point(2.0, 0.0) == 0.0
    # ReLU correlation map = normalised arc-cosine kernel (σ_b = 0 needs σ_w² = 2 for a fixed q; use σ_b > 0)
    sw, sb = 1.2, 0.3
    q = mf.fixed_point(sw, sb, "relu")
    c = 0.3
    th = math.acos(c)
    expected = (sw**2 * q * (math.sin(th) + (math.pi - th) * c) / (2 * math.pi) + sb**2) / q
    assert mf.correlation_map(c, sw, sb, "relu") == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("name,q", [("tanh", 0.7), ("sigmoid", 3.0), ("tanh", 5.0)])
def test_hermite_derivative_identities(name, q):
    nl = as_numpy_nonlinearity(name)
    h = 1e-4 * q

    def E(qq):
        return normal_expectation(lambda x: nl.phi(x) ** 2, qq)

    d1 = (E(q + h) - E(q - h)) / (2 * h)
    d2 = (E(q + h) - 2 * E(q) + E(q - h)) / h**2
    assert mf._dq(nl, 2, q, order=1) == pytest.approx(d1, rel=1e-7)
    assert mf._dq(nl, 2, q, order=2) == pytest.approx(d2, rel=1e-4)


# ------------------------------------------------------------------- finite width, exact
@pytest.mark.parametrize("n", [4, 16, 100])
def test_linear_layer_growth_is_chi_square(n):
    g = mf.layer_growth(1.3, 0.0, "linear", width=n)
    # log of σ_w² χ²_n / n: mean log σ_w² + ψ(n/2) − log(n/2) (exact), variance ψ′(n/2)
    rng = np.random.default_rng(0)
    r = 1.3**2 * rng.chisquare(n, size=400_000) / n
    se = math.sqrt(g.log_variance / r.size)
    assert g.mean == pytest.approx(1.69, rel=1e-13) and g.exact
    assert abs(np.log(r).mean() - g.log_mean) < 5 * se
    assert np.log(r).var() == pytest.approx(g.log_variance, rel=0.02)        # 400k samples: ~0.3% s.e.
    assert r.var() == pytest.approx(g.variance, rel=0.02)


@pytest.mark.parametrize("n", [3, 12])
def test_relu_layer_growth_is_binomial_chi_square(n):
    # R = (σ_w²/n) Σ_i d_i ζ_i² with d_i ~ Bernoulli(½) (active units), conditioned on some unit active
    g = mf.layer_growth(1.1, 0.2, "relu", width=n)
    rng = np.random.default_rng(1)
    d = rng.random((300_000, n)) < 0.5
    r = 1.21 / n * (d * rng.standard_normal((300_000, n)) ** 2).sum(1)
    assert r.mean() == pytest.approx(g.mean, rel=5 * math.sqrt(g.variance / r.size) / g.mean)
    r = r[d.any(1)]
    assert abs(np.log(r).mean() - g.log_mean) < 5 * math.sqrt(g.log_variance / r.size)
    assert np.log(r).var() == pytest.approx(g.log_variance, rel=0.03)


def test_relu_exact_log_growth_agrees_with_the_expansion():
    # the general formula log χ₁ − (3κ − 1)/(2n) has κ = 2 for ReLU: the exact value differs by O(1/n²)
    for n in (200, 2000):
        g = mf.layer_growth(1.3, 0.0, "relu", width=n)
        assert abs(g.log_mean - (math.log(1.69 / 2) - 5 / (2 * n))) < 10 / n**2


def test_infinite_width_growth_is_chi1():
    g = mf.layer_growth(2.0, 0.3, "tanh")
    assert g.mean == g.chi1 == mf.chi1(2.0, 0.3) and g.log_mean == pytest.approx(math.log(g.chi1))
    # the typical growth is below the mean at any finite width
    assert mf.layer_growth(2.0, 0.3, "tanh", width=100).log_mean < math.log(g.chi1)


# ----------------------------------------------------------- against rnnprobe's measurements
def _network(name, sw, sb, n, depth, seed, q1, batch=1):
    """An rnnprobe mlp and its trajectory from inputs whose layer-1 pre-activation variance is q1."""
    model = rnnprobe.build("mlp", hidden_size=n, depth=depth, nonlinearity=name, gain=sw, bias_std=sb, seed=seed)
    g = torch.Generator().manual_seed(10_000 + seed)
    x = torch.randn(batch, n, generator=g, dtype=torch.float64)
    x = x / x.norm(dim=1, keepdim=True) * math.sqrt(n * max(q1 - sb**2, 1e-3) / sw**2)
    return model, rnnprobe.record(model, x)


def _preactivations(model, traj):
    W, b = model.W.detach(), model.b.detach()
    return torch.einsum("lbj,lij->lbi", traj.states[:-1], W) + b[:, None, :]


@pytest.mark.parametrize("name,sw,sb", ORDERED + CHAOTIC[:1])
@pytest.mark.parametrize("start", [0.25, 4.0])
def test_length_map_predicts_measured_preactivation_variance(name, sw, sb, start):
    """Measured (1/n) Σ h_i² per layer vs the length-map iterates, from q₁ = q*/4 and 4q*.

    Per layer and network the measurement is q̂ χ²_n/n with q̂ the conditional variance: its
    variance is Var δ + 2q²/n (Var δ = q̂'s stationary finite-width variance, LayerGrowth.q_variance).
    Averaged over S networks; tolerance 5 standard errors plus the O(1/n) bias E δ.
    """
    n, depth, S = 256, 16, 4
    qs = mf.fixed_point(sw, sb, name)
    growth = mf.layer_growth(sw, sb, name, width=n)
    pred = mf.length_iterates(start * qs, depth, sw, sb, name)
    meas = np.mean([_preactivations(*_network(name, sw, sb, n, depth, s, start * qs)).pow(2).mean(-1)[:, 0].numpy()
                    for s in range(S)], axis=0)
    se = np.sqrt((growth.q_variance + 2 * pred**2 / n) / S)
    assert np.all(np.abs(meas - pred) <= 5 * se + abs(growth.q_mean - qs)), (meas, pred, se)
    # and the deep layers sit at q*
    assert abs(meas[-4:].mean() - qs) <= 5 * se[-1] + abs(growth.q_mean - qs)


@pytest.mark.parametrize("name,sw,sb", ORDERED + CHAOTIC + [("tanh", None, 0.3)])
def test_chi1_predicts_growth_of_squared_jacobian_norms(name, sw, sb):
    """Per-layer growth of ‖J v‖² at width 256, both phases and at criticality.

    Two measurements from rnnprobe's step Jacobians J_l = D_l W_l of a network started at q*:
    (a) ‖J_l‖_F²/n = E_v ‖J_l v‖² over fresh random unit v (exact average over v), and
    (b) ‖J_l u_l‖²/‖u_l‖² for vectors carried through the product (u_{l+1} = J_l u_l).
    Both are compared with layer_growth(width=n).mean (χ₁ plus its O(1/n) correction).
    Standard error: the per-layer ratio has variance χ₁²(3κ−1)/n (LayerGrowth.variance) and
    layers are independent draws; rows of a batch share W, so we count one sample per layer per
    network (N = L·S): conservative. Tolerance 4 standard errors.
    """
    if sw is None:
        sw = mf.critical_sigma_w(sb, name)
    n, depth, S, B, K = 256, 12, 3, 2, 4
    q1 = mf.fixed_point(sw, sb, name) if name != "relu" or sw**2 < 2 else 1.0
    fresh, carried = [], []
    for seed in range(S):
        _, traj = _network(name, sw, sb, n, depth, seed, q1, batch=B)
        J = traj.step_jacobians()                                     # (L, B, n, n)
        fresh.append((J.pow(2).sum((-2, -1)) / n).flatten())
        u = torch.randn(B, K, n, generator=torch.Generator().manual_seed(20_000 + seed), dtype=torch.float64)
        for l in range(depth):
            v = torch.einsum("bij,bkj->bki", J[l], u)
            carried.append((v.pow(2).sum(-1) / u.pow(2).sum(-1)).flatten())
            u = v / v.norm(dim=-1, keepdim=True)
    fresh, carried = torch.cat(fresh).mean().item(), torch.cat(carried).mean().item()
    for measured, direction in ((fresh, "fresh"), (carried, "propagated")):
        g = mf.layer_growth(sw, sb, name, width=n, direction=direction)
        se = math.sqrt(g.variance / (depth * S))
        assert abs(measured - g.mean) <= 4 * se, (direction, measured, g.mean, se)
        assert abs(measured - g.chi1) <= 4 * se + abs(g.mean - g.chi1)


@pytest.mark.parametrize("name,sw,sb", ORDERED + CHAOTIC + [("linear", 1.0, 0.0)])
def test_finite_width_log_growth_at_width_32(name, sw, sb):
    """E log(‖J u‖²/‖u‖²) per layer at n = 32 is log χ₁ − (3κ−1)/(2n) + …, not log χ₁.

    Vectors carried through 800 layers of rnnprobe step Jacobians (S = 2 networks, B = 4
    inputs, K = 4 vectors each). Standard errors by batch means over blocks of 25 layers (the
    pre-activation variance decorrelates within a few layers, |f′| <= 0.72 here). Tolerance:
    4 standard errors plus 4/n², the order of the terms the expansion drops (exact for linear
    and ReLU). The same data must exclude log χ₁ for these settings.
    """
    n, depth, S, B, K, burn, block = 32, 800, 2, 4, 4, 10, 25
    g = mf.layer_growth(sw, sb, name, width=n, direction="propagated")
    q1 = g.q_mean if math.isfinite(g.q_mean) else 1.0
    logs = []
    for seed in range(S):
        _, traj = _network(name, sw, sb, n, depth, seed, q1, batch=B)
        J = traj.step_jacobians()
        u = torch.randn(B, K, n, generator=torch.Generator().manual_seed(20_000 + seed), dtype=torch.float64)
        u = u / u.norm(dim=-1, keepdim=True)
        per_layer = []
        for l in range(depth):
            v = torch.einsum("bij,bkj->bki", J[l], u)
            norm = v.norm(dim=-1)
            per_layer.append(2 * torch.log(norm))
            u = v / norm[..., None]
        logs.append(torch.stack(per_layer)[burn:])
    logs = torch.stack(logs)                                             # (S, L', B, K)
    usable = (logs.shape[1] // block) * block
    blocks = logs[:, :usable].reshape(S, -1, block, B, K).mean(dim=(2, 3, 4)).flatten()
    se_log = (blocks.std() / math.sqrt(blocks.numel())).item()
    ratio_blocks = logs[:, :usable].exp().reshape(S, -1, block, B, K).mean(dim=(2, 3, 4)).flatten()
    se_mean = (ratio_blocks.std() / math.sqrt(ratio_blocks.numel())).item()
    measured_log = logs.mean().item()
    measured_mean = logs.exp().mean().item()
    assert abs(measured_log - g.log_mean) <= 4 * se_log + 4 / n**2, (measured_log, g.log_mean, se_log)
    assert abs(measured_mean - g.mean) <= 4 * se_mean + 4 / n**2 * g.chi1, (measured_mean, g.mean, se_mean)
    assert abs(measured_log - math.log(g.chi1)) > 3 * se_log          # χ₁ is about the mean, not the log


@pytest.mark.parametrize("sw,sb,c1,depth", [(2.0, 0.3, 0.95, 60), (1.0, 0.3, 0.2, 20)])
def test_correlation_map_predicts_measured_correlations(sw, sb, c1, depth):
    """Two inputs at length q* and correlation c₁: measured pre-activation correlation per layer vs
    the correlation map's iterates (→ c* < 1 in the chaotic, → 1 in the ordered phase).

    One network's correlation at width n fluctuates by about (1 − c²)/√n (the Fisher-z standard error
    of a correlation of n pairs); we average S networks and allow 5 standard errors plus 0.02 for the
    O(1/n) bias of a ratio and the fluctuations of q̂ (n = 384).
    """
    n, S = 384, 4
    qs = mf.fixed_point(sw, sb, "tanh")
    pred = mf.correlation_iterates(c1, depth, sw, sb, "tanh")
    cs = mf.correlation_fixed_point(sw, sb)
    assert abs(pred[-1] - cs) < 1e-3                                    # deep enough to have converged
    meas = []
    for seed in range(S):
        model = rnnprobe.build("mlp", hidden_size=n, depth=depth, gain=sw, bias_std=sb, seed=seed)
        g = torch.Generator().manual_seed(30_000 + seed)      # not the model's stream (seed)
        # two inputs whose layer-1 pre-activations have variance q* and correlation c₁
        a, b = torch.randn(2, n, generator=g, dtype=torch.float64)
        a = a / a.norm()
        b = b - (b @ a) * a
        b = b / b.norm()
        scale = math.sqrt(n * (qs - sb**2) / sw**2)
        rho_in = (c1 * qs - sb**2) / (qs - sb**2)                      # input correlation giving c₁
        x = torch.stack([a, rho_in * a + math.sqrt(1 - rho_in**2) * b]) * scale
        traj = rnnprobe.record(model, x)
        h = _preactivations(model, traj)                                # (L, 2, n)
        meas.append(((h[:, 0] * h[:, 1]).sum(-1) / (h[:, 0].norm(dim=-1) * h[:, 1].norm(dim=-1))).numpy())
    meas = np.mean(meas, axis=0)
    se = (1 - pred**2) / math.sqrt(n * S)
    assert np.all(np.abs(meas - pred) <= 5 * se + 0.02), (meas, pred)
    assert abs(meas[-3:].mean() - cs) <= 5 * (1 - cs**2) / math.sqrt(n * S) + 0.02


@pytest.mark.parametrize("name", sorted(rnnprobe.NONLINEARITIES))
def test_numpy_twins_match_rnnprobe_nonlinearities(name):
    """The quadrature evaluates built-in φ with numpy; they must be rnnprobe's functions exactly."""
    nl = as_numpy_nonlinearity(name)
    x = np.concatenate([np.linspace(-30, 30, 2001), [0.0]])
    t = torch.from_numpy(x)
    ref = rnnprobe.NONLINEARITIES[name]
    # to rounding (1 − tanh² cancels to an absolute error of a few ulps of 1)
    assert np.allclose(nl.phi(x), ref.function(t).numpy(), rtol=1e-14, atol=1e-15)
    assert np.allclose(nl.dphi(x), ref.derivative(t).numpy(), rtol=1e-14, atol=1e-15)
    # a user's Nonlinearity (not the registry's object) goes through torch
    from rnnprobe.nonlinearities import Nonlinearity
    custom = as_numpy_nonlinearity(Nonlinearity("softsign", torch.nn.functional.softsign,
                                                lambda z: 1 / (1 + z.abs()) ** 2, 1.0))
    assert custom.is_odd() and not custom.is_homogeneous()
    assert mf.chi1(1.0, 0.0, custom) == pytest.approx(1.0)              # q* = 0, φ′(0) = 1


@pytest.mark.parametrize("call,match", [
    (lambda: mf.chi1(-1.0), "sigma_w must lie in"),
    (lambda: mf.length_map(1.0, 1.0, -0.1), "sigma_b must lie in"),
    (lambda: mf.chi1(1.0, 0.0, "tahn"), "did you mean 'tanh'"),
    (lambda: mf.chi1(1.0, 0.0, 3), "nonlinearity must be"),
    (lambda: mf.layer_growth(1.0, width=1), "width must be >= 2"),
    (lambda: mf.layer_growth(1.0, width=8, direction="propagate"), "did you mean 'propagated'"),
    (lambda: mf.length_iterates(1.0, 0, 1.0), "depth must be >= 1"),
    (lambda: mf.correlation_map(1.5, 1.0), "c must lie in"),
    (lambda: mf.fixed_point(1.0, 0.1, q0=0.0), "q0 must lie in"),
])
def test_invalid_arguments(call, match):
    with pytest.raises(InvalidArgument, match=match):
        call()


# --------------------------------------------------------------------------- the critical line (issue 11)
def _tanh_series_fixed_point(sw, sb):
    """q* from the small-q series E tanh²(√q z) = q − 2q² + 17/3 q³ − 62/3 q⁴ (error O(q⁵)).

    tanh² x = x² − 2/3 x⁴ + 17/45 x⁶ − 62/315 x⁸ + …, E x^{2k} = (2k−1)!! q^k; the root of
    σ_w² E tanh² + σ_b² − q is found with numpy's polynomial roots (no quadrature).
    """
    coeffs = [-62 / 3 * sw**2, 17 / 3 * sw**2, -2 * sw**2, sw**2 - 1, sb**2]     # degree 4 … 0 in q
    roots = np.roots(coeffs)
    real = sorted(r.real for r in roots if abs(r.imag) < 1e-12 * max(1.0, abs(r)) and r.real > 0)
    return real[0] if real else 0.0


CRITICAL_AND_BELOW = [0.0, 0.3, 0.8, 0.9, 0.99, 0.9999, 1 - 1e-9, 1 - 1e-12, 1.0, 1 + 1e-15]


@pytest.mark.parametrize("sw", CRITICAL_AND_BELOW)
def test_collapse_is_exact_at_and_below_the_critical_line(sw):
    """σ_b = 0, tanh, σ_w <= 1 (and within rounding above): q* = 0 exactly, so χ₁ = χ_c = σ_w² and the
    depth scales are −1/log σ_w² (∞ at the critical point). Before issue 11, σ_w = 1 gave q* ≈ 1.6e-20."""
    assert mf.fixed_point(sw, 0.0, "tanh") == 0.0
    x = mf.chi1(sw, 0.0, "tanh")
    assert x == sw**2
    m = mf.mean_field(sw, 0.0, "tanh")
    assert (m.q_star, m.c_star, m.chi_c) == (0.0, 1.0, sw**2)
    assert m.correlation_depth_scale == m.depth_scale == mf.depth_scale(sw**2)
    assert m.phase == ("critical" if abs(sw**2 - 1) <= 1e-9 else "ordered")
    g = mf.layer_growth(sw, 0.0, "tanh", width=400)          # the collapsed (linear-net) branch
    assert g.mean == x and (g.q_mean, g.q_variance) == (0.0, 0.0)
    assert all(math.isfinite(v) for v in (g.log_mean, g.variance, g.log_variance)) or sw == 0.0


def test_the_critical_point_itself():
    assert theory.critical_point(0.0, "tanh") == (1.0, 0.0)
    m = mf.mean_field(1.0, 0.0, "tanh")
    assert m.chi1 == m.chi_c == 1.0 and m.depth_scale == m.correlation_depth_scale == math.inf
    g = mf.layer_growth(1.0, 0.0, "tanh", width=400)         # raised ZeroDivisionError before issue 11
    assert g.mean == 1.0 and g.log_mean == pytest.approx(-(3 * 1.0 - 1) / (2 * 400), abs=1e-15)


@pytest.mark.parametrize("sw, sb", [(1 + 1e-9, 0.0), (1 + 1e-6, 0.0), (1 + 1e-4, 0.0), (1.001, 0.0), (1.01, 0.0),
                                    (1.0, 1e-300), (1.0, 1e-20), (1.0, 1e-10), (1.0, 1e-6), (1.0, 1e-3),
                                    (0.99, 1e-4), (1.001, 1e-4)])
def test_fixed_point_near_the_critical_line_against_the_series(sw, sb):
    """Just above the line, or with a tiny bias: q* > 0, within 1e-14 absolute (rounding near q = 0)
    plus the series' truncation (~46 q⁵/(q·slope) < 100 q⁴) of the series' root."""
    q = mf.fixed_point(sw, sb, "tanh")
    ref = _tanh_series_fixed_point(sw, sb)
    assert abs(q - ref) <= 1e-14 + 100 * ref**4, (q, ref)
    assert q > 0 or ref < 1e-14


@pytest.mark.parametrize("sb", [0.0, 1e-300, 1e-12, 1e-6, 0.05, 0.3])
def test_the_grid_around_the_critical_line(sb):
    """(σ_w, σ_b) around the tanh line, exactly critical points included: q* is a finite fixed point
    (q* = 0 exactly only without bias at or below the line), and no mean-field quantity is NaN."""
    line = mf.critical_sigma_w(sb, "tanh")
    sws = sorted({0.5, 0.9, 0.99, 1 - 1e-9, 1.0, 1 + 1e-9, 1.01, 1.1, 1.5, line, line * (1 - 1e-9), line * (1 + 1e-9)})
    for sw in sws:
        q = mf.fixed_point(sw, sb, "tanh")
        assert math.isfinite(q) and q >= 0
        assert mf.length_map(q, sw, sb, "tanh") == pytest.approx(q, rel=1e-9, abs=1e-14)
        if sb**2 > 0:                 # (1e-300² underflows: the same map as σ_b = 0)
            assert q > 0
        elif sw <= 1.0:
            assert q == 0.0
        m = mf.mean_field(sw, sb, "tanh")
        assert not any(isinstance(v, float) and math.isnan(v) for v in vars(m).values()), m
        assert m.phase == ("critical" if abs(m.chi1 - 1) <= 1e-9 else "ordered" if m.chi1 < 1 else "chaotic")
        g = mf.layer_growth(sw, sb, "tanh", width=400)
        assert all(math.isfinite(v) for v in vars(g).values() if isinstance(v, float)), g
    sw, q = theory.critical_point(sb, "tanh")
    assert mf.chi1(sw, sb, "tanh") == pytest.approx(1.0, abs=1e-9)
    assert q == (0.0 if sb**2 == 0.0 else pytest.approx(mf.length_map(q, sw, sb, "tanh"), rel=1e-9))
