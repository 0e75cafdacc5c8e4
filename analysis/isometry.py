"""How far a deep net's input–output Jacobian is from an isometry.

A Jacobian is an isometry when every singular value is 1 (log s = 0): signals
and gradients keep their norm through depth, in every direction (dynamical
isometry, Saxe et al. 2014; Pennington, Schoenholz & Ganguli 2017). From the
singular values s_i of ``∂s_L/∂s_0`` of one grid point:

* ``log_sv_mean`` = mean_i log s_i: the average gain (0 for an isometry);
* ``log_sv_std`` = std_i log s_i: the spread (0 when all directions are treated alike);
* ``log_condition`` = log(s_max / s_min);
* ``isometry_distance`` = sqrt(mean_i (log s_i)²) = sqrt(mean² + std²): the
  root-mean-square distance from isometry in log space.

Zero singular values (log s = −∞) are left out and counted in ``n_zero``.

Examples
--------
>>> import numpy as np, pandas as pd
>>> r = pd.DataFrame({"arch": "mlp", "depth": 4, "gain": 1.0, "seed": 0,
...     "metric": "jacobian_singular_value", "index": [0, 1], "value": [np.e, 1 / np.e]})
>>> isometry_table(r)[["log_sv_mean", "log_sv_std", "log_condition", "isometry_distance"]].to_dict("records")
[{'log_sv_mean': 0.0, 'log_sv_std': 1.0, 'log_condition': 2.0, 'isometry_distance': 1.0}]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rnnprobe.analysis._frames import aggregate_seeds, grid_columns, group_columns, metric_rows, point_key, sort_by_arch

__all__ = ["ISOMETRY_MEASURES", "isometry_points", "isometry_table"]

ISOMETRY_MEASURES = ("log_sv_mean", "log_sv_std", "log_condition", "isometry_distance")


def isometry_points(results: pd.DataFrame | None = None, summary: pd.DataFrame | None = None) -> pd.DataFrame:
    """Isometry measures per grid point (seed by seed).

    Parameters
    ----------
    results : DataFrame, optional
        ``results.csv`` with ``jacobian_singular_value`` rows (preferred: every
        measure is computed from the singular values).
    summary : DataFrame, optional
        ``summary.csv``; used when ``results`` has no singular values, from its
        ``log_sv_mean``, ``log_sv_std``, ``max_singular_value`` and
        ``min_singular_value`` columns.

    Returns
    -------
    DataFrame
        Grid columns, :data:`ISOMETRY_MEASURES`, ``n_sv`` and ``n_zero``
        (NaN when taken from the summary). Empty when neither source has them.
    """
    if results is not None and "metric" in results and (results["metric"] == "jacobian_singular_value").any():
        rows = metric_rows(results, "jacobian_singular_value")
        keys = grid_columns(results)
        value = rows["value"].astype(float)
        rows = rows.assign(_key=point_key(rows, keys), _log=np.log(value.where(value > 0)),
                           _zero=(value <= 0).astype(int))
        g = rows.groupby("_key", sort=False)
        out = g[keys].first()
        out["log_sv_mean"] = g["_log"].mean()
        out["log_sv_std"] = g["_log"].std(ddof=0)
        out["log_condition"] = g["_log"].max() - g["_log"].min()
        out["isometry_distance"] = np.sqrt(g["_log"].apply(lambda s: float(np.mean(s.dropna() ** 2))))
        out["n_sv"] = g.size()
        out["n_zero"] = g["_zero"].sum()
        return sort_by_arch(out.reset_index(drop=True), then=[k for k in keys if k != "arch"])
    if summary is not None and {"log_sv_mean", "log_sv_std"} <= set(summary.columns) \
            and summary["log_sv_mean"].notna().any():
        keys = grid_columns(summary)
        out = summary[keys + ["log_sv_mean", "log_sv_std"]].copy()
        if {"max_singular_value", "min_singular_value"} <= set(summary.columns):
            with np.errstate(divide="ignore"):
                out["log_condition"] = np.log(summary["max_singular_value"].astype(float)
                                              / summary["min_singular_value"].astype(float))
        else:
            out["log_condition"] = np.nan
        out["isometry_distance"] = np.sqrt(out["log_sv_mean"] ** 2 + out["log_sv_std"] ** 2)
        out["n_sv"] = np.nan
        out["n_zero"] = np.nan
        out = out[out["log_sv_mean"].notna()]
        return sort_by_arch(out.reset_index(drop=True), then=[k for k in keys if k != "arch"])
    return pd.DataFrame(columns=["arch", *ISOMETRY_MEASURES, "n_sv", "n_zero"])


def isometry_table(results: pd.DataFrame | None = None, summary: pd.DataFrame | None = None, *, by=None) -> pd.DataFrame:
    """Mean and spread of log singular values per architecture × depth × gain, over seeds.

    Parameters
    ----------
    results, summary : DataFrame, optional
        As for :func:`isometry_points`.
    by : list of str, optional
        Grouping (default: every non-empty grid column but ``study`` and ``seed``).

    Returns
    -------
    DataFrame
        ``by``, ``n_seeds`` and for each of :data:`ISOMETRY_MEASURES` its mean
        over seeds and its standard deviation over seeds (``_seed_std``, 0 for one seed).
    """
    points = isometry_points(results, summary)
    if points.empty:
        return pd.DataFrame(columns=["arch", "n_seeds", *ISOMETRY_MEASURES])
    by = list(by) if by is not None else [c for c in group_columns(points) if c != "study"]
    table = aggregate_seeds(points, ISOMETRY_MEASURES, by=by, stats=("mean", "std"))
    for m in ISOMETRY_MEASURES:
        table = table.rename(columns={f"{m}_std": f"{m}_seed_std"})
        table[f"{m}_seed_std"] = table[f"{m}_seed_std"].fillna(0.0).where(table[m].notna())
    return sort_by_arch(table, then=[c for c in by if c != "arch"])
