"""Deep feed-forward stacks, probed through depth: a "step" is a layer.

* ``mlp``:      ``s' = σ(W_l s + b_l)``;
* ``resmlp``:   ``s' = s + α σ(W_l s + b_l)`` (ResNet-style skip);
* ``densemlp``: DenseNet-style concatenation. Layer l reads every feature so far
  and appends ``growth`` new ones. The state is the full concatenation, padded
  with zeros for features not yet computed, so every step Jacobian is square:
  the identity, except that the rows of the block layer l writes are
  ``D_l W_l`` (the features it overwrites were zero and do not pass through).

The network input is the initial state; there are no per-step inputs.

Examples
--------
>>> import torch
>>> from rnnprobe.models.feedforward import DenseMLP
>>> net = DenseMLP(4, depth=3, growth=2, seed=0)
>>> net.state_size
10
>>> s = net.input_state(torch.ones(1, 4, dtype=torch.float64))
>>> s.shape
torch.Size([1, 10])
"""

from __future__ import annotations

import torch

from rnnprobe._validation import check_int, check_real
from rnnprobe.errors import InvalidArgument
from rnnprobe.models._params import ParameterDrawer
from rnnprobe.models.base import FeedForwardModel
from rnnprobe.nonlinearities import get_nonlinearity

__all__ = ["MLP", "ResMLP", "DenseMLP"]


class _Stack(FeedForwardModel):
    def input_state(self, inputs: torch.Tensor) -> torch.Tensor:
        """The initial state ``(B, state_size)`` for network inputs ``(B, width)``."""
        if inputs.shape[-1] != self.width:
            raise InvalidArgument(
                f"inputs must have last dimension width={self.width} for {self.name!r}; got shape {tuple(inputs.shape)}"
            )
        pad = self.state_size - self.width
        return torch.nn.functional.pad(inputs, (0, pad)) if pad else inputs

    def hidden(self, state):
        return state

    def recurrent_weights(self):
        return {f"W_{l}": self.W[l].detach() for l in range(self.depth)}

    def _check_layer(self, t):
        if not 0 <= t < self.depth:
            raise InvalidArgument(f"layer index t must lie in [0, {self.depth}); got {t!r}")


class MLP(_Stack):
    """A plain deep net ``s' = σ(W_l s + b_l)``, W_l ~ scheme(gain), b_l ~ N(0, bias_std²).

    Parameters
    ----------
    width : int
        n, the width of every layer.
    depth : int
        L, the number of layers (steps).
    nonlinearity : {'tanh', 'relu', 'sigmoid', 'linear'}
    gain : float
        σ_w, the weight gain (mean-field: W_ij ~ N(0, σ_w²/n)).
    init : {'gaussian', 'orthogonal', 'spectral'}
    bias_std : float
        σ_b.
    seed : int
    dtype : torch.dtype or str
    """

    name = "mlp"
    family = "feedforward"
    lecture_form = True

    def __init__(self, width: int, depth: int = 8, *, nonlinearity="tanh", gain=1.0, init="gaussian",
                 bias_std=0.0, seed=0, dtype=torch.float64):
        super().__init__()
        self.width = self.hidden_size = self.state_size = check_int("width", width, min_value=1)
        self.depth = check_int("depth", depth, min_value=1)
        self.sigma = get_nonlinearity(nonlinearity)
        draw = ParameterDrawer(seed=seed, init=init, gain=gain, dtype=dtype)
        n = self.width
        self.W = torch.nn.Parameter(torch.stack([draw.recurrent(n, n).data for _ in range(self.depth)]))
        self.b = torch.nn.Parameter(torch.stack([draw.bias(n, std=bias_std).data for _ in range(self.depth)]))

    def _pre(self, state, t):
        return state @ self.W[t].T + self.b[t]

    def step(self, x, state, t=0):
        self._check_layer(t)
        return self.sigma(self._pre(state, t))

    def step_jacobian(self, x, state, t=0):
        return self.sigma.derivative(self._pre(state, t)).unsqueeze(-1) * self.W[t]

    def jacobians(self, xs, states, t0=0):
        C = states.shape[0]
        W, b = self.W[t0 : t0 + C], self.b[t0 : t0 + C]
        pre = torch.einsum("cbj,cij->cbi", states, W) + b[:, None, :]
        return self._layer_jacobian(pre, W)

    def _layer_jacobian(self, pre, W):
        return self.sigma.derivative(pre).unsqueeze(-1) * W[:, None]

    def derivative_diagonals(self, xs, states, t0=0):
        C = states.shape[0]
        pre = torch.einsum("cbj,cij->cbi", states, self.W[t0 : t0 + C]) + self.b[t0 : t0 + C, None, :]
        return self.sigma.derivative(pre)


class ResMLP(MLP):
    """A residual stack ``s' = s + α σ(W_l s + b_l)``; parameters as :class:`MLP` plus α."""

    name = "resmlp"
    family = "residual"
    lecture_form = False

    def __init__(self, width: int, depth: int = 8, *, alpha: float = 1.0, **kwargs):
        super().__init__(width, depth, **kwargs)
        self.alpha = check_real("alpha", alpha)

    def step(self, x, state, t=0):
        self._check_layer(t)
        return state + self.alpha * self.sigma(self._pre(state, t))

    def step_jacobian(self, x, state, t=0):
        eye = torch.eye(self.width, dtype=state.dtype, device=state.device)
        return eye + self.alpha * super().step_jacobian(x, state, t)

    def _layer_jacobian(self, pre, W):
        eye = torch.eye(self.width, dtype=pre.dtype, device=pre.device)
        return eye + self.alpha * super()._layer_jacobian(pre, W)

    def derivative_diagonals(self, xs, states, t0=0):
        return None


class DenseMLP(_Stack):
    """A DenseNet-style stack: layer l appends ``growth`` features computed from all before.

    Parameters
    ----------
    width : int
        n₀, the input width.
    depth : int
        L, the number of layers.
    growth : int
        k, features added per layer; the state has n₀ + L·k entries.
    nonlinearity, gain, init, bias_std, seed, dtype
        As for :class:`MLP`; layer l's weight (k × (n₀ + l·k)) is Gaussian
        N(0, gain²/fan_in) (or orthogonal rows), fan-in being the features it reads.
    """

    name = "densemlp"
    family = "dense"

    def __init__(self, width: int, depth: int = 8, *, growth: int = 4, nonlinearity="tanh", gain=1.0,
                 init="gaussian", bias_std=0.0, seed=0, dtype=torch.float64):
        super().__init__()
        self.width = check_int("width", width, min_value=1)
        self.depth = check_int("depth", depth, min_value=1)
        self.growth = check_int("growth", growth, min_value=1)
        self.state_size = self.hidden_size = self.width + self.depth * self.growth
        self.sigma = get_nonlinearity(nonlinearity)
        draw = ParameterDrawer(seed=seed, init="gaussian" if init == "spectral" else init, gain=gain, dtype=dtype)
        N, k = self.state_size, self.growth
        W = torch.zeros(self.depth, k, N, dtype=draw.dtype)
        for l in range(self.depth):
            fan_in = self.width + l * k
            W[l, :, :fan_in] = draw.recurrent(k, fan_in).data
        self.W = torch.nn.Parameter(W)
        self.b = torch.nn.Parameter(torch.stack([draw.bias(k, std=bias_std).data for _ in range(self.depth)]))

    def _rows(self, t):
        start = self.width + t * self.growth
        return start, start + self.growth

    def step(self, x, state, t=0):
        self._check_layer(t)
        lo, hi = self._rows(t)
        new = self.sigma(state @ self.W[t].T + self.b[t])
        return torch.cat([state[:, :lo], new, state[:, hi:]], dim=1)

    def step_jacobian(self, x, state, t=0):
        return self.jacobians(x[None], state[None], t)[0]

    def jacobians(self, xs, states, t0=0):
        C, B, N = states.shape
        W, b = self.W[t0 : t0 + C], self.b[t0 : t0 + C]
        d = self.sigma.derivative(torch.einsum("cbj,cij->cbi", states, W) + b[:, None, :])
        J = torch.eye(N, dtype=states.dtype, device=states.device).repeat(C, B, 1, 1)
        rows = d.unsqueeze(-1) * W[:, None]                       # (C, B, k, N)
        for i in range(C):
            lo, hi = self._rows(t0 + i)
            J[i, :, lo:hi, :] = rows[i]
        return J

    def recurrent_weights(self):
        return {f"W_{l}": self.W[l, :, : self.width + l * self.growth].detach() for l in range(self.depth)}
