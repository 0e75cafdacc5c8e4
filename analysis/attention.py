"""The attention study's tables: accuracy against length, gradients against distance by path, attention maps.

Pure pandas over the ``attention`` study's frames (``results.csv``: ``attention_weight``,
``path_gradient_*`` and ``source_gradient_norm`` rows indexed by ``target_position`` s and
``source_position`` t; ``summary.csv``: accuracies, loss and alignment shares; docs/results.md).

* :func:`accuracy_table`: per model × task × length, medians over seeds (with their range) of the
  greedy token accuracy, the sequence and teacher-forced accuracies, the final loss and the
  alignment shares — the "asking too much" curve;
* :func:`gradient_by_distance`: the gradient reaching source position t from the output at target
  position s, against the distance between them, d = T − t + s (the recurrent steps from the
  encoder state s_t through the decoder's start to the decoder state d_s; in the transformer's
  sequence [source; target], the positions between source t and the position that predicts s);
  per path (``attention``, ``recurrence``, their ``total``, and ``source`` for the gradient at the
  source embeddings); the median over the (s, t) pairs at that distance, then the median and range
  over seeds;
* :func:`attention_maps`: the attention weights of the stored examples, one length, as tidy
  rows with the aligned source position of each target position.

Examples
--------
>>> import pandas as pd
>>> summary = pd.DataFrame({"study": "attention", "arch": "gru", "hidden": 8, "length": [4, 4, 8, 8],
...     "seed": [0, 1, 0, 1], "model": "dot", "task": "reverse", "vocab": 4, "train_steps": 10,
...     "point_id": ["a", "b", "c", "d"], "token_accuracy": [0.9, 0.7, 0.5, 0.3]})
>>> accuracy_table(summary)[["length", "n_seeds", "token_accuracy", "token_accuracy_min"]].to_dict("records")
[{'length': 4, 'n_seeds': 2, 'token_accuracy': 0.8, 'token_accuracy_min': 0.7}, {'length': 8, 'n_seeds': 2, 'token_accuracy': 0.4, 'token_accuracy_min': 0.3}]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rnnprobe import schema
from rnnprobe.analysis._frames import aggregate_seeds, group_columns, point_key, require_columns
from rnnprobe.errors import InvalidArgument

__all__ = ["is_attention", "accuracy_table", "gradient_by_distance", "attention_maps", "model_order",
           "ACCURACY_MEASURES", "GRADIENT_PATHS"]

#: the summary measures :func:`accuracy_table` aggregates, in column order
ACCURACY_MEASURES = ("token_accuracy", "sequence_accuracy", "teacher_forced_accuracy", "final_loss",
                     "alignment_accuracy", "alignment_shifted")
#: metric -> path name in :func:`gradient_by_distance`
GRADIENT_PATHS = {"path_gradient_attention": "attention", "path_gradient_recurrence": "recurrence",
                  "path_gradient_total": "total", "source_gradient_norm": "source"}
_MODEL_ORDER = ("none", "dot", "bilinear", "none-nofeedback", "dot-nofeedback", "bilinear-nofeedback", "transformer")


def model_order(names) -> list[str]:
    """Model names in a fixed order: without attention, with attention, then the transformer.

    Examples
    --------
    >>> model_order(["transformer", "dot", "none"])
    ['none', 'dot', 'transformer']
    """
    names = list(dict.fromkeys(str(n) for n in names))
    return [m for m in _MODEL_ORDER if m in names] + sorted(n for n in names if n not in _MODEL_ORDER)


def is_attention(frame: pd.DataFrame | None) -> bool:
    """Whether a results or summary frame comes from the attention study (its metrics or summary fields)."""
    if frame is None or not isinstance(frame, pd.DataFrame) or "model" not in frame or "task" not in frame:
        return False
    if "metric" in frame:
        return bool(frame["metric"].isin(list(schema.ATTENTION_METRICS)).any())
    return "token_accuracy" in frame


def _keys(frame: pd.DataFrame, exclude=("seed", "study")) -> list[str]:
    return [c for c in group_columns(frame, exclude=exclude)]


def _sorted(frame: pd.DataFrame, then) -> pd.DataFrame:
    if frame.empty or "model" not in frame:
        return frame.reset_index(drop=True)
    rank = {m: i for i, m in enumerate(model_order(frame["model"].unique()))}
    cols = [c for c in then if c in frame]
    out = frame.assign(_rank=frame["model"].map(rank)).sort_values(["_rank"] + cols, kind="stable")
    return out.drop(columns="_rank").reset_index(drop=True)


def accuracy_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Per grid point without its seed: medians over seeds, and min and max, of :data:`ACCURACY_MEASURES`.

    Parameters
    ----------
    summary : DataFrame
        The attention study's ``summary.csv``.

    Returns
    -------
    DataFrame
        The grid columns but the seed, ``n_seeds``, and for each measure m present: ``m`` (median),
        ``m_min``, ``m_max``; sorted by model, task and length.
    """
    require_columns(summary, ["model", "task", "length", "token_accuracy"], name="summary")
    by = _keys(summary)
    out = aggregate_seeds(summary, ACCURACY_MEASURES, by=by)
    return _sorted(out, ["task", "arch", "hidden", "length"])


def gradient_by_distance(results: pd.DataFrame) -> pd.DataFrame:
    """The gradient at each source position against its distance from the target position, per path.

    Parameters
    ----------
    results : DataFrame
        The attention study's ``results.csv``.

    Returns
    -------
    DataFrame
        The grid columns but the seed, ``path`` (:data:`GRADIENT_PATHS`), ``distance`` d = T − t + s
        (1 … 2T − 1), ``pairs`` (the (s, t) pairs at that distance), ``median``, ``low``, ``high``
        (median and range over seeds of each point's median over its pairs), ``n_seeds``. Empty when
        the study recorded no gradients.

    Examples
    --------
    >>> import pandas as pd
    >>> r = pd.DataFrame({"model": "none", "task": "copy", "length": 2, "seed": 0,
    ...     "metric": "path_gradient_recurrence", "target_position": [0, 0, 1, 1], "source_position": [0, 1, 0, 1],
    ...     "value": [0.1, 0.5, 0.01, 0.2]})
    >>> gradient_by_distance(r)[["distance", "pairs", "median"]].to_dict("records")
    [{'distance': 1, 'pairs': 1, 'median': 0.5}, {'distance': 2, 'pairs': 2, 'median': 0.15000000000000002}, {'distance': 3, 'pairs': 1, 'median': 0.01}]
    """
    require_columns(results, ["metric", "value"], name="results")
    rows = results[results["metric"].isin(list(GRADIENT_PATHS))]
    by = _keys(results)
    columns = by + ["path", "distance", "pairs", "median", "low", "high", "n_seeds"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    require_columns(rows, ["length", "target_position", "source_position"], name="results")
    T, s, t = (pd.to_numeric(rows[c]).astype(int) for c in ("length", "target_position", "source_position"))
    rows = rows.assign(path=rows["metric"].map(GRADIENT_PATHS), distance=(T - t + s).to_numpy(),
                       value=rows["value"].astype(float))
    if not np.isfinite(rows["value"]).all():
        raise InvalidArgument("results must hold finite gradient norms; got NaN/Inf in "
                              f"{sorted(rows.loc[~np.isfinite(rows['value']), 'metric'].unique())}")
    per_point = rows.groupby(point_key(rows, by + ["seed", "path", "distance"]), sort=False)
    points = per_point[by + ["seed", "path", "distance"]].first()
    points["value"] = per_point["value"].median()
    points["pairs"] = per_point.size()
    key = point_key(points, by + ["path", "distance"])
    grouped = points.groupby(key, sort=False)
    out = grouped[by + ["path", "distance", "pairs"]].first()
    out["median"] = grouped["value"].median()
    out["low"] = grouped["value"].min()
    out["high"] = grouped["value"].max()
    out["n_seeds"] = grouped.size()
    out = out.reset_index(drop=True)[columns]
    out["distance"] = out["distance"].astype(int)
    out["pairs"] = out["pairs"].astype(int)
    return _sorted(out, ["task", "arch", "hidden", "length", "path", "distance"])


def attention_maps(results: pd.DataFrame, *, length="readable", seed="first") -> pd.DataFrame:
    """The stored attention weights at one length and one seed, with each target position's aligned source.

    Parameters
    ----------
    results : DataFrame
        The attention study's ``results.csv``.
    length : 'readable', int or None
        ``'readable'``: the longest length of at most 16 (a heatmap whose cells can be read; the
        shortest length when every length is longer); an int: that length; None: every length.
    seed : 'first', int or None
        The smallest seed, a given one, or all.

    Returns
    -------
    DataFrame
        The grid columns, ``example``, ``target_position`` s, ``source_position`` t, ``weight``
        α_{t,s}, ``aligned`` (whether t is the aligned position of s: t = s for copy, T − 1 − s for
        reverse) and ``shifted`` (t is one after it); sorted by model, task, example, s, t.
    """
    require_columns(results, ["metric", "value"], name="results")
    rows = results[results["metric"] == "attention_weight"]
    by = [c for c in group_columns(results, exclude=("study",))]
    columns = by + ["example", "target_position", "source_position", "weight", "aligned", "shifted"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    lengths = sorted(pd.to_numeric(rows["length"]).astype(int).unique())
    if length == "readable":
        readable = [n for n in lengths if n <= 16]
        length = readable[-1] if readable else lengths[0]
    if length is not None:
        rows = rows[pd.to_numeric(rows["length"]).astype(int) == int(length)]
    if seed is not None and not rows.empty:
        rows = rows[rows["seed"] == (rows["seed"].min() if seed == "first" else seed)]
    T, s, t = (pd.to_numeric(rows[c]).astype(int) for c in ("length", "target_position", "source_position"))
    target = np.where(rows["task"] == "copy", s, T - 1 - s)
    out = rows.assign(example=pd.to_numeric(rows["example"]).astype(int), target_position=s, source_position=t,
                      weight=rows["value"].astype(float), aligned=(t == target).to_numpy(),
                      shifted=(t == target + 1).to_numpy())
    return _sorted(out[columns], ["task", "arch", "length", "seed", "example", "target_position", "source_position"])
