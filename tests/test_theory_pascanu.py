"""The Pascanu et al. (2013) bound (γσ_max)^k: where it holds, where it is attained, against rnnprobe's G(k)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import rnnprobe
from rnnprobe.errors import InvalidArgument
from rnnprobe.theory import pascanu as pa


def test_bound_closed_form():
    assert pa.pascanu_bound(3.0, [0, 1, 2], gamma=0.25).tolist() == [1.0, 0.75, 0.5625]
    assert np.allclose(pa.pascanu_bound(3.0, [1, 2], gamma=0.25, log=True), [math.log(0.75), 2 * math.log(0.75)])
    assert pa.pascanu_bound(0.0, [0, 3]).tolist() == [1.0, 0.0]
    with pytest.raises(InvalidArgument, match="lags"):
        pa.pascanu_bound(1.0, [-1])


@pytest.mark.parametrize("name,gain", [("linear", 0.8), ("linear", 1.1), ("tanh", 0.9), ("tanh", 1.3),
                                       ("sigmoid", 3.0), ("relu", 0.7)])
def test_tight_instances_attain_the_bound_exactly(name, gain):
    model, h0 = pa.pascanu_tight_model(7, gain, name, seed=3)
    traj = rnnprobe.record(model, torch.zeros(30, 1, dtype=torch.float64), h0=h0)
    G = rnnprobe.jacobian_norms(traj, method="svd")
    gamma = model.sigma.gamma
    expected = torch.tensor([(gamma * gain) ** k for k in traj.lags.tolist()], dtype=torch.float64)
    assert torch.allclose(G, expected, rtol=1e-10, atol=0)
    assert torch.allclose(pa.trajectory_pascanu_bound(traj), expected, rtol=1e-12, atol=0)
    assert pa.pascanu_attained(traj)


def test_normaloid_but_not_normal_matrix_attains_the_bound():
    # W = diag(1) ⊕ [[0, 0.5], [0, 0]]: not normal, but ρ(W) = ‖W‖ = 0.9·1, so ‖W^k‖ = ‖W‖^k
    W = torch.tensor([[0.9, 0.0, 0.0], [0.0, 0.0, 0.5], [0.0, 0.0, 0.0]], dtype=torch.float64)
    assert pa.is_normaloid(W) and not torch.allclose(W @ W.T, W.T @ W)
    model = rnnprobe.build("vanilla-linear", hidden_size=3, seed=0)
    with torch.no_grad():
        model.W_h.copy_(W)
    traj = rnnprobe.record(model, torch.zeros(12, 1))
    assert torch.allclose(rnnprobe.jacobian_norms(traj, method="svd"), pa.trajectory_pascanu_bound(traj), rtol=1e-12)
    assert pa.pascanu_attained(traj)


def test_non_normaloid_weights_fall_strictly_below_the_bound():
    # a nilpotent part: ‖W‖ = 1 but ρ(W) = 0.5, so G(k) ≈ 0.5^k ≪ 1 = bound
    W = torch.tensor([[0.5, 1.0], [0.0, 0.5]], dtype=torch.float64) / torch.linalg.matrix_norm(
        torch.tensor([[0.5, 1.0], [0.0, 0.5]], dtype=torch.float64), ord=2)
    model = rnnprobe.build("vanilla-linear", hidden_size=2, seed=0)
    with torch.no_grad():
        model.W_h.copy_(W)
    traj = rnnprobe.record(model, torch.zeros(20, 1))
    G, bound = rnnprobe.jacobian_norms(traj, method="svd"), pa.trajectory_pascanu_bound(traj)
    assert not pa.is_normaloid(W) and not pa.pascanu_attained(traj)
    assert torch.all(G <= bound * (1 + 1e-12)) and G[0] < 1e-3 * bound[0]


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "relu", "linear"])
@pytest.mark.parametrize("seed", [0, 1])
def test_bound_holds_on_random_networks(name, seed):
    model = rnnprobe.build(f"vanilla-{name}", hidden_size=16, gain=1.4, bias_std=0.3, seed=seed)
    x = torch.randn(40, 1, generator=torch.Generator().manual_seed(99 + seed), dtype=torch.float64)
    traj = rnnprobe.record(model, x)
    G = rnnprobe.jacobian_norms(traj, log=True)
    bound = pa.trajectory_pascanu_bound(traj, log=True)
    assert torch.all(G <= bound + 1e-10)
    # away from the |σ′| = γ point (inputs move the pre-activations), the bound is not attained
    if name in ("tanh", "sigmoid"):
        assert not pa.pascanu_attained(traj) and float(G[0] - bound[0]) < -1.0


def test_errors():
    traj = rnnprobe.record(rnnprobe.build("gru", hidden_size=3), torch.zeros(4, 1))
    with pytest.raises(InvalidArgument, match="vanilla"):
        pa.trajectory_pascanu_bound(traj)
    assert not pa.pascanu_attained(traj)
    with pytest.raises(InvalidArgument, match="nonlinearity"):
        pa.pascanu_tight_model(3, 1.0, "tahn")
    with pytest.raises(InvalidArgument, match="square"):
        pa.is_normaloid(np.ones((2, 3)))
