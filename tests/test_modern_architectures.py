"""lru, s4d, s6, mingru, minlstm, unitary: update rules against independent references, initialisations,
block-diagonal Jacobians, and the gain/init rule of the diagonal family."""

import math

import numpy as np
import pytest
import scipy.integrate
import scipy.linalg
import scipy.stats
import torch
from hypothesis import given
from hypothesis import strategies as st

import rnnprobe
from rnnprobe import strategies as rs
from rnnprobe.models._diagonal import dense_from_blocks

F64 = torch.float64
DIAGONAL = rnnprobe.architectures.of_family("diagonal")
MODERN = ["lru", "s4d", "s6", "mingru", "minlstm", "unitary"]


def _rand(*shape, seed=0, scale=1.0):
    return scale * torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def test_the_new_architectures_are_registered_with_their_families():
    assert set(MODERN) <= set(rnnprobe.architectures.recurrent())
    assert DIAGONAL == ["lru", "s4d", "s6", "mingru", "minlstm"]
    assert rnnprobe.architectures["unitary"].family == "vanilla"
    for name in MODERN:
        model = rnnprobe.build(name, hidden_size=4)
        assert model.name == name and model.family == rnnprobe.architectures[name].family
        assert getattr(rnnprobe, type(model).__name__) is type(model)          # exported
    assert rnnprobe.build("lru", hidden_size=4).jacobian_block_size == 2
    assert {rnnprobe.build(n, hidden_size=4).jacobian_block_size for n in DIAGONAL[1:]} == {1}
    assert rnnprobe.build("unitary", hidden_size=4).jacobian_block_size is None


# --------------------------------------------------------------------------- block-diagonal Jacobians
@given(model=rs.models(architectures=DIAGONAL, max_hidden=5, min_input=0, max_input=2, min_gain=0.2, max_gain=2.0,
                       max_bias_std=1.0),
       data=st.data())
def test_jacobian_blocks_are_the_step_jacobian(model, data):
    x = data.draw(rs.sequences_for(model, min_length=3, max_length=3, batch=2, scales=st.sampled_from([0.0, 1.0, 3.0])))
    states = data.draw(rs.states_for(model, batch=2)).expand(3, 2, model.state_size)
    blocks = model.jacobian_blocks(x, states)
    k, index = model.jacobian_block_size, model.jacobian_block_index()
    assert blocks.shape == (3, 2, model.state_size // k, k, k)
    assert sorted(index.flatten().tolist()) == list(range(model.state_size))          # a partition of the state
    dense = dense_from_blocks(blocks, index, model.state_size)
    for t in range(3):
        ref = model.autograd_step_jacobian(x[t], states[t])
        torch.testing.assert_close(dense[t], ref, rtol=1e-12, atol=1e-14)           # zero outside the blocks too
    torch.testing.assert_close(model.jacobians(x, states), dense, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name", DIAGONAL)
def test_step_jacobian_does_not_depend_on_the_state(name):
    model = rnnprobe.build(name, hidden_size=4, input_size=2, seed=3, bias_std=0.5)
    x = _rand(3, 2, seed=1)
    J1 = model.step_jacobian(x, _rand(3, model.state_size, seed=2))
    J2 = model.step_jacobian(x, _rand(3, model.state_size, seed=3, scale=10.0))
    torch.testing.assert_close(J1, J2, rtol=0, atol=0)


# --------------------------------------------------------------------------- lru
def test_lru_step_is_the_complex_recurrence():
    lru = rnnprobe.build("lru", hidden_size=5, input_size=3, seed=2, bias_std=0.4, r_min=0.4, r_max=0.95)
    n = 5
    with torch.no_grad():
        lam = torch.exp(-torch.exp(lru.nu_log) + 1j * lru.theta)                # Orvieto et al.'s parametrisation
        B = lru.B_re + 1j * lru.B_im
        b = lru.b_re + 1j * lru.b_im
        gamma = torch.sqrt(1 - lam.abs() ** 2)
    torch.testing.assert_close(lru.gamma.detach(), gamma, rtol=1e-13, atol=1e-15)
    u, s = _rand(4, 3, seed=3), _rand(4, 2 * n, seed=4)
    x = torch.complex(s[:, :n], s[:, n:])
    ref = lam * x + gamma * (u.to(torch.complex128) @ B.T + b)
    out = lru.step(u, s)
    torch.testing.assert_close(out, torch.cat([ref.real, ref.imag], dim=1), rtol=1e-13, atol=1e-14)
    torch.testing.assert_close(lru.hidden(out), ref.real, rtol=1e-13, atol=1e-14)    # the hidden vector is Re x
    torch.testing.assert_close(lru.eigenvalues(), lam, rtol=1e-14, atol=0)


def test_lru_ring_initialisation():
    r_min, r_max, max_phase = 0.5, 0.99, 1.0
    lru = rnnprobe.build("lru", hidden_size=4000, r_min=r_min, r_max=r_max, max_phase=max_phase, seed=0)
    lam = lru.eigenvalues()
    r, theta = lam.abs().numpy(), lru.theta.detach().numpy()
    assert r.min() >= r_min and r.max() <= r_max and theta.min() >= 0 and theta.max() <= max_phase
    # uniform on the ring's area: |λ|² ~ U(r_min², r_max²); phases U(0, max_phase) (KS tests, 4000 draws)
    assert scipy.stats.kstest(r**2, scipy.stats.uniform(r_min**2, r_max**2 - r_min**2).cdf).pvalue > 1e-3
    assert scipy.stats.kstest(theta, scipy.stats.uniform(0, max_phase).cdf).pvalue > 1e-3
    # B = (B_re + i B_im)/√(2d): E|B_ij|² = 1/d with d = 1
    B2 = (lru.B_re.detach() ** 2 + lru.B_im.detach() ** 2).numpy()
    assert abs(B2.mean() - 1.0) < 0.1


@pytest.mark.parametrize("r_min, r_max", [(1e-300, 1e-300), (1e-300, 1e-200), (1e-170, 0.5)])
def test_lru_rings_whose_squares_underflow_keep_their_moduli(r_min, r_max):
    """A ring below 1e-154 (r² underflows float64) is drawn as given, not as |λ| = 0 with a non-finite ν."""
    lru = rnnprobe.build("lru", hidden_size=200, r_min=r_min, r_max=r_max, seed=0)
    r = lru.eigenvalues().abs()
    assert bool(torch.isfinite(lru.nu_log).all())
    assert float(r.min()) >= r_min * (1 - 1e-12) and float(r.max()) <= r_max * (1 + 1e-12)
    if r_min == r_max:
        torch.testing.assert_close(r, torch.full_like(r, r_min), rtol=1e-12, atol=0)
    else:   # |λ|² ~ U(r_min², r_max²), so |λ|/r_max = √U(0, 1) here: KS test on (|λ|/r_max)²
        assert scipy.stats.kstest((r / r_max).numpy() ** 2, "uniform").pvalue > 1e-3
    traj = rnnprobe.record(lru, torch.zeros(3, 1, dtype=torch.float64))
    torch.testing.assert_close(rnnprobe.jacobian_norms(traj, log=True),
                               traj.lags.to(torch.float64) * math.log(float(r.max())), rtol=1e-12, atol=0)


def test_lru_real_block_structure_and_weights():
    lru = rnnprobe.build("lru", hidden_size=3, seed=1, r_min=0.6, r_max=0.9)
    W = lru.recurrent_weights()["Lambda"]
    lam = lru.eigenvalues()
    # the real 2n x 2n matrix has eigenvalues λ and conj(λ) and singular values |λ| (each twice)
    ev = torch.linalg.eigvals(W)
    expected = torch.cat([lam, lam.conj()])
    assert torch.allclose(torch.sort(ev.real).values, torch.sort(expected.real).values, atol=1e-13)
    sv = torch.linalg.svdvals(W)
    torch.testing.assert_close(sv, torch.sort(torch.cat([lam.abs(), lam.abs()]), descending=True).values,
                               rtol=1e-13, atol=1e-15)
    assert lru.jacobian_block_index().tolist() == [[0, 3], [1, 4], [2, 5]]


@pytest.mark.parametrize("gain", [0.5, 1.0, 1.7])
def test_lru_gain_and_init(gain):
    base = rnnprobe.build("lru", hidden_size=6, seed=4, r_min=0.3, r_max=0.8)
    scaled = rnnprobe.build("lru", hidden_size=6, seed=4, r_min=0.3, r_max=0.8, gain=gain)
    spectral = rnnprobe.build("lru", hidden_size=6, seed=4, r_min=0.3, r_max=0.8, gain=gain, init="spectral")
    torch.testing.assert_close(scaled.eigenvalues(), gain * base.eigenvalues(), rtol=1e-14, atol=0)
    assert float(spectral.eigenvalues().abs().max()) == pytest.approx(gain, rel=1e-14)
    assert rnnprobe.weight_spectrum(spectral).blocks["Lambda"].spectral_radius == pytest.approx(gain, rel=1e-12)
    # γ stays the drawn ring's, whatever the gain
    torch.testing.assert_close(scaled.gamma, base.gamma, rtol=0, atol=0)
    same = rnnprobe.build("lru", hidden_size=6, seed=4, r_min=0.3, r_max=0.8, gain=gain, init="orthogonal")
    torch.testing.assert_close(same.eigenvalues(), scaled.eigenvalues(), rtol=0, atol=0)


def test_lru_unit_circle_and_no_normalisation():
    lru = rnnprobe.build("lru", hidden_size=3, r_min=1.0, r_max=1.0, seed=0)
    assert bool((lru.eigenvalues().abs() == 1).all()) and bool((lru.gamma == 0).all())
    plain = rnnprobe.build("lru", hidden_size=3, normalize=False, seed=0)
    assert bool((plain.gamma == 1).all())
    real = rnnprobe.build("lru", hidden_size=3, max_phase=0.0, seed=0)
    assert bool((real.eigenvalues().imag == 0).all())


# --------------------------------------------------------------------------- s4d and s6
def selective_scan_reference(u, delta, A, B, C, D):
    """A port of mamba_ssm's selective_scan_ref (real A, B and C of shape (batch, N, L), no z), in float64.

    u, delta: (batch, D, L); A: (D, N). Returns the outputs y (batch, D, L) and the states (L, batch, D, N).
    """
    deltaA = torch.exp(torch.einsum("bdl,dn->bdln", delta, A))
    deltaB_u = torch.einsum("bdl,bnl,bdl->bdln", delta, B, u)
    x = A.new_zeros(u.shape[0], A.shape[0], A.shape[1])
    ys, xs = [], []
    for i in range(u.shape[2]):
        x = deltaA[:, :, i] * x + deltaB_u[:, :, i]
        ys.append(torch.einsum("bdn,bn->bd", x, C[:, :, i]))
        xs.append(x)
    y = torch.stack(ys, dim=2) + u * D[None, :, None]
    return y, torch.stack(xs)


def test_s6_equals_mambas_reference_selective_scan():
    D, N, d, L, batch = 3, 4, 2, 9, 2
    s6 = rnnprobe.build("s6", hidden_size=D * N, input_size=d, state_dim=N, seed=5, bias_std=0.3, dt_max=0.5)
    x = _rand(L, batch, d, seed=6)
    traj = rnnprobe.record(s6, x)
    with torch.no_grad():
        u = x @ s6.W_in.T + s6.b_in                                   # (L, batch, D)
        delta = torch.nn.functional.softplus(u @ s6.W_delta.T + s6.b_delta)
        B, C = u @ s6.W_B.T, u @ s6.W_C.T                            # (L, batch, N)
        y_ref, h_ref = selective_scan_reference(u.permute(1, 2, 0), delta.permute(1, 2, 0), -torch.exp(s6.A_log),
                                                B.permute(1, 2, 0), C.permute(1, 2, 0), s6.D_skip)
    torch.testing.assert_close(traj.states[1:], h_ref.flatten(2), rtol=1e-12, atol=1e-14)
    y = torch.stack([s6.output(x[t], traj.states[t + 1]) for t in range(L)])
    torch.testing.assert_close(y, y_ref.permute(2, 0, 1), rtol=1e-12, atol=1e-14)
    # S4D-Real: A[c, k] = -(k + 1); Δ at zero input in [dt_min, dt_max]
    torch.testing.assert_close(s6.A(), -torch.arange(1.0, N + 1, dtype=F64).expand(D, N), rtol=1e-15, atol=0)
    s6_0 = rnnprobe.build("s6", hidden_size=D * N, input_size=d, state_dim=N, seed=5, dt_min=0.01, dt_max=0.2)
    delta0 = s6_0.delta(torch.zeros(1, d, dtype=F64))
    assert bool(((delta0 >= 0.01 - 1e-15) & (delta0 <= 0.2 + 1e-15)).all())


def test_s4d_is_a_linear_time_invariant_convolution():
    s4d = rnnprobe.build("s4d", hidden_size=8, input_size=2, state_dim=4, seed=7, bias_std=0.2)
    x = _rand(15, 2, seed=8)
    traj = rnnprobe.record(s4d, x)
    with torch.no_grad():
        a = s4d.factors(torch.zeros(1, 2, dtype=F64))[0]                        # exp(ΔA), input-independent
        drive = torch.stack([s4d.affine(x[t])[1] for t in range(15)])           # B̄ u_t
    # h_T = Σ_t a^{T-t} B̄ u_t (the kernel form; h_0 = 0)
    T = 15
    h_T = sum(a ** (T - 1 - t) * drive[t] for t in range(T))
    torch.testing.assert_close(traj.states[-1, 0], h_T, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["s4d", "s6"])
def test_zero_order_hold_is_the_exact_solution_for_a_held_input(name):
    # dh/dτ = A h + B u with u held over a step of length Δ: h(Δ) = e^{ΔA} h0 + (e^{ΔA} − 1)/A · B u
    model = rnnprobe.build(name, hidden_size=6, input_size=1, state_dim=3, seed=9, discretization="zoh", dt_max=0.5)
    x, h0 = _rand(1, 1, seed=10), _rand(1, 6, seed=11)
    with torch.no_grad():
        u = model.channel_inputs(x)[0]
        delta = model.delta(x)[0]
        B = model._B(model.channel_inputs(x))
        B = B.expand(1, 2, 3)[0]
        A = model.A()
    for c in range(2):
        for k in range(3):
            sol = scipy.integrate.solve_ivp(lambda tau, h: A[c, k].item() * h + B[c, k].item() * u[c].item(),
                                            (0, delta[c].item()), [h0[0, 3 * c + k].item()], rtol=1e-12, atol=1e-14)
            assert model.step(x, h0)[0, 3 * c + k].item() == pytest.approx(sol.y[0, -1], rel=1e-9, abs=1e-12)
    mamba = rnnprobe.build(name, hidden_size=6, input_size=1, state_dim=3, seed=9, discretization="mamba", dt_max=0.5)
    # Mamba's B̄ = Δ B: the same factors, a drive differing from ZOH's by O(Δ²)
    torch.testing.assert_close(mamba.factors(x), model.factors(x), rtol=0, atol=0)
    with torch.no_grad():
        d_mamba = mamba.affine(x)[1].reshape(2, 3)
    torch.testing.assert_close(d_mamba, (delta[:, None] * B) * u[:, None], rtol=1e-14, atol=1e-15)


def test_ssm_default_state_dim_and_sizes():
    from rnnprobe.models.ssm import default_state_dim

    assert [default_state_dim(n) for n in (1, 4, 16, 24, 32, 17, 128)] == [1, 4, 16, 12, 16, 1, 16]
    m = rnnprobe.build("s6", hidden_size=32)
    assert (m.channels, m.state_dim, m.state_size, m.hidden_size) == (2, 16, 32, 32)


@pytest.mark.parametrize("name", DIAGONAL)
@pytest.mark.parametrize("gain", [0.4, 1.3])
def test_diagonal_gain_rule(name, gain):
    """gain multiplies the published factors ('gaussian', 'orthogonal'); 'spectral' pins the zero-input radius."""
    kw = dict(hidden_size=6, input_size=2, seed=2, bias_std=0.3)
    base, scaled = rnnprobe.build(name, **kw), rnnprobe.build(name, gain=gain, **kw)
    spectral = rnnprobe.build(name, gain=gain, init="spectral", **kw)
    x = _rand(5, 2, seed=3)
    torch.testing.assert_close(scaled.factors(x).abs(), gain * base.factors(x).abs(), rtol=1e-13, atol=0)
    (W,) = spectral.recurrent_weights().values()
    assert float(torch.linalg.eigvals(W).abs().max()) == pytest.approx(gain, rel=1e-12)
    # recurrent_weights() is the step Jacobian at zero input
    (W0,) = base.recurrent_weights().values()
    zero = torch.zeros(1, 1, 2, dtype=F64)
    blocks = base.jacobian_blocks(zero, torch.zeros(1, 1, base.state_size, dtype=F64))[0, 0]
    torch.testing.assert_close(W0, dense_from_blocks(blocks, base.jacobian_block_index(), base.state_size),
                               rtol=0, atol=0)
    # the input terms do not change with the gain
    if name != "lru":
        torch.testing.assert_close(scaled.affine(x)[1], base.affine(x)[1], rtol=0, atol=0)


# --------------------------------------------------------------------------- mingru and minlstm
def parallel_reference(a, b, h0):
    """h_t = A_t (h0 + Σ_{s<=t} b_s / A_s), A_t = ∏_{s<=t} a_s: the closed form of the paper's parallel scan."""
    A = torch.cumprod(a, dim=0)
    return A * (h0 + torch.cumsum(b / A, dim=0))


def test_mingru_matches_the_paper():
    m = rnnprobe.build("mingru", hidden_size=4, input_size=3, seed=11, bias_std=0.5, update_bias=-1.0)
    x = _rand(12, 3, seed=12)
    n = 4
    W_z, W_h = m.weight[:n], m.weight[n:]
    b_z, b_h = m.bias[:n], m.bias[n:]
    with torch.no_grad():
        z = torch.sigmoid(x @ W_z.T + b_z)
        h_tilde = x @ W_h.T + b_h
        ref = parallel_reference(1 - z, z * h_tilde, torch.zeros(n, dtype=F64))
    torch.testing.assert_close(rnnprobe.record(m, x).states[1:, 0], ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(m.update_gate(x), z, rtol=1e-15, atol=0)
    # the update bias: b_z = update_bias + N(0, bias_std²) draws; at zero input the kept fraction is σ(−b_z)
    mb = rnnprobe.build("mingru", hidden_size=3, update_bias=-2.0)
    torch.testing.assert_close(torch.diag(mb.recurrent_weights()["1-z(x=0)"]),
                               torch.full((3,), 1 / (1 + math.exp(-2.0)), dtype=F64), rtol=1e-15, atol=0)


def test_minlstm_matches_the_paper():
    m = rnnprobe.build("minlstm", hidden_size=4, input_size=3, seed=13, bias_std=0.5, forget_bias=2.0)
    x = _rand(12, 3, seed=14)
    n = 4
    W_f, W_i, W_h = m.weight[:n], m.weight[n : 2 * n], m.weight[2 * n :]
    b_f, b_i, b_h = m.bias[:n], m.bias[n : 2 * n], m.bias[2 * n :]
    with torch.no_grad():
        f, i = torch.sigmoid(x @ W_f.T + b_f), torch.sigmoid(x @ W_i.T + b_i)
        f_, i_ = f / (f + i), i / (f + i)
        ref = parallel_reference(f_, i_ * (x @ W_h.T + b_h), torch.zeros(n, dtype=F64))
    torch.testing.assert_close(rnnprobe.record(m, x).states[1:, 0], ref, rtol=1e-10, atol=1e-12)
    gates = m.gates(x)
    torch.testing.assert_close(gates[0] + gates[1], torch.ones(12, n, dtype=F64), rtol=1e-15, atol=1e-15)
    mb = rnnprobe.build("minlstm", hidden_size=3, forget_bias=1.5)
    sf = 1 / (1 + math.exp(-1.5))
    torch.testing.assert_close(torch.diag(mb.recurrent_weights()["f'(x=0)"]),
                               torch.full((3,), sf / (sf + 0.5), dtype=F64), rtol=1e-15, atol=0)


# --------------------------------------------------------------------------- unitary
@pytest.mark.parametrize("gain", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("init", ["gaussian", "orthogonal", "spectral"])
def test_unitary_recurrent_matrix_is_gain_times_orthogonal(gain, init):
    m = rnnprobe.build("unitary", hidden_size=7, gain=gain, init=init, seed=3)
    W = m.recurrent_weights()["W_h"]
    torch.testing.assert_close(torch.linalg.svdvals(W), torch.full((7,), gain, dtype=F64), rtol=1e-13, atol=0)
    A = m.A.detach()
    torch.testing.assert_close(A, -A.T, rtol=0, atol=0)                       # skew-symmetric at initialisation
    torch.testing.assert_close(W, gain * torch.from_numpy(scipy.linalg.expm(A.numpy())), rtol=1e-12, atol=1e-14)
    # W_h from the skew part of A: an update that breaks the symmetry keeps W_h orthogonal
    with torch.no_grad():
        m.A.add_(_rand(7, 7, seed=4))
    W = m.recurrent_weights()["W_h"]
    torch.testing.assert_close(W.T @ W, gain**2 * torch.eye(7, dtype=F64), rtol=0, atol=1e-12)


def test_unitary_step_with_modrelu_and_tanh():
    m = rnnprobe.build("unitary", hidden_size=4, input_size=2, seed=5, bias_std=0.5, modrelu_bias=-0.3)
    x, h = _rand(6, 2, seed=6), _rand(6, 4, seed=7)
    a = h @ m.W_h.T + x @ m.W_x.T + m.b
    # modReLU for real a: (|a| + b) a/|a| where |a| + b > 0, else 0
    expected = torch.where(a.abs() - 0.3 > 0, (a.abs() - 0.3) * a / a.abs(), torch.zeros_like(a))
    torch.testing.assert_close(m.step(x, h), expected, rtol=1e-14, atol=1e-15)
    t = rnnprobe.build("unitary", hidden_size=4, input_size=2, seed=5, bias_std=0.5, nonlinearity="tanh")
    torch.testing.assert_close(t.step(x, h), torch.tanh(h @ t.W_h.T + x @ t.W_x.T + t.b), rtol=1e-14, atol=1e-15)
    assert m.lecture_form and rnnprobe.weight_spectrum(m).gamma == 1.0
    assert rnnprobe.weight_spectrum(m).pascanu == "inconclusive"            # σ_max = 1 = 1/γ


def test_unitary_with_a_non_negative_modrelu_bias_preserves_every_direction():
    """b_mod >= 0: σ′ = 1 wherever a ≠ 0, so every product is orthogonal: all singular values 1 at every lag."""
    m = rnnprobe.build("unitary", hidden_size=6, input_size=1, modrelu_bias=0.1, seed=8)
    traj = rnnprobe.record(m, _rand(300, 1, seed=9))
    sv = rnnprobe.jacobian_singular_values(traj)
    torch.testing.assert_close(sv, torch.ones_like(sv), rtol=0, atol=1e-10)
    G = rnnprobe.jacobian_norms(traj)
    torch.testing.assert_close(G, torch.ones_like(G), rtol=0, atol=1e-10)
    # a tanh unitary RNN forgets through saturation (σ′ < 1)
    t = rnnprobe.build("unitary", hidden_size=6, input_size=1, nonlinearity="tanh", seed=8)
    assert float(rnnprobe.jacobian_norms(rnnprobe.record(t, _rand(300, 1, seed=9, scale=3.0)))[0]) < 1e-3


@pytest.mark.parametrize("name", MODERN)
def test_modern_models_record_and_probe(name):
    model = rnnprobe.build(name, hidden_size=8, input_size=2, seed=1)
    traj = rnnprobe.record(model, _rand(40, 2, 2, seed=2))
    G = rnnprobe.jacobian_norms(traj)
    assert G.shape == (2, 40) and bool(torch.isfinite(G).all())
    b = rnnprobe.gradient_bounds(traj)
    assert b.holds(1e-9)
    m = rnnprobe.memory_length(traj)
    assert len(m) == 2 and all(np.isfinite(x.efold) or x.efold == math.inf for x in m)
