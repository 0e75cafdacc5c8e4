"""Dynamical isometry: moments of the squared singular values λ of deep input–output Jacobians.

Exact finite-width moments for products of Gaussian matrices (checked by Monte Carlo and against
rnnprobe's Jacobians of linear mlps), orthogonal products (exact), and the free-probability moments of
tanh nets on the critical line (Pennington, Schoenholz & Ganguli 2017) against rnnprobe's measurements.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import rnnprobe
from rnnprobe.theory import isometry as iso
from rnnprobe.theory import meanfield as mf


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _moments(P):
    """Per-network (1/n) tr PPᵀ and (1/n) tr (PPᵀ)²: the first two moments of λ."""
    n = P.shape[-1]
    A = P @ P.mT
    return (torch.diagonal(A, dim1=-2, dim2=-1).sum(-1) / n, (A * A).sum((-2, -1)) / n)


@pytest.mark.parametrize("n,L,sw", [(3, 2, 1.0), (4, 3, 0.8), (6, 1, 1.3)])
def test_ginibre_recursion_matches_monte_carlo(n, L, sw):
    """The Wishart recursion is exact at every n: 200 000 sampled products agree within 5 standard errors."""
    exact = iso.ginibre_product_moments(L, n, sw)
    rng = np.random.default_rng(n * 10 + L)
    N = 200_000
    P = np.broadcast_to(np.eye(n), (N, n, n))
    for _ in range(L):
        P = rng.standard_normal((N, n, n)) * (sw / math.sqrt(n)) @ P
    m1, m2 = (x.numpy() for x in _moments(torch.from_numpy(np.ascontiguousarray(P))))
    for value, samples in ((exact.mean, m1), (exact.second_moment, m2), (exact.mean_sample_variance, m2 - m1**2),
                           (exact.sample_mean_variance + exact.mean**2, m1**2)):
        assert abs(samples.mean() - value) <= 5 * samples.std() / math.sqrt(N), (samples.mean(), value)


def test_ginibre_large_width_limit():
    for L in (1, 4, 10):
        assert iso.ginibre_product_moments(L, 10**9).variance == pytest.approx(L, rel=1e-6)
        n = 400
        m = iso.ginibre_product_moments(L, n)
        # variance = L + L(L+1)/(2n) + O(L³/n²); the per-network mean varies by L(L+1)/n² + O(L³/n³)
        assert abs(m.variance - L - L * (L + 1) / (2 * n)) < L**3 / n**2
        assert abs(m.sample_mean_variance - L * (L + 1) / n**2) < L**3 / n**3
    assert iso.ginibre_product_moments(3, 50, 0.5).mean == pytest.approx(0.5**6)


def test_free_probability_limits_of_linear_nets():
    g = iso.jacobian_spectrum_moments(7, 1.0, 0.0, "linear", weights="gaussian")
    assert (g.mean, g.variance) == (1.0, pytest.approx(7.0))
    o = iso.jacobian_spectrum_moments(7, 0.9, 0.0, "linear", weights="orthogonal")
    assert o.mean == pytest.approx(0.9**14) and o.variance == 0.0
    # Gaussian weights at σ_w: variance L σ_w^{4L} (the n → ∞ limit of the exact recursion)
    g = iso.jacobian_spectrum_moments(5, 1.1, 0.0, "linear")
    assert g.variance == pytest.approx(iso.ginibre_product_moments(5, 10**9, 1.1).variance, rel=1e-6)


@pytest.mark.parametrize("n,L", [(64, 6), (16, 4)])
def test_linear_gaussian_mlp_jacobian_moments(n, L):
    """rnnprobe's Jacobian of a linear Gaussian mlp has the exact finite-n moments.

    24 networks; standard errors: the spread of the per-network moments over networks (for the mean,
    also the exact Var of the per-network mean); tolerance 4 standard errors.
    """
    S = 24
    exact = iso.ginibre_product_moments(L, n)
    m1, m2 = [], []
    for seed in range(S):
        model = rnnprobe.build("mlp", hidden_size=n, depth=L, nonlinearity="linear", gain=1.0, seed=seed)
        P = rnnprobe.jacobian_product(rnnprobe.record(model, torch.ones(n)))
        a, b = _moments(P)
        m1.append(float(a))
        m2.append(float(b))
    m1, m2 = np.array(m1), np.array(m2)
    assert abs(m1.mean() - exact.mean) <= 4 * math.sqrt(exact.sample_mean_variance / S)
    v = m2 - m1**2
    assert abs(v.mean() - exact.mean_sample_variance) <= 4 * v.std() / math.sqrt(S)
    assert m1.std() ** 2 == pytest.approx(exact.sample_mean_variance, rel=1.0)        # order of magnitude


@pytest.mark.parametrize("gain,L", [(0.9, 10), (1.2, 6)])
def test_orthogonal_linear_mlp_is_isometric(gain, L):
    model = rnnprobe.build("mlp", hidden_size=20, depth=L, nonlinearity="linear", init="orthogonal", gain=gain, seed=0)
    s = rnnprobe.jacobian_singular_values(rnnprobe.record(model, torch.ones(20)))
    # row t: product over layers t … L−1, all singular values g^{L−t}
    expected = torch.tensor([gain ** (L - t) for t in range(L)], dtype=torch.float64)[:, None].expand(L, 20)
    assert torch.allclose(s, expected, rtol=1e-10)
    m = iso.orthogonal_product_moments(L, gain)
    assert float((s[0] ** 2).mean()) == pytest.approx(m.mean, rel=1e-10) and float((s[0] ** 2).var()) < 1e-20


@pytest.mark.parametrize("sigma_b", [0.05, 0.3])
@pytest.mark.parametrize("weights", ["gaussian", "orthogonal"])
def test_critical_tanh_jacobian_spectrum(sigma_b, weights):
    """tanh on the critical line, inputs at q*: mean of λ = 1 and variance L(μ₂/μ₁² − 1 + v_W).

    n = 256, L = 6, 12 networks. Tolerances: the mean within 4 standard errors (spread of the per-network
    means) plus the finite-width drift of the product, |∏ E R_l − 1| (layer_growth); the variance within
    4 standard errors plus 15 %: the free-probability moments are n → ∞ limits, and in exploratory runs
    (n = 128/256/512, L = 4/8) the variance exceeded the limit by 3–11 % at n = 256, shrinking with n
    (the exact linear-Gaussian excess is L(L+1)/(2n) in absolute terms).
    """
    n, L, S = 256, 6, 12
    sw, q = iso.critical_point(sigma_b, "tanh")
    pred = iso.jacobian_spectrum_moments(L, sw, sigma_b, "tanh", weights=weights)
    assert pred.mean == pytest.approx(1.0, abs=1e-8)
    m1, v = [], []
    for seed in range(S):
        model = rnnprobe.build("mlp", hidden_size=n, depth=L, gain=sw, bias_std=sigma_b, init=weights, seed=seed)
        x = torch.randn(n, generator=torch.Generator().manual_seed(500 + seed), dtype=torch.float64)
        x = x / x.norm() * math.sqrt(n * (q - sigma_b**2) / sw**2)
        a, b = _moments(rnnprobe.jacobian_product(rnnprobe.record(model, x)))
        m1.append(float(a))
        v.append(float(b - a * a))
    m1, v = np.array(m1), np.array(v)
    drift = abs(mf.layer_growth(sw, sigma_b, "tanh", width=n, direction="propagated").mean ** L - 1)
    assert abs(m1.mean() - pred.mean) <= 4 * m1.std() / math.sqrt(S) + drift, (m1.mean(), m1.std())
    assert abs(v.mean() - pred.variance) <= 4 * v.std() / math.sqrt(S) + 0.15 * pred.variance, (v.mean(), pred.variance)
    if weights == "orthogonal":   # the measurement tells the ensembles apart: Gaussian weights predict L more
        gaussian = iso.jacobian_spectrum_moments(L, sw, sigma_b, "tanh", weights="gaussian")
        assert abs(v.mean() - gaussian.variance) > 4 * v.std() / math.sqrt(S) + 0.15 * gaussian.variance


def test_orthogonal_weights_beat_gaussian_at_criticality():
    # v_W = 1 for Gaussian weights: the variance gap is exactly L per unit mean², whatever σ_b
    for sb in (0.05, 0.3, 1.0):
        sw, _ = iso.critical_point(sb, "tanh")
        g = iso.jacobian_spectrum_moments(9, sw, sb, weights="gaussian")
        o = iso.jacobian_spectrum_moments(9, sw, sb, weights="orthogonal")
        assert g.variance - o.variance == pytest.approx(9.0, rel=1e-8)
    # with small σ_b, q* → 0 and φ′ → 1: orthogonal tanh nets approach isometry
    excess = []
    for sb in (0.3, 0.1, 0.01, 0.001):
        sw, q = iso.critical_point(sb, "tanh")
        mu1, mu2 = iso.derivative_moments(q, "tanh")
        excess.append(mu2 / mu1**2 - 1)
    assert np.all(np.diff(excess) < 0) and excess[-1] < 1e-3
