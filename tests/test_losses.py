"""The loss hooks: per-sequence losses of the batch (batch_loss), losses over every step (loss_over_steps),
called in the user's module's dtype, in batch order, against autograd through the unrolled model."""

import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import rnnprobe
from rnnprobe import strategies as rs
from rnnprobe import testing as rt
from rnnprobe.errors import InvalidArgument
from rnnprobe.losses import loss_gradient

F64 = torch.float64


# --------------------------------------------------------------------------- references
def unrolled_state_gradients(traj, total_loss):
    """‖∂L/∂s_t‖ ``(B, T)`` for t = 0..T-1: unroll model.step with autograd (not rnnprobe's sweep) from leaves s_t.

    ``total_loss(H)`` gets the hidden states ``(T, B, n)`` of steps 1..T, and returns one scalar.
    """
    model = traj.model
    s = traj.states[0].clone().requires_grad_(True)
    states = [s]
    for t in range(traj.length):
        s = model.step(traj.inputs[t], s, t)
        states.append(s)
    H = torch.stack([model.hidden(q) for q in states[1:]])
    grads = torch.autograd.grad(total_loss(H), states[:-1], allow_unused=True)
    return torch.stack([torch.zeros(traj.batch_size, dtype=F64) if g is None else g.norm(dim=-1) for g in grads], 1)


def torch_unrolled_gradients(lstm: nn.LSTM, head: nn.Linear, x, y, *, every_step: bool):
    """The same from the user's own modules: a float64 copy of the LSTM run one step at a time (state [h; c] as
    one leaf per step, the convention of G), the float64 copy of the head, the squared error."""
    lstm, head = copy.deepcopy(lstm).double(), copy.deepcopy(head).double()
    lstm.batch_first = True                                                  # x is (B, T, d) here
    B, T, _ = x.shape
    n = lstm.hidden_size
    s = torch.zeros(B, 2 * n, dtype=F64, requires_grad=True)
    states = [s]
    for t in range(T):
        _, (h, c) = lstm(x[:, t : t + 1].double(), (s[:, :n].unsqueeze(0).contiguous(), s[:, n:].unsqueeze(0).contiguous()))
        s = torch.cat([h[0], c[0]], -1)
        states.append(s)
    H = torch.stack([q[:, :n] for q in states[1:]], 1)                       # (B, T, n)
    pred = head(H).squeeze(-1)                                               # (B, T)
    L = ((pred - y.double()[:, None]) ** 2).sum() if every_step else ((pred[:, -1] - y.double()) ** 2).sum()
    grads = torch.autograd.grad(L, states[:-1])
    return torch.stack([g.norm(dim=-1) for g in grads], 1)


@pytest.fixture(scope="module")
def user_lstm():
    """A user's float32 batch-first LSTM, its float32 head, a batch and its targets."""
    torch.manual_seed(0)
    lstm, head = nn.LSTM(2, 6, batch_first=True), nn.Linear(6, 1)
    x = torch.randn(5, 12, 2, generator=torch.Generator().manual_seed(1))
    y = torch.randn(5, generator=torch.Generator().manual_seed(2))
    return lstm, head, x, y


# --------------------------------------------------------------------------- the training loss as it is
def test_batch_loss_is_the_training_loss_with_a_float32_head(user_lstm):
    lstm, head, x, y = user_lstm
    traj = rnnprobe.record(lstm, x)                                # float64 copy of the float32 module
    seen = {}

    def batch_loss(h):                                            # what a training loop writes: no copy, no counter
        seen["dtype"], seen["shape"] = h.dtype, tuple(h.shape)
        return (head(h).squeeze(-1) - y) ** 2

    g = rnnprobe.gradient_norms(traj, batch_loss=batch_loss)
    assert seen == {"dtype": torch.float32, "shape": (5, 6)}      # the module's dtype and (B, n)
    reference = torch_unrolled_gradients(lstm, head, x, y, every_step=False)
    # the loss's gradient is evaluated in float32 (the head's), the sweep in float64
    torch.testing.assert_close(g, reference, rtol=1e-5, atol=0)


def test_batch_loss_rows_are_the_sequences_of_the_inputs_in_order(user_lstm):
    lstm, head, x, y = user_lstm
    traj = rnnprobe.record(lstm, x)
    g = rnnprobe.gradient_norms(traj, batch_loss=lambda h: (head(h).squeeze(-1) - y) ** 2)
    # sequence b alone, with its own target, through the per-sequence form
    for b in range(x.shape[0]):
        alone = rnnprobe.gradient_norms(rnnprobe.record(lstm, x[b : b + 1]),
                                        loss=lambda h, b=b: ((head(h) - y[b]) ** 2).sum())
        torch.testing.assert_close(g[b], alone[0], rtol=1e-12, atol=0)
    # a permuted batch with permuted targets permutes the rows
    perm = torch.tensor([3, 0, 4, 1, 2])
    g_perm = rnnprobe.gradient_norms(rnnprobe.record(lstm, x[perm]),
                                     batch_loss=lambda h: (head(h).squeeze(-1) - y[perm]) ** 2)
    torch.testing.assert_close(g_perm, g[perm], rtol=1e-12, atol=0)


@pytest.mark.parametrize("batch_first", [True, False])
def test_loss_over_steps_gets_the_hidden_states_as_the_module_returns_them(user_lstm, batch_first):
    lstm, head, x, y = user_lstm
    if not batch_first:
        lstm = copy.deepcopy(lstm)
        lstm.batch_first = False
    traj = rnnprobe.record(lstm, x if batch_first else x.transpose(0, 1))
    shapes = []

    def every_step(out):                                          # Σ_t (head(h_t) − y)², per sequence
        shapes.append(tuple(out.shape))
        pred = head(out).squeeze(-1)                              # (B, T) or (T, B)
        err = (pred - y[:, None]) ** 2 if batch_first else (pred - y[None, :]) ** 2
        return err.sum(1 if batch_first else 0)

    g = rnnprobe.gradient_norms(traj, loss_over_steps=every_step)
    assert shapes == [(5, 12, 6) if batch_first else (12, 5, 6)]
    torch.testing.assert_close(g, torch_unrolled_gradients(lstm, head, x, y, every_step=True), rtol=1e-5, atol=0)


@settings(max_examples=20, deadline=None)
@given(traj=rs.trajectories(rs.models(max_hidden=4, min_gain=0.3, max_gain=2.5), min_length=1, max_length=15, batch=2),
       scale=st.sampled_from([1e-3, 1.0, 1e3]))
def test_loss_over_steps_matches_autograd_on_drawn_models(traj, scale):
    """Every architecture (LSTMs see h only), losses of every magnitude: the carried-and-added sweep is autograd's."""
    n = traj.model.hidden_size
    u = torch.linspace(-1.0, 2.0, n, dtype=F64) * scale

    def per_sequence(out):                                        # (T, B, n) -> (B,)
        return (torch.tanh(out) @ u).sum(0) + 0.5 * (out ** 2).sum((0, 2))

    g = rnnprobe.gradient_norms(traj, loss_over_steps=per_sequence)
    ref = unrolled_state_gradients(traj, lambda H: per_sequence(H).sum())
    torch.testing.assert_close(g, ref, rtol=1e-9, atol=1e-300)


def test_lstm_losses_see_h_and_the_gradient_is_on_h_and_c():
    lstm = rnnprobe.build("lstm", hidden_size=4, seed=0)
    traj = rnnprobe.record(lstm, torch.randn(20, 3, 1, generator=torch.Generator().manual_seed(0)))
    seen = []
    lg = loss_gradient(traj, batch_loss=lambda h: seen.append(h.shape) or (h ** 2).sum(-1))
    assert seen == [torch.Size([3, 4])]                          # h, not [h; c]
    assert bool((lg.final[:, 4:] == 0).all())                     # ∂L/∂s_T = [∂L/∂h_T; 0]
    torch.testing.assert_close(lg.final[:, :4], 2 * traj.states[-1, :, :4])
    # g(t) = ‖[∂L/∂h_t; ∂L/∂c_t]‖ <= ‖∂L/∂h_T‖·G(t)
    g = rnnprobe.gradient_norms(traj, batch_loss=lambda h: (h ** 2).sum(-1))
    G = rnnprobe.jacobian_norms(traj)
    assert bool((g <= lg.final.norm(dim=-1)[:, None] * G * (1 + 1e-12)).all())


# --------------------------------------------------------------------------- dtypes
def test_a_float64_closure_on_a_float32_module_falls_back_to_float64():
    torch.manual_seed(0)
    gru = nn.GRU(2, 3)
    u = torch.tensor([1.0, -2.0, 0.5], dtype=F64)                  # the loss is float64 only
    traj = rnnprobe.record(gru, torch.randn(8, 2))
    seen = []
    g = rnnprobe.gradient_norms(traj, loss=lambda h: seen.append(h.dtype) or h @ u)
    assert seen == [torch.float32, torch.float64]                 # the module's dtype first, then the probes'
    torch.testing.assert_close(g, unrolled_state_gradients(traj, lambda H: (H[-1] @ u).sum())[0], rtol=1e-12, atol=0)


def test_states_beyond_the_modules_dtype_go_to_the_loss_in_float64():
    rnn = nn.RNN(1, 2, nonlinearity="relu", bias=False)
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(torch.eye(2) * 1e10)             # the float64 copy's states reach 1e40 > float32's max
        rnn.weight_ih_l0.fill_(1.0)
    traj = rnnprobe.record(rnn, torch.ones(5, 1))
    assert float(traj.states[-1].max()) > 1e39
    seen = []
    g = rnnprobe.gradient_norms(traj, loss=lambda h: seen.append(h.dtype) or h.sum(), log=True)
    assert seen == [torch.float64] and bool(torch.isfinite(g).all())


def test_a_loss_module_is_called_in_its_own_dtype():
    head = nn.Linear(4, 1).to(torch.float32)
    traj = rnnprobe.record(rnnprobe.build("gru", 4, seed=0), torch.randn(6, 2, 1, dtype=F64))   # a float64 model
    g = rnnprobe.gradient_norms(traj, batch_loss=nn.Sequential(head, nn.Flatten(0)))
    ref = unrolled_state_gradients(traj, lambda H: copy.deepcopy(head).double()(H[-1]).sum())
    torch.testing.assert_close(g, ref, rtol=1e-5, atol=0)


def test_a_loss_that_takes_no_dtype_says_which_it_tried():
    torch.manual_seed(0)
    traj = rnnprobe.record(nn.RNN(1, 3), torch.randn(5, 1))
    bad = nn.Linear(3, 1).to(torch.float16)

    with pytest.raises(InvalidArgument, match=r"batch_loss failed on h_T of shape \(1, 3\) \(dtype tried: float32 and "
                                              r"float64\): float32: RuntimeError: .*float64: RuntimeError: .*"
                                              r"the loss must take your module's states in that dtype"):
        rnnprobe.gradient_norms(traj, batch_loss=lambda h: bad(h)[:, 0])


# --------------------------------------------------------------------------- the assertions take them too
def test_assertions_take_batch_loss_as_the_per_sequence_loss():
    model = rnnprobe.build("vanilla-linear", hidden_size=4, init="orthogonal", gain=0.5, seed=0)
    x = torch.zeros(30, 3, 1, dtype=F64)
    w = torch.tensor([3.0, -1.0, 2.0], dtype=F64)                  # per-sequence weights: the batch order matters
    rt.assert_gradients_vanish(model, x, within=7, batch_loss=lambda h: w * h[:, 0])
    with pytest.raises(AssertionError) as info:
        rt.assert_gradients_vanish(model, x, within=6, batch_loss=lambda h: w * h[:, 0])
    # ĝ(k) = ‖∂L/∂s_{T−k}‖ / ‖∂L/∂s_T‖ = 0.5^k, whatever the weight
    assert str(info.value).startswith("gradients do not vanish within 6 steps (criterion within): ĝ(k) = 0.0156")
    # a term at every step: zero inputs keep h = 0, so ∂L/∂s_{T−k} = w_b Σ_{j <= k} e_0ᵀ W_h^j for k < T, and
    # w_b Σ_{1 <= j <= T} e_0ᵀ W_h^j at s_0 (which has no term of its own)
    W = model.W_h.detach()
    rows = torch.stack([torch.linalg.matrix_power(W, j)[0] for j in range(31)])      # e_0ᵀ W^j, j = 0 … 30
    expected = torch.stack([rows[: k + 1].sum(0).norm() for k in range(1, 30)] + [rows[1:].sum(0).norm()])
    every_step = lambda out: (out[..., 0] * w).sum(0)             # noqa: E731
    g = rnnprobe.gradient_norms(rnnprobe.record(model, x), loss_over_steps=every_step)
    torch.testing.assert_close(g / w.abs()[:, None], expected.flip(0).expand(3, 30), rtol=1e-12, atol=0)
    top, lag = float(expected.max()), int(expected.argmax()) + 1  # ĝ(k) = g(T − k) / ‖∂L/∂s_T‖, ‖∂L/∂s_T‖ = |w_b|
    rt.assert_gradients_do_not_explode(model, x, max_norm=top * 1.001, loss_over_steps=every_step)
    with pytest.raises(AssertionError) as info:
        rt.assert_gradients_do_not_explode(model, x, max_norm=top * 0.999, loss_over_steps=every_step)
    message = str(info.value)
    assert message.startswith(f"gradients exceed max_norm without growing (criterion max_norm = {top * 0.999:.3g}): "
                              f"ĝ(k) = {top:.3g} > max_norm at lag k = {lag}")
    assert "ĝ(k) = ‖∂L/∂s_{T−k}‖ / ‖∂L/∂s_T‖ (L = Σ_t ℓ_t over every step) at lags" in message
    assert "hint: a loss with a term at every step adds the gradients of every later step" in message
    rt.assert_bound_holds(model, x, batch_loss=lambda h: w * h[:, 0])
