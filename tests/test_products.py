"""Jacobian products through time: G(t), singular values, closed forms, long horizons.

Every number is checked against an independent reference: autograd's full
Jacobian of the unrolled net, ``torch.linalg`` SVDs, closed forms (linear and
orthogonal RNNs, diagonal W) and an mpmath high-precision SVD.
"""

import math

import mpmath
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import rnnprobe
from rnnprobe import strategies as rs
from rnnprobe.errors import InvalidArgument
from rnnprobe.linalg import spectral_norms

EPS = torch.finfo(torch.float64).eps
ARCHS = sorted(rnnprobe.architectures)


# --------------------------------------------------------------------------- strategies
# every architecture, with the options that change its Jacobian: the four nonlinearities wherever one can be
# chosen, update and forget biases of both signs, chrono initialisation or a forget bias for the LSTM
OPTIONS = {"nonlinearity": st.sampled_from(["tanh", "sigmoid", "relu", "linear"]), "update_bias": st.floats(-2.0, 3.0),
           "forget_bias": st.floats(-1.0, 3.0), "chrono": st.none() | st.integers(3, 50)}
BOUNDS = dict(max_hidden=4, min_input=0, max_input=2, min_gain=0.3, max_gain=3.0, max_bias_std=0.5, max_depth=6)
MODELS = rs.models(architectures=ARCHS, options={**OPTIONS, "growth": st.integers(1, 2)}, **BOUNDS)
RECURRENT_MODELS = rs.models(architectures=rnnprobe.architectures.recurrent(), options=OPTIONS, **BOUNDS)
# input scales: undriven, near-linear for tanh/sigmoid (small), unit and saturating
SCALES = st.sampled_from([0.0, 1e-3, 0.1, 1.0, 3.0])
BATCHES = st.sampled_from([None, 2])


# --------------------------------------------------------------------------- references
def unrolled_jacobian(traj, t, b=0):
    """autograd's full Jacobian ∂s_T/∂s_t of sequence b, unrolling ``model.step``."""
    model, xs = traj.model, traj.inputs[:, b : b + 1]

    def f(s):
        s = s.unsqueeze(0)
        for j in range(t, traj.length):
            s = model.step(xs[j], s, j)
        return s.squeeze(0)

    return torch.autograd.functional.jacobian(f, traj.states[t, b].clone())


def forward_error_scale(traj, t, b=0):
    """Π_s ‖J_s‖₂: the scale of float64 rounding in a product of step Jacobians."""
    J = traj.step_jacobians(t)[:, b]
    return float(torch.linalg.matrix_norm(J, ord=2).prod())


def as_batch(values, traj):
    return values if traj.batched else values.unsqueeze(0)


# --------------------------------------------------------------------------- G(t) vs autograd
@given(traj=rs.trajectories(MODELS, max_length=8, batch=BATCHES, scales=SCALES))
def test_jacobian_norms_equal_spectral_norm_of_autograd_unrolled_jacobian(traj):
    G = as_batch(rnnprobe.jacobian_norms(traj), traj)      # default method
    assert G.shape == (traj.batch_size, traj.length)
    for b in range(traj.batch_size):
        for t in range(traj.length):
            ref = torch.linalg.matrix_norm(unrolled_jacobian(traj, t, b), ord=2)
            atol = 1e-13 * forward_error_scale(traj, t, b)
            assert abs(float(G[b, t] - ref)) <= 1e-8 * float(ref) + atol, (t, b, float(G[b, t]), float(ref))


@pytest.mark.parametrize("name", ARCHS)
@pytest.mark.parametrize("gain", [0.5, 1.5, 3.0])
def test_every_architecture_jacobian_norms_equal_autograd(name, gain):
    # the property test above draws architectures at random; this grid covers each one for sure
    spec = rnnprobe.architectures[name]
    g = torch.Generator().manual_seed(3)
    if spec.kind == "feedforward":
        model = rnnprobe.build(name, hidden_size=3, depth=6, gain=gain, seed=3, bias_std=0.5)
        x = torch.randn(2, 3, generator=g, dtype=torch.float64)
    else:
        model = rnnprobe.build(name, hidden_size=3, gain=gain, seed=3, bias_std=0.5)
        x = torch.randn(6, 2, 1, generator=g, dtype=torch.float64)
    traj = rnnprobe.record(model, x)
    G = rnnprobe.jacobian_norms(traj)
    for b in range(2):
        ref = torch.stack([torch.linalg.matrix_norm(unrolled_jacobian(traj, t, b), ord=2) for t in range(6)])
        torch.testing.assert_close(G[b], ref, rtol=1e-8, atol=0)


@given(traj=rs.trajectories(MODELS, max_length=8, batch=BATCHES, scales=SCALES), data=st.data())
def test_jacobian_product_equals_autograd_unrolled_jacobian(traj, data):
    t = data.draw(st.integers(0, traj.length - 1), label="t")
    P = as_batch(rnnprobe.jacobian_product(traj, t), traj)
    for b in range(traj.batch_size):
        ref = unrolled_jacobian(traj, t, b)
        atol = 1e-12 * max(1.0, forward_error_scale(traj, t, b))
        torch.testing.assert_close(P[b], ref, rtol=1e-10, atol=atol)


@given(traj=rs.trajectories(RECURRENT_MODELS, max_length=8, batch=3, scales=SCALES))
def test_batched_trajectory_gives_the_unbatched_results_per_sequence(traj):
    model, x = traj.model, traj.inputs
    G, sv = rnnprobe.jacobian_norms(traj), rnnprobe.jacobian_singular_values(traj)
    P = rnnprobe.jacobian_product(traj)
    for b in range(3):
        single = rnnprobe.record(model, x[:, b])
        torch.testing.assert_close(G[b], rnnprobe.jacobian_norms(single), rtol=1e-10, atol=1e-300)
        torch.testing.assert_close(sv[b], rnnprobe.jacobian_singular_values(single), rtol=1e-8, atol=1e-12 * float(sv[b].max()))
        torch.testing.assert_close(P[b], rnnprobe.jacobian_product(single), rtol=1e-10, atol=1e-14)


def test_batched_feedforward_stack_gives_the_unbatched_results_per_sequence():
    net = rnnprobe.build("densemlp", hidden_size=3, depth=5, growth=2, seed=4, gain=1.3)
    x = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    G = rnnprobe.jacobian_norms(rnnprobe.record(net, x))
    assert G.shape == (4, 5)
    for b in range(4):
        torch.testing.assert_close(G[b], rnnprobe.jacobian_norms(rnnprobe.record(net, x[b])), rtol=1e-10, atol=0)


# --------------------------------------------------------------------------- power iteration vs SVD
def _with_singular_values(s, m, n, seed):
    g = torch.Generator().manual_seed(seed)
    U = torch.linalg.qr(torch.randn(m, m, generator=g, dtype=torch.float64))[0]
    V = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))[0]
    S = torch.zeros(m, n, dtype=torch.float64)
    k = min(m, n, len(s))
    S[range(k), range(k)] = torch.tensor(s[:k], dtype=torch.float64)
    return U @ S @ V.T


def _assert_power_matches_svd(A, rtol):
    sigma, u, converged = spectral_norms(A)
    ref = torch.linalg.matrix_norm(A, ord=2)
    assert sigma.shape == ref.shape and u.shape == A.shape[:2] and converged.dtype == torch.bool
    assert torch.isfinite(sigma).all() and torch.isfinite(u).all()
    torch.testing.assert_close(sigma, ref, rtol=rtol, atol=0)


@pytest.mark.parametrize("shape", [(1, 1), (5, 5), (3, 7), (8, 2), (32, 32)])
def test_power_iteration_matches_svd_on_random_matrices(shape):
    A = torch.randn(20, *shape, generator=torch.Generator().manual_seed(sum(shape)), dtype=torch.float64)
    _assert_power_matches_svd(A, rtol=1e-12)


def test_power_iteration_on_matrices_with_equal_top_singular_values():
    # orthogonal × c: every singular value is c; repeated top pair; all equal but one
    orth = torch.stack([_with_singular_values([c] * 6, 6, 6, seed) for seed, c in enumerate([1.0, 0.3, 7.0])])
    pair = torch.stack([_with_singular_values([2.0, 2.0, 1.0, 0.5], 4, 4, seed) for seed in range(5)])
    _assert_power_matches_svd(orth, rtol=1e-13)
    _assert_power_matches_svd(pair, rtol=1e-13)


@pytest.mark.parametrize("gap", [1e-2, 1e-4, 1e-6, 1e-7, 3e-8, 1e-9, 1e-12])
def test_power_iteration_with_nearly_equal_top_singular_values(gap):
    # The hard case: the estimate barely moves per iteration, so a small change
    # of it does not mean convergence. Accuracy must not depend on the gap.
    A = torch.stack([_with_singular_values([1.0, 1.0 - gap, 0.6, 0.3, 0.1], 5, 5, seed) for seed in range(30)])
    _assert_power_matches_svd(A, rtol=1e-11)


def test_power_iteration_on_rank_deficient_and_zero_matrices():
    rank1 = torch.stack([_with_singular_values([3.0], 5, 4, seed) for seed in range(4)])
    rank2 = torch.stack([_with_singular_values([1.0, 1.0], 6, 6, seed) for seed in range(4)])
    _assert_power_matches_svd(rank1, rtol=1e-13)
    _assert_power_matches_svd(rank2, rtol=1e-13)
    zero = torch.zeros(3, 4, 4, dtype=torch.float64)
    sigma, u, converged = spectral_norms(zero)
    assert sigma.tolist() == [0.0, 0.0, 0.0]
    assert torch.isfinite(u).all()
    assert torch.log(sigma).tolist() == [-math.inf] * 3


def test_power_iteration_warm_start_orthogonal_to_top_vector_still_converges():
    A = torch.stack([_with_singular_values([2.0, 1.0, 0.5], 3, 3, seed) for seed in range(6)])
    U = torch.linalg.svd(A)[0]
    bad_start = U[:, :, 1]        # exactly the second singular vector: no top component
    sigma, _, _ = spectral_norms(A, bad_start)
    torch.testing.assert_close(sigma, torch.linalg.matrix_norm(A, ord=2), rtol=1e-12, atol=0)


def test_power_iteration_reports_unconverged_matrices_without_fallback():
    A = _with_singular_values([1.0, 1.0 - 1e-6, 0.5], 3, 3, 0)[None]
    sigma, _, converged = spectral_norms(A, max_iter=3, fallback=False, block=1)
    assert not bool(converged[0])
    assert float(sigma[0]) <= float(torch.linalg.matrix_norm(A, ord=2)[0]) * (1 + 1e-15)  # a lower bound


@pytest.mark.parametrize("block", [1, 2, 3, 8, 40])
def test_subspace_iteration_matches_svd_for_every_block_size(block):
    # singular values 1, 1 − 1e-3, ... : a cluster at the top, where a single vector is slow
    s = [1.0, 1.0 - 1e-3, 1.0 - 2e-3, 0.9, 0.5] + [0.3] * 27
    A = torch.stack([_with_singular_values(s, 32, 32, seed) for seed in range(6)])
    sigma, u, converged = spectral_norms(A, block=block)
    torch.testing.assert_close(sigma, torch.linalg.matrix_norm(A, ord=2), rtol=1e-11, atol=0)
    assert u.shape == (6, 32)


def test_a_block_converges_where_a_single_vector_cannot_within_the_same_iterations():
    s = [1.0, 1.0 - 1e-3, 0.99, 0.98, 0.5, 0.5, 0.5, 0.5] + [0.1] * 8     # σ₉/σ₁ = 0.1, σ₂/σ₁ = 0.999
    A = torch.stack([_with_singular_values(s, 16, 16, seed) for seed in range(4)])
    _, _, single = spectral_norms(A, block=1, max_iter=60, fallback=False)
    _, _, blocked = spectral_norms(A, block=8, max_iter=60, fallback=False)
    assert not bool(single.any()) and bool(blocked.all())


def test_returned_subspace_is_orthonormal_and_led_by_the_top_left_singular_vector():
    A = torch.stack([_with_singular_values([3.0, 2.0, 1.5, 1.0, 0.5, 0.1], 6, 6, seed) for seed in range(5)])
    sigma, U, _ = spectral_norms(A, block=4, return_subspace=True)
    assert U.shape == (5, 4, 6)
    torch.testing.assert_close(U @ U.mT, torch.eye(4, dtype=torch.float64).expand(5, 4, 4), rtol=0, atol=1e-12)
    top = torch.linalg.svd(A)[0][:, :, 0]
    torch.testing.assert_close((U[:, 0] * top).sum(-1).abs(), torch.ones(5, dtype=torch.float64), rtol=0, atol=1e-9)


def test_warm_subspace_orthogonal_to_the_top_vector_still_finds_it():
    A = torch.stack([_with_singular_values([2.0, 1.0, 0.9, 0.8, 0.5, 0.4, 0.3, 0.2], 8, 8, seed) for seed in range(4)])
    left = torch.linalg.svd(A)[0]
    bad = left[:, :, 1:5].mT                        # rows span singular directions 2-5: no top component
    sigma, _, _ = spectral_norms(A, bad, block=5, fallback=False)
    torch.testing.assert_close(sigma, torch.linalg.matrix_norm(A, ord=2), rtol=1e-11, atol=0)


def test_slow_matrices_get_the_exact_fallback():
    A = torch.stack([_with_singular_values([1.0, 1.0 - 1e-9, 0.5, 0.25], 4, 4, seed) for seed in range(3)])
    sigma, u, converged = spectral_norms(A, block=1, max_iter=4)
    torch.testing.assert_close(sigma, torch.linalg.matrix_norm(A, ord=2), rtol=1e-14, atol=0)
    # the fallback's vector is a unit left singular vector of σ₁ (or of its near-twin)
    torch.testing.assert_close(torch.linalg.vector_norm(A.mT @ u.unsqueeze(-1), dim=(-2, -1)), sigma, rtol=1e-8, atol=0)


@given(traj=rs.trajectories(MODELS, max_length=12, batch=BATCHES, scales=SCALES))
def test_jacobian_norms_power_and_svd_methods_agree(traj):
    power = rnnprobe.jacobian_norms(traj, method="power", log=True)
    svd = rnnprobe.jacobian_norms(traj, method="svd", log=True)
    assert not torch.isnan(power).any()
    finite = torch.isfinite(svd)
    assert torch.equal(finite, torch.isfinite(power))
    torch.testing.assert_close(power[finite], svd[finite], rtol=0, atol=1e-10)


@pytest.mark.parametrize("arch", ["vanilla-tanh", "vanilla-sigmoid", "gru", "lstm", "residual"])
def test_jacobian_norms_near_linear_orthogonal_nets(arch):
    # orthogonal W and tiny inputs: every singular value of the product lies
    # within ~1e-7 of the top one, where a naive power iteration stalls.
    for seed in range(4):
        model = rnnprobe.build(arch, hidden_size=4, init="orthogonal", gain=1.0, seed=seed)
        x = 3e-4 * torch.randn(12, 1, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        traj = rnnprobe.record(model, x)
        ref = torch.stack([torch.linalg.matrix_norm(unrolled_jacobian(traj, t), ord=2) for t in range(12)])
        torch.testing.assert_close(rnnprobe.jacobian_norms(traj), ref, rtol=1e-10, atol=0)


@pytest.mark.parametrize("arch, hidden", [("vanilla-tanh", 24), ("vanilla-relu", 24), ("gru", 12), ("lstm", 10),
                                          ("residual", 16), ("dense", 8)])
@pytest.mark.parametrize("gain", [0.5, 1.0, 1.6])
def test_subspace_iteration_beyond_the_exact_short_lags_matches_the_svd(arch, hidden, gain):
    # T well beyond the shortest lags done exactly: most lags go through the warm-started
    # subspace iteration (state sizes 16-40 > its 8 vectors), per sequence of a batch
    model = rnnprobe.build(arch, hidden_size=hidden, gain=gain, init="orthogonal", seed=1)
    x = torch.randn(150, 2, 1, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    traj = rnnprobe.record(model, x)
    power = rnnprobe.jacobian_norms(traj, method="power", log=True)
    svd = rnnprobe.jacobian_norms(traj, method="svd", log=True)
    assert power.shape == (2, 150)
    torch.testing.assert_close(power, svd, rtol=0, atol=1e-10)


def test_subspace_iteration_on_clustered_spectra_of_near_linear_orthogonal_nets():
    # orthogonal W and tiny inputs: the top singular values of every product cluster within
    # ~1e-6, where a single-vector power iteration stalls
    model = rnnprobe.build("vanilla-tanh", hidden_size=48, init="orthogonal", gain=1.0, seed=0)
    x = 3e-4 * torch.randn(120, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    traj = rnnprobe.record(model, x)
    torch.testing.assert_close(rnnprobe.jacobian_norms(traj, method="power"),
                               rnnprobe.jacobian_norms(traj, method="svd"), rtol=1e-10, atol=0)


def test_zero_products_give_zero_norms_and_minus_inf_logs_never_nan():
    model = rnnprobe.build("vanilla-relu", hidden_size=3, seed=0)
    with torch.no_grad():
        model.b.fill_(-10.0)                       # every unit dead: J_t = 0
    traj = rnnprobe.record(model, torch.randn(6, 1, dtype=torch.float64))
    for method in ("power", "svd"):
        assert rnnprobe.jacobian_norms(traj, method=method).tolist() == [0.0] * 6
        assert rnnprobe.jacobian_norms(traj, method=method, log=True).tolist() == [-math.inf] * 6
    sv = rnnprobe.jacobian_singular_values(traj, log=True)
    assert not torch.isnan(sv).any() and bool((sv == -math.inf).all())


def test_partially_dead_relu_keeps_finite_top_and_minus_inf_tail():
    model = rnnprobe.build("vanilla-linear", hidden_size=3, seed=0)
    with torch.no_grad():
        model.W_h.copy_(torch.diag(torch.tensor([0.5, 0.25, 0.0], dtype=torch.float64)))
    traj = rnnprobe.record(model, torch.randn(5, 1, dtype=torch.float64))
    sv = rnnprobe.jacobian_singular_values(traj, log=True)
    k = traj.lags.to(torch.float64)
    torch.testing.assert_close(sv[:, 0], k * math.log(0.5), rtol=0, atol=1e-12)
    torch.testing.assert_close(sv[:, 1], k * math.log(0.25), rtol=0, atol=1e-12)
    assert bool((sv[:, 2] == -math.inf).all())


# --------------------------------------------------------------------------- closed forms
def _linear(n, *, gain, init="orthogonal", seed=0, W=None):
    model = rnnprobe.build("vanilla-linear", hidden_size=n, init=init, gain=gain, seed=seed, bias_std=0.5)
    if W is not None:
        with torch.no_grad():
            model.W_h.copy_(W)
    return model


@pytest.mark.parametrize("init", ["gaussian", "orthogonal", "spectral"])
def test_linear_rnn_product_is_a_matrix_power(init):
    model = _linear(5, gain=0.9, init=init, seed=3)
    traj = rnnprobe.record(model, torch.randn(12, 1, dtype=torch.float64))
    W = model.W_h.detach()
    for start in range(13):
        for stop in range(start, 13, 3):
            torch.testing.assert_close(rnnprobe.jacobian_product(traj, start, stop),
                                       torch.linalg.matrix_power(W, stop - start), rtol=1e-12, atol=1e-14)


def test_orthogonal_identity_rnn_has_unit_singular_values_at_every_lag():
    model = _linear(6, gain=1.0, seed=1)
    traj = rnnprobe.record(model, torch.randn(60, 1, dtype=torch.float64))
    sv = rnnprobe.jacobian_singular_values(traj)
    assert sv.shape == (60, 6)
    torch.testing.assert_close(sv, torch.ones(60, 6, dtype=torch.float64), rtol=0, atol=1e-12)
    torch.testing.assert_close(rnnprobe.jacobian_norms(traj), torch.ones(60, dtype=torch.float64), rtol=0, atol=1e-12)


@pytest.mark.parametrize("gain", [0.3, 0.8, 1.7])
def test_scaled_orthogonal_rnn_has_singular_values_g_to_the_k(gain):
    model = _linear(5, gain=gain, seed=2)
    traj = rnnprobe.record(model, torch.randn(80, 1, dtype=torch.float64))
    k = traj.lags.to(torch.float64)
    expected = (k * math.log(gain))[:, None].expand(80, 5)
    torch.testing.assert_close(rnnprobe.jacobian_singular_values(traj, log=True), expected, rtol=0, atol=1e-11 * 80)
    torch.testing.assert_close(rnnprobe.jacobian_norms(traj, log=True), expected[:, 0], rtol=0, atol=1e-11 * 80)
    torch.testing.assert_close(rnnprobe.jacobian_norms(traj), gain**k, rtol=1e-10, atol=0)


@pytest.mark.parametrize("T", [30, 3000])
def test_diagonal_rnn_singular_values_are_powers_of_the_diagonal(T):
    a = torch.tensor([0.95, -0.7, 0.3, -0.05], dtype=torch.float64)
    model = _linear(4, gain=1.0, W=torch.diag(a))
    traj = rnnprobe.record(model, torch.randn(T, 1, dtype=torch.float64))
    k = traj.lags.to(torch.float64)[:, None]
    expected = k * torch.log(a.abs())               # already decreasing
    got = rnnprobe.jacobian_singular_values(traj, log=True)
    assert torch.isfinite(got).all()               # 0.05^3000 = 1e-3903: only in log space
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12 * T)
    torch.testing.assert_close(rnnprobe.jacobian_norms(traj, log=True), expected[:, 0], rtol=0, atol=1e-12 * T)
    if T <= 30:
        torch.testing.assert_close(rnnprobe.jacobian_singular_values(traj), torch.exp(expected), rtol=1e-10, atol=0)


# --------------------------------------------------------------------------- the fast paths of the sweep
@pytest.mark.parametrize("chunk", [None, 5, 16])
@pytest.mark.parametrize("arch, hidden", [("vanilla-tanh", 40), ("gru", 20)])
def test_power_path_over_many_chunks_matches_the_svd(arch, hidden, chunk):
    # several chunks: from the second warm chunk on, the sweep carries the rows U P̂ (the
    # iteration's first product) and every block starts from the previous chunk's subspace
    model = rnnprobe.build(arch, hidden_size=hidden, gain=1.2, init="orthogonal", seed=2)
    x = torch.randn(90, 2, 1, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    traj = rnnprobe.record(model, x)
    power = rnnprobe.jacobian_norms(traj, method="power", log=True, chunk_size=chunk)
    svd = rnnprobe.jacobian_norms(traj, method="svd", log=True)
    torch.testing.assert_close(power, svd, rtol=0, atol=1e-10)


def test_factored_products_equal_the_products_of_formed_jacobians(monkeypatch):
    # a vanilla RNN's J_t = diag(d_t) W_h: the sweep forms P J_t as (P diag(d_t)) W_h
    from rnnprobe.products import normalized_products
    model = rnnprobe.build("vanilla-tanh", hidden_size=6, gain=1.5, seed=1, bias_std=0.3)
    traj = rnnprobe.record(model, torch.randn(30, 2, 1, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
    assert model.jacobian_factors(traj.inputs[:3], traj.states[:3]) is not None
    factored = [(s, P.clone(), c) for s, P, c in normalized_products(traj, 7)]
    monkeypatch.setattr(type(model), "jacobian_factors", lambda self, xs, states, t0=0: None)
    formed = list(normalized_products(traj, 7))
    for (s1, P1, c1), (s2, P2, c2) in zip(factored, formed, strict=True):
        assert s1 == s2
        torch.testing.assert_close(P1, P2, rtol=0, atol=1e-14)
        torch.testing.assert_close(c1, c2, rtol=0, atol=1e-13)


def test_declared_factors_that_the_jacobians_do_not_have_are_not_used():
    # a model that claims the lecture's form but whose Jacobian has another: checked, then ignored
    class Wrong(type(rnnprobe.build("vanilla-tanh", hidden_size=2))):
        def derivative_diagonals(self, xs, states, t0=0):
            return torch.ones_like(super().derivative_diagonals(xs, states, t0))

    model = Wrong(hidden_size=5, gain=1.3, seed=2, bias_std=0.5)
    traj = rnnprobe.record(model, torch.randn(8, 1, generator=torch.Generator().manual_seed(2), dtype=torch.float64))
    ref = torch.stack([torch.linalg.matrix_norm(unrolled_jacobian(traj, t), ord=2) for t in range(8)])
    torch.testing.assert_close(rnnprobe.jacobian_norms(traj), ref, rtol=1e-10, atol=0)


def test_models_outside_the_lecture_form_have_no_factors():
    for name in ("gru", "lstm", "residual", "dense"):
        model = rnnprobe.build(name, hidden_size=3, seed=0)
        traj = rnnprobe.record(model, torch.zeros(2, 1))
        assert model.jacobian_factors(traj.inputs, traj.states[:-1]) is None, name


def test_a_converged_ritz_value_is_certified_by_its_gap_from_a_residual_near_sqrt_tol():
    # Kato–Temple: with θ₁ − α >= gap·θ₁ (α >= λ₂ from ‖A‖_F² and the other Ritz values), a residual
    # ε <= √(tol·gap)·θ₁ already pins σ₁ to tol/2; a residual test ε <= tol·θ₁ would iterate on
    from rnnprobe.linalg import subspace_iteration
    s = [1.0, 0.6, 0.3, 0.1, 0.05, 0.01]
    A = torch.stack([_with_singular_values(s, 6, 6, seed) for seed in range(5)])
    left = torch.linalg.svd(A)[0]
    g = torch.Generator().manual_seed(0)
    start = left[:, :, :3].mT + 1e-6 * torch.randn(5, 3, 6, generator=g, dtype=torch.float64)
    U = torch.linalg.qr(start.mT)[0].mT
    sigma, ritz, converged = subspace_iteration(A, U, tol=1e-10, max_iter=1, patience=8)
    assert bool(converged.all())                       # one Rayleigh–Ritz step, residual ~1e-6 > tol
    torch.testing.assert_close(sigma, torch.full((5,), 1.0, dtype=torch.float64), rtol=5e-11, atol=0)
    # told ‖A‖_F² = 3 (not the true 1.46), α >= 3 − θ₁ − θ₃ > θ₁: no gap is certified, so not converged
    too_big = torch.full((5,), 3.0, dtype=torch.float64)
    assert not bool(subspace_iteration(A, U, tol=1e-10, max_iter=1, patience=8, fro2=too_big)[2].any())


# --------------------------------------------------------------------------- long horizons
LONG_T = 100_000


def test_long_horizon_orthogonal_linear_in_log_space():
    """T = 1e5, gain 0.5: G = 0.5^k underflows float64 beyond k ≈ 1075; the log is k log 0.5."""
    model = _linear(4, gain=0.5, seed=0)
    traj = rnnprobe.record(model, torch.randn(LONG_T, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    k = traj.lags.to(torch.float64)
    log_G = rnnprobe.jacobian_norms(traj, log=True)
    assert torch.isfinite(log_G).all()
    # each renormalised step adds one rounding of log 0.5: error ~ k·eps
    torch.testing.assert_close(log_G, k * math.log(0.5), rtol=1e-12, atol=1e-9)
    sv = rnnprobe.jacobian_singular_values(traj, log=True)
    assert sv.shape == (LONG_T, 4) and torch.isfinite(sv).all()
    torch.testing.assert_close(sv, (k * math.log(0.5))[:, None].expand_as(sv), rtol=1e-12, atol=1e-9)


def test_long_horizon_tanh_rnn_in_log_space():
    """T = 1e5 for a contracting tanh RNN: finite logs, ordered, top singular value = G."""
    model = rnnprobe.build("vanilla-tanh", hidden_size=3, init="orthogonal", gain=0.5, seed=0, bias_std=0.3)
    x = torch.randn(LONG_T, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    traj = rnnprobe.record(model, x)
    log_G = rnnprobe.jacobian_norms(traj, log=True)
    sv = rnnprobe.jacobian_singular_values(traj, log=True)
    assert torch.isfinite(log_G).all() and torch.isfinite(sv).all()
    assert bool((sv[:, :-1] >= sv[:, 1:]).all())
    # ‖J_s‖ <= ‖D_s‖‖W_h‖ < 0.5, so G(t) <= 0.5^k and G shrinks as the lag grows
    k = traj.lags.to(torch.float64)
    assert bool((log_G <= k * math.log(0.5) + 1e-9).all())
    assert bool((log_G[:-1] <= log_G[1:] + 1e-9).all())
    torch.testing.assert_close(sv[:, 0], log_G, rtol=1e-12, atol=1e-8)
    # bracketed by independent per-step SVDs: Σ log σ_min(J_s) <= log G(t) <= Σ log ‖J_s‖₂
    step_sv = torch.linalg.svdvals(traj.step_jacobians()[:, 0])
    upper = torch.log(step_sv[:, 0]).flip(0).cumsum(0).flip(0)
    lower = torch.log(step_sv[:, -1]).flip(0).cumsum(0).flip(0)
    assert bool((log_G <= upper + 1e-6).all()) and bool((log_G >= lower - 1e-6).all())
    assert bool((sv[:, -1] >= lower - 1e-6).all())       # so is the smallest: σ_min(P) >= Π σ_min(J_s)


# --------------------------------------------------------------------------- mpmath reference
MP_DPS = 250


def _mp_log_singular_values(traj):
    """log singular values of every product, from mpmath at MP_DPS digits, shape (T, S)."""
    J = traj.step_jacobians()[:, 0]
    S, T = traj.state_size, traj.length
    out = torch.empty(T, S, dtype=torch.float64)
    with mpmath.workdps(MP_DPS):
        P = mpmath.eye(S)
        for t in range(T - 1, -1, -1):
            P = P * mpmath.matrix(J[t].tolist())
            sv = mpmath.svd_r(P, compute_uv=False)
            logs = sorted((float(mpmath.log(sv[i])) for i in range(S)), reverse=True)
            out[t] = torch.tensor(logs, dtype=torch.float64)
    return out


@pytest.mark.parametrize("arch, gain, seed, n, rounding_check", [
    ("vanilla-tanh", 2.5, 4, 3, False), ("vanilla-tanh", 0.6, 1, 4, False), ("gru", 1.0, 2, 3, False),
    ("gru-torch", 2.0, 6, 3, False), ("lstm", 1.0, 3, 3, False), ("lstm", 2.0, 5, 3, False), ("dense", 1.5, 7, 2, False),
    ("vanilla-tanh", 2.5, 4, 3, True), ("gru-torch", 2.0, 6, 3, True), ("lstm", 2.0, 5, 3, True),
])
def test_singular_values_against_mpmath(arch, gain, seed, n, rounding_check):
    """Accuracy of ``jacobian_singular_values`` against a 250-digit SVD of the product.

    * Resolved values (true σ_i >= 1e-12·σ₁, taken from an SVD of the
      renormalised product): absolute error <= 10·k·eps·σ₁ (observed <= 2·k·eps·σ₁),
      i.e. the top one to float64 rounding and the rest to ``10·k·eps·σ₁/σ_i``
      relative (about 1e-3 just above the resolution 1e-12).
    * The tail (true σ_i < 1e-12·σ₁, from the QR sweep's accumulated log|R_ii|)
      is accurate only in log, to an offset set by the orientation of the
      output frame: bounded (observed <= 14.2 nats over these models; tested
      <= 20) and not growing like the lag: fitted against k, the error grows
      by less than a tenth of the rate at which log(σ_i/σ₁) falls, so its share
      of log σ_i vanishes as k grows. (Near-equal exponents can swap estimates
      between indices: per-index errors are bounded, not constant.)
    """
    model = rnnprobe.build(arch, hidden_size=n, gain=gain, seed=seed)
    T = 70
    x = torch.randn(T, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    traj = rnnprobe.record(model, x)
    est = rnnprobe.jacobian_singular_values(traj, log=True, rounding_check=rounding_check)
    ref = _mp_log_singular_values(traj)
    rel = ref - ref[:, :1]
    # the reference itself resolves down to ~10^-(MP_DPS - 20) of σ₁
    assert float(rel.min()) > -(MP_DPS - 40) * math.log(10)
    k = traj.lags.to(torch.float64)[:, None]
    resolved = rel >= math.log(2e-12)
    tail = rel < math.log(1e-12)
    # resolved: |σ̂ - σ| <= 10 k eps σ₁
    abs_err = (torch.exp(est - ref[:, :1]) - torch.exp(rel)).abs()
    assert bool((abs_err[resolved] <= (10 * EPS * k).expand_as(ref)[resolved]).all()), float(abs_err[resolved].max())
    torch.testing.assert_close(est[:, 0], ref[:, 0], rtol=0, atol=10 * EPS * T)
    # tail: bounded log error that does not grow with the lag
    if tail.any():
        assert float((est - ref)[tail].abs().max()) <= 20.0
        for i in range(traj.state_size):
            rows = tail[:, i].nonzero().squeeze(-1)
            if rows.numel() < 10:
                continue
            lag = k[rows, 0]
            err = (est - ref)[rows, i]
            A = torch.stack([lag, torch.ones_like(lag)], dim=1)
            slope = float(torch.linalg.lstsq(A, err[:, None]).solution[0, 0])
            fall_rate = float((rel[rows, i] / lag).abs().min())
            assert abs(slope) <= 0.1 * fall_rate, (i, slope, fall_rate)



def test_singular_value_tail_is_not_mistaken_for_rounding_noise():
    # W = Q [[0.5, 1e4], [0, 0.4]] Qᵀ: eigenvalues 0.5 and 0.4, ‖W‖ = 1e4. The
    # exact singular values of W^k satisfy σ₁σ₂ = (0.5·0.4)^k; σ₁ is resolved.
    c, s_ = math.cos(0.7), math.sin(0.7)
    Q = torch.tensor([[c, -s_], [s_, c]], dtype=torch.float64)
    W = Q @ torch.tensor([[0.5, 1e4], [0.0, 0.4]], dtype=torch.float64) @ Q.T
    traj = rnnprobe.record(_linear(2, gain=1.0, W=W), torch.zeros(200, 1))
    # the SVD of the renormalised product returns rounding noise above the resolution at some
    # lags here (the default takes it, as a plain SVD would); rounding_check=True finds it
    sv = rnnprobe.jacobian_singular_values(traj, log=True, rounding_check=True)
    k = traj.lags.to(torch.float64)
    log_sigma2 = k * math.log(0.5 * 0.4) - sv[:, 0]          # σ₂ = |det W^k| / σ₁
    assert float((sv[:, 1] - log_sigma2).abs().max()) < 12.0


# --------------------------------------------------------------------------- arguments
def test_product_probes_reject_bad_arguments():
    traj = rnnprobe.record(rnnprobe.build("vanilla-tanh", hidden_size=2), torch.zeros(4, 1))
    with pytest.raises(InvalidArgument, match=r"method.*'power'.*'svd'.*'pwer'.*did you mean 'power'"):
        rnnprobe.jacobian_norms(traj, method="pwer")
    with pytest.raises(InvalidArgument, match=r"tol.*0\.1"):
        rnnprobe.jacobian_norms(traj, tol=0.1)
    with pytest.raises(InvalidArgument, match=r"resolution.*0\.5"):
        rnnprobe.jacobian_singular_values(traj, resolution=0.5)
    with pytest.raises(InvalidArgument, match=r"stop.*<= 4.*5"):
        rnnprobe.jacobian_product(traj, 0, 5)
    with pytest.raises(InvalidArgument, match=r"start.*<= 2.*3"):
        rnnprobe.jacobian_product(traj, 3, 2)
    with pytest.raises(InvalidArgument, match=r"chunk_size.*>= 1.*0"):
        rnnprobe.jacobian_norms(traj, chunk_size=0)
    with pytest.raises(InvalidArgument, match=r"traj must be a Trajectory.*Tensor"):
        rnnprobe.jacobian_norms(torch.zeros(3))


def test_chunking_does_not_change_results():
    model = rnnprobe.build("gru", hidden_size=3, gain=1.4, seed=1)
    traj = rnnprobe.record(model, torch.randn(23, 2, 1, dtype=torch.float64))
    for chunk in (1, 4, 7, 100):
        torch.testing.assert_close(rnnprobe.jacobian_norms(traj, chunk_size=chunk), rnnprobe.jacobian_norms(traj),
                                   rtol=1e-12, atol=0)
        sv, ref = rnnprobe.jacobian_singular_values(traj, chunk_size=chunk), rnnprobe.jacobian_singular_values(traj)
        torch.testing.assert_close(sv / ref[..., :1], ref / ref[..., :1], rtol=1e-10, atol=1e-13)


# --------------------------------------------------------------------------- float32 products
@pytest.mark.parametrize("arch, n, gain, method, batch", [
    ("vanilla-tanh", 40, 1.0, "power", 1), ("vanilla-tanh", 40, 3.0, "power", 2), ("gru", 36, 1.5, "power", 1),
    ("lstm", 34, 1.0, "power", 1), ("vanilla-tanh", 12, 1.2, "svd", 2), ("vanilla-linear", 40, 0.5, "auto", 1),
])
def test_float32_products_agree_with_float64(arch, n, gain, method, batch):
    """precision='float32' (float32 products, float64 log scales) against the float64 sweep: log G to 1e-4."""
    model = rnnprobe.build(arch, hidden_size=n, input_size=2, gain=gain, seed=3)
    x = torch.randn(300, batch, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    traj = rnnprobe.record(model, x)
    full = rnnprobe.jacobian_norms(traj, log=True, method=method)
    fast = rnnprobe.jacobian_norms(traj, log=True, method=method, precision="float32")
    assert fast.dtype == torch.float64 and bool(torch.isfinite(fast).all())
    torch.testing.assert_close(fast, full, rtol=0, atol=1e-4)
    # not the float64 result by another name: float32 rounding is visible
    assert float((fast - full).abs().max()) > 1e-12


def test_float32_products_keep_float64_scales_past_float32_range():
    """G = 0.5^k far below float32's smallest number: the logs stay exact to the float32 rounding of each step."""
    model = _linear(40, gain=0.5, seed=0)
    traj = rnnprobe.record(model, torch.randn(2000, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    k = traj.lags.to(torch.float64)
    log_G = rnnprobe.jacobian_norms(traj, log=True, precision="float32")
    assert bool(torch.isfinite(log_G).all()) and float(log_G.min()) < math.log(torch.finfo(torch.float32).tiny) * 10
    torch.testing.assert_close(log_G, k * math.log(0.5), rtol=1e-5, atol=1e-4)
