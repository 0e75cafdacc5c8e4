"""minGRU and minLSTM (Feng et al. 2024, "Were RNNs all we needed?"): gates that read the input only.

``mingru``::

    z_t = σ(W_z x_t + b_z),   h̃_t = W_h x_t + b_h,   h_t = (1 − z_t) ⊙ h_{t−1} + z_t ⊙ h̃_t

``minlstm``::

    f_t = σ(W_f x_t + b_f),   i_t = σ(W_i x_t + b_i),   h̃_t = W_h x_t + b_h,
    f'_t = f_t / (f_t + i_t),  i'_t = i_t / (f_t + i_t),   h_t = f'_t ⊙ h_{t−1} + i'_t ⊙ h̃_t

Conventions: z is the paper's update gate, the fraction *written* each step
(unlike rnnprobe's ``gru``, whose z keeps the old state): a negative
``update_bias`` b_z means long memory, ``1 − σ(b_z)`` kept per step at zero input.
The candidate has no nonlinearity (the paper's sequential form; its log-space
parallel form is the same map). Since no gate reads h, the step Jacobian is
exactly ``diag(1 − z_t)`` (``diag(f'_t)``), times ``gain`` (see
:mod:`rnnprobe.models._diagonal`), and ``∂h_T/∂h_t = diag ∏_s (1 − z_s)``.

Examples
--------
>>> import math, torch, rnnprobe
>>> m = rnnprobe.build("mingru", hidden_size=3, input_size=2, update_bias=-2.0, seed=0)
>>> x = torch.zeros(1, 2, dtype=torch.float64)
>>> J = m.step_jacobian(x, torch.zeros(1, 3, dtype=torch.float64))[0]      # diag(1 − z), z = σ(−2) at x = 0
>>> torch.allclose(torch.diagonal(J), torch.full((3,), 1 / (1 + math.exp(-2.0)), dtype=torch.float64))
True
"""

from __future__ import annotations

import torch
from torch import nn

from rnnprobe._validation import check_int, check_real
from rnnprobe.models._diagonal import DiagonalRecurrentModel, gain_multiplier
from rnnprobe.models._params import ParameterDrawer

__all__ = ["MinGRU", "MinLSTM"]


class _MinGated(DiagonalRecurrentModel):
    def _setup(self, hidden_size, input_size, gates, *, gain, init, input_gain, bias_std, seed, dtype):
        self.hidden_size = check_int("hidden_size", hidden_size, min_value=1)
        self.input_size = check_int("input_size", input_size, min_value=0)
        self.state_size = self.hidden_size
        n, d = self.hidden_size, self.input_size
        draw = ParameterDrawer(seed=seed, init=init, gain=gain, dtype=dtype)
        input_gain = check_real("input_gain", input_gain, low=0.0)
        check_real("bias_std", bias_std, low=0.0)
        # gate blocks then the candidate, stacked: weight (G·n, d), bias (G·n,)
        self.weight = nn.Parameter(torch.cat([draw.gaussian(n, d, gain=input_gain).data for _ in range(gates + 1)]))
        bias = bias_std * torch.randn((gates + 1) * n, generator=draw.generator, dtype=torch.float64)
        return draw, bias

    def _finish(self, draw, bias):
        self.bias = nn.Parameter(bias.to(draw.dtype))
        zero = self._retain(bias[None, :])[0]
        self.register_buffer("scale", gain_multiplier(zero, draw.gain, draw.init).to(draw.dtype))

    def _pre(self, x):
        return x @ self.weight.T + self.bias

    def _retain(self, pre: torch.Tensor) -> torch.Tensor:
        """The kept fraction (without gain) from the pre-activations ``(B, (G+1)·n)``."""
        raise NotImplementedError

    def _write(self, pre: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def candidate(self, x: torch.Tensor) -> torch.Tensor:
        """h̃ = W_h x + b_h ``(B, n)``."""
        return self._pre(x)[..., -self.hidden_size :]

    def affine(self, x):
        pre = self._pre(x)
        return self.scale * self._retain(pre), self._write(pre) * pre[..., -self.hidden_size :]


class MinGRU(_MinGated):
    """minGRU (Feng et al. 2024): ``h' = (1 − z) ⊙ h + z ⊙ h̃`` with ``z = σ(W_z x + b_z)``, ``h̃ = W_h x + b_h``.

    Parameters
    ----------
    hidden_size, input_size : int
        n and d.
    update_bias : float
        Added to b_z: the fraction written per step at zero input is σ(b_z), kept
        ``1 − σ(b_z)`` (negative: long memory).
    input_gain : float
        W_z, W_h ~ N(0, input_gain²/d).
    gain, init
        See :mod:`rnnprobe.models._diagonal`: gain multiplies 1 − z.
    bias_std : float
        Biases N(0, bias_std²) (b_z then shifted by update_bias).
    seed, dtype

    Notes
    -----
    Parameters are stacked ``weight = [W_z; W_h]`` ``(2n, d)`` and ``bias = [b_z; b_h]``.
    """

    name = "mingru"
    weights_name = "1-z(x=0)"

    def __init__(self, hidden_size, input_size=1, *, update_bias=0.0, input_gain=1.0, gain=1.0, init="gaussian",
                 bias_std=0.0, seed=0, dtype=torch.float64):
        super().__init__()
        draw, bias = self._setup(hidden_size, input_size, 1, gain=gain, init=init, input_gain=input_gain,
                                 bias_std=bias_std, seed=seed, dtype=dtype)
        bias[: self.hidden_size] += check_real("update_bias", update_bias)
        self._finish(draw, bias)

    def update_gate(self, x: torch.Tensor) -> torch.Tensor:
        """z ``(B, n)``: the fraction written."""
        return torch.sigmoid(self._pre(x)[..., : self.hidden_size])

    def _retain(self, pre):
        return torch.sigmoid(-pre[..., : self.hidden_size])          # 1 − σ(a) = σ(−a), without cancellation

    def _write(self, pre):
        return torch.sigmoid(pre[..., : self.hidden_size])


class MinLSTM(_MinGated):
    """minLSTM (Feng et al. 2024): ``h' = f' ⊙ h + i' ⊙ h̃`` with normalised gates ``f' = f/(f+i)``, ``i' = i/(f+i)``.

    Parameters
    ----------
    hidden_size, input_size, input_gain, bias_std, seed, dtype
        As for :class:`MinGRU`.
    forget_bias : float
        Added to b_f: at zero input (other biases 0) the kept fraction is
        ``σ(b_f)/(σ(b_f) + 1/2)``.
    gain, init
        See :mod:`rnnprobe.models._diagonal`: gain multiplies f'.

    Notes
    -----
    Parameters are stacked ``weight = [W_f; W_i; W_h]`` ``(3n, d)`` and ``bias = [b_f; b_i; b_h]``.
    """

    name = "minlstm"
    weights_name = "f'(x=0)"

    def __init__(self, hidden_size, input_size=1, *, forget_bias=1.0, input_gain=1.0, gain=1.0, init="gaussian",
                 bias_std=0.0, seed=0, dtype=torch.float64):
        super().__init__()
        draw, bias = self._setup(hidden_size, input_size, 2, gain=gain, init=init, input_gain=input_gain,
                                 bias_std=bias_std, seed=seed, dtype=dtype)
        bias[: self.hidden_size] += check_real("forget_bias", forget_bias)
        self._finish(draw, bias)

    def gates(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The normalised gates ``(f', i')``, each ``(B, n)``."""
        pre = self._pre(x)
        return self._retain(pre), self._write(pre)

    def _fi(self, pre):
        n = self.hidden_size
        return torch.sigmoid(pre[..., :n]), torch.sigmoid(pre[..., n : 2 * n])

    def _retain(self, pre):
        f, i = self._fi(pre)
        return f / (f + i)

    def _write(self, pre):
        f, i = self._fi(pre)
        return i / (f + i)
