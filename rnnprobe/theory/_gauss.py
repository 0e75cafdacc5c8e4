"""Gaussian expectations by composite Gauss–Legendre quadrature.

One- and two-dimensional expectations over standard normal variables of
functions built from an elementwise nonlinearity φ. The panels are graded
towards the origin and break there, so integrands that are smooth except at 0
(ReLU's kink, the step of ReLU′) and steep ones (tanh(√q z) for large q) are
integrated to near machine precision; the tails beyond |z| = 12 (mass
< 1e-32) are dropped. The 2-D rule works in polar coordinates and breaks the
angle wherever either argument of φ changes sign, so kinks of φ at 0 on both
axes of a correlated pair are panel edges too.

Examples
--------
>>> from rnnprobe.theory._gauss import normal_expectation
>>> round(normal_expectation(lambda z: z**4), 12)
3.0
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from scipy import special

from rnnprobe.nonlinearities import NONLINEARITIES, Nonlinearity, get_nonlinearity
from rnnprobe.errors import InvalidArgument

__all__ = ["normal_expectation", "bivariate_expectation", "NumpyNonlinearity", "as_numpy_nonlinearity"]

_ORDER = 12
_TAIL = 12.0
# graded breakpoints on [0, 12]: dense near 0, where kinks and steep slopes live
_BREAKS = np.concatenate([[0.0, 1e-4, 1e-3, 1e-2, 0.03, 0.1, 0.2, 0.35], np.arange(0.5, _TAIL + 1e-9, 0.5)])


def _legendre(breaks: np.ndarray, order: int = _ORDER) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(order)
    lo, hi = breaks[:-1, None], breaks[1:, None]
    nodes = (lo + hi) / 2 + (hi - lo) / 2 * x[None, :]
    weights = (hi - lo) / 2 * w[None, :]
    return nodes.ravel(), weights.ravel()


_R, _WR = _legendre(_BREAKS)
# 1-D standard normal rule on [-12, 12]
_Z = np.concatenate([-_R[::-1], _R])
_WZ = np.concatenate([_WR[::-1], _WR]) * np.exp(-_Z**2 / 2) / math.sqrt(2 * math.pi)
# radial rule for the 2-D polar form: ∫ g(r) r e^{-r²/2} dr
_WRAD = _WR * _R * np.exp(-_R**2 / 2)


def normal_expectation(f: Callable[[np.ndarray], np.ndarray], q: float = 1.0) -> float:
    """``E f(√q z)`` for z ~ N(0, 1).

    Parameters
    ----------
    f : callable
        Vectorised function of a numpy array.
    q : float
        Variance of the argument (>= 0).

    Returns
    -------
    float
    """
    return float(_WZ @ f(math.sqrt(q) * _Z))


def bivariate_expectation(f: Callable[[np.ndarray, np.ndarray], np.ndarray], q1: float, q2: float, c: float) -> float:
    """``E f(u1, u2)`` for a centred Gaussian pair with variances q1, q2 and correlation c.

    ``u1 = √q1 z1``, ``u2 = √q2 (c z1 + √(1−c²) z2)``; polar quadrature with
    angular panels broken where u1 or u2 changes sign.
    """
    c = min(1.0, max(-1.0, float(c)))
    s = math.sqrt(max(0.0, 1.0 - c * c))
    # sign changes of u1 (cos θ = 0) and of u2 (c cos θ + s sin θ = 0)
    phi0 = math.atan2(-c, s)
    kinks = [math.pi / 2, 3 * math.pi / 2, phi0 % (2 * math.pi), (phi0 + math.pi) % (2 * math.pi)]
    breaks = np.unique(np.concatenate([np.linspace(0, 2 * math.pi, 17), kinks]))
    breaks = breaks[np.concatenate([[True], np.diff(breaks) > 1e-14])]
    theta, wt = _legendre(breaks)
    ct, st = np.cos(theta), np.sin(theta)
    z1 = _R[:, None] * ct[None, :]
    z2 = _R[:, None] * st[None, :]
    u1 = math.sqrt(q1) * z1
    u2 = math.sqrt(q2) * (c * z1 + s * z2)
    vals = f(u1, u2)
    return float(_WRAD @ vals @ wt / (2 * math.pi))


def _sigmoid(x):
    return special.expit(x)


def _dsigmoid(x):
    s = special.expit(x)
    return s * (1.0 - s)


# numpy twins of the built-in nonlinearities (the quadrature calls them thousands of times; torch's
# per-call overhead dominates there). tests/test_theory_meanfield.py checks them against rnnprobe's.
_NUMPY_TWINS = {
    "tanh": (np.tanh, lambda x: 1.0 - np.tanh(x) ** 2),
    "sigmoid": (_sigmoid, _dsigmoid),
    "relu": (lambda x: np.maximum(x, 0.0), lambda x: (x > 0).astype(float)),
    "linear": (lambda x: np.asarray(x, dtype=float) * 1.0, lambda x: np.ones_like(x, dtype=float)),
}


class NumpyNonlinearity:
    """An rnnprobe :class:`~rnnprobe.nonlinearities.Nonlinearity` evaluated on numpy arrays.

    Built-in nonlinearities use numpy twins (same formulas, including ReLU′(0) = 0); any other
    Nonlinearity is evaluated through its torch functions.
    """

    def __init__(self, nonlinearity: Nonlinearity):
        self.nonlinearity = nonlinearity
        self.name = nonlinearity.name
        self.gamma = nonlinearity.gamma
        builtin = NONLINEARITIES.get(nonlinearity.name)
        self._twin = _NUMPY_TWINS.get(nonlinearity.name) if builtin is nonlinearity else None

    def phi(self, x: np.ndarray) -> np.ndarray:
        if self._twin is not None:
            return self._twin[0](np.asarray(x, dtype=np.float64))
        return self.nonlinearity.function(torch.from_numpy(np.asarray(x, dtype=np.float64))).numpy()

    def dphi(self, x: np.ndarray) -> np.ndarray:
        if self._twin is not None:
            return self._twin[1](np.asarray(x, dtype=np.float64))
        return self.nonlinearity.derivative(torch.from_numpy(np.asarray(x, dtype=np.float64))).numpy()

    def is_odd(self) -> bool:
        """Whether φ(−x) = −φ(x) on the quadrature nodes."""
        x = _Z * 3.0
        return bool(np.allclose(self.phi(-x), -self.phi(x), rtol=1e-12, atol=1e-14))

    def is_homogeneous(self) -> bool:
        """Whether φ(a x) = a φ(x) for a > 0 (then φ′ is scale-free: linear, ReLU)."""
        x = _Z * 3.0
        return bool(np.allclose(self.phi(2.5 * x), 2.5 * self.phi(x), rtol=1e-12, atol=1e-14))


def as_numpy_nonlinearity(nonlinearity) -> NumpyNonlinearity:
    """Accept a name from :data:`rnnprobe.NONLINEARITIES` or a :class:`Nonlinearity`."""
    if isinstance(nonlinearity, NumpyNonlinearity):
        return nonlinearity
    if isinstance(nonlinearity, Nonlinearity):
        return NumpyNonlinearity(nonlinearity)
    if isinstance(nonlinearity, str):
        return NumpyNonlinearity(get_nonlinearity(nonlinearity))
    raise InvalidArgument(
        f"nonlinearity must be a name from rnnprobe.NONLINEARITIES or a rnnprobe Nonlinearity; got {nonlinearity!r}"
    )
