"""Jaeger's linear memory capacity, scored on held-out data.

References: an independent held-out estimator written here (numpy states, numpy least squares
with an intercept, np.corrcoef on the held-out samples), the closed form of linear reservoirs
(scipy's Lyapunov solver), exact delay lines, and a hard bound on the summed estimate.
"""

import math
import warnings

import numpy as np
import pytest
import scipy.linalg
import torch
from hypothesis import given
from hypothesis import strategies as st

import rnnprobe
from rnnprobe import strategies as rs
from rnnprobe.capacity import CapacityResolutionWarning, heldout_split
from rnnprobe.errors import InvalidArgument
from rnnprobe.theory import capacity as cap


def inputs(seed, steps, scale=1.0):
    """The documented input sequence of memory_capacity: u ~ U(−scale, scale) from torch.Generator(seed)."""
    g = torch.Generator().manual_seed(seed)
    return ((2 * torch.rand(steps, generator=g, dtype=torch.float64) - 1) * scale).numpy()


def tanh_states(W, w, b, u):
    """h(t) = tanh(W h(t−1) + w u(t) + b) from h = 0, in numpy: row t has just read u[t]."""
    h, out = np.zeros(W.shape[0]), np.empty((len(u), W.shape[0]))
    for t, x in enumerate(u):
        h = np.tanh(W @ h + w * x + b)
        out[t] = h
    return out


def reference_heldout(H, u, max_lag, n_test, ridge=0.0):
    """Independent held-out estimator: H[t] has just read u[t]; readouts of u[t − k] fitted on the first
    len(H) − max_lag − n_test usable rows (least squares with an intercept, or ridge on centred states),
    scored by the squared correlation on the last n_test rows, null-corrected."""
    T = len(H)
    rows = np.arange(max_lag, T)
    X, n_train = H[rows], len(rows) - n_test
    out = []
    for k in range(max_lag + 1):
        y = u[rows - k]
        if ridge == 0.0:
            A = np.column_stack([np.ones(n_train), X[:n_train]])
            coef, *_ = np.linalg.lstsq(A, y[:n_train], rcond=None)
            pred = np.column_stack([np.ones(n_test), X[n_train:]]) @ coef
        else:
            mu = X[:n_train].mean(0)
            Xc = X[:n_train] - mu
            coef = np.linalg.solve(Xc.T @ Xc + ridge * np.eye(X.shape[1]), Xc.T @ (y[:n_train] - y[:n_train].mean()))
            pred = (X[n_train:] - mu) @ coef
        r2 = np.corrcoef(pred, y[n_train:])[0, 1] ** 2
        out.append(1 - (1 - r2) * (n_test - 1) / (n_test - 2))
    return np.array(out)


def tanh_reservoir(N, radius, seed, input_scale=1.0):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((N, N))
    W *= radius / np.abs(np.linalg.eigvals(W)).max()
    w = rng.uniform(-input_scale, input_scale, N)
    model = rnnprobe.build("vanilla-tanh", hidden_size=N, seed=0)
    with torch.no_grad():
        model.W_h.copy_(torch.from_numpy(W))
        model.W_x.copy_(torch.from_numpy(w[:, None]))
        model.b.zero_()
    return model, W, w


@pytest.mark.parametrize("N, radius, ridge", [(12, 0.9, 0.0), (20, 0.99, 0.0), (12, 0.9, 3.0)])
def test_matches_an_independent_heldout_estimator_on_identical_data(N, radius, ridge):
    # nonlinear reservoirs; the reference simulates the states in numpy and fits with numpy
    model, W, w = tanh_reservoir(N, radius, seed=N)
    max_lag, n_samples, washout = 3 * N, 3000, 100
    mc = rnnprobe.memory_capacity(model, max_lag=max_lag, n_samples=n_samples, washout=washout, seed=4, ridge=ridge)
    u = inputs(4, washout + max_lag + n_samples)
    H = tanh_states(W, w, np.zeros(N), u)[washout:]
    ref = reference_heldout(H, u[washout:], max_lag, mc.n_test, ridge)
    assert (mc.n_train, mc.n_test) == (2400, 600) and mc.effective_rank == N and mc.ridge == ridge
    np.testing.assert_allclose(mc.per_lag.numpy(), ref, rtol=0, atol=1e-9)
    assert mc.total == pytest.approx(ref[1:].sum(), abs=1e-8) and mc.same_step == pytest.approx(ref[0], abs=1e-9)


def test_matches_an_independent_heldout_estimator_on_a_torch_gru():
    # the reference reads the states from torch.nn.GRU itself (not rnnprobe's adapter)
    torch.manual_seed(0)
    gru = torch.nn.GRU(1, 6).to(torch.float64)
    max_lag, n_samples, washout = 15, 2000, 50
    mc = rnnprobe.memory_capacity(gru, max_lag=max_lag, n_samples=n_samples, washout=washout, seed=2)
    u = inputs(2, washout + max_lag + n_samples)
    with torch.no_grad():
        H = gru(torch.from_numpy(u)[:, None, None])[0][:, 0].numpy()[washout:]
    ref = reference_heldout(H, u[washout:], max_lag, mc.n_test)
    np.testing.assert_allclose(mc.per_lag.numpy(), ref, rtol=0, atol=1e-9)


def test_agrees_with_the_reference_on_independent_inputs_within_sampling_error():
    # the reference draws its own inputs (numpy), so only the distributions must agree
    N, max_lag, n_samples, washout, seeds = 10, 30, 2500, 100, 6
    model, W, w = tanh_reservoir(N, 0.95, seed=1)
    ours = [rnnprobe.memory_capacity(model, max_lag=max_lag, n_samples=n_samples, washout=washout, seed=s).total
            for s in range(seeds)]
    theirs = []
    for s in range(seeds):
        u = np.random.default_rng(1000 + s).uniform(-1, 1, washout + max_lag + n_samples)
        theirs.append(reference_heldout(tanh_states(W, w, np.zeros(N), u)[washout:], u[washout:], max_lag, 500)[1:].sum())
    se = math.sqrt(np.var(ours, ddof=1) / seeds + np.var(theirs, ddof=1) / seeds)
    assert abs(np.mean(ours) - np.mean(theirs)) <= 4 * se, (np.mean(ours), np.mean(theirs), se)


def test_total_does_not_grow_with_max_lag():
    # a tanh reservoir forgets within ~40 steps: the 260 delays beyond add only sampling noise, each
    # MC_k ~ (χ²₁ − 1)/n_test (sd √2/n_test); an in-sample fit would add about N/n each (0.5 in all)
    N, n_samples = 10, 5000
    model, _, _ = tanh_reservoir(N, 0.9, seed=3)
    long = rnnprobe.memory_capacity(model, max_lag=300, n_samples=n_samples, seed=0)
    tail = long.per_lag[41:].numpy()
    tail_sd = math.sqrt(2 * len(tail)) / long.n_test
    assert abs(tail.sum()) <= 4 * tail_sd and N * len(tail) / long.n_train > 8 * tail_sd
    short = [rnnprobe.memory_capacity(model, max_lag=40, n_samples=n_samples, seed=s).total for s in range(4)]
    spread = np.std(short, ddof=1)
    assert abs(long.total - short[0]) <= 4 * spread + 4 * tail_sd, (long.total, short, spread)


def closed_form_per_delay(model, max_lag):
    """MC_k of h(t) = W h(t−1) + w u(t), k = 0 … max_lag: (W^k w)ᵀ C⁻¹ (W^k w) with C = W C Wᵀ + w wᵀ."""
    W = model.W_h.detach().numpy()
    w = model.W_x.detach().numpy().sum(axis=1)        # the same u on every input dimension
    C = scipy.linalg.solve_discrete_lyapunov(W, np.outer(w, w))
    out, v = [], w.copy()
    for _ in range(max_lag + 1):
        out.append(float(v @ scipy.linalg.solve(C, v, assume_a="pos")))
        v = W @ v
    return np.array(out)


@pytest.mark.parametrize("N, gain", [(5, 0.7), (10, 0.8), (20, 0.7)])
def test_linear_reservoir_matches_the_closed_form_in_both_conventions(N, gain):
    model = rnnprobe.build("vanilla-linear", hidden_size=N, init="orthogonal", gain=gain, seed=N)
    mc = rnnprobe.memory_capacity(model, n_samples=10_000, seed=1)
    assert mc.per_lag.shape == (4 * N + 1,) and mc.delays.tolist() == list(range(4 * N + 1))
    ref = closed_form_per_delay(model, 4 * N)
    expected = cap.expected_heldout_capacity(ref, N, mc.n_train, mc.n_test)
    # per delay: 5 sampling standard errors of a squared correlation over n_test samples (delta method,
    # 2√MC(1 − MC)/√n, plus √2/n at MC = 0) around the estimator's expected value
    se = 2 * np.sqrt(ref) * (1 - ref) / math.sqrt(mc.n_test) + math.sqrt(2) / mc.n_test
    np.testing.assert_allclose(mc.per_lag.numpy(), expected, rtol=0, atol=5 * se.max())
    # Σ_{k≥0} MC_k → N; Jaeger's Σ_{k≥1} → N − MC_0 (the 4N + 1 delays hold all but ~N·gain^{8N} of it)
    tail = 10 * N * gain ** (8 * N) + 1e-8                  # plus the Lyapunov solve's rounding
    assert ref.sum() == pytest.approx(N, abs=tail) and ref[1:].sum() == pytest.approx(N - ref[0], abs=tail)
    spread = 5 * math.sqrt(np.sum(se**2) * 4 * N)           # errors across delays may add coherently
    assert mc.same_step + mc.total == pytest.approx(N, abs=spread)
    assert mc.total == pytest.approx(N - ref[0], abs=spread)
    assert mc.same_step == pytest.approx(ref[0], abs=5 * se[0])


def test_delay_convention_on_a_delay_line():
    # h(t) = (u(t), u(t−1), u(t−2)) exactly: delays 0, 1, 2 are remembered, nothing else
    model = rnnprobe.build("vanilla-linear", hidden_size=3, seed=0)
    with torch.no_grad():
        model.W_h.copy_(torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]], dtype=torch.float64))
        model.W_x.copy_(torch.tensor([[1.0], [0], [0]], dtype=torch.float64))
    mc = rnnprobe.memory_capacity(model, max_lag=8, n_samples=4000, seed=0)
    np.testing.assert_allclose(mc.per_lag[:3].numpy(), 1.0, rtol=0, atol=1e-12)
    assert float(mc.per_lag[3:].abs().max()) < 5 * math.sqrt(2) / mc.n_test
    assert mc.same_step == pytest.approx(1.0, abs=1e-12)
    assert mc.total == pytest.approx(2.0, abs=6 * math.sqrt(2 * 6) / mc.n_test)
    # W = 0: the state is w·u(t), the input of the same step, and nothing before it
    with torch.no_grad():
        model.W_h.zero_()
    with pytest.warns(CapacityResolutionWarning, match=r"resolve only 1 of the N = 3"):     # the states are w·u(t)
        mc = rnnprobe.memory_capacity(model, max_lag=5, n_samples=4000, seed=0)
    assert mc.same_step == pytest.approx(1.0, abs=1e-12)
    assert abs(mc.total) < 5 * math.sqrt(2 * 5) / mc.n_test


@pytest.mark.filterwarnings("ignore::rnnprobe.capacity.CapacityResolutionWarning")
@given(model=rs.models(architectures=["vanilla-linear", "vanilla-tanh", "gru", "lstm", "residual", "dense"],
                       max_hidden=8, max_input=2, min_gain=0.1, max_gain=0.99),
       seed=st.integers(0, 10_000), n_samples=st.integers(100, 800), input_scale=st.sampled_from([0.1, 1.0]),
       test_fraction=st.sampled_from([0.2, 0.5]))
def test_structure_and_a_hard_bound(model, seed, n_samples, input_scale, test_fraction):
    N = model.hidden_size
    max_lag, washout = 3 * N, 50
    mc = rnnprobe.memory_capacity(model, max_lag=max_lag, n_samples=n_samples, washout=washout, seed=seed,
                                  input_scale=input_scale, test_fraction=test_fraction)
    m = mc.n_test
    assert (mc.n_train, mc.n_test) == heldout_split(n_samples, test_fraction)
    assert mc.per_lag.shape == mc.delays.shape == (max_lag + 1,) and mc.delays.tolist() == list(range(max_lag + 1))
    assert bool(torch.isfinite(mc.per_lag).all())
    assert bool((mc.per_lag >= -1 / (m - 2) - 1e-12).all()) and bool((mc.per_lag <= 1 + 1e-12).all())
    assert mc.total == pytest.approx(float(mc.per_lag[1:].sum()), rel=1e-12, abs=1e-12)
    assert mc.same_step == float(mc.per_lag[0]) and 0 <= mc.effective_rank <= N
    # the readouts' held-out outputs lie in an effective_rank-dimensional space P, so
    # Σ_k r²_k ≤ Σ_k ‖P ỹ_k‖² ≤ rank · λ_max(correlation matrix of the held-out targets)
    u = inputs(seed, washout + max_lag + n_samples, input_scale)
    rows = np.arange(washout + max_lag, len(u))[mc.n_train:]
    Y = np.stack([u[rows - k] for k in range(max_lag + 1)], axis=1)
    lam = np.linalg.eigvalsh(np.corrcoef(Y, rowvar=False)).max()
    assert mc.same_step + mc.total <= mc.effective_rank * lam * (m - 1) / (m - 2) + 1e-9


def test_warns_with_the_effective_rank_when_states_are_not_resolved():
    # Krylov space of dimension 3 in N = 5: the states span 3 directions exactly
    model = rnnprobe.build("vanilla-linear", hidden_size=5, seed=0)
    with torch.no_grad():
        model.W_h.copy_(torch.diag(torch.tensor([0.5, 0.5, 0.8, -0.3, -0.3], dtype=torch.float64)))
    with pytest.warns(CapacityResolutionWarning, match=r"resolve only 3 of the N = 5 directions"):
        mc = rnnprobe.memory_capacity(model, max_lag=20, n_samples=4000, seed=0)
    assert mc.effective_rank == 3 and mc.same_step + mc.total == pytest.approx(3.0, abs=0.05)
    # a linear reservoir with a Gaussian W near radius 1: directions below float64 resolution; the count
    # depends on the tolerance, which the result states
    model = rnnprobe.build("vanilla-linear", hidden_size=50, init="spectral", gain=0.9, seed=0)
    with pytest.warns(CapacityResolutionWarning, match=r"resolve only \d+ of the N = 50") as record:
        coarse = rnnprobe.memory_capacity(model, max_lag=60, n_samples=3000, seed=0, rtol=1e-8)
    assert f"only {coarse.effective_rank} of" in str(record[0].message) and coarse.rtol == 1e-8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CapacityResolutionWarning)
        fine = rnnprobe.memory_capacity(model, max_lag=60, n_samples=3000, seed=0)
    assert fine.rtol == pytest.approx(2400 * np.finfo(float).eps) and coarse.effective_rank < fine.effective_rank < 50
    # a well-conditioned reservoir resolves all N and does not warn
    with warnings.catch_warnings():
        warnings.simplefilter("error", CapacityResolutionWarning)
        mc = rnnprobe.memory_capacity(rnnprobe.build("vanilla-tanh", hidden_size=6, gain=0.9, seed=3), n_samples=2000)
    assert mc.effective_rank == 6


def test_capacity_is_seeded_and_reads_torch_modules():
    model = rnnprobe.build("vanilla-tanh", hidden_size=6, gain=0.9, seed=3)
    a, b = (rnnprobe.memory_capacity(model, n_samples=2000, seed=5) for _ in range(2))
    assert a.total == b.total and torch.equal(a.per_lag, b.per_lag)
    assert rnnprobe.memory_capacity(model, n_samples=2000, seed=6).total != a.total
    torch.manual_seed(0)
    mc = rnnprobe.memory_capacity(torch.nn.GRU(2, 4), n_samples=2000)
    assert mc.state_size == 4 and 0 < mc.total <= 4


def test_ridge_shrinks_towards_zero():
    model = rnnprobe.build("vanilla-tanh", hidden_size=6, gain=0.9, seed=3)
    plain = rnnprobe.memory_capacity(model, max_lag=12, n_samples=2000, seed=0)
    assert plain.ridge == 0.0
    # an enormous ridge leaves w ∝ Hᵀy: still a readout, scored by correlation, but a worse one
    heavy = rnnprobe.memory_capacity(model, max_lag=12, n_samples=2000, seed=0, ridge=1e9)
    assert heavy.total < plain.total


_MODEL = rnnprobe.build("vanilla-tanh", hidden_size=4)

BAD_CALLS = [
    (dict(model=rnnprobe.build("mlp", hidden_size=3)), r"model must be a recurrent net with input_size >= 1; got 'mlp'"),
    (dict(model=rnnprobe.build("gru", hidden_size=3, input_size=0)), r"input_size 0"),
    (dict(ridge=-1.0), r"ridge must lie in \[0, inf\); got -1.0"),
    (dict(ridge=float("nan")), r"ridge must be a finite real number; got nan"),
    (dict(test_fraction=0.0), r"test_fraction must lie in \(0, 1\); got 0.0"),
    (dict(test_fraction=1.0), r"test_fraction must lie in \(0, 1\); got 1.0"),
    (dict(test_fraction=1.5), r"test_fraction must lie in \(0, 1\); got 1.5"),
    (dict(n_samples=10), r"n_samples must leave at least hidden_size \+ 2 = 6 training and 3 held-out samples at "
                         r"test_fraction=0.2; got n_samples=10 \(8 training, 2 held out\)"),
    (dict(n_samples=20, test_fraction=0.8), r"got n_samples=20 \(4 training, 16 held out\)"),
    (dict(max_lag=0), r"max_lag must be >= 1; got 0"),
    (dict(washout=-1), r"washout must be >= 0; got -1"),
    (dict(input_scale=0.0), r"input_scale must lie in \(0, inf\); got 0.0"),
    (dict(seed=-3), r"seed must be >= 0; got -3"),
    (dict(n_samples=100.5), r"n_samples must be an integer; got 100.5"),
    (dict(rtol=0.0), r"rtol must lie in \(0, 1\); got 0.0"),
    (dict(model=rnnprobe.build("vanilla-linear", hidden_size=3, init="orthogonal", gain=1.5)), r"NaN/Inf"),
]


@pytest.mark.parametrize("kwargs, message", BAD_CALLS, ids=[m[:30] for _, m in BAD_CALLS])
def test_capacity_rejects_bad_arguments(kwargs, message):
    kwargs = dict(kwargs)
    model = kwargs.pop("model", _MODEL)
    with pytest.raises(InvalidArgument, match=message):
        rnnprobe.memory_capacity(model, **kwargs)
