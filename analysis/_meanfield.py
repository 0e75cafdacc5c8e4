"""Mean-field signal propagation for random networks (local fallback for ``rnnprobe.theory``).

Same interface as ``rnnprobe.theory``'s ``fixed_point`` and ``chi1``
(``(sigma_w, sigma_b=0.0, nonlinearity="tanh")``), so that
:func:`analysis.theory.meanfield_backend` can use either.

For ``h' = φ(W h + b)`` with ``W_ij ~ N(0, σ_w²/n)`` and ``b_i ~ N(0, σ_b²)``,
the pre-activations are Gaussian at large width with variance ``q`` following
the map (Poole et al. 2016)

    q ← V(q) = σ_w² E[φ(√q z)²] + σ_b²,      z ~ N(0, 1),

whose fixed point is q*. The mean squared singular value of one step's
Jacobian at q* is (Schoenholz et al. 2017)

    χ₁ = σ_w² E[φ′(√q* z)²].

χ₁ predicts the per-step growth of ``E‖J v‖²`` (of the *mean* squared norm),
not of ``E log ‖J v‖²``: χ₁ < 1 ordered (gradients vanish), χ₁ > 1 chaotic
(they explode), χ₁ = 1 the edge of chaos. The depth scale is
ξ = −1/log χ₁ (in steps, for ‖J v‖²; twice that for the norm itself).

Expectations are composite Gauss–Legendre quadrature over z ∈ [−12, 12]
(32 panels of 48 nodes, refined near 0 for large q): about 1e-14 relative for
tanh and sigmoid at q up to 10³ (checked against ``scipy.integrate.quad``).

An input term of variance ``v_x`` per step (a recurrent net's ``W_x x``) enters
the map exactly like the bias: use ``sigma_b = sqrt(σ_b² + v_x)``.

Examples
--------
>>> round(chi1(2.0 ** 0.5, 0.0, "relu"), 10)     # ReLU: χ₁ = σ_w²/2 (He et al. 2015)
1.0
>>> round(chi1(1.0, 0.0, "tanh"), 10)            # tanh, σ_b = 0, σ_w ≤ 1: q* = 0, χ₁ = σ_w²
1.0
>>> q = fixed_point(1.5, 0.1, "tanh")
>>> abs(variance_map(q, 1.5, 0.1, "tanh") - q) < 1e-10
True
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["NONLINEARITIES", "gaussian_expectation", "variance_map", "fixed_point", "chi1", "depth_scale"]

_LEG_X, _LEG_W = np.polynomial.legendre.leggauss(48)


def _nodes(q: float) -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss–Legendre nodes in z on [−12, 12] with the standard normal density folded into the weights.

    16 panels cover the Gaussian; 16 more cover |z| ≤ 12/√q, where φ(√q z)
    changes (it is nearly constant outside for large q).
    """
    inner = min(12.0, 12.0 / math.sqrt(q)) if q > 0 else 12.0
    edges = np.unique(np.concatenate([np.linspace(-12, 12, 17), np.linspace(-inner, inner, 17)]))
    a, b = edges[:-1, None], edges[1:, None]
    x = ((b - a) / 2 * _LEG_X + (a + b) / 2).ravel()
    w = ((b - a) / 2 * _LEG_W).ravel() * np.exp(-x * x / 2) / math.sqrt(2 * math.pi)
    return x, w


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
    """``E[f(√q z)]`` for ``z ~ N(0, 1)`` by composite Gauss–Legendre quadrature (relative error ~1e-14).

    Examples
    --------
    >>> round(gaussian_expectation(lambda x: x ** 2, 3.0), 12)
    3.0
    """
    x, w = _nodes(max(q, 0.0))
    return float(np.dot(w, f(math.sqrt(max(q, 0.0)) * x)))


def variance_map(q: float, sigma_w: float, sigma_b: float = 0.0, nonlinearity: str = "tanh") -> float:
    """One step of the length map ``V(q) = σ_w² E[φ(√q z)²] + σ_b²``."""
    phi, _, _ = _phi(nonlinearity)
    return sigma_w ** 2 * gaussian_expectation(lambda x: phi(x) ** 2, q) + sigma_b ** 2


def fixed_point(sigma_w: float, sigma_b: float = 0.0, nonlinearity: str = "tanh") -> float:
    """The stable fixed point q* of :func:`variance_map` (``inf`` when q grows without bound).

    For bounded φ (tanh, sigmoid) V is bounded, so a fixed point exists; it is
    found by bracketing (``scipy.optimize.brentq``) on ``V(q) − q``. q* = 0
    when the origin is the only fixed point (tanh with σ_b = 0 and σ_w ≤ 1).
    Homogeneous φ (ReLU, linear) have ``V(q) = a q + σ_b²``: q* = σ_b²/(1 − a)
    when a < 1, else ``inf`` (or 0 when σ_b = 0 and a = 1).
    """
    phi, _, homogeneous = _phi(nonlinearity)
    c = sigma_b ** 2
    if homogeneous:
        a = sigma_w ** 2 * gaussian_expectation(lambda x: phi(x) ** 2, 1.0)
        if a < 1:
            return c / (1 - a)
        return 0.0 if c == 0 else math.inf

    def f(q):
        return variance_map(q, sigma_w, sigma_b, nonlinearity) - q

    upper = sigma_w ** 2 * gaussian_expectation(lambda x: phi(x) ** 2, 1e6) + c + 1.0
    tiny = 1e-12
    if f(tiny) <= 0:
        return 0.0
    from scipy.optimize import brentq

    return float(brentq(f, tiny, upper, xtol=1e-14, rtol=1e-12))


def chi1(sigma_w: float, sigma_b: float = 0.0, nonlinearity: str = "tanh", *, q: float | None = None) -> float:
    """``χ₁ = σ_w² E[φ′(√q z)²]`` at the fixed point q* (or at a given ``q``)."""
    _, dphi, homogeneous = _phi(nonlinearity)
    if q is None:
        q = 1.0 if homogeneous else fixed_point(sigma_w, sigma_b, nonlinearity)
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
