"""Gate-bias timescales at the origin against rnnprobe's LSTM and GRU step Jacobians and memory lengths."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch

import rnnprobe
from rnnprobe.errors import InvalidArgument
from rnnprobe.theory import gates


def _origin_jacobian(model):
    S, d = model.state_size, model.input_size
    with torch.no_grad():
        return model.step_jacobian(torch.zeros(1, d, dtype=torch.float64), torch.zeros(1, S, dtype=torch.float64))[0]


def test_closed_forms():
    b = np.array([-2.0, 0.0, 1.5, 6.0])
    a = 1 / (1 + np.exp(-b))
    assert np.allclose(gates.gate_factor(b), a, rtol=1e-15)
    assert np.allclose(gates.gate_factor(b, convention="cho"), 1 - a, rtol=1e-14)
    assert np.allclose(gates.forgetting_time(b), 1 / (1 - a), rtol=1e-12)
    assert np.allclose(gates.efold_time(b), -1 / np.log(a), rtol=1e-12)
    assert np.allclose(gates.bias_for_forgetting_time(gates.forgetting_time(b)), b, rtol=1e-12)
    # 1/(1 − a) = −1/log a + ½ + O(1 − a)
    assert abs(gates.forgetting_time(9.0) - gates.efold_time(9.0) - 0.5) < 1e-3
    with pytest.raises(InvalidArgument, match="tau"):
        gates.bias_for_forgetting_time(1.0)
    with pytest.raises(InvalidArgument, match="convention"):
        gates.gate_factor(0.0, convention="keras")


@pytest.mark.parametrize("forget_bias", [-1.0, 0.0, 1.0, 3.0])
def test_lstm_cell_block_is_sigmoid_of_forget_bias(forget_bias):
    # any recurrent weights: at zero input and state the c→c block is diag σ(b_f) exactly
    model = rnnprobe.build("lstm", hidden_size=6, gain=0.8, forget_bias=forget_bias, seed=1)
    n = model.hidden_size
    J = _origin_jacobian(model)
    assert torch.allclose(J[n:, n:], torch.eye(n, dtype=torch.float64) * gates.gate_factor(forget_bias), atol=1e-15)


@pytest.mark.parametrize("forget_bias", [0.0, 2.0])
def test_lstm_memory_length_at_origin(forget_bias):
    # zero recurrent weights: G(k) = σ(b_f)^k √(1 + σ(b_o)²) exactly, a pure exponential with e-fold −1/log σ(b_f)
    model = rnnprobe.build("lstm", hidden_size=5, gain=0.0, forget_bias=forget_bias, seed=0)
    traj = rnnprobe.record(model, torch.zeros(40, 1))
    G = rnnprobe.jacobian_norms(traj, method="svd")
    assert np.allclose(G.numpy(), gates.lstm_origin_jacobian_norms(np.full(5, forget_bias), traj.lags.numpy()), rtol=1e-12)
    assert rnnprobe.memory_length(traj).efold == pytest.approx(gates.efold_time(forget_bias), rel=1e-9)


def test_chrono_forgetting_times_are_uniform():
    """Chrono init (T_max = 60): the measured per-unit factors f = diag of the c→c block give forgetting
    times 1/(1 − f) that a Kolmogorov–Smirnov test cannot tell from U(2, T_max) (300 units; reject at 1e-3),
    and their e-folding times follow chrono_efold_cdf."""
    t_max, n = 60, 300
    model = rnnprobe.build("lstm", hidden_size=n, gain=0.0, chrono=t_max, seed=5)
    f = torch.diagonal(_origin_jacobian(model)[n:, n:]).numpy()
    tau = 1 / (1 - f)
    assert tau.min() >= 2 - 1e-9 and tau.max() <= t_max + 1e-9
    assert scipy.stats.kstest(tau, gates.chrono_forgetting_times(t_max).cdf).pvalue > 1e-3
    assert scipy.stats.kstest(-1 / np.log(f), lambda x: gates.chrono_efold_cdf(x, t_max)).pvalue > 1e-3
    # and the slowest unit sets the memory: G(k) = max_i f_i^k √(1 + o_i²) (o = σ(0) = ½)
    small = rnnprobe.build("lstm", hidden_size=20, gain=0.0, chrono=t_max, seed=5)
    traj = rnnprobe.record(small, torch.zeros(50, 1))
    bf = small.bias_ih[20:40].detach().numpy()
    G = rnnprobe.jacobian_norms(traj, method="svd").numpy()
    assert np.allclose(G, gates.lstm_origin_jacobian_norms(bf, traj.lags.numpy()), rtol=1e-11)
    assert rnnprobe.memory_length(traj).efold == pytest.approx(gates.efold_time(bf.max()), rel=1e-8)


@pytest.mark.parametrize("arch", ["gru", "gru-torch"])
@pytest.mark.parametrize("update_bias", [-1.0, 0.5, 3.0])
def test_gru_update_bias_factor_both_conventions(arch, update_bias):
    # U = 0 and zero input: the step Jacobian is σ(b_z) I at *every* state, so G(k) = σ(b_z)^k
    model = rnnprobe.build(arch, hidden_size=6, gain=0.0, update_bias=update_bias, seed=2)
    h = torch.randn(3, 6, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    with torch.no_grad():
        J = model.step_jacobian(torch.zeros(3, 1, dtype=torch.float64), h)
    assert torch.allclose(J, torch.eye(6, dtype=torch.float64).expand(3, 6, 6) * gates.gate_factor(update_bias), atol=1e-15)
    traj = rnnprobe.record(model, torch.zeros(30, 1), h0=h[0])
    G = rnnprobe.jacobian_norms(traj, method="svd").numpy()
    assert np.allclose(G, gates.gru_origin_jacobian_norms(update_bias, traj.lags.numpy()), rtol=1e-12)
    assert rnnprobe.memory_length(traj).efold == pytest.approx(gates.efold_time(update_bias), rel=1e-9)


@pytest.mark.parametrize("arch,block", [("gru", "U"), ("gru-torch", "W_hn")])
def test_gru_origin_jacobian_with_recurrent_weights(arch, block):
    model = rnnprobe.build(arch, hidden_size=7, gain=0.9, update_bias=1.2, seed=4)
    U = model.recurrent_weights()[block].numpy()
    assert np.allclose(_origin_jacobian(model).numpy(), gates.gru_origin_jacobian(1.2, U), atol=1e-14)
    # the leading-order factor σ(b_z) is the mean of the eigenvalues (tr U ≈ 0 for Gaussian U)
    eig = np.linalg.eigvals(gates.gru_origin_jacobian(1.2, U))
    assert eig.mean().real == pytest.approx(gates.gate_factor(1.2) + (1 - gates.gate_factor(1.2)) / 2 * np.trace(U) / 7)
