"""Seeded parameter drawing shared by the built-in architectures."""

from __future__ import annotations

import torch
from torch import nn

from rnnprobe._validation import check_choice, check_dtype, check_real, check_seed
from rnnprobe.init import INIT_SCHEMES, init_matrix

__all__ = ["ParameterDrawer"]


class ParameterDrawer:
    """Draws every parameter of one model from one seeded generator, in a fixed order.

    Parameters
    ----------
    seed : int
        Seed of the generator (same seed, same weights).
    init : {'gaussian', 'orthogonal', 'spectral'}
        Scheme for matrices that act on the state.
    gain : float
        Gain of those matrices.
    dtype : torch.dtype or str
        Floating dtype of the parameters.
    """

    def __init__(self, *, seed: int = 0, init: str = "gaussian", gain: float = 1.0, dtype=torch.float64):
        self.seed = check_seed("seed", seed)
        self.init = check_choice("init", init, INIT_SCHEMES)
        self.gain = check_real("gain", gain, low=0.0)
        self.dtype = check_dtype("dtype", dtype)
        self.generator = torch.Generator().manual_seed(self.seed)

    def recurrent(self, rows: int, cols: int, *, gain: float | None = None) -> nn.Parameter:
        """A matrix acting on the state, drawn with the model's scheme and gain."""
        scheme = self.init if rows == cols or self.init != "spectral" else "gaussian"
        g = self.gain if gain is None else gain
        return nn.Parameter(init_matrix(rows, cols, scheme=scheme, gain=g, generator=self.generator, dtype=self.dtype))

    def gaussian(self, rows: int, cols: int, *, gain: float = 1.0) -> nn.Parameter:
        """A Gaussian N(0, gain²/cols) matrix (input weights); empty when cols == 0."""
        if cols == 0:
            return nn.Parameter(torch.zeros(rows, 0, dtype=self.dtype))
        return nn.Parameter(init_matrix(rows, cols, scheme="gaussian", gain=gain, generator=self.generator, dtype=self.dtype))

    def bias(self, size: int, *, std: float = 0.0, mean: float = 0.0) -> nn.Parameter:
        """A bias vector N(mean, std²) (exactly ``mean`` when std == 0)."""
        std = check_real("bias_std", std, low=0.0)
        noise = torch.randn(size, generator=self.generator, dtype=torch.float64)
        return nn.Parameter((mean + std * noise).to(self.dtype))
