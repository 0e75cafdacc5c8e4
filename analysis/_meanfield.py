"""Mean-field signal propagation for random networks (local fallback for ``rnnprobe.theory``).

For ``h' = φ(W h + b)`` with ``W_ij ~ N(0, σ_w²/n)`` and ``b_i ~ N(0, σ_b²)``
(plus, for a recurrent net, an input term of variance ``v_x`` per step), the
pre-activations are Gaussian at large width with variance ``q`` following the
map (Poole et al. 2016)

    q ← V(q) = σ_w² E[φ(√q z)²] + σ_b² + v_x,      z ~ N(0, 1),

whose fixed point is q*. The mean squared singular value of one step's
Jacobian at q* is (Schoenholz et al. 2017)

    χ₁ = σ_w² E[φ′(√q* z)²].

χ₁ predicts the per-step growth of ``E‖J v‖²`` (of the *mean* squared norm),
not of ``E log ‖J v‖²``: χ₁ < 1 ordered (gradients vanish), χ₁ > 1 chaotic
(they explode), χ₁ = 1 the edge of chaos. The depth scale is
ξ = −1/log χ₁ (in steps, for ‖J v‖²; twice that for the norm itself).

Expectations are Gauss–Hermite quadrature (probabilists' weights, 80 nodes:
exact for polynomials to degree 159; ~1e-10 for tanh at the q of interest).

Examples
--------
>>> round(chi1("relu", 2.0 ** 0.5), 10)       # ReLU: χ₁ = σ_w²/2 (He et al. 2015)
1.0
>>> round(chi1("tanh", 1.0), 10)              # tanh, σ_b = 0, σ_w ≤ 1: q* = 0, χ₁ = σ_w²
1.0
>>> q = fixed_point("tanh", 1.5, 0.1)
>>> abs(variance_map(q, "tanh", 1.5, 0.1) - q) < 1e-10
True
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["NONLINEARITIES", "gaussian_expectation", "variance_map", "fixed_point", "chi1", "depth_scale"]

_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(80)
_WEIGHTS = _WEIGHTS / math.sqrt(2 * math.pi)


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


#: φ and φ′ (vectorised numpy), and whether φ is positively homogeneous (χ₁ independent of q).
NONLINEARITIES = {
    "tanh": (np.tanh, lambda x: 1.0 - np.tanh(x) ** 2, False),
    "relu": (lambda x: np.maximum(x, 0.0), lambda x: (x > 0).astype(float), True),
    "sigmoid": (_sigmoid, lambda x: _sigmoid(x) * (1.0 - _sigmoid(x)), False),
    "linear": (lambda x: x, np.ones_like, True),
}


def _phi(nonlinearity: str):
    if nonlinearity not in NONLINEARITIES:
        from rnnprobe.errors import InvalidArgument

        raise InvalidArgument(f"nonlinearity must be one of {', '.join(map(repr, NONLINEARITIES))}; got {nonlinearity!r}")
    return NONLINEARITIES[nonlinearity]


def gaussian_expectation(f, q: float) -> float:
    """``E[f(√q z)]`` for ``z ~ N(0, 1)`` by Gauss–Hermite quadrature.

    Examples
    --------
    >>> round(gaussian_expectation(lambda x: x ** 2, 3.0), 12)
    3.0
    """
    return float(np.dot(_WEIGHTS, f(math.sqrt(max(q, 0.0)) * _NODES)))


def variance_map(q: float, nonlinearity: str, sigma_w: float, sigma_b: float = 0.0, *, input_variance: float = 0.0) -> float:
    """One step of the length map ``V(q) = σ_w² E[φ(√q z)²] + σ_b² + v_x``."""
    phi, _, _ = _phi(nonlinearity)
    return sigma_w ** 2 * gaussian_expectation(lambda x: phi(x) ** 2, q) + sigma_b ** 2 + input_variance


def fixed_point(nonlinearity: str, sigma_w: float, sigma_b: float = 0.0, *, input_variance: float = 0.0) -> float:
    """The stable fixed point q* of :func:`variance_map` (``inf`` when q grows without bound).

    For bounded φ (tanh, sigmoid) V is bounded, so a fixed point exists; it is
    found by bracketing (``scipy.optimize.brentq``) on ``V(q) − q``. q* = 0
    when the origin is the only fixed point (tanh with σ_b = v_x = 0 and
    σ_w ≤ 1). Homogeneous φ (ReLU, linear) have ``V(q) = a q + c``: q* = c/(1 − a)
    when a < 1, else ``inf`` (or 0 when c = 0 and a = 1).
    """
    phi, _, homogeneous = _phi(nonlinearity)
    c = sigma_b ** 2 + input_variance
    if homogeneous:
        a = sigma_w ** 2 * gaussian_expectation(lambda x: phi(x) ** 2, 1.0)
        if a < 1:
            return c / (1 - a)
        return 0.0 if c == 0 else math.inf

    def f(q):
        return variance_map(q, nonlinearity, sigma_w, sigma_b, input_variance=input_variance) - q

    upper = sigma_w ** 2 * gaussian_expectation(lambda x: phi(x) ** 2, 1e6) + c + 1.0
    tiny = 1e-12
    if f(tiny) <= 0:
        return 0.0
    from scipy.optimize import brentq

    return float(brentq(f, tiny, upper, xtol=1e-14, rtol=1e-12))


def chi1(nonlinearity: str, sigma_w: float, sigma_b: float = 0.0, *, input_variance: float = 0.0,
         q: float | None = None) -> float:
    """``χ₁ = σ_w² E[φ′(√q z)²]`` at the fixed point q* (or at a given ``q``)."""
    _, dphi, homogeneous = _phi(nonlinearity)
    if q is None:
        q = 1.0 if homogeneous else fixed_point(nonlinearity, sigma_w, sigma_b, input_variance=input_variance)
    return sigma_w ** 2 * gaussian_expectation(lambda x: dphi(x) ** 2, q)


def depth_scale(chi: float) -> float:
    """ξ = −1/log χ₁ (steps for ‖Jv‖² to fall by e); ∞ at χ₁ = 1, negative when χ₁ > 1 (growth).

    Examples
    --------
    >>> round(depth_scale(math.exp(-0.5)), 12)
    2.0
    """
    if chi <= 0:
        return 0.0
    lc = math.log(chi)
    return math.inf if lc == 0 else -1.0 / lc
