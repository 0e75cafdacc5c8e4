"""How tight the gradient-norm bounds are: B/g per lag.

For a loss L(h_T) the true gradient norm g(k) = ‖∂L/∂h_{T−k}‖ obeys
``g ≤ ‖∂L/∂h_T‖·G ≤ B_prod ≤ B_W`` (DESIGN.md). The ratio of a bound to g is
its over-estimate: 1 is tight, 10⁶ means the bound says nothing useful. The
ratios grow with the lag because every step's norm inequality loses a factor.

Examples
--------
>>> import pandas as pd
>>> results = pd.DataFrame({"arch": "vanilla-tanh", "gain": 1.0, "seed": 0, "lag": [1, 1, 1, 2, 2, 2],
...     "metric": ["gradient_norm", "bound_product", "bound_weight"] * 2,
...     "value": [0.5, 1.0, 2.0, 0.1, 1.0, 4.0]})
>>> t = bound_tightness(results)
>>> t[["steps", "ratio_product", "ratio_weight"]].to_dict("records")
[{'steps': 1.0, 'ratio_product': 2.0, 'ratio_weight': 4.0}, {'steps': 2.0, 'ratio_product': 10.0, 'ratio_weight': 40.0}]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rnnprobe.analysis._frames import (aggregate_seeds, grid_columns, group_columns, metric_rows, point_key, require_columns,
                              select_horizon, sort_by_arch, with_variant)

__all__ = ["BOUND_METRICS", "bound_tightness", "bound_tightness_summary", "bound_tightness_table"]

#: The bound metrics of results.csv and their ratio columns.
BOUND_METRICS = {"bound_jacobian": "ratio_jacobian", "bound_product": "ratio_product", "bound_weight": "ratio_weight"}


def bound_tightness(results: pd.DataFrame, *, rtol: float = 1e-9) -> pd.DataFrame:
    """Per grid point and lag: g, each bound, the ratios bound/g, and whether the chain holds.

    Parameters
    ----------
    results : DataFrame
        ``results.csv`` with ``gradient_norm`` and at least one ``bound_*`` metric.
    rtol : float
        Relative slack of the ordering check.

    Returns
    -------
    DataFrame
        One row per grid point × ``steps``: the grid columns, ``steps``,
        ``gradient`` (g), the bounds present (``bound_jacobian``,
        ``bound_product``, ``bound_weight``), the matching ``ratio_*`` = bound/g
        (∞ where g = 0), and ``holds`` (g ≤ ‖∂L/∂h_T‖G ≤ B_prod ≤ B_W, each
        within ``rtol``). Empty when the study recorded no bounds (depth study).
    """
    require_columns(results, ["metric", "value"], name="results")
    keys = grid_columns(results)
    rows = metric_rows(results, ["gradient_norm", *BOUND_METRICS])
    present = [m for m in BOUND_METRICS if (rows["metric"] == m).any()]
    if rows.empty or not (rows["metric"] == "gradient_norm").any() or not present:
        return pd.DataFrame(columns=keys + ["steps", "gradient"])
    rows = rows.assign(_key=point_key(rows, keys))
    wide = rows.pivot_table(index=["_key", "steps"], columns="metric", values="value", aggfunc="first")
    wide = wide.reset_index()
    points = rows.drop_duplicates("_key")[["_key"] + keys]
    out = points.merge(wide, on="_key", how="right").drop(columns="_key")
    out = out.rename(columns={"gradient_norm": "gradient"})
    chain = [out["gradient"]]
    with np.errstate(divide="ignore", invalid="ignore"):
        for m in present:
            out[BOUND_METRICS[m]] = out[m] / out["gradient"]
            chain.append(out[m])
    holds = pd.Series(True, index=out.index)
    for lo, hi in zip(chain, chain[1:]):
        holds &= (lo <= hi * (1 + rtol)) | lo.isna() | hi.isna()
    out["holds"] = holds
    columns = keys + ["steps", "gradient"] + present + [BOUND_METRICS[m] for m in present] + ["holds"]
    return sort_by_arch(out[columns], then=[c for c in keys if c != "arch"] + ["steps"])


def bound_tightness_summary(tightness: pd.DataFrame) -> pd.DataFrame:
    """Per grid point: each ratio at the longest lag and its median over lags, and whether the chain held.

    Parameters
    ----------
    tightness : DataFrame
        From :func:`bound_tightness`.

    Returns
    -------
    DataFrame
        Grid columns, ``max_steps``, ``<ratio>_at_max`` and ``<ratio>_median`` for
        each ratio present, ``holds_all``.

    Examples
    --------
    >>> t = pd.DataFrame({"arch": "gru", "gain": 1.0, "seed": 0, "steps": [1.0, 2.0, 3.0],
    ...     "gradient": 1.0, "ratio_product": [1.0, 3.0, 9.0], "holds": True})
    >>> bound_tightness_summary(t).to_dict("records")
    [{'arch': 'gru', 'gain': 1.0, 'seed': 0, 'max_steps': 3.0, 'ratio_product_at_max': 9.0, 'ratio_product_median': 3.0, 'holds_all': True}]
    """
    require_columns(tightness, ["steps", "gradient"], name="tightness")
    ratios = [c for c in BOUND_METRICS.values() if c in tightness]
    keys = [c for c in tightness.columns if c not in ("steps", "gradient", "holds", *BOUND_METRICS, *ratios)]
    columns = keys + ["max_steps"] + [f"{r}_{s}" for r in ratios for s in ("at_max", "median")] + ["holds_all"]
    if tightness.empty:
        return pd.DataFrame(columns=columns)
    key = point_key(tightness, keys)
    grouped = tightness.groupby(key, sort=False)
    out = grouped[keys].first() if keys else pd.DataFrame(index=grouped.size().index)
    last = tightness.loc[grouped["steps"].idxmax()].set_index(key[grouped["steps"].idxmax()].to_numpy())
    out["max_steps"] = grouped["steps"].max()
    for r in ratios:
        out[f"{r}_at_max"] = last[r]
        out[f"{r}_median"] = grouped[r].median()
    out["holds_all"] = grouped["holds"].all() if "holds" in tightness else np.nan
    return out.reset_index(drop=True)[columns]


def bound_tightness_table(per_point: pd.DataFrame, *, horizon="max") -> pd.DataFrame:
    """Bound over-estimates per architecture × gain: medians over seeds, at the longest sequence length.

    Parameters
    ----------
    per_point : DataFrame
        From :func:`bound_tightness_summary`.
    horizon : 'max', int or None
        Which sequence length to keep per architecture × gain.

    Returns
    -------
    DataFrame
        ``arch``, ``variant``, ``gain``, ``length`` (…), ``n_seeds``, the medians
        over seeds of every ``ratio_*_at_max`` and ``ratio_*_median`` column, and
        ``holds_all`` (the share of seeds whose chain of bounds held at every lag).

    Examples
    --------
    >>> s = pd.DataFrame({"arch": "gru", "gain": 1.0, "length": 20, "seed": [0, 1],
    ...     "ratio_product_at_max": [10.0, 30.0], "holds_all": [True, True]})
    >>> bound_tightness_table(s)[["n_seeds", "ratio_product_at_max", "holds_all"]].to_dict("records")
    [{'n_seeds': 2, 'ratio_product_at_max': 20.0, 'holds_all': 1.0}]
    """
    require_columns(per_point, ["arch"], name="per_point")
    ratios = [c for c in per_point.columns if c.startswith("ratio_")]
    frame = with_variant(per_point)
    by = ["variant"] + [c for c in group_columns(per_point) if c not in ("study", "arch")]
    frame = select_horizon(frame, horizon, by=[c for c in by if c not in ("length", "depth")])
    if "holds_all" in frame:
        frame = frame.assign(holds_all=frame["holds_all"].astype(float))
    table = aggregate_seeds(frame, ratios, by=by, stats=("median",))
    if "holds_all" in frame:
        table["holds_all"] = aggregate_seeds(frame, ["holds_all"], by=by, stats=("mean",))["holds_all"].to_numpy()
    key = point_key(frame, by)
    table.insert(0, "arch", frame.groupby(key, sort=False)["arch"].first().reindex(point_key(table, by)).to_numpy())
    return sort_by_arch(table, then=[c for c in by if c != "variant"])
