"""Covariant Lyapunov vectors (Ginelli et al. 2007): eigenvectors of constant maps, covariance, and an
independent dense construction (intersection of Oseledets subspaces from high-precision SVDs)."""

import math

import mpmath
import numpy as np
import pytest
import scipy.linalg
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import rnnprobe
from rnnprobe.errors import InvalidArgument

F64 = torch.float64


def _linear(W, input_size=0, bias_std=0.0):
    model = rnnprobe.build("vanilla-linear", hidden_size=W.shape[0], input_size=input_size, seed=0,
                           bias_std=bias_std)
    with torch.no_grad():
        model.W_h.copy_(W)
    return model


def _non_normal(eigenvalues, seed):
    """W = P diag(λ) P^-1 with a random, far from orthogonal P (unit columns)."""
    g = torch.Generator().manual_seed(seed)
    n = len(eigenvalues)
    P = torch.eye(n, dtype=F64) + 0.8 * torch.randn(n, n, generator=g, dtype=F64)
    P = P / torch.linalg.vector_norm(P, dim=0, keepdim=True)
    W = P @ torch.diag(torch.tensor(eigenvalues, dtype=F64)) @ torch.linalg.inv(P)
    return W, P


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_constant_non_normal_map_has_its_eigenvectors_and_log_abs_eigenvalues(seed):
    lam = [0.95, -0.6, 0.35, -0.15]                # distinct moduli, both signs
    W, P = _non_normal(lam, seed)
    assert not torch.allclose(W @ W.T, W.T @ W, atol=1e-3)                     # non-normal
    model = _linear(W, input_size=1, bias_std=0.3)
    x = torch.randn(240, 1, dtype=F64, generator=torch.Generator().manual_seed(seed))
    clv = rnnprobe.covariant_lyapunov_vectors(model, x, burn_in=100, burn_out=100)
    assert clv.vectors.shape == (40, 4, 4) and clv.times.tolist() == list(range(100, 140))
    torch.testing.assert_close(clv.exponents, torch.log(torch.tensor(lam, dtype=F64).abs()), rtol=0, atol=1e-12)
    # every vector is ± the eigenvector of its exponent; moduli ratios <= 0.63: converged to 0.63^100 ~ 1e-20
    cos = torch.einsum("tsk,sk->tk", clv.vectors, P)
    torch.testing.assert_close(cos.abs(), torch.ones(40, 4, dtype=F64), rtol=0, atol=1e-12)
    # the angle between span(v1, v2) and span(v3, v4) is that between the eigenvector pairs (scipy, independent)
    clv2 = rnnprobe.covariant_lyapunov_vectors(model, x, burn_in=100, burn_out=100, split=2)
    expected = scipy.linalg.subspace_angles(P[:, :2].numpy(), P[:, 2:].numpy()).min()
    torch.testing.assert_close(clv2.angles, torch.full((40,), expected, dtype=F64), rtol=0, atol=1e-12)
    assert clv.split == 1                         # no positive exponent: the least stable direction vs the rest


def test_orthogonal_directions_give_right_angles_and_the_default_split_counts_unstable_ones():
    W = torch.diag(torch.tensor([1.2, 1.1, 0.5], dtype=F64))
    clv = rnnprobe.covariant_lyapunov_vectors(_linear(W), torch.zeros(120, 0), burn_in=50, burn_out=50)
    assert clv.split == 2                          # log 1.2, log 1.1 > 0
    torch.testing.assert_close(clv.angles, torch.full((20,), math.pi / 2, dtype=F64), rtol=0, atol=1e-12)


def _chaotic(hidden=4, seed=2, gain=4.0, input_gain=1.0, T=260):
    """Driven tanh RNNs with a positive top exponent (4: λ ≈ 0.19, −1.3, −2.4, −4.2; 6: λ₁ ≈ 0.09)."""
    model = rnnprobe.build("vanilla-tanh", hidden_size=hidden, gain=gain, seed=seed, input_gain=input_gain)
    x = torch.randn(T, 1, dtype=F64, generator=torch.Generator().manual_seed(seed))
    return model, x


def test_vectors_are_covariant_unit_and_sign_consistent():
    model, x = _chaotic(hidden=6, seed=0, gain=3.0, input_gain=0.3, T=400)
    traj = rnnprobe.record(model, x)
    clv = rnnprobe.trajectory_covariant_lyapunov_vectors(traj, burn_in=80, burn_out=80)
    assert clv.exponents[0] > 0                                        # chaotic
    V = clv.vectors
    torch.testing.assert_close(torch.linalg.vector_norm(V, dim=1), torch.ones(V.shape[0], 6, dtype=F64),
                               rtol=0, atol=1e-13)
    # v(t+1) = J_t v(t) / |J_t v(t)|, J_t from autograd (independent of the analytic Jacobians used inside)
    t = clv.times[:-1]
    J = model.autograd_step_jacobian(traj.inputs[t, 0], traj.states[t, 0])
    pushed = J @ V[:-1]
    pushed = pushed / torch.linalg.vector_norm(pushed, dim=1, keepdim=True)
    torch.testing.assert_close(pushed, V[1:], rtol=0, atol=1e-9)
    # the growth of each vector averages to its exponent (the window is short: loosely)
    growth = torch.log(torch.linalg.vector_norm(J @ V[:-1], dim=1)).mean(0)
    assert torch.allclose(growth, clv.exponents, atol=0.6)


def _dense_clvs(J, t, L, S):
    """CLVs at state t by intersecting Oseledets subspaces (Wolfe & Samelson 2007), in mpmath.

    v_j spans  span(first j+1 left singular vectors of J[t-1]···J[t-L])  ∩  span(right singular
    vectors j.. of J[t+L-1]···J[t]): the directions grown fastest from the past, intersected with
    those that do not grow faster than λ_j into the future.
    """
    def product(steps):
        P = mpmath.eye(S)
        for s in steps:
            P = mpmath.matrix(J[s].tolist()) * P
        return P

    def svd_sorted(A):
        U, sig, V = mpmath.svd_r(A)
        order = sorted(range(S), key=lambda i: -sig[i])
        return U, V, order

    U, _, ou = svd_sorted(product(range(t - L, t)))
    _, Vf, of = svd_sorted(product(range(t, t + L)))
    U = mpmath.matrix([[U[r, c] for c in ou] for r in range(S)])        # columns: left vectors, decreasing σ
    Vr = mpmath.matrix([[Vf[c, r] for c in of] for r in range(S)])      # columns: right vectors, decreasing σ
    out = np.zeros((S, S))
    for j in range(S):
        if j == 0:
            c = mpmath.matrix([[1]])
        else:
            M = Vr[:, :j].T * U[:, :j + 1]                               # (j, j+1): orthogonal to the faster ones
            E, Z = mpmath.eigsy(M.T * M)                                 # its null vector: eigenvalue 0
            i0 = min(range(j + 1), key=lambda i: E[i])
            c = Z[:, i0]
        v = U[:, :j + 1] * c
        v = v / mpmath.norm(v)
        out[:, j] = [float(v[i]) for i in range(S)]
    return out


def test_agrees_with_an_independent_dense_construction_on_a_chaotic_rnn():
    model, x = _chaotic(hidden=4, seed=2)
    traj = rnnprobe.record(model, x)
    clv = rnnprobe.trajectory_covariant_lyapunov_vectors(traj, burn_in=100, burn_out=100)
    lam = clv.exponents
    assert lam[0] > 0 and bool((lam[:-1] - lam[1:] > 0.9).all())     # chaotic, gaps >= 0.9 per step
    J = traj.step_jacobians()[:, 0].numpy()
    L = 30                                                             # subspaces converged to e^(-0.9 * 30) ~ 2e-12
    mpmath.mp.dps = int(30 + L * float(lam[0] - lam[-1]) / math.log(10)) + 10
    try:
        for i in (0, 30, 59):
            t = int(clv.times[i])
            dense = _dense_clvs(J, t, L, 4)
            cos = np.abs(np.sum(dense * clv.vectors[i].numpy(), axis=0))
            np.testing.assert_allclose(cos, np.ones(4), rtol=0, atol=1e-10)
    finally:
        mpmath.mp.dps = 15


def test_exponents_are_those_of_the_spectrum_and_batches_are_per_sequence():
    model = rnnprobe.build("gru", hidden_size=3, gain=2.0, seed=4)
    x = torch.randn(150, 2, 1, dtype=F64, generator=torch.Generator().manual_seed(4))
    clv = rnnprobe.covariant_lyapunov_vectors(model, x, k=2, burn_in=40, burn_out=30)
    assert clv.vectors.shape == (2, 80, 3, 2) and clv.exponents.shape == (2, 2) and clv.angles.shape == (2, 80)
    lam = rnnprobe.lyapunov_spectrum(model, x, k=2, burn_in=40, reorthonormalize_every=1)
    torch.testing.assert_close(torch.sort(clv.exponents, descending=True).values, lam, rtol=0, atol=1e-12)
    for b in range(2):
        one = rnnprobe.covariant_lyapunov_vectors(model, x[:, b], k=2, burn_in=40, burn_out=30)
        torch.testing.assert_close(one.vectors, clv.vectors[b], rtol=0, atol=1e-10)
        torch.testing.assert_close(one.angles, clv.angles[b], rtol=0, atol=1e-10)


def test_angles_match_scipy_principal_angles_along_a_chaotic_trajectory():
    model, x = _chaotic(hidden=6, seed=0, gain=3.0, input_gain=0.3, T=400)
    clv = rnnprobe.covariant_lyapunov_vectors(model, x, burn_in=80, burn_out=80)
    s = clv.split
    assert s == int((clv.exponents > 0).sum()) >= 1
    expected = [scipy.linalg.subspace_angles(V[:, :s], V[:, s:]).min() for V in clv.vectors.numpy()]
    np.testing.assert_allclose(clv.angles.numpy(), expected, rtol=1e-9, atol=1e-12)
    assert bool(((clv.angles > 0) & (clv.angles <= math.pi / 2)).all())


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 50), k=st.integers(1, 3))
def test_k_one_has_no_angles_and_the_top_k_vectors_are_those_of_the_full_set(seed, k):
    model = rnnprobe.build("vanilla-tanh", hidden_size=3, gain=2.5, seed=seed)
    x = torch.randn(160, 1, dtype=F64, generator=torch.Generator().manual_seed(seed))
    full = rnnprobe.covariant_lyapunov_vectors(model, x, burn_in=60, burn_out=60)
    gaps = full.exponents[:-1] - full.exponents[1:]
    assume(bool((gaps > 0.3).all()))               # converged to e^(-0.3 * 60) ~ 2e-8 with separated exponents
    top = rnnprobe.covariant_lyapunov_vectors(model, x, k=k, burn_in=60, burn_out=60)
    cos = torch.einsum("tsk,tsk->tk", top.vectors, full.vectors[..., :k]).abs()
    torch.testing.assert_close(cos, torch.ones_like(cos), rtol=0, atol=1e-6)
    if k == 1:
        assert top.angles is None and top.split == 0
    else:
        assert top.angles.shape == (40,) and 1 <= top.split <= k - 1


def test_singular_frames_are_refused_not_returned_as_nan():
    model = rnnprobe.build("vanilla-relu", hidden_size=6, gain=0.8, bias_std=1.0, seed=3)   # dead units
    x = torch.randn(100, 1, dtype=F64, generator=torch.Generator().manual_seed(0))
    lam = rnnprobe.lyapunov_spectrum(model, x)
    assert bool(torch.isinf(lam[-1]))
    with pytest.raises(InvalidArgument, match=r"k must be at most the number of directions that no step annihilates "
                                              r"\(\d+ here\).*got k=6"):
        rnnprobe.covariant_lyapunov_vectors(model, x)
    kept = int(torch.isfinite(lam).sum())
    clv = rnnprobe.covariant_lyapunov_vectors(model, x, k=kept)
    assert bool(torch.isfinite(clv.vectors).all()) and bool(torch.isfinite(clv.angles).all())


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(k=0), r"k must be >= 1; got 0"),
    (dict(k=4), r"k must be <= 3; got 4"),
    (dict(k=-1), r"k must be >= 1; got -1"),
    (dict(k=2.0), r"k must be an integer; got 2.0"),
    (dict(burn_in=-1), r"burn_in must be >= 0; got -1"),
    (dict(burn_out=-2), r"burn_out must be >= 0; got -2"),
    (dict(burn_in=20), r"burn_in must be smaller than the number of steps T = 20; got 20"),
    (dict(burn_out=25), r"burn_out must be smaller than the number of steps T = 20; got 25"),
    (dict(burn_in=10, burn_out=10), r"burn_in \+ burn_out must be smaller than the number of steps T = 20 .*"
                                    r"got burn_in=10 \+ burn_out=10 = 20"),
    (dict(split=0), r"split must be >= 1; got 0"),
    (dict(split=3), r"split must be <= 2; got 3"),
    (dict(k=1, split=1), r"split needs k >= 2 vectors to split; got split=1 with k = 1"),
])
def test_covariant_vectors_reject_bad_arguments(kwargs, pattern):
    model = rnnprobe.build("gru", hidden_size=3, seed=0)
    x = torch.zeros(20, 1)
    with pytest.raises(InvalidArgument, match=pattern):
        rnnprobe.covariant_lyapunov_vectors(model, x, **kwargs)
    with pytest.raises(InvalidArgument, match=pattern):
        rnnprobe.trajectory_covariant_lyapunov_vectors(rnnprobe.record(model, x), **kwargs)


def test_wants_a_trajectory():
    with pytest.raises(InvalidArgument, match=r"traj must be a Trajectory from rnnprobe.record\(model, inputs\); got Tensor"):
        rnnprobe.trajectory_covariant_lyapunov_vectors(torch.zeros(3, 1))
