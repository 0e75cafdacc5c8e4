"""Step Jacobians of cells without a closed form: one vector-Jacobian product over a chunk of steps."""

import pytest
import torch
from torch import nn

import rnnprobe

F64 = torch.float64


class EulerRateCell(nn.Module):
    def __init__(self, n=5, dt=0.1):
        super().__init__()
        self.W = nn.Parameter(3.0 * torch.randn(n, n, generator=torch.Generator().manual_seed(0), dtype=F64) / n**0.5)
        self.dt, self.input_size, self.hidden_size = dt, 2, n

    def forward(self, x, h):
        return (1 - self.dt) * h + self.dt * torch.tanh(h) @ self.W.T + x.sum(-1, keepdim=True)


class BatchMixingCell(nn.Module):
    """Scales by a batch statistic: its rows are not independent."""

    def __init__(self):
        super().__init__()
        self.W = nn.Parameter(torch.tensor([[0.5, -1.0, 0.2], [0.3, 0.1, -0.7], [0.9, 0.4, 0.0]], dtype=F64))
        self.input_size, self.hidden_size = 1, 3

    def forward(self, x, h):
        a = torch.tanh(h @ self.W.T + x)
        return a * (a**2).mean(0, keepdim=True)


def _per_row(model, traj):
    """torch.autograd.functional.jacobian of each row's step, one row and one step at a time."""
    T, B, S = traj.length, traj.batch_size, traj.state_size
    out = torch.empty(T, B, S, S, dtype=F64)
    for t in range(T):
        for b in range(B):
            f = lambda s: model.step(traj.inputs[t, b : b + 1], s.unsqueeze(0), t).squeeze(0)  # noqa: E731
            out[t, b] = torch.autograd.functional.jacobian(f, traj.states[t, b])
    return out


@pytest.mark.parametrize("make, tuple_state", [
    (lambda: nn.RNNCell(2, 4), False), (lambda: nn.GRUCell(2, 4), False), (lambda: nn.LSTMCell(2, 3), True),
    (lambda: EulerRateCell(), False),
])
def test_chunked_jacobians_equal_per_row_autograd(make, tuple_state):
    torch.manual_seed(0)
    model = rnnprobe.CellAdapter(make())
    x = torch.randn(9, 3, 2, dtype=F64, generator=torch.Generator().manual_seed(1))
    traj = rnnprobe.record(model, x)
    J = traj.step_jacobians()                                   # one chunk: 9 steps x 3 rows at once
    torch.testing.assert_close(J, _per_row(model, traj), rtol=1e-12, atol=1e-13)
    xs, ss = traj.inputs.reshape(27, 2), traj.states[:-1].reshape(27, -1)
    torch.testing.assert_close(model.rowwise_autograd_jacobian(xs, ss), model.autograd_step_jacobian(xs, ss),
                               rtol=1e-12, atol=1e-13)


def test_a_step_that_mixes_rows_falls_back_to_its_step_jacobian():
    model = rnnprobe.CellAdapter(BatchMixingCell())
    x = torch.randn(4, 3, 1, dtype=F64, generator=torch.Generator().manual_seed(2))
    traj = rnnprobe.record(model, x)
    xs, ss = traj.inputs.reshape(12, 1), traj.states[:-1].reshape(12, 3)
    J = model.rowwise_autograd_jacobian(xs, ss)
    torch.testing.assert_close(J, model.autograd_step_jacobian(xs, ss), rtol=0, atol=0)     # row by row
    assert bool((J != 0).any())
    # the one-vjp shortcut would have been wrong here: the batch statistic ties the rows together
    _, vjp = torch.func.vjp(lambda s: model.step(xs, s), ss)
    shortcut = torch.stack([vjp(torch.eye(3, dtype=F64)[i].expand(12, 3))[0] for i in range(3)], 1)
    assert not torch.allclose(shortcut, J)
