"""Record the states of one forward pass: the trajectory every probe reads.

Examples
--------
>>> import torch, rnnprobe
>>> model = rnnprobe.build("vanilla-tanh", hidden_size=4, seed=0)
>>> traj = rnnprobe.record(model, torch.zeros(10, 1))
>>> traj.length, traj.states.shape
(10, torch.Size([11, 1, 4]))
>>> traj.lags[:3].tolist()
[10, 9, 8]
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from rnnprobe._validation import check_finite_tensor, check_int
from rnnprobe.errors import InvalidArgument
from rnnprobe.models.adapters import CellAdapter, adapt, cell_model, is_adaptable
from rnnprobe.models.base import StepModel

__all__ = ["Trajectory", "record", "as_model", "check_jacobians_finite"]


@dataclass(frozen=True, eq=False)
class Trajectory:
    """The states ``s_0 … s_T`` of one forward pass (time steps or layers).

    Attributes
    ----------
    model : StepModel
        The chain that produced it.
    inputs : torch.Tensor
        Per-step inputs ``(T, B, d)`` (``d = 0`` for feed-forward stacks).
    states : torch.Tensor
        ``(T + 1, B, S)``: ``states[t]`` is s_t; ``states[0]`` the initial state.
    batched : bool
        Whether the user passed a batch dimension; probes drop it when not.
    batch_first : bool
        Whether the user's batched inputs were ``(B, T, d)`` (a loss over every step,
        ``loss_over_steps=``, then receives the hidden states as ``(B, T, n)``).
    """

    model: StepModel
    inputs: torch.Tensor
    states: torch.Tensor
    batched: bool
    batch_first: bool = False

    def __post_init__(self):
        if not isinstance(self.model, StepModel):
            raise InvalidArgument(f"model must be an rnnprobe StepModel; got {type(self.model).__name__}")
        for name in ("inputs", "states"):
            value = getattr(self, name)
            if not isinstance(value, torch.Tensor) or value.ndim != 3:
                raise InvalidArgument(f"{name} must be a 3-d tensor; got "
                                      f"{tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__}")
        T, B = self.inputs.shape[:2]
        S = self.model.state_size
        if tuple(self.states.shape) != (T + 1, B, S):
            raise InvalidArgument(
                f"states must have shape (T + 1, B, state_size) = {(T + 1, B, S)} for inputs of shape "
                f"{tuple(self.inputs.shape)} and model {self.model.name!r}; got {tuple(self.states.shape)}")
        if self.states.dtype != self.model.dtype:
            raise InvalidArgument(f"states must have the model's dtype {self.model.dtype}; got {self.states.dtype}")

    def check_consistent(self) -> None:
        """Raise InvalidArgument unless the model reproduces the recorded states.

        Steps 0 and T−1 are recomputed (two steps, whatever T): a trajectory
        paired with another model of the same size, or whose model's weights
        changed after recording, would make every probe silently wrong.
        """
        T = self.length
        scale = torch.finfo(self.dtype).eps * 1e3
        with torch.no_grad():
            for t in sorted({0, T - 1}):
                again = self.model.step(self.inputs[t], self.states[t], t)
                want = self.states[t + 1]
                if not isinstance(again, torch.Tensor) or again.shape != want.shape or not bool(
                        ((again - want).abs() <= scale * (1 + want.abs())).all()):
                    raise InvalidArgument(
                        f"traj must be recorded by its own model: {self.model.name!r} does not reproduce the "
                        f"recorded state s_{t + 1} from s_{t} (a Trajectory paired with another model, a model "
                        "changed after recording, or a step that is not deterministic, e.g. dropout in training "
                        "mode?); record the trajectory again with rnnprobe.record(model, inputs)")

    @property
    def length(self) -> int:
        """T, the number of steps."""
        return self.inputs.shape[0]

    @property
    def batch_size(self) -> int:
        return self.states.shape[1]

    @property
    def state_size(self) -> int:
        return self.states.shape[2]

    @property
    def dtype(self) -> torch.dtype:
        return self.states.dtype

    @property
    def device(self) -> torch.device:
        return self.states.device

    @property
    def lags(self) -> torch.Tensor:
        """Lag ``k = T − t`` of every start step ``t = 0 … T−1``."""
        return torch.arange(self.length, 0, -1)

    def hidden_states(self) -> torch.Tensor:
        """Hidden vectors ``(T + 1, B, n)`` (or ``(T + 1, n)`` unbatched)."""
        h = self.model.hidden(self.states)
        return h if self.batched else h[:, 0]

    def step_jacobians(self, start: int = 0, stop: int | None = None, *, check: bool = False) -> torch.Tensor:
        """Step Jacobians ``J_t = ∂s_{t+1}/∂s_t`` for ``start <= t < stop``: ``(C, B, S, S)``.

        With ``check``, raise InvalidArgument if one has NaN/Inf entries (a
        derivative that is not finite at a recorded state) instead of returning it.
        """
        stop = self.length if stop is None else stop
        with torch.no_grad():
            J = self.model.jacobians(self.inputs[start:stop], self.states[start:stop], start)
        if check:
            check_jacobians_finite(self.model, J, start)
        return J

    def iter_jacobians(self, chunk_size: int, *, reverse: bool = False,
                       check: bool = True) -> Iterator[tuple[int, torch.Tensor]]:
        """Yield ``(start, J[start:start+C])`` chunks, last chunk first when ``reverse``.

        With ``check`` (default) each chunk is checked finite (see :meth:`step_jacobians`).
        """
        starts = list(range(0, self.length, chunk_size))
        for start in reversed(starts) if reverse else starts:
            yield start, self.step_jacobians(start, min(start + chunk_size, self.length), check=check)

    def unbatch(self, values: torch.Tensor) -> torch.Tensor:
        """Drop the leading batch dimension of a per-sequence result when unbatched."""
        return values if self.batched else values[0]


def check_jacobians_finite(model: StepModel, J: torch.Tensor, start: int) -> None:
    """Raise InvalidArgument if step Jacobians ``(C, B, S, S)`` from step ``start`` have NaN/Inf entries."""
    finite = torch.isfinite(J).flatten(2).all(-1)                    # (C, B)
    if bool(finite.all()):
        return
    c, b = (int(i) for i in (~finite).nonzero()[0])
    raise InvalidArgument(
        f"model {model.name!r} has a step Jacobian with NaN/Inf entries at step t = {start + c}"
        + (f" (sequence {b})" if J.shape[1] > 1 else "")
        + ": its derivative is not finite at the recorded state (e.g. sqrt or abs at 0, or an overflow inside the "
        "step); probes cannot use it")


def as_model(model, *, inputs: torch.Tensor | None = None, h0: torch.Tensor | None = None) -> StepModel:
    """Accept an rnnprobe model, or adapt a torch module on the fly.

    ``torch.nn.RNN``/``GRU``/``LSTM`` and their cells go through
    :func:`rnnprobe.adapt` (layer 0, float64); any other ``torch.nn.Module``
    called as ``cell(x, h)`` through :func:`rnnprobe.models.cell_model`, its sizes
    read from its ``input_size``/``hidden_size`` attributes, else from ``inputs``
    and ``h0`` (the error names what is missing).
    """
    if isinstance(model, StepModel):
        return model
    if is_adaptable(model):
        return adapt(model)
    return cell_model(model, inputs=inputs, h0=h0)


def check_model_finite(model: StepModel) -> None:
    """Raise InvalidArgument if any parameter of ``model`` has NaN/Inf entries."""
    for name, p in model.named_parameters():
        if not bool(torch.isfinite(p).all()):
            bad = int((~torch.isfinite(p)).sum())
            raise InvalidArgument(f"model parameter {name!r} must be finite; got {bad} NaN/Inf entries")


def record(model, inputs: torch.Tensor, h0: torch.Tensor | None = None, *,
           batch_first: bool | None = None) -> Trajectory:
    """Run one forward pass and keep every state.

    Parameters
    ----------
    model : StepModel, torch.nn.RNN/GRU/LSTM/cell, or a cell-like torch.nn.Module
        The chain to run. Torch recurrent modules and cells are adapted with
        :func:`rnnprobe.adapt` (layer 0, float64); any other module called as
        ``cell(x, h) -> h`` is wrapped in a :class:`rnnprobe.CellAdapter`, its
        sizes read from its ``input_size``/``hidden_size`` attributes, else from
        ``inputs`` and ``h0``.
    inputs : torch.Tensor
        Recurrent nets: the sequence, ``(T, d)`` or batched ``(T, B, d)``
        (time-major; ``(B, T, d)`` when ``batch_first``), T >= 1. Feed-forward
        stacks: the network input, ``(width,)`` or ``(B, width)``.
    h0 : torch.Tensor, optional
        Initial state ``(S,)`` or ``(B, S)`` (S = ``model.state_size``; for an
        LSTM ``[h; c]``); zeros by default. Feed-forward stacks take their
        initial state from ``inputs``.
    batch_first : bool, optional
        Whether batched inputs are ``(B, T, d)``. Default: the model's own
        ``batch_first`` (a torch module built with ``batch_first=True`` takes
        what it takes itself); False for everything else. The trajectory is
        time-major either way (``states`` is ``(T + 1, B, S)``).

    Returns
    -------
    Trajectory

    Raises
    ------
    InvalidArgument
        For wrong shapes, an empty sequence, NaN/Inf in the inputs, the
        initial state or the model's parameters, or a forward pass that
        overflows to NaN/Inf states.
    """
    if not isinstance(inputs, torch.Tensor):
        raise InvalidArgument(f"inputs must be a torch.Tensor; got {type(inputs).__name__}")
    model = as_model(model, inputs=inputs, h0=h0)
    check_model_finite(model)
    if batch_first is None:
        batch_first = bool(getattr(model, "batch_first", False))
    elif not isinstance(batch_first, bool):
        raise InvalidArgument(f"batch_first must be True, False or None (the model's own); got {batch_first!r}")
    dtype, device = model.dtype, model.device
    if inputs.is_complex():
        raise InvalidArgument(f"inputs must be real (rnnprobe's chains are real maps); got dtype {inputs.dtype} "
                              "(pass inputs.real, or split real and imaginary parts into features)")
    if not inputs.is_floating_point():
        inputs = inputs.to(dtype)
    check_finite_tensor("inputs", inputs)
    inputs = inputs.to(dtype=dtype, device=device)
    if model.kind == "feedforward":
        if batch_first:
            raise InvalidArgument(f"batch_first must be False or None for feed-forward stack {model.name!r} (its "
                                  f"input is one vector per sequence, (width,) or (B, width)); got {batch_first!r}")
        return _record_stack(model, inputs, h0)

    layout = "(B, T, d)" if batch_first else "(T, B, d)"
    if inputs.ndim not in (2, 3):
        raise InvalidArgument(
            f"inputs must have shape (T, d) or {layout} with d = input_size = {model.input_size}; "
            f"got shape {tuple(inputs.shape)}"
        )
    batched = inputs.ndim == 3
    seq = (inputs.transpose(0, 1) if batch_first else inputs) if batched else inputs.unsqueeze(1)
    if seq.shape[0] == 0:
        raise InvalidArgument(f"inputs must hold at least one time step (T >= 1); got shape {tuple(inputs.shape)}")
    seq = model.prepare_inputs(seq)
    if seq.shape[-1] != model.input_size:
        raise InvalidArgument(
            f"inputs must have last dimension input_size = {model.input_size} for {model.name!r}; "
            f"got shape {tuple(inputs.shape)}"
            + ((" (batched inputs are batch-first, (B, T, d): batch_first=True)" if batch_first else
                " (batched inputs are time-major, (T, B, d); (B, T, d) with batch_first=True)") if batched else "")
        )
    B = seq.shape[1]
    if B == 0:
        raise InvalidArgument(f"inputs must hold at least one sequence (batch size B >= 1); got shape {tuple(inputs.shape)}")
    state = _initial_state(model, h0, B, batched)
    states = [state]
    with torch.no_grad():
        scanned = model.scan(seq, state)        # the whole pass at once, where a model can (diagonal recurrences)
        if scanned is not None:
            return Trajectory(model, seq, _check_states_finite(model, torch.cat([state[None], scanned])), batched)
        if isinstance(model, CellAdapter):      # a user's cell: say what it was called with if it fails
            state = _check_step(model, _first_cell_step(model, seq[0], state), B, 0)
            states.append(state)
        for t in range(len(states) - 1, seq.shape[0]):
            state = _check_step(model, model.step(seq[t], state, t), B, t)
            states.append(state)
    return Trajectory(model, seq, _check_states_finite(model, torch.stack(states)), batched,
                      batch_first=batched and batch_first)


def _first_cell_step(model: CellAdapter, x: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
    try:
        return model.step(x, state, 0)
    except (RuntimeError, TypeError) as exc:
        raise InvalidArgument(
            f"{model.name} fails on its first step, called as cell(x, h) with x of shape {tuple(x.shape)} and h of "
            f"shape {tuple(state.shape)} (input size {model.input_size}, state size {model.state_size}): "
            f"{type(exc).__name__}: {exc}") from exc


def _check_step(model: StepModel, state, batch: int, t: int) -> torch.Tensor:
    """The state a step returned, if it is a ``(B, state_size)`` tensor; else InvalidArgument."""
    expected = (batch, model.state_size)
    if not isinstance(state, torch.Tensor) or tuple(state.shape) != expected:
        got = f"shape {tuple(state.shape)}" if isinstance(state, torch.Tensor) else type(state).__name__
        raise InvalidArgument(
            f"model {model.name!r} must return the next state of shape (B, state_size) = {expected} from a step; "
            f"got {got} at step {t} (a cell whose output size differs from its hidden_size? "
            "for a cell with state (h, c) pass tuple_state=True)")
    return state


def _initial_state(model: StepModel, h0, batch: int, batched: bool) -> torch.Tensor:
    if h0 is None:
        return model.initial_state(batch)
    if not isinstance(h0, torch.Tensor):
        raise InvalidArgument(f"h0 must be a torch.Tensor or None; got {type(h0).__name__}")
    if h0.is_complex():
        raise InvalidArgument(f"h0 must be real; got dtype {h0.dtype}")
    check_finite_tensor("h0", h0)
    S = model.state_size
    expected = [(S,), (batch, S)] if not batched else [(batch, S), (S,)]
    if tuple(h0.shape) not in expected:
        raise InvalidArgument(
            f"h0 must have shape {expected[0]}" + (f" or {expected[1]}" if batched else "")
            + f" (state_size {S} for {model.name!r}); got shape {tuple(h0.shape)}"
        )
    h0 = h0.to(dtype=model.dtype, device=model.device)
    return h0.expand(batch, S).clone() if h0.ndim == 1 else h0.clone()


def _record_stack(model: StepModel, inputs: torch.Tensor, h0) -> Trajectory:
    if h0 is not None:
        raise InvalidArgument(f"h0 must be None for feed-forward stack {model.name!r} (its input is the initial state); got a tensor")
    if inputs.ndim not in (1, 2):
        raise InvalidArgument(
            f"inputs of feed-forward stack {model.name!r} must have shape (width,) or (B, width) with width = {model.width}; "
            f"got shape {tuple(inputs.shape)}"
        )
    if inputs.shape[-1] != model.width:
        raise InvalidArgument(
            f"inputs must have last dimension width={model.width} for {model.name!r}; got shape {tuple(inputs.shape)}"
        )
    batched = inputs.ndim == 2
    if inputs.shape[0] == 0 and batched:
        raise InvalidArgument(f"inputs must hold at least one network input (batch size B >= 1); got shape {tuple(inputs.shape)}")
    state = model.input_state(inputs if batched else inputs.unsqueeze(0))
    B = state.shape[0]
    xs = state.new_zeros(model.depth, B, 0)
    states = [state]
    with torch.no_grad():
        for t in range(model.depth):
            state = _check_step(model, model.step(xs[t], state, t), B, t)
            states.append(state)
    return Trajectory(model, xs, _check_states_finite(model, torch.stack(states)), batched)


def _check_states_finite(model: StepModel, states: torch.Tensor) -> torch.Tensor:
    """Raise InvalidArgument if the forward pass overflowed (NaN/Inf states), else return ``states``.

    Every probe reads the states: an overflowed pass would give NaN, or silently
    wrong numbers (a ReLU's σ′(NaN) is 0), downstream.
    """
    finite = torch.isfinite(states).flatten(1).all(-1)
    if bool(finite.all()):
        return states
    t = int((~finite).nonzero()[0])
    largest = float(states[t - 1].abs().max())
    raise InvalidArgument(
        f"inputs drive the state of {model.name!r} to NaN/Inf at step {t} (the forward pass overflows "
        f"{str(states.dtype).removeprefix('torch.')}; largest |state| entry at step {t - 1}: {largest!r}); "
        "lower the gain or the input scale, or shorten the sequence"
    )
