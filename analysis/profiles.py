"""Curves over seeds: a per-lag (or per-layer) metric and per-index spectra, ready to plot.

Each curve is one grid point without its seed (architecture × gain × … at one
horizon); at every step (or index) it carries the ``median`` over seeds and the
seed range ``[low, high]`` (min and max).

Examples
--------
>>> import pandas as pd
>>> results = pd.DataFrame({"arch": "gru", "gain": 1.0, "length": 3, "seed": [0, 0, 1, 1],
...     "metric": "jacobian_norm", "lag": [1, 2, 1, 2], "value": [0.5, 0.2, 0.7, 0.4]})
>>> lag_profile(results)[["steps", "median", "low", "high"]].to_dict("records")
[{'steps': 1.0, 'median': 0.6, 'low': 0.5, 'high': 0.7}, {'steps': 2.0, 'median': 0.30000000000000004, 'low': 0.2, 'high': 0.4}]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rnnprobe.analysis._frames import (grid_columns, group_columns, metric_rows, point_key, select_horizon, sort_by_arch,
                                       with_variant)

__all__ = ["lag_profile", "spectrum_profile", "clv_angle_series"]


def _profile(rows: pd.DataFrame, by: list[str], position: str) -> pd.DataFrame:
    key = point_key(rows, by + [position])
    grouped = rows.groupby(key, sort=False)
    out = grouped[by + [position]].first()
    values = rows["value"].astype(float)
    g = values.groupby(key, sort=False)
    out["median"] = g.median()
    out["low"] = g.min()
    out["high"] = g.max()
    out["n_seeds"] = g.size()
    return out.reset_index(drop=True)


def lag_profile(results: pd.DataFrame, metric: str = "jacobian_norm", *, horizon="max") -> pd.DataFrame:
    """A per-step metric as curves: median and range over seeds, per architecture × gain × ….

    Parameters
    ----------
    results : DataFrame
        ``results.csv``.
    metric : str
        A per-lag or per-layer metric (``'jacobian_norm'``, ``'gradient_norm'``,
        ``'memory_capacity_lag'``, a bound).
    horizon : 'max', int or None
        Keep the longest sequence length (or depth) per curve (default), one
        given horizon, or all of them.

    Returns
    -------
    DataFrame
        The grid columns but the seed, ``variant`` (architecture plus extra
        options), ``metric``, ``steps``, ``median``, ``low``, ``high``,
        ``n_seeds``; sorted by architecture, then the grid, then steps.
        Empty when the metric is absent.
    """
    rows = metric_rows(results, metric)
    by = [c for c in group_columns(results) if c != "study"]
    columns = by + ["variant", "metric", "steps", "median", "low", "high", "n_seeds"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    rows = select_horizon(rows, horizon, by=by)
    out = with_variant(_profile(rows, by, "steps").assign(metric=metric))
    return sort_by_arch(out[columns], then=[c for c in by if c != "arch"] + ["steps"])


def spectrum_profile(results: pd.DataFrame, metric: str = "weight_singular_value", *, horizon="max") -> pd.DataFrame:
    """A per-index spectrum as curves: median and range over seeds, per grid point and block.

    Parameters
    ----------
    results : DataFrame
        ``results.csv``.
    metric : {'weight_singular_value', 'lyapunov_exponent', 'jacobian_singular_value'}
        The spectrum.
    horizon : 'max', int or None
        As for :func:`lag_profile` (the depth, for Jacobian spectra).

    Returns
    -------
    DataFrame
        The grid columns but the seed, ``variant``, ``block`` ('' when the metric
        has none), ``index``, ``rel_index`` (index / (count − 1), in [0, 1], so that
        spectra of different sizes share an axis), ``median``, ``low``, ``high``,
        ``n_seeds``, and ``n_infinite`` (seeds whose value was ±∞, e.g. λ = −∞
        for a dead ReLU unit; left out of the median and range).

    Examples
    --------
    >>> import pandas as pd
    >>> r = pd.DataFrame({"arch": "vanilla-relu", "gain": 1.0, "seed": [0, 0, 0],
    ...     "metric": "lyapunov_exponent", "index": [0, 1, 2], "value": [-0.1, -0.5, float("-inf")]})
    >>> spectrum_profile(r, "lyapunov_exponent")[["index", "rel_index", "median", "n_infinite"]].to_dict("records")
    [{'index': 0, 'rel_index': 0.0, 'median': -0.1, 'n_infinite': 0}, {'index': 1, 'rel_index': 0.5, 'median': -0.5, 'n_infinite': 0}, {'index': 2, 'rel_index': 1.0, 'median': nan, 'n_infinite': 1}]
    """
    rows = metric_rows(results, metric)
    by = [c for c in group_columns(results) if c != "study"]
    columns = by + ["variant", "block", "index", "rel_index", "median", "low", "high", "n_seeds", "n_infinite"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    rows = select_horizon(rows, horizon, by=by)
    block = rows["block"].astype(object).where(rows["block"].notna(), "").astype(str) if "block" in rows else ""
    rows = rows.assign(block=block,
                       index=pd.to_numeric(rows["index"]).astype(int))
    infinite = np.isinf(rows["value"].astype(float))
    rows = rows.assign(value=rows["value"].astype(float).where(~infinite), _inf=infinite.astype(int))
    out = _profile(rows, by + ["block"], "index")
    out["n_infinite"] = rows.groupby(point_key(rows, by + ["block", "index"]), sort=False)["_inf"].sum().to_numpy()
    count = out.groupby(point_key(out, by + ["block"]), sort=False)["index"].transform("max")
    out["rel_index"] = (out["index"] / count.where(count > 0, 1)).astype(float)
    out["n_seeds"] = out["n_seeds"].astype(int)
    out = with_variant(out)
    return sort_by_arch(out[columns], then=[c for c in by if c != "arch"] + ["block", "index"])


def clv_angle_series(results: pd.DataFrame, *, horizon="max") -> pd.DataFrame:
    """The ``clv_angle`` rows as time series, one per grid point, at one horizon.

    Parameters
    ----------
    results : DataFrame
        ``results.csv`` of the vanishing study (``clv_angle`` rows at ``lag`` = T − t).
    horizon : 'max', int or None
        Which sequence length: the longest per architecture × gain (default).

    Returns
    -------
    DataFrame
        The grid columns, ``variant``, ``time`` (the state index t = T − lag) and
        ``angle`` (radians), sorted by architecture, then time; empty when the
        study recorded no angles. The frame :func:`rnnprobe.reports.lyapunov.plot_hyperbolicity` draws.

    Examples
    --------
    >>> r = pd.DataFrame({"arch": "gru", "gain": 1.0, "length": [50, 50, 80], "seed": 0, "metric": "clv_angle",
    ...                   "lag": [40, 10, 60], "value": [0.3, 0.2, 0.25]})
    >>> clv_angle_series(r)[["length", "seed", "time", "angle"]].to_dict("records")
    [{'length': 80, 'seed': 0, 'time': 20, 'angle': 0.25}]
    """
    rows = metric_rows(results, "clv_angle")
    if rows.empty:
        return pd.DataFrame(columns=["arch", "variant", "time", "angle"])
    keys = [c for c in grid_columns(rows) if c not in ("study", "point_id")]
    rows = select_horizon(rows, horizon, by=[c for c in keys if c not in ("length", "depth", "seed")])
    out = with_variant(rows[keys].copy())
    out["time"] = (pd.to_numeric(rows["length"]) - pd.to_numeric(rows["lag"])).astype(int).to_numpy()
    out["angle"] = rows["value"].astype(float).to_numpy()
    return sort_by_arch(out, then=[c for c in keys if c != "arch"] + ["time"])
