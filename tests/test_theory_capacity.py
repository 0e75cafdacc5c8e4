"""Closed-form linear memory capacity (Jaeger 2001) against closed forms and rnnprobe.memory_capacity."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

import rnnprobe
from rnnprobe.errors import InvalidArgument
from rnnprobe.theory import capacity as cap


@pytest.mark.parametrize("a", [0.0, 0.5, 0.95])
def test_scalar_reservoir(a):
    # h' = a h + u: C = 1/(1 − a²), MC_k = a^{2(k−1)} (1 − a²)
    mc = cap.linear_memory_capacity(np.array([[a]]), np.array([1.0]), max_lag=30)
    k = np.arange(1, 31)
    assert np.allclose(mc.per_lag, a ** (2 * (k - 1)) * (1 - a**2), atol=1e-13)
    assert mc.rank == 1


def test_per_lag_formula_matches_lyapunov_solution():
    # MC_k = b_kᵀ C⁻¹ b_k with C from scipy's discrete Lyapunov solver (an independent route)
    rng = np.random.default_rng(0)
    W = rng.standard_normal((5, 5))
    W *= 0.8 / np.abs(np.linalg.eigvals(W)).max()
    w = rng.standard_normal(5)
    C = scipy.linalg.solve_discrete_lyapunov(W, np.outer(w, w))
    ref, v = [], w.copy()
    for _ in range(25):
        ref.append(v @ np.linalg.solve(C, v))
        v = W @ v
    mc = cap.linear_memory_capacity(W, w, max_lag=25)
    assert np.allclose(mc.per_lag, ref, atol=1e-9)
    assert cap.linear_memory_capacity(W, w, max_lag=4000).total == pytest.approx(5.0, abs=1e-9)


def test_krylov_rank_and_capacity_equal_it():
    W = np.diag([0.5, 0.5, 0.8, -0.3, -0.3])
    assert cap.krylov_rank(W, np.ones(5)) == 3                  # distinct eigenvalues 0.5, 0.8, −0.3
    assert cap.krylov_rank(W, np.array([1.0, 0, 0, 0, 0])) == 1  # w in an invariant subspace
    assert cap.krylov_rank(np.diag([0.1, 0.2, 0.3]), np.ones(3)) == 3
    assert cap.krylov_rank(W, np.zeros(5)) == 0
    mc = cap.linear_memory_capacity(W, np.ones(5), max_lag=200)
    assert mc.rank == 3 and mc.total == pytest.approx(3.0, abs=1e-9)


def _measure_and_predict(model, n_samples=10_000):
    max_lag = 4 * model.hidden_size
    return (rnnprobe.memory_capacity(model, max_lag=max_lag, n_samples=n_samples, seed=0),
            cap.predicted_memory_capacity(model, max_lag=max_lag))


def _per_lag_tolerance(pred, n_samples, N):
    """Squared correlation estimated from n samples: s.e. 2√MC(1 − MC)/√n (delta method), plus the
    positive bias ~ N/n of an N-regressor fit; we allow 5 standard errors plus 2N/n."""
    return 5 * 2 * np.sqrt(pred) * (1 - pred) / math.sqrt(n_samples) + 2 * N / n_samples


@pytest.mark.parametrize("init,gain,n,seed", [("spectral", 0.9, 8, 0), ("orthogonal", 0.8, 6, 1),
                                              ("spectral", 0.5, 10, 2)])
def test_prediction_matches_rnnprobe_memory_capacity(init, gain, n, seed):
    model = rnnprobe.build("vanilla-linear", hidden_size=n, init=init, gain=gain, seed=seed)
    A, w, _ = cap.reservoir_matrices(model)
    assert cap.krylov_rank(A, w) == n
    meas, pred = _measure_and_predict(model)
    assert np.all(np.abs(meas.per_lag.numpy() - pred.per_lag) <= _per_lag_tolerance(pred.per_lag, 10_000, n))
    assert meas.total == pytest.approx(pred.total, abs=0.02)
    assert pred.rank == n and pred.total > n - 0.05                # MC = N for full Krylov rank


def test_degenerate_krylov_rank_limits_measured_capacity():
    model = rnnprobe.build("vanilla-linear", hidden_size=5, seed=0)
    with torch.no_grad():
        model.W_h.copy_(torch.diag(torch.tensor([0.5, 0.5, 0.8, -0.3, -0.3], dtype=torch.float64)))
    A, w, _ = cap.reservoir_matrices(model)
    assert cap.krylov_rank(A, w) == 3
    meas, pred = _measure_and_predict(model)
    assert pred.rank == 3 and pred.total == pytest.approx(3.0, abs=2e-3)       # 20 lags: tail ~ 0.8^40
    assert meas.total == pytest.approx(3.0, abs=0.02)
    assert np.all(np.abs(meas.per_lag.numpy() - pred.per_lag) <= _per_lag_tolerance(pred.per_lag, 10_000, 5))


def test_readout_of_a_dense_linear_rnn():
    # window K = 2: the state [h_t, h_{t−1}] has 2n entries but the readout sees only h_t
    model = rnnprobe.build("dense", hidden_size=4, window=2, nonlinearity="linear", init="orthogonal", gain=0.7, seed=3)
    A, w, P = cap.reservoir_matrices(model)
    assert A.shape == (8, 8) and P.shape == (4, 8)
    meas, pred = _measure_and_predict(model)
    assert pred.rank == 4 and meas.total == pytest.approx(pred.total, abs=0.02)
    assert np.all(np.abs(meas.per_lag.numpy() - pred.per_lag) <= _per_lag_tolerance(pred.per_lag, 10_000, 4))


def test_errors():
    with pytest.raises(InvalidArgument, match="affine"):
        cap.reservoir_matrices(rnnprobe.build("vanilla-tanh", hidden_size=3))
    with pytest.raises(InvalidArgument, match="spectral radius"):
        cap.linear_memory_capacity(np.diag([1.0, 0.5]), np.ones(2))
    with pytest.raises(InvalidArgument, match="length N"):
        cap.krylov_rank(np.eye(3), np.ones(2))
    with pytest.raises(InvalidArgument, match="recurrent"):
        cap.reservoir_matrices(rnnprobe.build("mlp", hidden_size=3, depth=2))
