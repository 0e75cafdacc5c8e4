"""The one-row-per-architecture × gain summary of a study.

Each row is one architecture variant at one gain, at the study's longest
horizon (sequence length, or depth for the depth study), with medians over
seeds of whatever the study measured: memory lengths, the top Lyapunov
exponent λ₁, σ_max of the recurrent weights, the Pascanu verdict with the
measured outcome, the bound over-estimates B_prod/g and B_W/g at the longest
lag, and the isometry measures. Columns whose measure the study did not record
are left out.

Examples
--------
>>> import pandas as pd
>>> summary = pd.DataFrame({"study": "vanishing", "arch": "vanilla-tanh", "hidden": 8, "length": [20, 50, 50],
...     "gain": 1.0, "seed": [0, 0, 1], "memory_efold": [3.0, 4.0, 6.0], "sigma_max": 2.0,
...     "pascanu": "inconclusive"})
>>> summary_table(summary).to_dict("records")
[{'arch': 'vanilla-tanh', 'gain': 1.0, 'length': 50, 'n_seeds': 2, 'memory_efold': 5.0, 'sigma_max': 2.0, 'pascanu': 'inconclusive'}]
"""

from __future__ import annotations

import pandas as pd

from rnnprobe.analysis._frames import aggregate_seeds, group_columns, point_key, require_columns, select_horizon, sort_by_arch, with_variant
from rnnprobe.analysis.bounds import bound_tightness, bound_tightness_summary
from rnnprobe.analysis.pascanu import measured_outcome

__all__ = ["SUMMARY_MEASURES", "summary_table"]

#: Scalar measures of the summary table, in order (left out when absent).
SUMMARY_MEASURES = ("memory_threshold", "memory_efold", "lyapunov_time", "memory_capacity", "lyapunov_exponent",
                    "sigma_max", "log_sv_mean", "log_sv_std")


def _mode(values: pd.Series) -> str:
    vals = [v for v in values.dropna().astype(str)]
    if not vals:
        return ""
    unique = list(dict.fromkeys(vals))
    if len(unique) == 1:
        return unique[0]
    counts = {u: vals.count(u) for u in unique}
    return "mixed: " + ", ".join(f"{u} {counts[u]}/{len(vals)}" for u in sorted(unique, key=lambda u: -counts[u]))


def summary_table(summary: pd.DataFrame, results: pd.DataFrame | None = None, *, horizon="max",
                  tightness: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per architecture (variant) × gain: the study's headline numbers.

    Parameters
    ----------
    summary : DataFrame
        ``summary.csv``.
    results : DataFrame, optional
        ``results.csv``; adds the bound over-estimates ``ratio_product`` (B_prod/g)
        and ``ratio_weight`` (B_W/g) at the longest lag, medians over seeds.
    horizon : 'max', int or None
        Which sequence length (or depth): the longest per row (default), a given one, or all.
    tightness : DataFrame, optional
        ``analysis.bound_tightness(results)`` when already computed (it is, otherwise).

    Returns
    -------
    DataFrame
        ``arch``, ``variant`` (only when the study has extra options such as the
        LSTM forget bias), ``gain``, the horizon column (``length`` or ``depth``),
        ``hidden`` when it varies, ``n_seeds``, then the medians over seeds of the
        :data:`SUMMARY_MEASURES` present, ``pascanu`` (the verdict; 'mixed: …'
        when seeds differ), ``measured`` (outcome of the decay fit, when the
        summary has ``efold_slope*``), ``ratio_product`` and ``ratio_weight``.
    """
    require_columns(summary, ["arch", "gain"], name="summary")
    frame = with_variant(summary)
    groups = [c for c in group_columns(summary) if c != "study"]
    frame = select_horizon(frame, horizon, by=["variant", "gain"] + [c for c in groups if c not in ("length", "depth")])
    by = ["variant"] + [c for c in groups if c != "arch"]
    measures = [m for m in SUMMARY_MEASURES if m in frame and frame[m].notna().any()]
    if {"efold_slope_low", "efold_slope_high"} <= set(frame.columns):
        frame = frame.assign(measured=[measured_outcome(lo, hi) for lo, hi in
                                       zip(frame["efold_slope_low"].astype(float), frame["efold_slope_high"].astype(float))])
    table = aggregate_seeds(frame, measures, by=by, stats=("median",))
    key_frame, key_table = point_key(frame, by), point_key(table, by)
    table.insert(0, "arch", frame.groupby(key_frame, sort=False)["arch"].first().reindex(key_table).to_numpy())
    for col in ("pascanu", "measured"):
        if col in frame and frame[col].notna().any():
            table[col] = frame.groupby(key_frame, sort=False)[col].agg(_mode).reindex(key_table).to_numpy()
    if results is not None or tightness is not None:
        tight = tightness if tightness is not None else bound_tightness(results)
        if not tight.empty:
            per_point = with_variant(bound_tightness_summary(tight))
            per_point = select_horizon(per_point, horizon, by=["variant", "gain"])
            ratios = [c for c in ("ratio_product_at_max", "ratio_weight_at_max") if c in per_point]
            agg = aggregate_seeds(per_point, ratios, by=[c for c in by if c in per_point], stats=("median",))
            agg_key = point_key(agg, [c for c in by if c in per_point])
            for r in ratios:
                values = agg.set_index(agg_key)[r]
                table[r.replace("_at_max", "")] = values.reindex(point_key(table, [c for c in by if c in per_point])).to_numpy()
    lead = ["arch"]
    hidden = ["variant", "hidden"]
    if (table["variant"] != table["arch"]).any():
        lead.append("variant")  # it names the extra options: their own columns are redundant
        hidden += [c for c in by if c not in ("variant", "gain", "length", "depth", "hidden")]
    lead += [c for c in ("gain", "length", "depth") if c in table]
    if "hidden" in table and table["hidden"].nunique() > 1:
        lead.append("hidden")
    rest = [c for c in table.columns if c not in lead + hidden]
    table = table[lead + rest]
    return sort_by_arch(table, then=[c for c in lead if c != "arch"])
