"""The χ₁ comparison for the vanishing, depth and memory studies: measured gradient growth per step against mean field.

(The ``theory`` study's own checks, mean field included, are
:mod:`rnnprobe.analysis.prediction_checks`; the predictions themselves are
:mod:`rnnprobe.theory`.)

Mean-field theory (Poole et al. 2016; Schoenholz et al. 2017) predicts, for a
random network ``h' = φ(W h + b)`` with ``W_ij ~ N(0, σ_w²/n)``, that one step
multiplies the *mean* squared norm of a back-propagated vector by
``χ₁ = σ_w² E[φ′(√q* z)²]`` (q* the fixed point of the variance map; see
:mod:`rnnprobe.theory`). The studies record g(k) = ‖∂L/∂h_{T−k}‖ for a random
unit readout, which is ‖vᵀ P‖ for a random unit v; so the matching measurement
is the slope of

    log( mean over seeds of g(k)² )   against k,

whose exponential is the measured χ₁. The theory holds for ``mlp`` (fresh
weights at every layer, exactly its setting) and, with the input's variance
``v_x`` added to the variance map, approximately for vanilla RNNs (the same W
at every step; Chen, Pennington & Schoenholz 2018). Finite width (the
studies use tens of units), the initial transient towards q*, and few seeds all
move the measurement; the ``error`` column shows by how much.

The mean-field functions (fixed point, χ₁, depth scale) are
:mod:`rnnprobe.theory`'s.

Examples
--------
>>> import numpy as np, pandas as pd
>>> k = np.arange(1, 21)
>>> results = pd.DataFrame({"arch": "mlp", "hidden": 64, "depth": 20, "gain": 0.8, "seed": 0,
...     "metric": "gradient_norm", "layer": 20 - k, "value": 0.8 ** k})
>>> row = chi1_comparison(results).iloc[0]
>>> round(float(row.chi1_predicted), 6), round(float(row.chi1_measured), 6)   # σ_w = 0.8, σ_b = 0: χ₁ = 0.64
(0.64, 0.64)
"""

from __future__ import annotations

import math

import pandas as pd

from rnnprobe import theory
from rnnprobe.analysis._frames import group_columns, metric_rows, point_key, sort_by_arch
from rnnprobe.analysis.fits import fit_log_linear

__all__ = ["MEANFIELD_ARCHS", "predicted_chi1", "chi1_comparison"]

#: Architectures mean-field theory describes, and their φ.
MEANFIELD_ARCHS = {"mlp": "tanh", "vanilla-tanh": "tanh", "vanilla-relu": "relu",
                   "vanilla-sigmoid": "sigmoid", "vanilla-linear": "linear"}
_FEEDFORWARD = {"mlp"}


def predicted_chi1(nonlinearity: str, sigma_w: float, sigma_b: float = 0.0, *, input_variance: float = 0.0) -> tuple[float, float]:
    """``(q*, χ₁)`` from :mod:`rnnprobe.theory`.

    The input's variance ``v_x`` enters the variance map like the bias's, so the
    theory is called with the effective ``sqrt(σ_b² + v_x)``. q* is ``inf`` when
    the variance map has no finite fixed point (χ₁ is still defined for ReLU and
    linear nets, whose χ₁ does not depend on q).

    Examples
    --------
    >>> q, chi = predicted_chi1("linear", 0.9)
    >>> q, round(chi, 12)
    (0.0, 0.81)
    """
    from rnnprobe.errors import InvalidArgument

    sigma_eff = math.sqrt(sigma_b ** 2 + input_variance)
    try:
        q = float(theory.fixed_point(sigma_w, sigma_eff, nonlinearity))
    except InvalidArgument:      # rnnprobe.theory: the length map diverges
        q = math.inf
    if math.isinf(q):
        chi = float(theory.chi1(sigma_w, sigma_eff, nonlinearity, q=1.0)) \
            if nonlinearity in ("relu", "linear") else math.nan
    else:
        chi = float(theory.chi1(sigma_w, sigma_eff, nonlinearity))
    return q, chi


def chi1_comparison(results: pd.DataFrame, *, sigma_b: float = 0.0, input_variance: float | None = None,
                    method: str = "theilslopes", min_steps: int = 1) -> pd.DataFrame:
    """Predicted χ₁ against the measured per-step growth of the mean squared gradient.

    Parameters
    ----------
    results : DataFrame
        ``results.csv`` with ``gradient_norm`` rows (per lag or per layer).
    sigma_b : float
        Standard deviation of the biases (``bias_std``; 0 in rnnprobe's defaults).
    input_variance : float, optional
        v_x, the variance each step's input adds to a pre-activation
        (``input_gain² · E[x²]``). Needed for recurrent architectures, which are
        left out when it is None; feed-forward stacks have no inputs.
    method : {'theilslopes', 'linregress'}
        Fit of log(mean g²) against the steps.
    min_steps : int
        Fit only steps ≥ this (skips a transient).

    Returns
    -------
    DataFrame
        One row per architecture × gain × horizon (× hidden, …), for the
        architectures of :data:`MEANFIELD_ARCHS` (Gaussian or orthogonal init):
        ``phi`` (the nonlinearity), ``sigma_w`` (= gain), ``sigma_b``, ``input_variance``,
        ``q_star``, ``chi1_predicted``, ``chi1_measured`` with
        ``chi1_low``/``chi1_high`` (confidence interval), ``log_chi1_predicted``,
        ``log_chi1_measured``, ``error`` = log χ₁ measured − predicted (per step),
        ``relative_error`` = χ₁ measured / predicted − 1, ``depth_scale_predicted``,
        ``depth_scale_measured`` (ξ = −1/log χ₁, steps), ``n_seeds``, ``n_points``.
    """
    rows = metric_rows(results, "gradient_norm")
    columns = ["arch", "phi", "sigma_w", "sigma_b", "input_variance", "q_star", "chi1_predicted",
               "chi1_measured", "chi1_low", "chi1_high", "log_chi1_predicted", "log_chi1_measured", "error",
               "relative_error", "depth_scale_predicted", "depth_scale_measured", "n_seeds", "n_points"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    keep = rows["arch"].isin(MEANFIELD_ARCHS)
    if input_variance is None:
        keep &= rows["arch"].isin(_FEEDFORWARD)
    if "init" in rows:
        keep &= rows["init"].isna() | rows["init"].isin(["gaussian", "orthogonal"])
    rows = rows[keep & (rows["steps"] >= min_steps)]
    by = [c for c in group_columns(results) if c != "study"]
    if rows.empty:
        return pd.DataFrame(columns=by + columns[1:])
    rows = rows.assign(_g2=rows["value"].astype(float) ** 2, _key=point_key(rows, by))
    out = []
    for _, g in rows.groupby("_key", sort=False):
        first = g.iloc[0]
        arch = first["arch"]
        phi = first["nonlinearity"] if "nonlinearity" in g and isinstance(first["nonlinearity"], str) else MEANFIELD_ARCHS[arch]
        v_x = 0.0 if arch in _FEEDFORWARD else float(input_variance)
        sigma_w = float(first["gain"])
        q, chi = predicted_chi1(phi, sigma_w, sigma_b, input_variance=v_x)
        mean_g2 = g.groupby("steps")["_g2"].mean()
        fit = fit_log_linear(mean_g2.index.to_numpy(), mean_g2.to_numpy(), method=method)
        log_pred = math.log(chi) if chi > 0 else (-math.inf if chi == 0 else math.nan)
        row = {c: first[c] for c in by}
        row.update(
            phi=phi, sigma_w=sigma_w, sigma_b=sigma_b, input_variance=v_x, q_star=q,
            chi1_predicted=chi, chi1_measured=math.exp(fit["slope"]) if not math.isnan(fit["slope"]) else math.nan,
            chi1_low=math.exp(fit["slope_low"]) if not math.isnan(fit["slope_low"]) else math.nan,
            chi1_high=math.exp(fit["slope_high"]) if not math.isnan(fit["slope_high"]) else math.nan,
            log_chi1_predicted=log_pred, log_chi1_measured=fit["slope"], error=fit["slope"] - log_pred,
            depth_scale_predicted=theory.depth_scale(chi),
            depth_scale_measured=theory.depth_scale(math.exp(fit["slope"])) if not math.isnan(fit["slope"]) else math.nan,
            n_seeds=int(g["seed"].nunique()) if "seed" in g else 1, n_points=fit["n_points"],
        )
        row["relative_error"] = row["chi1_measured"] / chi - 1 if chi > 0 else math.nan
        out.append(row)
    frame = pd.DataFrame(out)
    return sort_by_arch(frame[by + columns[1:]], then=[c for c in by if c != "arch"])
