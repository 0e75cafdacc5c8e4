"""The training study's frames: loss curves, G(k) at initialisation, mid-training and the end, measures per step.

The training study's ``results.csv`` has one row per training run (grid point)
× ``step`` × metric (× lag / index / block); these functions turn it into the
curves its report draws, aggregated over seeds (median, and the range min–max),
one curve per *run label*: the architecture, plus ``flossed (k=K)`` for a
flossed run and any other grid option that differs between runs.

* :func:`is_training`: whether a results frame is the training study's;
* :func:`with_run_label`: the ``variant`` label of every row;
* :func:`training_curves`: validation and training cross-entropy (bits/char) against the step;
* :func:`stage_steps`, :func:`gradient_profiles`: G(k) at the initialisation, the middle and the end;
* :func:`training_measures`: memory length, λ₁ and σ_max against the step;
* :func:`weight_norms`: σ_max of every recurrent weight block against the step;
* :func:`training_table`: one row per run, each measure at the start and the end;
* :func:`sample_table`: the text samples at the three stages.

Examples
--------
>>> import pandas as pd
>>> r = pd.DataFrame({"study": "training", "arch": "gru", "seed": 0, "floss": float("nan"), "step": [0, 0, 10, 10],
...     "metric": ["val_bits_per_char", "train_loss", "val_bits_per_char", "train_loss"], "lag": float("nan"),
...     "value": [7.0, float("nan"), 3.0, 2.0]})
>>> is_training(r)
True
>>> training_curves(r)[["variant", "metric", "step", "median"]].to_dict("records")
[{'variant': 'gru', 'metric': 'val_bits_per_char', 'step': 0, 'median': 7.0}, {'variant': 'gru', 'metric': 'train_bits_per_char', 'step': 10, 'median': 2.885390081777927}, {'variant': 'gru', 'metric': 'val_bits_per_char', 'step': 10, 'median': 3.0}]
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from rnnprobe.analysis._frames import (BASE_GRID_COLUMNS, group_columns, point_key, require_columns, sort_by_arch,
                                       variant_label)

__all__ = ["STAGES", "TRAINING_MEASURES", "is_training", "with_run_label", "training_curves", "stage_steps",
           "gradient_profiles", "training_measures", "weight_norms", "training_table", "sample_table"]

#: the three moments of a run the report compares
STAGES = ("initialisation", "middle", "end")
#: the per-step measures of :func:`training_measures` (λ₁ is ``lyapunov_exponent`` index 0; σ_max the largest block)
TRAINING_MEASURES = ("val_bits_per_char", "memory_threshold", "memory_efold", "lyapunov_exponent", "sigma_max")
_LN2 = math.log(2.0)


def is_training(results: pd.DataFrame | None) -> bool:
    """Whether ``results`` is the training study's (a ``step`` column and validation rows)."""
    return (results is not None and "step" in results and "metric" in results
            and bool((results["metric"] == "val_bits_per_char").any()))


def _by(frame: pd.DataFrame) -> list[str]:
    """The run's grid columns but the seed and the study."""
    return [c for c in group_columns(frame) if c != "study"]


def with_run_label(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``variant``: the architecture, ``flossed (k=K)`` for a flossed run, and any other varying extra option.

    Examples
    --------
    >>> f = pd.DataFrame({"arch": ["vanilla-tanh", "vanilla-tanh", "lstm"], "floss": [0, 4, float("nan")],
    ...                   "steps": 100})
    >>> with_run_label(f)["variant"].tolist()
    ['vanilla-tanh', 'vanilla-tanh flossed (k=4)', 'lstm']
    """
    out = frame.copy()
    extras = [c for c in _by(frame) if c not in BASE_GRID_COLUMNS and c != "floss"
              and frame[c].notna().any() and frame[c].nunique(dropna=False) > 1]
    labels = []
    for _, row in out.iterrows():
        label = variant_label(row, extras) if "arch" in out else ""
        k = row.get("floss")
        if k is not None and not (isinstance(k, float) and np.isnan(k)) and float(k) > 0:
            label += f" flossed (k={int(k)})"
        labels.append(label)
    out["variant"] = labels
    return out


def _aggregate(rows: pd.DataFrame, by: list[str], value: str = "value") -> pd.DataFrame:
    """Median, min, max and the number of seeds of ``value`` per ``by`` group (NaN values left out)."""
    key = point_key(rows, by)
    grouped = rows.groupby(key, sort=False)
    out = grouped[by].first()
    values = pd.to_numeric(rows[value], errors="coerce").astype(float).groupby(key, sort=False)
    out["median"] = values.median()
    out["low"] = values.min()
    out["high"] = values.max()
    out["n_seeds"] = grouped["seed"].nunique() if "seed" in rows else 1
    return out.reset_index(drop=True)


def _sorted(frame: pd.DataFrame, then) -> pd.DataFrame:
    then = [c for c in ("floss", *then) if c in frame]
    return sort_by_arch(frame, then=then)


def training_curves(results: pd.DataFrame) -> pd.DataFrame:
    """Validation and training cross-entropy against the step, in bits per character.

    Returns
    -------
    DataFrame
        The runs' grid columns (no seed), ``variant``, ``metric``
        (``val_bits_per_char``, or ``train_bits_per_char``: the mean training
        loss over the steps since the previous checkpoint, in bits), ``step``,
        ``median``, ``low``, ``high``, ``n_seeds``. Rows whose value is empty (no
        training loss at step 0) are left out.
    """
    require_columns(results, ["metric", "value", "step"], name="results")
    by = _by(results)
    rows = results[results["metric"].isin(["val_bits_per_char", "train_loss"])].copy()
    rows["value"] = rows["value"].astype(float)
    train = rows["metric"] == "train_loss"
    rows.loc[train, "value"] = rows.loc[train, "value"] / _LN2
    rows.loc[train, "metric"] = "train_bits_per_char"
    rows = rows[rows["value"].notna()]
    out = with_run_label(_aggregate(rows, by + ["metric", "step"]))
    return _sorted(out[by + ["variant", "metric", "step", "median", "low", "high", "n_seeds"]], ["step", "metric"])


def stage_steps(results: pd.DataFrame) -> pd.DataFrame:
    """The probed steps of every run at the three :data:`STAGES`.

    The initialisation is the first probed step (0), the end the last, the middle
    the probed step nearest to half-way (the earlier one on a tie).

    Returns
    -------
    DataFrame
        The runs' grid columns (no seed), ``stage``, ``step``.
    """
    require_columns(results, ["metric", "step"], name="results")
    by = _by(results)
    rows = results[results["metric"] == "jacobian_norm"]
    out = []
    for _, g in rows.groupby(point_key(rows, by), sort=False):
        steps = np.sort(g["step"].astype(int).unique())
        mid = steps[np.argmin(np.abs(steps - (steps[0] + steps[-1]) / 2))]
        first = g.iloc[0]
        for stage, step in zip(STAGES, (steps[0], mid, steps[-1])):
            out.append({**{c: first[c] for c in by}, "stage": stage, "step": int(step)})
    return pd.DataFrame(out, columns=by + ["stage", "step"])


def gradient_profiles(results: pd.DataFrame, metric: str = "jacobian_norm") -> pd.DataFrame:
    """G(k) against the lag at the initialisation, the middle and the end of every run.

    Returns
    -------
    DataFrame
        The runs' grid columns (no seed), ``variant``, ``stage``, ``step``,
        ``lag``, ``median``, ``low``, ``high``, ``n_seeds``.
    """
    by = _by(results)
    stages = stage_steps(results)
    rows = results[results["metric"] == metric]
    rows = rows.merge(stages, on=by + ["step"], how="inner")
    rows = rows.assign(lag=pd.to_numeric(rows["lag"]).astype(int))
    out = with_run_label(_aggregate(rows, by + ["stage", "step", "lag"]))
    order = {s: i for i, s in enumerate(STAGES)}
    out = _sorted(out.assign(_stage=out["stage"].map(order)), ["_stage", "lag"]).drop(columns="_stage")
    return out[by + ["variant", "stage", "step", "lag", "median", "low", "high", "n_seeds"]]


def _measure_rows(results: pd.DataFrame) -> pd.DataFrame:
    """One value per run × seed × step × measure of :data:`TRAINING_MEASURES`."""
    by = _by(results)
    keep = by + (["seed"] if "seed" in results else []) + ["step"]
    r = results[results["metric"].isin(TRAINING_MEASURES)]
    lam = r[(r["metric"] == "lyapunov_exponent") & (pd.to_numeric(r["index"]) == 0)]
    sigma = r[r["metric"] == "sigma_max"]
    sigma = sigma.assign(value=sigma["value"].astype(float)).groupby(point_key(sigma, keep), sort=False) \
        .agg({**{c: "first" for c in keep}, "value": "max"}).assign(metric="sigma_max") if not sigma.empty else sigma
    other = r[r["metric"].isin(["val_bits_per_char", "memory_threshold", "memory_efold"])]
    return pd.concat([f[keep + ["metric", "value"]] for f in (other, lam, sigma) if not f.empty], ignore_index=True)


def training_measures(results: pd.DataFrame) -> pd.DataFrame:
    """Validation bits/char, memory length (threshold, e-folding time), λ₁ and σ_max against the step.

    σ_max is the largest over the recurrent weight blocks (``W_h`` of a vanilla
    core, the largest gate block of a gated one); λ₁ the top Lyapunov exponent.

    Returns
    -------
    DataFrame
        The runs' grid columns (no seed), ``variant``, ``measure`` (one of
        :data:`TRAINING_MEASURES`), ``step``, ``median``, ``low``, ``high``, ``n_seeds``.
    """
    require_columns(results, ["metric", "value", "step"], name="results")
    by = _by(results)
    rows = _measure_rows(results).rename(columns={"metric": "measure"})
    columns = by + ["variant", "measure", "step", "median", "low", "high", "n_seeds"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    out = with_run_label(_aggregate(rows, by + ["measure", "step"]))
    return _sorted(out[columns], ["measure", "step"])


def weight_norms(results: pd.DataFrame) -> pd.DataFrame:
    """σ_max of every recurrent weight block against the step.

    Returns
    -------
    DataFrame
        The runs' grid columns (no seed), ``variant``, ``block``, ``step``,
        ``median``, ``low``, ``high``, ``n_seeds``.
    """
    by = _by(results)
    rows = results[results["metric"] == "sigma_max"]
    columns = by + ["variant", "block", "step", "median", "low", "high", "n_seeds"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    out = with_run_label(_aggregate(rows, by + ["block", "step"]))
    return _sorted(out[columns], ["block", "step"])


def _profile_lag(results: pd.DataFrame) -> int | None:
    """The lag at which the table compares G: half the probe length (the largest lag's half)."""
    lags = pd.to_numeric(results.loc[results["metric"] == "jacobian_norm", "lag"], errors="coerce").dropna()
    return None if lags.empty else max(1, int(lags.max()) // 2)


def training_table(results: pd.DataFrame) -> pd.DataFrame:
    """One row per run: each measure at the initialisation and at the end (medians over seeds).

    Returns
    -------
    DataFrame
        The runs' grid columns (no seed), ``variant``, ``n_seeds``, ``steps_done``
        (the last step), and ``<measure>_initial`` / ``<measure>_final`` for
        ``val_bits_per_char``, ``memory_threshold``, ``memory_efold``,
        ``lyapunov_exponent`` (λ₁), ``sigma_max``, and ``G_lag`` (G(k) at
        ``lag`` = half the probe length).
    """
    by = _by(results)
    measures = training_measures(results)
    lag = _profile_lag(results)
    if lag is not None:
        g = results[(results["metric"] == "jacobian_norm") & (pd.to_numeric(results["lag"]) == lag)]
        g = _aggregate(g.rename(columns={"metric": "measure"}).assign(measure="G_lag"), by + ["measure", "step"])
        measures = pd.concat([measures, with_run_label(g)], ignore_index=True)
    out = []
    for _, m in measures.groupby(point_key(measures, by), sort=False):
        first = m.iloc[0]
        row = {**{c: first[c] for c in by}, "variant": first["variant"], "n_seeds": int(m["n_seeds"].max()),
               "steps_done": int(m["step"].max())}
        for name, g in m.groupby("measure", sort=False):
            g = g.sort_values("step")
            row[f"{name}_initial"] = float(g["median"].iloc[0])
            row[f"{name}_final"] = float(g["median"].iloc[-1])
        if lag is not None:
            row["lag"] = lag
        out.append(row)
    names = [f"{m}_{w}" for m in (*TRAINING_MEASURES, "G_lag") for w in ("initial", "final")]
    frame = pd.DataFrame(out)
    columns = by + ["variant", "n_seeds", "steps_done"] + [c for c in names if c in frame] + \
        (["lag"] if lag is not None else [])
    return _sorted(frame[columns], [])


def sample_table(samples: pd.DataFrame, results: pd.DataFrame) -> pd.DataFrame:
    """The text samples at the three :data:`STAGES` of every run (the first seed's).

    Parameters
    ----------
    samples : DataFrame
        ``samples.csv`` (grid columns, ``point_id``, ``step``, ``temperature``, ``prime``, ``text``).
    results : DataFrame
        ``results.csv`` (for the stages' steps).

    Returns
    -------
    DataFrame
        The runs' grid columns (no seed), ``variant``, ``seed``, ``stage``,
        ``step``, ``temperature``, ``text``.
    """
    require_columns(samples, ["step", "text"], name="samples")
    by = _by(results)
    stages = stage_steps(results)
    s = samples
    if "seed" in s:
        s = s[s["seed"] == s["seed"].min()]
    s = s.merge(stages, on=by + ["step"], how="inner")
    s = with_run_label(s.assign(text=s["text"].fillna("").astype(str)))
    order = {st: i for i, st in enumerate(STAGES)}
    s = _sorted(s.assign(_stage=s["stage"].map(order)), ["_stage"]).drop(columns="_stage")
    cols = by + ["variant"] + [c for c in ("seed", "stage", "step", "temperature", "text") if c in s]
    return s[cols].reset_index(drop=True)
