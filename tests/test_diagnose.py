"""rnnprobe.diagnose: planted causes (weights, saturation, gates) found, the split against independent numbers."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import rnnprobe
from rnnprobe import strategies as rs
from rnnprobe.diagnosis import diagnose_trajectory, state_label
from rnnprobe.memory import efold_fit
from rnnprobe.models.base import RecurrentModel

F64 = torch.float64


def seq(T, B, d=1, scale=1.0, seed=0):
    return scale * torch.randn(T, B, d, dtype=F64, generator=torch.Generator().manual_seed(seed))


def gradient_growth(traj, **loss):
    """Mean log growth per step of the back-propagated loss gradient, from rnnprobe.gradient_norms (full Jacobians)."""
    from rnnprobe.losses import loss_gradient

    log_g = rnnprobe.gradient_norms(traj, log=True, **loss)
    log_g = log_g if traj.batched else log_g.unsqueeze(0)
    log_final = loss_gradient(traj, **loss).final.norm(dim=-1).log()
    return float(((log_g[:, 0] - log_final) / traj.length).mean())


# --------------------------------------------------------------------------- vanilla: weights against activations
def test_weights_driven_decay_is_attributed_to_the_weights_with_their_exact_share():
    # W_h = 0.5·Q (Q orthogonal): every ‖u W_h‖ = 0.5, so the weights' part is log 0.5 exactly
    model = rnnprobe.build("vanilla-tanh", hidden_size=8, init="orthogonal", gain=0.5, seed=0)
    traj = rnnprobe.record(model, seq(40, 3, scale=0.05))
    d = rnnprobe.diagnose(traj)
    assert d.kind == "vanilla" and d.dominant == "weights" and d.share > 0.99
    assert d.parts["weights"] == pytest.approx(math.log(0.5), abs=1e-12)
    assert -0.01 < d.parts["activations"] <= 0.0                 # inputs of 0.05 keep σ′ near 1
    assert d.parts["weights"] + d.parts["activations"] == pytest.approx(gradient_growth(traj), abs=1e-12)
    W = model.W_h.detach()
    assert d.spectral_radius == pytest.approx(float(torch.linalg.eigvals(W).abs().max()), rel=1e-12)
    assert d.power_norm == pytest.approx(0.5, rel=1e-12)          # ‖(0.5 Q)^T‖^(1/T)
    assert d.rate == pytest.approx(math.log(0.5), abs=0.01)
    sigma_prime = 1 - traj.states[1:] ** 2                        # tanh′ at the recorded pre-activations
    assert d.derivative_mean == pytest.approx(float(sigma_prime.mean()), rel=1e-12)
    assert d.saturated_fraction == 0.0 and d.saturated_units == 0
    assert "ρ(W_h) = 0.5" in d.cause and "initialise W_h orthogonally" in d.remedy
    assert d.pascanu == "vanishing" and "Pascanu verdict: vanishing" in str(d)


def test_saturation_driven_decay_is_attributed_to_the_units():
    # an orthogonal W_h at gain 1 keeps every ‖u W_h‖ = 1: all the decay is saturation (large inputs)
    model = rnnprobe.build("vanilla-tanh", hidden_size=8, init="orthogonal", gain=1.0, seed=0)
    traj = rnnprobe.record(model, seq(40, 3, scale=6.0))
    d = rnnprobe.diagnose(traj)
    assert d.dominant == "activations" and d.share == pytest.approx(1.0, abs=1e-12)
    assert d.parts["weights"] == pytest.approx(0.0, abs=1e-12)
    assert d.parts["activations"] == pytest.approx(gradient_growth(traj), abs=1e-12)
    sigma_prime = 1 - traj.states[1:] ** 2
    assert d.saturated_fraction == pytest.approx(float((sigma_prime <= 0.1).double().mean()), abs=1e-12)
    assert d.saturated_units == int(((sigma_prime <= 0.1).double().mean((0, 1)) > 0.5).sum())
    assert d.saturated_fraction > 0.3
    assert d.cause.startswith("saturated units set the decay") and "smaller inputs" in d.remedy


def test_the_untrained_torch_rnn_forgets_through_its_weights():
    """The issue's finding, at small size: torch's default init has ρ(W_h) ≈ 0.6, and σ′ stays near 1."""
    torch.manual_seed(0)
    rnn = nn.RNN(2, 32, batch_first=True)
    x = torch.rand(4, 60, 2)
    d = rnnprobe.diagnose(rnn, x)
    rho = float(torch.linalg.eigvals(rnn.weight_hh_l0.detach().double()).abs().max())
    assert d.dominant == "weights" and d.spectral_radius == pytest.approx(rho, rel=1e-9)
    assert d.derivative_mean > 0.9 and d.saturated_fraction < 0.01
    assert f"ρ(W_h) = {rho:.3g}" in d.cause
    assert "torch.nn.RNN's weight_hh_l0" in d.remedy
    # the assertions' hint is the diagnosis's
    with pytest.raises(AssertionError) as info:
        rnnprobe.testing.assert_memory_at_least(rnn, 40, x)
    assert f"hint: the recurrent weights set the decay" in str(info.value)
    assert "through the σ′ factors" not in str(info.value)


def test_growth_is_put_on_the_weights():
    model = rnnprobe.build("vanilla-relu", hidden_size=16, gain=2.0, seed=0)
    d = rnnprobe.diagnose(model, seq(30, 2))
    assert d.rate > 0 and d.dominant == "weights"
    assert d.cause.startswith("the recurrent weights make G grow") and "clip" in d.remedy


@settings(max_examples=25, deadline=None)
@given(traj=rs.trajectories(rs.models(architectures=["vanilla-tanh", "vanilla-sigmoid", "vanilla-linear"],
                                      max_hidden=5, min_gain=0.3, max_gain=2.0), min_length=2, max_length=20, batch=2),
       seed=st.integers(0, 3))
def test_the_two_parts_add_up_to_the_gradients_growth(traj, seed):
    """Along the back-propagated gradient the split is exact: weights + activations = its mean log growth."""
    d = diagnose_trajectory(traj, seed=seed)
    assert d.parts["activations"] <= 1e-12                        # σ′ <= γ, after the log γ shift
    total = d.parts["weights"] + d.parts["activations"]
    assert total == pytest.approx(gradient_growth(traj, seed=seed), abs=1e-9)


def test_a_loss_is_followed_and_its_rate_reported():
    model = rnnprobe.build("vanilla-tanh", hidden_size=6, gain=1.2, seed=1)
    traj = rnnprobe.record(model, seq(30, 2))
    w = torch.tensor([1.0, -3.0], dtype=F64)
    batch_loss = lambda h: w * torch.tanh(h).sum(-1)             # noqa: E731
    d = rnnprobe.diagnose(traj, batch_loss=batch_loss)
    total = d.parts["weights"] + d.parts["activations"]
    assert total == pytest.approx(gradient_growth(traj, batch_loss=batch_loss), abs=1e-12)
    from rnnprobe.losses import loss_gradient

    log_g = rnnprobe.gradient_norms(traj, batch_loss=batch_loss, log=True).flip(-1)
    log_hat = log_g - loss_gradient(traj, batch_loss=batch_loss).final.norm(dim=-1).log()[:, None]
    assert d.loss_rate == pytest.approx(efold_fit(np.arange(1, 31), log_hat.mean(0).numpy())[0], rel=1e-12)
    assert "your loss: ĝ(k)" in str(d)


def test_torch_cells_are_diagnosed_as_their_layers():
    torch.manual_seed(3)
    for nonlinearity in ("relu", "tanh"):
        rnn = nn.RNN(2, 5, nonlinearity=nonlinearity)
        cell = nn.RNNCell(2, 5, nonlinearity=nonlinearity)
        cell.load_state_dict({k.removesuffix("_l0"): v for k, v in rnn.state_dict().items()})
        x = torch.randn(25, 3, 2) * 0.1
        a, b = rnnprobe.diagnose(rnn, x), rnnprobe.diagnose(cell, x)
        assert a.kind == b.kind == "vanilla" and a.dominant == b.dominant
        for key in a.parts:
            assert a.parts[key] == pytest.approx(b.parts[key], rel=1e-12, abs=1e-12)
        assert a.pascanu == b.pascanu and a.spectral_radius == pytest.approx(b.spectral_radius, rel=1e-12)
    assert b.dominant == "weights" and "initialise torch.nn.RNNCell's weight_hh orthogonally" in b.remedy


# --------------------------------------------------------------------------- gated: the gate's path against the weights'
def lstm_forget_gates(model, traj):
    """f along the trajectory from the weights (torch's gate order i, f, g, o), not from the model's code."""
    n = model.hidden_size
    W_if, W_hf = model.weight_ih[n : 2 * n].detach(), model.weight_hh[n : 2 * n].detach()
    b = (model.bias_ih[n : 2 * n] + model.bias_hh[n : 2 * n]).detach()
    h = traj.states[:-1, :, :n]
    return torch.sigmoid(traj.inputs @ W_if.T + h @ W_hf.T + b)


@pytest.mark.parametrize("forget_bias, dominant", [(0.0, "gate"), (3.0, "gate"), (-4.0, "weights")])
def test_lstm_decay_is_put_on_the_forget_gate_or_the_weights(forget_bias, dominant):
    model = rnnprobe.build("lstm", hidden_size=8, forget_bias=forget_bias, seed=0)
    traj = rnnprobe.record(model, seq(60, 2))
    d = rnnprobe.diagnose(traj)
    f = lstm_forget_gates(model, traj)
    assert d.kind == "lstm" and d.state == "[h; c]"
    assert d.parts["gate"] == pytest.approx(float(torch.log(f).mean(0).amax(-1).mean()), rel=1e-12)
    assert d.gate_mean == pytest.approx(float(f.mean()), rel=1e-12)
    assert d.dominant == dominant
    assert "raise the forget-gate bias b_f (forget_bias; " in d.remedy
    if dominant == "weights":
        assert "is nearly closed" in d.cause
    else:
        assert d.cause.startswith("the forget gate f sets the decay")


def test_torch_lstm_and_gru_remedies_name_their_parameters():
    torch.manual_seed(0)
    lstm, gru = nn.LSTM(2, 8, num_layers=2), nn.GRU(2, 8)
    x = torch.randn(40, 2, 2)
    d = rnnprobe.diagnose(rnnprobe.adapt(lstm, layer=1), x)
    assert "in torch.nn.LSTM: bias_ih_l1[n:2n] + bias_hh_l1[n:2n]" in d.remedy
    d = rnnprobe.diagnose(gru, x)
    n = 8                                                           # torch's gate order r, z, n: z is the second
    h = rnnprobe.record(gru, x).states[:-1]
    p = {k: v.detach().double() for k, v in gru.state_dict().items()}
    z = torch.sigmoid(x.double() @ p["weight_ih_l0"][n : 2 * n].T + p["bias_ih_l0"][n : 2 * n]
                      + h @ p["weight_hh_l0"][n : 2 * n].T + p["bias_hh_l0"][n : 2 * n])
    assert d.kind == "gru" and d.dominant == "gate"
    assert d.parts["gate"] == pytest.approx(float(torch.log(z).mean(0).amax(-1).mean()), rel=1e-9)
    assert "update-gate bias b_z (in torch.nn.GRU: bias_ih_l0[n:2n]" in d.remedy


# --------------------------------------------------------------------------- diagonal: the factor at rest against the gates
class GatedDiagonal(RecurrentModel):
    """h' = a(x) ⊙ h + (1 − a(x)) ⊙ tanh(U x), a(x) = σ(b + V x): a minGRU-like diagonal recurrence."""

    family = "diagonal"
    name = "gated-diagonal"

    def __init__(self, b, V, n=4, d=1):
        super().__init__()
        self.input_size, self.hidden_size, self.state_size = d, n, n
        self.b = nn.Parameter(torch.as_tensor(b, dtype=F64).expand(n).clone())
        self.V = nn.Parameter(torch.as_tensor(V, dtype=F64).expand(n, d).clone())
        self.U = nn.Parameter(torch.linspace(-1, 1, n * d, dtype=F64).reshape(n, d))

    def gate(self, x):
        return torch.sigmoid(self.b + x @ self.V.T)

    def step(self, x, state, t=0):
        a = self.gate(x)
        return a * state + (1 - a) * torch.tanh(x @ self.U.T)

    def step_jacobian(self, x, state, t=0):
        return torch.diag_embed(self.gate(x))

    def recurrent_weights(self):                                  # the step Jacobian at zero input
        return {"A": torch.diag(torch.sigmoid(self.b.detach()))}


def test_diagonal_decay_from_the_factors_at_rest():
    model = GatedDiagonal(b=torch.linspace(-1.0, 0.5, 4), V=0.0)  # inputs do not move the gates
    d = rnnprobe.diagnose(model, seq(40, 2).abs())
    assert d.kind == "diagonal" and d.dominant == "weights"
    assert d.parts["weights"] == pytest.approx(math.log(torch.sigmoid(torch.tensor(0.5, dtype=F64)).item()), rel=1e-12)
    assert d.parts["gates"] == pytest.approx(0.0, abs=1e-12)
    assert d.rate == pytest.approx(d.parts["weights"], abs=1e-6)  # G(k) = max_i a_i^k (to the probe's tolerance)


def test_diagonal_decay_from_gates_the_inputs_close():
    model = GatedDiagonal(b=4.0, V=-8.0)                          # at rest a = σ(4) = 0.98; inputs near 1 close it
    x = 0.5 + 0.5 * torch.rand(40, 2, 1, dtype=F64, generator=torch.Generator().manual_seed(0))
    d = rnnprobe.diagnose(model, x)
    a = torch.sigmoid(4.0 - 8.0 * x)                              # (T, B, 1): every unit has the same factor
    rate = float(torch.log(a).mean(0).mean())
    assert d.dominant == "gates"
    assert d.parts["weights"] == pytest.approx(math.log(torch.sigmoid(torch.tensor(4.0, dtype=F64)).item()), rel=1e-12)
    assert d.parts["weights"] + d.parts["gates"] == pytest.approx(rate, rel=1e-12)
    assert d.cause.startswith("the inputs close the gates") and "bias" in d.remedy


@pytest.mark.parametrize("max_phase", [0.0, 1e-9, math.pi / 2, math.pi, 2 * math.pi])
def test_lru_decay_from_the_moduli_of_its_complex_factors(max_phase):
    """The LRU's 2×2 rotation–scaling blocks decompose by their moduli: the rate at rest is log max|λ_j|, and the
    inputs (which do not touch λ) add nothing. Before: "not decomposed" for any phase other than 0."""
    lru = rnnprobe.build("lru", hidden_size=6, input_size=2, r_min=0.6, r_max=0.9, max_phase=max_phase, seed=3)
    d = rnnprobe.diagnose(lru, seq(60, 2, d=2))
    assert d.kind == "diagonal" and d.decomposed and d.dominant == "weights"
    log_rho = math.log(float(lru.eigenvalues().abs().max()))
    assert d.parts["weights"] == pytest.approx(log_rho, rel=1e-12)
    assert d.parts["gates"] == pytest.approx(0.0, abs=1e-12)
    assert d.rate == pytest.approx(log_rho, rel=1e-9)
    assert d.cause.startswith("the factors themselves set the decay")


@pytest.mark.parametrize("arch", ["lru", "s4d", "mingru"])
def test_diagonal_factors_that_are_exactly_zero_give_no_nan(arch):
    """gain 0: every factor is 0 at rest and along the trajectory; the inputs' part is 0, not −inf − (−inf) = NaN."""
    model = rnnprobe.build(arch, hidden_size=3, input_size=1, gain=0.0, seed=0)
    d = rnnprobe.diagnose(model, seq(10, 1))
    assert d.parts["weights"] == -math.inf and d.parts["gates"] == 0.0
    assert "nan" not in d.cause and "nan" not in str(d)


@pytest.mark.parametrize("arch, kw, dominant, knob", [
    ("mingru", {}, "weights", "a negative update_bias b_z"),
    ("minlstm", {}, "weights", "a larger forget_bias b_f"),
    ("lru", dict(r_min=0.3, r_max=0.5), "weights", "the LRU ring's r_max closer to 1"),
    ("s4d", dict(dt_min=0.5, dt_max=1.0), "weights", "lower dt_min and dt_max"),
    ("mingru", dict(update_bias=-4.0, input_gain=6.0), "gates", "lower minGRU's update_bias b_z"),
])
def test_diagonal_remedies_name_the_models_own_knob(arch, kw, dominant, knob):
    """Each remedy moves the factor the right way: minGRU's z is the fraction *written*, so its memory needs a
    lower update_bias (before: "raise ... minGRU's update bias", which shortens it)."""
    model = rnnprobe.build(arch, hidden_size=4, seed=0, **kw)
    d = rnnprobe.diagnose(model, seq(200, 4))
    assert d.dominant == dominant and knob in d.remedy, d.remedy
    if arch == "mingru":    # the direction is right: a lower update bias lengthens the measured memory
        lower = rnnprobe.build(arch, hidden_size=4, seed=0, **{**kw, "update_bias": kw.get("update_bias", 0.0) - 2})
        assert rnnprobe.diagnose(lower, seq(200, 4)).rate > d.rate


# --------------------------------------------------------------------------- honest where it does not decompose
@pytest.mark.parametrize("arch", ["residual", "dense", "mlp"])
def test_other_families_are_not_decomposed_and_say_so(arch):
    model = rnnprobe.build(arch, hidden_size=4, seed=0)
    x = torch.randn(4, dtype=F64) if arch == "mlp" else seq(20, 1)
    d = rnnprobe.diagnose(model, x)
    assert not d.decomposed and d.dominant is None and d.parts == {}
    assert d.cause.startswith("not decomposed")
    assert math.isfinite(d.rate)


def test_state_labels():
    assert state_label(rnnprobe.build("lstm", 3)) == "[h; c]"
    assert state_label(nn.LSTMCell(2, 3)) == "[h; c]"
    assert state_label(rnnprobe.build("dense", 3, window=3)) == "[h_t; …; h_(t−2)]"
    assert state_label(nn.RNN(1, 3)) == "h"
