"""Lyapunov spectrum by QR re-orthonormalisation: linear closed forms and the determinant identity."""

import math

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

import rnnprobe
from rnnprobe import strategies as rs
from rnnprobe.errors import InvalidArgument

F64 = torch.float64


def _linear(W, input_size=0):
    model = rnnprobe.build("vanilla-linear", hidden_size=W.shape[0], input_size=input_size, seed=0, bias_std=0.3)
    with torch.no_grad():
        model.W_h.copy_(W)
    return model


def _orthogonal(n, seed):
    return torch.linalg.qr(torch.randn(n, n, generator=torch.Generator().manual_seed(seed), dtype=F64))[0]


def _rotation(theta):
    return torch.tensor([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]], dtype=F64)


@given(top=st.floats(0.05, 1.5), ratios=st.lists(st.floats(1.5, 3.0), min_size=0, max_size=4),
       signs=st.lists(st.booleans(), min_size=5, max_size=5), order=st.permutations(range(5)), seed=st.integers(0, 1000))
def test_diagonal_linear_map_has_log_abs_diagonal_exponents(top, ratios, signs, order, seed):
    moduli = [top]
    for r in ratios:
        moduli.append(moduli[-1] / r)
    a = torch.tensor([m if s else -m for m, s in zip(moduli, signs)], dtype=F64)
    a = a[[i for i in order if i < len(moduli)]]                    # any order on the diagonal
    lam = rnnprobe.lyapunov_spectrum(_linear(torch.diag(a)), torch.zeros(200, 0), burn_in=50, seed=seed)
    expected = torch.sort(torch.log(a.abs()), descending=True).values
    # moduli at least 1.5 apart: after 50 burn-in steps the frame is aligned to 1.5^-50 ~ 2e-9
    torch.testing.assert_close(lam, expected, rtol=0, atol=1e-8)


def test_diagonal_linear_map_with_well_separated_moduli_is_exact():
    a = torch.tensor([0.9, -0.5, 0.2, 0.05], dtype=F64)
    lam = rnnprobe.lyapunov_spectrum(_linear(torch.diag(a)), torch.zeros(400, 0), burn_in=100)
    torch.testing.assert_close(lam, torch.log(a.abs()), rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_symmetric_linear_map_has_log_abs_eigenvalue_exponents(seed):
    eig = torch.tensor([1.3, -0.8, 0.45, -0.2, 0.07], dtype=F64)
    Q = _orthogonal(5, seed)
    W = Q @ torch.diag(eig) @ Q.T
    lam = rnnprobe.lyapunov_spectrum(_linear(W, input_size=1), torch.randn(300, 1, dtype=F64), burn_in=100)
    # after the burn-in the frame is aligned with the eigenvectors to (0.8/1.3)^100 ~ 1e-21
    torch.testing.assert_close(lam, torch.log(eig.abs()), rtol=0, atol=1e-12)


def test_orthogonal_times_g_has_every_exponent_log_g():
    W = 0.7 * _orthogonal(6, 3)
    lam = rnnprobe.lyapunov_spectrum(_linear(W), torch.zeros(50, 0), burn_in=0)
    torch.testing.assert_close(lam, torch.full((6,), math.log(0.7), dtype=F64), rtol=0, atol=1e-13)


def test_normal_map_with_complex_eigenvalues():
    # W = Q blockdiag(r1 R(θ1), r2 R(θ2)) Qᵀ is normal, eigenvalues r e^{±iθ}: exponents log r1 (twice), log r2 (twice)
    B = torch.zeros(4, 4, dtype=F64)
    B[:2, :2], B[2:, 2:] = 1.2 * _rotation(0.9), 0.4 * _rotation(2.1)
    Q = _orthogonal(4, 4)
    W = Q @ B @ Q.T
    assert torch.allclose(W @ W.T, W.T @ W)
    lam = rnnprobe.lyapunov_spectrum(_linear(W), torch.zeros(200, 0), burn_in=50)
    expected = torch.log(torch.tensor([1.2, 1.2, 0.4, 0.4], dtype=F64))
    torch.testing.assert_close(lam, expected, rtol=0, atol=1e-12)
    eig = torch.sort(torch.log(torch.linalg.eigvals(W).abs()), descending=True).values
    torch.testing.assert_close(lam, eig, rtol=0, atol=1e-12)


@given(model=rs.models(architectures=["vanilla-tanh", "gru", "gru-torch", "lstm", "dense", "residual"], max_hidden=4,
                       min_input=0, max_input=2, min_gain=0.3, max_gain=3.0),
       seed=st.integers(0, 1000), burn_in=st.integers(0, 4), data=st.data())
def test_sum_of_exponents_is_the_mean_log_abs_det(model, seed, burn_in, data):
    x = data.draw(rs.sequences_for(model, min_length=5, max_length=60, scales=st.sampled_from([0.0, 1.0])), label="x")
    lam = rnnprobe.lyapunov_spectrum(model, x, burn_in=burn_in, seed=seed)
    assert lam.shape == (model.state_size,)
    assert bool((lam[:-1] >= lam[1:]).all())
    traj = rnnprobe.record(model, x)
    J = traj.step_jacobians()[burn_in:, 0]
    # Σ log|R_ii(t)| = log|det(J_t Q_t)| = log|det J_t| exactly, step by step. In float64 both sides carry
    # rounding errors of about eps·κ_t, κ_t the condition number of J_t with its rows equilibrated (the row
    # scaling of saturated units costs nothing), so nearly singular steps are left out: there no float64
    # computation gets 1e-10 (a residual step I + αDW with an eigenvalue of αDW near -1; an LSTM at the
    # origin with no bias and no input, det J = 0 exactly but QR leaves a rounding-level R_ii, log ~ -38).
    # Steps with a zero row (dead or fully saturated units) are singular on both sides (-inf) and stay in.
    rows = torch.linalg.vector_norm(J, dim=-1, keepdim=True)
    full = (rows > 0).all(-1).all(-1)
    assume(bool((torch.linalg.cond(J[full] / rows[full]) < 1e6).all()))
    logdet = torch.linalg.slogdet(J).logabsdet
    assert float(lam.sum()) == pytest.approx(float(logdet.mean()), rel=1e-10, abs=1e-10)


def test_top_k_exponents_are_the_leading_ones_and_batches_are_per_sequence():
    model = rnnprobe.build("lstm", hidden_size=3, gain=1.5, seed=5)
    x = torch.randn(300, 2, 1, dtype=F64, generator=torch.Generator().manual_seed(5))
    full = rnnprobe.lyapunov_spectrum(model, x, burn_in=50)
    top = rnnprobe.lyapunov_spectrum(model, x, 2, burn_in=50)
    assert full.shape == (2, 6) and top.shape == (2, 2)
    # another start frame for k = 2: the same exponents up to an O(1/(T - burn_in)) transient
    torch.testing.assert_close(top, full[:, :2], rtol=0, atol=1e-4)
    for b in range(2):
        torch.testing.assert_close(rnnprobe.lyapunov_spectrum(model, x[:, b], burn_in=50), full[b], rtol=1e-10, atol=1e-12)
    traj = rnnprobe.record(model, x)
    torch.testing.assert_close(rnnprobe.trajectory_lyapunov_spectrum(traj, burn_in=50), full, rtol=0, atol=0)


def test_top_exponent_is_the_growth_rate_of_the_jacobian_norm():
    # λ₁ = lim (1/k) log G(k): over a long trajectory both agree to O(1/T)
    model = rnnprobe.build("vanilla-tanh", hidden_size=4, gain=1.8, seed=6)
    x = torch.randn(2000, 1, dtype=F64, generator=torch.Generator().manual_seed(6))
    traj = rnnprobe.record(model, x)
    lam1 = float(rnnprobe.trajectory_lyapunov_spectrum(traj, 1, burn_in=0)[0])
    log_G = rnnprobe.jacobian_norms(traj, log=True)
    assert abs(float(log_G[0]) / 2000 - lam1) < 20 / 2000


def test_initial_state_and_default_burn_in():
    model = rnnprobe.build("vanilla-tanh", hidden_size=2, gain=0.5, seed=7)
    x = torch.randn(30, 1, dtype=F64)
    h0 = torch.tensor([0.5, -0.5], dtype=F64)
    traj = rnnprobe.record(model, x, h0)
    # default burn-in min(200, T // 10) = 3
    logdet = torch.linalg.slogdet(traj.step_jacobians()[3:, 0]).logabsdet
    lam = rnnprobe.lyapunov_spectrum(model, x, h0=h0)
    assert float(lam.sum()) == pytest.approx(float(logdet.mean()), rel=1e-10)


# --------------------------------------------------------------------------- re-orthonormalisation schedule
def _well_conditioned(traj, limit=1e6):
    """Every step Jacobian has a row-equilibrated condition number below ``limit`` (see the determinant test)."""
    J = traj.step_jacobians()[:, 0]
    rows = torch.linalg.vector_norm(J, dim=-1, keepdim=True)
    return bool((rows > 0).all()) and bool((torch.linalg.cond(J / rows) < limit).all())


@given(model=rs.models(architectures=["vanilla-tanh", "vanilla-sigmoid", "gru", "gru-torch", "lstm", "dense", "residual"],
                       max_hidden=8, min_input=0, max_input=2, min_gain=0.3, max_gain=4.0),
       burn_in=st.integers(0, 20), data=st.data())
def test_automatic_schedule_matches_every_step_to_rounding(model, burn_in, data):
    # contracting (small gains) and chaotic (large gains) examples alike
    x = data.draw(rs.sequences_for(model, min_length=30, max_length=200, scales=st.sampled_from([0.3, 1.0])), label="x")
    traj = rnnprobe.record(model, x)
    assume(_well_conditioned(traj))
    auto = rnnprobe.trajectory_lyapunov_spectrum(traj, burn_in=burn_in)
    every = rnnprobe.trajectory_lyapunov_spectrum(traj, burn_in=burn_in, reorthonormalize_every=1)
    torch.testing.assert_close(auto, every, rtol=1e-11, atol=1e-12)


class EulerRateCell(torch.nn.Module):
    """Engelken et al.'s rate network h <- (1 - dt) h + dt W tanh(h), written as a user's cell."""

    def __init__(self, n, g=4.0, dt=0.1, seed=0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        W = g * torch.randn(n, n, generator=gen, dtype=F64) / math.sqrt(n)
        self.W = torch.nn.Parameter(W.fill_diagonal_(0.0))
        self.dt, self.input_size, self.hidden_size = dt, 0, n

    def forward(self, x, h):
        return (1 - self.dt) * h + self.dt * torch.tanh(h) @ self.W.T


def test_chaotic_rate_network_cell_uses_long_blocks_and_matches_every_step():
    from rnnprobe._qr_sweep import FrameSweep
    from rnnprobe.lyapunov import start_frame

    model = rnnprobe.CellAdapter(EulerRateCell(30))                 # no analytic Jacobian: autograd, vmapped
    h0 = 3.0 * torch.randn(30, dtype=F64, generator=torch.Generator().manual_seed(1))
    h = rnnprobe.record(model, torch.zeros(500, 0), h0).states[-1, 0]
    traj = rnnprobe.record(model, torch.zeros(1500, 0), h)
    every = rnnprobe.trajectory_lyapunov_spectrum(traj, burn_in=300, reorthonormalize_every=1)
    assert every[0] > 0.005                                           # chaotic
    auto = rnnprobe.trajectory_lyapunov_spectrum(traj, burn_in=300)
    torch.testing.assert_close(auto, every, rtol=0, atol=1e-13)
    for m in (5, 10):                                                 # the reference's schedule, and another
        fixed = rnnprobe.trajectory_lyapunov_spectrum(traj, burn_in=300, reorthonormalize_every=m)
        torch.testing.assert_close(fixed, every, rtol=0, atol=1e-13)
    sweep = FrameSweep(traj)
    for _ in sweep.run(start_frame(traj, 30, 0), 0, traj.length):
        pass
    assert sum(sweep.blocks) == 1500 and sorted(sweep.blocks)[len(sweep.blocks) // 2] >= 8


def test_contracting_orthogonal_map_uses_the_longest_blocks_and_is_exact():
    from rnnprobe._qr_sweep import MAX_EVERY, FrameSweep

    W = 0.6 * _orthogonal(5, 7)
    model = _linear(W, input_size=1)
    x = torch.randn(400, 1, dtype=F64, generator=torch.Generator().manual_seed(7))
    lam = rnnprobe.lyapunov_spectrum(model, x, burn_in=0)
    torch.testing.assert_close(lam, torch.full((5,), math.log(0.6), dtype=F64), rtol=0, atol=1e-13)
    sweep = FrameSweep(rnnprobe.record(model, x))
    for _ in sweep.run(torch.eye(5, dtype=F64).expand(1, 5, 5), 0, 400):
        pass
    assert max(sweep.blocks) == MAX_EVERY


def test_a_rise_in_growth_within_a_block_is_caught_and_redone():
    # a residual RNN that rests near a fixed point (long blocks), then turns strongly non-normal: before blocks
    # were checked after the fact, the automatic schedule was off by 0.06 in the smallest exponent here
    model = rnnprobe.build("residual", hidden_size=16, gain=4.0, seed=0)
    x = torch.randn(300, 1, dtype=F64, generator=torch.Generator().manual_seed(0))
    traj = rnnprobe.record(model, x)
    assert _well_conditioned(traj)
    auto = rnnprobe.trajectory_lyapunov_spectrum(traj, burn_in=30)
    every = rnnprobe.trajectory_lyapunov_spectrum(traj, burn_in=30, reorthonormalize_every=1)
    torch.testing.assert_close(auto, every, rtol=0, atol=1e-12)


@pytest.mark.parametrize("scale", [1e3, 1e-3])
def test_blocks_that_would_over_or_underflow_are_redone(scale):
    # |eigenvalues| ~ 1e±3 per step: 200 steps without a QR would reach 1e±600, beyond float64
    a = torch.tensor([scale, -0.5 * scale, 0.1 * scale], dtype=F64)
    model = rnnprobe.build("vanilla-linear", hidden_size=3, input_size=0, seed=0)    # no bias: the states stay 0
    with torch.no_grad():
        model.W_h.copy_(torch.diag(a))
    x = torch.zeros(400, 0)
    expected = torch.log(a.abs())
    for every in (None, 1, 200):
        lam = rnnprobe.lyapunov_spectrum(model, x, burn_in=100, reorthonormalize_every=every)
        torch.testing.assert_close(lam, expected, rtol=0, atol=1e-12)


def test_float32_uses_float32_thresholds_and_matches_float64():
    m64 = rnnprobe.build("gru", hidden_size=6, gain=2.0, seed=1)
    m32 = rnnprobe.build("gru", hidden_size=6, gain=2.0, seed=1, dtype="float32")
    x = torch.randn(300, 1, generator=torch.Generator().manual_seed(0))
    lam32 = rnnprobe.lyapunov_spectrum(m32, x)
    assert lam32.dtype == torch.float32
    torch.testing.assert_close(lam32, rnnprobe.lyapunov_spectrum(m32, x, reorthonormalize_every=1), rtol=0, atol=1e-5)
    torch.testing.assert_close(lam32.double(), rnnprobe.lyapunov_spectrum(m64, x.double()), rtol=0, atol=1e-4)


@pytest.mark.parametrize("value, pattern", [
    (0, r"reorthonormalize_every must be >= 1; got 0"),
    (-3, r"reorthonormalize_every must be >= 1; got -3"),
    (2.5, r"reorthonormalize_every must be an integer; got 2.5"),
    (True, r"reorthonormalize_every must be an integer; got True"),
])
def test_reorthonormalize_every_rejects_bad_values(value, pattern):
    model = rnnprobe.build("gru", hidden_size=2)
    with pytest.raises(InvalidArgument, match=pattern):
        rnnprobe.lyapunov_spectrum(model, torch.zeros(10, 1), reorthonormalize_every=value)


def test_lyapunov_rejects_bad_arguments():
    model = rnnprobe.build("gru", hidden_size=2)
    x = torch.zeros(10, 1)
    with pytest.raises(InvalidArgument, match=r"k must be <= 2; got 3"):
        rnnprobe.lyapunov_spectrum(model, x, k=3)
    with pytest.raises(InvalidArgument, match=r"k must be >= 1; got 0"):
        rnnprobe.lyapunov_spectrum(model, x, k=0)
    with pytest.raises(InvalidArgument, match=r"burn_in must be smaller than the number of steps T = 10; got 10"):
        rnnprobe.lyapunov_spectrum(model, x, burn_in=10)
    with pytest.raises(InvalidArgument, match=r"burn_in must be >= 0; got -1"):
        rnnprobe.lyapunov_spectrum(model, x, burn_in=-1)
    with pytest.raises(InvalidArgument, match=r"inputs must be finite"):
        rnnprobe.lyapunov_spectrum(model, torch.full((10, 1), math.nan))
