"""The theory study's checks: tolerances and verdicts per point, pooled over seeds.

The ``theory`` study measures; this module judges. The study writes, per grid
point (one prediction × setting × quantity × seed) and per index (lag, layer
or index; one row for a scalar), the metrics ``predicted``, ``measured``,
``standard_error``, ``allowance`` (and ``limit``, the published large-size
value, where it differs), and in summary.csv the point's ``relation`` ('equal'
or 'at most'), ``replicates`` and ``dof`` (:data:`rnnprobe.schema.CHECK_METRICS`,
:data:`rnnprobe.schema.CHECK_SUMMARY_FIELDS`).

Per point (:func:`check_points`), with m the check's number of indices: the
tolerance is c·standard_error + allowance, c the two-sided critical value
(Student t with ``dof`` degrees of freedom, normal when ``dof`` = ∞) at
``significance`` (:data:`SIGNIFICANCE` = 1e-4 by default) Bonferroni-split over
the m indices; the point passes an index when |measured − predicted| ≤
tolerance ('equal'), or measured − predicted ≤ allowance ('at most').

Pooled over a check's S seeds i (:func:`pool_checks`), per index j:

* predicted P = mean_i p_ij, measured M = mean_i m_ij with its spread over
  seeds (std, min, max);
* error E = mean_i (m_ij − p_ij) (paired: the prediction may depend on the
  seed's network);
* standard error SE = sqrt(Σ_i se_ij²)/S, with Welch–Satterthwaite degrees of
  freedom ν = (Σ se²)² / Σ (se⁴/dof_i);
* tolerance T = c·SE + A, A = mean_i of the allowances, c the critical value as
  above with ν degrees of freedom;
* verdict: |E| ≤ T ('equal'); for an upper bound ('at most'),
  m_ij − p_ij ≤ a_ij at every seed and index.

A check passes when every index passes. Everything here is pure pandas/scipy:
frames in, frames out.

Examples
--------
>>> import pandas as pd
>>> rows = []
>>> for seed, (p, m, se) in enumerate([(1.0, 1.02, 0.01), (1.0, 0.99, 0.01)]):
...     for metric, value in (("predicted", p), ("measured", m), ("standard_error", se), ("allowance", 0.0)):
...         rows.append(dict(prediction="meanfield", setting="tanh-ordered", quantity="chi1", seed=seed,
...                          metric=metric, value=value))
>>> summary = pd.DataFrame(dict(prediction="meanfield", setting="tanh-ordered", quantity="chi1", seed=[0, 1],
...                             relation="equal", dof=7.0))
>>> row = pool_checks(pd.DataFrame(rows), summary).iloc[0]
>>> [round(float(row[c]), 5) for c in ("measured", "error", "standard_error")], bool(row.passed)
([1.005, 0.005, 0.00707], True)
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from rnnprobe.analysis._frames import require_columns
from rnnprobe.schema import CHECK_KEYS, CHECK_METRICS, CHECK_PARAMETERS

__all__ = ["SIGNIFICANCE", "critical_value", "check_points", "pool_checks", "check_summary", "check_settings",
           "check_tolerances", "setting_label", "is_theory"]

#: two-sided significance level of one check (Bonferroni-split over its indices)
SIGNIFICANCE = 1e-4
_INDEX_COLUMNS = ("lag", "layer", "index")


def is_theory(results: pd.DataFrame | None) -> bool:
    """Whether a results frame holds theory-study checks (``predicted`` and ``measured`` rows by check)."""
    if results is None or "metric" not in results or not set(CHECK_KEYS) <= set(results.columns):
        return False
    metrics = set(results["metric"].dropna().unique())
    return {"predicted", "measured"} <= metrics


def critical_value(dof: float, n_indices: int, significance: float = SIGNIFICANCE) -> float:
    """Two-sided critical value at ``significance``, Bonferroni-split over ``n_indices``.

    Student t with ``dof`` degrees of freedom; normal when ``dof`` is infinite
    (an exact or theory-given standard error).

    Examples
    --------
    >>> round(critical_value(math.inf, 1, 0.05), 4), round(critical_value(math.inf, 2, 0.05), 4)
    (1.96, 2.2414)
    >>> round(critical_value(4, 1, 0.05), 4)
    2.7764
    """
    p = 1.0 - float(significance) / (2 * max(int(n_indices), 1))
    if not math.isfinite(dof):
        return float(stats.norm.ppf(p))
    return float(stats.t.ppf(p, max(float(dof), 1e-9)))


def _index_columns(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(kind, position) per row: which of lag/layer/index locates it, and its value ('' and 0 for a scalar)."""
    kind = pd.Series("", index=frame.index, dtype=object)
    pos = pd.Series(0.0, index=frame.index)
    for col in _INDEX_COLUMNS:
        if col in frame:
            v = pd.to_numeric(frame[col], errors="coerce")
            has = v.notna() & (kind == "")
            kind = kind.where(~has, col)
            pos = pos.where(~has, v)
    return kind, pos


def check_points(results: pd.DataFrame, summary: pd.DataFrame | None = None, *,
                 significance: float = SIGNIFICANCE) -> pd.DataFrame:
    """One row per grid point × index: the check's metrics side by side, its tolerance and verdict.

    Parameters
    ----------
    results : DataFrame
        ``results.csv`` of a theory study (other metrics are ignored).
    summary : DataFrame, optional
        ``summary.csv``: adds ``relation``, ``dof``, ``replicates`` per point.
        Without it a point is taken as an 'equal' check with an exact standard
        error (dof = ∞).
    significance : float
        Two-sided level of one check, Bonferroni-split over its indices.

    Returns
    -------
    DataFrame
        The check keys, the parameter columns present, ``seed``, ``index_kind``
        ('lag', 'layer', 'index' or '' for a scalar), ``position``, the metrics
        of :data:`rnnprobe.schema.CHECK_METRICS` (``limit`` NaN where absent),
        ``relation``, ``dof``, ``replicates``, ``n_indices`` (of the point),
        ``critical_value``, ``tolerance`` (c·standard_error + allowance) and
        ``point_passed`` (the point's verdict at this index).

    Examples
    --------
    A measurement 3 standard errors off passes at level 1e-4 (c = 3.89), 5 off does not:

    >>> R = pd.DataFrame({"prediction": "p", "setting": "s", "quantity": "q", "seed": [0] * 4 + [1] * 4,
    ...     "metric": ["predicted", "measured", "standard_error", "allowance"] * 2,
    ...     "value": [1.0, 1.03, 0.01, 0.0, 1.0, 1.05, 0.01, 0.0]})
    >>> pts = check_points(R)
    >>> [round(float(v), 4) for v in pts["tolerance"]], pts["point_passed"].tolist()
    ([0.0389, 0.0389], [True, False])
    """
    require_columns(results, ["metric", "value", *CHECK_KEYS, "seed"], name="results")
    rows = results[results["metric"].isin(CHECK_METRICS)].copy()
    if rows.empty:
        return pd.DataFrame()
    kind, pos = _index_columns(rows)
    rows["index_kind"], rows["position"] = kind, pos
    params = [c for c in CHECK_PARAMETERS if c in rows]
    keys = list(CHECK_KEYS) + ["seed", "index_kind", "position"]
    key_frame = rows[keys].astype(object).where(rows[keys].notna(), "")
    wide = rows.assign(**{k: key_frame[k] for k in keys}).pivot_table(index=keys, columns="metric", values="value",
                                                                      aggfunc="first", sort=False)
    wide = wide.reset_index()
    for m in CHECK_METRICS:
        if m not in wide:
            wide[m] = np.nan
    first = rows.assign(**{k: key_frame[k] for k in keys}).groupby(keys, sort=False)[params].first().reset_index()
    wide = wide.merge(first, on=keys, how="left")
    defaults = {"relation": "equal", "dof": math.inf, "replicates": np.nan}
    if summary is not None and not summary.empty and set(CHECK_KEYS) <= set(summary.columns):
        cols = [c for c in defaults if c in summary]
        s = summary[list(CHECK_KEYS) + ["seed"] + cols].copy()
        s["seed"] = s["seed"].astype(object)
        wide["seed"] = wide["seed"].astype(object)
        wide = wide.merge(s.drop_duplicates(list(CHECK_KEYS) + ["seed"]), on=list(CHECK_KEYS) + ["seed"], how="left")
    for c, v in defaults.items():
        if c not in wide:
            wide[c] = v
        else:
            wide[c] = wide[c].where(wide[c].notna(), v)
    wide["dof"] = pd.to_numeric(wide["dof"], errors="coerce").fillna(math.inf).astype(float)
    wide["n_indices"] = wide.groupby(list(CHECK_KEYS) + ["seed"], sort=False)["position"].transform("size")
    wide["critical_value"] = [critical_value(d, m, significance) for d, m in zip(wide["dof"], wide["n_indices"])]
    allowance = wide["allowance"].fillna(0.0)
    wide["tolerance"] = wide["critical_value"] * wide["standard_error"].fillna(0.0) + allowance
    diff = wide["measured"] - wide["predicted"]
    bound = wide["relation"] == "at most"
    wide["point_passed"] = np.where(bound, diff <= allowance, diff.abs() <= wide["tolerance"])
    wide["position"] = pd.to_numeric(wide["position"], errors="coerce")
    wide["seed"] = pd.to_numeric(wide["seed"], errors="coerce")
    order = list(CHECK_KEYS) + params + ["seed", "index_kind", "position"]
    rest = [c for c in wide.columns if c not in order]
    return wide[order + rest]


def _pool(group: pd.DataFrame, n_indices: int, significance: float) -> dict:
    S = len(group)
    p, m = group["predicted"].to_numpy(float), group["measured"].to_numpy(float)
    se_i = group["standard_error"].fillna(0.0).to_numpy(float)
    dof_i = group["dof"].to_numpy(float)
    a_i = group["allowance"].fillna(0.0).to_numpy(float)
    diff = m - p
    var = float(np.sum(se_i**2))
    se = math.sqrt(var) / S
    finite = np.isfinite(dof_i) & (se_i > 0)
    if var == 0.0 or not finite.any() or (~np.isfinite(dof_i) & (se_i > 0)).any():
        dof = math.inf
    else:
        dof = var**2 / float(np.sum(se_i[finite] ** 4 / dof_i[finite]))
    c = critical_value(dof, n_indices, significance)
    allowance = float(a_i.mean())
    relation = str(group["relation"].iloc[0])
    if relation == "at most":
        error = float(diff.max())
        tolerance = allowance
        passed = bool(np.all(diff <= a_i))
    else:
        error = float(diff.mean())
        tolerance = c * se + allowance
        passed = bool(abs(error) <= tolerance)
    limit = group["limit"].to_numpy(float)
    predicted = float(p.mean())
    return {
        "n_seeds": S,
        "predicted": predicted,
        "measured": float(m.mean()),
        "measured_std": float(m.std(ddof=1)) if S > 1 else float("nan"),
        "measured_min": float(m.min()),
        "measured_max": float(m.max()),
        "limit": float(np.nanmean(limit)) if np.isfinite(limit).any() else float("nan"),
        "error": error,
        "relative_error": error / abs(predicted) if predicted != 0 else float("nan"),
        "standard_error": se,
        "dof": dof,
        "critical_value": c,
        "allowance": allowance,
        "tolerance": tolerance,
        "error_to_tolerance": abs(error) / tolerance if relation != "at most" and tolerance > 0 else
        (0.0 if relation != "at most" and error == 0 else float("nan")),
        "measured_to_bound": float(np.max(m / p)) if relation == "at most" and np.all(p > 0) else float("nan"),
        "relation": relation,
        "significance": significance,
        "seeds_passed": int(group["point_passed"].astype(bool).sum()),
        "passed": passed,
    }


def pool_checks(results: pd.DataFrame, summary: pd.DataFrame | None = None, *,
                significance: float = SIGNIFICANCE) -> pd.DataFrame:
    """Pool the seeds: one row per check (prediction, setting, quantity) × index.

    Parameters
    ----------
    results, summary : DataFrame
        The theory study's ``results.csv`` and ``summary.csv`` (see
        :func:`check_points`).
    significance : float
        Two-sided level of one check, Bonferroni-split over its indices.

    Returns
    -------
    DataFrame
        The check keys, parameter columns, ``index_kind``, ``position``, then
        ``n_seeds``, ``predicted``, ``measured`` (means over seeds),
        ``measured_std``, ``measured_min``, ``measured_max`` (spread over seeds),
        ``limit``, ``error`` (mean of measured − predicted; for an upper bound the
        largest), ``relative_error``, ``standard_error`` (pooled), ``dof``
        (Welch–Satterthwaite), ``critical_value``, ``allowance``, ``tolerance``,
        ``error_to_tolerance`` (|error|/tolerance, 'equal' checks),
        ``measured_to_bound`` (largest measured/predicted, 'at most' checks),
        ``relation``, ``significance``, ``seeds_passed`` (seeds whose own verdict
        held at this index), ``check_seeds_passed`` (seeds whose own verdict held
        at every index of the check) and ``passed``. Empty when there are no
        theory rows.
    """
    points = check_points(results, summary, significance=significance)
    if points.empty:
        return pd.DataFrame()
    params = [c for c in CHECK_PARAMETERS if c in points]
    check_key = list(CHECK_KEYS)
    n_indices = points.groupby(check_key, sort=False)["position"].transform(
        lambda s: s.nunique(dropna=False))
    points = points.assign(_m=n_indices)
    per_seed = points.groupby(check_key + ["seed"], sort=False)["point_passed"].all().groupby(
        level=list(range(len(check_key))), sort=False).sum()
    out = []
    for _, g in points.groupby(check_key + ["index_kind", "position"], sort=False, dropna=False):
        head = {k: g[k].iloc[0] for k in check_key + params + ["index_kind", "position"]}
        pooled = _pool(g, int(g["_m"].iloc[0]), significance)
        pooled["check_seeds_passed"] = int(per_seed.loc[tuple(head[k] for k in check_key)])
        out.append({**head, **pooled})
    return pd.DataFrame(out)


_SYMBOLS = (("hidden", "n"), ("depth", "L"), ("length", "T"), ("gain", "σ_w"), ("bias_std", "σ_b"),
            ("alpha", "α"), ("forget_bias", "b_f"), ("update_bias", "b_z"), ("chrono", "T_max"))


def _fmt(v) -> str:
    v = float(v)
    return f"{int(v)}" if v.is_integer() else f"{v:.4g}"


def setting_label(row) -> str:
    """The parameters of a check in words, e.g. ``'mlp tanh, n = 256, L = 12, σ_w = 2, σ_b = 0.3'``.

    ``gain`` reads σ_w for mlp and resmlp stacks and g for recurrent nets; the
    initialisation is named when it is not Gaussian.

    Examples
    --------
    >>> setting_label({"arch": "mlp", "nonlinearity": "tanh", "hidden": 256, "depth": 12, "gain": 2.0, "bias_std": 0.3})
    'mlp tanh, n = 256, L = 12, σ_w = 2, σ_b = 0.3'
    >>> setting_label({"arch": "lstm", "hidden": 16, "length": 400, "gain": 1.0, "forget_bias": 2.0, "init": "orthogonal"})
    'lstm orthogonal, n = 16, T = 400, g = 1, b_f = 2'
    """
    get = row.get if hasattr(row, "get") else (lambda k, d=None: row[k] if k in row else d)

    def present(k):
        v = get(k, None)
        return v is not None and not (isinstance(v, float) and math.isnan(v)) and v == v and v != ""

    head = str(get("arch", "")) if present("arch") else ""
    if present("nonlinearity") and get("arch") in ("mlp", "resmlp", "dense"):
        head += f" {get('nonlinearity')}"
    if present("init") and get("init") != "gaussian":
        head += f" {get('init')}"
    parts = []
    feedforward = get("arch") in ("mlp", "resmlp")
    for col, sym in _SYMBOLS:
        if present(col):
            if col == "gain" and not feedforward:
                sym = "g"
            parts.append(f"{sym} = {_fmt(get(col))}")
    return ", ".join([head.strip()] + parts) if head.strip() else ", ".join(parts)


def check_summary(checks: pd.DataFrame) -> pd.DataFrame:
    """One row per check: its verdict, and the numbers of its worst index.

    Parameters
    ----------
    checks : DataFrame
        From :func:`pool_checks`.

    Returns
    -------
    DataFrame
        ``prediction``, ``setting``, ``quantity``, the parameter columns present
        (``arch``, ``hidden``, …), ``parameters`` (in words),
        ``n_indices``, ``index_kind`` and ``position`` of the worst index (largest
        |error|/tolerance; for an upper bound the largest measured/predicted),
        its ``predicted``, ``measured``, ``measured_std``, ``limit``, ``error``,
        ``tolerance``, ``error_to_tolerance``, ``measured_to_bound``, the
        check's ``relation``, ``n_seeds``, ``seeds_passed`` (seeds whose own
        verdict held at every index), ``passed`` (every index pooled within
        tolerance) and ``verdict`` ('pass' or 'FAIL').

    Examples
    --------
    >>> checks = pd.DataFrame({"prediction": "capacity", "setting": "s", "quantity": "mc_lag", "index_kind": "lag",
    ...     "position": [1, 2], "predicted": [0.9, 0.5], "measured": [0.91, 0.4], "measured_std": 0.01,
    ...     "error": [0.01, -0.1], "tolerance": [0.05, 0.05], "error_to_tolerance": [0.2, 2.0],
    ...     "measured_to_bound": float("nan"), "relation": "equal", "n_seeds": 3, "seeds_passed": [3, 1],
    ...     "passed": [True, False]})
    >>> check_summary(checks)[["position", "error", "seeds_passed", "verdict"]].to_dict("records")
    [{'position': 2, 'error': -0.1, 'seeds_passed': 1, 'verdict': 'FAIL'}]
    """
    if checks is None or checks.empty:
        return pd.DataFrame()
    require_columns(checks, [*CHECK_KEYS, "position", "predicted", "measured", "error", "tolerance", "passed"],
                    name="checks")
    out = []
    for _, g in checks.groupby(list(CHECK_KEYS), sort=False):
        bound = (g["relation"] == "at most").all() if "relation" in g else False
        score = g["measured_to_bound"] if bound else g["error_to_tolerance"]
        worst = g.loc[score.fillna(-np.inf).idxmax()] if score.notna().any() else g.iloc[0]
        row = {k: worst[k] for k in CHECK_KEYS}
        row.update({c: worst[c] for c in CHECK_PARAMETERS if c in g})
        row["parameters"] = setting_label(worst)
        row["n_indices"] = len(g)
        for c in ("index_kind", "position", "predicted", "measured", "measured_std", "limit", "error", "tolerance",
                  "error_to_tolerance", "measured_to_bound", "relation", "n_seeds"):
            if c in g:
                row[c] = worst[c]
        if "check_seeds_passed" in g:
            row["seeds_passed"] = int(g["check_seeds_passed"].iloc[0])
        elif "seeds_passed" in g:
            row["seeds_passed"] = int(g["seeds_passed"].min())
        row["passed"] = bool(g["passed"].astype(bool).all())
        row["verdict"] = "pass" if row["passed"] else "FAIL"
        out.append(row)
    return pd.DataFrame(out)


def check_settings(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per prediction × setting: its parameters in words, quantities, replicates, seeds and reference.

    Parameters
    ----------
    summary : DataFrame
        ``summary.csv`` of a theory study.

    Examples
    --------
    >>> s = pd.DataFrame({"prediction": "gates", "setting": "lstm-bf2", "quantity": ["efold", "retention"],
    ...     "arch": "lstm", "hidden": 16, "forget_bias": 2.0, "seed": 0, "replicates": 1, "reference": "Gers"})
    >>> check_settings(s).iloc[0].to_dict()["quantities"]
    'efold, retention'
    """
    require_columns(summary, [*CHECK_KEYS, "seed"], name="summary")
    out = []
    for (prediction, setting), g in summary.groupby(["prediction", "setting"], sort=False):
        first = g.iloc[0]
        row = {"prediction": prediction, "setting": setting, "parameters": setting_label(first),
               "quantities": ", ".join(dict.fromkeys(g["quantity"].astype(str))),
               "replicates": int(pd.to_numeric(g["replicates"], errors="coerce").max())
               if "replicates" in g and g["replicates"].notna().any() else np.nan,
               "n_seeds": int(g["seed"].nunique())}
        if "reference" in g:
            row["reference"] = str(first["reference"])
        out.append(row)
    return pd.DataFrame(out)


def check_tolerances(summary: pd.DataFrame) -> pd.DataFrame:
    """How each check's tolerance is justified: one row per distinct (prediction, quantity, relation, basis).

    Settings that share the same justification are listed together.

    Examples
    --------
    >>> s = pd.DataFrame({"prediction": "gates", "setting": ["a", "b", "a"], "quantity": ["efold", "efold", "x"],
    ...     "seed": 0, "relation": "equal", "tolerance_basis": ["exact", "exact", "bound"]})
    >>> check_tolerances(s)[["quantity", "settings"]].to_dict("records")
    [{'quantity': 'efold', 'settings': 'a, b'}, {'quantity': 'x', 'settings': 'a'}]
    """
    require_columns(summary, [*CHECK_KEYS, "tolerance_basis"], name="summary")
    keys = ["prediction", "quantity", "relation", "tolerance_basis"] if "relation" in summary else \
        ["prediction", "quantity", "tolerance_basis"]
    out = []
    for values, g in summary.groupby(keys, sort=False):
        row = dict(zip(keys, values))
        row["settings"] = ", ".join(dict.fromkeys(g["setting"].astype(str)))
        out.append(row)
    cols = ["prediction", "quantity", "settings"] + [k for k in ("relation", "tolerance_basis") if k in keys]
    return pd.DataFrame(out)[cols]
