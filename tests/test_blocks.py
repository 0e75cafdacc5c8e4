"""The O(T·n) path for diagonal and 2×2-block recurrences: equal to the general sweep, exact closed forms,
long horizons in log space, and chunking that changes nothing."""

import math

import mpmath
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import rnnprobe
from rnnprobe import strategies as rs
from rnnprobe.blocks import block_singular_values, has_block_jacobians
from rnnprobe.errors import InvalidArgument
from rnnprobe.models import RecurrentModel
from rnnprobe.models._diagonal import dense_from_blocks

F64 = torch.float64
DIAGONAL = rnnprobe.architectures.of_family("diagonal")
MODELS = rs.models(architectures=DIAGONAL, max_hidden=4, min_input=0, max_input=2, min_gain=0.3, max_gain=2.0,
                   max_bias_std=1.0)


def _rand(*shape, seed=0, scale=1.0):
    return scale * torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


class Shear2x2(RecurrentModel):
    """A test chain with general (non-normal) 2×2 blocks: block j is [[p_j, −q_j + e_j·x], [q_j, p_j]], a
    rotation–scaling (conformal) block exactly when x = 0. The state pairs units (j, n + j), as the LRU's does."""

    name = "shear-2x2"
    family = "diagonal"
    jacobian_block_size = 2

    def __init__(self, n, *, seed=0):
        super().__init__()
        self.hidden_size, self.input_size, self.state_size = n, 1, 2 * n
        g = torch.Generator().manual_seed(seed)
        self.p = torch.nn.Parameter(0.5 + 0.5 * torch.rand(n, generator=g, dtype=F64))
        self.q = torch.nn.Parameter(0.5 * torch.randn(n, generator=g, dtype=F64))
        self.e = torch.nn.Parameter(torch.randn(n, generator=g, dtype=F64))

    def _blocks(self, x):                                    # x (..., 1) -> (..., n, 2, 2)
        p, q = self.p.expand(*x.shape[:-1], -1), self.q.expand(*x.shape[:-1], -1)
        return torch.stack([torch.stack([p, -q + self.e * x], -1), torch.stack([q, p], -1)], -2)

    def jacobian_block_index(self):
        n = self.hidden_size
        return torch.stack([torch.arange(n), torch.arange(n, 2 * n)], dim=1)

    def jacobian_blocks(self, xs, states, t0=0):
        return self._blocks(xs)

    def step(self, x, state, t=0):
        n = self.hidden_size
        M = self._blocks(x)
        s = torch.stack([state[..., :n], state[..., n:]], -1)            # (B, n, 2)
        out = (M @ s.unsqueeze(-1)).squeeze(-1) + x
        return torch.cat([out[..., 0], out[..., 1]], -1)

    def recurrent_weights(self):
        return {}


def _assert_logs_close(a, b, atol):
    both_inf = torch.isinf(a) & torch.isinf(b)
    assert bool((torch.isinf(a) == torch.isinf(b)).all())
    torch.testing.assert_close(torch.where(both_inf, 0.0, a), torch.where(both_inf, 0.0, b), rtol=0, atol=atol)


# --------------------------------------------------------------------------- equal to the general path
@given(traj=rs.trajectories(MODELS, max_length=20, batch=st.sampled_from([None, 2]),
                            scales=st.sampled_from([0.0, 1.0, 3.0])),
       chunk=st.sampled_from([None, 1, 3, 7]))
def test_block_path_equals_the_general_sweep(traj, chunk):
    assert has_block_jacobians(traj.model)
    fast = rnnprobe.jacobian_norms(traj, log=True, chunk_size=chunk)
    general = rnnprobe.jacobian_norms(traj, log=True, diagonal=False)
    _assert_logs_close(fast, general, atol=1e-10)
    sv_fast = rnnprobe.jacobian_singular_values(traj, log=True, chunk_size=chunk)
    sv_general = rnnprobe.jacobian_singular_values(traj, log=True, diagonal=False)
    assert sv_fast.shape == sv_general.shape
    _assert_logs_close(sv_fast, sv_general, atol=1e-8)


@pytest.mark.parametrize("chunk", [None, 1, 2, 5, 64])
@pytest.mark.parametrize("zeros", ["none", "some", "all"])
def test_general_2x2_blocks_equal_high_precision_products(chunk, zeros):
    """Non-normal 2×2 blocks (the doubling scan), conformal ones (x = 0: the angle sums), and chunks of both."""
    model = Shear2x2(3, seed=1)
    x = _rand(30, 1, seed=2)
    if zeros == "some":
        x[3:9] = 0.0
        x[17:25] = 0.0
    elif zeros == "all":
        x.zero_()
    traj = rnnprobe.record(model, x)
    logs = rnnprobe.jacobian_singular_values(traj, log=True, chunk_size=chunk)
    per_block = block_singular_values(traj, log=True, chunk_size=chunk)
    ref = mp_block_log_singular_values(model, traj)                       # (T, n, 2), 40 digits
    torch.testing.assert_close(per_block, ref, rtol=0, atol=1e-11)
    torch.testing.assert_close(logs, torch.sort(ref.flatten(1), descending=True).values, rtol=0, atol=1e-11)
    torch.testing.assert_close(rnnprobe.jacobian_norms(traj, log=True, chunk_size=chunk), logs[:, 0], rtol=0, atol=0)
    # and the dense direct product, to float64's resolution relative to σ₁
    for t in range(0, traj.length, 7):
        sv = torch.linalg.svdvals(rnnprobe.jacobian_product(traj, t))
        torch.testing.assert_close(torch.exp(logs[t]), sv, rtol=0, atol=1e-12 * float(sv[0]))


def mp_block_log_singular_values(model, traj, dps=40):
    """log singular values of every block's suffix product, in mpmath at ``dps`` digits: ``(T, n, 2)``."""
    with torch.no_grad():
        blocks = model.jacobian_blocks(traj.inputs, traj.states)[:, 0].tolist()      # (T, n, 2, 2)
    T, n = len(blocks), len(blocks[0])
    out = torch.empty(T, n, 2, dtype=F64)
    with mpmath.workdps(dps):
        for j in range(n):
            P = mpmath.eye(2)
            for t in range(T - 1, -1, -1):
                P = P * mpmath.matrix(blocks[t][j])
                sv = sorted(mpmath.svd_r(P, compute_uv=False), reverse=True)
                out[t, j] = torch.tensor([float(mpmath.log(v)) for v in sv], dtype=F64)
    return out


def test_tiny_second_singular_values_of_long_non_normal_products():
    """σ₂ far below σ₁·eps (beyond any float64 SVD of the product): checked against 100-digit products."""
    model = Shear2x2(2, seed=3)
    traj = rnnprobe.record(model, _rand(150, 1, seed=4, scale=3.0))
    logs = block_singular_values(traj, log=True)
    ref = mp_block_log_singular_values(model, traj, dps=100)
    assert float((ref[0, :, 0] - ref[0, :, 1]).max()) > 60                     # e^60 ≈ 1e26 >> 1/eps
    torch.testing.assert_close(logs, ref, rtol=1e-12, atol=1e-9)


# --------------------------------------------------------------------------- closed forms and long horizons
def test_lru_norms_are_max_modulus_powers_beyond_float64_underflow():
    lru = rnnprobe.build("lru", hidden_size=16, r_min=0.9, r_max=0.99, seed=0)
    T = 100_000
    traj = rnnprobe.record(lru, torch.zeros(T, 1, dtype=F64))
    log_G = rnnprobe.jacobian_norms(traj, log=True)
    rho = float(lru.eigenvalues().abs().max())
    k = traj.lags.to(F64)
    torch.testing.assert_close(log_G, k * math.log(rho), rtol=1e-10, atol=1e-9)
    assert float(log_G[0]) < -800                      # G(10⁵) = ρ^(10⁵) underflows float64; its log does not


@pytest.mark.parametrize("name", ["mingru", "minlstm"])
def test_min_gated_products_are_the_products_of_the_kept_fractions(name):
    """∂h_T/∂h_t = diag ∏_{s >= t} (1 − z_s) (minGRU), diag ∏ f'_s (minLSTM): exactly, per unit."""
    model = rnnprobe.build(name, hidden_size=5, input_size=2, seed=2, bias_std=0.5)
    x = _rand(3000, 2, seed=3)
    traj = rnnprobe.record(model, x)
    with torch.no_grad():
        kept = 1 - model.update_gate(x) if name == "mingru" else model.gates(x)[0]
    log_prod = torch.log(kept).flip(0).cumsum(0).flip(0)                    # (T, n): log ∏_{s >= t}
    per_block = block_singular_values(traj, log=True)[..., 0]
    torch.testing.assert_close(per_block, log_prod, rtol=1e-12, atol=1e-10)
    torch.testing.assert_close(rnnprobe.jacobian_norms(traj, log=True), log_prod.amax(-1), rtol=1e-12, atol=1e-10)
    # and the direct product over the last lags is that diagonal matrix
    P = rnnprobe.jacobian_product(traj, 2990)
    torch.testing.assert_close(P, torch.diag(torch.exp(log_prod[2990])), rtol=1e-12, atol=1e-15)


def test_zero_factors_give_minus_infinity_not_nan():
    model = rnnprobe.build("s4d", hidden_size=4, gain=0.0, seed=0)
    traj = rnnprobe.record(model, _rand(10, 1, seed=1))
    assert bool(torch.isneginf(rnnprobe.jacobian_norms(traj, log=True)).all())
    assert bool(torch.isneginf(rnnprobe.jacobian_singular_values(traj, log=True)).all())
    lru = rnnprobe.build("lru", hidden_size=2, gain=0.0, seed=0)
    traj = rnnprobe.record(lru, _rand(10, 1, seed=1))
    assert bool(torch.isneginf(rnnprobe.jacobian_singular_values(traj, log=True)).all())


@pytest.mark.parametrize("dtype, gain", [(F64, 1e160), (F64, 1e-300), (F64, 1e300), (torch.float32, 1e20),
                                         (torch.float32, 1e-30)])
def test_lru_blocks_of_any_finite_size_give_exact_logs(dtype, gain):
    """Block entries whose squares leave the float range (|λ| = 1e160, 1e-300; float32 1e20, 1e-30): log G(k)
    is still k·log max|λ| and every singular value's log k·log|λ_j| (before the fix: +inf and -inf)."""
    lru = rnnprobe.build("lru", hidden_size=3, input_size=1, gain=gain, seed=0, dtype=dtype)
    traj = rnnprobe.record(lru, torch.zeros(3, 1, dtype=dtype))
    moduli = lru.eigenvalues().abs().to(F64)
    k = traj.lags.to(F64)
    tol = dict(rtol=1e-12, atol=1e-9) if dtype == F64 else dict(rtol=1e-6, atol=1e-3)
    log_G = rnnprobe.jacobian_norms(traj, log=True).to(F64)
    torch.testing.assert_close(log_G, k * math.log(float(moduli.max())), **tol)
    ref = torch.sort((k[:, None] * torch.log(moduli)).repeat_interleave(2, dim=1), descending=True).values
    torch.testing.assert_close(rnnprobe.jacobian_singular_values(traj, log=True).to(F64), ref, **tol)
    torch.testing.assert_close(log_G, rnnprobe.jacobian_norms(traj, log=True, diagonal=False).to(F64), **tol)


@pytest.mark.parametrize("scale", [1e170, 1e-170])
def test_general_2x2_blocks_of_any_finite_size_equal_high_precision_products(scale):
    """Non-conformal blocks scaled far beyond the range of their squares: the doubling scan's logs equal mpmath's."""
    model = Shear2x2(2, seed=1)
    with torch.no_grad():
        for p in (model.p, model.q, model.e):
            p.mul_(scale)
    traj = rnnprobe.record(model, _rand(2, 1, seed=2))             # the states reach 1e170 (step 3 would overflow)
    logs = block_singular_values(traj, log=True)
    assert bool(torch.isfinite(logs).all())
    torch.testing.assert_close(logs, mp_block_log_singular_values(model, traj), rtol=1e-12, atol=1e-9)


EXTREME_GAINS = [(F64, g) for g in (1e-300, 1e-160, 1e150, 1e300)] + [(torch.float32, g) for g in (1e-30, 1e-20, 1e20)]


@pytest.mark.parametrize("dtype, gain", EXTREME_GAINS)
@pytest.mark.parametrize("name", DIAGONAL)
def test_block_path_equals_the_general_sweep_at_extreme_gains(name, dtype, gain):
    """Every diagonal recurrence at gains whose squares leave the float range, batched: the block path's logs
    equal the general sweep's (which splits factors into powers of two), and nothing is NaN."""
    model = rnnprobe.build(name, hidden_size=3, input_size=2, gain=gain, seed=1, dtype=dtype, bias_std=0.3)
    x = _rand(3, 2, 2, seed=0).to(dtype)
    try:
        traj = rnnprobe.record(model, x)
    except InvalidArgument as err:                     # the states themselves overflow: said, not silent
        assert "NaN/Inf" in str(err)
        return
    tol = 1e-10 if dtype == F64 else 1e-4
    for probe in (rnnprobe.jacobian_norms, rnnprobe.jacobian_singular_values):
        fast, general = probe(traj, log=True).to(F64), probe(traj, log=True, diagonal=False).to(F64)
        assert not bool(torch.isnan(fast).any())
        both_inf = torch.isinf(fast) & (fast == general)
        rel = torch.where(both_inf, 0.0, (fast - general).abs() / general.abs().clamp_min(1.0))
        assert float(rel.max()) <= tol, (probe.__name__, fast, general)


def test_memory_and_bounds_use_the_block_path():
    lru = rnnprobe.build("lru", hidden_size=8, r_min=0.95, r_max=0.95, seed=0)
    traj = rnnprobe.record(lru, _rand(2000, 1, seed=2))
    m = rnnprobe.memory_length(traj)
    assert m.efold == pytest.approx(-1 / math.log(0.95), rel=1e-6)
    assert m.threshold == math.floor(math.log(0.01) / math.log(0.95))


# --------------------------------------------------------------------------- bad input
def test_block_path_rejects_dense_models_and_bad_flags():
    traj = rnnprobe.record(rnnprobe.build("gru", hidden_size=2), torch.zeros(3, 1))
    assert not has_block_jacobians(traj.model)
    with pytest.raises(InvalidArgument, match=r"diagonal=True needs a model with diagonal or 2×2-block step "
                                              r"Jacobians .*got 'gru'"):
        rnnprobe.jacobian_norms(traj, diagonal=True)
    with pytest.raises(InvalidArgument, match=r"diagonal must be True, False or None \(automatic\); got 'yes'"):
        rnnprobe.jacobian_singular_values(traj, diagonal="yes")
    with pytest.raises(InvalidArgument, match=r"the O\(T·n\) path needs a model .*got 'gru'"):
        block_singular_values(traj)
    with pytest.raises(InvalidArgument, match=r"traj must be a Trajectory .*got Tensor"):
        block_singular_values(torch.zeros(3))
    lru_traj = rnnprobe.record(rnnprobe.build("lru", hidden_size=2), torch.zeros(3, 1))
    with pytest.raises(InvalidArgument, match=r"chunk_size must be >= 1; got 0"):
        rnnprobe.jacobian_norms(lru_traj, chunk_size=0)
