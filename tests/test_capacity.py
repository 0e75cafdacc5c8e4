"""Jaeger's linear memory capacity: closed form for linear reservoirs, MC <= N always."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from hypothesis import given
from hypothesis import strategies as st

import rnnprobe
from rnnprobe import strategies as rs
from rnnprobe.errors import InvalidArgument


def closed_form_per_lag(model, max_lag):
    """MC_k of x' = W x + w u for i.i.d. u: (W^{k-1}w)ᵀ C⁻¹ (W^{k-1}w) with C = W C Wᵀ + w wᵀ."""
    W = model.W_h.detach().numpy()
    w = model.W_x.detach().numpy().sum(axis=1)        # the same u on every input dimension
    C = scipy.linalg.solve_discrete_lyapunov(W, np.outer(w, w))
    out, v = [], w.copy()
    for _ in range(max_lag):
        out.append(float(v @ scipy.linalg.solve(C, v, assume_a="pos")))
        v = W @ v
    return np.array(out)


@pytest.mark.parametrize("N, gain", [(5, 0.7), (10, 0.8), (20, 0.9), (20, 0.7)])
def test_linear_orthogonal_reservoir_approaches_N_and_matches_the_closed_form(N, gain):
    model = rnnprobe.build("vanilla-linear", hidden_size=N, init="orthogonal", gain=gain, seed=N)
    n_samples = 10_000
    mc = rnnprobe.memory_capacity(model, n_samples=n_samples, seed=1)
    assert mc.state_size == N and mc.per_lag.shape == (4 * N,)
    assert 0.95 * N <= mc.total <= N * (1 + 1e-12)
    ref = closed_form_per_lag(model, 4 * N)
    # Sampling error of one squared correlation from n samples: its standard error is
    # <= 2ρ(1-ρ²)/√n <= 0.77/√n, the least-squares fit inflates it by about N/n, and
    # orthonormalising the lagged inputs moves them by O(1/√n). Allow 4/√n + N/n.
    tol = 4 / math.sqrt(n_samples) + N / n_samples
    np.testing.assert_allclose(mc.per_lag.numpy(), ref, rtol=0, atol=tol)
    # the truncated closed-form sum, to the same per-lag tolerance (errors partly cancel)
    assert abs(mc.total - ref.sum()) <= tol * 4


@given(model=rs.models(architectures=["vanilla-linear", "vanilla-tanh", "gru", "lstm", "residual", "dense"],
                       max_hidden=8, max_input=2, min_gain=0.1, max_gain=0.99),
       seed=st.integers(0, 10_000), n_samples=st.integers(100, 800), input_scale=st.sampled_from([0.1, 1.0]))
def test_capacity_never_exceeds_N(model, seed, n_samples, input_scale):
    N = model.hidden_size
    max_lag = min(3 * N, n_samples - N - 1)
    mc = rnnprobe.memory_capacity(model, max_lag=max_lag, n_samples=n_samples, washout=50, seed=seed,
                                  input_scale=input_scale)
    assert mc.per_lag.shape == (max_lag,)
    assert bool((mc.per_lag >= 0).all()) and bool((mc.per_lag <= 1).all())
    assert 0.0 <= mc.total <= N * (1 + 1e-12)
    assert mc.total == pytest.approx(float(mc.per_lag.sum()), rel=1e-12, abs=1e-12)


def test_capacity_is_seeded_and_reads_torch_modules():
    model = rnnprobe.build("vanilla-tanh", hidden_size=6, gain=0.9, seed=3)
    a, b = (rnnprobe.memory_capacity(model, n_samples=2000, seed=5) for _ in range(2))
    assert a.total == b.total and torch.equal(a.per_lag, b.per_lag)
    assert rnnprobe.memory_capacity(model, n_samples=2000, seed=6).total != a.total
    torch.manual_seed(0)
    mc = rnnprobe.memory_capacity(torch.nn.GRU(2, 4), n_samples=2000)
    assert mc.state_size == 4 and 0 < mc.total <= 4


def test_a_memoryless_reservoir_remembers_one_step():
    # W = 0: the state is w·u_{t-1} exactly; MC_1 = 1 and nothing else
    model = rnnprobe.build("vanilla-linear", hidden_size=3, seed=0)
    with torch.no_grad():
        model.W_h.zero_()
    mc = rnnprobe.memory_capacity(model, max_lag=5, n_samples=5000)
    # the orthonormalised targets differ from u_{t-k} by their sample correlations with
    # the other 4 lags (each ~1/√n): 1 - MC_1 is about (max_lag - 1)/n
    assert 1 - 5 / 5000 <= float(mc.per_lag[0]) <= 1.0
    assert float(mc.per_lag[1:].max()) < 4 / math.sqrt(5000)


def test_capacity_rejects_bad_arguments():
    model = rnnprobe.build("vanilla-tanh", hidden_size=4)
    with pytest.raises(InvalidArgument, match=r"model must be a recurrent net with input_size >= 1; got 'mlp'"):
        rnnprobe.memory_capacity(rnnprobe.build("mlp", hidden_size=3))
    with pytest.raises(InvalidArgument, match=r"input_size 0"):
        rnnprobe.memory_capacity(rnnprobe.build("gru", hidden_size=3, input_size=0))
    with pytest.raises(InvalidArgument, match=r"n_samples must exceed max_lag \+ hidden_size = 14; got 14"):
        rnnprobe.memory_capacity(model, max_lag=10, n_samples=14)
    with pytest.raises(InvalidArgument, match=r"max_lag must be >= 1; got 0"):
        rnnprobe.memory_capacity(model, max_lag=0)
    with pytest.raises(InvalidArgument, match=r"washout must be >= 0; got -1"):
        rnnprobe.memory_capacity(model, washout=-1)
    with pytest.raises(InvalidArgument, match=r"input_scale must lie in \(0, inf\); got 0.0"):
        rnnprobe.memory_capacity(model, input_scale=0.0)
    with pytest.raises(InvalidArgument, match=r"seed must be >= 0; got -3"):
        rnnprobe.memory_capacity(model, seed=-3)
    with pytest.raises(InvalidArgument, match=r"n_samples must be an integer; got 100.5"):
        rnnprobe.memory_capacity(model, n_samples=100.5)
    exploding = rnnprobe.build("vanilla-linear", hidden_size=3, init="orthogonal", gain=1.5)
    with pytest.raises(InvalidArgument, match=r"NaN/Inf"):
        rnnprobe.memory_capacity(exploding)
