"""Probe a user's own torch modules with no rewriting.

* :func:`adapt` takes a ``torch.nn.RNN``, ``torch.nn.GRU`` or ``torch.nn.LSTM``
  (any layer and direction of a multi-layer, bidirectional one) and returns the
  equivalent rnnprobe model with the module's weights copied (float64 by
  default). The layers below the probed one run inside
  :meth:`~rnnprobe.models.base.StepModel.prepare_inputs`, so ``record`` takes
  the module's own inputs.
* :class:`CellAdapter` wraps any cell-like module ``cell(x, h) -> h`` (``RNNCell``,
  ``GRUCell``, ``LSTMCell`` whose state is the pair ``(h, c)``, or your own);
  its step Jacobian comes from ``torch.func``. :func:`cell_model` does so on the
  fly for :func:`rnnprobe.record`, the probes and the assertions, reading the sizes
  from the cell's ``input_size``/``hidden_size`` attributes, the inputs and ``h0``.

Batched inputs are time-major ``(T, B, d)``, except for a module built with
``batch_first=True``: its adapter keeps the flag (:attr:`LayerAdapter.batch_first`)
and :func:`rnnprobe.record` then takes ``(B, T, d)``, as the module does. The
trajectory's states are time-major either way.

Examples
--------
>>> import torch
>>> from rnnprobe.models.adapters import adapt
>>> lstm = torch.nn.LSTM(3, 5, num_layers=2)
>>> layer1 = adapt(lstm, layer=1)
>>> layer1.name, layer1.state_size
('lstm', 10)
"""

from __future__ import annotations

import copy
import inspect

import torch
from torch import nn

from rnnprobe._validation import check_choice, check_dtype, check_int
from rnnprobe.errors import InvalidArgument
from rnnprobe.models.base import FAMILIES, RecurrentModel, StepModel
from rnnprobe.models.gated import LSTM, TorchGRU
from rnnprobe.models.vanilla import VanillaRNN

__all__ = ["adapt", "LayerAdapter", "CellAdapter", "cell_model", "is_adaptable"]

_TORCH_RNNS = (nn.RNN, nn.GRU, nn.LSTM)
_TORCH_CELLS = (nn.RNNCell, nn.GRUCell, nn.LSTMCell)
#: the family of each torch cell (what CellAdapter declares for it unless told otherwise)
_CELL_FAMILIES = {nn.RNNCell: "vanilla", nn.GRUCell: "gated", nn.LSTMCell: "gated"}


def is_adaptable(obj) -> bool:
    """Whether :func:`adapt` accepts ``obj`` (a torch recurrent module or cell)."""
    return isinstance(obj, _TORCH_RNNS + _TORCH_CELLS)


class LayerAdapter(RecurrentModel):
    """One layer (and direction) of a torch recurrent module, as a step model.

    Wraps an rnnprobe cell holding that layer's weights; ``prepare_inputs`` runs
    the module's lower layers (a float copy of them) on the inputs, and reverses
    time for the backward direction. ``family`` is the cell's; ``batch_first`` the
    module's (:func:`rnnprobe.record` then takes batched inputs as ``(B, T, d)``);
    ``source_dtype`` the module's dtype (the dtype loss hooks receive states in,
    :mod:`rnnprobe.losses`), set by :func:`adapt`.
    """

    source_dtype: torch.dtype | None = None

    def __init__(self, cell: StepModel, lower: nn.Module | None, reverse: bool, source: str, *,
                 batch_first: bool = False):
        super().__init__()
        self.cell = cell
        self.lower = lower
        self.reverse = reverse
        self.source = source
        self.batch_first = bool(batch_first)
        self.name = cell.name
        self.family = cell.family
        self.input_size, self.hidden_size, self.state_size = cell.input_size, cell.hidden_size, cell.state_size

    def step(self, x, state, t=0):
        return self.cell.step(x, state, t)

    def step_jacobian(self, x, state, t=0):
        return self.cell.step_jacobian(x, state, t)

    def hidden(self, state):
        return self.cell.hidden(state)

    def prepare_inputs(self, inputs):
        if self.lower is not None:
            with torch.no_grad():
                inputs = self.lower(inputs)[0]
        return inputs.flip(0) if self.reverse else inputs

    def recurrent_weights(self):
        return self.cell.recurrent_weights()

    def derivative_diagonals(self, xs, states, t0=0):
        return self.cell.derivative_diagonals(xs, states, t0)

    def reference_parameter(self):
        return self.cell.reference_parameter()

    @property
    def lecture_form(self):
        return self.cell.lecture_form

    @property
    def sigma(self):
        return getattr(self.cell, "sigma", None)

    def extra_repr(self):
        return f"source={self.source!r}"


def _copy_layer_weights(module: nn.Module, layer: int, suffix: str, dtype):
    def get(name):
        p = getattr(module, f"{name}_l{layer}{suffix}", None)
        return None if p is None else p.detach().to(dtype).clone()

    return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh")


def adapt(module: nn.Module, layer: int = 0, *, direction: int = 0, dtype=torch.float64) -> StepModel:
    """Return an rnnprobe model equivalent to one layer of a torch recurrent module.

    Parameters
    ----------
    module : torch.nn.RNN, torch.nn.GRU, torch.nn.LSTM, or a cell module
        The trained module (it is not modified). Cells (``RNNCell``, ``GRUCell``,
        ``LSTMCell``) are wrapped in a :class:`CellAdapter`.
    layer : int
        Which layer to probe (0 is the bottom one).
    direction : {0, 1}
        0 for the forward direction; 1 for the backward direction of a
        bidirectional module (its trajectory runs in reversed time).
    dtype : torch.dtype or str
        dtype of the copy (float64 by default, as rnnprobe's probes).

    Returns
    -------
    StepModel
        A model whose states equal the module's outputs for that layer; it
        keeps the module's ``batch_first`` (then :func:`rnnprobe.record` takes
        batched inputs ``(B, T, d)``, as the module does).
    """
    dtype = check_dtype("dtype", dtype)
    if isinstance(module, _TORCH_CELLS):
        return CellAdapter(module, dtype=dtype)
    if not isinstance(module, _TORCH_RNNS):
        raise InvalidArgument(
            f"module must be a torch.nn.RNN, GRU, LSTM or a cell module; got {type(module).__name__}"
            " (wrap any cell(x, h) -> h in rnnprobe.CellAdapter)"
        )
    layer = check_int("layer", layer, min_value=0, max_value=module.num_layers - 1)
    max_dir = 1 if module.bidirectional else 0
    direction = check_int("direction", direction, min_value=0, max_value=max_dir)
    if isinstance(module, nn.LSTM) and module.proj_size > 0:
        raise InvalidArgument(
            f"module.proj_size must be 0 (LSTMs with projections are not supported yet); got {module.proj_size!r}"
        )
    suffix = "_reverse" if direction == 1 else ""
    W_ih, W_hh, b_ih, b_hh = _copy_layer_weights(module, layer, suffix, dtype)
    n, d = W_hh.shape[1], W_ih.shape[1]
    if b_ih is None:
        b_ih = torch.zeros(W_hh.shape[0], dtype=dtype, device=W_hh.device)
        b_hh = torch.zeros(W_hh.shape[0], dtype=dtype, device=W_hh.device)
    if isinstance(module, nn.RNN):
        cell = VanillaRNN(n, d, nonlinearity=module.nonlinearity, dtype=dtype)
        cell.W_h.data, cell.W_x.data, cell.b.data = W_hh, W_ih, b_ih + b_hh
    else:
        cell = (TorchGRU if isinstance(module, nn.GRU) else LSTM)(n, d, dtype=dtype)
        cell.weight_ih.data, cell.weight_hh.data, cell.bias_ih.data, cell.bias_hh.data = W_ih, W_hh, b_ih, b_hh
    lower = None
    if layer > 0:
        kwargs = dict(input_size=module.input_size, hidden_size=module.hidden_size, num_layers=layer,
                      bias=module.bias, bidirectional=module.bidirectional)
        if isinstance(module, nn.RNN):
            kwargs["nonlinearity"] = module.nonlinearity
        lower = type(module)(**kwargs).to(dtype=dtype, device=W_hh.device)
        own = dict(lower.named_parameters())
        with torch.no_grad():
            for name, p in module.named_parameters():
                if name in own:
                    own[name].copy_(p.detach().to(dtype))
        lower.requires_grad_(False)
    source = f"{type(module).__name__} layer {layer}" + (" (reverse)" if direction else "")
    adapted = LayerAdapter(cell, lower, reverse=direction == 1, source=source, batch_first=module.batch_first)
    adapted.source_dtype = getattr(module, f"weight_hh_l{layer}{suffix}").dtype   # what loss hooks receive
    adapted.requires_grad_(False)
    return adapted


def _size_of(cell, name: str, given: int | None, *, min_value: int) -> int:
    """A size given explicitly, else read from the cell's attribute of that name."""
    if given is None:
        if not hasattr(cell, name):
            raise InvalidArgument(f"{name} is required: the cell has no attribute {name!r} to read it from; got None")
        given = getattr(cell, name)
    return check_int(name, given, min_value=min_value)


class CellAdapter(RecurrentModel):
    """Any cell-like module ``cell(x, h) -> h`` as a step model.

    Parameters
    ----------
    cell : torch.nn.Module
        Called as ``cell(x, h)`` with batched ``x`` ``(B, d)`` and ``h`` ``(B, n)``;
        cells whose state is a tuple (``LSTMCell``: ``(h, c)``) are handled with
        ``tuple_state=True`` (detected for ``LSTMCell``), the state being the
        concatenation of the tuple's parts (``[h; c]``).
    input_size, hidden_size : int, optional
        Read from the cell's attributes of the same name when omitted.
    tuple_state : bool, optional
        Whether the cell's state is a tuple of equal-size tensors.
    family : str, optional
        What kind of step the cell is, one of :data:`rnnprobe.models.FAMILIES`
        (it selects the hints of :mod:`rnnprobe.testing`). Default: ``'vanilla'``
        for ``RNNCell``, ``'gated'`` for ``GRUCell`` and ``LSTMCell``, else
        ``'custom'`` (unknown).
    dtype : torch.dtype or str or None
        Convert a copy of the cell to this dtype (float64 by default); None
        keeps the cell as it is (no copy).

    Examples
    --------
    >>> import torch
    >>> cell = torch.nn.GRUCell(3, 4)
    >>> model = CellAdapter(cell)
    >>> model.name, model.family, model.state_size
    ('cell:GRUCell', 'gated', 4)
    """

    def __init__(self, cell: nn.Module, *, input_size: int | None = None, hidden_size: int | None = None,
                 tuple_state: bool | None = None, family: str | None = None, dtype=torch.float64):
        super().__init__()
        if not callable(cell):
            raise InvalidArgument(f"cell must be callable as cell(x, h); got {type(cell).__name__}")
        self.family = _CELL_FAMILIES.get(type(cell), "custom") if family is None else check_choice("family", family, FAMILIES)
        #: the dtype of the user's cell (what loss hooks receive; the copy may differ)
        self.source_dtype = next((p.dtype for p in cell.parameters() if p.is_floating_point()), None) \
            if isinstance(cell, nn.Module) else None
        if dtype is not None:
            dtype = check_dtype("dtype", dtype)
            cell = copy.deepcopy(cell).to(dtype) if isinstance(cell, nn.Module) else cell
        self.inner = cell
        self.input_size = _size_of(cell, "input_size", input_size, min_value=0)
        self.hidden_size = _size_of(cell, "hidden_size", hidden_size, min_value=1)
        self.tuple_state = isinstance(cell, nn.LSTMCell) if tuple_state is None else bool(tuple_state)
        self.parts = 2 if self.tuple_state else 1
        self.state_size = self.parts * self.hidden_size
        self.name = f"cell:{type(cell).__name__}"
        self._dtype = dtype

    def step(self, x, state, t=0):
        if self.tuple_state:
            out = self.inner(x, tuple(state.split(self.hidden_size, dim=-1)))
            if not isinstance(out, (tuple, list)):
                raise InvalidArgument(f"{self.name} must return a tuple of {self.parts} states (tuple_state=True); "
                                      f"got {type(out).__name__}")
            out = torch.cat(list(out), dim=-1)
        else:
            out = self.inner(x, state)
        if not isinstance(out, torch.Tensor) or out.shape[-1] != self.state_size:
            got = (f"shape {tuple(out.shape)}" if isinstance(out, torch.Tensor)
                   else f"a {type(out).__name__}" + (" (a tuple state: pass tuple_state=True)"
                                                     if isinstance(out, (tuple, list)) else ""))
            raise InvalidArgument(f"{self.name} called as cell(x, h) must return the next state, a tensor of "
                                  f"shape (B, {self.state_size}) (state size {self.state_size}); got {got}")
        return out

    def step_jacobian(self, x, state, t=0):
        try:
            return self.rowwise_autograd_jacobian(x, state, t)
        except RuntimeError:  # modules torch.func cannot vmap over: one row at a time
            rows = []
            for i in range(state.shape[0]):
                rows.append(torch.autograd.functional.jacobian(
                    lambda s: self.step(x[i : i + 1], s.unsqueeze(0), t).squeeze(0), state[i]))
            return torch.stack(rows)

    def reference_parameter(self):
        for p in self.inner.parameters() if isinstance(self.inner, nn.Module) else ():
            return p
        return torch.zeros((), dtype=self._dtype or torch.float64)

    def recurrent_weights(self):
        weights = {}
        if isinstance(self.inner, nn.Module):
            for name, p in self.inner.named_parameters():
                if p.ndim == 2 and p.shape[1] == self.hidden_size and "hh" in name:
                    weights[name] = p.detach()
        return weights


def _positional_arity(fn) -> int | None:
    """How many positional arguments ``fn`` takes (None: any number, or unknown)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return None
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)


def cell_model(cell: nn.Module, *, inputs: torch.Tensor | None = None, h0: torch.Tensor | None = None) -> CellAdapter:
    """A cell-like module ``cell(x, h) -> h`` as a :class:`CellAdapter`, sizes found without asking.

    What :func:`rnnprobe.record`, the probes and the assertions do with a module
    that is neither an rnnprobe model nor a torch RNN/GRU/LSTM. The state size
    is the cell's ``hidden_size`` attribute, else the last dimension of ``h0``;
    the input size its ``input_size`` attribute, else the last dimension of
    ``inputs``. For a cell whose state is a tuple, or to declare its family, use
    :class:`CellAdapter` itself.

    Parameters
    ----------
    cell : torch.nn.Module
        Called as ``cell(x, h)`` with ``x`` ``(B, d)`` and ``h`` ``(B, n)``.
    inputs : torch.Tensor, optional
        The inputs it will run on (their last dimension is d).
    h0 : torch.Tensor, optional
        Its initial state ``(n,)`` or ``(B, n)``.

    Returns
    -------
    CellAdapter

    Raises
    ------
    InvalidArgument
        When the cell is not a module callable as ``cell(x, h)``, or when a size
        can be found nowhere; the message names what is missing.

    Examples
    --------
    >>> import torch
    >>> class Leaky(torch.nn.Module):            # no size attributes
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.W = torch.nn.Parameter(0.5 * torch.eye(2))
    ...     def forward(self, x, h):
    ...         return torch.tanh(h @ self.W.T + x)
    >>> model = cell_model(Leaky(), inputs=torch.zeros(5, 2), h0=torch.zeros(2))
    >>> model.input_size, model.state_size, model.family
    (2, 2, 'custom')
    """
    kind = type(cell).__name__
    wanted = ("model must be an rnnprobe StepModel (see rnnprobe.build), a torch.nn.RNN/GRU/LSTM/cell, or a "
              "cell-like torch.nn.Module called as cell(x, h) -> h")
    if not isinstance(cell, nn.Module):
        raise InvalidArgument(f"{wanted}; got {kind}")
    arity = _positional_arity(cell.forward)
    if arity is not None and arity < 2:
        raise InvalidArgument(
            f"{wanted}; got {kind}, whose forward takes {arity} positional argument{'s' if arity != 1 else ''} "
            "(wrap it in a module whose forward takes (x, h))")
    hidden = getattr(cell, "hidden_size", None)
    if hidden is None:
        if not isinstance(h0, torch.Tensor) or h0.ndim == 0:
            raise InvalidArgument(
                f"the state size of cell-like module {kind} is unknown: it has no attribute 'hidden_size' and no "
                f"h0 was given; pass h0 (its initial state, (n,) or (B, n)), set {kind}.hidden_size, or wrap it: "
                f"rnnprobe.CellAdapter(cell, input_size=d, hidden_size=n)")
        hidden = h0.shape[-1]
    size = getattr(cell, "input_size", None)
    if size is None:
        if not isinstance(inputs, torch.Tensor) or inputs.ndim == 0:
            raise InvalidArgument(
                f"the input size of cell-like module {kind} is unknown: it has no attribute 'input_size' and no "
                f"inputs were given; set {kind}.input_size, or wrap it: "
                f"rnnprobe.CellAdapter(cell, input_size=d, hidden_size=n)")
        size = inputs.shape[-1]
    return CellAdapter(cell, input_size=size, hidden_size=hidden)
