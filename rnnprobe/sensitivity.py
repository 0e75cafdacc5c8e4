"""How sensitive the final hidden state is to one parameter: ``∂h_T/∂θ`` per sequence.

The quantity of the curse of memory (Zucchet & Orvieto 2024; :mod:`rnnprobe.theory.memory_curse`):
a recurrence can pass gradients through time without vanishing or exploding and
still have a final state whose derivative with respect to its recurrent parameter
is enormous. Reverse-mode differentiation along the unrolled steps (``torch.func.jacrev``
of the model's own :meth:`~rnnprobe.models.StepModel.step`, vmapped over the batch)
gives it for every sequence of a batch at once.

Examples
--------
>>> import torch, rnnprobe
>>> model = rnnprobe.build("vanilla-linear", hidden_size=1, input_size=1, seed=0)
>>> with torch.no_grad():
...     _ = model.W_h.fill_(0.5), model.W_x.fill_(1.0)
>>> x = torch.tensor([[1.0], [0.0], [0.0]], dtype=torch.float64)      # h_3 = λ² x_1: ∂h_3/∂λ = 2λ = 1
>>> rnnprobe.parameter_sensitivity(model, x, "W_h").flatten().tolist()
[1.0]
"""

from __future__ import annotations

import torch

from rnnprobe._validation import check_choice
from rnnprobe.trajectory import record

__all__ = ["parameter_sensitivity"]


def parameter_sensitivity(model, inputs: torch.Tensor, parameter: str, *, h0: torch.Tensor | None = None,
                          batch_first: bool | None = None) -> torch.Tensor:
    """``∂h_T/∂θ`` for one named parameter θ of the model, per sequence.

    Parameters
    ----------
    model : StepModel or torch recurrent module
        As for :func:`rnnprobe.record`.
    inputs : torch.Tensor
        ``(T, d)`` or ``(T, B, d)`` (as for :func:`rnnprobe.record`).
    parameter : str
        A name from ``model.named_parameters()`` (e.g. ``'W_h'``, ``'nu_log'``).
    h0, batch_first
        As for :func:`rnnprobe.record`.

    Returns
    -------
    torch.Tensor
        ``(n, *θ.shape)`` (or ``(B, n, *θ.shape)`` for batched inputs): the derivative of
        every entry of the final hidden vector h_T with respect to every entry of θ.

    Raises
    ------
    InvalidArgument
        For an unknown parameter name, and whatever :func:`rnnprobe.record` rejects.
    """
    traj = record(model, inputs, h0, batch_first=batch_first)     # validates, and prepares the inputs
    model = traj.model
    params = dict(model.named_parameters())
    check_choice("parameter", parameter, params)
    theta = params[parameter].detach()

    unrolled = _Unrolled(model)

    def final_hidden(value: torch.Tensor, xs: torch.Tensor, s0: torch.Tensor) -> torch.Tensor:
        # one reparametrisation for the whole unrolled pass (functional_call per step costs far more)
        return torch.func.functional_call(unrolled, {f"model.{parameter}": value}, (xs, s0))

    # reverse mode per sequence (vmapped over the batch): one backward sweep per entry of h_T
    per_sequence = torch.func.vmap(torch.func.jacrev(final_hidden), in_dims=(None, 1, 0))
    return traj.unbatch(per_sequence(theta, traj.inputs, traj.states[0]).detach())


class _Unrolled(torch.nn.Module):
    """The model's steps over one sequence, as one module call: ``(xs (T, d), s0 (S,)) -> h_T (n,)``."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, xs: torch.Tensor, s0: torch.Tensor) -> torch.Tensor:
        state = s0.unsqueeze(0)
        for t in range(xs.shape[0]):
            state = self.model.step(xs[t].unsqueeze(0), state, t)
        return self.model.hidden(state).squeeze(0)
