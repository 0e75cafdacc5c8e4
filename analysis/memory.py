"""Memory-length tables by architecture × gain × sequence length (from ``summary.csv``).

The measures (DESIGN.md), each in steps:

* ``memory_threshold``: the largest lag k with G(k) ≥ ε (censored at T when every lag passes);
* ``memory_efold``: the e-folding time −1/slope of the Theil–Sen fit of log G on lag (∞ if no decay);
* ``lyapunov_time``: −1/λ₁ when λ₁ < 0 (∞ otherwise);
* ``memory_capacity``: Jaeger's linear memory capacity Σ_{k≥1} MC_k, scored on held-out data (memory study;
  at most N − MC_0 up to sampling error).

Seeds are aggregated: the median, and the min and max over seeds.

Examples
--------
>>> import pandas as pd
>>> summary = pd.DataFrame({"arch": ["lstm", "lstm", "vanilla-tanh"], "gain": 1.0, "length": 50,
...     "seed": [0, 1, 0], "memory_threshold": [30, 40, 8], "memory_efold": [12.0, 16.0, 2.5]})
>>> memory_table(summary)[["arch", "n_seeds", "memory_efold", "memory_efold_min"]].to_dict("records")
[{'arch': 'vanilla-tanh', 'n_seeds': 1, 'memory_efold': 2.5, 'memory_efold_min': 2.5}, {'arch': 'lstm', 'n_seeds': 2, 'memory_efold': 14.0, 'memory_efold_min': 12.0}]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rnnprobe.analysis._frames import aggregate_seeds, as_bool, group_columns, require_columns, select_horizon, sort_by_arch, with_variant
from rnnprobe.errors import InvalidArgument

__all__ = ["MEMORY_MEASURES", "memory_table", "memory_grid", "spectral_memory"]

#: Memory measures of summary.csv, in the order tables show them.
MEMORY_MEASURES = ("memory_threshold", "memory_efold", "lyapunov_time", "memory_capacity")


def memory_table(summary: pd.DataFrame, *, by=None, measures=None) -> pd.DataFrame:
    """Memory lengths per architecture × gain × length (× the study's extra options), over seeds.

    Parameters
    ----------
    summary : DataFrame
        ``summary.csv``: one row per grid point.
    by : list of str, optional
        Grouping columns (default: every grid column but ``study`` and ``seed``
        that is not empty everywhere).
    measures : list of str, optional
        Default: those of :data:`MEMORY_MEASURES` present and not all empty.

    Returns
    -------
    DataFrame
        One row per group: ``by``, ``n_seeds``; per measure its median over seeds
        and ``_min``/``_max``; ``censored_fraction`` (share of seeds whose
        threshold reached T) when ``memory_threshold_censored`` is present.
        Sorted by architecture (registry order), then the other columns.
    """
    require_columns(summary, ["arch"], name="summary")
    by = list(by) if by is not None else [c for c in group_columns(summary) if c != "study"]
    if measures is None:
        measures = [m for m in MEMORY_MEASURES if m in summary and summary[m].notna().any()]
    frame = summary.copy()
    extra = []
    if "memory_threshold_censored" in frame:
        frame["censored_fraction"] = as_bool(frame["memory_threshold_censored"])
        extra = ["censored_fraction"]
    table = aggregate_seeds(frame, list(measures), by=by)
    if extra:
        table["censored_fraction"] = aggregate_seeds(frame, extra, by=by, stats=("mean",))["censored_fraction"]
    return sort_by_arch(table, then=[c for c in by if c != "arch"])


def memory_grid(table: pd.DataFrame, measure: str = "memory_efold", *, index: str = "variant",
                columns: str = "gain", horizon="max") -> pd.DataFrame:
    """A wide variant × gain grid of one memory measure (for a heatmap).

    Parameters
    ----------
    table : DataFrame
        From :func:`memory_table`.
    measure : str
        A measure column of ``table`` (its median over seeds).
    index, columns : str
        Row and column labels; ``'variant'`` is the architecture plus the extra
        grid options (e.g. ``'lstm b_f=3'``).
    horizon : 'max', int or None
        Which sequence length: the longest per row (default), a given one, or
        None when the table has a single length.

    Returns
    -------
    DataFrame
        Rows ``index``, columns ``columns``, cells the measure; ``attrs['horizon']``
        holds the lengths used.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"arch": ["gru", "gru", "lstm"], "gain": [0.5, 1.0, 1.0],
    ...     "length": 40, "memory_efold": [3.0, 9.0, 20.0]})
    >>> memory_grid(table).to_dict()
    {0.5: {'gru': 3.0, 'lstm': nan}, 1.0: {'gru': 9.0, 'lstm': 20.0}}
    """
    require_columns(table, ["arch", measure, columns], name="table")
    frame = with_variant(table) if index == "variant" else table
    by = [c for c in frame.columns if c in (index, columns, "arch")]
    frame = select_horizon(frame, horizon, by=by)
    dup = frame.duplicated([index, columns])
    if dup.any():
        row = frame[dup].iloc[0]
        raise InvalidArgument(
            f"table must have one row per ({index}, {columns}) after choosing the horizon; got several for "
            f"{index}={row[index]!r}, {columns}={row[columns]!r} (filter the other grid columns, e.g. hidden, first)")
    order = list(dict.fromkeys(sort_by_arch(frame)[index]))
    grid = frame.pivot(index=index, columns=columns, values=measure).reindex(order)
    grid.index.name, grid.columns.name = index, columns
    hcol = "length" if "length" in frame and frame["length"].notna().any() else "depth"
    grid.attrs["horizon"] = sorted(frame[hcol].dropna().unique().tolist()) if hcol in frame else []
    grid.attrs["measure"] = measure
    return grid


def spectral_memory(summary: pd.DataFrame) -> pd.DataFrame:
    """Measured memory against the spectral prediction, for diagonal recurrences with fixed factors.

    A linear diagonal recurrence whose factors λ_j do not depend on the input (``lru``,
    ``s4d``: ``model_class.input_independent``) has ``G(k) = ρ^k`` exactly, ρ = max_j |λ_j|,
    the spectral radius summary.csv reports; its e-folding time is ``−1/log ρ`` (∞ for ρ >= 1).

    Parameters
    ----------
    summary : DataFrame
        ``summary.csv`` with ``arch``, ``memory_efold`` and ``spectral_radius``.

    Returns
    -------
    DataFrame
        The rows of those architectures, with ``predicted_efold`` and ``rel_error``
        (``|measured/predicted − 1|``; 0 where both are ∞); empty when there are none.

    Examples
    --------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"arch": ["lru", "gru"], "gain": 1.0, "seed": 0, "memory_efold": [9.49, 3.0],
    ...                   "spectral_radius": [0.9, 0.9]})
    >>> spectral_memory(s)[["arch", "predicted_efold"]].round(3).to_dict("records")
    [{'arch': 'lru', 'predicted_efold': 9.491}]
    """
    from rnnprobe.models.registry import architectures

    require_columns(summary, ["arch", "memory_efold", "spectral_radius"], name="summary")
    fixed = [a for a in summary["arch"].astype(str).unique()
             if a in architectures and getattr(architectures[a].model_class, "input_independent", False)]
    frame = summary[summary["arch"].astype(str).isin(fixed)].copy()
    if frame.empty:
        return frame
    rho = pd.to_numeric(frame["spectral_radius"], errors="coerce").to_numpy(float)
    with np.errstate(divide="ignore"):
        predicted = np.where(rho >= 1, np.inf, -1.0 / np.log(rho))
    measured = pd.to_numeric(frame["memory_efold"], errors="coerce").to_numpy(float)
    both_inf = np.isinf(predicted) & np.isinf(measured)
    with np.errstate(invalid="ignore"):
        err = np.where(both_inf, 0.0, np.abs(measured / predicted - 1.0))
    frame["predicted_efold"] = predicted
    frame["rel_error"] = err
    return sort_by_arch(frame, then=[c for c in ("gain", "length", "seed") if c in frame])
