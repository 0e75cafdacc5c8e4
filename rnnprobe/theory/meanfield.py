"""Mean-field signal propagation in deep random networks (Poole et al. 2016; Schoenholz et al. 2017).

The network is rnnprobe's ``mlp``: ``s_{l+1} = φ(h_{l+1})``, ``h_{l+1} = W_{l+1} s_l + b_{l+1}``,
``W_ij ~ N(0, σ_w²/n)``, ``b_i ~ N(0, σ_b²)``, drawn afresh for every layer. With
``z ~ N(0, 1)``:

* length map: ``q_{l+1} = σ_w² E[φ(√q_l z)²] + σ_b²`` (q is the variance of a
  pre-activation), fixed point ``q*``;
* ``χ₁ = σ_w² E[φ′(√q* z)²]``: the factor by which one layer multiplies
  ``E‖J v‖²`` for the layer Jacobian ``J = diag φ′(h) W`` and a random unit
  vector v, i.e. the mean squared singular value ``‖J‖_F²/n`` — NOT
  ``exp E log ‖Jv‖²``, which is smaller at finite width (see :func:`layer_growth`);
* depth scale ``ξ = −1/log χ₁`` (layers per e-fold of ``E‖Jv‖²``: positive in
  the ordered phase χ₁ < 1, negative in the chaotic phase, where ``|ξ|`` is the
  growth length; infinite on the critical line);
* correlation map for two inputs, its fixed point ``c*`` and slope
  ``χ_c = σ_w² E[φ′(u₁)φ′(u₂)]`` at ``c*``, ``ξ_c = −1/log χ_c``;
* the order-to-chaos line: the σ_w with χ₁ = 1 for each σ_b.

Finite width n (:func:`layer_growth`): the per-layer ratio ``R = ‖J u‖²/‖u‖²``
has ``E R = χ₁ + O(1/n)`` and ``E log R = log χ₁ − (3κ − 1)/(2n) + O(1/n)``
further terms, with κ = E φ′⁴ / (E φ′²)²; docs/theory.md has the derivation.

Examples
--------
>>> from rnnprobe.theory import meanfield as mf
>>> round(mf.chi1(1.5, 0.0, "relu"), 12)          # σ_w²/2 whatever q
1.125
>>> round(mf.fixed_point(0.5, 0.3, "linear"), 12)  # σ_b²/(1 − σ_w²)
0.12
>>> round(mf.critical_sigma_w(0.0, "tanh"), 9)
1.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from rnnprobe._validation import check_choice, check_int, check_real
from rnnprobe.errors import InvalidArgument
from rnnprobe.theory._gauss import as_numpy_nonlinearity, bivariate_expectation, normal_expectation

__all__ = [
    "MeanField",
    "LayerGrowth",
    "length_map",
    "length_iterates",
    "fixed_point",
    "chi1",
    "depth_scale",
    "correlation_map",
    "correlation_iterates",
    "correlation_fixed_point",
    "chi_c",
    "critical_sigma_w",
    "order_to_chaos_line",
    "mean_field",
    "layer_growth",
]

_Q_MAX = 1e12


def _params(sigma_w, sigma_b):
    return check_real("sigma_w", sigma_w, low=0.0), check_real("sigma_b", sigma_b, low=0.0)


def _check_q(q, name="q"):
    return check_real(name, q, low=0.0)


def _m(nl, power, q, deriv=False, zpow=0):
    """``E[f(√q z)^power z^zpow]`` with f = φ or φ′ (zpow in {0, 2})."""
    f = nl.dphi if deriv else nl.phi
    s = math.sqrt(q)
    if zpow == 0:
        return normal_expectation(lambda x: f(x) ** power, q)
    if s == 0.0:  # E[f(0)^power z²] = f(0)^power
        return float(f(np.zeros(1))[0]) ** power
    return normal_expectation(lambda x: f(x) ** power * (x / s) ** zpow, q)


def _dq(nl, power, q, deriv=False, order=1):
    """d/dq and d²/dq² of ``E f(√q z)^power`` by the Gaussian (Hermite) identities.

    ``d/dq E g = E[g (z² − 1)]/(2q)``, ``d²/dq² E g = E[g (z⁴ − 6z² + 3)]/(4q²)``.
    """
    f = nl.dphi if deriv else nl.phi
    s = math.sqrt(q)
    if order == 1:
        return normal_expectation(lambda x: f(x) ** power * ((x / s) ** 2 - 1), q) / (2 * q)
    return normal_expectation(lambda x: f(x) ** power * ((x / s) ** 4 - 6 * (x / s) ** 2 + 3), q) / (4 * q * q)


def length_map(q: float, sigma_w: float, sigma_b: float = 0.0, nonlinearity="tanh") -> float:
    """One step of the length map, ``σ_w² E[φ(√q z)²] + σ_b²``.

    Parameters
    ----------
    q : float
        Variance of a pre-activation at layer l (>= 0).
    sigma_w, sigma_b : float
        Weight and bias scales (``W_ij ~ N(0, σ_w²/n)``, ``b ~ N(0, σ_b²)``).
    nonlinearity : str or Nonlinearity
        φ: a name from ``rnnprobe.NONLINEARITIES`` or a Nonlinearity.

    Returns
    -------
    float
        The variance of a pre-activation at layer l + 1.

    Examples
    --------
    >>> round(length_map(2.0, 1.0, 0.5, "relu"), 12)   # q/2 + σ_b²
    1.25
    """
    sigma_w, sigma_b = _params(sigma_w, sigma_b)
    nl = as_numpy_nonlinearity(nonlinearity)
    return sigma_w**2 * _m(nl, 2, _check_q(q)) + sigma_b**2


def length_iterates(q1: float, depth: int, sigma_w: float, sigma_b: float = 0.0, nonlinearity="tanh") -> np.ndarray:
    """``q_1 … q_depth``: the pre-activation variance of every layer.

    For rnnprobe's ``mlp`` with network input s₀, ``q_1 = σ_w² ‖s₀‖²/n + σ_b²``.

    Returns
    -------
    numpy.ndarray
        ``(depth,)``.

    Examples
    --------
    >>> length_iterates(1.0, 3, 1.0, 0.0, "linear").tolist()
    [1.0, 1.0, 1.0]
    """
    depth = check_int("depth", depth, min_value=1)
    out = np.empty(depth)
    q = _check_q(q1, "q1")
    for l in range(depth):
        out[l] = q
        if l + 1 < depth:
            q = length_map(q, sigma_w, sigma_b, nonlinearity)
            if not math.isfinite(q) or q > 1e300:
                out[l + 1 :] = math.inf
                break
    return out


def fixed_point(sigma_w: float, sigma_b: float = 0.0, nonlinearity="tanh", *, q0: float = 1.0) -> float:
    """The fixed point q* of the length map that iterates from ``q0`` converge to.

    The map is increasing in q, so the iterates move monotonically to the
    nearest fixed point in the direction of ``length_map(q0) − q0``; it is
    bracketed and polished with Brent's method. ``0.0`` exactly when the
    iterates collapse: where q = 0 is fixed (σ_b = 0 and φ(0) = 0) and no
    positive fixed point can be resolved below q0, i.e. at and below the
    critical line (tanh with σ_b = 0 and σ_w <= 1, the critical point σ_w = 1
    included) and within rounding (1.4e-14 in σ_w² φ′(0)²) above it. Near
    q = 0 the fixed point is accurate to about 1e-14 absolute.

    Raises
    ------
    InvalidArgument
        When the length map diverges (no finite fixed point: linear nets with
        σ_w >= 1 and σ_b > 0, ReLU nets with σ_w >= √2, ...).

    Examples
    --------
    >>> round(fixed_point(1.0, 0.2, "relu"), 12)        # σ_b²/(1 − σ_w²/2)
    0.08
    >>> fixed_point(0.8, 0.0, "tanh"), fixed_point(1.0, 0.0, "tanh")   # ordered, and exactly critical
    (0.0, 0.0)
    """
    sigma_w, sigma_b = _params(sigma_w, sigma_b)
    q0 = check_real("q0", q0, low=0.0, low_open=True)
    nl = as_numpy_nonlinearity(nonlinearity)
    if nl.is_homogeneous():
        slope = sigma_w**2 * _m(nl, 2, 1.0)
        if slope < 1.0:
            return sigma_b**2 / (1.0 - slope)
        if slope == 1.0 and sigma_b == 0.0:
            return q0  # every q is fixed
        raise InvalidArgument(
            f"sigma_w must make the length map contract for {nl.name!r} (σ_w² E φ(z)² < 1, i.e. sigma_w < "
            f"{1 / math.sqrt(_m(nl, 2, 1.0)):.6g}, or equal to it with sigma_b = 0); got sigma_w={sigma_w!r}, "
            f"sigma_b={sigma_b!r}: q grows without bound, there is no finite fixed point"
        )

    def g(q):
        return sigma_w**2 * _m(nl, 2, q) + sigma_b**2 - q

    g0 = g(q0)
    if g0 == 0.0:
        return q0
    if g0 < 0 and sigma_b**2 == 0.0 and float(nl.phi(np.zeros(1))[0]) == 0.0:   # q = 0 is fixed
        return _collapse_or_fixed_point(nl, sigma_w, q0)
    if g0 > 0:
        lo, hi = q0, 2 * q0
        while g(hi) > 0:
            lo, hi = hi, 2 * hi
            if hi > _Q_MAX:
                raise InvalidArgument(
                    f"sigma_w={sigma_w!r}, sigma_b={sigma_b!r} give no finite fixed point of the length map for "
                    f"{nl.name!r} (q exceeds {_Q_MAX:g})"
                )
    else:
        hi, lo = q0, q0 / 1e4
        while g(lo) < 0:
            hi, lo = lo, lo / 1e4
            if lo < 1e-280:
                return 0.0
    return float(optimize.brentq(g, lo, hi, xtol=1e-15 * hi, rtol=4 * np.finfo(float).eps, maxiter=500))


# |relative growth − 1| of the length map below this is rounding (the quadrature's is ~4e-16)
_COLLAPSE_TOL = 64 * np.finfo(float).eps


def _collapse_or_fixed_point(nl, sigma_w: float, q0: float) -> float:
    """q* below ``q0`` when q = 0 is itself fixed (σ_b = 0, φ(0) = 0) and the map decreases at q0.

    The iterates fall to the largest fixed point below q0: a positive root of the relative growth
    ``h(q) = σ_w² E[φ(√q z)²]/q − 1`` (well conditioned as q → 0, where the absolute
    ``g(q) = q·h(q)`` drowns in rounding), else 0. Near the critical line ``h(q) → σ_w² φ′(0)² − 1``
    as q → 0; once ``|h|`` is within rounding (``_COLLAPSE_TOL`` ≈ 1.4e-14) no positive fixed point
    can be resolved and q* = 0 exactly: at and below the critical line, and within 1.4e-14 of it
    in ``σ_w² φ′(0)²`` above it (where the true q* is below about 1e-14).
    """
    def h(q):
        return sigma_w**2 * _m(nl, 2, q) / q - 1.0

    hi, lo = q0, q0 / 1e4
    while True:
        h_lo = h(lo)
        if h_lo > _COLLAPSE_TOL:
            return float(optimize.brentq(h, lo, hi, xtol=1e-15 * hi, rtol=4 * np.finfo(float).eps, maxiter=500))
        if h_lo >= -_COLLAPSE_TOL:
            return 0.0
        hi, lo = lo, lo / 1e4
        if lo < 1e-280:
            return 0.0


def _q_or_fixed(q, sigma_w, sigma_b, nl):
    if q is None:
        return fixed_point(sigma_w, sigma_b, nl)
    return _check_q(q)


def chi1(sigma_w: float, sigma_b: float = 0.0, nonlinearity="tanh", *, q: float | None = None) -> float:
    """``χ₁ = σ_w² E[φ′(√q z)²]`` at ``q`` (default the fixed point q*).

    The growth factor per layer of ``E‖J v‖²`` for the layer Jacobian
    ``J = diag φ′(h) W`` and a random unit vector v (the mean squared singular
    value ``‖J‖_F²/n``), in the limit of infinite width.

    Examples
    --------
    >>> round(chi1(0.9, 0.0, "linear"), 12)
    0.81
    """
    sigma_w, sigma_b = _params(sigma_w, sigma_b)
    nl = as_numpy_nonlinearity(nonlinearity)
    if nl.is_homogeneous():
        return sigma_w**2 * _m(nl, 2, 1.0, deriv=True)
    q = _q_or_fixed(q, sigma_w, sigma_b, nl)
    if q == 0.0:   # exactly σ_w² φ′(0)² (the quadrature's weights sum to 1 only to rounding)
        return sigma_w**2 * float(nl.dphi(np.zeros(1))[0]) ** 2
    return sigma_w**2 * _m(nl, 2, q, deriv=True)


def depth_scale(chi: float) -> float:
    """``ξ = −1/log χ``: layers per e-fold of a quantity multiplied by χ per layer.

    Positive (decay length) for χ < 1, negative for χ > 1 (``|ξ|`` is the
    growth length), infinite at χ = 1, 0 at χ = 0.

    Examples
    --------
    >>> round(depth_scale(math.exp(-0.25)), 12)
    4.0
    """
    chi = check_real("chi", chi, low=0.0)
    if chi == 0.0:
        return 0.0
    if chi == 1.0:
        return math.inf
    return -1.0 / math.log(chi)


def correlation_map(c: float, sigma_w: float, sigma_b: float = 0.0, nonlinearity="tanh", *, q: float | None = None) -> float:
    """One step of the correlation map at the length fixed point.

    ``c_{l+1} = (σ_w² E[φ(u₁) φ(u₂)] + σ_b²)/q*`` with ``u₁, u₂`` of variance q*
    and correlation ``c_l``: the correlation of the pre-activations of two
    inputs one layer deeper, once both have length q*.

    Examples
    --------
    >>> round(correlation_map(1.0, 1.5, 0.3, "tanh"), 12)   # c = 1 is always fixed
    1.0
    """
    sigma_w, sigma_b = _params(sigma_w, sigma_b)
    c = check_real("c", c, low=-1.0, high=1.0)
    nl = as_numpy_nonlinearity(nonlinearity)
    q = _q_or_fixed(q, sigma_w, sigma_b, nl)
    if q == 0.0:
        return 1.0
    return (sigma_w**2 * bivariate_expectation(lambda a, b: nl.phi(a) * nl.phi(b), q, q, c) + sigma_b**2) / q


def correlation_iterates(c1: float, depth: int, sigma_w: float, sigma_b: float = 0.0, nonlinearity="tanh") -> np.ndarray:
    """``c_1 … c_depth`` from ``c_1`` by the correlation map at q*."""
    depth = check_int("depth", depth, min_value=1)
    nl = as_numpy_nonlinearity(nonlinearity)
    q = fixed_point(sigma_w, sigma_b, nl)
    out = np.empty(depth)
    c = check_real("c1", c1, low=-1.0, high=1.0)
    for l in range(depth):
        out[l] = c
        c = min(1.0, correlation_map(c, sigma_w, sigma_b, nl, q=q))
    return out


def correlation_fixed_point(sigma_w: float, sigma_b: float = 0.0, nonlinearity="tanh") -> float:
    """The stable fixed point c* of the correlation map.

    ``1`` in the ordered phase and on the critical line (χ₁ <= 1: inputs
    converge); below 1 in the chaotic phase (χ₁ > 1: nearby inputs decorrelate
    to c*).

    Examples
    --------
    >>> correlation_fixed_point(1.0, 0.5, "tanh")
    1.0
    >>> 0 < correlation_fixed_point(2.5, 0.3, "tanh") < 1
    True
    """
    sigma_w, sigma_b = _params(sigma_w, sigma_b)
    nl = as_numpy_nonlinearity(nonlinearity)
    q = fixed_point(sigma_w, sigma_b, nl)
    if q == 0.0 or chi1(sigma_w, sigma_b, nl) <= 1.0:
        return 1.0

    def g(c):
        return correlation_map(c, sigma_w, sigma_b, nl, q=q) - c

    if g(0.0) <= 0.0:
        return 0.0
    delta = 1e-2
    while g(1.0 - delta) >= 0.0:
        delta /= 4
        if delta < 1e-12:
            return 1.0
    return float(optimize.brentq(g, 0.0, 1.0 - delta, xtol=1e-14))


def chi_c(sigma_w: float, sigma_b: float = 0.0, nonlinearity="tanh", *, c: float | None = None) -> float:
    """``χ_c = σ_w² E[φ′(u₁) φ′(u₂)]`` at correlation c (default c*), lengths q*.

    The slope of the correlation map at c: equal to χ₁ at c = 1.
    """
    sigma_w, sigma_b = _params(sigma_w, sigma_b)
    nl = as_numpy_nonlinearity(nonlinearity)
    q = fixed_point(sigma_w, sigma_b, nl)
    c = correlation_fixed_point(sigma_w, sigma_b, nl) if c is None else check_real("c", c, low=-1.0, high=1.0)
    if q == 0.0:
        return sigma_w**2 * float(nl.dphi(np.zeros(1))[0]) ** 2
    return sigma_w**2 * bivariate_expectation(lambda a, b: nl.dphi(a) * nl.dphi(b), q, q, c)


def critical_sigma_w(sigma_b: float = 0.0, nonlinearity="tanh") -> float:
    """The σ_w on the order-to-chaos line for bias scale σ_b: χ₁(σ_w, σ_b, q*) = 1.

    For positively homogeneous φ (linear, ReLU) χ₁ does not depend on q and the
    line is ``σ_w = 1/√E φ′(z)²`` (1 and √2); their q* is finite there only for
    σ_b = 0.

    Examples
    --------
    >>> round(critical_sigma_w(0.0, "relu") ** 2, 12)
    2.0
    >>> 1.0 < critical_sigma_w(0.3, "tanh") < 1.5
    True
    """
    sigma_b = check_real("sigma_b", sigma_b, low=0.0)
    nl = as_numpy_nonlinearity(nonlinearity)
    if nl.is_homogeneous():
        return 1.0 / math.sqrt(_m(nl, 2, 1.0, deriv=True))

    def h(sw):
        return chi1(sw, sigma_b, nl) - 1.0

    lo, hi = 1e-3, 1.0
    if h(lo) >= 0:
        raise InvalidArgument(f"no order-to-chaos transition for {nl.name!r} at sigma_b={sigma_b!r}: χ₁ >= 1 already at σ_w = {lo}")
    while h(hi) < 0:
        lo, hi = hi, 2 * hi
        if hi > 1e4:
            raise InvalidArgument(f"no order-to-chaos transition for {nl.name!r} at sigma_b={sigma_b!r} below σ_w = 1e4")
    return float(optimize.brentq(h, lo, hi, xtol=1e-13, rtol=1e-13))


def order_to_chaos_line(sigma_b, nonlinearity="tanh") -> np.ndarray:
    """:func:`critical_sigma_w` for every σ_b in an array: the line χ₁ = 1 in the (σ_b, σ_w) plane."""
    sb = np.atleast_1d(np.asarray(sigma_b, dtype=float))
    return np.array([critical_sigma_w(float(b), nonlinearity) for b in sb])


@dataclass(frozen=True)
class MeanField:
    """The infinite-width mean-field summary of one (σ_w, σ_b, φ).

    Attributes
    ----------
    sigma_w, sigma_b : float
    nonlinearity : str
    q_star : float
        Fixed point of the length map (``nan`` where there is none: scale-free φ
        whose q grows without bound).
    chi1 : float
        Growth per layer of E‖Jv‖² (mean squared singular value of a layer Jacobian).
    depth_scale : float
        ``−1/log χ₁``.
    c_star, chi_c, correlation_depth_scale : float
        Correlation fixed point, the map's slope there and ``−1/log χ_c``
        (``nan`` without a finite q*).
    phase : {'ordered', 'critical', 'chaotic'}
        χ₁ < 1, = 1 (to 1e-9) or > 1.
    """

    sigma_w: float
    sigma_b: float
    nonlinearity: str
    q_star: float
    chi1: float
    depth_scale: float
    c_star: float
    chi_c: float
    correlation_depth_scale: float
    phase: str


def mean_field(sigma_w: float, sigma_b: float = 0.0, nonlinearity="tanh") -> MeanField:
    """Every mean-field quantity for one network ensemble.

    Examples
    --------
    >>> mf = mean_field(2.0, 0.3, "tanh")
    >>> mf.phase, mf.chi1 > 1, mf.c_star < 1
    ('chaotic', True, True)
    """
    sigma_w, sigma_b = _params(sigma_w, sigma_b)
    nl = as_numpy_nonlinearity(nonlinearity)
    x = chi1(sigma_w, sigma_b, nl)
    try:
        q = fixed_point(sigma_w, sigma_b, nl)
    except InvalidArgument:
        q = math.nan
    if math.isfinite(q):
        cs = correlation_fixed_point(sigma_w, sigma_b, nl)
        xc = chi_c(sigma_w, sigma_b, nl, c=cs)
        xi_c = depth_scale(xc)
    else:
        cs = xc = xi_c = math.nan
    phase = "critical" if abs(x - 1.0) <= 1e-9 else ("ordered" if x < 1.0 else "chaotic")
    return MeanField(sigma_w, sigma_b, nl.name, q, x, depth_scale(x), cs, xc, xi_c, phase)


@dataclass(frozen=True)
class LayerGrowth:
    """Per-layer growth of a random direction at width n (or n → ∞).

    For a layer Jacobian ``J = diag φ′(h) W`` in the stationary regime
    (pre-activation variances at the length fixed point) and a unit vector u
    independent of this layer's W and b, ``R = ‖J u‖²``.

    Attributes
    ----------
    width : int or None
        n (None: infinite width).
    chi1 : float
        The infinite-width value of ``E R``.
    mean : float
        ``E R`` at width n, to O(1/n²) (exact for linear and ReLU).
    log_mean : float
        ``E log R`` per layer: the exponent that ``‖P v‖²`` of a depth-L product
        grows by *typically* (``exp(L·log_mean)``, vs ``mean^L`` on average).
    variance : float
        ``Var R`` to leading order (exact for linear and ReLU).
    log_variance : float
        ``Var log R`` to leading order (exact for linear and ReLU).
    q_mean, q_variance : float
        Stationary mean and variance of the conditional pre-activation variance
        ``q̂ = σ_w²‖s‖²/n + σ_b²`` (the mean of ``(1/n)Σ h_i²``; add ``2q*²/n``
        to the variance for that of ``(1/n)Σ h_i²`` itself).
    exact : bool
        Whether ``mean``, ``log_mean`` and the variances are exact finite-n
        values (linear and ReLU) rather than O(1/n) expansions.
    """

    width: int | None
    chi1: float
    mean: float
    log_mean: float
    variance: float
    log_variance: float
    q_mean: float
    q_variance: float
    exact: bool


def _relu_like(nl) -> tuple[float, float]:
    """Slopes (a, b) of a positively homogeneous φ on x > 0 and x < 0."""
    a = float(nl.dphi(np.array([1.0]))[0])
    b = float(nl.dphi(np.array([-1.0]))[0])
    return a, b


def layer_growth(sigma_w: float, sigma_b: float = 0.0, nonlinearity="tanh", *, width: int | None = None,
                 direction: str = "fresh") -> LayerGrowth:
    """The growth ratio ``R = ‖J u‖²/‖u‖²`` of one layer: mean, log-mean and variances at width n.

    Infinite width: ``E R = χ₁`` and ``E log R = log χ₁``. At width n (derived
    in docs/theory.md; with κ = E φ′⁴/(E φ′²)², everything at q*):

    * ``E R = χ₁ + θ σ_w² ρ (E[φ′² z²] − E φ′²)/n + χ₁′ E δ + ½ χ₁″ Var δ``.
      The second term arises because the row of W that made the pre-activation
      h also multiplies u: ``ρ = (q* − σ_b²)/q*``, and θ = n E cos²(u, s) is 1
      for a direction drawn afresh at every layer (``direction='fresh'``: the
      normalised Frobenius norm ``‖J‖_F²/n``) and ``λ/(1 − β)`` for a vector
      carried through the product (``direction='propagated'``: ``u ← J u``),
      with ``λ = E[φ′²φ²]/(E φ′² E φ²)`` and ``β = ρ E[φ′φ h]²/(q* E φ′² E φ²)``.
      ``δ = q̂ − q*`` is the finite-width fluctuation of the pre-activation
      variance, a Markov chain with ``Var δ = σ_w⁴ Var[φ²]/(n (1 − f′²))`` and
      ``E δ = ½ f″ Var δ/(1 − f′)`` (f the length map).
    * ``E log R = E log χ₁(q̂) + (E R − E χ₁(q̂))/χ₁ − (3κ − 1)/(2n)``: the χ²-type
      fluctuation of R costs ``Var R/(2 (E R)²) = (3κ − 1)/(2n)`` in the log.

    For linear φ, ``R = σ_w² χ²_n/n`` exactly: ``E log R = log σ_w² + ψ(n/2) − log(n/2)``.
    For ReLU, ``R = (σ_w²/n) χ²_K`` with K ~ Binomial(n, ½) active units, and
    ``E R = σ_w²/2`` exactly for any u: ``E log R = log(σ_w²/n) + E[ψ(K/2) + log 2 | K ≥ 1]``
    (K = 0, probability 2⁻ⁿ, gives R = 0 and is excluded).

    Parameters
    ----------
    sigma_w, sigma_b : float
    nonlinearity : str or Nonlinearity
    width : int, optional
        n >= 2; None for the infinite-width values.
    direction : {'fresh', 'propagated'}
        Whether u is independent of the network (a new random direction at
        every layer) or the image of a random input direction under the layers
        before (the E‖P v‖² of a product).

    Returns
    -------
    LayerGrowth

    Examples
    --------
    >>> g = layer_growth(1.0, 0.0, "linear", width=50)
    >>> g.mean, round(g.log_mean, 6), round(-1 / 50 - 1 / (3 * 50**2), 6)
    (1.0, -0.020133, -0.020133)
    """
    sigma_w, sigma_b = _params(sigma_w, sigma_b)
    nl = as_numpy_nonlinearity(nonlinearity)
    check_choice("direction", direction, ("fresh", "propagated"))
    n = None if width is None else check_int("width", width, min_value=2)
    x = chi1(sigma_w, sigma_b, nl)
    homogeneous = nl.is_homogeneous()
    try:
        q = fixed_point(sigma_w, sigma_b, nl)
    except InvalidArgument:
        if not homogeneous:
            raise
        q = math.inf
    if n is None or x == 0.0:
        lm = math.log(x) if x > 0 else -math.inf
        return LayerGrowth(n, x, x, lm, 0.0, 0.0, q, 0.0, n is None)
    if homogeneous:
        return _homogeneous_growth(nl, sigma_w, sigma_b, n, x, q)

    # smooth φ: O(1/n) expansion around q*
    mu1 = _m(nl, 2, q, deriv=True)
    kappa = _m(nl, 4, q, deriv=True) / mu1**2
    if q > 0:
        nu = _m(nl, 2, q, deriv=True, zpow=2)
        rho = (q - sigma_b**2) / q
        f1 = sigma_w**2 * _dq(nl, 2, q, order=1)
        f2 = sigma_w**2 * _dq(nl, 2, q, order=2)
        m2 = _m(nl, 2, q)
        var_d = sigma_w**4 * (_m(nl, 4, q) - m2**2) / (n * (1 - f1**2))
        mean_d = 0.5 * f2 * var_d / (1 - f1)
        x1 = sigma_w**2 * _dq(nl, 2, q, deriv=True, order=1)
        x2 = sigma_w**2 * _dq(nl, 2, q, deriv=True, order=2)
        if direction == "fresh":
            theta = 1.0
        else:
            pp = normal_expectation(lambda h: nl.dphi(h) ** 2 * nl.phi(h) ** 2, q)
            ph = normal_expectation(lambda h: nl.dphi(h) * nl.phi(h) * h, q)
            lam = pp / (mu1 * m2)
            beta = rho * ph**2 / (q * mu1 * m2)
            theta = lam / (1.0 - beta)
    else:  # collapsed: q̂ → 0, φ′ → φ′(0), a linear net
        nu, rho, theta = mu1, 1.0, 1.0
        var_d = mean_d = x1 = x2 = 0.0
    corr = theta * sigma_w**2 * rho * (nu - mu1) / n
    mean = x + x1 * mean_d + 0.5 * x2 * var_d + corr
    dlog1 = x1 / x
    dlog2 = x2 / x - dlog1**2
    lm = math.log(x) + dlog1 * mean_d + 0.5 * dlog2 * var_d + corr / x - (3 * kappa - 1) / (2 * n)
    lv = (3 * kappa - 1) / n + dlog1**2 * var_d
    return LayerGrowth(n, x, mean, lm, x**2 * lv, lv, q + mean_d, var_d, False)


def _homogeneous_growth(nl, sigma_w, sigma_b, n, x, q) -> LayerGrowth:
    """Exact finite-n growth for positively homogeneous φ (slopes a on x > 0, b on x < 0)."""
    a, b = _relu_like(nl)
    mu1 = (a**2 + b**2) / 2
    kappa = ((a**4 + b**4) / 2) / mu1**2
    variance = x**2 * (3 * kappa - 1) / n
    # q̂ chain: E[q̂′|q̂] = f′ q̂ + σ_b², Var[q̂′|q̂] = σ_w⁴ V₁ q̂²/n (V₁ = Var φ(z)²): exact stationary moments
    q_var = math.nan
    if math.isfinite(q):
        f1 = sigma_w**2 * _m(nl, 2, 1.0)
        v1 = _m(nl, 4, 1.0) - _m(nl, 2, 1.0) ** 2
        denom = 1.0 - f1**2 - sigma_w**4 * v1 / n
        q_var = (2 * f1 * sigma_b**2 * q + sigma_b**4) / denom - q**2 if denom > 0 else math.inf
    if a == b:  # linear: R = σ_w² a² χ²_n / n
        lm = math.log(x) + special.digamma(n / 2) - math.log(n / 2)
        lv = special.polygamma(1, n / 2)
        return LayerGrowth(n, x, x, float(lm), variance, float(lv), q, q_var, True)
    if a == 0.0 or b == 0.0:  # ReLU-like: R = σ_w² slope² χ²_K / n, K ~ Bin(n, ½)
        k = np.arange(1, n + 1)
        pk = np.exp(special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1) - n * math.log(2))
        pk = pk / pk.sum()
        logs = math.log(sigma_w**2 * max(a, b) ** 2 / n) + special.digamma(k / 2) + math.log(2)
        lm = float(pk @ logs)
        lv = float(pk @ (special.polygamma(1, k / 2) + (logs - lm) ** 2))
        return LayerGrowth(n, x, x, lm, variance, lv, q, q_var, True)
    lm = math.log(x) - (3 * kappa - 1) / (2 * n)
    return LayerGrowth(n, x, x, lm, variance, (3 * kappa - 1) / n, q, q_var, False)
