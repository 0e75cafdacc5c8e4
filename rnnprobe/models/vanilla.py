"""Vanilla (Elman) RNN, residual RNN and dense (skip-to-last-K) RNN.

All three compute the lecture's pre-activation ``a = W_h h + W_x x + b``:

* ``vanilla``:   ``h' = σ(a)``, step Jacobian ``D W_h`` with ``D = diag σ′(a)``;
* ``residual``:  ``h' = h + α σ(a)``, step Jacobian ``I + α D W_h``;
* ``dense``:     ``h' = σ(Σ_{k<K} W_k h_{t−k} + W_x x + b)``; the state is the window
  ``[h_t, h_{t−1}, …, h_{t−K+1}]`` so that the chain view holds (augmented state),
  and the step Jacobian is a block companion matrix.

Examples
--------
>>> import torch
>>> from rnnprobe.models.vanilla import VanillaRNN
>>> rnn = VanillaRNN(4, 2, nonlinearity="tanh", gain=0.9, seed=1)
>>> x, h = torch.randn(3, 2, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
>>> torch.allclose(rnn.step_jacobian(x, h), rnn.autograd_step_jacobian(x, h), atol=1e-12)
True
"""

from __future__ import annotations

import torch

from rnnprobe._validation import check_int, check_real
from rnnprobe.models._params import ParameterDrawer
from rnnprobe.models.base import RecurrentModel
from rnnprobe.nonlinearities import get_nonlinearity

__all__ = ["VanillaRNN", "ResidualRNN", "DenseRNN"]


class VanillaRNN(RecurrentModel):
    """``h' = σ(W_h h + W_x x + b)`` (Elman 1990; the lecture's vanilla RNN).

    Parameters
    ----------
    hidden_size : int
        n, the size of h.
    input_size : int
        d, the size of x (0 for an autonomous net).
    nonlinearity : {'tanh', 'relu', 'sigmoid', 'linear'}
        σ.
    gain : float
        Gain of W_h (see :mod:`rnnprobe.init`).
    init : {'gaussian', 'orthogonal', 'spectral'}
        Initialisation scheme of W_h.
    input_gain : float
        W_x ~ N(0, input_gain²/d).
    bias_std : float
        b ~ N(0, bias_std²).
    seed : int
        Seed for every parameter.
    dtype : torch.dtype or str
        float64 (default) or float32.
    """

    family = "vanilla"
    lecture_form = True

    def __init__(
        self,
        hidden_size: int,
        input_size: int = 1,
        *,
        nonlinearity: str = "tanh",
        gain: float = 1.0,
        init: str = "gaussian",
        input_gain: float = 1.0,
        bias_std: float = 0.0,
        seed: int = 0,
        dtype=torch.float64,
    ):
        super().__init__()
        self.hidden_size = check_int("hidden_size", hidden_size, min_value=1)
        self.input_size = check_int("input_size", input_size, min_value=0)
        self.state_size = self.hidden_size
        self.sigma = get_nonlinearity(nonlinearity)
        self.name = f"vanilla-{nonlinearity}"
        draw = ParameterDrawer(seed=seed, init=init, gain=gain, dtype=dtype)
        n = self.hidden_size
        self.W_h = draw.recurrent(n, n)
        self.W_x = draw.gaussian(n, self.input_size, gain=check_real("input_gain", input_gain, low=0.0))
        self.b = draw.bias(n, std=bias_std)

    def preactivation(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """``W_h h + W_x x + b`` for batched ``x`` ``(B, d)`` and ``h`` ``(B, n)``."""
        return h @ self.W_h.T + x @ self.W_x.T + self.b

    def step(self, x, state, t=0):
        return self.sigma(self.preactivation(x, state))

    def step_jacobian(self, x, state, t=0):
        d = self.sigma.derivative(self.preactivation(x, state))
        return d.unsqueeze(-1) * self.W_h

    def derivative_diagonals(self, xs, states, t0=0):
        return self.sigma.derivative(self.preactivation(xs, states))

    def recurrent_weights(self):
        return {"W_h": self.W_h.detach()}


class ResidualRNN(VanillaRNN):
    """``h' = h + α σ(W_h h + W_x x + b)``: a skip connection through time.

    Parameters are those of :class:`VanillaRNN` plus ``alpha`` (α, the residual
    branch's weight).
    """

    family = "residual"
    lecture_form = False

    def __init__(self, hidden_size: int, input_size: int = 1, *, alpha: float = 1.0, **kwargs):
        super().__init__(hidden_size, input_size, **kwargs)
        self.alpha = check_real("alpha", alpha)
        self.name = "residual" if self.sigma.name == "tanh" else f"residual-{self.sigma.name}"

    def step(self, x, state, t=0):
        return state + self.alpha * self.sigma(self.preactivation(x, state))

    def step_jacobian(self, x, state, t=0):
        eye = torch.eye(self.hidden_size, dtype=state.dtype, device=state.device)
        return eye + self.alpha * super().step_jacobian(x, state, t)

    def derivative_diagonals(self, xs, states, t0=0):
        return None


class DenseRNN(RecurrentModel):
    """``h' = σ(Σ_{k<K} W_k h_{t−k} + W_x x + b)``: skip connections to the last K states.

    The state is the window ``[h_t, h_{t−1}, …, h_{t−K+1}]`` (size K·n); the
    hidden vector is its first block.

    Parameters
    ----------
    hidden_size, input_size, nonlinearity, init, input_gain, bias_std, seed, dtype
        As for :class:`VanillaRNN`.
    window : int
        K >= 1, how many past states each step reads (K = 1 is the vanilla RNN).
    gain : float
        Total gain; each W_k is drawn with gain/√K so that the summed
        pre-activation has the variance of a vanilla RNN with this gain.
    """

    family = "dense"

    def __init__(
        self,
        hidden_size: int,
        input_size: int = 1,
        *,
        window: int = 3,
        nonlinearity: str = "tanh",
        gain: float = 1.0,
        init: str = "gaussian",
        input_gain: float = 1.0,
        bias_std: float = 0.0,
        seed: int = 0,
        dtype=torch.float64,
    ):
        super().__init__()
        self.hidden_size = check_int("hidden_size", hidden_size, min_value=1)
        self.input_size = check_int("input_size", input_size, min_value=0)
        self.window = check_int("window", window, min_value=1)
        self.state_size = self.window * self.hidden_size
        self.sigma = get_nonlinearity(nonlinearity)
        self.name = "dense" if nonlinearity == "tanh" else f"dense-{nonlinearity}"
        draw = ParameterDrawer(seed=seed, init=init, gain=gain, dtype=dtype)
        n, K = self.hidden_size, self.window
        per = draw.gain / K**0.5
        self.W_k = torch.nn.Parameter(torch.stack([draw.recurrent(n, n, gain=per).data for _ in range(K)]))
        self.W_x = draw.gaussian(n, self.input_size, gain=check_real("input_gain", input_gain, low=0.0))
        self.b = draw.bias(n, std=bias_std)

    def _pre(self, x, state):
        n, K = self.hidden_size, self.window
        past = state.reshape(state.shape[0], K, n)
        return torch.einsum("bkj,kij->bi", past, self.W_k) + x @ self.W_x.T + self.b

    def step(self, x, state, t=0):
        h_new = self.sigma(self._pre(x, state))
        return torch.cat([h_new, state[:, : (self.window - 1) * self.hidden_size]], dim=1)

    def step_jacobian(self, x, state, t=0):
        n, K, S = self.hidden_size, self.window, self.state_size
        B = state.shape[0]
        d = self.sigma.derivative(self._pre(x, state))
        J = state.new_zeros(B, S, S)
        # first block row: D W_k for every k
        J[:, :n, :] = (d[:, None, :, None] * self.W_k[None]).permute(0, 2, 1, 3).reshape(B, n, S)
        # shift: block (k, k-1) is the identity
        if K > 1:
            J[:, n:, : (K - 1) * n] = torch.eye((K - 1) * n, dtype=state.dtype, device=state.device)
        return J

    def recurrent_weights(self):
        weights = {f"W_{k}": self.W_k[k].detach() for k in range(self.window)}
        return weights
