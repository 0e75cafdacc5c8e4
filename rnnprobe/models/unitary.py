"""A unitary (orthogonal) RNN: W_h = exp(A) with A skew-symmetric (Lezcano-Casado & Martínez-Rubio 2019).

::

    h' = σ(g·exp(A) h + W_x x + b),     A = −Aᵀ

The exponential of a skew-symmetric matrix is orthogonal, so every singular value
of ``W_h = g·exp(A)`` is g (1 at the default gain): the recurrent matrix neither
stretches nor shrinks, and gradients vanish or explode only through σ′. As in
expRNN, ``A`` is the parameter (its skew part ``(A − Aᵀ)/2`` is used, so that any
update keeps W_h orthogonal) and W_h is recomputed from it by ``torch.matrix_exp``.

σ is ``'modrelu'`` (the default; Arjovsky et al. 2016, used by expRNN):
``modReLU(a) = sign(a)·relu(|a| + b_mod)`` per unit, with a learnable bias b_mod
(``modrelu_bias``, the same for every unit at initialisation); for real a it passes
``a + sign(a)·b_mod`` when ``|a| > −b_mod`` and 0 otherwise, so σ′ ∈ {0, 1} (0 at
a = 0, as autograd has it) and γ = sup|σ′| = 1; with ``b_mod >= 0`` every unit
passes and the net is exactly norm-preserving through time. ``'tanh'`` gives the
classic saturating unit (and ``'relu'``, ``'sigmoid'``, ``'linear'`` are accepted
too). Either way the step Jacobian is ``D·W_h`` (the lecture's form).

Initialisation: ``A = (G − Gᵀ)/√2`` with G_ij ~ N(0, 1/n), whose eigenvalues ±iθ
spread over |θ| <= 2 (a semicircle): W_h's eigenphases. Every ``init`` scheme gives
this W_h = g·exp(A), which has all three schemes' defining properties at once
(all singular values g, spectral radius g); ``init`` is validated and otherwise
unused.

Examples
--------
>>> import torch, rnnprobe
>>> m = rnnprobe.build("unitary", hidden_size=5, seed=0)
>>> torch.allclose(torch.linalg.svdvals(m.recurrent_weights()["W_h"]), torch.ones(5, dtype=torch.float64))
True
"""

from __future__ import annotations

import math

import torch
from torch import nn

from rnnprobe._validation import check_choice, check_int, check_real
from rnnprobe.init import init_matrix
from rnnprobe.models._params import ParameterDrawer
from rnnprobe.models.base import RecurrentModel
from rnnprobe.nonlinearities import NONLINEARITIES, Nonlinearity, get_nonlinearity

__all__ = ["UnitaryRNN", "UNITARY_NONLINEARITIES", "modrelu", "modrelu_derivative"]

UNITARY_NONLINEARITIES = ("modrelu", *NONLINEARITIES)


def modrelu(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``sign(a)·relu(|a| + b)`` (modReLU of a real input)."""
    return torch.sign(a) * torch.relu(torch.abs(a) + b)


def modrelu_derivative(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``∂ modReLU/∂a = sign(a)²·[|a| + b > 0]`` (0 at a = 0, as torch.autograd has it)."""
    return torch.sign(a) ** 2 * (torch.abs(a) + b > 0).to(a.dtype)


class UnitaryRNN(RecurrentModel):
    """``h' = σ(g·exp(A) h + W_x x + b)`` with A skew-symmetric: an orthogonal recurrent matrix.

    Parameters
    ----------
    hidden_size, input_size : int
        n and d.
    nonlinearity : {'modrelu', 'tanh', 'relu', 'sigmoid', 'linear'}
        σ (see the module docstring).
    modrelu_bias : float
        The modReLU bias b_mod of every unit at initialisation (ignored for tanh).
    gain : float
        g: W_h = g·exp(A) has every singular value g.
    init : {'gaussian', 'orthogonal', 'spectral'}
        Validated; every scheme gives the same (orthogonal) W_h.
    input_gain : float
        W_x ~ N(0, input_gain²/d).
    bias_std : float
        b ~ N(0, bias_std²).
    seed, dtype
    """

    name = "unitary"
    family = "vanilla"
    lecture_form = True

    def __init__(self, hidden_size, input_size=1, *, nonlinearity="modrelu", modrelu_bias=0.0, gain=1.0,
                 init="gaussian", input_gain=1.0, bias_std=0.0, seed=0, dtype=torch.float64):
        super().__init__()
        self.hidden_size = check_int("hidden_size", hidden_size, min_value=1)
        self.input_size = check_int("input_size", input_size, min_value=0)
        self.state_size = self.hidden_size
        n = self.hidden_size
        self.nonlinearity = check_choice("nonlinearity", nonlinearity, UNITARY_NONLINEARITIES)
        draw = ParameterDrawer(seed=seed, init=init, gain=gain, dtype=dtype)
        G = init_matrix(n, n, gain=1.0, generator=draw.generator)             # N(0, 1/n), float64
        self.A = nn.Parameter(((G - G.T) / math.sqrt(2)).to(draw.dtype))
        self.register_buffer("gain", torch.tensor(draw.gain, dtype=draw.dtype))
        self.W_x = draw.gaussian(n, self.input_size, gain=check_real("input_gain", input_gain, low=0.0))
        self.b = draw.bias(n, std=bias_std)
        self.b_mod = nn.Parameter(torch.full((n,), check_real("modrelu_bias", modrelu_bias), dtype=draw.dtype))

    @property
    def W_h(self) -> torch.Tensor:
        """``g·exp((A − Aᵀ)/2)``."""
        return self.gain * torch.matrix_exp((self.A - self.A.T) / 2)

    @property
    def sigma(self) -> Nonlinearity:
        """σ with its derivative and γ = 1 (modReLU's bias is the model's ``b_mod``)."""
        if self.nonlinearity != "modrelu":
            return get_nonlinearity(self.nonlinearity)
        b = self.b_mod
        return Nonlinearity("modrelu", lambda a: modrelu(a, b), lambda a: modrelu_derivative(a, b), 1.0)

    def preactivation(self, x: torch.Tensor, h: torch.Tensor, W: torch.Tensor | None = None) -> torch.Tensor:
        """``W_h h + W_x x + b``."""
        W = self.W_h if W is None else W
        return h @ W.T + x @ self.W_x.T + self.b

    def step(self, x, state, t=0):
        return self.sigma(self.preactivation(x, state))

    def step_jacobian(self, x, state, t=0):
        W = self.W_h
        d = self.sigma.derivative(self.preactivation(x, state, W))
        return d.unsqueeze(-1) * W

    def derivative_diagonals(self, xs, states, t0=0):
        return self.sigma.derivative(self.preactivation(xs, states))

    def recurrent_weights(self):
        with torch.no_grad():
            return {"W_h": self.W_h.detach()}
