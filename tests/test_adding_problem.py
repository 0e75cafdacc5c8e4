"""Issue 18's scenario at small size: a user's nn.RNN and nn.LSTM (batch_first) trained on the adding problem.

The RNN stays at the trivial baseline (MSE 1/6), the LSTM learns (T = 30, hidden 16, 500 Adam steps); then,
as a user would: the task loss through the hook (no copies, no counters), the diagnosis of the untrained RNN
(its weights, ρ(W_h)), ``probe --inputs`` on the task's inputs, and ``plot_lags`` of both models.
"""

import copy
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

import rnnprobe
from rnnprobe.cli import main
from rnnprobe.studies._runner import single_thread

T, HIDDEN, BATCH = 30, 16, 64
F64 = torch.float64


def adding_batch(batch: int, generator: torch.Generator):
    """Inputs (B, T, 2): a value in [0, 1) and a marker, set at one step of each half; target: the sum of the two."""
    values = torch.rand(batch, T, generator=generator)
    first = torch.randint(0, T // 2, (batch,), generator=generator)
    second = torch.randint(T // 2, T, (batch,), generator=generator)
    marks = torch.zeros(batch, T)
    marks[torch.arange(batch), first] = 1.0
    marks[torch.arange(batch), second] = 1.0
    return torch.stack([values, marks], -1), (values * marks).sum(1)


class Net(nn.Module):
    def __init__(self, kind: str):
        super().__init__()
        self.rnn = getattr(nn, kind)(2, HIDDEN, batch_first=True)
        self.head = nn.Linear(HIDDEN, 1)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1]).squeeze(-1)


def train(kind: str, steps: int) -> tuple[Net, Net]:
    """(untrained, trained) copies of one seeded net."""
    torch.manual_seed(0)
    net = Net(kind)
    untrained = copy.deepcopy(net)
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    gen = torch.Generator().manual_seed(1)
    with single_thread():     # small nets train fastest, and reproducibly, on one thread
        for _ in range(steps):
            x, y = adding_batch(BATCH, gen)
            loss = ((net(x) - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return untrained, net


@pytest.fixture(scope="module")
def nets():
    untrained_rnn, rnn = train("RNN", 200)
    _, lstm = train("LSTM", 500)
    return untrained_rnn, rnn, lstm


@pytest.fixture(scope="module")
def task():
    return adding_batch(16, torch.Generator().manual_seed(7))


def test_the_lstm_learns_the_task_and_the_rnn_does_not(nets):
    _, rnn, lstm = nets
    x, y = adding_batch(512, torch.Generator().manual_seed(99))
    with torch.no_grad():
        mse_rnn, mse_lstm = float(((rnn(x) - y) ** 2).mean()), float(((lstm(x) - y) ** 2).mean())
    assert mse_rnn > 0.12                # the trivial baseline (predict 1) has MSE 1/6
    assert mse_lstm < 0.02


def unrolled_state_gradients(net: Net, x, y):
    """‖∂L_b/∂s_t‖ ``(B, T)`` from a float64 copy of the user's net stepped one step at a time (state h, or
    [h; c] as one leaf per step: the state of G), with the training loss (head(h_T) − y)²."""
    net = copy.deepcopy(net).double()
    n, lstm = HIDDEN, isinstance(net.rnn, nn.LSTM)
    s = torch.zeros(x.shape[0], 2 * n if lstm else n, dtype=F64, requires_grad=True)
    states = [s]
    for t in range(T):
        if lstm:
            _, (h, c) = net.rnn(x[:, t : t + 1].double(), (s[None, :, :n].contiguous(), s[None, :, n:].contiguous()))
            s = torch.cat([h[0], c[0]], -1)
        else:
            _, h = net.rnn(x[:, t : t + 1].double(), s[None].contiguous())
            s = h[0]
        states.append(s)
    L = ((net.head(s[:, :n]).squeeze(-1) - y.double()) ** 2).sum()
    return torch.stack([g.norm(dim=-1) for g in torch.autograd.grad(L, states[:-1])], 1)


@pytest.mark.parametrize("which", ["rnn", "lstm"])
def test_the_task_loss_goes_through_the_hook_as_written_for_training(nets, task, which):
    net = nets[1] if which == "rnn" else nets[2]
    x, y = task
    losses = []

    def batch_loss(h):                   # the training loss, per sequence: the float32 head, the batch's targets
        out = (net.head(h).squeeze(-1) - y) ** 2
        losses.append(out.detach())
        return out

    g = rnnprobe.gradient_norms(rnnprobe.record(net.rnn, x), batch_loss=batch_loss)
    with torch.no_grad():
        torch.testing.assert_close(losses[0], (net(x) - y) ** 2, rtol=1e-5, atol=1e-7)   # row b is sequence b
    torch.testing.assert_close(g, unrolled_state_gradients(net, x, y), rtol=1e-5, atol=0)


def test_diagnose_puts_the_untrained_rnns_decay_on_its_weights(nets, task):
    untrained_rnn = nets[0].rnn
    d = rnnprobe.diagnose(untrained_rnn, task[0])
    rho = float(torch.linalg.eigvals(untrained_rnn.weight_hh_l0.detach().double()).abs().max())
    assert d.dominant == "weights" and d.share > 0.75
    assert d.spectral_radius == pytest.approx(rho, rel=1e-9) and rho < 0.8
    assert f"ρ(W_h) = {rho:.3g}" in d.cause and f"ρ(W_h) = {rho:.3g}" in str(d)
    assert d.derivative_mean > 0.85 and d.saturated_fraction < 0.01          # not the units


def test_probe_inputs_gives_the_numbers_of_the_task_inputs(nets, task, tmp_path):
    lstm = nets[2].rnn
    x = task[0]
    torch.save({"spec": {"module": "LSTM", "kwargs": {"input_size": 2, "hidden_size": HIDDEN, "batch_first": True}},
                "state_dict": lstm.state_dict()}, tmp_path / "lstm.pt")
    torch.save(x, tmp_path / "X.pt")
    np.save(tmp_path / "X.npy", x.transpose(0, 1).numpy())                 # time-major
    torch.save({"spec": {"module": "LSTM", "kwargs": {"input_size": 2, "hidden_size": HIDDEN}},
                "state_dict": lstm.state_dict()}, tmp_path / "lstm-time-major.pt")
    runner = CliRunner()

    def probe(*args):
        result = runner.invoke(main, ["probe", *map(str, args), "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    ours = probe("--model", tmp_path / "lstm.pt", "--inputs", tmp_path / "X.pt")
    expected = rnnprobe.diagnose(lstm, x)                                   # the same, from Python
    assert ours["batch_size"] == 16 and ours["length"] == T
    assert [row["memory_efold"] for row in ours["per_sequence"]] == [
        m.efold if np.isfinite(m.efold) else "inf" for m in expected.memory]
    assert ours["decay_rate"] == expected.rate and ours["cause"] == expected.cause
    # the same inputs, time-major in a .npy file for a time-major module; batch-first given on the command line
    assert probe("--model", tmp_path / "lstm-time-major.pt", "--inputs", tmp_path / "X.npy")["decay_rate"] == \
        pytest.approx(expected.rate, rel=1e-12)
    assert probe("--model", tmp_path / "lstm-time-major.pt", "--inputs", tmp_path / "X.pt",
                 "--batch-first")["decay_rate"] == pytest.approx(expected.rate, rel=1e-12)
    # N(0, 1) inputs (the marker channel always on) close the trained forget gates: memory far shorter
    gaussian = probe("--model", tmp_path / "lstm.pt", "--length", T)
    assert ours["memory_efold"] == "inf" or ours["memory_efold"] > 5 * gaussian["memory_efold"]
    assert gaussian["decay_rate"] < 5 * ours["decay_rate"] < 0


def test_plot_lags_draws_both_models(nets, task):
    from rnnprobe.reports import plot_lags

    _, rnn, lstm = nets
    x, y = task
    trajs = {"rnn": rnnprobe.record(rnn.rnn, x), "lstm": rnnprobe.record(lstm.rnn, x)}
    ax = plot_lags(trajs)
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["rnn (s = h)", "lstm (s = [h; c])"]
    assert lines[0].get_color() != lines[1].get_color()
    assert ax.get_ylabel() == "G(k) = ‖∂s_T/∂s_(T−k)‖₂, s as in the legend"
    for line, traj in zip(lines, trajs.values()):                           # the median over the 16 sequences
        median = np.exp(np.median(rnnprobe.jacobian_norms(traj, log=True).flip(-1).numpy(), axis=0))
        np.testing.assert_allclose(line.get_ydata(), median, rtol=1e-12)
        np.testing.assert_array_equal(line.get_xdata(), np.arange(1, T + 1))
    # each model's own training loss, per label
    losses = {name: (lambda h, net=net: (net.head(h).squeeze(-1) - y) ** 2) for name, net in (("rnn", rnn), ("lstm", lstm))}
    ax = plot_lags(trajs, quantity="gradient_norm", batch_loss=losses)
    assert ax.get_ylabel() == "g(k) = ‖∂L/∂s_(T−k)‖, s as in the legend"
    g = np.median(rnnprobe.gradient_norms(trajs["lstm"], batch_loss=losses["lstm"], log=True).flip(-1).numpy(), axis=0)
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), np.exp(g), rtol=1e-12)
