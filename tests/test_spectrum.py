"""weight_spectrum: singular values and spectral radius per block, and the Pascanu et al. (2013) verdict."""

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

ARCHS = sorted(rnnprobe.architectures)
F64 = torch.float64
# sup|σ′| by hand: tanh′(0) = 1, relu′ = 1 on x > 0, sigmoid′(0) = 1/4, identity′ = 1
GAMMA = {"tanh": 1.0, "relu": 1.0, "sigmoid": 0.25, "linear": 1.0}
BLOCKS = {
    "vanilla-tanh": ["W_h"], "vanilla-relu": ["W_h"], "vanilla-sigmoid": ["W_h"], "vanilla-linear": ["W_h"],
    "gru": ["U_r", "U_z", "U"], "gru-torch": ["W_hr", "W_hz", "W_hn"], "lstm": ["W_hi", "W_hf", "W_hg", "W_ho"],
    "residual": ["W_h"], "dense": ["W_0", "W_1", "W_2"], "mlp": [f"W_{l}" for l in range(8)],
    "resmlp": [f"W_{l}" for l in range(8)], "densemlp": [f"W_{l}" for l in range(8)],
    # the diagonal recurrences report their step Jacobian at zero input; the unitary RNN its exp(A)
    "lru": ["Lambda"], "s4d": ["A_bar"], "s6": ["A_bar(x=0)"], "mingru": ["1-z(x=0)"], "minlstm": ["f'(x=0)"],
    "unitary": ["W_h"],
}


def test_gamma_is_sup_of_the_derivative():
    x = torch.linspace(-6, 6, 120001, dtype=F64, requires_grad=True)
    for name, gamma in GAMMA.items():
        sigma = rnnprobe.NONLINEARITIES[name]
        (d,) = torch.autograd.grad(sigma(x).sum(), x)
        assert float(d.abs().max()) == pytest.approx(gamma, abs=1e-9)
        assert sigma.gamma == gamma


@pytest.mark.parametrize("name", ARCHS)
def test_block_spectra_against_scipy_and_numpy(name):
    model = rnnprobe.build(name, hidden_size=5, gain=1.3, seed=1)
    spec = rnnprobe.weight_spectrum(model)
    assert list(spec.blocks) == BLOCKS[name]
    for block_name, W in model.recurrent_weights().items():
        block = spec.blocks[block_name]
        W_np = W.numpy()
        np.testing.assert_allclose(block.singular_values.numpy(), scipy.linalg.svdvals(W_np), rtol=1e-12, atol=1e-14)
        assert block.spectral_norm == pytest.approx(float(scipy.linalg.svdvals(W_np)[0]), rel=1e-12)
        if W_np.shape[0] == W_np.shape[1]:
            assert block.spectral_radius == pytest.approx(float(np.abs(np.linalg.eigvals(W_np)).max()), rel=1e-10)
        else:
            assert block.spectral_radius is None
    assert spec.sigma_max == pytest.approx(max(b.spectral_norm for b in spec.blocks.values()), rel=0)
    norms = {n: float(scipy.linalg.svdvals(W.numpy())[0]) for n, W in model.recurrent_weights().items()}
    assert spec.largest_block == max(norms, key=norms.get)
    assert spec.blocks[spec.largest_block].spectral_norm == spec.sigma_max


def test_largest_block_of_no_blocks_and_of_ties():
    assert rnnprobe.WeightSpectrum().largest_block is None
    block = lambda norm: rnnprobe.BlockSpectrum(torch.tensor([norm]), norm, norm)  # noqa: E731
    tied = rnnprobe.WeightSpectrum({"A": block(0.5), "B": block(2.0), "C": block(2.0)}, sigma_max=2.0)
    assert tied.largest_block == "B"                           # the first of the equal ones


def test_orthogonal_and_spectral_initialisations_show_in_the_spectrum():
    orth = rnnprobe.weight_spectrum(rnnprobe.build("vanilla-tanh", hidden_size=6, init="orthogonal", gain=0.7, seed=2))
    torch.testing.assert_close(orth.blocks["W_h"].singular_values, torch.full((6,), 0.7, dtype=F64), rtol=1e-13, atol=0)
    assert orth.blocks["W_h"].spectral_radius == pytest.approx(0.7, rel=1e-12)
    spec = rnnprobe.weight_spectrum(rnnprobe.build("vanilla-tanh", hidden_size=6, init="spectral", gain=1.1, seed=2))
    assert spec.blocks["W_h"].spectral_radius == pytest.approx(1.1, rel=1e-12)
    assert spec.sigma_max >= 1.1 - 1e-12                     # ‖W‖₂ >= spectral radius


def lecture_form_models(**bounds):
    """The nets the Pascanu verdict is about, half of them plain MLPs: vanilla RNNs of each nonlinearity, and
    stacks of each nonlinearity."""
    vanilla = [f"vanilla-{name}" for name in sorted(GAMMA)]
    return (rs.models(architectures=vanilla, **bounds)
            | rs.models(architectures="mlp", options={"nonlinearity": st.sampled_from(sorted(GAMMA))}, **bounds))


def lecture_weights(model):
    """W_h, or the weight of every layer of a stack, read off the model's own parameters."""
    if model.kind == "feedforward":
        return [model.W[l].detach() for l in range(model.depth)]
    return [model.W_h.detach()]


@given(model=lecture_form_models(min_hidden=4, max_hidden=4, min_depth=3, max_depth=3, min_gain=0.1, max_gain=5.0))
def test_pascanu_verdict_is_vanishing_exactly_when_sigma_max_below_one_over_gamma(model):
    spec = rnnprobe.weight_spectrum(model)
    sigma_max = max(float(scipy.linalg.svdvals(W.numpy())[0]) for W in lecture_weights(model))
    gamma = GAMMA[model.sigma.name]
    assert spec.gamma == gamma
    assert spec.sigma_max == pytest.approx(sigma_max, rel=1e-12)
    assert spec.pascanu == ("vanishing" if sigma_max < 1 / gamma else "inconclusive")
    assert spec.vanishing_guaranteed == (spec.pascanu == "vanishing")
    assert f"{sigma_max:.4g}" in spec.explanation


@pytest.mark.parametrize("name", ["gru", "gru-torch", "lstm", "residual", "dense", "resmlp", "densemlp"])
def test_pascanu_verdict_does_not_apply_beyond_the_lecture_form(name):
    for gain in (0.1, 3.0):
        spec = rnnprobe.weight_spectrum(rnnprobe.build(name, hidden_size=3, gain=gain))
        assert spec.pascanu == "not applicable" and spec.gamma is None and not spec.vanishing_guaranteed
        assert name in spec.explanation


@given(model=lecture_form_models(min_hidden=4, max_hidden=4, max_depth=20, min_bias_std=0.0, max_bias_std=1.0),
       fraction=st.floats(0.05, 0.999), data=st.data())
def test_when_the_verdict_is_vanishing_gradients_do_decay(model, fraction, data):
    """σ_max < 1/γ ⇒ G(k) <= (γ σ_max)^k: every step Jacobian D_s W has norm <= γ σ_max < 1."""
    gamma = GAMMA[model.sigma.name]
    weights = lecture_weights(model)
    sigma_1 = max(float(torch.linalg.matrix_norm(W, ord=2)) for W in weights)
    with torch.no_grad():                                       # rescale so that σ_max = fraction / γ
        (model.W if model.kind == "feedforward" else model.W_h).mul_(fraction / gamma / sigma_1)
    spec = rnnprobe.weight_spectrum(model)
    assert spec.sigma_max == pytest.approx(fraction / gamma, rel=1e-9)
    assert spec.pascanu == "vanishing"
    x = data.draw(rs.sequences_for(model, max_length=20, scales=st.sampled_from([0.0, 1.0, 3.0])), label="x")
    traj = rnnprobe.record(model, x)
    k = traj.lags.to(F64)
    log_G = rnnprobe.jacobian_norms(traj, log=True)
    assert bool((log_G <= k * math.log(gamma * spec.sigma_max) + 1e-9).all())


def test_weight_spectrum_of_torch_modules_and_cells():
    torch.manual_seed(0)
    rnn = torch.nn.RNN(2, 3, nonlinearity="relu")
    spec = rnnprobe.weight_spectrum(rnn)
    np.testing.assert_allclose(spec.blocks["W_h"].singular_values.numpy(),
                               scipy.linalg.svdvals(rnn.weight_hh_l0.detach().double().numpy()), rtol=1e-12)
    assert spec.gamma == 1.0
    cell = rnnprobe.weight_spectrum(rnnprobe.CellAdapter(torch.nn.GRUCell(2, 3)))
    assert list(cell.blocks) == ["weight_hh"] and cell.pascanu == "not applicable"
    assert cell.blocks["weight_hh"].spectral_radius is None             # (9, 3): stacked gates


def test_weight_spectrum_rejects_non_finite_weights():
    model = rnnprobe.build("gru", hidden_size=3)
    with torch.no_grad():
        model.weight_hh[4, 1] = math.nan
    with pytest.raises(InvalidArgument, match=r"model weight 'U_z' must be finite; got NaN/Inf"):
        rnnprobe.weight_spectrum(model)
    with pytest.raises(InvalidArgument, match=r"model must be an rnnprobe StepModel.*ndarray"):
        rnnprobe.weight_spectrum(np.eye(3))
