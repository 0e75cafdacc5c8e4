"""Singular values and spectral radius of the recurrent weights, and the Pascanu verdict.

Pascanu, Mikolov & Bengio (2013): for ``h' = σ(W_h h + …)`` with γ = sup|σ′|,
``σ_max(W_h) < 1/γ`` is *sufficient* for gradients to vanish (every step
Jacobian ``D_s W_h`` then has norm ``≤ γ σ_max < 1``); ``σ_max > 1/γ`` is
*necessary* for them to explode, not sufficient.

Examples
--------
>>> import rnnprobe
>>> model = rnnprobe.build("vanilla-sigmoid", hidden_size=8, init="orthogonal", gain=3.0, seed=0)
>>> spec = rnnprobe.weight_spectrum(model)
>>> spec.pascanu, round(spec.sigma_max, 6), spec.gamma
('vanishing', 3.0, 0.25)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from rnnprobe.errors import InvalidArgument
from rnnprobe.models.base import StepModel
from rnnprobe.trajectory import as_model

__all__ = ["BlockSpectrum", "WeightSpectrum", "weight_spectrum", "PASCANU_VERDICTS"]

PASCANU_VERDICTS = ("vanishing", "inconclusive", "not applicable")


@dataclass(frozen=True)
class BlockSpectrum:
    """Spectrum of one recurrent matrix (one gate's, or W_h).

    Attributes
    ----------
    singular_values : torch.Tensor
        In decreasing order.
    spectral_norm : float
        σ_max.
    spectral_radius : float or None
        max |eigenvalue| (None for a non-square block).
    """

    singular_values: torch.Tensor
    spectral_norm: float
    spectral_radius: float | None


@dataclass(frozen=True)
class WeightSpectrum:
    """Spectra of a model's recurrent matrices and the Pascanu et al. (2013) verdict.

    Attributes
    ----------
    blocks : dict[str, BlockSpectrum]
        ``{"W_h": …}`` for a vanilla RNN; one entry per gate for GRU/LSTM
        (``U_r, U_z, U`` / ``W_hr, W_hz, W_hn`` / ``W_hi, W_hf, W_hg, W_ho``); per
        layer for stacks.
    gamma : float or None
        sup|σ′| of the nonlinearity (None where the verdict does not apply).
    sigma_max : float
        Largest spectral norm over the blocks.
    pascanu : {'vanishing', 'inconclusive', 'not applicable'}
        ``'vanishing'`` when ``σ_max < 1/γ`` (gradients must vanish);
        ``'inconclusive'`` otherwise; ``'not applicable'`` for architectures
        whose step Jacobian is not ``D W`` (gated, residual, dense).
    explanation : str
        One sentence a person can read.
    """

    blocks: dict = field(default_factory=dict)
    gamma: float | None = None
    sigma_max: float = float("nan")
    pascanu: str = "not applicable"
    explanation: str = ""

    @property
    def largest_block(self) -> str | None:
        """Name of the block whose spectral norm is ``sigma_max`` (the first of equal ones); None without blocks."""
        return max(self.blocks, key=lambda name: self.blocks[name].spectral_norm) if self.blocks else None

    @property
    def vanishing_guaranteed(self) -> bool:
        """True when the sufficient condition for vanishing gradients holds."""
        return self.pascanu == "vanishing"


def weight_spectrum(model) -> WeightSpectrum:
    """Singular values and spectral radius of W_h (per gate, per layer) and the Pascanu verdict.

    Parameters
    ----------
    model : StepModel or torch recurrent module
        Built-in architectures, adapted torch modules and cells.

    Returns
    -------
    WeightSpectrum
    """
    model = as_model(model)
    if not isinstance(model, StepModel):  # pragma: no cover - as_model guarantees it
        raise InvalidArgument(f"model must be a StepModel; got {type(model).__name__}")
    blocks = {}
    for name, W in model.recurrent_weights().items():
        W = W.detach().to(torch.float64).cpu()
        if not bool(torch.isfinite(W).all()):
            raise InvalidArgument(f"model weight {name!r} must be finite; got NaN/Inf entries")
        sv = torch.linalg.svdvals(W)
        radius = float(torch.linalg.eigvals(W).abs().max()) if W.shape[0] == W.shape[1] else None
        blocks[name] = BlockSpectrum(sv, float(sv[0]), radius)
    sigma_max = max((b.spectral_norm for b in blocks.values()), default=float("nan"))
    sigma = getattr(model, "sigma", None)
    if not model.lecture_form or sigma is None:
        return WeightSpectrum(blocks, None, sigma_max, "not applicable",
                              f"{model.name}: the step Jacobian is not D·W_h, so σ_max(W_h) < 1/γ does not decide vanishing.")
    gamma = sigma.gamma
    if sigma_max < 1.0 / gamma:
        verdict = "vanishing"
        text = f"σ_max(W_h) = {sigma_max:.4g} < 1/γ = {1 / gamma:.4g}: every step shrinks gradients, so they must vanish."
    else:
        verdict = "inconclusive"
        text = (f"σ_max(W_h) = {sigma_max:.4g} >= 1/γ = {1 / gamma:.4g}: gradients may explode (necessary, not sufficient); "
                "measure them.")
    return WeightSpectrum(blocks, gamma, sigma_max, verdict, text)
