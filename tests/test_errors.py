"""Bad input raises InvalidArgument naming the parameter and the value; nothing silently returns NaN."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import rnnprobe
from rnnprobe import strategies as rs
from rnnprobe.errors import InvalidArgument, RnnProbeError

F64 = torch.float64


def test_error_hierarchy():
    assert issubclass(InvalidArgument, RnnProbeError) and issubclass(InvalidArgument, ValueError)
    assert rnnprobe.InvalidArgument is InvalidArgument and rnnprobe.RnnProbeError is RnnProbeError
    with pytest.raises(ValueError):                     # generic handlers keep working
        rnnprobe.build("nope")


@pytest.mark.parametrize("name, hint", [("vanila-tanh", "vanilla-tanh"), ("lstn", "lstm"), ("gru_torch", "gru-torch"),
                                        ("densemlp2", "densemlp"), ("Residual", "residual")])
def test_unknown_architecture_names_suggest_the_nearest(name, hint):
    for call in (lambda: rnnprobe.build(name), lambda: rnnprobe.architectures[name]):
        with pytest.raises(InvalidArgument, match=rf"architecture must be one of .*'vanilla-tanh'.*; got '{name}' "
                                                  rf"\(did you mean '{hint}'\?\)"):
            call()


def test_unknown_architecture_without_a_close_name():
    with pytest.raises(InvalidArgument) as info:
        rnnprobe.build("transformer")
    assert "got 'transformer'" in str(info.value) and "did you mean" not in str(info.value)
    with pytest.raises(InvalidArgument, match=r"architecture must be one of .*; got 3"):
        rnnprobe.build(3)


@pytest.mark.parametrize("name, kwargs, pattern", [
    ("vanilla-tanh", dict(hidden_size=-1), r"hidden_size must be >= 1; got -1"),
    ("vanilla-tanh", dict(hidden_size=0), r"hidden_size must be >= 1; got 0"),
    ("gru", dict(hidden_size=2.5), r"hidden_size must be an integer; got 2.5"),
    ("lstm", dict(hidden_size=True), r"hidden_size must be an integer; got True"),
    ("lstm", dict(input_size=-2), r"input_size must be >= 0; got -2"),
    ("mlp", dict(depth=0), r"depth must be >= 1; got 0"),
    ("densemlp", dict(depth=-3), r"depth must be >= 1; got -3"),
    ("densemlp", dict(growth=0), r"growth must be >= 1; got 0"),
    ("dense", dict(window=0), r"window must be >= 1; got 0"),
    ("vanilla-tanh", dict(seed=-1), r"seed must be an integer in \[0, 2\*\*64 - 1\]; got -1"),
    ("vanilla-tanh", dict(gain=-0.5), r"gain must lie in \[0, inf\); got -0.5"),
    ("gru", dict(gain=math.nan), r"gain must be a finite real number; got nan"),
    ("gru", dict(gain=math.inf), r"gain must be a finite real number; got inf"),
    ("gru", dict(gain="1"), r"gain must be a finite real number; got '1'"),
    ("residual", dict(alpha=math.nan), r"alpha must be a finite real number; got nan"),
    ("lstm", dict(forget_bias=math.inf), r"forget_bias must be a finite real number; got inf"),
    ("lstm", dict(chrono=2), r"chrono must be >= 3; got 2"),
    ("gru-torch", dict(update_bias=-math.inf), r"update_bias must be a finite real number; got -inf"),
    ("vanilla-relu", dict(bias_std=-1.0), r"bias_std must lie in \[0, inf\); got -1.0"),
    ("vanilla-relu", dict(input_gain=-1.0), r"input_gain must lie in \[0, inf\); got -1.0"),
    ("mlp", dict(nonlinearity="tanhh"), r"nonlinearity must be one of 'tanh', 'relu', 'sigmoid', 'linear'; got 'tanhh' \(did you mean 'tanh'\?\)"),
    ("gru", dict(init="orthogonl"), r"init must be one of 'gaussian', 'orthogonal', 'spectral'; got 'orthogonl' \(did you mean 'orthogonal'\?\)"),
    ("gru", dict(init="xavier"), r"init must be one of 'gaussian', 'orthogonal', 'spectral'; got 'xavier'"),
    ("gru", dict(dtype="float16"), r"dtype must be one of 'float32', 'float64'; got 'float16'"),
    ("gru", dict(dtype=torch.int32), r"dtype must be torch.float32 or torch.float64; got torch.int32"),
    ("gru", dict(depth=3), r"depth applies to feed-forward stacks only; got depth=3 for 'gru'"),
    ("mlp", dict(input_size=4), r"input_size is not used by feed-forward stack 'mlp'.*got 4"),
    ("vanilla-tanh", dict(alpha=0.5), r"option 'alpha' is not accepted by architecture 'vanilla-tanh'; allowed: .*gain"),
    ("lstm", dict(forgetbias=1.0), r"option 'forgetbias'.*did you mean 'forget_bias'"),
    # the diagonal recurrences: rings, step ranges, state sizes that do not fit
    ("lru", dict(r_min=0.95, r_max=0.9), r"r_min must be <= r_max .*got r_min=0.95 > r_max=0.9"),
    ("lru", dict(r_min=0.0), r"r_min must lie in \(0, 1\]; got 0.0 \(the smallest eigenvalue modulus"),
    ("lru", dict(r_min=-0.5, r_max=0.5), r"r_min must lie in \(0, 1\]; got -0.5"),
    ("lru", dict(r_max=1.2), r"r_max must lie in \(0, 1\]; got 1.2 \(the largest eigenvalue modulus"),
    ("lru", dict(r_max=math.nan), r"r_max must be a finite real number; got nan"),
    ("lru", dict(max_phase=-1.0), r"max_phase must lie in \[0, 6.28319\]; got -1.0"),
    ("lru", dict(normalize="yes"), r"normalize must be True or False; got 'yes'"),
    ("s6", dict(dt_min=0.0), r"dt_min must lie in \(0, inf\); got 0.0 \(the smallest step"),
    ("s4d", dict(dt_min=-1e-3), r"dt_min must lie in \(0, inf\); got -0.001"),
    ("s4d", dict(dt_max=0.0, dt_min=1e-3), r"dt_max must lie in \(0, inf\); got 0.0"),
    ("s6", dict(dt_min=0.1, dt_max=0.01), r"dt_min must be <= dt_max .*got dt_min=0.1 > dt_max=0.01"),
    ("s6", dict(hidden_size=12, state_dim=5), r"state_dim must divide hidden_size = 12 .*got state_dim=5"),
    ("s4d", dict(hidden_size=4, state_dim=8), r"state_dim must be <= 4; got 8"),
    ("s4d", dict(state_dim=0), r"state_dim must be >= 1; got 0"),
    ("s6", dict(discretization="euler"), r"discretization must be one of 'mamba', 'zoh'; got 'euler'"),
    ("mingru", dict(update_bias=math.nan), r"update_bias must be a finite real number; got nan"),
    ("minlstm", dict(input_gain=-1.0), r"input_gain must lie in \[0, inf\); got -1.0"),
    ("unitary", dict(nonlinearity="modrelu2"), r"nonlinearity must be one of 'modrelu', .*got 'modrelu2' "
                                               r"\(did you mean 'modrelu'\?\)"),
    ("unitary", dict(modrelu_bias=math.inf), r"modrelu_bias must be a finite real number; got inf"),
])
def test_build_rejects_bad_options(name, kwargs, pattern):
    with pytest.raises(InvalidArgument, match=pattern):
        rnnprobe.build(name, **kwargs)


def test_feedforward_layer_index_out_of_range():
    net = rnnprobe.build("resmlp", hidden_size=2, depth=3)
    with pytest.raises(InvalidArgument, match=r"layer index t must lie in \[0, 3\); got 3"):
        net.step(torch.zeros(1, 0, dtype=F64), torch.zeros(1, 2, dtype=F64), 3)


def test_probes_want_a_trajectory():
    for probe in (rnnprobe.jacobian_norms, rnnprobe.jacobian_singular_values, rnnprobe.jacobian_product,
                  rnnprobe.gradient_norms, rnnprobe.gradient_bounds, rnnprobe.step_norms, rnnprobe.memory_length,
                  rnnprobe.trajectory_lyapunov_spectrum):
        with pytest.raises(InvalidArgument, match=r"traj must be a Trajectory from rnnprobe.record\(model, inputs\); got Tensor"):
            probe(torch.zeros(3, 1))


# --------------------------------------------------------------------------- no silent NaN
ARCHS = sorted(rnnprobe.architectures)


@pytest.mark.parametrize("T, G_zero", [(1, False), (1, True), (2, True), (6, True)])
def test_memory_length_confidence_interval_is_never_nan(T, G_zero):
    """T = 1 (one lag: nothing to fit) and G exactly 0 (a zero-gain net) gave NaN intervals."""
    model = rnnprobe.build("vanilla-tanh", hidden_size=3, gain=0.0 if G_zero else 1.0, seed=0)
    m = rnnprobe.memory_length(rnnprobe.record(model, torch.ones(T, 1, dtype=F64)), burn_in=0)
    if G_zero:     # G(k) = 0 at every lag: faster decay than float resolves
        assert (m.slope, m.slope_low, m.slope_high, m.threshold) == (-math.inf, -math.inf, -math.inf, 0)
    else:          # one finite point: no decay measured, the slope unconstrained
        assert (m.slope, m.slope_low, m.slope_high, m.efold) == (0.0, -math.inf, math.inf, math.inf)


@given(gain=st.sampled_from([0.0, 0.3, 1.0, 3.0]), bias=st.sampled_from([0.0, 1.0]), data=st.data())
def test_no_probe_returns_nan_on_valid_extreme_inputs(gain, bias, data):
    """Zero gains, saturated units, dead ReLUs, T = 1: logs may be -inf, never NaN.

    Not even ``MemoryLength.slope_low/slope_high``, the confidence interval of a fit
    on fewer than two finite points: ``(-inf, inf)`` for T = 1, ``(-inf, -inf)`` where
    G is exactly 0 (NaN before issue 11).
    """
    # exactly these gains and biases (zero gain: zero Jacobians; zero bias and input: the origin), any model
    model = data.draw(rs.models(architectures=ARCHS, max_hidden=3, max_input=2, min_gain=gain, max_gain=gain,
                                min_bias_std=bias, max_bias_std=bias, max_depth=12), label="model")
    x = data.draw(rs.sequences_for(model, max_length=12, scales=st.sampled_from([0.0, 1.0, 100.0, 1e6])), label="x")
    try:
        traj = rnnprobe.record(model, x)
    except InvalidArgument as err:                       # a linear net can overflow: said, not silent
        assert "NaN/Inf" in str(err)
        return
    results = {
        "G": rnnprobe.jacobian_norms(traj, log=True),
        "G_svd": rnnprobe.jacobian_norms(traj, method="svd"),
        "sv": rnnprobe.jacobian_singular_values(traj, log=True),
        "P": rnnprobe.jacobian_product(traj),
        "g": rnnprobe.gradient_norms(traj, log=True),
        "lyap": rnnprobe.trajectory_lyapunov_spectrum(traj, burn_in=0),
    }
    b = rnnprobe.gradient_bounds(traj, log=True)
    results.update(bounds_g=b.gradient, bounds_G=b.jacobian, bounds_prod=b.product)
    if b.weight is not None:
        results["bounds_W"] = b.weight
    for key, value in results.items():
        assert not bool(torch.isnan(value).any()), key
    assert b.holds(1e-9)
    m = rnnprobe.memory_length(traj, burn_in=0).as_dict()
    for key, value in m.items():
        assert not (isinstance(value, float) and math.isnan(value)), key
    assert m["slope_low"] <= m["slope"] <= m["slope_high"]
    spec = rnnprobe.weight_spectrum(model)
    assert not math.isnan(spec.sigma_max)
