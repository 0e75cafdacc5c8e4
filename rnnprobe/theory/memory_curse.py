"""The curse of memory (Zucchet & Orvieto 2024): state variance and parameter sensitivity of ``h_t = λ h_{t−1} + γ x_t``.

For white input (``E x_t = 0``, ``E x_t x_s = σ² δ_ts``) and ``h_0 = 0``,
``h_T = γ Σ_{k=0}^{T−1} λ^k x_{T−k}``, so with ``q = λ²``:

* ``E h_T² = γ² σ² Σ_{k<T} q^k`` → ``γ² σ²/(1 − λ²)`` (stationary; T → ∞);
* ``∂h_T/∂λ = γ Σ_k k λ^{k−1} x_{T−k}`` (γ held fixed), so
  ``E (∂h_T/∂λ)² = γ² σ² Σ_{k<T} k² q^{k−1}`` → ``γ² σ² (1 + λ²)/(1 − λ²)³``,
  using ``Σ_{k>=1} k² q^{k−1} = (1 + q)/(1 − q)³``.

Without normalisation (γ = 1) both blow up as |λ| → 1: memory makes the state's
scale, and far more its sensitivity to the recurrent parameter, explode, even though
the gradients through time neither vanish nor explode for |λ| < 1. The LRU's input
normalisation ``γ = √(1 − λ²)`` (a separate parameter there, held fixed when
differentiating: ``normalization='lru'``) makes ``E h² = σ²`` for every λ — it tames
the first — but leaves ``E (∂h/∂λ)² = σ² (1 + λ²)/(1 − λ²)²``, still unbounded. If γ
is a function of λ and differentiated too (``normalization='coupled'``), the extra
term ``γ′ Σ λ^k x`` with ``γ′ = −λ/γ`` cancels part of it:
``E (∂h/∂λ)² = σ²/(1 − λ²)²``. What finally tames it is the LRU's exponential
parametrisation ``λ = exp(−e^ν)`` (``parametrization='exp'``): ``∂λ/∂ν = λ log λ``, and
``(λ log λ)²·(1 + λ²)/(1 − λ²)² → 1/2`` as λ → 1 (``(λ log λ)²/(1 − λ²)² → 1/4``
coupled): bounded sensitivity, the paper's point.

Finite horizons (``horizon=T``) use the exact finite sums (the cross term of
'coupled' is ``2γγ′σ² Σ_k k λ^{2k−1}``).

Examples
--------
>>> from rnnprobe.theory.memory_curse import state_variance, lambda_sensitivity
>>> round(state_variance(0.9), 10), round(state_variance(0.9, normalization="lru"), 12)
(5.2631578947, 1.0)
>>> round(lambda_sensitivity(0.9), 6), round(lambda_sensitivity(0.9, normalization="lru"), 6)
(263.886864, 50.138504)
"""

from __future__ import annotations

import math

import numpy as np

from rnnprobe._validation import check_choice, check_int, check_real
from rnnprobe.errors import InvalidArgument

__all__ = ["NORMALIZATIONS", "PARAMETRIZATIONS", "state_variance", "lambda_sensitivity"]

#: ``'none'`` (γ = 1), ``'lru'`` (γ = √(1 − λ²), a fixed factor), ``'coupled'`` (γ(λ) differentiated too)
NORMALIZATIONS = ("none", "lru", "coupled")
#: the parameter the sensitivity is taken with respect to: λ itself, or ν with λ = exp(−e^ν)
PARAMETRIZATIONS = ("lambda", "exp")


def _lam(lam, parametrization="lambda") -> float:
    lam = check_real("lam", lam, low=-1.0, high=1.0, low_open=True, high_open=True,
                     hint="a stable real recurrence, |λ| < 1")
    if parametrization == "exp" and lam <= 0:
        raise InvalidArgument(f"lam must lie in (0, 1) for parametrization='exp' (λ = exp(−e^ν) > 0); got {lam!r}")
    return lam


def _horizon(horizon):
    return None if horizon is None else check_int("horizon", horizon, min_value=1)


def _sums(q: float, horizon: int | None) -> tuple[float, float, float]:
    """(Σ q^k, Σ k² q^{k−1}, Σ k q^{k}) over k = 0 … T−1 (T = horizon; stationary limits for None)."""
    if horizon is None:
        return 1.0 / (1.0 - q), (1.0 + q) / (1.0 - q) ** 3, q / (1.0 - q) ** 2
    k = np.arange(horizon, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        qk = q**k
        qk1 = np.where(k == 0, 0.0, q ** np.maximum(k - 1, 0))
    return float(qk.sum()), float((k**2 * qk1).sum()), float((k * qk).sum())


def state_variance(lam: float, *, normalization: str = "none", input_variance: float = 1.0,
                   horizon: int | None = None) -> float:
    """``E h_T²`` for ``h_t = λ h_{t−1} + γ x_t`` with white input of variance σ², from ``h_0 = 0``.

    Parameters
    ----------
    lam : float
        λ, in (−1, 1).
    normalization : {'none', 'lru', 'coupled'}
        γ = 1, or γ = √(1 − λ²) (the state variance does not care how γ is differentiated).
    input_variance : float
        σ² >= 0.
    horizon : int, optional
        T; None for the stationary value.
    """
    lam = _lam(lam)
    check_choice("normalization", normalization, NORMALIZATIONS)
    s2 = check_real("input_variance", input_variance, low=0.0)
    q = lam * lam
    g2 = 1.0 if normalization == "none" else 1.0 - q
    return g2 * s2 * _sums(q, _horizon(horizon))[0]


def lambda_sensitivity(lam: float, *, normalization: str = "none", parametrization: str = "lambda",
                       input_variance: float = 1.0, horizon: int | None = None) -> float:
    """``E (∂h_T/∂θ)²`` with θ = λ (or ν, ``λ = exp(−e^ν)``): the curse of memory.

    Parameters
    ----------
    lam : float
        λ, in (−1, 1) (in (0, 1) for ``parametrization='exp'``).
    normalization : {'none', 'lru', 'coupled'}
        γ = 1; γ = √(1 − λ²) held fixed (the LRU's separate parameter); or γ(λ) differentiated.
    parametrization : {'lambda', 'exp'}
    input_variance : float
        σ² >= 0.
    horizon : int, optional
        T; None for the stationary value.
    """
    check_choice("parametrization", parametrization, PARAMETRIZATIONS)
    lam = _lam(lam, parametrization)
    check_choice("normalization", normalization, NORMALIZATIONS)
    s2 = check_real("input_variance", input_variance, low=0.0)
    q = lam * lam
    geometric, weighted, cross = _sums(q, _horizon(horizon))
    if normalization == "none":
        value = weighted
    elif normalization == "lru":
        value = (1.0 - q) * weighted
    else:
        # a = γ Σ k λ^{k−1} x, b = γ′ Σ λ^k x, γ′ = −λ/γ: E a² + 2 E ab + E b², with γγ′ = −λ, γ′² = q/(1 − q)
        # E ab = γγ′ Σ k λ^{2k−1} = −λ·(Σ k q^k)/λ = −Σ k q^k
        value = (1.0 - q) * weighted - 2.0 * cross + q / (1.0 - q) * geometric
    if parametrization == "exp":
        value *= (lam * math.log(lam)) ** 2
    return s2 * value
