"""Gated recurrent units (two conventions) and the LSTM, with analytic step Jacobians.

Conventions (written down because the lecture's notation is loose):

``gru`` — the lecture's GRU (Cho et al. 2014): the reset gate acts *before* the
recurrent product::

    z = σ(W_z x + U_z h + b_z)          (update gate)
    r = σ(W_r x + U_r h + b_r)          (reset gate)
    h̃ = tanh(W x + U (r ⊙ h) + b)
    h' = z ⊙ h + (1 − z) ⊙ h̃

``gru-torch`` — ``torch.nn.GRU``: the reset gate acts *after* the product
(and on its bias)::

    n  = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
    h' = (1 − z) ⊙ n + z ⊙ h

Both keep ``z`` as the weight of the old state, so a large update-gate bias
``b_z`` means long memory: at the origin the per-step factor is σ(b_z).

``lstm`` — ``torch.nn.LSTM`` (gate order i, f, g, o); the state is ``[h; c]``::

    c' = f ⊙ c + i ⊙ g,    h' = o ⊙ tanh(c')

with a settable forget-gate bias, or chrono initialisation (Tallec & Ollivier
2018): ``b_f = log U(1, T_max − 1)``, ``b_i = −b_f``.

Examples
--------
>>> import torch
>>> from rnnprobe.models.gated import LSTM
>>> lstm = LSTM(3, 2, forget_bias=1.0, seed=0)
>>> x, s = torch.randn(2, 2, dtype=torch.float64), torch.randn(2, 6, dtype=torch.float64)
>>> torch.allclose(lstm.step_jacobian(x, s), lstm.autograd_step_jacobian(x, s), atol=1e-12)
True
"""

from __future__ import annotations

import math

import torch

from rnnprobe._validation import check_int, check_real
from rnnprobe.models._params import ParameterDrawer
from rnnprobe.models.base import RecurrentModel

__all__ = ["GRU", "TorchGRU", "LSTM"]


def _diag_mul(d: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """``diag(d) @ W`` for batched ``d`` ``(B, n)``: ``(B, n, m)``."""
    return d.unsqueeze(-1) * W


class _GatedBase(RecurrentModel):
    family = "gated"

    def _setup(self, hidden_size, input_size, gates, *, gain, init, input_gain, bias_std, seed, dtype):
        self.hidden_size = check_int("hidden_size", hidden_size, min_value=1)
        self.input_size = check_int("input_size", input_size, min_value=0)
        n, d = self.hidden_size, self.input_size
        draw = ParameterDrawer(seed=seed, init=init, gain=gain, dtype=dtype)
        input_gain = check_real("input_gain", input_gain, low=0.0)
        # torch layout: stacked gate blocks, weight_hh (G·n, n), weight_ih (G·n, d)
        self.weight_hh = torch.nn.Parameter(torch.cat([draw.recurrent(n, n).data for _ in range(gates)]))
        self.weight_ih = torch.nn.Parameter(torch.cat([draw.gaussian(n, d, gain=input_gain).data for _ in range(gates)]))
        self.bias_ih = draw.bias(gates * n, std=bias_std)
        self.bias_hh = torch.nn.Parameter(torch.zeros(gates * n, dtype=draw.dtype))
        return draw

    def _block(self, W: torch.Tensor, k: int) -> torch.Tensor:
        n = self.hidden_size
        return W[k * n : (k + 1) * n]


class GRU(_GatedBase):
    """The lecture's GRU (Cho et al. 2014): reset gate before the recurrent product.

    Parameters
    ----------
    hidden_size, input_size : int
        n and d.
    gain, init : float, str
        Gain and scheme of each recurrent matrix U_z, U_r, U.
    update_bias : float
        Bias b_z of the update gate (z weights the *old* state: larger means
        longer memory; per-step factor σ(b_z) at the origin).
    input_gain, bias_std, seed, dtype
        As for :class:`~rnnprobe.models.vanilla.VanillaRNN`.

    Notes
    -----
    Parameters use torch's stacked layout with gate order (r, z, n): the block
    ``n`` holds the candidate's U and W.
    """

    name = "gru"

    def __init__(self, hidden_size, input_size=1, *, gain=1.0, init="gaussian", update_bias=0.0,
                 input_gain=1.0, bias_std=0.0, seed=0, dtype=torch.float64):
        super().__init__()
        self._setup(hidden_size, input_size, 3, gain=gain, init=init, input_gain=input_gain,
                    bias_std=bias_std, seed=seed, dtype=dtype)
        self.state_size = self.hidden_size
        with torch.no_grad():
            self.bias_ih[self.hidden_size : 2 * self.hidden_size] += check_real("update_bias", update_bias)

    def _gates(self, x, h):
        n = self.hidden_size
        gi = x @ self.weight_ih.T + self.bias_ih
        U_r, U_z, U = (self._block(self.weight_hh, k) for k in range(3))
        r = torch.sigmoid(gi[:, :n] + h @ U_r.T + self.bias_hh[:n])
        z = torch.sigmoid(gi[:, n : 2 * n] + h @ U_z.T + self.bias_hh[n : 2 * n])
        cand = torch.tanh(gi[:, 2 * n :] + (r * h) @ U.T + self.bias_hh[2 * n :])
        return r, z, cand

    def step(self, x, state, t=0):
        r, z, cand = self._gates(x, state)
        return z * state + (1 - z) * cand

    def step_jacobian(self, x, state, t=0):
        h = state
        r, z, cand = self._gates(x, h)
        U_r, U_z, U = (self._block(self.weight_hh, k) for k in range(3))
        dr = _diag_mul(r * (1 - r), U_r)                       # ∂r/∂h
        dz = _diag_mul(z * (1 - z), U_z)                       # ∂z/∂h
        # ∂(r ⊙ h)/∂h = diag(r) + diag(h) ∂r/∂h ; ∂h̃/∂h = diag(1 − h̃²) U ∂(r⊙h)/∂h
        drh = torch.diag_embed(r) + h.unsqueeze(-1) * dr
        dcand = (1 - cand**2).unsqueeze(-1) * (U @ drh)
        return torch.diag_embed(z) + (h - cand).unsqueeze(-1) * dz + (1 - z).unsqueeze(-1) * dcand

    def recurrent_weights(self):
        return {name: self._block(self.weight_hh, k).detach() for k, name in enumerate(("U_r", "U_z", "U"))}


class TorchGRU(_GatedBase):
    """``torch.nn.GRU``'s cell: reset gate after the recurrent product.

    Parameters are those of :class:`GRU`; the parameter names and layout
    (``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``, gates r, z, n)
    are torch's, so a trained ``torch.nn.GRU`` layer loads directly.
    """

    name = "gru-torch"

    def __init__(self, hidden_size, input_size=1, *, gain=1.0, init="gaussian", update_bias=0.0,
                 input_gain=1.0, bias_std=0.0, seed=0, dtype=torch.float64):
        super().__init__()
        self._setup(hidden_size, input_size, 3, gain=gain, init=init, input_gain=input_gain,
                    bias_std=bias_std, seed=seed, dtype=dtype)
        self.state_size = self.hidden_size
        with torch.no_grad():
            self.bias_ih[self.hidden_size : 2 * self.hidden_size] += check_real("update_bias", update_bias)

    def _gates(self, x, h):
        n = self.hidden_size
        gi = x @ self.weight_ih.T + self.bias_ih
        gh = h @ self.weight_hh.T + self.bias_hh
        r = torch.sigmoid(gi[:, :n] + gh[:, :n])
        z = torch.sigmoid(gi[:, n : 2 * n] + gh[:, n : 2 * n])
        hn = gh[:, 2 * n :]
        cand = torch.tanh(gi[:, 2 * n :] + r * hn)
        return r, z, cand, hn

    def step(self, x, state, t=0):
        r, z, cand, _ = self._gates(x, state)
        return (1 - z) * cand + z * state

    def step_jacobian(self, x, state, t=0):
        h = state
        r, z, cand, hn = self._gates(x, h)
        W_r, W_z, W_n = (self._block(self.weight_hh, k) for k in range(3))
        dz = _diag_mul(z * (1 - z), W_z)
        dcand = _diag_mul(1 - cand**2, _diag_mul(r, W_n) + _diag_mul(hn * r * (1 - r), W_r))
        return torch.diag_embed(z) + (h - cand).unsqueeze(-1) * dz + (1 - z).unsqueeze(-1) * dcand

    def recurrent_weights(self):
        return {name: self._block(self.weight_hh, k).detach() for k, name in enumerate(("W_hr", "W_hz", "W_hn"))}


class LSTM(_GatedBase):
    """``torch.nn.LSTM``'s cell; the state is ``[h; c]`` (size 2n).

    Parameters
    ----------
    hidden_size, input_size, gain, init, input_gain, bias_std, seed, dtype
        As for :class:`GRU`.
    forget_bias : float
        Bias of the forget gate (per-step factor σ(b_f) at the origin). Ignored
        when ``chrono`` is set.
    chrono : int, optional
        T_max for chrono initialisation (Tallec & Ollivier 2018):
        ``b_f = log U(1, T_max − 1)``, ``b_i = −b_f``. Needs T_max >= 3.

    Notes
    -----
    Torch layout and gate order (i, f, g, o): a trained ``torch.nn.LSTM`` layer
    loads directly.
    """

    name = "lstm"

    def __init__(self, hidden_size, input_size=1, *, gain=1.0, init="gaussian", forget_bias=1.0,
                 chrono: int | None = None, input_gain=1.0, bias_std=0.0, seed=0, dtype=torch.float64):
        super().__init__()
        draw = self._setup(hidden_size, input_size, 4, gain=gain, init=init, input_gain=input_gain,
                           bias_std=bias_std, seed=seed, dtype=dtype)
        n = self.hidden_size
        self.state_size = 2 * n
        with torch.no_grad():
            if chrono is not None:
                chrono = check_int("chrono", chrono, min_value=3)
                u = torch.rand(n, generator=draw.generator, dtype=torch.float64)
                b_f = torch.log(1 + u * (chrono - 2)).to(draw.dtype)
                self.bias_ih[n : 2 * n] = b_f
                self.bias_ih[:n] = -b_f
                self.bias_hh.zero_()
            else:
                self.bias_ih[n : 2 * n] += check_real("forget_bias", forget_bias)
        self.chrono = chrono

    def hidden(self, state):
        return state[..., : self.hidden_size]

    def cell(self, state):
        """The cell state c inside ``[h; c]``."""
        return state[..., self.hidden_size :]

    def _gates(self, x, h):
        n = self.hidden_size
        g_all = x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh
        i = torch.sigmoid(g_all[:, :n])
        f = torch.sigmoid(g_all[:, n : 2 * n])
        g = torch.tanh(g_all[:, 2 * n : 3 * n])
        o = torch.sigmoid(g_all[:, 3 * n :])
        return i, f, g, o

    def step(self, x, state, t=0):
        n = self.hidden_size
        h, c = state[:, :n], state[:, n:]
        i, f, g, o = self._gates(x, h)
        c_new = f * c + i * g
        return torch.cat([o * torch.tanh(c_new), c_new], dim=1)

    def step_jacobian(self, x, state, t=0):
        n = self.hidden_size
        h, c = state[:, :n], state[:, n:]
        i, f, g, o = self._gates(x, h)
        c_new = f * c + i * g
        tc = torch.tanh(c_new)
        W_i, W_f, W_g, W_o = (self._block(self.weight_hh, k) for k in range(4))
        dc_dh = (_diag_mul(c * f * (1 - f), W_f) + _diag_mul(g * i * (1 - i), W_i)
                 + _diag_mul(i * (1 - g**2), W_g))
        dc_dc = torch.diag_embed(f)
        dh_dh = _diag_mul(tc * o * (1 - o), W_o) + (o * (1 - tc**2)).unsqueeze(-1) * dc_dh
        dh_dc = torch.diag_embed(o * (1 - tc**2) * f)
        top = torch.cat([dh_dh, dh_dc], dim=2)
        bottom = torch.cat([dc_dh, dc_dc], dim=2)
        return torch.cat([top, bottom], dim=1)

    def recurrent_weights(self):
        return {name: self._block(self.weight_hh, k).detach() for k, name in enumerate(("W_hi", "W_hf", "W_hg", "W_ho"))}

    @staticmethod
    def forgetting_time(forget_bias: float) -> float:
        """``1/(1 − σ(b_f))``: the forgetting time at the origin, in steps."""
        check_real("forget_bias", forget_bias)
        return 1.0 + math.exp(forget_bias)

