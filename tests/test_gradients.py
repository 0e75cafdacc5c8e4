"""Gradient norms through time and the chain of bounds g <= ‖∂L/∂h_T‖·G <= B_prod <= B_W."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import rnnprobe
from rnnprobe import strategies as rs
from rnnprobe.errors import InvalidArgument
from rnnprobe.linalg import start_vectors

ARCHS = sorted(rnnprobe.architectures)
F64 = torch.float64


def models(max_depth):
    """Every architecture, with the options that change its Jacobian: the four nonlinearities wherever one can
    be chosen, update and forget biases of both signs, chrono initialisation or a forget bias for the LSTM."""
    return rs.models(architectures=ARCHS, max_hidden=4, min_input=0, max_input=2, min_gain=0.3, max_gain=3.0,
                     max_bias_std=0.5, max_depth=max_depth,
                     options={"nonlinearity": st.sampled_from(["tanh", "sigmoid", "relu", "linear"]),
                              "update_bias": st.floats(-2.0, 3.0), "forget_bias": st.floats(-1.0, 3.0),
                              "chrono": st.none() | st.integers(3, 50), "growth": st.integers(1, 2)})


# undriven, small, unit and saturating inputs
SCALES = st.sampled_from([0.0, 0.1, 1.0, 3.0])

LOSSES = {
    "readout": lambda h: h @ torch.linspace(-1.0, 2.0, h.shape[0], dtype=h.dtype),
    "squares": lambda h: 0.5 * (h**2).sum(),
    "logsumexp": lambda h: torch.logsumexp(3 * h, dim=0),
    "cubic-first": lambda h: h[0] ** 3 + h[0],
}


# --------------------------------------------------------------------------- references
def autograd_gradients(traj, loss, b=0):
    """‖∂L/∂s_t‖ for t = 0..T-1 by unrolling model.step once from s_0 and one backward pass."""
    model = traj.model
    s0 = traj.states[0, b : b + 1].clone().requires_grad_(True)
    states, s = [s0], s0
    for t in range(traj.length):
        s = model.step(traj.inputs[t, b : b + 1], s, t)
        states.append(s)
    L = loss(model.hidden(s)[0])
    grads = torch.autograd.grad(L, states[:-1], allow_unused=True)
    return torch.stack([torch.zeros(()) if g is None else torch.linalg.vector_norm(g) for g in grads]).to(F64)


def autograd_step_jacobians(traj, b=0):
    """Step Jacobians from torch.func (not the models' analytic formulas), (T, S, S)."""
    model = traj.model
    return torch.stack([model.autograd_step_jacobian(traj.inputs[t, b : b + 1], traj.states[t, b : b + 1], t)[0]
                        for t in range(traj.length)])


def reference_bounds(traj, final_norm, b=0):
    """‖∂L/∂h_T‖·G(t), B_prod(t) and (vanilla/mlp) B_W(t) from autograd Jacobians and torch.linalg."""
    model = traj.model
    J = autograd_step_jacobians(traj, b)
    T, S = J.shape[0], J.shape[1]
    P = torch.eye(S, dtype=F64)
    G = torch.empty(T, dtype=F64)
    for t in range(T - 1, -1, -1):
        P = P @ J[t]
        G[t] = torch.linalg.matrix_norm(P, ord=2)
    step = torch.linalg.matrix_norm(J, ord=2)
    prod = step.flip(0).cumprod(0).flip(0)
    weight = None
    if model.lecture_form:
        sigma = model.sigma
        Ws = model.recurrent_weights()
        per_step = []
        for t in range(T):
            W = Ws["W_h"] if model.kind == "recurrent" else Ws[f"W_{t}"]
            bias = model.b if model.kind == "recurrent" else model.b[t]
            x_part = traj.inputs[t, b] @ model.W_x.T if model.kind == "recurrent" else 0.0
            pre = (traj.states[t, b] @ W.T + x_part + bias).detach().requires_grad_(True)
            (d,) = torch.autograd.grad(sigma(pre).sum(), pre)       # σ′(a_s) by autograd
            per_step.append(float(d.abs().max()) * float(torch.linalg.matrix_norm(W, ord=2)))
        weight = torch.tensor(per_step, dtype=F64).flip(0).cumprod(0).flip(0) * final_norm
    return final_norm * G, final_norm * prod, weight


def _close(got, ref, scale, rtol=1e-8):
    """|got - ref| <= rtol·|ref| + 1e-12·scale (scale: the float64 forward-error scale)."""
    bad = (got - ref).abs() > rtol * ref.abs() + 1e-12 * scale
    assert not bool(bad.any()), (got[bad], ref[bad])


# --------------------------------------------------------------------------- gradient norms
@given(traj=rs.trajectories(models(max_depth=8), max_length=10, scales=SCALES),
       loss_name=st.sampled_from(sorted(LOSSES)))
def test_gradient_norms_equal_autograd_through_the_unrolled_net(traj, loss_name):
    loss = LOSSES[loss_name]
    g = rnnprobe.gradient_norms(traj, loss)
    ref = autograd_gradients(traj, loss)
    scale = rnnprobe.gradient_bounds(traj, loss).product       # ‖∂L/∂h_T‖ Π‖J_s‖
    _close(g, ref, scale)
    log_g = rnnprobe.gradient_norms(traj, loss, log=True)
    assert not torch.isnan(log_g).any()
    torch.testing.assert_close(torch.exp(log_g), g, rtol=1e-12, atol=0)


@pytest.mark.parametrize("seed", [0, 7])
def test_default_loss_is_a_seeded_unit_readout(seed):
    model = rnnprobe.build("gru", hidden_size=4, gain=1.3, seed=1)
    traj = rnnprobe.record(model, torch.randn(12, 1, dtype=F64, generator=torch.Generator().manual_seed(1)))
    u = start_vectors(1, 4, dtype=F64, device="cpu", seed=seed)[0]
    assert float(u.norm()) == pytest.approx(1.0)
    g = rnnprobe.gradient_norms(traj, seed=seed)
    _close(g, autograd_gradients(traj, lambda h: h @ u), torch.ones(12))
    b = rnnprobe.gradient_bounds(traj, seed=seed)
    assert float(b.final_gradient_norm) == pytest.approx(1.0, rel=1e-14)
    other = rnnprobe.gradient_norms(traj, seed=seed + 1)
    assert not torch.allclose(g, other)


def test_batched_gradient_norms_are_per_sequence():
    model = rnnprobe.build("lstm", hidden_size=3, gain=1.5, seed=2)
    x = torch.randn(9, 3, 1, dtype=F64, generator=torch.Generator().manual_seed(2))
    loss = LOSSES["logsumexp"]
    g = rnnprobe.gradient_norms(rnnprobe.record(model, x), loss)
    b = rnnprobe.gradient_bounds(rnnprobe.record(model, x), loss)
    assert g.shape == (3, 9) and b.product.shape == (3, 9) and b.final_gradient_norm.shape == (3,)
    for i in range(3):
        single = rnnprobe.record(model, x[:, i])
        torch.testing.assert_close(g[i], rnnprobe.gradient_norms(single, loss), rtol=1e-12, atol=0)
        torch.testing.assert_close(b.jacobian[i], rnnprobe.gradient_bounds(single, loss).jacobian, rtol=1e-10, atol=0)


def test_gradient_norms_of_an_orthogonal_linear_rnn_over_a_long_horizon():
    # ‖uᵀ (gW)^k‖ = g^k exactly; 0.5^3000 underflows, its log does not
    model = rnnprobe.build("vanilla-linear", hidden_size=4, init="orthogonal", gain=0.5, seed=3)
    traj = rnnprobe.record(model, torch.randn(3000, 1, dtype=F64, generator=torch.Generator().manual_seed(3)))
    k = traj.lags.to(F64)
    log_g = rnnprobe.gradient_norms(traj, log=True)
    torch.testing.assert_close(log_g, k * math.log(0.5), rtol=1e-12, atol=1e-10)
    b = rnnprobe.gradient_bounds(traj, log=True)
    for field in (b.gradient, b.jacobian, b.product, b.weight):
        torch.testing.assert_close(field, k * math.log(0.5), rtol=1e-12, atol=1e-10)
    assert b.holds()


# --------------------------------------------------------------------------- the chain of bounds
@given(traj=rs.trajectories(models(max_depth=30), max_length=30, scales=SCALES),
       loss_name=st.sampled_from(sorted(LOSSES) + ["default"]))
def test_bounds_are_ordered_and_equal_their_definitions(traj, loss_name):
    model = traj.model
    loss = None if loss_name == "default" else LOSSES[loss_name]
    b = rnnprobe.gradient_bounds(traj, loss)
    T = traj.length
    assert b.gradient.shape == b.jacobian.shape == b.product.shape == (T,)
    assert b.holds(1e-9)
    slack = 1 + 1e-9
    assert bool((b.gradient <= b.jacobian * slack).all())
    assert bool((b.jacobian <= b.product * slack).all())
    if model.lecture_form:
        assert b.weight is not None and bool((b.product <= b.weight * slack).all())
    else:
        assert b.weight is None
    # each field against its definition, from independent pieces
    final = float(b.final_gradient_norm)
    jac, prod, weight = reference_bounds(traj, final)
    _close(b.gradient, rnnprobe.gradient_norms(traj, loss), b.product, rtol=1e-12)
    _close(b.jacobian, jac, b.product)
    _close(b.product, prod, b.product, rtol=1e-10)
    if weight is not None:
        _close(b.weight, weight, b.weight, rtol=1e-10)
    # the log version carries the same numbers
    logs = rnnprobe.gradient_bounds(traj, loss, log=True)
    assert logs.log and logs.holds(1e-9)
    for lin, lg in ((b.gradient, logs.gradient), (b.jacobian, logs.jacobian), (b.product, logs.product)):
        assert not torch.isnan(lg).any()
        torch.testing.assert_close(torch.exp(lg), lin, rtol=1e-10, atol=0)


@pytest.mark.parametrize("name", ARCHS)
@pytest.mark.parametrize("gain", [0.3, 1.0, 3.0])
def test_every_architecture_gradients_and_bounds(name, gain):
    # the property tests above draw architectures at random; this grid covers each one for sure
    spec = rnnprobe.architectures[name]
    g = torch.Generator().manual_seed(4)
    if spec.kind == "feedforward":
        model = rnnprobe.build(name, hidden_size=3, depth=12, gain=gain, seed=4, bias_std=0.5)
        traj = rnnprobe.record(model, torch.randn(3, generator=g, dtype=F64))
    else:
        model = rnnprobe.build(name, hidden_size=3, gain=gain, seed=4, bias_std=0.5)
        traj = rnnprobe.record(model, torch.randn(12, 1, generator=g, dtype=F64))
    loss = LOSSES["logsumexp"]
    b = rnnprobe.gradient_bounds(traj, loss)
    assert b.holds(1e-9) and (b.weight is not None) == model.lecture_form
    _close(b.gradient, autograd_gradients(traj, loss), b.product)
    jac, prod, weight = reference_bounds(traj, float(b.final_gradient_norm))
    _close(b.jacobian, jac, b.product)
    _close(b.product, prod, b.product, rtol=1e-10)
    if weight is not None:
        _close(b.weight, weight, b.weight, rtol=1e-10)


def test_holds_detects_a_violated_chain():
    model = rnnprobe.build("vanilla-tanh", hidden_size=3, gain=1.2, seed=4)
    b = rnnprobe.gradient_bounds(rnnprobe.record(model, torch.randn(6, 1, dtype=F64)))
    assert b.holds()
    broken = rnnprobe.GradientBounds(b.jacobian * 1.001, b.jacobian, b.product, b.weight,
                                     b.final_gradient_norm, False)
    assert not broken.holds()
    flipped = rnnprobe.GradientBounds(b.gradient, b.jacobian, b.product, b.product * 0.5, b.final_gradient_norm, False)
    assert not flipped.holds()


def test_step_norms_equal_svd_norms_of_the_step_jacobians():
    model = rnnprobe.build("dense", hidden_size=3, window=2, gain=1.7, seed=5)
    traj = rnnprobe.record(model, torch.randn(15, 2, 1, dtype=F64, generator=torch.Generator().manual_seed(5)))
    ref = torch.linalg.matrix_norm(traj.step_jacobians(), ord=2).T
    torch.testing.assert_close(rnnprobe.step_norms(traj), ref, rtol=1e-12, atol=0)
    torch.testing.assert_close(rnnprobe.step_norms(traj, log=True), torch.log(ref), rtol=1e-12, atol=1e-14)


def test_dead_relu_gives_zero_gradients_and_minus_inf_logs_never_nan():
    model = rnnprobe.build("vanilla-relu", hidden_size=3, seed=0)
    with torch.no_grad():
        model.b.fill_(-10.0)
    traj = rnnprobe.record(model, torch.randn(5, 1, dtype=F64))
    b = rnnprobe.gradient_bounds(traj, log=True)
    for field in (b.gradient, b.jacobian, b.product, b.weight):
        assert bool((field == -math.inf).all())
    assert b.holds()
    assert rnnprobe.gradient_norms(traj).tolist() == [0.0] * 5


# --------------------------------------------------------------------------- losses
def test_loss_must_be_a_callable_returning_a_scalar_with_a_finite_gradient():
    traj = rnnprobe.record(rnnprobe.build("vanilla-tanh", hidden_size=3), torch.randn(4, 1, dtype=F64))
    with pytest.raises(InvalidArgument, match=r"loss must be a callable h_T -> scalar or None; got str"):
        rnnprobe.gradient_norms(traj, "mse")
    with pytest.raises(InvalidArgument, match=r"loss must return a scalar tensor.*\(3,\); got Tensor of shape \(3,\)"):
        rnnprobe.gradient_norms(traj, lambda h: h)
    with pytest.raises(InvalidArgument, match=r"loss must return a scalar tensor.*got float"):
        rnnprobe.gradient_bounds(traj, lambda h: 3.0)
    with pytest.raises(InvalidArgument, match=r"loss must have a finite gradient at h_T; got NaN/Inf"):
        rnnprobe.gradient_norms(traj, lambda h: torch.sqrt(h[0] * 0))


def test_a_loss_that_ignores_h_T_has_zero_gradients():
    traj = rnnprobe.record(rnnprobe.build("gru", hidden_size=2), torch.randn(4, 1, dtype=F64))
    for loss in (lambda h: 0.0 * h.sum(), lambda h: torch.tensor(1.0, dtype=F64)):
        assert rnnprobe.gradient_norms(traj, loss).tolist() == [0.0] * 4
        assert float(rnnprobe.gradient_bounds(traj, loss).final_gradient_norm) == 0.0


def test_step_norms_of_a_batch_of_large_states_match_the_svd_per_sequence():
    model = rnnprobe.build("vanilla-tanh", hidden_size=80, gain=1.3, seed=3)
    x = torch.randn(6, 3, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    traj = rnnprobe.record(model, x)
    ref = torch.linalg.matrix_norm(traj.step_jacobians(), ord=2).T          # (B, T)
    torch.testing.assert_close(rnnprobe.step_norms(traj), ref, rtol=1e-12, atol=0)
