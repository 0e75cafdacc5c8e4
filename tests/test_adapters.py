"""Adapters: a user's torch RNN/GRU/LSTM (any layer, either direction) and any cell, probed as is."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import rnnprobe
from rnnprobe import strategies as rs
from rnnprobe.errors import InvalidArgument

F64 = torch.float64
KINDS = [("RNN", {"nonlinearity": "tanh"}), ("RNN", {"nonlinearity": "relu"}), ("GRU", {}), ("LSTM", {})]


def _module(kind, kwargs, *, input_size=3, hidden_size=4, num_layers=1, bidirectional=False, batch_first=False,
            bias=True, seed=0):
    torch.manual_seed(seed)
    return getattr(nn, kind)(input_size, hidden_size, num_layers=num_layers, bidirectional=bidirectional,
                             batch_first=batch_first, bias=bias, **kwargs)


def _layer_outputs(module, x, layer):
    """Outputs (T, B, D·n) of layer ``layer`` of ``module`` (a float64 copy), time-major ``x``.

    A fresh module with layers 0..layer holding the same weights: its last layer is the one wanted.
    """
    ref = type(module)(module.input_size, module.hidden_size, num_layers=layer + 1, bias=module.bias,
                       bidirectional=module.bidirectional, **({"nonlinearity": module.nonlinearity}
                                                            if isinstance(module, nn.RNN) else {})).double()
    own = dict(ref.named_parameters())
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name in own:
                own[name].copy_(p.detach().double())
    with torch.no_grad():
        return ref(x)[0]


@pytest.mark.parametrize("kind, kwargs", KINDS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_adapted_layers_give_the_module_states(kind, kwargs, bidirectional):
    module = _module(kind, kwargs, num_layers=3, bidirectional=bidirectional, seed=1)
    x = torch.randn(7, 2, 3, dtype=F64, generator=torch.Generator().manual_seed(0))
    D, n = (2 if bidirectional else 1), 4
    with torch.no_grad():
        top = module.double()(x)[0]
    module.float()
    for layer in range(3):
        out = _layer_outputs(module, x, layer)
        if layer == 2:       # the last layer is also checked against the module itself
            torch.testing.assert_close(out, top, rtol=1e-12, atol=1e-12)
        for direction in range(D):
            model = rnnprobe.adapt(module, layer, direction=direction)
            assert model.dtype == F64 and model.hidden_size == n and model.name == {"RNN": f"vanilla-{kwargs.get('nonlinearity')}", "GRU": "gru-torch", "LSTM": "lstm"}[kind]
            h = rnnprobe.record(model, x).hidden_states()[1:]            # (T, B, n), h_1 … h_T
            expected = out[..., direction * n : (direction + 1) * n]
            if direction == 1:
                expected = expected.flip(0)                               # the backward pass runs in reversed time
            torch.testing.assert_close(h, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind, kwargs", KINDS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_batch_first_modules_take_batch_first_inputs(kind, kwargs, bidirectional):
    module = _module(kind, kwargs, num_layers=2, batch_first=True, bidirectional=bidirectional, seed=2).double()
    twin = _module(kind, kwargs, num_layers=2, batch_first=False, bidirectional=bidirectional, seed=2).double()
    x = torch.randn(3, 6, 3, dtype=F64, generator=torch.Generator().manual_seed(1))       # (B, T, d), as module takes
    with torch.no_grad():
        top = module(x)[0].transpose(0, 1)                                                 # torch's own, time-major
    n = module.hidden_size
    for layer in (0, 1):
        for direction in range(2 if bidirectional else 1):
            adapted = rnnprobe.adapt(module, layer, direction=direction)
            assert adapted.batch_first
            traj = rnnprobe.record(adapted, x)
            assert (traj.length, traj.batch_size) == (6, 3)                                # time-major trajectory
            # the same module fed time-major inputs (a batch_first=False twin, and an explicit batch_first=False)
            reference = rnnprobe.record(rnnprobe.adapt(twin, layer, direction=direction), x.transpose(0, 1))
            torch.testing.assert_close(traj.states, reference.states, rtol=0, atol=0)
            explicit = rnnprobe.record(adapted, x.transpose(0, 1), batch_first=False)
            torch.testing.assert_close(explicit.states, reference.states, rtol=0, atol=0)
            if layer == 1:                                                                 # against torch itself
                expected = top[..., direction * n : (direction + 1) * n]
                expected = expected.flip(0) if direction == 1 else expected
                torch.testing.assert_close(traj.hidden_states()[1:], expected, rtol=1e-12, atol=1e-12)
    # a raw batch_first module is adapted on the fly, flag and all; unbatched (T, d) inputs are (T, d) as in torch
    torch.testing.assert_close(rnnprobe.record(module, x).states, rnnprobe.record(twin, x.transpose(0, 1)).states)
    torch.testing.assert_close(rnnprobe.record(module, x[0]).states, rnnprobe.record(twin, x[0]).states)


def test_explicit_batch_first_for_any_model():
    model = rnnprobe.build("gru", hidden_size=3, input_size=2, seed=0)
    x = torch.randn(5, 4, 2, dtype=F64, generator=torch.Generator().manual_seed(2))       # (T, B, d)
    traj = rnnprobe.record(model, x.transpose(0, 1), batch_first=True)
    torch.testing.assert_close(traj.states, rnnprobe.record(model, x).states, rtol=0, atol=0)
    assert traj.states.shape == (6, 4, 3) and traj.inputs.shape == (5, 4, 2)
    with pytest.raises(InvalidArgument, match=r"last dimension input_size = 2.*got shape \(5, 2, 4\) \(batched inputs "
                                              r"are batch-first, \(B, T, d\): batch_first=True\)"):
        rnnprobe.record(model, x.transpose(1, 2), batch_first=True)
    with pytest.raises(InvalidArgument, match=r"batch_first must be True, False or None.*got 1"):
        rnnprobe.record(model, x, batch_first=1)
    with pytest.raises(InvalidArgument, match=r"batch_first must be False or None for feed-forward stack 'mlp'"):
        rnnprobe.record(rnnprobe.build("mlp", hidden_size=3, depth=2), torch.zeros(2, 3), batch_first=True)


def test_assertions_and_probes_take_a_batch_first_module():
    from rnnprobe.testing import assert_jacobian_close, assert_memory_at_least

    module = _module("LSTM", {}, batch_first=True, seed=5)
    twin = _module("LSTM", {}, batch_first=False, seed=5)
    x = torch.randn(2, 12, 3, dtype=F64, generator=torch.Generator().manual_seed(3))      # (B, T, d)
    lam = rnnprobe.lyapunov_spectrum(module, x, burn_in=2)
    torch.testing.assert_close(lam, rnnprobe.lyapunov_spectrum(twin, x.transpose(0, 1), burn_in=2), rtol=0, atol=0)
    assert_jacobian_close(rnnprobe.record(module, x), rnnprobe.record(twin, x.transpose(0, 1)), rtol=0, atol=0)
    messages = []
    for model, inputs in ((module, x), (twin, x.transpose(0, 1))):
        with pytest.raises(AssertionError) as info:
            assert_memory_at_least(model, 12, inputs)
        messages.append(str(info.value))
    assert messages[0] == messages[1] and "sequence 0 of batch 2 (T = 12)" in messages[0]


@pytest.mark.parametrize("kind, kwargs", KINDS)
def test_adapted_module_with_initial_state_and_without_bias(kind, kwargs):
    module = _module(kind, kwargs, bias=False, seed=3).double()
    x = torch.randn(5, 2, 3, dtype=F64, generator=torch.Generator().manual_seed(2))
    h0 = torch.randn(1, 2, 4, dtype=F64, generator=torch.Generator().manual_seed(3))
    c0 = torch.randn(1, 2, 4, dtype=F64, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        out = module(x, (h0, c0) if kind == "LSTM" else h0)[0]
    state0 = torch.cat([h0[0], c0[0]], dim=1) if kind == "LSTM" else h0[0]
    traj = rnnprobe.record(rnnprobe.adapt(module), x, h0=state0)
    torch.testing.assert_close(traj.hidden_states()[1:], out, rtol=1e-12, atol=1e-12)


def test_record_accepts_raw_torch_modules_and_cells():
    gru = _module("GRU", {}, seed=4)
    x = torch.randn(6, 3, dtype=torch.float32, generator=torch.Generator().manual_seed(5))
    traj = rnnprobe.record(gru, x)                        # adapted on the fly: layer 0, float64
    assert traj.dtype == F64
    with torch.no_grad():
        out = gru.double()(x.double())[0]
    torch.testing.assert_close(traj.hidden_states()[1:], out, rtol=1e-12, atol=1e-12)
    cell = nn.LSTMCell(3, 2)
    traj = rnnprobe.record(cell, x)
    assert traj.state_size == 4 and traj.model.name == "cell:LSTMCell"
    spec = rnnprobe.weight_spectrum(_module("RNN", {"nonlinearity": "tanh"}, seed=6))
    assert list(spec.blocks) == ["W_h"]


def test_adapt_copies_and_leaves_the_module_alone():
    module = _module("LSTM", {}, num_layers=2, seed=7)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    model = rnnprobe.adapt(module, 1)
    with torch.no_grad():
        model.cell.weight_hh.add_(1.0)
    for k, v in module.state_dict().items():
        assert v.dtype == torch.float32 and torch.equal(v, before[k])
    fresh = rnnprobe.adapt(module, 1)
    torch.testing.assert_close(fresh.recurrent_weights()["W_hi"], module.weight_hh_l1[:4].double().detach())
    rnn = _module("RNN", {"nonlinearity": "tanh"}, num_layers=2, seed=8)
    torch.testing.assert_close(rnnprobe.adapt(rnn, 1).recurrent_weights()["W_h"], rnn.weight_hh_l1.double().detach())


@pytest.mark.parametrize("kind, kwargs", KINDS)
def test_adapted_models_jacobians_equal_autograd(kind, kwargs):
    module = _module(kind, kwargs, num_layers=2, bidirectional=True, seed=9)
    model = rnnprobe.adapt(module, 1, direction=1)
    traj = rnnprobe.record(model, torch.randn(5, 3, dtype=F64, generator=torch.Generator().manual_seed(6)))
    J = traj.step_jacobians()[:, 0]
    for t in range(5):
        ref = torch.autograd.functional.jacobian(lambda s: model.step(traj.inputs[t], s[None], t)[0], traj.states[t, 0])
        torch.testing.assert_close(J[t], ref, rtol=1e-10, atol=1e-12)


@given(module=rs.torch_rnns(max_hidden=4, max_layers=2, bidirectional=None, bias=None, min_gain=0.5, max_gain=2.0),
       data=st.data())
def test_any_adapted_layer_gives_the_module_states_and_autograd_jacobians(module, data):
    # the grids above, for drawn modules: any kind, size, depth, direction, with or without bias, scaled W_hh
    layer = data.draw(st.integers(0, module.num_layers - 1), label="layer")
    direction = data.draw(st.integers(0, int(module.bidirectional)), label="direction")
    x = data.draw(rs.sequences_for(module, max_length=6, batch=2), label="x").double()
    model = rnnprobe.adapt(module, layer, direction=direction)
    traj = rnnprobe.record(model, x)
    n = module.hidden_size
    expected = _layer_outputs(module, x, layer)[..., direction * n : (direction + 1) * n]
    if direction == 1:
        expected = expected.flip(0)                               # the backward pass runs in reversed time
    torch.testing.assert_close(traj.hidden_states()[1:], expected, rtol=1e-12, atol=1e-12)
    J = traj.step_jacobians()
    for t in range(traj.length):
        for b in range(2):
            ref = torch.autograd.functional.jacobian(lambda s: model.step(traj.inputs[t, b : b + 1], s[None], t)[0],
                                                     traj.states[t, b])
            torch.testing.assert_close(J[t, b], ref, rtol=1e-10, atol=1e-12)


def test_adapt_rejects_bad_arguments():
    lstm = _module("LSTM", {}, num_layers=2)
    with pytest.raises(InvalidArgument, match=r"layer must be <= 1; got 2"):
        rnnprobe.adapt(lstm, 2)
    with pytest.raises(InvalidArgument, match=r"layer must be >= 0; got -1"):
        rnnprobe.adapt(lstm, -1)
    with pytest.raises(InvalidArgument, match=r"direction must be <= 0; got 1"):
        rnnprobe.adapt(lstm, 0, direction=1)
    with pytest.raises(InvalidArgument, match=r"proj_size must be 0.*got 2"):
        rnnprobe.adapt(nn.LSTM(3, 4, proj_size=2))
    with pytest.raises(InvalidArgument, match=r"module must be a torch.nn.RNN.*Linear.*CellAdapter"):
        rnnprobe.adapt(nn.Linear(3, 4))
    with pytest.raises(InvalidArgument, match=r"dtype must be.*float16"):
        rnnprobe.adapt(lstm, dtype=torch.float16)
    with pytest.raises(InvalidArgument, match=r"model must be an rnnprobe StepModel.*Linear"):
        rnnprobe.record(nn.Linear(3, 4), torch.zeros(2, 3))


# --------------------------------------------------------------------------- cells
def _run_cell(cell, x, state, tuple_state=False):
    states = [state]
    with torch.no_grad():
        for t in range(x.shape[0]):
            state = cell(x[t], state)
            states.append(state)
    if tuple_state:
        return torch.stack([torch.cat(s, dim=-1) for s in states])
    return torch.stack(states)


class GatedLeak(nn.Module):
    """A custom cell: h' = 0.5 h + sigmoid(B x) ⊙ tanh(A h)."""

    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.A = nn.Parameter(torch.randn(hidden_size, hidden_size, generator=torch.Generator().manual_seed(0)))
        self.B = nn.Parameter(torch.randn(hidden_size, input_size, generator=torch.Generator().manual_seed(1)))

    def forward(self, x, h):
        return 0.5 * h + torch.sigmoid(x @ self.B.T) * torch.tanh(h @ self.A.T)


class NoSizes(nn.Module):
    """A cell without size attributes whose Python control flow torch.func cannot vmap."""

    def __init__(self):
        super().__init__()
        self.W = nn.Parameter(torch.tensor([[0.3, -0.8], [0.9, 0.2]], dtype=F64))

    def forward(self, x, h):
        if float(h.detach().abs().sum()) > 1e9:      # data-dependent branch: vmap raises, the adapter falls back
            return h
        return torch.tanh(h @ self.W.T + x)


@pytest.mark.parametrize("make, tuple_state", [
    (lambda: nn.RNNCell(3, 4), False), (lambda: nn.RNNCell(3, 4, nonlinearity="relu"), False),
    (lambda: nn.GRUCell(3, 4), False), (lambda: nn.LSTMCell(3, 4), True), (lambda: GatedLeak(3, 4), False),
], ids=["RNNCell-tanh", "RNNCell-relu", "GRUCell", "LSTMCell", "custom"])
def test_cell_adapter_states_and_jacobians(make, tuple_state):
    torch.manual_seed(10)
    cell = make()
    model = rnnprobe.CellAdapter(cell)
    assert model.state_size == (8 if tuple_state else 4) and model.input_size == 3
    x = torch.randn(6, 2, 3, dtype=F64, generator=torch.Generator().manual_seed(7))
    h0 = torch.randn(2, model.state_size, dtype=F64, generator=torch.Generator().manual_seed(8))
    traj = rnnprobe.record(model, x, h0)
    ref_cell = cell.double()
    start = tuple(h0.split(4, dim=1)) if tuple_state else h0
    torch.testing.assert_close(traj.states, _run_cell(ref_cell, x, start, tuple_state), rtol=1e-12, atol=1e-12)
    # Jacobians and G(t) against autograd through the user's own cell
    for t in range(6):
        def f(s, t=t):
            s = s[None]
            for j in range(t, 6):
                arg = tuple(s.split(4, dim=1)) if tuple_state else s
                out = ref_cell(x[j, :1], arg)
                s = torch.cat(out, dim=1) if tuple_state else out
            return s[0]
        full = torch.autograd.functional.jacobian(f, traj.states[t, 0])
        G = rnnprobe.jacobian_norms(traj)[0, t]
        torch.testing.assert_close(G, torch.linalg.matrix_norm(full, ord=2), rtol=1e-8, atol=0)
    J = traj.step_jacobians()
    torch.testing.assert_close(J[0, 0], rnnprobe.jacobian_product(traj, 0, 1)[0])


def test_cell_adapter_without_size_attributes_and_unvmappable_cell():
    cell = NoSizes()
    with pytest.raises(InvalidArgument, match=r"input_size is required.*got None"):
        rnnprobe.CellAdapter(cell)
    model = rnnprobe.CellAdapter(cell, input_size=2, hidden_size=2)
    x = torch.randn(4, 3, 2, dtype=F64, generator=torch.Generator().manual_seed(9))
    traj = rnnprobe.record(model, x)
    torch.testing.assert_close(traj.states, _run_cell(cell, x, torch.zeros(3, 2, dtype=F64)), rtol=0, atol=0)
    with pytest.raises(RuntimeError):
        model.autograd_step_jacobian(x[0], traj.states[0])             # torch.func cannot vmap this cell
    J = traj.step_jacobians()                                          # per-row autograd fallback
    W = cell.W.detach()
    pre = traj.states[:-1] @ W.T + x
    torch.testing.assert_close(J, (1 - torch.tanh(pre) ** 2)[..., None] * W, rtol=1e-12, atol=1e-14)


def test_cell_adapter_keeps_or_converts_dtype():
    cell = nn.GRUCell(2, 3)
    assert rnnprobe.CellAdapter(cell).dtype == F64
    assert cell.weight_hh.dtype == torch.float32                          # the user's cell is not touched
    kept = rnnprobe.CellAdapter(cell, dtype=None)
    assert kept.dtype == torch.float32 and kept.inner is cell
    assert set(rnnprobe.CellAdapter(cell).recurrent_weights()) == {"weight_hh"}


# --------------------------------------------------------------------------- cell-like modules, no adapter
class Leaky(nn.Module):
    """A hand-written cell h' = tanh(W h + U x) with no size attributes at all."""

    def __init__(self, input_size=3, hidden_size=4, seed=11):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.W = nn.Parameter(0.6 * torch.randn(hidden_size, hidden_size, generator=g))
        self.U = nn.Parameter(torch.randn(hidden_size, input_size, generator=g))

    def forward(self, x, h):
        return torch.tanh(h @ self.W.T + x @ self.U.T)


class Sized(Leaky):
    """The same cell carrying torch's size attributes."""

    def __init__(self, input_size=3, hidden_size=4, seed=11):
        super().__init__(input_size, hidden_size, seed)
        self.input_size, self.hidden_size = input_size, hidden_size


class Widening(nn.Module):
    """Not a cell: its output is twice as long as its state."""

    def forward(self, x, h):
        return torch.cat([h, h], dim=-1)


class TupleOut(nn.Module):
    """A cell whose state is a tuple, called without tuple_state."""

    def forward(self, x, h):
        return h, h


def _leaky_jacobian(cell, traj):
    """The closed form ∂h'/∂h = diag(1 − h'²) W along a trajectory of Leaky: (T, B, n, n)."""
    W = cell.W.detach().double()
    return (1 - traj.states[1:] ** 2)[..., None] * W


@pytest.mark.parametrize("make, with_h0", [(Sized, False), (Sized, True), (Leaky, True)],
                         ids=["size-attributes", "size-attributes-and-h0", "h0-only"])
def test_record_takes_cell_like_modules_without_an_adapter(make, with_h0):
    cell = make()
    x = torch.randn(7, 2, 3, dtype=F64, generator=torch.Generator().manual_seed(12))
    h0 = torch.randn(2, 4, dtype=F64, generator=torch.Generator().manual_seed(13)) if with_h0 else None
    traj = rnnprobe.record(cell, x, h0)
    assert isinstance(traj.model, rnnprobe.CellAdapter) and traj.model.name == f"cell:{make.__name__}"
    assert traj.model.family == "custom" and (traj.model.input_size, traj.state_size) == (3, 4)
    start = h0 if with_h0 else torch.zeros(2, 4, dtype=F64)
    torch.testing.assert_close(traj.states, _run_cell(cell.double(), x, start), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(traj.step_jacobians(), _leaky_jacobian(cell, traj), rtol=1e-12, atol=1e-14)
    assert cell.W.dtype == F64                                   # .double() above; the adapter copied it anyway
    # a probe and an assertion take the bare cell as well (the assertion with h0 when it has no sizes)
    G = rnnprobe.jacobian_norms(traj)
    P = torch.linalg.matrix_norm(rnnprobe.jacobian_product(traj, 0, 7), ord=2)
    torch.testing.assert_close(G[:, 0], P, rtol=1e-10, atol=0)
    from rnnprobe.testing import assert_gradients_do_not_explode

    # G decays here: the max_norm criterion fired, not a growth (the headline says so)
    with pytest.raises(AssertionError, match=r"(?s)gradients exceed max_norm without growing \(criterion max_norm = "
                                             r"0.001\).*model: cell:" + make.__name__):
        assert_gradients_do_not_explode(cell, x, max_norm=1e-3, h0=h0)


@pytest.mark.parametrize("make", [lambda: nn.RNNCell(3, 4), lambda: nn.GRUCell(3, 4), lambda: nn.LSTMCell(3, 4)],
                         ids=["RNNCell", "GRUCell", "LSTMCell"])
def test_record_takes_torch_cells_without_an_adapter(make):
    torch.manual_seed(14)
    cell = make()
    tuple_state = isinstance(cell, nn.LSTMCell)
    x = torch.randn(5, 2, 3, dtype=F64, generator=torch.Generator().manual_seed(15))
    traj = rnnprobe.record(cell, x)
    assert traj.model.family == ("vanilla" if isinstance(cell, nn.RNNCell) else "gated")
    zero = torch.zeros(2, 4, dtype=F64)
    expected = _run_cell(cell.double(), x, (zero, zero) if tuple_state else zero, tuple_state)
    torch.testing.assert_close(traj.states, expected, rtol=1e-12, atol=1e-12)


def test_probes_of_a_sized_cell_read_its_attributes():
    cell = Sized()
    spec = rnnprobe.weight_spectrum(cell)
    assert spec.pascanu == "not applicable" and list(spec.blocks) == []      # no parameter named like W_hh
    mc = rnnprobe.memory_capacity(cell, max_lag=4, n_samples=300, washout=20, seed=0)
    assert 0 <= mc.total <= 4


@pytest.mark.parametrize("call, pattern", [
    (lambda: rnnprobe.record(Leaky(), torch.zeros(5, 3)),
     r"state size of cell-like module Leaky is unknown: it has no attribute 'hidden_size' and no h0 was given; "
     r"pass h0"),
    (lambda: rnnprobe.weight_spectrum(Leaky()), r"state size of cell-like module Leaky is unknown"),
    (lambda: rnnprobe.memory_capacity(Leaky()), r"state size of cell-like module Leaky is unknown"),
    (lambda: rnnprobe.models.cell_model(Leaky(), h0=torch.zeros(4)),
     r"input size of cell-like module Leaky is unknown: it has no attribute 'input_size' and no inputs were given"),
    (lambda: rnnprobe.record(nn.Linear(3, 4), torch.zeros(2, 3)),
     r"model must be .* cell-like torch.nn.Module called as cell\(x, h\) -> h; got Linear, whose forward takes 1 "
     r"positional argument"),
    (lambda: rnnprobe.record(lambda x, h: h, torch.zeros(2, 3)), r"model must be .*; got function"),
    (lambda: rnnprobe.record(Leaky(), torch.zeros(5, 3), torch.zeros(3)),
     r"cell:Leaky fails on its first step, called as cell\(x, h\) with x of shape \(1, 3\) and h of shape \(1, 3\) "
     r"\(input size 3, state size 3\): RuntimeError: mat1 and mat2"),
    (lambda: rnnprobe.record(Widening(), torch.zeros(5, 3), torch.zeros(2)),
     r"must return the next state, a tensor of shape \(B, 2\) \(state size 2\); got shape \(1, 4\)"),
    (lambda: rnnprobe.CellAdapter(nn.GRUCell(2, 3), family="gatd"),
     r"family must be one of 'vanilla', 'gated', .*'custom'; got 'gatd' \(did you mean 'gated'\?\)"),
    (lambda: rnnprobe.record(rnnprobe.CellAdapter(nn.LSTMCell(2, 3), tuple_state=False), torch.zeros(4, 2)),
     r"cell:LSTMCell fails on its first step.*h of shape \(1, 3\).*TypeError: .*must be tuple of Tensors"),
    (lambda: rnnprobe.record(TupleOut(), torch.zeros(4, 2), torch.zeros(3)),
     r"cell:TupleOut called as cell\(x, h\) must return the next state.*got a tuple \(a tuple state: pass "
     r"tuple_state=True\)"),
])
def test_bad_cell_like_modules_say_what_is_missing(call, pattern):
    with pytest.raises(InvalidArgument, match=pattern):
        call()


def test_cell_adapter_declares_a_family():
    assert rnnprobe.CellAdapter(Sized()).family == "custom"
    assert rnnprobe.CellAdapter(Sized(), family="vanilla").family == "vanilla"
    assert rnnprobe.CellAdapter(nn.LSTMCell(2, 3)).family == "gated"
    assert rnnprobe.adapt(nn.RNNCell(2, 3)).family == "vanilla"
    assert rnnprobe.adapt(_module("GRU", {})).family == "gated"
    assert rnnprobe.adapt(_module("RNN", {"nonlinearity": "relu"})).family == "vanilla"
