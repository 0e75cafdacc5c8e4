"""Timescales that gate biases set at the origin (LSTM forget gate, GRU update gate, chrono init).

At the origin (zero input, zero state) a gated cell is a leaky integrator:

* LSTM (torch convention, state ``[h; c]``): ``c' = f ⊙ c + i ⊙ g`` with
  ``f = σ(b_f)``. The c→c block of the step Jacobian is ``diag σ(b_f)`` for
  any recurrent weights; with zero recurrent weights the whole step Jacobian
  is ``[[0, diag(o f)], [0, diag f]]`` (o = σ(b_o)), so
  ``G(k) = max_i σ(b_f,i)^k √(1 + o_i²)``.
* GRU, both of rnnprobe's conventions (``gru`` and ``gru-torch``) keep z as the
  weight of the *old* state, ``h' = z ⊙ h + (1 − z) ⊙ h̃``: at h = 0 the step
  Jacobian is ``diag(z) + diag((1 − z) r) U`` (U the candidate's recurrent
  matrix, r = σ(b_r)), so ``diag σ(b_z)`` when U = 0 and ``G(k) = max_i σ(b_z,i)^k``.
  (Cho et al.'s original paper writes ``h' = (1 − z) h + z h̃``; there the
  factor is ``1 − σ(b_z) = σ(−b_z)``.)

A per-step factor a gives the forgetting time ``1/(1 − a) = 1 + e^b``
(the lecture's form; the mean lag of an exponentially weighted memory) and the
e-folding time ``−1/log a``; they differ by ½ step as a → 1:
``1/(1 − a) = −1/log a + ½ + O(1 − a)``.

Chrono initialisation (Tallec & Ollivier 2018): ``b_f = log U(1, T_max − 1)``
and ``b_i = −b_f``, so the forgetting times ``1 + e^{b_f}`` are uniform on
``[2, T_max]``.

Examples
--------
>>> from rnnprobe.theory.gates import gate_factor, forgetting_time
>>> round(gate_factor(0.0), 12), round(forgetting_time(0.0), 12)
(0.5, 2.0)
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

from rnnprobe._validation import check_choice, check_int
from rnnprobe.errors import InvalidArgument

__all__ = [
    "gate_factor",
    "forgetting_time",
    "efold_time",
    "bias_for_forgetting_time",
    "chrono_forgetting_times",
    "chrono_efold_cdf",
    "lstm_origin_jacobian_norms",
    "gru_origin_jacobian",
    "gru_origin_jacobian_norms",
    "GRU_CONVENTIONS",
]

#: which gate weights the old state: rnnprobe's ``gru`` and ``gru-torch`` use z; Cho et al. (2014) use 1 − z
GRU_CONVENTIONS = ("rnnprobe", "torch", "cho")


def _arr(x):
    a = np.asarray(x, dtype=float)
    if not np.isfinite(a).all():
        raise InvalidArgument(f"bias must be finite; got {x!r}")
    return a


def _out(a):
    return float(a) if np.ndim(a) == 0 else a


def gate_factor(bias, *, convention: str = "rnnprobe"):
    """Per-step retention factor at the origin: ``σ(b)`` (``σ(−b)`` for Cho et al.'s GRU).

    Examples
    --------
    >>> bool(abs(gate_factor(2.0, convention="cho") - 1 / (1 + np.exp(2.0))) < 1e-15)
    True
    """
    check_choice("convention", convention, GRU_CONVENTIONS)
    b = _arr(bias)
    return _out(special.expit(-b if convention == "cho" else b))


def forgetting_time(bias, *, convention: str = "rnnprobe"):
    """``1/(1 − a)`` with a the per-step factor: ``1 + e^{b}`` (``1 + e^{−b}`` for Cho's GRU)."""
    check_choice("convention", convention, GRU_CONVENTIONS)
    b = _arr(bias)
    return _out(1.0 + np.exp(-b if convention == "cho" else b))


def efold_time(bias, *, convention: str = "rnnprobe"):
    """``−1/log a``: steps for the retained fraction to fall by e (``log a = −log(1 + e^{−b})``)."""
    check_choice("convention", convention, GRU_CONVENTIONS)
    b = _arr(bias)
    b = -b if convention == "cho" else b
    return _out(1.0 / np.logaddexp(0.0, -b))


def bias_for_forgetting_time(tau):
    """The bias whose forgetting time ``1 + e^b`` is τ (> 1): ``b = log(τ − 1)``.

    Examples
    --------
    >>> bool(abs(bias_for_forgetting_time(11.0) - np.log(10.0)) < 1e-15)
    True
    """
    t = _arr(tau)
    if (t <= 1).any():
        raise InvalidArgument(f"tau must be > 1 (a forgetting time 1/(1 − a) with a in (0, 1)); got {tau!r}")
    return _out(np.log(t - 1.0))


def chrono_forgetting_times(t_max: int):
    """The distribution of the forgetting times ``1 + e^{b_f}`` under chrono init: U(2, T_max).

    Returns
    -------
    scipy.stats frozen distribution

    Examples
    --------
    >>> d = chrono_forgetting_times(10)
    >>> [float(x) for x in d.support()], float(d.mean())
    ([2.0, 10.0], 6.0)
    """
    t_max = check_int("t_max", t_max, min_value=3)
    return stats.uniform(loc=2.0, scale=t_max - 2.0)


def chrono_efold_cdf(tau, t_max: int):
    """CDF of the e-folding times ``−1/log σ(b_f)`` under chrono init.

    With ``u = e^{b_f} ~ U(1, T_max − 1)``: ``−1/log(u/(1 + u)) ≤ τ`` iff
    ``u ≤ 1/(e^{1/τ} − 1)``.
    """
    t_max = check_int("t_max", t_max, min_value=3)
    t = np.asarray(tau, dtype=float)
    with np.errstate(divide="ignore", over="ignore"):
        u = np.where(t > 0, 1.0 / np.expm1(1.0 / np.where(t > 0, t, 1.0)), 0.0)
    return _out(np.clip((u - 1.0) / (t_max - 2.0), 0.0, 1.0))


def lstm_origin_jacobian_norms(forget_bias, lags, *, output_bias=0.0) -> np.ndarray:
    """``G(k) = max_i σ(b_f,i)^k √(1 + σ(b_o,i)²)`` for an LSTM with zero recurrent weights at the origin.

    Exact when the recurrent matrices are zero, the input is zero and the
    cell bias ``b_g`` is zero (then c stays 0, ``tanh(c') = 0``).
    """
    bf = np.atleast_1d(_arr(forget_bias))
    bo = np.broadcast_to(_arr(output_bias), bf.shape)
    k = np.asarray(lags, dtype=float)
    f = special.expit(bf)
    o = special.expit(bo)
    logs = k[..., None] * np.log(f) + 0.5 * np.log1p(o**2)
    return np.exp(logs.max(-1))


def gru_origin_jacobian(update_bias, U, *, reset_bias=0.0, candidate_bias=0.0) -> np.ndarray:
    """The GRU step Jacobian at h = 0, x = 0: ``diag(z) + diag((1 − z) r (1 − h̃²)) U``.

    ``z = σ(b_z)``, ``r = σ(b_r)``, ``h̃ = tanh(b_n)``; U is the candidate's
    recurrent matrix (``U`` in rnnprobe's ``gru``, ``W_hn`` in ``gru-torch``: at
    h = 0 both conventions agree, and ``h̃ = 0`` needs ``b_n = 0`` for h = 0 to be
    a fixed point).
    """
    U = np.asarray(U, dtype=float)
    n = U.shape[0]
    z = np.broadcast_to(special.expit(_arr(update_bias)), (n,))
    r = np.broadcast_to(special.expit(_arr(reset_bias)), (n,))
    cand = np.broadcast_to(np.tanh(_arr(candidate_bias)), (n,))
    return np.diag(z) + ((1 - z) * r * (1 - cand**2))[:, None] * U


def gru_origin_jacobian_norms(update_bias, lags) -> np.ndarray:
    """``G(k) = max_i σ(b_z,i)^k``: a GRU with zero recurrent weights, zero input and zero candidate bias.

    Then the step Jacobian is ``diag σ(b_z)`` at every state.
    """
    bz = np.atleast_1d(_arr(update_bias))
    k = np.asarray(lags, dtype=float)
    return np.exp((k[..., None] * np.log(special.expit(bz))).max(-1))
