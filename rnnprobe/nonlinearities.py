"""Elementwise nonlinearities with their derivatives and derivative bounds.

``gamma`` is ``sup |σ'|``, the constant in the Pascanu et al. (2013)
sufficient condition for vanishing gradients, ``σ_max(W_h) < 1/γ``.

Examples
--------
>>> import torch
>>> from rnnprobe.nonlinearities import get_nonlinearity
>>> tanh = get_nonlinearity("tanh")
>>> tanh.gamma
1.0
>>> float(tanh.derivative(torch.tensor(0.0)))
1.0
>>> get_nonlinearity("sigmoid").gamma
0.25
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from rnnprobe._validation import check_choice

__all__ = ["Nonlinearity", "NONLINEARITIES", "get_nonlinearity"]


@dataclass(frozen=True)
class Nonlinearity:
    """An elementwise map σ, its derivative σ′ and γ = sup|σ′|."""

    name: str
    function: Callable[[torch.Tensor], torch.Tensor]
    derivative: Callable[[torch.Tensor], torch.Tensor]
    gamma: float

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.function(x)


def _tanh_derivative(x: torch.Tensor) -> torch.Tensor:
    return 1.0 - torch.tanh(x) ** 2


def _sigmoid_derivative(x: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(x)
    return s * (1.0 - s)


def _relu_derivative(x: torch.Tensor) -> torch.Tensor:
    # The subgradient 0 at x == 0, as torch.autograd uses.
    return (x > 0).to(x.dtype)


NONLINEARITIES: dict[str, Nonlinearity] = {
    "tanh": Nonlinearity("tanh", torch.tanh, _tanh_derivative, 1.0),
    "relu": Nonlinearity("relu", torch.relu, _relu_derivative, 1.0),
    "sigmoid": Nonlinearity("sigmoid", torch.sigmoid, _sigmoid_derivative, 0.25),
    "linear": Nonlinearity("linear", lambda x: x, torch.ones_like, 1.0),
}


def get_nonlinearity(name: str) -> Nonlinearity:
    """Return the nonlinearity called ``name`` (one of :data:`NONLINEARITIES`)."""
    check_choice("nonlinearity", name, NONLINEARITIES)
    return NONLINEARITIES[name]
