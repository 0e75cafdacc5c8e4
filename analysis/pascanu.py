"""The Pascanu et al. (2013) verdict against what was measured.

For ``h' = σ(W_h h + …)`` with γ = sup|σ′|, ``σ_max(W_h) < 1/γ`` is *sufficient*
for gradients to vanish: each step Jacobian ``D_s W_h`` has norm ≤ γσ_max < 1.
rnnprobe's summary records the verdict (``'vanishing'``, ``'inconclusive'`` when
σ_max ≥ 1/γ, ``'not applicable'`` for gated, residual and dense nets) and the
measured decay: the slope of log G against the lag with its 95% interval.

The measured outcome of one grid point is

* ``'vanishing'`` when the whole interval is below 0 (G decays geometrically);
* ``'exploding'`` when the whole interval is above 0;
* ``'neutral'`` when the interval contains 0 and is finite;
* ``'undetermined'`` when no slope could be fitted: the interval is NaN, or it
  contains 0 and is unbounded (``(-inf, inf)`` for a single lag, T = 1).

A ``'vanishing'`` verdict *agrees* with a measured ``'vanishing'``, is
*undetermined* when nothing was measured, and is *contradicted* by anything
else (which would be a bug: the condition is a theorem). ``'inconclusive'`` and
``'not applicable'`` make no prediction.

Examples
--------
>>> import pandas as pd
>>> summary = pd.DataFrame({"arch": "vanilla-tanh", "gain": [0.5, 2.0], "seed": 0,
...     "pascanu": ["vanishing", "inconclusive"], "gamma": 1.0, "sigma_max": [0.9, 3.1],
...     "efold_slope": [-0.7, 0.1], "efold_slope_low": [-0.8, 0.05], "efold_slope_high": [-0.6, 0.2]})
>>> pascanu_agreement(summary)[["measured", "agreement"]].to_dict("records")
[{'measured': 'vanishing', 'agreement': 'agrees'}, {'measured': 'exploding', 'agreement': 'no prediction'}]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rnnprobe.analysis._frames import grid_columns, point_key, require_columns, sort_by_arch

__all__ = ["MEASURED_OUTCOMES", "VERDICTS", "pascanu_agreement", "pascanu_crosstab", "measured_outcome"]

VERDICTS = ("vanishing", "inconclusive", "not applicable")
MEASURED_OUTCOMES = ("vanishing", "neutral", "exploding", "undetermined")


def measured_outcome(slope_low: float, slope_high: float) -> str:
    """Classify a slope interval: 'vanishing', 'exploding', 'neutral' or 'undetermined'.

    Examples
    --------
    >>> measured_outcome(-0.3, -0.1), measured_outcome(-0.1, 0.2), measured_outcome(float("nan"), 1.0)
    ('vanishing', 'neutral', 'undetermined')
    >>> measured_outcome(-float("inf"), float("inf")), measured_outcome(-float("inf"), -float("inf"))   # T = 1; G = 0
    ('undetermined', 'vanishing')
    """
    if np.isnan(slope_low) or np.isnan(slope_high):
        return "undetermined"
    if slope_high < 0:
        return "vanishing"
    if slope_low > 0:
        return "exploding"
    if np.isinf(slope_low) or np.isinf(slope_high):
        return "undetermined"           # an unbounded interval around 0 measured nothing
    return "neutral"


def pascanu_agreement(summary: pd.DataFrame, fits: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per grid point: the Pascanu verdict, γσ_max, the measured slope, its outcome and the agreement.

    Parameters
    ----------
    summary : DataFrame
        ``summary.csv`` (needs ``pascanu``; ``gamma`` and ``sigma_max`` when present).
    fits : DataFrame, optional
        From :func:`analysis.decay_fits`; used for the slope instead of the
        summary's ``efold_slope*`` columns (required when those are absent).

    Returns
    -------
    DataFrame
        Grid columns, ``pascanu``, ``gamma``, ``sigma_max``, ``gamma_sigma_max``
        (γσ_max; below 1 is the sufficient condition), ``slope``, ``slope_low``,
        ``slope_high``, ``measured`` and ``agreement`` ('agrees', 'contradicts',
        'undetermined' where a 'vanishing' verdict meets no measured slope, 'no prediction').
    """
    require_columns(summary, ["pascanu"], name="summary")
    keys = grid_columns(summary)
    out = summary[keys + ["pascanu"]].copy()
    for c in ("gamma", "sigma_max"):
        out[c] = pd.to_numeric(summary[c], errors="coerce") if c in summary else np.nan
    out["gamma_sigma_max"] = out["gamma"] * out["sigma_max"]
    if fits is not None:
        require_columns(fits, ["slope", "slope_low", "slope_high"], name="fits")
        fkeys = [k for k in keys if k in fits]
        slopes = fits.set_index(point_key(fits, fkeys))[["slope", "slope_low", "slope_high"]]
        slopes = slopes[~slopes.index.duplicated()]
        joined = slopes.reindex(point_key(out, fkeys))
        for c in ("slope", "slope_low", "slope_high"):
            out[c] = joined[c].to_numpy()
    else:
        require_columns(summary, ["efold_slope", "efold_slope_low", "efold_slope_high"], name="summary")
        out["slope"] = summary["efold_slope"].astype(float)
        out["slope_low"] = summary["efold_slope_low"].astype(float)
        out["slope_high"] = summary["efold_slope_high"].astype(float)
    out["measured"] = [measured_outcome(lo, hi) for lo, hi in zip(out["slope_low"], out["slope_high"])]
    out["agreement"] = np.where(out["pascanu"] != "vanishing", "no prediction",
                                np.where(out["measured"] == "vanishing", "agrees",
                                         np.where(out["measured"] == "undetermined", "undetermined", "contradicts")))
    return sort_by_arch(out, then=[c for c in keys if c != "arch"])


def pascanu_crosstab(agreement: pd.DataFrame) -> pd.DataFrame:
    """Counts of grid points by Pascanu verdict (rows) and measured outcome (columns).

    Parameters
    ----------
    agreement : DataFrame
        From :func:`pascanu_agreement`.

    Returns
    -------
    DataFrame
        Index: the verdicts present, in the order of :data:`VERDICTS`; columns:
        every measured outcome of :data:`MEASURED_OUTCOMES`, then ``total`` and
        ``agreement`` (the share of 'agrees' among points with a prediction and a
        measured slope; NaN for rows without one).

    Examples
    --------
    >>> a = pd.DataFrame({"pascanu": ["vanishing", "vanishing", "inconclusive"],
    ...     "measured": ["vanishing", "vanishing", "exploding"],
    ...     "agreement": ["agrees", "agrees", "no prediction"]})
    >>> pascanu_crosstab(a)[["vanishing", "exploding", "total", "agreement"]].to_dict("index")
    {'vanishing': {'vanishing': 2, 'exploding': 0, 'total': 2, 'agreement': 1.0}, 'inconclusive': {'vanishing': 0, 'exploding': 1, 'total': 1, 'agreement': nan}}
    """
    require_columns(agreement, ["pascanu", "measured", "agreement"], name="agreement")
    verdicts = [v for v in VERDICTS if (agreement["pascanu"] == v).any()]
    verdicts += sorted(set(agreement["pascanu"].dropna()) - set(VERDICTS))
    table = pd.crosstab(agreement["pascanu"], agreement["measured"])
    table = table.reindex(index=verdicts, columns=list(MEASURED_OUTCOMES), fill_value=0).astype(int)
    table["total"] = table.sum(axis=1)
    predicted = agreement[~agreement["agreement"].isin(["no prediction", "undetermined"])]
    rate = (predicted["agreement"] == "agrees").groupby(predicted["pascanu"]).mean()
    table["agreement"] = rate.reindex(table.index).astype(float)
    table.index.name = "pascanu"
    table.columns.name = None
    return table
