"""Dynamical isometry: moments of the squared singular values of a deep input–output Jacobian.

For a depth-L stack with layer Jacobians ``D_l W_l`` the squared singular
values λ of ``J = D_L W_L ⋯ D_1 W_1`` are the eigenvalues of ``J Jᵀ``
(Pennington, Schoenholz & Ganguli 2017, "Resurrecting the sigmoid").

* Linear Gaussian nets (a product of L Ginibre matrices, ``W_ij ~ N(0, σ_w²/n)``):
  :func:`ginibre_product_moments` gives the *exact* finite-n moments from a
  Wishart recursion: mean ``σ_w^{2L}``, and for σ_w = 1 a variance that tends
  to L as n → ∞ (``L + L(L+1)/(2n) + O(n⁻²)`` at width n).
* Orthogonal linear nets (``W = g Q``): every singular value is ``g^L``
  (:func:`orthogonal_product_moments`).
* Nonlinear nets at large width (:func:`jacobian_spectrum_moments`): free
  probability. The S-transform of a spectral measure with mean m and second
  moment m₂ begins ``S(z) = (1/m)(1 − v z + …)`` with ``v = m₂/m² − 1``; the
  S-transform of ``J Jᵀ`` is ``∏_l S_{D_l²} S_{W_lᵀ W_l}``, so the means
  multiply and the normalised variances add:
  ``mean = χ₁^L``, ``variance = χ₁^{2L} · L · (μ₂/μ₁² − 1 + v_W)``, with
  ``μ_k = E[φ′(√q* z)^{2k}]`` and ``v_W = 1`` (Gaussian, Marchenko–Pastur) or 0
  (orthogonal). On the critical line (χ₁ = 1) this is PSG's
  ``σ²_{JJᵀ} = L(μ₂/μ₁² − 1 − s₁)`` with ``s₁ = −1`` (Gaussian) or 0 (orthogonal).

Examples
--------
>>> from rnnprobe.theory.isometry import ginibre_product_moments
>>> m = ginibre_product_moments(depth=3, width=10**9)
>>> m.mean, round(m.variance, 6)
(1.0, 3.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rnnprobe._validation import check_choice, check_int, check_real
from rnnprobe.theory._gauss import as_numpy_nonlinearity, normal_expectation
from rnnprobe.theory.meanfield import chi1, critical_sigma_w, fixed_point

__all__ = [
    "SpectrumMoments",
    "WEIGHT_ENSEMBLES",
    "ginibre_product_moments",
    "orthogonal_product_moments",
    "jacobian_spectrum_moments",
    "critical_point",
    "derivative_moments",
]

WEIGHT_ENSEMBLES = ("gaussian", "orthogonal")


@dataclass(frozen=True)
class SpectrumMoments:
    """Moments of the squared singular values λ of a random depth-L Jacobian.

    Attributes
    ----------
    depth : int
        L.
    width : int or None
        n where the moments are exact at finite width; None for n → ∞.
    mean : float
        ``E[(1/n) tr JJᵀ]``: the mean of λ.
    second_moment : float
        ``E[(1/n) tr (JJᵀ)²]``.
    variance : float
        ``second_moment − mean²``: the variance of λ pooled over networks (the
        variance of the expected spectral density).
    mean_sample_variance : float
        ``E[(1/n) tr (JJᵀ)² − ((1/n) tr JJᵀ)²]``: the expected variance of the
        n values λ of one network (equal to ``variance`` as n → ∞).
    sample_mean_variance : float
        ``Var[(1/n) tr JJᵀ]``: how much one network's mean λ varies between
        networks (0 as n → ∞).
    """

    depth: int
    width: int | None
    mean: float
    second_moment: float
    variance: float
    mean_sample_variance: float
    sample_mean_variance: float


def ginibre_product_moments(depth: int, width: int, sigma_w: float = 1.0) -> SpectrumMoments:
    """Exact finite-width moments of λ for ``J = W_L ⋯ W_1``, ``W_l`` n×n with i.i.d. N(0, σ_w²/n).

    With ``B_l = M_lᵀ M_l`` (``M_l = W_l ⋯ W_1``) and ``a_l = E tr B_l/n``,
    ``b_l = E tr B_l²/n``, ``c_l = E (tr B_l)²/n²``, the Wishart identities
    ``E[X A X] = m(m+1) A + m tr(A) I`` and ``E[(tr XA)²] = m² (tr A)² + 2m tr A²``
    (X = GᵀG, G an m×n standard Gaussian, A symmetric) give, for σ_w = 1::

        a_{l+1} = a_l,  b_{l+1} = (1 + 1/n) b_l + c_l,  c_{l+1} = c_l + 2 b_l/n²

    from ``a_0 = b_0 = c_0 = 1``; each layer multiplies a by σ_w² and b, c by σ_w⁴.

    Parameters
    ----------
    depth : int
        L >= 0.
    width : int
        n >= 1.
    sigma_w : float
        Weight scale.

    Returns
    -------
    SpectrumMoments

    Examples
    --------
    >>> m = ginibre_product_moments(1, 4)       # one Wishart matrix X = WᵀW: E tr X²/n = 2 + 1/n
    >>> m.mean, m.second_moment
    (1.0, 2.25)
    """
    L = check_int("depth", depth, min_value=0)
    n = check_int("width", width, min_value=1)
    s2 = check_real("sigma_w", sigma_w, low=0.0) ** 2
    a = b = c = 1.0
    for _ in range(L):
        a, b, c = s2 * a, s2**2 * ((1 + 1 / n) * b + c), s2**2 * (c + 2 * b / n**2)
    return SpectrumMoments(L, n, a, b, b - a * a, b - c, c - a * a)


def orthogonal_product_moments(depth: int, gain: float = 1.0) -> SpectrumMoments:
    """Moments of λ for ``J = (g Q_L) ⋯ (g Q_1)`` with orthogonal ``Q_l``: every λ equals ``g^{2L}``.

    Examples
    --------
    >>> m = orthogonal_product_moments(4, 0.5)
    >>> m.mean, m.variance
    (0.00390625, 0.0)
    """
    L = check_int("depth", depth, min_value=0)
    g = check_real("gain", gain, low=0.0)
    m = g ** (2 * L)
    return SpectrumMoments(L, None, m, m * m, 0.0, 0.0, 0.0)


def derivative_moments(q: float, nonlinearity="tanh") -> tuple[float, float]:
    """``(μ₁, μ₂) = (E φ′(√q z)², E φ′(√q z)⁴)``: the first two moments of the spectrum of D²."""
    nl = as_numpy_nonlinearity(nonlinearity)
    q = check_real("q", q, low=0.0)
    return (normal_expectation(lambda x: nl.dphi(x) ** 2, q), normal_expectation(lambda x: nl.dphi(x) ** 4, q))


def jacobian_spectrum_moments(depth: int, sigma_w: float, sigma_b: float = 0.0, nonlinearity="tanh", *,
                              weights: str = "gaussian", q: float | None = None) -> SpectrumMoments:
    """Large-width moments of λ for a depth-L stack at the length fixed point (free probability).

    ``mean = χ₁^L`` and ``variance = mean² · L · (μ₂/μ₁² − 1 + v_W)`` with
    ``v_W = 1`` for Gaussian and 0 for orthogonal weights (see the module
    docstring). Exact for linear φ as n → ∞; for other φ it assumes, as PSG do,
    that every layer's pre-activations have variance q* (start the network
    there) and that D_l and W_l are asymptotically free.

    Parameters
    ----------
    depth : int
        L >= 0.
    sigma_w, sigma_b : float
    nonlinearity : str or Nonlinearity
    weights : {'gaussian', 'orthogonal'}
    q : float, optional
        Pre-activation variance (default q*; needed for scale-free φ with no q*).

    Returns
    -------
    SpectrumMoments
        With ``width=None``; ``mean_sample_variance == variance`` and
        ``sample_mean_variance == 0`` (their n → ∞ values).

    Examples
    --------
    >>> m = jacobian_spectrum_moments(10, 1.0, 0.0, "linear", weights="gaussian")
    >>> m.mean, m.variance
    (1.0, 10.0)
    """
    L = check_int("depth", depth, min_value=0)
    check_choice("weights", weights, WEIGHT_ENSEMBLES)
    nl = as_numpy_nonlinearity(nonlinearity)
    if q is None:
        q = 1.0 if nl.is_homogeneous() else fixed_point(sigma_w, sigma_b, nl)
    mu1, mu2 = derivative_moments(q, nl)
    x = chi1(sigma_w, sigma_b, nl, q=q)
    v = mu2 / mu1**2 - 1.0 + (1.0 if weights == "gaussian" else 0.0)
    mean = x**L
    var = mean**2 * L * v
    return SpectrumMoments(L, None, mean, var + mean**2, var, var, 0.0)


def critical_point(sigma_b: float = 0.0, nonlinearity="tanh") -> tuple[float, float]:
    """``(σ_w, q*)`` on the order-to-chaos line at bias scale σ_b (χ₁ = 1).

    Examples
    --------
    >>> sw, q = critical_point(0.0, "tanh")
    >>> round(sw, 9), round(q, 9)
    (1.0, 0.0)
    """
    sw = critical_sigma_w(sigma_b, nonlinearity)
    nl = as_numpy_nonlinearity(nonlinearity)
    if nl.is_homogeneous():
        return sw, (fixed_point(sw, sigma_b, nl) if sigma_b == 0.0 else math.inf)
    return sw, fixed_point(sw, sigma_b, nl)
