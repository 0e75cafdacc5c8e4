"""Decay-rate fits: log G (or log g) against the number of steps, per grid point.

A quantity that decays (or grows) geometrically, ``G(k) ≈ C·exp(slope·k)``, is a
straight line in ``log G`` against the lag k. The fit gives

* ``slope`` (per step, natural log) with a confidence interval
  ``[slope_low, slope_high]``;
* ``efold = −1/slope``, the e-folding time in steps (∞ when ``slope ≥ 0``), with
  the interval ``[efold_low, efold_high] = [−1/slope_low, −1/slope_high]``
  (the upper end ∞ when ``slope_high ≥ 0``);
* ``growth_per_step = exp(slope)``, the mean factor per step.

Two estimators:

``'theilslopes'`` (default)
    Theil–Sen: the median of pairwise slopes, robust to the curvature at short
    lags and to outliers, with the distribution-free confidence interval of
    :func:`scipy.stats.theilslopes` (Sen 1968). This is the fit
    :func:`rnnprobe.memory_length` uses for its e-folding time.
``'linregress'``
    Ordinary least squares (:func:`scipy.stats.linregress`); the interval is
    ``slope ± t_{(1+c)/2, n−2}·stderr`` (Student t with n − 2 degrees of freedom).

Examples
--------
>>> import numpy as np
>>> k = np.arange(1, 31)
>>> fit = fit_log_linear(k, np.exp(-0.2 * k))
>>> round(fit["slope"], 6), round(fit["efold"], 6)
(-0.2, 5.0)
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from rnnprobe.analysis._frames import aggregate_seeds, grid_columns, group_columns, metric_rows, select_horizon, sort_by_arch
from rnnprobe._validation import check_choice, check_real
from rnnprobe.memory import MAX_FIT_POINTS, thin_evenly

__all__ = ["FIT_METHODS", "fit_log_linear", "decay_fits", "decay_table"]

FIT_METHODS = ("theilslopes", "linregress")


def fit_log_linear(steps, values, *, method: str = "theilslopes", confidence: float = 0.95,
                   log: bool = False) -> dict:
    """Fit ``log(values) = intercept + slope · steps`` with a confidence interval on the slope.

    Parameters
    ----------
    steps : array_like
        The lags (or layer distances).
    values : array_like
        Positive values (or their natural logs when ``log``). Non-positive values
        (log = −∞) and NaN are dropped and counted in ``n_dropped``.
    method : {'theilslopes', 'linregress'}
        Estimator (see the module docstring).
    confidence : float
        Confidence level of the interval, in (0, 1).
    log : bool
        Whether ``values`` are already natural logs.

    Returns
    -------
    dict
        ``slope, intercept, slope_low, slope_high, efold, efold_low, efold_high,
        growth_per_step, n_points, n_dropped, method``. With fewer than 2 usable points the
        slope is NaN; with fewer than 3 the interval is NaN.

    Examples
    --------
    Noisy geometric decay at rate 0.1 per step: the interval covers the rate.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> k = np.arange(1, 101)
    >>> fit = fit_log_linear(k, np.exp(-0.1 * k + 0.05 * rng.standard_normal(100)), method="linregress")
    >>> fit["slope_low"] < -0.1 < fit["slope_high"]
    True
    """
    method = check_choice("method", method, FIT_METHODS)
    confidence = check_real("confidence", confidence, low=0.0, high=1.0, low_open=True, high_open=True)
    x = np.asarray(steps, dtype=float)
    y = np.asarray(values, dtype=float)
    if not log:
        with np.errstate(divide="ignore", invalid="ignore"):
            y = np.log(np.where(y > 0, y, 0.0))
    keep = np.isfinite(x) & np.isfinite(y)
    n_dropped = int((~keep).sum())
    x, y = x[keep], y[keep]
    out = dict(slope=math.nan, intercept=math.nan, slope_low=math.nan, slope_high=math.nan,
               n_points=int(x.size), n_dropped=n_dropped, method=method)
    if x.size >= 2 and np.ptp(x) > 0:
        if x.size > MAX_FIT_POINTS:  # Theil–Sen is O(n²) in memory: thin evenly along x
            order = np.argsort(x)
            x, y = thin_evenly(x[order], y[order])
        from scipy import stats  # scipy.stats is slow to import; only when fitting

        if method == "theilslopes":
            res = stats.theilslopes(y, x, alpha=confidence)
            out.update(slope=float(res.slope), intercept=float(res.intercept))
            if x.size >= 3:  # two points have one pairwise slope: no interval
                out.update(slope_low=float(res.low_slope), slope_high=float(res.high_slope))
        else:
            res = stats.linregress(x, y)
            out.update(slope=float(res.slope), intercept=float(res.intercept))
            if x.size >= 3:
                half = float(stats.t.ppf((1 + confidence) / 2, x.size - 2)) * float(res.stderr)
                out.update(slope_low=out["slope"] - half, slope_high=out["slope"] + half)
    out.update(_efold(out["slope"], out["slope_low"], out["slope_high"]))
    return out


def _efold(slope, low, high) -> dict:
    def inv(s):
        if math.isnan(s):
            return math.nan
        return -1.0 / s if s < 0 else math.inf

    return dict(efold=inv(slope), efold_low=inv(low), efold_high=inv(high),
                growth_per_step=math.exp(slope) if not math.isnan(slope) else math.nan)


def decay_fits(results: pd.DataFrame, metric: str = "jacobian_norm", *, method: str = "theilslopes",
               confidence: float = 0.95, min_steps: int = 1) -> pd.DataFrame:
    """Fit the decay rate of ``metric`` against the steps, for every grid point.

    Parameters
    ----------
    results : DataFrame
        The tidy results (``results.csv``).
    metric : str
        A per-lag (or per-layer) metric: ``'jacobian_norm'`` (G), ``'gradient_norm'`` (g), a bound.
    method : {'theilslopes', 'linregress'}
    confidence : float
        Level of the slope's confidence interval.
    min_steps : int
        Ignore rows with fewer steps (e.g. 2 to skip the first-step transient).

    Returns
    -------
    DataFrame
        One row per grid point: its grid columns, ``metric`` and every field of
        :func:`fit_log_linear`. Empty (with those columns) when the metric is absent.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> k = np.arange(1, 21)
    >>> results = pd.DataFrame({"arch": np.repeat(["a", "b"], 20), "gain": 1.0, "seed": 0,
    ...     "metric": "jacobian_norm", "lag": np.tile(k, 2),
    ...     "value": np.concatenate([np.exp(-0.5 * k), 3 * np.exp(-0.05 * k)])})
    >>> fits = decay_fits(results)
    >>> fits[["arch", "efold"]].round(6).to_dict("records")
    [{'arch': 'a', 'efold': 2.0}, {'arch': 'b', 'efold': 20.0}]
    """
    rows = metric_rows(results, metric)
    rows = rows[rows["steps"] >= min_steps]
    keys = grid_columns(results)
    fields = ["slope", "intercept", "slope_low", "slope_high", "efold", "efold_low", "efold_high",
              "growth_per_step", "n_points", "n_dropped", "method"]
    if rows.empty:
        return pd.DataFrame(columns=keys + ["metric"] + fields)
    out = []
    for key, g in rows.groupby(keys, dropna=False, sort=False):
        fit = fit_log_linear(g["steps"].to_numpy(), g["value"].to_numpy(), method=method, confidence=confidence)
        out.append(dict(zip(keys, key if isinstance(key, tuple) else (key,)), metric=metric, **fit))
    return pd.DataFrame(out, columns=keys + ["metric"] + fields)


def decay_table(fits: pd.DataFrame, *, horizon="max") -> pd.DataFrame:
    """Decay fits summarised over seeds: medians of the slope, its interval and the e-folding time.

    Parameters
    ----------
    fits : DataFrame
        From :func:`decay_fits` (one metric, or several: ``metric`` is kept as a key).
    horizon : 'max', int or None
        Which sequence length (or depth) to keep per architecture × gain.

    Returns
    -------
    DataFrame
        The grid columns but the seed, ``metric``, ``n_seeds``, and the medians
        over seeds of ``slope``, ``slope_low``, ``slope_high``, ``efold``,
        ``growth_per_step``, with the min and max over seeds of ``efold``.

    Examples
    --------
    >>> fits = pd.DataFrame({"arch": "gru", "gain": 1.0, "length": 50, "seed": [0, 1], "metric": "jacobian_norm",
    ...     "slope": [-0.2, -0.3], "slope_low": [-0.25, -0.35], "slope_high": [-0.15, -0.25],
    ...     "efold": [5.0, 10 / 3], "growth_per_step": [0.8, 0.7]})
    >>> decay_table(fits)[["n_seeds", "slope", "efold_min", "efold_max"]].round(4).to_dict("records")
    [{'n_seeds': 2, 'slope': -0.25, 'efold_min': 3.3333, 'efold_max': 5.0}]
    """
    by = [c for c in group_columns(fits) if c != "study"] + (["metric"] if "metric" in fits else [])
    fits = select_horizon(fits, horizon, by=[c for c in by if c not in ("length", "depth")])
    table = aggregate_seeds(fits, ["slope", "slope_low", "slope_high", "growth_per_step"], by=by, stats=("median",))
    efold = aggregate_seeds(fits, ["efold"], by=by)
    for c in ("efold", "efold_min", "efold_max"):
        table[c] = efold[c].to_numpy()
    return sort_by_arch(table, then=[c for c in by if c != "arch"])
