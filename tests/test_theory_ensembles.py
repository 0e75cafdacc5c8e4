"""Residual nets as ensembles of paths: the path-length probe (rnnprobe.paths) and its theory."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.stats
import torch

import rnnprobe
from rnnprobe.errors import InvalidArgument
from rnnprobe.paths import branch_jacobians, path_lengths
from rnnprobe.theory import ensembles as ens
from rnnprobe.theory import meanfield as mf


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


# ------------------------------------------------------------------------------ theory
def test_path_counts_are_binomial():
    for n in (0, 1, 5, 12):
        d = ens.path_length_distribution(n)
        counts = np.array([math.comb(n, k) for k in range(n + 1)]) / 2**n
        assert np.allclose(d, counts, rtol=1e-13) and d.sum() == pytest.approx(1.0)


def test_elementary_symmetric_against_subsets():
    x = np.random.default_rng(0).random(6)
    brute = [sum(np.prod(c) for c in itertools.combinations(x, m)) for m in range(7)]
    assert np.allclose(ens.elementary_symmetric(x), brute, rtol=1e-13)


@pytest.mark.parametrize("g", [0.3, 1.0, 2.5])
def test_equal_gains_give_binomial_weights(g):
    w = ens.path_length_weights(g, 9)
    assert np.allclose(w, scipy.stats.binom.pmf(np.arange(10), 9, g / (1 + g)), rtol=1e-12)
    if g == 1.0:
        assert np.allclose(w, ens.path_length_distribution(9))


def test_residual_branch_gains():
    assert np.allclose(ens.residual_branch_gains(4, 0.5, 1.2, 0.0, "linear"), 0.36)
    # tanh: the state grows (v_{l+1} = v_l + α² E tanh²), so q grows and the gains fall
    v, q = ens.residual_length_iterates(6, 1.0, 1.0, 0.1, "tanh")
    g = ens.residual_branch_gains(6, 1.0, 1.0, 0.1, "tanh")
    assert np.all(np.diff(v) > 0) and np.all(np.diff(g) < 0)
    assert g[0] == pytest.approx(mf.chi1(1.0, 0.1, "tanh", q=q[0]))
    with pytest.raises(InvalidArgument, match="odd"):
        ens.residual_branch_gains(3, 1.0, 1.0, 0.0, "relu")


# ------------------------------------------------------------------------------- probe
def _autograd_jacobian(model, traj):
    """∂s_T/∂s_0 by differentiating the whole forward pass (independent of any step Jacobian)."""
    xs = traj.inputs[:, 0]

    def forward(s):
        s = s[None]
        for t in range(traj.length):
            s = model.step(xs[t][None], s, t)
        return s[0]

    with torch.enable_grad():
        return torch.func.jacrev(forward)(traj.states[0, 0].detach())


@pytest.mark.parametrize("arch,kwargs", [
    ("resmlp", dict(depth=7, alpha=0.6, gain=1.3, bias_std=0.2)),
    ("resmlp", dict(depth=5, alpha=1.0, gain=0.9, nonlinearity="relu")),
    ("residual", dict(alpha=0.4, gain=1.1, bias_std=0.1)),
])
def test_lengths_sum_to_the_full_jacobian(arch, kwargs):
    model = rnnprobe.build(arch, hidden_size=9, seed=3, **kwargs)
    g = torch.Generator().manual_seed(11)
    x = torch.randn(9, generator=g, dtype=torch.float64) if arch == "resmlp" else torch.randn(6, 1, generator=g, dtype=torch.float64)
    traj = rnnprobe.record(model, x)
    pl = path_lengths(traj)
    reference = _autograd_jacobian(model, traj)
    assert torch.allclose(pl.jacobians.sum(0), reference, atol=1e-12)
    assert torch.allclose(pl.jacobians.sum(0), rnnprobe.jacobian_product(traj), atol=1e-12)
    # the branch Jacobians from the weights equal step Jacobian − I
    eye = torch.eye(9, dtype=torch.float64)
    assert torch.allclose(branch_jacobians(traj), traj.step_jacobians() - eye, atol=1e-13)
    # gradients split the true gradient; norm of the sum = rnnprobe's gradient norm at t = 0
    assert float(pl.gradients.sum(0).norm()) == pytest.approx(float(rnnprobe.gradient_norms(traj)[0]), rel=1e-10)
    assert pl.distribution.sum() == pytest.approx(1.0) and pl.squared_distribution.sum() == pytest.approx(1.0)
    # length 0 is the identity, length L the product of all branches
    assert torch.allclose(pl.jacobians[0], eye)
    B = branch_jacobians(traj)[:, 0]
    top = eye
    for l in range(traj.length):
        top = B[l] @ top
    assert torch.allclose(pl.jacobians[-1], top, atol=1e-13)


def test_identical_linear_branches_give_binomial_matrix_powers():
    # every B_l = αM: P[m] = C(L, m) (αM)^m
    L, alpha = 6, 0.5
    model = rnnprobe.build("resmlp", hidden_size=5, depth=L, alpha=alpha, nonlinearity="linear", seed=0)
    M = model.W[0].detach().clone()
    with torch.no_grad():
        model.W.copy_(M.expand(L, 5, 5))
    pl = path_lengths(rnnprobe.record(model, torch.ones(5)))
    for m in range(L + 1):
        assert torch.allclose(pl.jacobians[m], math.comb(L, m) * torch.linalg.matrix_power(alpha * M, m), atol=1e-12)


@pytest.mark.parametrize("kwargs", [dict(gain=0.0), dict(alpha=0.0)])
def test_without_branches_only_length_zero_remains(kwargs):
    model = rnnprobe.build("resmlp", hidden_size=4, depth=5, seed=0, **{"alpha": 1.0, **kwargs})
    pl = path_lengths(rnnprobe.record(model, torch.ones(4)))
    assert torch.allclose(pl.jacobians[0], torch.eye(4, dtype=torch.float64))
    assert torch.count_nonzero(pl.jacobians[1:]) == 0
    assert pl.distribution.tolist() == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]


def test_batched_shapes_and_sub_ranges():
    model = rnnprobe.build("resmlp", hidden_size=6, depth=6, alpha=0.7, seed=1)
    traj = rnnprobe.record(model, torch.randn(3, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    pl = path_lengths(traj)
    assert pl.jacobians.shape == (3, 7, 6, 6) and pl.norms.shape == (3, 7) and pl.gradients.shape == (3, 7, 6)
    part = path_lengths(traj, start=2, stop=5)
    assert part.jacobians.shape == (3, 4, 6, 6)
    assert torch.allclose(part.jacobians.sum(1), rnnprobe.jacobian_product(traj, 2, 5), atol=1e-12)
    # the gradient carried back to step 5 and split there reproduces ∂L/∂s_2
    assert torch.allclose(part.gradients.sum(1).norm(dim=-1), rnnprobe.gradient_norms(traj)[:, 2], rtol=1e-10)


def test_probe_errors():
    traj = rnnprobe.record(rnnprobe.build("mlp", hidden_size=3, depth=2), torch.ones(3))
    with pytest.raises(InvalidArgument, match="residual"):
        path_lengths(traj)
    with pytest.raises(InvalidArgument, match="Trajectory"):
        path_lengths("not a trajectory")


# ------------------------------------------------------------------- theory vs measurement
@pytest.mark.parametrize("name,alpha,sw,sb,n", [
    ("linear", 1.0, 1.0, 0.0, 128),     # α²σ_w² = 1: Veit's Binomial(L, ½)
    ("linear", 0.5, 1.2, 0.0, 128),
    ("tanh", 1.0, 1.0, 0.0, 128),
    ("tanh", 0.7, 1.5, 0.3, 128),
])
def test_expected_squared_path_contributions(name, alpha, sw, sb, n):
    """E‖gᵀ P[m]‖² = e_m(g_1 … g_L) for random readouts g (|g| = 1).

    Exact in expectation for a linear branch at any width (each W_l enters linearly and independently,
    so distinct paths are uncorrelated); mean-field for tanh, where each branch factor carries an O(1/n)
    correction (|E R/χ₁ − 1| < 0.85/n for tanh over σ_w ∈ [1, 3], σ_b ∈ [0, 0.5], cf. layer_growth; we
    allow 2/n), so a length-m term may be off by m·2/n relative. Averaged over 24 networks (one input and readout each: a linear branch's Jacobian
    does not depend on the input, so more inputs per network would not be independent samples);
    tolerance 4 standard errors (spread over the 24 networks) plus that allowance.
    """
    L, S, B = 8, 24, 1
    samples = []
    for seed in range(S):
        model = rnnprobe.build("resmlp", hidden_size=n, depth=L, alpha=alpha, gain=sw, bias_std=sb,
                               nonlinearity=name, seed=seed)
        x = torch.randn(B, n, generator=torch.Generator().manual_seed(1000 + seed), dtype=torch.float64)
        samples.append(path_lengths(rnnprobe.record(model, x), seed=2000 + seed).norms.pow(2).numpy())
    samples = np.concatenate(samples)                                     # (S·B, L+1)
    pred = ens.elementary_symmetric(ens.residual_branch_gains(L, alpha, sw, sb, name, input_mean_square=1.0))
    se = samples.std(0) / math.sqrt(samples.shape[0])
    allowance = 0.0 if name == "linear" else np.arange(L + 1) * 2 / n * pred
    assert np.all(np.abs(samples.mean(0) - pred) <= 4 * se + allowance), (samples.mean(0), pred, se)
    weights = ens.path_length_weights(ens.residual_branch_gains(L, alpha, sw, sb, name))
    measured = samples.mean(0) / samples.mean(0).sum()
    assert 0.5 * np.abs(measured - weights).sum() < 0.03                  # total variation distance
