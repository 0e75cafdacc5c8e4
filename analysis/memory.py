"""Memory-length tables by architecture × gain × sequence length (from ``summary.csv``).

The measures (DESIGN.md), each in steps:

* ``memory_threshold``: the largest lag k with G(k) ≥ ε (censored at T when every lag passes);
* ``memory_efold``: the e-folding time −1/slope of the Theil–Sen fit of log G on lag (∞ if no decay);
* ``lyapunov_time``: −1/λ₁ when λ₁ < 0 (∞ otherwise);
* ``memory_capacity``: Jaeger's linear memory capacity Σ_{k≥1} MC_k, scored on held-out data (memory study;
  at most N − MC_0 up to sampling error).

Seeds are aggregated: the median, and the min and max over seeds.

The measures are checked against each other (:func:`memory_agreement`): the
e-folding time and the Lyapunov time measure the same exponential rate (the top
exponent sets the decay of ‖∂h_T/∂h_{T−k}‖ at long lags), and the threshold of a
decay at that rate is near ln(1/ε) e-folding times. Where they disagree beyond
their finite-horizon uncertainty, or where the horizon T is shorter than
:data:`RESOLVED_FACTOR` memory times (then no fit over T lags can measure it),
:func:`memory_table` says so per row (``measures_agree``, ``horizon_ok``).

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

from rnnprobe.analysis._frames import (aggregate_seeds, as_bool, grid_columns, group_columns, require_columns,
                                       select_horizon, sort_by_arch, with_variant)
from rnnprobe.errors import InvalidArgument

__all__ = ["MEMORY_MEASURES", "memory_table", "memory_grid", "memory_agreement", "spectral_memory", "RELATIVE_TOLERANCE",
           "TRANSIENT_EFOLDS", "THRESHOLD_FACTOR", "RESOLVED_FACTOR"]

#: e-fold and Lyapunov rates agree within this share of the larger rate (on the default studies' points whose
#: memory time is below T/20, the two differ by at most 6.1% of the larger rate: the same rate, measured twice)
RELATIVE_TOLERANCE = 0.1
#: … plus this many e-folds over the horizon T: an initial transient of G (a factor e² either way) tilts a fit
#: over T lags, and the frame alignment biases a T-step Lyapunov estimate, by about this much per step
TRANSIENT_EFOLDS = 2.0
#: the threshold agrees with the e-folding time τ when it lies within this factor of ln(1/ε)·τ (G's prefactor
#: shifts the crossing of ε; a censored threshold, = T, agrees when ln(1/ε)·τ ≥ T / THRESHOLD_FACTOR)
THRESHOLD_FACTOR = 2.0
#: a memory time τ is resolved by a horizon T ≥ RESOLVED_FACTOR·τ (the decay then spans at least 5 e-folds)
RESOLVED_FACTOR = 5.0


def _rate(time):
    """Decay rate 1/τ per step (0 for τ = ∞)."""
    t = pd.to_numeric(time, errors="coerce").astype(float)
    with np.errstate(divide="ignore"):
        return np.where(np.isposinf(t), 0.0, 1.0 / t)


def memory_agreement(summary: pd.DataFrame) -> pd.DataFrame:
    """Whether the memory measures of each grid point agree, and whether its horizon resolves them.

    Parameters
    ----------
    summary : DataFrame
        ``summary.csv`` with ``length``, ``memory_efold`` and ``lyapunov_time``
        (``efold_slope``, ``efold_slope_low``/``_high``, ``lyapunov_exponent``,
        ``memory_threshold``, ``memory_threshold_censored`` and ``eps`` where
        present).

    Returns
    -------
    DataFrame
        The grid columns, and per point: ``efold_rate`` (−slope of the fit, per
        step), ``lyapunov_rate`` (−λ₁), ``rate_tolerance``
        (:data:`RELATIVE_TOLERANCE` × the larger rate + :data:`TRANSIENT_EFOLDS`/T
        + the half-width of the fit's 95% interval), ``efold_lyapunov_agree``
        (|efold_rate − lyapunov_rate| ≤ rate_tolerance), ``threshold_agree``
        (the threshold within :data:`THRESHOLD_FACTOR` of ln(1/ε) e-folding times;
        NaN without a threshold), ``measures_agree`` (both), ``memory_time``
        (the larger finite one of the e-folding and Lyapunov times) and
        ``horizon_ok`` (T ≥ :data:`RESOLVED_FACTOR` × memory_time, and the two
        times both finite or both ∞).

    Examples
    --------
    A point measured twice at the same rate, and one whose fit found no decay
    while λ₁ < 0 (a horizon of 400 steps is too short for a memory of 113):

    >>> s = pd.DataFrame({"arch": "lstm", "gain": 0.5, "length": 400, "seed": [0, 1],
    ...     "memory_efold": [16.3, float("inf")], "efold_slope": [-0.0615, 0.0012],
    ...     "lyapunov_time": [16.7, 113.0], "memory_threshold": [97, 400], "eps": 0.01})
    >>> a = memory_agreement(s)
    >>> a["efold_lyapunov_agree"].tolist(), a["threshold_agree"].tolist(), a["horizon_ok"].tolist()
    ([True, False], [1.0, 1.0], [True, False])
    """
    require_columns(summary, ["arch", "length", "memory_efold", "lyapunov_time"], name="summary")
    keys = [c for c in grid_columns(summary) if c != "study"]
    out = summary[keys].copy()
    T = pd.to_numeric(summary["length"], errors="coerce").astype(float).to_numpy()
    if "efold_slope" in summary and summary["efold_slope"].notna().any():
        r_fit = -pd.to_numeric(summary["efold_slope"], errors="coerce").astype(float).to_numpy()
    else:
        r_fit = _rate(summary["memory_efold"])
    if "lyapunov_exponent" in summary and summary["lyapunov_exponent"].notna().any():
        r_lyap = -pd.to_numeric(summary["lyapunov_exponent"], errors="coerce").astype(float).to_numpy()
    else:
        r_lyap = _rate(summary["lyapunov_time"])
    half = np.zeros(len(summary))
    if {"efold_slope_low", "efold_slope_high"} <= set(summary.columns):
        lo = pd.to_numeric(summary["efold_slope_low"], errors="coerce").astype(float).to_numpy()
        hi = pd.to_numeric(summary["efold_slope_high"], errors="coerce").astype(float).to_numpy()
        half = np.nan_to_num((hi - lo) / 2.0, nan=0.0)
    tol = RELATIVE_TOLERANCE * np.maximum(np.abs(r_fit), np.abs(r_lyap)) + TRANSIENT_EFOLDS / T + half
    # both rates ≤ 0 (no decay either way) agree; otherwise compare
    decaying = (r_fit > 0) | (r_lyap > 0)
    agree = ~decaying | (np.abs(np.maximum(r_fit, 0) - np.maximum(r_lyap, 0)) <= tol)
    out["efold_rate"], out["lyapunov_rate"], out["rate_tolerance"] = r_fit, r_lyap, tol
    out["efold_lyapunov_agree"] = agree
    thr_ok = np.full(len(summary), np.nan)
    if "memory_threshold" in summary:
        eps = pd.to_numeric(summary.get("eps", pd.Series(0.01, index=summary.index)), errors="coerce").fillna(0.01)
        k = pd.to_numeric(summary["memory_threshold"], errors="coerce").astype(float).to_numpy()
        censored = (as_bool(summary["memory_threshold_censored"]).to_numpy() == 1.0
                    if "memory_threshold_censored" in summary else k >= T)
        tau = pd.to_numeric(summary["memory_efold"], errors="coerce").astype(float).to_numpy()
        expected = np.log(1.0 / eps.to_numpy(float)) * tau          # ln(1/ε) e-folds: where a clean decay crosses ε
        with np.errstate(invalid="ignore", divide="ignore"):
            within = (expected <= THRESHOLD_FACTOR * k) & (expected >= k / THRESHOLD_FACTOR)
        thr_ok = np.where(censored, expected >= T / THRESHOLD_FACTOR, within)
        thr_ok = np.where(np.isnan(k), np.nan, thr_ok.astype(float))
    out["threshold_agree"] = thr_ok
    out["measures_agree"] = agree & (np.nan_to_num(thr_ok, nan=1.0) == 1.0)
    times = np.vstack([pd.to_numeric(summary[c], errors="coerce").astype(float).to_numpy()
                       for c in ("memory_efold", "lyapunov_time")])
    finite = np.where(np.isfinite(times), times, np.nan)
    with np.errstate(invalid="ignore"):
        memory_time = np.nanmax(np.where(np.isnan(finite).all(axis=0), np.inf, finite), axis=0) \
            if finite.size else np.full(len(summary), np.nan)
    mixed = np.isfinite(times).any(axis=0) & ~np.isfinite(times).all(axis=0)
    out["memory_time"] = memory_time
    out["horizon_ok"] = ~mixed & ((~np.isfinite(memory_time)) | (T >= RESOLVED_FACTOR * memory_time))
    return out.reset_index(drop=True)

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
        threshold reached T) when ``memory_threshold_censored`` is present;
        ``measures_agree`` and ``horizon_ok``, the shares of seeds whose
        measures agree and whose horizon resolves them (:func:`memory_agreement`),
        when the e-folding and Lyapunov times are present.
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
    if {"length", "memory_efold", "lyapunov_time"} <= set(frame.columns) and frame["lyapunov_time"].notna().any():
        agreement = memory_agreement(frame)
        frame["measures_agree"] = agreement["measures_agree"].astype(float).to_numpy()
        frame["horizon_ok"] = agreement["horizon_ok"].astype(float).to_numpy()
        extra += ["measures_agree", "horizon_ok"]
    table = aggregate_seeds(frame, list(measures), by=by)
    if extra:
        shares = aggregate_seeds(frame, extra, by=by, stats=("mean",))
        for c in extra:
            table[c] = shares[c].to_numpy()
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
