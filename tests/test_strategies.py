"""Tests of rnnprobe.strategies: what they draw, how they shrink, and what they refuse."""

import math
import os
import pathlib
import subprocess
import sys

import pytest
import torch
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from torch import nn

import rnnprobe
from rnnprobe import strategies as rs
from rnnprobe.errors import InvalidArgument

# find() without the explain phase, which only matters for reporting failures
QUICK = settings(database=None, phases=[Phase.generate, Phase.shrink], deadline=None,
                 suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------- seeded constructors
@pytest.mark.parametrize("scheme", rs.MATRIX_SCHEMES)
def test_seeded_matrix_is_deterministic_and_seed_dependent(scheme):
    a = rs.seeded_matrix(5, scheme, gain=0.8, density=0.5, seed=3)
    assert torch.equal(a, rs.seeded_matrix(5, scheme, gain=0.8, density=0.5, seed=3))
    assert not torch.equal(a, rs.seeded_matrix(5, scheme, gain=0.8, density=0.5, seed=4))
    assert a.shape == (5, 5) and a.dtype == torch.float64


def test_seeded_matrix_schemes_meet_their_definitions():
    W = rs.seeded_matrix(6, "orthogonal", gain=0.7, seed=1)
    assert torch.allclose(torch.linalg.svdvals(W), torch.full((6,), 0.7, dtype=torch.float64), atol=1e-12)
    W = rs.seeded_matrix(6, "spectral_radius", gain=1.3, seed=1)
    assert math.isclose(float(torch.linalg.eigvals(W).abs().max()), 1.3, rel_tol=1e-12)
    W = rs.seeded_matrix(6, "spectral_norm", gain=1.3, seed=1)
    assert math.isclose(float(torch.linalg.matrix_norm(W, ord=2)), 1.3, rel_tol=1e-12)
    # Gaussian: entries N(0, g²/n); sparse: a fraction `density` of non-zeros, each N(0, g²/(density·n)),
    # so that both have the same circular-law radius g (checked by moments: one large draw, loose tolerance)
    n = 200
    W = rs.seeded_matrix(n, "gaussian", gain=0.9, seed=2)
    assert math.isclose(float(W.var()) * n, 0.81, rel_tol=0.05)
    W = rs.seeded_matrix(n, "sparse", gain=0.9, density=0.2, seed=2)
    nonzero = W[W != 0]
    assert math.isclose(nonzero.numel() / n**2, 0.2, abs_tol=0.01)
    assert math.isclose(float(nonzero.var()) * 0.2 * n, 0.81, rel_tol=0.05)


def test_seeded_sequence_and_network_input_shapes_and_scale():
    assert rs.seeded_sequence(7, 3).shape == (7, 3)
    assert rs.seeded_sequence(7, 3, batch=2).shape == (7, 2, 3)
    assert rs.seeded_sequence(7, 0).shape == (7, 0)
    x = rs.seeded_sequence(2000, 2, scale=3.0, seed=1)
    assert math.isclose(float(x.std()), 3.0, rel_tol=0.05)
    assert torch.equal(rs.seeded_sequence(4, 1, scale=0.0), torch.zeros(4, 1, dtype=torch.float64))
    assert rs.seeded_sequence(4, 1, dtype=torch.float32).dtype == torch.float32
    assert rs.seeded_network_input(5).shape == (5,)
    assert rs.seeded_network_input(5, batch=3).shape == (3, 5)


def test_seeded_torch_rnn_keeps_global_rng_and_scales_recurrent_weights():
    state = torch.get_rng_state()
    base = rs.seeded_torch_rnn("lstm", 2, 4, seed=5)
    scaled = rs.seeded_torch_rnn("lstm", 2, 4, gain=2.5, seed=5)
    assert torch.equal(torch.get_rng_state(), state)
    # reference: torch's own init from the same seed
    torch.manual_seed(5)
    reference = nn.LSTM(2, 4)
    torch.set_rng_state(state)
    for (name, p), q, r in zip(base.named_parameters(), scaled.parameters(), reference.parameters()):
        assert torch.equal(p, r)
        assert torch.allclose(q, p * (2.5 if name.startswith("weight_hh") else 1.0))
    rnn = rs.seeded_torch_rnn("rnn", 1, 3, nonlinearity="relu", num_layers=2, bidirectional=True, dtype="float64")
    assert isinstance(rnn, nn.RNN) and rnn.nonlinearity == "relu" and rnn.num_layers == 2 and rnn.bidirectional
    assert rnn.weight_hh_l0.dtype == torch.float64


# --------------------------------------------------------------------------- what the strategies draw
@settings(max_examples=30, deadline=None)
@given(st.data())
def test_recurrent_matrices_respect_their_bounds(data):
    W = data.draw(rs.recurrent_matrices(schemes=["orthogonal", "spectral_radius", "spectral_norm"],
                                        min_size=2, max_size=5, min_gain=0.4, max_gain=1.7))
    n = W.shape[0]
    assert W.shape == (n, n) and 2 <= n <= 5
    sv = torch.linalg.svdvals(W)
    radius = float(torch.linalg.eigvals(W).abs().max())
    # each scheme pins one of these to the gain, which lies in the bounds
    pinned = [float(sv[0]), radius] + ([float(sv[-1])] if torch.allclose(sv, sv[0].expand_as(sv)) else [])
    assert any(0.4 - 1e-9 <= v <= 1.7 + 1e-9 for v in pinned)


@settings(max_examples=40, deadline=None)
@given(rs.models(architectures=rnnprobe.architectures.recurrent(), min_hidden=2, max_hidden=5, min_input=0,
                 max_input=2, inits="spectral", min_gain=0.3, max_gain=3.0))
def test_models_draw_recurrent_architectures_within_bounds(model):
    assert model.name in rnnprobe.architectures.recurrent()
    assert 2 <= model.hidden_size <= 5 and 0 <= model.input_size <= 2
    assert model.dtype == torch.float64
    # 'spectral' init pins the spectral radius of every square recurrent matrix to the gain
    # (the dense RNN splits the gain over its window: gain/√K each)
    window = getattr(model, "window", 1)
    for name, W in model.recurrent_weights().items():
        radius = float(torch.linalg.eigvals(W).abs().max()) * math.sqrt(window)
        assert 0.3 - 1e-9 <= radius <= 3.0 + 1e-9, name


@settings(max_examples=20, deadline=None)
@given(rs.models(architectures=rnnprobe.architectures.feedforward(), max_hidden=4, min_depth=2, max_depth=5))
def test_models_draw_feedforward_stacks_with_depth(model):
    assert model.kind == "feedforward" and 2 <= model.depth <= 5 and 1 <= model.width <= 4


def test_models_draw_every_named_architecture():
    names = sorted(rnnprobe.architectures)
    for name in names:       # each name alone (a search for all at once over one strategy depends on luck)
        assert find(rs.models(architectures=name, max_hidden=2), lambda m: True, settings=QUICK).name == name
    # and one strategy over all of them draws more than one
    seen = set()
    find(rs.models(architectures=names, max_hidden=2), lambda m: seen.add(m.name) or len(seen) > 3,
         settings=settings(QUICK, max_examples=500))
    assert seen <= set(names) and len(seen) > 3


def test_models_apply_options_values_and_strategies():
    lstm = find(rs.models(architectures="lstm", options={"forget_bias": 2.0}, max_bias_std=0.0),
                lambda m: m.hidden_size >= 2, settings=QUICK)
    n = lstm.hidden_size
    assert torch.equal(lstm.bias_ih[n : 2 * n], torch.full((n,), 2.0, dtype=torch.float64))
    # a strategy option, and an option only some architectures accept
    strategy = rs.models(architectures=["vanilla-tanh", "residual"], options={"nonlinearity": st.just("relu")})
    residual = find(strategy, lambda m: m.name.startswith("residual"), settings=QUICK)
    assert residual.name == "residual-relu"
    assert find(rs.models(dtype=torch.float32), lambda m: True, settings=QUICK).dtype == torch.float32


@settings(max_examples=25, deadline=None)
@given(rs.torch_rnns(min_hidden=2, max_hidden=4, max_input=2, max_layers=2, bidirectional=None, bias=None))
def test_torch_rnns_draw_adaptable_modules(module):
    assert type(module) in (nn.RNN, nn.GRU, nn.LSTM)
    assert 2 <= module.hidden_size <= 4 and 1 <= module.input_size <= 2 and 1 <= module.num_layers <= 2
    assert module.weight_hh_l0.dtype == torch.float32
    adapted = rnnprobe.adapt(module, layer=module.num_layers - 1, direction=int(module.bidirectional))
    assert adapted.hidden_size == module.hidden_size


@settings(max_examples=30, deadline=None)
@given(rs.sequences(min_length=2, max_length=9, input_size=st.integers(0, 3), batch=st.integers(1, 3),
                    min_scale=0.0, max_scale=2.0))
def test_sequences_shapes(x):
    assert x.ndim == 3 and 2 <= x.shape[0] <= 9 and 1 <= x.shape[1] <= 3 and 0 <= x.shape[2] <= 3
    assert x.dtype == torch.float64 and bool(torch.isfinite(x).all())


@settings(max_examples=15, deadline=None)
@given(rs.sequences(max_length=6, input_size=2, elements=st.floats(-0.5, 0.5), dtype=torch.float32))
def test_sequences_from_elements(x):
    assert x.shape[1] == 2 and x.dtype == torch.float32
    assert bool((x.abs() <= 0.5).all())


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_sequences_for_fit_every_kind_of_model(data):
    model = data.draw(rs.models(architectures=sorted(rnnprobe.architectures), max_hidden=3, min_input=0,
                                max_depth=4) | rs.torch_rnns(max_hidden=3))
    x = data.draw(rs.sequences_for(model, max_length=6, batch=st.none() | st.integers(1, 2)))
    traj = rnnprobe.record(model, x)
    if isinstance(model, rnnprobe.StepModel) and model.kind == "feedforward":
        assert x.shape[-1] == model.width and traj.length == model.depth
    else:
        assert 1 <= traj.length <= 6
        assert x.dtype == next(model.parameters()).dtype


@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_sequences_for_a_batch_first_module_are_batch_first(data):
    module = data.draw(rs.torch_rnns(max_hidden=3, batch_first=True))
    x = data.draw(rs.sequences_for(module, min_length=3, max_length=6, batch=2))
    assert x.shape[0] == 2 and 3 <= x.shape[1] <= 6 and x.shape[2] == module.input_size      # (B, T, d)
    traj = data.draw(rs.trajectories(st.just(module), min_length=3, max_length=6, batch=2))
    assert traj.batch_size == 2 and 3 <= traj.length <= 6                                    # read as (B, T, d)
    with torch.no_grad():
        out = module.double()(traj.inputs.transpose(0, 1))[0].transpose(0, 1)               # torch's own outputs
    torch.testing.assert_close(traj.hidden_states()[1:], out, rtol=1e-10, atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(rs.trajectories(rs.models(max_hidden=3), min_length=3, max_length=8, batch=2))
def test_trajectories_are_recorded_runs(traj):
    assert isinstance(traj, rnnprobe.Trajectory) and traj.batched
    assert 3 <= traj.length <= 8 and traj.batch_size == 2
    assert traj.states.shape == (traj.length + 1, 2, traj.model.state_size)


def test_scales_draw_the_standard_deviation_from_a_strategy():
    # the drawn scale is the seeded constructor's scale, exactly; a set of scales hits each regime
    x = find(rs.sequences(max_length=4, scales=st.just(0.25)), lambda x: True, settings=QUICK)
    assert torch.equal(x, rs.seeded_sequence(1, 1, scale=0.25, seed=0))
    x = find(rs.sequences(max_length=5, scales=st.sampled_from([0.0, 3.0])), lambda x: bool(x.any()), settings=QUICK)
    assert torch.equal(x, rs.seeded_sequence(1, 1, scale=3.0, seed=0))
    seen = set()
    find(rs.sequences(max_length=3, scales=st.sampled_from([0.0, 1e-3, 1e6])),
         lambda x: seen.add(0.0 if not x.any() else 1e-3 if float(x.abs().max()) < 1.0 else 1e6) or len(seen) == 3,
         settings=settings(QUICK, max_examples=200))
    assert seen == {0.0, 1e-3, 1e6}
    # sequences_for (both kinds of model), states_for and trajectories take them too
    gru, stack = rnnprobe.build("gru", 2, 3), rnnprobe.build("mlp", 3, depth=2)
    for strategy in (rs.sequences_for(gru, scales=st.just(0.0)), rs.sequences_for(stack, scales=st.just(0.0)),
                     rs.states_for(gru, scales=st.just(0.0))):
        assert not find(strategy, lambda x: True, settings=QUICK).any()
    traj = find(rs.trajectories(rs.models(max_hidden=2), scales=st.just(0.0)), lambda t: True, settings=QUICK)
    assert not traj.inputs.any()


def test_drawn_scales_are_validated_when_drawn():
    with pytest.raises(InvalidArgument, match=r"scale must lie in \[0, inf\); got -1.0"):
        find(rs.sequences(scales=st.just(-1.0)), lambda x: True, settings=QUICK)


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_states_for_give_initial_states_and_step_points_of_every_kind_of_model(data):
    model = data.draw(rs.models(architectures=sorted(rnnprobe.architectures), max_hidden=3, min_input=0,
                                max_depth=3) | rs.torch_rnns(max_hidden=3))
    batch = data.draw(st.none() | st.integers(1, 3), label="batch")
    state = data.draw(rs.states_for(model, batch=batch, min_scale=0.5, max_scale=2.0))
    adapted = model if isinstance(model, rnnprobe.StepModel) else rnnprobe.adapt(model)
    S = adapted.state_size
    assert state.shape == ((S,) if batch is None else (batch, S))
    assert state.dtype == next(model.parameters()).dtype and bool(torch.isfinite(state).all())
    if adapted.kind == "feedforward":                     # a point at which to take a layer's Jacobian
        points = state if batch is not None else state[None]
        J = adapted.step_jacobian(points.new_zeros(points.shape[0], 0), points, 0)
        assert J.shape == (points.shape[0], S, S)
    else:                                                 # an initial state for record
        x = data.draw(rs.sequences_for(model, max_length=3, batch=batch or 1))
        traj = rnnprobe.record(model, x, state)
        torch.testing.assert_close(traj.states[0], state.to(traj.dtype).expand(traj.batch_size, S), rtol=0, atol=0)


def test_states_for_shrink_to_a_seeded_state_of_the_right_size():
    lstm, dense = rnnprobe.build("lstm", 3), rnnprobe.build("dense", 2, window=3)
    assert torch.equal(find(rs.states_for(lstm, batch=2), lambda h: True, settings=QUICK),
                       rs.seeded_network_input(6, batch=2, seed=0))               # [h; c]
    assert find(rs.states_for(dense), lambda h: True, settings=QUICK).shape == (6,)  # the window of 3 states
    module = rs.seeded_torch_rnn("lstm", 2, 4)
    h0 = find(rs.states_for(module, scales=st.just(2.0)), lambda h: True, settings=QUICK)
    assert h0.dtype == torch.float32 and torch.equal(h0, rs.seeded_network_input(8, scale=2.0, seed=0, dtype=torch.float32))


# --------------------------------------------------------------------------- shrinking
def test_models_shrink_to_the_minimal_example():
    model = find(rs.models(max_hidden=8), lambda m: m.hidden_size >= 3, settings=QUICK)
    # the minimal example: first architecture, hidden 3, smallest input, gain 1, first init,
    # zero bias, seed 0 — the very model this build call makes
    reference = rnnprobe.build("vanilla-tanh", 3, 1, gain=1.0, init="gaussian", bias_std=0.0, seed=0)
    assert model.name == "vanilla-tanh" and model.hidden_size == 3 and model.input_size == 1
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        assert torch.equal(p, q), name


def test_matrices_sequences_and_torch_rnns_shrink_to_minimal_examples():
    W = find(rs.recurrent_matrices(), lambda W: W.shape[0] >= 4, settings=QUICK)
    assert torch.equal(W, rs.seeded_matrix(4, "gaussian", gain=1.0, seed=0))
    x = find(rs.sequences(max_length=30, input_size=2), lambda x: x.shape[0] >= 5, settings=QUICK)
    assert torch.equal(x, rs.seeded_sequence(5, 2, seed=0))
    rnn = find(rs.torch_rnns(), lambda m: m.hidden_size >= 2, settings=QUICK)
    assert isinstance(rnn, nn.RNN) and (rnn.input_size, rnn.hidden_size, rnn.nonlinearity) == (1, 2, "tanh")


def test_a_planted_failure_is_reported_with_the_smallest_model_and_sequence():
    """A property that fails whenever hidden_size >= 3 or T >= 5: Hypothesis must report a minimal case."""
    seen = []

    @settings(QUICK, max_examples=200)
    @given(rs.trajectories(rs.models(max_hidden=8), max_length=30))
    def planted(traj):
        seen.append(traj)
        assert traj.model.hidden_size < 3 and traj.length < 5

    with pytest.raises(AssertionError):
        planted()
    final = seen[-1]  # Hypothesis replays the shrunk example last
    n, T = final.model.hidden_size, final.length
    assert (n, T) in {(3, 1), (1, 5)}
    assert final.model.name == "vanilla-tanh" and final.model.input_size == 1
    reference = rnnprobe.record(rnnprobe.build("vanilla-tanh", n, 1, gain=1.0, init="gaussian", bias_std=0.0, seed=0),
                                rs.seeded_sequence(T, 1, seed=0))
    assert torch.equal(final.states, reference.states)


# --------------------------------------------------------------------------- invalid calls
_MODEL = rnnprobe.build("gru", 3, 2)

INVALID = [
    (rs.recurrent_matrices, dict(schemes="unitary"), r"schemes must be one of .*got 'unitary'"),
    (rs.recurrent_matrices, dict(schemes=[]), r"schemes must name at least one"),
    (rs.recurrent_matrices, dict(schemes=3), r"schemes must be a name or an iterable of names; got 3"),
    (rs.recurrent_matrices, dict(min_size=0), r"min_size must be >= 1; got 0"),
    (rs.recurrent_matrices, dict(min_size=4, max_size=3), r"max_size must be >= min_size = 4; got 3"),
    (rs.recurrent_matrices, dict(min_size=1.5), r"min_size must be an integer; got 1.5"),
    (rs.recurrent_matrices, dict(min_gain=-0.5), r"min_gain must lie in \[0, inf\); got -0.5"),
    (rs.recurrent_matrices, dict(max_gain=math.inf), r"max_gain must be a finite real number; got inf"),
    (rs.recurrent_matrices, dict(min_density=0.0), r"min_density must lie in \(0, 1\]; got 0.0"),
    (rs.recurrent_matrices, dict(max_density=1.5), r"max_density must lie in \(0, 1\]; got 1.5"),
    (rs.recurrent_matrices, dict(dtype=torch.int64), r"dtype must be torch.float32 or torch.float64"),
    (rs.models, dict(architectures="lstn"), r"architectures must be one of .*got 'lstn' \(did you mean 'lstm'\?\)"),
    (rs.models, dict(architectures=[]), r"architectures must name at least one"),
    (rs.models, dict(min_hidden=0), r"min_hidden must be >= 1; got 0"),
    (rs.models, dict(min_hidden=5, max_hidden=2), r"max_hidden must be >= min_hidden = 5; got 2"),
    (rs.models, dict(min_input=-1), r"min_input must be >= 0; got -1"),
    (rs.models, dict(min_gain=-1.0), r"min_gain must lie in \[0, inf\); got -1.0"),
    (rs.models, dict(min_gain=2.0, max_gain=1.0), r"max_gain must be >= min_gain = 2.0; got 1.0"),
    (rs.models, dict(max_gain=math.nan), r"max_gain must be a finite real number; got nan"),
    (rs.models, dict(inits="orthogonl"), r"inits must be one of .*\(did you mean 'orthogonal'\?\)"),
    (rs.models, dict(min_bias_std=-0.1), r"min_bias_std must lie in \[0, inf\); got -0.1"),
    (rs.models, dict(min_depth=0), r"min_depth must be >= 1; got 0"),
    (rs.models, dict(options={"forget_bais": 1.0}), r"option 'forget_bais' is not accepted .*did you mean 'forget_bias'"),
    (rs.models, dict(architectures="vanilla-tanh", options={"forget_bias": 1.0}), r"option 'forget_bias' is not accepted"),
    (rs.models, dict(options={"gain": 1.0}), r"options must not set 'gain'.*min_gain/max_gain"),
    (rs.models, dict(architectures="dense", options={"window": 0}), r"window must be >= 1; got 0"),
    (rs.models, dict(options={"forget_bias": "high"}), r"forget_bias must be a finite real number; got 'high'"),
    (rs.models, dict(options={"seed": 1}), r"options must not set 'seed'"),
    (rs.models, dict(dtype="float16"), r"dtype must be one of 'float32', 'float64'; got 'float16'"),
    (rs.torch_rnns, dict(kinds="transformer"), r"kinds must be one of 'rnn', 'gru', 'lstm'; got 'transformer'"),
    (rs.torch_rnns, dict(kinds=nn.Linear), r"kinds must name torch.nn.RNN"),
    (rs.torch_rnns, dict(kinds=[]), r"kinds must name at least one"),
    (rs.torch_rnns, dict(min_input=0), r"min_input must be >= 1; got 0"),
    (rs.torch_rnns, dict(min_layers=3, max_layers=2), r"max_layers must be >= min_layers = 3; got 2"),
    (rs.torch_rnns, dict(bidirectional="yes"), r"bidirectional must be True, False or None.*got 'yes'"),
    (rs.torch_rnns, dict(nonlinearities="gelu"), r"nonlinearities must be one of 'tanh', 'relu'; got 'gelu'"),
    (rs.torch_rnns, dict(batch_first=1), r"batch_first must be True or False; got 1"),
    (rs.torch_rnns, dict(min_gain=-1.0), r"min_gain must lie in \[0, inf\); got -1.0"),
    (rs.sequences, dict(min_length=0), r"min_length must be >= 1; got 0"),
    (rs.sequences, dict(min_length=5, max_length=4), r"max_length must be >= min_length = 5; got 4"),
    (rs.sequences, dict(input_size=-1), r"input_size must be >= 0; got -1"),
    (rs.sequences, dict(batch=0), r"batch must be >= 1; got 0"),
    (rs.sequences, dict(batch=2.5), r"batch must be an integer; got 2.5"),
    (rs.sequences, dict(min_scale=-1.0), r"min_scale must lie in \[0, inf\); got -1.0"),
    (rs.sequences, dict(elements=[0.0]), r"elements must be a hypothesis strategy of floats or None; got \[0.0\]"),
    (rs.sequences, dict(dtype=torch.int32), r"dtype must be torch.float32 or torch.float64"),
    (lambda **kw: rs.sequences_for(object(), **kw), {}, r"model must be an rnnprobe model or a torch recurrent module"),
    (lambda **kw: rs.sequences_for(_MODEL, **kw), dict(max_length=0), r"max_length must be >= 1; got 0"),
    (lambda **kw: rs.sequences_for(_MODEL, **kw), dict(batch=-2), r"batch must be >= 1; got -2"),
    (rs.sequences, dict(scales=[0.0, 1.0]),
     r"scales must be a hypothesis strategy of floats >= 0 or None; got \[0.0, 1.0\] \(use st.sampled_from"),
    (rs.sequences, dict(scales=st.just(1.0), elements=st.floats(0, 1)), r"scales and elements cannot both be given"),
    (lambda **kw: rs.sequences_for(_MODEL, **kw), dict(scales=2.0), r"scales must be a hypothesis strategy.*got 2.0$"),
    (lambda **kw: rs.states_for(object(), **kw), {}, r"model must be an rnnprobe StepModel .*got object"),
    (lambda **kw: rs.states_for(_MODEL, **kw), dict(batch=0), r"batch must be >= 1; got 0"),
    (lambda **kw: rs.states_for(_MODEL, **kw), dict(min_scale=2.0, max_scale=1.0), r"max_scale must be >= min_scale = 2.0; got 1.0"),
    (lambda **kw: rs.states_for(_MODEL, **kw), dict(elements=0.5), r"elements must be a hypothesis strategy"),
    (rs.trajectories, dict(models="lstm"), r"models must be a hypothesis strategy of models"),
    (rs.trajectories, dict(scales=1.0), r"scales must be a hypothesis strategy"),
    (rs.trajectories, dict(min_length=3, max_length=1), r"max_length must be >= min_length = 3; got 1"),
    (rs.seeded_matrix, dict(size=0), r"size must be >= 1; got 0"),
    (rs.seeded_matrix, dict(size=2, scheme="sparse", density=0.0), r"density must lie in \(0, 1\]; got 0.0"),
    (rs.seeded_sequence, dict(length=0), r"length must be >= 1; got 0"),
    (rs.seeded_sequence, dict(length=2, seed=-1), r"seed must be >= 0; got -1"),
    (rs.seeded_torch_rnn, dict(kind="lstn"), r"kind must be one of .*\(did you mean 'lstm'\?\)"),
    (rs.seeded_torch_rnn, dict(kind="rnn", nonlinearity="sigmoid"), r"nonlinearity must be one of 'tanh', 'relu'"),
]


@pytest.mark.parametrize("strategy, kwargs, message", INVALID,
                         ids=[f"{getattr(f, '__name__', 'call')}-{'-'.join(k) or 'model'}-{i}"
                              for i, (f, k, _) in enumerate(INVALID)])
def test_invalid_calls_raise_invalid_argument_at_call_time(strategy, kwargs, message):
    with pytest.raises(InvalidArgument, match=message):
        strategy(**kwargs)


def test_invalid_argument_is_also_a_value_error():
    with pytest.raises(ValueError):
        rs.models(min_hidden=-3)


def test_values_drawn_from_a_strategy_argument_are_validated_when_drawn():
    strategy = rs.sequences(batch=st.just(0))  # nothing to check before drawing
    with pytest.raises(InvalidArgument, match=r"batch must be >= 1; got 0"):
        find(strategy, lambda x: True, settings=QUICK)


def test_import_rnnprobe_stays_light():
    """hypothesis only comes with rnnprobe.strategies; rnnprobe.testing does not need it."""
    code = ("import sys, rnnprobe; assert 'hypothesis' not in sys.modules, 'rnnprobe'; "
            "import rnnprobe.testing; assert 'hypothesis' not in sys.modules, 'rnnprobe.testing'; "
            "import rnnprobe.strategies; assert 'hypothesis' in sys.modules")
    repo = pathlib.Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(repo)})
    assert result.returncode == 0, result.stderr
