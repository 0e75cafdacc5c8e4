"""Residual networks as ensembles of paths (Veit, Wilber & Belongie 2016).

A stack of n residual blocks ``s' = s + F_l(s)`` unrolls into 2ⁿ paths, one
per subset of blocks whose branch is taken; C(n, k) of them have length k, so
the path lengths are Binomial(n, ½) (:func:`path_length_distribution`).

Expanding the Jacobian the same way, ``∏ (I + B_l) = Σ_m P[m]`` with ``P[m]``
the sum over the paths through exactly m branches (``B_l = α D_l W_l``; see
:func:`rnnprobe.paths.path_lengths` for the probe). For random branches with
``E‖B_l u‖² = g_l ‖u‖²`` and ``E B_l = 0`` (odd φ, symmetric weights), distinct
paths are uncorrelated and ``E‖gᵀ P[m]‖² = e_m(g_1, …, g_n) ‖g‖²``, the m-th
elementary symmetric polynomial (:func:`path_length_weights`). Equal gains g
give ``C(n, m) g^m``: the squared-gradient weight of length m is
Binomial(n, g/(1 + g)), Veit's Binomial(n, ½) exactly when g = 1.
For rnnprobe's ``resmlp`` (``s' = s + α φ(W s + b)``), ``g_l = α² χ₁(q_l)`` with
``q_l`` from the residual length map (:func:`residual_branch_gains`): exact in
expectation for a linear branch at any width, mean-field (large width) for tanh.

Examples
--------
>>> from rnnprobe.theory.ensembles import path_length_distribution
>>> path_length_distribution(3).tolist()
[0.125, 0.375, 0.375, 0.125]
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from rnnprobe._validation import check_int, check_real
from rnnprobe.errors import InvalidArgument
from rnnprobe.theory._gauss import as_numpy_nonlinearity, normal_expectation

__all__ = [
    "path_length_distribution",
    "elementary_symmetric",
    "path_length_weights",
    "residual_length_iterates",
    "residual_branch_gains",
]


def path_length_distribution(n_blocks: int) -> np.ndarray:
    """Fraction of the 2ⁿ paths through n residual blocks that have length k = 0 … n: Binomial(n, ½)."""
    n = check_int("n_blocks", n_blocks, min_value=0)
    return stats.binom.pmf(np.arange(n + 1), n, 0.5)


def elementary_symmetric(values) -> np.ndarray:
    """``e_0 … e_L`` of ``values`` (``e_m`` = sum over m-subsets of the products), by dynamic programming.

    Examples
    --------
    >>> elementary_symmetric([1.0, 2.0, 3.0]).tolist()
    [1.0, 6.0, 11.0, 6.0]
    """
    x = np.atleast_1d(np.asarray(values, dtype=float))
    e = np.zeros(x.size + 1)
    e[0] = 1.0
    for v in x:
        e[1:] = e[1:] + v * e[:-1]
    return e


def path_length_weights(branch_gains, n_blocks: int | None = None) -> np.ndarray:
    """Expected share of ``‖gᵀ J‖²`` carried by the paths of each length: ``e_m(g)/∏(1 + g_l)``.

    Parameters
    ----------
    branch_gains : float or array-like
        ``g_l = E‖B_l u‖²/‖u‖²`` per block (one value for all blocks needs ``n_blocks``).
    n_blocks : int, optional
        Number of blocks when ``branch_gains`` is a scalar.

    Returns
    -------
    numpy.ndarray
        ``(n + 1,)``, summing to 1.

    Examples
    --------
    >>> path_length_weights(1.0, 2).tolist()       # g = 1: Veit's Binomial(n, ½)
    [0.25, 0.5, 0.25]
    """
    g = np.asarray(branch_gains, dtype=float)
    if g.ndim == 0:
        if n_blocks is None:
            raise InvalidArgument("n_blocks is needed when branch_gains is a single number; got None")
        g = np.full(check_int("n_blocks", n_blocks, min_value=0), float(g))
    if (g < 0).any() or not np.isfinite(g).all():
        raise InvalidArgument(f"branch_gains must be finite and >= 0; got {branch_gains!r}")
    e = elementary_symmetric(g)
    return e / e.sum()


def residual_length_iterates(depth: int, alpha: float, sigma_w: float, sigma_b: float = 0.0, nonlinearity="tanh", *,
                             input_mean_square: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Mean-field lengths of ``s' = s + α φ(W s + b)``: ``(v_0 … v_L, q_1 … q_L)``.

    ``v_l = ‖s_l‖²/n``, ``q_{l+1} = σ_w² v_l + σ_b²`` (the variance of block
    l+1's pre-activation) and ``v_{l+1} = v_l + α² E φ(√q z)²`` (the cross term
    ``2α E[s·φ(h)]/n`` vanishes for odd φ).
    """
    depth = check_int("depth", depth, min_value=0)
    alpha = check_real("alpha", alpha)
    sigma_w = check_real("sigma_w", sigma_w, low=0.0)
    sigma_b = check_real("sigma_b", sigma_b, low=0.0)
    nl = as_numpy_nonlinearity(nonlinearity)
    if not nl.is_odd():
        raise InvalidArgument(
            f"nonlinearity must be odd (φ(−x) = −φ(x), e.g. 'tanh' or 'linear') for the residual length map; "
            f"got {nl.name!r}, whose branch output has a mean that correlates with the state"
        )
    v = np.empty(depth + 1)
    q = np.empty(depth)
    v[0] = check_real("input_mean_square", input_mean_square, low=0.0)
    for l in range(depth):
        q[l] = sigma_w**2 * v[l] + sigma_b**2
        v[l + 1] = v[l] + alpha**2 * normal_expectation(lambda x: nl.phi(x) ** 2, q[l])
    return v, q


def residual_branch_gains(depth: int, alpha: float, sigma_w: float, sigma_b: float = 0.0, nonlinearity="tanh", *,
                          input_mean_square: float = 1.0) -> np.ndarray:
    """``g_l = α² σ_w² E φ′(√q_l z)²`` for every block of a residual stack (odd φ).

    Examples
    --------
    >>> residual_branch_gains(3, 0.5, 2.0, 0.0, "linear").tolist()
    [1.0, 1.0, 1.0]
    """
    _, q = residual_length_iterates(depth, alpha, sigma_w, sigma_b, nonlinearity, input_mean_square=input_mean_square)
    nl = as_numpy_nonlinearity(nonlinearity)
    return np.array([alpha**2 * sigma_w**2 * normal_expectation(lambda x: nl.dphi(x) ** 2, ql) for ql in q])
