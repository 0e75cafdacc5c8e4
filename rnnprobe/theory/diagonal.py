"""Linear diagonal recurrences: exact Jacobian norms, the LRU ring's timescales, input-dependent forgetting.

For a diagonal recurrence ``s_t = a_t ⊙ s_{t−1} + b_t`` the product of step
Jacobians is the diagonal of products, ``∂s_T/∂s_t = diag ∏_{s>t} a_s``:

* with input-independent factors λ_j (LRU, S4D): ``G(k) = max_j |λ_j|^k`` exactly,
  and the e-folding memory is ``−1/log max_j |λ_j|``;
* the LRU ring (``|λ|² ~ U(r_min², r_max²)``, Orvieto et al. 2023) gives each unit the
  timescale ``τ = −1/log|λ|``, with ``P(τ <= t) = (e^{−2/t} − r_min²)/(r_max² − r_min²)``
  on ``[−1/log r_min, −1/log r_max]``: the spread of memories the ring buys;
* with input-dependent factors (minGRU ``1 − z_t = σ(−a_t)``, minLSTM ``f'_t``, S6
  ``exp(Δ_t A)``), ``log G(k)/k → max_j E[log a_{t,j}]`` for stationary inputs (law of
  large numbers, per unit): the per-unit decay rate ``r_j = −E[log a_{t,j}]`` sets the
  memory, the slowest unit wins, ``efold = 1/min_j r_j``. For a gate pre-activation
  ``a ~ N(m, s²)``: minGRU's ``−log(1 − σ(a)) = softplus(a)`` so ``r = E softplus(a)``;
  S6's ``−log exp(ΔA) = −A·softplus(p)`` with ``p ~ N(m, s²)`` the Δ pre-activation,
  so ``r = −A·E softplus(p)``, and the per-step factor has the closed-form law
  ``P(exp(ΔA) <= y) = 1 − Φ((softplus⁻¹(log y / A) − m)/s)``: selectivity, the
  spectrum of each step's Jacobian moving with the input.

A ``gain`` g multiplying every factor (rnnprobe's diagonal models) adds ``log g`` to
every log-factor: rates fall by ``log g``.

Examples
--------
>>> import numpy as np
>>> from rnnprobe.theory.diagonal import diagonal_jacobian_norms, ring_timescale_quantile
>>> diagonal_jacobian_norms([0.5, -0.8j], [1, 2]).tolist()
[0.8, 0.64]
>>> round(float(ring_timescale_quantile(1.0, 0.9, 0.99)), 6)      # the slowest unit: −1/log 0.99
99.499162
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from rnnprobe._validation import check_bool, check_real
from rnnprobe.errors import InvalidArgument
from rnnprobe.theory._gauss import bivariate_expectation, normal_expectation

__all__ = [
    "diagonal_jacobian_norms",
    "diagonal_efold_time",
    "ring_modulus_cdf",
    "ring_timescale_cdf",
    "ring_timescale_quantile",
    "softplus_mean",
    "mingru_decay_rate",
    "minlstm_decay_rate",
    "selective_decay_rate",
    "selective_factor_cdf",
    "selective_factor_quantile",
    "gated_efold_time",
    "order_statistic_mean",
]


def _moduli(eigenvalues) -> np.ndarray:
    lam = np.abs(np.atleast_1d(np.asarray(eigenvalues, dtype=complex)))
    if lam.size == 0 or not np.isfinite(lam).all():
        raise InvalidArgument(f"eigenvalues must be a non-empty array of finite numbers; got {eigenvalues!r}")
    return lam


def _out(a):
    return float(a) if np.ndim(a) == 0 else a


def diagonal_jacobian_norms(eigenvalues, lags, *, log: bool = False) -> np.ndarray:
    """``G(k) = max_j |λ_j|^k``: the exact Jacobian norms of a linear diagonal recurrence.

    Parameters
    ----------
    eigenvalues : array_like
        The (complex) factors λ_j.
    lags : array_like
        Lags k >= 0, integers.
    log : bool
        Return ``k·log max|λ_j|`` (natural log; finite where G underflows or overflows).
        Without it, a G(k) beyond the largest float raises InvalidArgument naming ``log``
        (never ``inf``), as the probes do.
    """
    rho = _moduli(eigenvalues).max()
    log = check_bool("log", log)
    try:
        k = np.asarray(lags, dtype=float)
    except (TypeError, ValueError):
        raise InvalidArgument(f"lags must be an array of integers k >= 0; got {lags!r}") from None
    if not (np.isfinite(k).all() and (k >= 0).all() and (k == np.floor(k)).all()):
        raise InvalidArgument(f"lags must be an array of integers k >= 0; got {lags!r}")
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(k == 0, 0.0, k * np.log(rho))
    if log:
        return logs
    if (logs > math.log(np.finfo(float).max)).any():
        raise InvalidArgument(f"log must be True here: G(k) = max|λ|^k exceeds the largest float64 at lag "
                              f"k = {int(k[logs > math.log(np.finfo(float).max)].min())} (max|λ| = {float(rho)!r}); "
                              f"pass log=True for k·log max|λ|")
    return np.exp(logs)


def diagonal_efold_time(eigenvalues) -> float:
    """The e-folding memory ``−1/log max_j |λ_j|`` (inf when max|λ| >= 1, 0 when every λ is 0)."""
    rho = float(_moduli(eigenvalues).max())
    if rho >= 1:
        return math.inf
    if rho == 0:
        return 0.0
    return -1.0 / math.log(rho)


def _ring(r_min, r_max):
    from rnnprobe.models.lru import check_ring

    return check_ring(r_min, r_max)


def ring_modulus_cdf(r, r_min: float, r_max: float):
    """``P(|λ| <= r)`` on the LRU ring: ``(r² − r_min²)/(r_max² − r_min²)``, clipped to [0, 1].

    A degenerate ring (``r_min == r_max``) is a step at ``r_max``.
    """
    r_min, r_max = _ring(r_min, r_max)
    r = np.asarray(r, dtype=float)
    if r_min == r_max:
        return _out((r >= r_max).astype(float))
    return _out(np.clip((r**2 - r_min**2) / (r_max**2 - r_min**2), 0.0, 1.0))


def ring_timescale_cdf(tau, r_min: float, r_max: float):
    """``P(−1/log|λ| <= τ)`` on the LRU ring: ``ring_modulus_cdf(e^{−1/τ})`` (0 for τ <= 0)."""
    t = np.asarray(tau, dtype=float)
    with np.errstate(divide="ignore", over="ignore"):
        r = np.where(t > 0, np.exp(-1.0 / np.where(t > 0, t, 1.0)), 0.0)
    return ring_modulus_cdf(r, r_min, r_max)


def ring_timescale_quantile(q, r_min: float, r_max: float):
    """The q-quantile of the ring's timescales: ``−2/log(r_min² + q(r_max² − r_min²))`` (inf where |λ| = 1)."""
    r_min, r_max = _ring(r_min, r_max)
    q = np.asarray(q, dtype=float)
    if ((q < 0) | (q > 1) | ~np.isfinite(q)).any():
        raise InvalidArgument(f"q must lie in [0, 1]; got {q.tolist()!r}")
    r2 = r_min**2 + q * (r_max**2 - r_min**2)
    with np.errstate(divide="ignore"):
        return _out(np.where(r2 >= 1.0, np.inf, -2.0 / np.log(r2)))


def _gauss_params(name_mean, mean, name_std, std):
    mean = check_real(name_mean, mean)
    std = check_real(name_std, std, low=0.0)
    return mean, std


def softplus_mean(mean: float, std: float) -> float:
    """``E softplus(a)`` for ``a ~ N(mean, std²)`` (Gauss–Legendre quadrature; exact at std = 0)."""
    mean, std = _gauss_params("mean", mean, "std", std)
    return normal_expectation(lambda z: np.logaddexp(0.0, mean + z), std**2)


def _gain_log(gain) -> float:
    return math.log(check_real("gain", gain, low=0.0, low_open=True))


def mingru_decay_rate(bias: float, std: float, *, gain: float = 1.0) -> float:
    """Per-step decay rate ``−E log(g(1 − z))`` of a minGRU unit whose gate pre-activation is ``N(bias, std²)``.

    ``−log(1 − σ(a)) = softplus(a)``, so the rate is ``E softplus(a) − log g``; for an input
    ``x ~ N(0, σ_x² I)`` and gate weights w_j, ``std = σ_x ‖w_j‖``.
    """
    return softplus_mean(bias, std) - _gain_log(gain)


def minlstm_decay_rate(forget_bias: float, input_bias: float, forget_std: float, input_std: float,
                       correlation: float = 0.0, *, gain: float = 1.0) -> float:
    """``−E log(g f')`` of a minLSTM unit, ``f' = σ(a_f)/(σ(a_f) + σ(a_i))``.

    ``(a_f, a_i)`` is Gaussian with means (forget_bias, input_bias), standard deviations
    (forget_std, input_std) and the given correlation (from one input x: ``w_f·w_i σ_x²``
    over the product of the std's). ``−log f' = log(1 + σ(a_i)/σ(a_f))``.
    """
    mf, sf = _gauss_params("forget_bias", forget_bias, "forget_std", forget_std)
    mi, si = _gauss_params("input_bias", input_bias, "input_std", input_std)
    c = check_real("correlation", correlation, low=-1.0, high=1.0)

    def neg_log_f(u1, u2):
        # log(1 + σ(a_i)/σ(a_f)) = log(σ(a_f) + σ(a_i)) − log σ(a_f), stably
        af, ai = u1 + mf, u2 + mi
        return np.logaddexp(-np.logaddexp(0.0, -af), -np.logaddexp(0.0, -ai)) + np.logaddexp(0.0, -af)

    return bivariate_expectation(neg_log_f, sf**2, si**2, c) - _gain_log(gain)


def selective_decay_rate(A: float, mean: float, std: float, *, gain: float = 1.0) -> float:
    """``−E log(g·exp(Δ A))`` for ``Δ = softplus(p)``, ``p ~ N(mean, std²)``, A < 0: ``−A·E softplus(p) − log g``."""
    A = check_real("A", A, high=0.0, high_open=True, hint="the diagonal of a stable state matrix, < 0")
    return -A * softplus_mean(mean, std) - _gain_log(gain)


def selective_factor_cdf(y, A: float, mean: float, std: float, *, gain: float = 1.0):
    """``P(g·exp(Δ A) <= y)`` for ``Δ = softplus(p)``, ``p ~ N(mean, std²)``, A < 0 (S6's per-step factor).

    ``g·exp(ΔA) <= y`` iff ``Δ >= log(y/g)/A`` iff ``p >= softplus⁻¹(log(y/g)/A)``; the
    factor lies in (0, g). At ``std = 0`` the law is a step at ``g·exp(softplus(mean)·A)``.
    """
    A = check_real("A", A, high=0.0, high_open=True, hint="the diagonal of a stable state matrix, < 0")
    mean, std = _gauss_params("mean", mean, "std", std)
    g = check_real("gain", gain, low=0.0, low_open=True)
    y = np.asarray(y, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        delta = np.log(np.where(y > 0, y / g, 1.0)) / A                      # the Δ at which the factor is y
        inside = (y > 0) & (y < g)
        d = np.where(inside, delta, 1.0)
        p = d + np.log(-np.expm1(-d))                                         # softplus⁻¹(Δ), Δ > 0
        if std == 0:
            cdf = (p <= mean).astype(float)
        else:
            cdf = stats.norm.sf((p - mean) / std)
    return _out(np.where(y <= 0, 0.0, np.where(y >= g, 1.0, cdf)))


def selective_factor_quantile(u, A: float, mean: float, std: float, *, gain: float = 1.0):
    """The inverse of :func:`selective_factor_cdf`: ``g·exp(A·softplus(mean + std·Φ⁻¹(1 − u)))`` for u in [0, 1]."""
    A = check_real("A", A, high=0.0, high_open=True, hint="the diagonal of a stable state matrix, < 0")
    mean, std = _gauss_params("mean", mean, "std", std)
    g = check_real("gain", gain, low=0.0, low_open=True)
    u = np.asarray(u, dtype=float)
    if ((u < 0) | (u > 1) | ~np.isfinite(u)).any():
        raise InvalidArgument(f"u must lie in [0, 1]; got {u.tolist()!r}")
    with np.errstate(over="ignore"):
        p = mean + std * stats.norm.isf(u)
    return _out(g * np.exp(A * np.logaddexp(0.0, p)))


#: composite Gauss–Legendre rule on [0, 1] (64 panels of 12 nodes) for order-statistic means
_V, _WV = np.polynomial.legendre.leggauss(12)
_PANELS = np.linspace(0.0, 1.0, 65)
_NODES = ((_PANELS[:-1, None] + _PANELS[1:, None]) / 2 + np.diff(_PANELS)[:, None] / 2 * _V[None, :]).ravel()
_WEIGHTS = (np.diff(_PANELS)[:, None] / 2 * _WV[None, :]).ravel()


def order_statistic_mean(quantile, k: int, n: int) -> float:
    """``E Q(U_(k))``: the mean k-th smallest of n i.i.d. draws of the law with quantile function Q.

    ``U_(k) ~ Beta(k, n + 1 − k)``; the expectation is ``∫₀¹ Q(B⁻¹(v)) dv`` with B⁻¹ the
    Beta quantile, by composite Gauss–Legendre quadrature in v (768 nodes): to about 1e-4
    relative (at most 6.3e-5 against closed forms in the tests; the Beta quantile's
    behaviour at v → 0, 1 limits it). This is what a sample order statistic estimates without bias (unlike the
    quantile Q(k/(n + 1))).

    Parameters
    ----------
    quantile : callable
        Vectorised Q: u in (0, 1) -> values.
    k, n : int
        ``1 <= k <= n``.

    Examples
    --------
    >>> round(order_statistic_mean(lambda u: u, 3, 9), 12)                  # uniform: k/(n + 1)
    0.3
    """
    from rnnprobe._validation import check_int

    n = check_int("n", n, min_value=1)
    k = check_int("k", k, min_value=1, max_value=n)
    if not callable(quantile):
        raise InvalidArgument(f"quantile must be a callable u -> Q(u); got {type(quantile).__name__}")
    u = stats.beta.ppf(_NODES, k, n + 1 - k)
    values = np.asarray(quantile(u), dtype=float)
    if values.shape != u.shape or not np.isfinite(values).all():
        raise InvalidArgument(f"quantile must map an array of u in (0, 1) to as many finite values; got "
                              f"{'shape ' + str(values.shape) if values.shape != u.shape else 'NaN/Inf'} for "
                              f"{u.size} points")
    return float(_WEIGHTS @ values)


def gated_efold_time(rates) -> float:
    """``1/min_j r_j``: the e-folding memory of a diagonal recurrence whose units decay at rates r_j
    (inf when the slowest rate is <= 0)."""
    r = np.atleast_1d(np.asarray(rates, dtype=float))
    if r.size == 0 or not np.isfinite(r).all():
        raise InvalidArgument(f"rates must be a non-empty array of finite numbers; got {rates!r}")
    slowest = float(r.min())
    return math.inf if slowest <= 0 else 1.0 / slowest

