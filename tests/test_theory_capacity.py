"""Closed-form linear memory capacity (Jaeger 2001) against closed forms, Monte Carlo and rnnprobe.memory_capacity."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.linalg
import torch

import rnnprobe
from rnnprobe.capacity import CapacityResolutionWarning
from rnnprobe.errors import InvalidArgument
from rnnprobe.theory import capacity as cap


@pytest.mark.parametrize("a", [0.0, 0.5, 0.95])
def test_scalar_reservoir_in_both_conventions(a):
    # h(t) = a h(t−1) + u(t): C = 1/(1 − a²), MC_k = a^{2k} (1 − a²) for the delay k ≥ 0
    mc = cap.linear_memory_capacity(np.array([[a]]), np.array([1.0]), max_lag=30)
    k = np.arange(31)
    assert mc.delays.tolist() == k.tolist()
    assert np.allclose(mc.per_lag, a ** (2 * k) * (1 - a**2), atol=1e-13)
    assert mc.rank == 1 and mc.same_step == pytest.approx(1 - a**2, abs=1e-13)
    assert mc.limit == pytest.approx(a**2, abs=1e-13)                      # Σ_{k≥1} = N − MC_0
    assert mc.total == pytest.approx(a**2 - a**62, abs=1e-13)              # Σ_{k=1}^{30}


def test_per_delay_formula_matches_lyapunov_solution():
    # MC_k = b_kᵀ C⁻¹ b_k, b_k = W^k w, with C from scipy's discrete Lyapunov solver (an independent route)
    rng = np.random.default_rng(0)
    W = rng.standard_normal((5, 5))
    W *= 0.8 / np.abs(np.linalg.eigvals(W)).max()
    w = rng.standard_normal(5)
    C = scipy.linalg.solve_discrete_lyapunov(W, np.outer(w, w))
    ref, v = [], w.copy()
    for _ in range(26):
        ref.append(v @ np.linalg.solve(C, v))
        v = W @ v
    mc = cap.linear_memory_capacity(W, w, max_lag=25)
    assert np.allclose(mc.per_lag, ref, atol=1e-9) and mc.same_step == pytest.approx(ref[0], abs=1e-9)
    long = cap.linear_memory_capacity(W, w, max_lag=4000)
    assert long.same_step + long.total == pytest.approx(5.0, abs=1e-9)   # Σ_{k≥0} MC_k = N
    assert long.total == pytest.approx(5.0 - ref[0], abs=1e-9) and long.limit == pytest.approx(5.0 - ref[0], abs=1e-9)


def test_krylov_rank_and_capacity_equal_it():
    W = np.diag([0.5, 0.5, 0.8, -0.3, -0.3])
    assert cap.krylov_rank(W, np.ones(5)) == 3                  # distinct eigenvalues 0.5, 0.8, −0.3
    assert cap.krylov_rank(W, np.array([1.0, 0, 0, 0, 0])) == 1  # w in an invariant subspace
    assert cap.krylov_rank(np.diag([0.1, 0.2, 0.3]), np.ones(3)) == 3
    assert cap.krylov_rank(W, np.zeros(5)) == 0
    with pytest.warns(CapacityResolutionWarning, match=r"resolves 3 of the n = 5 read-out directions at rtol = 1e-12"):
        mc = cap.linear_memory_capacity(W, np.ones(5), max_lag=200)
    assert mc.rank == 3 and mc.same_step + mc.total == pytest.approx(3.0, abs=1e-9)
    assert mc.limit == pytest.approx(3.0 - mc.same_step, abs=1e-12)


def test_the_closed_form_states_its_tolerance():
    # a Gaussian W at radius 0.9, N = 50: C's eigenvalues fall below any fixed tolerance, so the rank is the
    # tolerance's (40 at 1e-8, 47 at 1e-12 for this seed), and the result and a warning say so
    model = rnnprobe.build("vanilla-linear", hidden_size=50, init="spectral", gain=0.9, seed=0)
    A, w, _ = cap.reservoir_matrices(model)
    ranks = []
    for rtol in (1e-8, 1e-12):
        with pytest.warns(CapacityResolutionWarning, match=rf"resolves \d+ of the n = 50 .* at rtol = {rtol:.3g}"):
            mc = cap.linear_memory_capacity(A, w, 200, rtol=rtol)
        assert mc.rtol == rtol and mc.same_step + mc.total == pytest.approx(mc.rank, abs=1e-6)
        ranks.append(mc.rank)
    assert ranks[0] < ranks[1] < 50
    with warnings.catch_warnings():                         # full rank: no warning
        warnings.simplefilter("error", CapacityResolutionWarning)
        assert cap.linear_memory_capacity(np.diag([0.5, 0.8]), np.ones(2), 50).rank == 2


def _gaussian_heldout(rho2, N, n_train, n_test, reps, rng):
    """Monte Carlo of the held-out estimator on Gaussian data: h ~ N(0, I_N), y = √ρ² h₁ + √(1 − ρ²) ε;
    least squares with an intercept on n_train samples (normal equations, batched), null-corrected squared
    correlation on n_test held-out samples."""
    rho2 = np.asarray(rho2)
    n = n_train + n_test
    H = rng.standard_normal((reps, n, N))
    Y = np.sqrt(rho2) * H[:, :, :1] + np.sqrt(1 - rho2) * rng.standard_normal((reps, n, rho2.size))
    X = np.concatenate([np.ones((reps, n, 1)), H], axis=2)
    Xt, Yt = X[:, :n_train], Y[:, :n_train]
    coef = np.linalg.solve(Xt.transpose(0, 2, 1) @ Xt, Xt.transpose(0, 2, 1) @ Yt)
    P, Ys = X[:, n_train:] @ coef, Y[:, n_train:]
    P, Ys = P - P.mean(1, keepdims=True), Ys - Ys.mean(1, keepdims=True)
    r2 = (P * Ys).sum(1) ** 2 / ((P**2).sum(1) * (Ys**2).sum(1))
    return 1 - (1 - r2) * (n_test - 1) / (n_test - 2)


def test_expected_heldout_capacity_against_gaussian_monte_carlo():
    # small samples so that the bias is large (up to 0.036 at MC_k = 0.3, 0.013 at MC_k = 0.02)
    rng = np.random.default_rng(1)
    rho2 = np.array([0.0, 0.02, 0.1, 0.3, 0.6, 0.9, 0.99])
    N, n_train, n_test, reps = 5, 100, 50, 6000
    est = _gaussian_heldout(rho2, N, n_train, n_test, reps, rng)
    mean, se = est.mean(0), est.std(0, ddof=1) / math.sqrt(reps)
    pred = cap.expected_heldout_capacity(rho2, N, n_train, n_test)
    nu = n_train - N - 2
    # 4 standard errors, plus (N/ν)² for the second-order terms the Gaussian approximation drops
    assert np.all(np.abs(mean - pred) <= 4 * se + (N / nu) ** 2), (mean, pred, se)
    # the biases are real: the population values are excluded where they are large
    assert np.all(np.abs(mean - rho2)[2:5] > 10 * se[2:5])
    # forgotten delays: exactly unbiased; first order for λ ≫ N: MC_k − (1 − MC_k)(N − 1)/ν − 2MC_k(1 − MC_k)/n_test
    assert pred[0] == 0.0
    first = rho2 - (1 - rho2) * (N - 1) / nu - 2 * rho2 * (1 - rho2) / (n_test + 1)
    assert pred[-1] == pytest.approx(first[-1], abs=1e-4)
    # finite and monotone up to MC_k = 1 (scipy's ₂F₁ series fails within ~1e-13 of 1; the limit is used there)
    near = cap.expected_heldout_capacity(1 - np.logspace(-3, -17, 40), 10, 8000, 2000)
    assert np.isfinite(near).all() and np.all(np.diff(near) >= 0) and near[-1] == pytest.approx(1.0, abs=1e-15)


def _measure_and_predict(model, n_samples=10_000, seed=0):
    max_lag = 4 * model.hidden_size
    meas = rnnprobe.memory_capacity(model, max_lag=max_lag, n_samples=n_samples, seed=seed)
    pred = cap.predicted_memory_capacity(model, max_lag=max_lag)
    return meas, pred, cap.expected_heldout_capacity(pred.per_lag, meas.effective_rank, meas.n_train, meas.n_test)


def _per_delay_tolerance(pred, n_test):
    """A squared correlation over n_test held-out samples: s.e. 2√MC(1 − MC)/√n (delta method) and √2/n at
    MC = 0 (a χ²₁/n); 5 standard errors."""
    return 5 * (2 * np.sqrt(pred) * (1 - pred) / math.sqrt(n_test) + math.sqrt(2) / n_test)


@pytest.mark.parametrize("init,gain,n,seed", [("spectral", 0.9, 8, 0), ("orthogonal", 0.8, 6, 1),
                                              ("spectral", 0.5, 10, 2)])
def test_prediction_matches_rnnprobe_memory_capacity(init, gain, n, seed):
    model = rnnprobe.build("vanilla-linear", hidden_size=n, init=init, gain=gain, seed=seed)
    A, w, _ = cap.reservoir_matrices(model)
    assert cap.krylov_rank(A, w) == n
    meas, pred, expected = _measure_and_predict(model)
    tol = _per_delay_tolerance(pred.per_lag, meas.n_test)
    assert np.all(np.abs(meas.per_lag.numpy() - expected) <= tol)
    assert meas.total == pytest.approx(expected[1:].sum(), abs=math.sqrt(np.sum(tol**2)))
    assert pred.rank == n and pred.same_step + pred.total > n - 0.05          # Σ_{k≥0} MC_k = N, full Krylov rank


def test_degenerate_krylov_rank_limits_measured_capacity():
    model = rnnprobe.build("vanilla-linear", hidden_size=5, seed=0)
    with torch.no_grad():
        model.W_h.copy_(torch.diag(torch.tensor([0.5, 0.5, 0.8, -0.3, -0.3], dtype=torch.float64)))
    A, w, _ = cap.reservoir_matrices(model)
    assert cap.krylov_rank(A, w) == 3
    with pytest.warns(CapacityResolutionWarning):
        meas, pred, expected = _measure_and_predict(model)
    assert pred.rank == meas.effective_rank == 3
    assert pred.same_step + pred.total == pytest.approx(3.0, abs=2e-3)       # 21 delays: tail ~ 0.8^42
    assert meas.same_step + meas.total == pytest.approx(3.0, abs=0.05)
    assert np.all(np.abs(meas.per_lag.numpy() - expected) <= _per_delay_tolerance(pred.per_lag, meas.n_test))


def test_readout_of_a_dense_linear_rnn():
    # window K = 2: the state [h_t, h_{t−1}] has 2n entries but the readout sees only h_t
    model = rnnprobe.build("dense", hidden_size=4, window=2, nonlinearity="linear", init="orthogonal", gain=0.7, seed=3)
    A, w, P = cap.reservoir_matrices(model)
    assert A.shape == (8, 8) and P.shape == (4, 8)
    meas, pred, expected = _measure_and_predict(model)
    assert pred.rank == 4
    assert np.all(np.abs(meas.per_lag.numpy() - expected) <= _per_delay_tolerance(pred.per_lag, meas.n_test))


BAD_CALLS = [
    (lambda: cap.reservoir_matrices(rnnprobe.build("vanilla-tanh", hidden_size=3)), "affine"),
    (lambda: cap.linear_memory_capacity(np.diag([1.0, 0.5]), np.ones(2)), "spectral radius"),
    (lambda: cap.linear_memory_capacity(np.diag([0.1, 0.5]), np.ones(2), rtol=0.0), r"rtol must lie in \(0, 1\); got 0.0"),
    (lambda: cap.krylov_rank(np.eye(3), np.ones(2)), "length N"),
    (lambda: cap.reservoir_matrices(rnnprobe.build("mlp", hidden_size=3, depth=2)), "recurrent"),
    (lambda: cap.expected_heldout_capacity([0.5, 1.2], 3, 100, 20), r"per_lag must lie in \[0, 1\]"),
    (lambda: cap.expected_heldout_capacity([0.5], 3, 5, 20), r"n_train must be >= 6; got 5"),
    (lambda: cap.expected_heldout_capacity([0.5], 3, 100, 2), r"n_test must be >= 3; got 2"),
    (lambda: cap.expected_heldout_capacity([0.5], 0, 100, 20), r"n_regressors must be >= 1; got 0"),
    (lambda: cap.expected_heldout_capacity([np.nan], 3, 100, 20), r"per_lag must be a finite 1-d array"),
]


@pytest.mark.parametrize("call, message", BAD_CALLS, ids=[m[:24] for _, m in BAD_CALLS])
def test_errors(call, message):
    with pytest.raises(InvalidArgument, match=message):
        call()
