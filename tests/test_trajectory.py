"""record() and Trajectory: shapes, initial states, the forward pass, Jacobian access."""

import dataclasses
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import rnnprobe
from rnnprobe import strategies as rs
from rnnprobe.errors import InvalidArgument

F64 = torch.float64


def _x(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


@given(model=rs.models(architectures=rnnprobe.architectures.recurrent(), max_hidden=3, min_input=0, max_input=2),
       B=st.integers(1, 3), data=st.data())
def test_record_runs_the_step_function(model, B, data):
    n, d = model.hidden_size, model.input_size
    x = data.draw(rs.sequences_for(model, max_length=6, batch=B), label="x")
    h0 = data.draw(rs.states_for(model, batch=B), label="h0")
    T = x.shape[0]
    traj = rnnprobe.record(model, x, h0)
    assert traj.batched and traj.length == T and traj.batch_size == B and traj.state_size == model.state_size
    assert traj.states.shape == (T + 1, B, model.state_size) and traj.inputs.shape == (T, B, d)
    assert not traj.states.requires_grad
    state = h0
    torch.testing.assert_close(traj.states[0], h0, rtol=0, atol=0)
    # exactly, except for models that run a whole pass at once (model.scan: the diagonal recurrences compute a
    # chunk's factors together, whose elementwise maps may round differently from one step's)
    tol = 0 if type(model).scan is rnnprobe.StepModel.scan else 1e-13
    for t in range(T):
        with torch.no_grad():
            state = model.step(x[t], state, t)
        torch.testing.assert_close(traj.states[t + 1], state, rtol=tol, atol=tol)
    assert traj.hidden_states().shape == (T + 1, B, n)
    torch.testing.assert_close(traj.hidden_states(), model.hidden(traj.states), rtol=0, atol=0)
    # unbatched: the same numbers without the batch dimension
    single = rnnprobe.record(model, x[:, 0], h0[0])
    assert not single.batched and single.hidden_states().shape == (T + 1, n)
    torch.testing.assert_close(single.states[:, 0], traj.states[:, 0], rtol=1e-14, atol=1e-14)


def test_initial_states():
    model = rnnprobe.build("lstm", hidden_size=2, seed=0)
    x = _x(4, 3, 1)
    assert bool((rnnprobe.record(model, x).states[0] == 0).all())
    h0 = torch.arange(4, dtype=F64)
    traj = rnnprobe.record(model, x, h0)                          # (S,) is shared by the batch
    assert torch.equal(traj.states[0], h0.expand(3, 4))
    h0[0] = 100.0                                                 # record keeps its own copy
    assert float(traj.states[0, 0, 0]) == 0.0
    traj = rnnprobe.record(model, x[:, 0], torch.ones(4, dtype=torch.float32))
    assert traj.states.dtype == F64 and bool((traj.states[0] == 1).all())


def test_inputs_are_converted_to_the_model_dtype():
    model = rnnprobe.build("vanilla-tanh", hidden_size=3, seed=1)
    ints = rnnprobe.record(model, torch.ones(5, 1, dtype=torch.int64))
    floats = rnnprobe.record(model, torch.ones(5, 1, dtype=torch.float32))
    assert ints.inputs.dtype == F64 and torch.equal(ints.states, floats.states)


def test_lags_and_step_jacobians():
    model = rnnprobe.build("gru", hidden_size=3, seed=2)
    traj = rnnprobe.record(model, _x(7, 2, 1))
    assert traj.lags.tolist() == [7, 6, 5, 4, 3, 2, 1]
    J = traj.step_jacobians()
    assert J.shape == (7, 2, 3, 3)
    torch.testing.assert_close(traj.step_jacobians(2, 5), J[2:5], rtol=0, atol=0)
    torch.testing.assert_close(J, model.jacobians(traj.inputs, traj.states[:-1]), rtol=0, atol=0)
    chunks = list(traj.iter_jacobians(3, reverse=True))
    assert [start for start, _ in chunks] == [6, 3, 0]
    torch.testing.assert_close(torch.cat([c for _, c in reversed(chunks)]), J, rtol=1e-14, atol=1e-15)
    assert traj.unbatch(torch.zeros(2, 7)).shape == (2, 7)
    single = rnnprobe.record(model, _x(7, 1))
    assert single.unbatch(torch.zeros(1, 7)).shape == (7,)


def test_feedforward_trajectories():
    net = rnnprobe.build("mlp", hidden_size=4, depth=5, seed=3)
    traj = rnnprobe.record(net, _x(4))
    assert not traj.batched and traj.length == 5 and traj.inputs.shape == (5, 1, 0)
    torch.testing.assert_close(traj.states[0, 0], _x(4), rtol=0, atol=0)
    batched = rnnprobe.record(net, _x(3, 4))
    assert batched.batched and batched.states.shape == (6, 3, 4)
    assert rnnprobe.jacobian_norms(batched).shape == (3, 5)
    dense = rnnprobe.build("densemlp", hidden_size=2, depth=3, growth=2, seed=4)
    traj = rnnprobe.record(dense, _x(2))
    assert traj.states.shape == (4, 1, 8)
    assert bool((traj.states[0, 0, 2:] == 0).all())               # features not yet computed are padding


def test_trajectory_is_frozen():
    traj = rnnprobe.record(rnnprobe.build("vanilla-tanh", hidden_size=2), torch.zeros(3, 1))
    with pytest.raises(dataclasses.FrozenInstanceError):
        traj.states = torch.zeros(1)


def test_record_rejects_bad_inputs():
    model = rnnprobe.build("vanilla-tanh", hidden_size=3, input_size=2)
    with pytest.raises(InvalidArgument, match=r"inputs must have shape \(T, d\) or \(T, B, d\).*got shape \(5,\)"):
        rnnprobe.record(model, torch.zeros(5))
    with pytest.raises(InvalidArgument, match=r"inputs must have last dimension input_size = 2.*got shape \(5, 3\)"):
        rnnprobe.record(model, torch.zeros(5, 3))
    with pytest.raises(InvalidArgument, match=r"time-major"):
        rnnprobe.record(model, torch.zeros(5, 4, 3))
    with pytest.raises(InvalidArgument, match=r"at least one time step.*got shape \(0, 2\)"):
        rnnprobe.record(model, torch.zeros(0, 2))
    with pytest.raises(InvalidArgument, match=r"at least one time step.*got shape \(0, 4, 2\)"):
        rnnprobe.record(model, torch.zeros(0, 4, 2))
    with pytest.raises(InvalidArgument, match=r"inputs must be a torch.Tensor; got list"):
        rnnprobe.record(model, [[0.0, 0.0]])
    with pytest.raises(InvalidArgument, match=r"h0 must have shape \(3,\).*got shape \(4,\)"):
        rnnprobe.record(model, torch.zeros(5, 2), torch.zeros(4))
    with pytest.raises(InvalidArgument, match=r"h0 must have shape \(2, 3\) or \(3,\).*got shape \(3, 3\)"):
        rnnprobe.record(model, torch.zeros(5, 2, 2), torch.zeros(3, 3))
    with pytest.raises(InvalidArgument, match=r"h0 must be a torch.Tensor or None; got float"):
        rnnprobe.record(model, torch.zeros(5, 2), 0.0)
    net = rnnprobe.build("mlp", hidden_size=3, depth=2)
    with pytest.raises(InvalidArgument, match=r"inputs must have last dimension width=3.*got shape \(4,\)"):
        rnnprobe.record(net, torch.zeros(4))
    with pytest.raises(InvalidArgument, match=r"shape \(width,\) or \(B, width\).*got shape \(2, 2, 3\)"):
        rnnprobe.record(net, torch.zeros(2, 2, 3))
    with pytest.raises(InvalidArgument, match=r"h0 must be None for feed-forward stack 'mlp'"):
        rnnprobe.record(net, torch.zeros(3), torch.zeros(3))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_record_rejects_non_finite_inputs_states_and_weights(bad):
    model = rnnprobe.build("gru", hidden_size=2)
    x = torch.zeros(4, 3, 1, dtype=F64)
    x[2, 1, 0] = bad
    with pytest.raises(InvalidArgument, match=rf"inputs must be finite; got 1 NaN/Inf entry \(first at index \(2, 1, 0\): {bad!r}\)"):
        rnnprobe.record(model, x)
    h0 = torch.zeros(2, dtype=F64)
    h0[1] = bad
    with pytest.raises(InvalidArgument, match=rf"h0 must be finite.*{bad!r}"):
        rnnprobe.record(model, torch.zeros(4, 1), h0)
    with torch.no_grad():
        model.weight_hh[0, 1] = bad
    with pytest.raises(InvalidArgument, match=r"model parameter 'weight_hh' must be finite; got 1 NaN/Inf"):
        rnnprobe.record(model, torch.zeros(4, 1))
    net = rnnprobe.build("resmlp", hidden_size=2, depth=2)
    with pytest.raises(InvalidArgument, match=r"inputs must be finite"):
        rnnprobe.record(net, torch.tensor([0.0, bad]))


@pytest.mark.parametrize("name, dtype, T", [("vanilla-relu", "float64", 40), ("vanilla-linear", "float64", 40),
                                            ("mlp", "float32", 40)])
def test_record_refuses_a_forward_pass_that_overflows(name, dtype, T):
    # states growing like gain^T overflow; every probe would then read NaN (or, for ReLU,
    # σ′(NaN) = 0: a silent G = 0), so record says so instead
    kwargs = dict(depth=T) if name == "mlp" else {}
    model = rnnprobe.build(name, hidden_size=3, init="orthogonal", gain=1e9, seed=0, dtype=dtype,
                           **({"nonlinearity": "linear"} if name == "mlp" else {}), **kwargs)
    x = torch.ones(3) if name == "mlp" else torch.ones(T, 1)
    with pytest.raises(InvalidArgument, match=rf"inputs drive the state of '{name}' to NaN/Inf at step \d+ "
                                              rf"\(the forward pass overflows {dtype}.*lower the gain"):
        rnnprobe.record(model, x)
