"""Architectures: update rules against independent implementations, step Jacobians against autograd."""

import math
from collections.abc import Mapping

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import rnnprobe
from rnnprobe import strategies as rs
from rnnprobe.errors import InvalidArgument

ARCHS = sorted(rnnprobe.architectures)
F64 = torch.float64


# every architecture, with the options that change its Jacobian: the four nonlinearities wherever one can be
# chosen, update and forget biases of both signs, chrono initialisation or a forget bias for the LSTM
MODELS = rs.models(architectures=ARCHS, max_hidden=4, min_input=0, max_input=2, min_gain=0.3, max_gain=3.0,
                   max_bias_std=0.5, max_depth=6,
                   options={"nonlinearity": st.sampled_from(["tanh", "sigmoid", "relu", "linear"]),
                            "update_bias": st.floats(-2.0, 3.0), "forget_bias": st.floats(-1.0, 3.0),
                            "chrono": st.none() | st.integers(3, 50), "growth": st.integers(1, 2)})
# undriven, small, unit and saturating inputs and states
SCALES = st.sampled_from([0.0, 0.1, 1.0, 3.0])


def autograd_jacobian(model, x, state, t):
    """Per-row ∂step/∂state from torch.autograd.functional.jacobian (not torch.func)."""
    rows = []
    for b in range(state.shape[0]):
        rows.append(torch.autograd.functional.jacobian(
            lambda s: model.step(x[b : b + 1], s.unsqueeze(0), t).squeeze(0), state[b].clone()))
    return torch.stack(rows)


# --------------------------------------------------------------------------- step Jacobians
@given(model=MODELS, batch=st.integers(1, 3), data=st.data())
def test_analytic_step_jacobian_equals_autograd(model, batch, data):
    # the inputs of one step (none for a stack's layer), and a point anywhere in the state space
    x = data.draw(rs.sequences(min_length=1, max_length=1, input_size=model.input_size, batch=batch, scales=SCALES),
                  label="x")[0]
    state = data.draw(rs.states_for(model, batch=batch, scales=SCALES), label="state")
    t = data.draw(st.integers(0, model.depth - 1), label="t") if model.kind == "feedforward" else 0
    J = model.step_jacobian(x, state, t)
    assert J.shape == (batch, model.state_size, model.state_size)
    torch.testing.assert_close(J, autograd_jacobian(model, x, state, t), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(J, model.autograd_step_jacobian(x, state, t), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", ARCHS)
@pytest.mark.parametrize("gain", [0.5, 1.5, 3.0])
def test_every_architecture_step_jacobian_equals_autograd(name, gain):
    # the property test above draws architectures at random; this grid covers each one for sure
    spec = rnnprobe.architectures[name]
    kw = dict(depth=3) if spec.kind == "feedforward" else dict(input_size=2)
    model = rnnprobe.build(name, hidden_size=3, gain=gain, seed=7, bias_std=0.5, **kw)
    x, state = _rand(2, model.input_size, seed=1), _rand(2, model.state_size, seed=2)
    for t in range(model.depth if spec.kind == "feedforward" else 1):
        J = model.step_jacobian(x, state, t)
        torch.testing.assert_close(J, autograd_jacobian(model, x, state, t), rtol=1e-10, atol=1e-10)


@given(traj=rs.trajectories(MODELS, max_length=6, batch=2), data=st.data())
def test_vectorised_jacobians_equal_per_step_jacobians(traj, data):
    # along a real trajectory, so stacks see their padded states
    model, T = traj.model, traj.length
    t0 = data.draw(st.integers(0, T - 1), label="t0")
    got = model.jacobians(traj.inputs[t0:], traj.states[t0:T], t0)
    for i in range(T - t0):
        ref = autograd_jacobian(model, traj.inputs[t0 + i], traj.states[t0 + i], t0 + i)
        torch.testing.assert_close(got[i], ref, rtol=1e-10, atol=1e-10)


# --------------------------------------------------------------------------- update rules
def _rand(*shape, seed=0, scale=1.0):
    return scale * torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_vanilla_step_equals_torch_rnn_cell(nonlinearity):
    model = rnnprobe.build(f"vanilla-{nonlinearity}", hidden_size=5, input_size=3, seed=1, bias_std=0.5)
    cell = torch.nn.RNNCell(3, 5, nonlinearity=nonlinearity).double()
    with torch.no_grad():
        cell.weight_hh.copy_(model.W_h)
        cell.weight_ih.copy_(model.W_x)
        cell.bias_ih.copy_(model.b)
        cell.bias_hh.zero_()
    x, h = _rand(4, 3, seed=1), _rand(4, 5, seed=2)
    torch.testing.assert_close(model.step(x, h), cell(x, h), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("nonlinearity, sigma", [("sigmoid", torch.sigmoid), ("linear", lambda a: a)])
def test_vanilla_step_formula(nonlinearity, sigma):
    model = rnnprobe.build(f"vanilla-{nonlinearity}", hidden_size=4, input_size=2, seed=2, bias_std=0.3)
    x, h = _rand(3, 2, seed=3), _rand(3, 4, seed=4)
    expected = sigma(h @ model.W_h.T + x @ model.W_x.T + model.b)
    torch.testing.assert_close(model.step(x, h), expected, rtol=1e-14, atol=1e-14)


def test_gru_torch_step_equals_torch_gru_cell():
    model = rnnprobe.build("gru-torch", hidden_size=4, input_size=3, seed=3, bias_std=0.5, update_bias=1.0)
    cell = torch.nn.GRUCell(3, 4).double()
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(model, name))
        cell.bias_hh.add_(_rand(12, seed=9))            # a non-zero b_hn matters only here
        model.bias_hh.copy_(cell.bias_hh)
    x, h = _rand(5, 3, seed=5), _rand(5, 4, seed=6)
    torch.testing.assert_close(model.step(x, h), cell(x, h), rtol=1e-13, atol=1e-13)


def test_lstm_step_equals_torch_lstm_cell():
    model = rnnprobe.build("lstm", hidden_size=4, input_size=2, seed=4, bias_std=0.5, forget_bias=1.5)
    cell = torch.nn.LSTMCell(2, 4).double()
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(model, name))
    x, h, c = _rand(3, 2, seed=7), _rand(3, 4, seed=8), _rand(3, 4, seed=9)
    h_ref, c_ref = cell(x, (h, c))
    out = model.step(x, torch.cat([h, c], dim=1))
    torch.testing.assert_close(out, torch.cat([h_ref, c_ref], dim=1), rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(model.hidden(out), h_ref, rtol=0, atol=0)
    torch.testing.assert_close(model.cell(out), c_ref, rtol=0, atol=0)


def test_lecture_gru_applies_the_reset_gate_before_the_product():
    model = rnnprobe.build("gru", hidden_size=4, input_size=2, seed=5, bias_std=0.5, update_bias=0.5)
    w = model.recurrent_weights()
    assert list(w) == ["U_r", "U_z", "U"]
    n = 4
    W_r, W_z, W = (model.weight_ih[k * n : (k + 1) * n] for k in range(3))
    b_r, b_z, b = (model.bias_ih[k * n : (k + 1) * n] + model.bias_hh[k * n : (k + 1) * n] for k in range(3))
    x, h = _rand(3, 2, seed=10), _rand(3, 4, seed=11)
    z = torch.sigmoid(x @ W_z.T + h @ w["U_z"].T + b_z)
    r = torch.sigmoid(x @ W_r.T + h @ w["U_r"].T + b_r)
    cand = torch.tanh(x @ W.T + (r * h) @ w["U"].T + b)
    torch.testing.assert_close(model.step(x, h), z * h + (1 - z) * cand, rtol=1e-14, atol=1e-14)
    # the same weights in torch's convention (reset after the product) give another map
    other = rnnprobe.build("gru-torch", hidden_size=4, input_size=2, seed=5, bias_std=0.5, update_bias=0.5)
    assert not torch.allclose(other.step(x, h), model.step(x, h))


def test_update_and_forget_biases_are_where_they_are_documented():
    gru = rnnprobe.build("gru", hidden_size=3, update_bias=2.0, seed=0)
    assert torch.equal(gru.bias_ih[3:6], torch.full((3,), 2.0, dtype=F64))
    lstm = rnnprobe.build("lstm", hidden_size=3, forget_bias=1.5, seed=0)
    assert torch.equal(lstm.bias_ih[3:6], torch.full((3,), 1.5, dtype=F64))
    # at the origin with no input, the LSTM cell keeps a fraction σ(b_f) of c per step
    s = torch.cat([torch.zeros(1, 3, dtype=F64), torch.ones(1, 3, dtype=F64)], dim=1)
    c_next = lstm.cell(lstm.step(torch.zeros(1, 1, dtype=F64), s))   # g = tanh(0) = 0: no write
    torch.testing.assert_close(c_next, torch.full((1, 3), 1 / (1 + math.exp(-1.5)), dtype=F64))
    assert rnnprobe.LSTM.forgetting_time(1.5) == pytest.approx(1 / (1 - 1 / (1 + math.exp(-1.5))))


@pytest.mark.parametrize("T_max", [3, 10, 1000])
def test_lstm_chrono_initialisation(T_max):
    lstm = rnnprobe.build("lstm", hidden_size=50, chrono=T_max, seed=1)
    b_f, b_i = lstm.bias_ih[50:100].detach(), lstm.bias_ih[:50].detach()
    assert bool((b_f >= 0).all()) and bool((b_f <= math.log(T_max - 1) + 1e-12).all())
    torch.testing.assert_close(b_i, -b_f, rtol=0, atol=0)
    assert bool((lstm.bias_hh == 0).all())
    # b_f = log U(1, T_max - 1): exp(b_f) is uniform on [1, T_max - 1]
    u = (torch.exp(b_f) - 1) / max(T_max - 2, 1)
    if T_max > 3:
        assert 0.3 < float(u.mean()) < 0.7


def test_residual_step_is_state_plus_alpha_times_vanilla_branch():
    res = rnnprobe.build("residual", hidden_size=4, input_size=2, alpha=0.3, seed=6, bias_std=0.2)
    van = rnnprobe.build("vanilla-tanh", hidden_size=4, input_size=2, seed=6, bias_std=0.2)
    x, h = _rand(3, 2, seed=12), _rand(3, 4, seed=13)
    torch.testing.assert_close(res.step(x, h), h + 0.3 * van.step(x, h), rtol=1e-14, atol=1e-14)


def test_dense_rnn_reads_its_last_K_states():
    K, n = 3, 4
    dense = rnnprobe.build("dense", hidden_size=n, input_size=2, window=K, seed=7, bias_std=0.3)
    xs = _rand(9, 2, seed=14)
    traj = rnnprobe.record(dense, xs)
    W_k = [dense.recurrent_weights()[f"W_{k}"] for k in range(K)]
    hs = [torch.zeros(n, dtype=F64)] * K              # h_{-K+1..0} = 0
    for t in range(9):
        pre = sum(W_k[k] @ hs[-1 - k] for k in range(K)) + dense.W_x @ xs[t] + dense.b
        hs.append(torch.tanh(pre))
    torch.testing.assert_close(traj.hidden_states(), torch.stack(hs[K - 1 :]), rtol=1e-13, atol=1e-13)
    # the state is the window [h_t, h_{t-1}, h_{t-2}]
    torch.testing.assert_close(traj.states[-1, 0], torch.cat([hs[-1], hs[-2], hs[-3]]), rtol=1e-13, atol=1e-13)


def test_dense_rnn_with_window_one_is_the_vanilla_rnn():
    dense = rnnprobe.build("dense", hidden_size=4, window=1, seed=8)
    van = rnnprobe.build("vanilla-tanh", hidden_size=4, seed=8)
    with torch.no_grad():
        dense.W_k[0].copy_(van.W_h)
        dense.W_x.copy_(van.W_x)
    x = _rand(10, 1, seed=15)
    torch.testing.assert_close(rnnprobe.record(dense, x).states, rnnprobe.record(van, x).states, rtol=1e-14, atol=1e-14)


def test_feedforward_stacks_compute_their_layers():
    x = _rand(2, 3, seed=16)
    mlp = rnnprobe.build("mlp", hidden_size=3, depth=4, seed=9, bias_std=0.2)
    res = rnnprobe.build("resmlp", hidden_size=3, depth=4, seed=9, bias_std=0.2, alpha=0.5)
    s_mlp, s_res = x, x
    for l in range(4):
        s_mlp = torch.tanh(s_mlp @ mlp.W[l].T + mlp.b[l])
        s_res = s_res + 0.5 * torch.tanh(s_res @ res.W[l].T + res.b[l])
    torch.testing.assert_close(rnnprobe.record(mlp, x).states[-1], s_mlp, rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(rnnprobe.record(res, x).states[-1], s_res, rtol=1e-14, atol=1e-14)


def test_densemlp_concatenates_features_like_densenet():
    width, depth, growth = 3, 4, 2
    net = rnnprobe.build("densemlp", hidden_size=width, depth=depth, growth=growth, seed=10, bias_std=0.2)
    assert net.state_size == width + depth * growth
    x = _rand(2, width, seed=17)
    feats = x
    for l, W in enumerate(net.recurrent_weights().values()):
        assert W.shape == (growth, width + l * growth)
        feats = torch.cat([feats, torch.tanh(feats @ W.T + net.b[l])], dim=1)
    torch.testing.assert_close(rnnprobe.record(net, x).states[-1], feats, rtol=1e-14, atol=1e-14)


def test_derivative_diagonals_are_the_lecture_D_s():
    model = rnnprobe.build("vanilla-sigmoid", hidden_size=4, input_size=2, seed=11, bias_std=0.5)
    x, h = _rand(3, 2, seed=18), _rand(3, 4, seed=19)
    pre = (h @ model.W_h.T + x @ model.W_x.T + model.b).detach().requires_grad_(True)
    (d_ref,) = torch.autograd.grad(torch.sigmoid(pre).sum(), pre)
    torch.testing.assert_close(model.derivative_diagonals(x, h), d_ref, rtol=1e-14, atol=1e-14)
    # J = D W_h exactly (the lecture's form)
    torch.testing.assert_close(model.step_jacobian(x, h), d_ref[:, :, None] * model.W_h, rtol=1e-14, atol=1e-14)
    for name in ("gru", "lstm", "residual", "dense", "resmlp", "densemlp", "lru", "s4d", "s6", "mingru", "minlstm"):
        m = rnnprobe.build(name, hidden_size=2)
        assert m.derivative_diagonals(torch.zeros(1, 1, 1, dtype=F64)[:, :, : m.input_size],
                                      torch.zeros(1, 1, m.state_size, dtype=F64)) is None


def test_lecture_form_flags():
    expected = {"vanilla-tanh": True, "vanilla-relu": True, "vanilla-sigmoid": True, "vanilla-linear": True,
                "mlp": True, "gru": False, "gru-torch": False, "lstm": False, "residual": False,
                "dense": False, "resmlp": False, "densemlp": False, "unitary": True, "lru": False, "s4d": False,
                "s6": False, "mingru": False, "minlstm": False}
    assert {name: rnnprobe.build(name, hidden_size=2).lecture_form for name in expected} == expected


# --------------------------------------------------------------------------- registry
def test_architectures_registry():
    archs = rnnprobe.architectures
    assert isinstance(archs, Mapping)
    assert set(archs) >= {"vanilla-tanh", "vanilla-relu", "vanilla-sigmoid", "vanilla-linear", "gru", "gru-torch",
                          "lstm", "residual", "dense", "mlp", "resmlp", "densemlp"}       # the built-ins (and more)
    assert set(archs.feedforward()) >= {"densemlp", "mlp", "resmlp"}
    assert set(archs.recurrent()) | set(archs.feedforward()) == set(archs)
    with pytest.raises(TypeError):
        archs["new"] = archs["mlp"]                   # read-only
    for name, spec in archs.items():
        assert spec.name == name and spec.kind in ("recurrent", "feedforward") and spec.description
        for common in ("gain", "init", "seed", "dtype", "bias_std"):
            assert common in spec.options, (name, common)
        model = rnnprobe.build(name, hidden_size=3)
        assert model.name == name and model.kind == spec.kind
        assert next(model.parameters()).dtype == F64
    assert "nonlinearity" not in archs["vanilla-relu"].options   # fixed by the name
    assert archs["vanilla-relu"].fixed == {"nonlinearity": "relu"}
    assert "alpha" in archs["residual"].options and "window" in archs["dense"].options
    assert {"forget_bias", "chrono"} <= set(archs["lstm"].options)
    assert "growth" in archs["densemlp"].options and "update_bias" in archs["gru"].options


def test_build_sizes_and_dtype():
    m = rnnprobe.build("lstm", hidden_size=5, input_size=3)
    assert (m.hidden_size, m.input_size, m.state_size) == (5, 3, 10)
    d = rnnprobe.build("dense", hidden_size=4, window=3)
    assert d.state_size == 12
    s = rnnprobe.build("mlp", hidden_size=6, depth=7)
    assert (s.width, s.depth, s.input_size, s.state_size) == (6, 7, 0, 6)
    assert rnnprobe.build("mlp", hidden_size=6).depth == 8
    f32 = rnnprobe.build("gru", hidden_size=3, dtype="float32")
    assert all(p.dtype == torch.float32 for p in f32.parameters())
    traj = rnnprobe.record(f32, torch.zeros(4, 1))
    assert traj.dtype == torch.float32 and rnnprobe.jacobian_norms(traj).dtype == torch.float32


@pytest.mark.parametrize("name", ARCHS)
def test_same_seed_same_weights_other_seed_other_weights(name):
    a, b, c = (rnnprobe.build(name, hidden_size=3, seed=s, bias_std=0.1) for s in (5, 5, 6))
    for (pa, ta), tb, tc in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(ta, tb), pa
    assert any(not torch.equal(ta, tc) for ta, tc in zip(a.state_dict().values(), c.state_dict().values()))
    # float32 draws the same numbers (drawn in float64, then cast)
    f32 = rnnprobe.build(name, hidden_size=3, seed=5, bias_std=0.1, dtype=torch.float32)
    for ta, tf in zip(a.state_dict().values(), f32.state_dict().values()):
        assert torch.equal(ta.to(torch.float32), tf)


def test_unknown_option_is_rejected_with_a_suggestion():
    with pytest.raises(InvalidArgument, match=r"option 'gian'.*'vanilla-tanh'.*did you mean 'gain'"):
        rnnprobe.build("vanilla-tanh", gian=2.0)
    with pytest.raises(InvalidArgument, match=r"option 'nonlinearity' is fixed to 'relu'.*'vanilla-relu'"):
        rnnprobe.build("vanilla-relu", nonlinearity="tanh")
    with pytest.raises(InvalidArgument, match=r"option 'window'.*'gru'"):
        rnnprobe.build("gru", window=3)
