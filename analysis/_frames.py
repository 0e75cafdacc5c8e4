"""Schema knowledge shared by the analysis functions: grid columns, steps, aggregation.

The studies write tidy frames (:mod:`rnnprobe.schema`, documented in
``docs/results.md``): ``results`` has one row per grid point × (lag | layer |
index) × metric, ``summary`` one row per grid point. A grid point is identified
by its grid columns (``study, arch, hidden, length, depth, gain, seed`` and any
extra ones a study adds, e.g. ``forget_bias``).

Examples
--------
>>> import pandas as pd
>>> results = pd.DataFrame({"study": "vanishing", "arch": "gru", "hidden": 8, "length": 3.0,
...     "depth": float("nan"), "gain": 1.0, "seed": 0, "metric": "jacobian_norm",
...     "lag": [3, 2, 1], "layer": float("nan"), "index": float("nan"), "block": float("nan"),
...     "value": [0.1, 0.3, 0.9]})
>>> grid_columns(results)
['study', 'arch', 'hidden', 'length', 'depth', 'gain', 'seed']
>>> with_steps(results)["steps"].tolist()
[3.0, 2.0, 1.0]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rnnprobe import schema
from rnnprobe.errors import InvalidArgument

__all__ = [
    "LOCATOR_COLUMNS", "BASE_GRID_COLUMNS", "EXTRA_GRID_COLUMNS", "SUMMARY_SCALARS",
    "grid_columns", "group_columns", "with_steps", "metric_rows", "require_columns",
    "select_horizon", "variant_label", "with_variant", "as_bool", "arch_order", "sort_by_arch",
    "point_key", "aggregate_seeds", "nearest_gain", "select_points",
]

#: Columns that locate a row inside a grid point (results.csv), with the row columns some studies add.
LOCATOR_COLUMNS = tuple(schema.ROW_COLUMNS) + tuple(schema.EXTRA_ROW_COLUMNS)
#: Grid columns every study writes, in order.
BASE_GRID_COLUMNS = tuple(schema.GRID_COLUMNS)
#: Extra grid columns studies are known to add (recognised even in derived frames without ``point_id``).
EXTRA_GRID_COLUMNS = tuple(schema.EXTRA_GRID_COLUMNS)
#: Scalar columns of summary.csv (anything else before them is a grid column).
SUMMARY_SCALARS = (*schema.SUMMARY_FIELDS, *schema.CHECK_SUMMARY_FIELDS, *schema.TRAINING_SUMMARY_FIELDS,
                   *schema.ATTENTION_SUMMARY_FIELDS,
                   *schema.ELAPSED)
_NOT_GRID = set(LOCATOR_COLUMNS) | set(SUMMARY_SCALARS) | {"point_id", "steps"}


def require_columns(frame: pd.DataFrame, columns, *, name: str = "frame") -> None:
    """Raise :class:`~rnnprobe.errors.InvalidArgument` unless ``frame`` has every column.

    Examples
    --------
    >>> require_columns(pd.DataFrame({"a": [1]}), ["a", "b"], name="summary")
    Traceback (most recent call last):
    ...
    rnnprobe.errors.InvalidArgument: summary must have columns ['a', 'b']; missing ['b'] (got columns ['a'])
    """
    if not isinstance(frame, pd.DataFrame):
        raise InvalidArgument(f"{name} must be a pandas DataFrame; got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidArgument(f"{name} must have columns {list(columns)}; missing {missing} "
                              f"(got columns {list(frame.columns)})")


def grid_columns(frame: pd.DataFrame) -> list[str]:
    """The grid columns of a results or summary frame, in the frame's order.

    Results frames: every column but the locators (``metric, lag, layer, index,
    block, value``) and ``point_id``. Summary (and derived) frames: the base grid
    columns and the known extras (:data:`EXTRA_GRID_COLUMNS`), plus any column
    written before ``point_id`` (grid columns come first), never a documented
    scalar.
    """
    cols = list(frame.columns)
    if "metric" in cols and "value" in cols:
        return [c for c in cols if c not in _NOT_GRID]
    before = cols[: cols.index("point_id")] if "point_id" in cols else []
    known = set(BASE_GRID_COLUMNS) | set(EXTRA_GRID_COLUMNS) | set(before)
    return [c for c in cols if c in known and c not in _NOT_GRID]


def group_columns(frame: pd.DataFrame, *, exclude=("seed",), drop_empty: bool = True) -> list[str]:
    """Grid columns to group by when aggregating over ``exclude`` (seeds by default).

    Columns that are empty everywhere (e.g. ``depth`` in a time study) are left
    out when ``drop_empty``.
    """
    cols = [c for c in grid_columns(frame) if c not in exclude]
    if drop_empty:
        cols = [c for c in cols if frame[c].notna().any()]
    return cols


def with_steps(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``steps``: how many steps separate the row's start from the end.

    Time rows: ``steps = lag``. Depth rows: ``steps = depth − layer`` (the
    Jacobian ``∂s_L/∂s_l`` spans ``L − l`` layers). Rows with neither get NaN.
    """
    out = frame.copy()
    steps = pd.Series(np.nan, index=out.index, dtype=float)
    if "lag" in out:
        steps = pd.to_numeric(out["lag"], errors="coerce").astype(float)
    if "layer" in out and "depth" in out:
        by_layer = pd.to_numeric(out["depth"], errors="coerce") - pd.to_numeric(out["layer"], errors="coerce")
        steps = steps.where(steps.notna(), by_layer.astype(float))
    out["steps"] = steps
    return out


def metric_rows(results: pd.DataFrame, metric: str | list[str]) -> pd.DataFrame:
    """Rows of the given metric(s), with ``steps`` added; empty if the metric is absent."""
    require_columns(results, ["metric", "value"], name="results")
    metrics = [metric] if isinstance(metric, str) else list(metric)
    rows = results[results["metric"].isin(metrics)]
    return with_steps(rows)


def select_horizon(frame: pd.DataFrame, horizon="max", *, by=None) -> pd.DataFrame:
    """Keep one horizon (sequence ``length`` or network ``depth``) per group.

    Parameters
    ----------
    frame : DataFrame
        Has ``length`` and/or ``depth`` columns.
    horizon : 'max', int or None
        ``'max'``: the longest horizon of each group; an int: that horizon;
        None: keep everything.
    by : list of str, optional
        The groups (default: the grid columns other than the horizon and the seed).
    """
    if horizon is None or frame.empty:
        return frame
    col = _horizon_column(frame)
    if col is None:
        return frame
    h = pd.to_numeric(frame[col], errors="coerce")
    if horizon != "max":
        return frame[h == float(horizon)]
    by = [c for c in (by if by is not None else group_columns(frame)) if c not in (col, "seed")]
    if not by:
        return frame[h == h.max()]
    top = h.groupby([frame[c] for c in by], dropna=False).transform("max")
    return frame[h == top]


def _horizon_column(frame: pd.DataFrame) -> str | None:
    """``depth`` when the frame has depths (depth study: a stacked RNN also has a length), else ``length``."""
    for col in ("depth", "length"):
        if col in frame and frame[col].notna().any():
            return col
    return None


_VARIANT_SYMBOLS = {"forget_bias": "b_f", "update_bias": "b_z", "init": "init", "alpha": "α", "window": "K"}


def variant_label(row, extras) -> str:
    """``arch`` plus any non-empty extra grid values, e.g. ``'lstm b_f=3'``."""
    parts = [str(row["arch"])]
    for c in extras:
        v = row[c]
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            continue
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            v = int(v)
        parts.append(f"{_VARIANT_SYMBOLS.get(c, c)}={v}")
    return " ".join(parts)


def with_variant(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``variant``: the architecture plus the extra grid options that vary (e.g. the LSTM forget bias).

    An extra grid column with one value for every row (say ``init`` when every
    point is orthogonal) distinguishes nothing and is left out of the label; one
    that is set for some rows only (the forget bias of the LSTM rows) is kept.

    Examples
    --------
    >>> f = pd.DataFrame({"arch": ["lstm", "lstm", "gru"], "forget_bias": [1.0, float("nan"), float("nan")],
    ...     "chrono": [float("nan"), 50, float("nan")], "init": "orthogonal"})
    >>> with_variant(f)["variant"].tolist()
    ['lstm b_f=1', 'lstm chrono=50', 'gru']
    """
    out = frame.copy()
    extras = [c for c in grid_columns(frame) if c not in BASE_GRID_COLUMNS
              and frame[c].notna().any() and frame[c].nunique(dropna=False) > 1]
    if "arch" not in out:
        out["variant"] = ""
    elif not extras:
        out["variant"] = out["arch"].astype(str)
    else:
        out["variant"] = [variant_label(r, extras) for _, r in out[["arch"] + extras].iterrows()]
    return out


def as_bool(series: pd.Series) -> pd.Series:
    """Booleans from a CSV column ('True'/'False'/1/0/empty) as float 1/0/NaN."""
    mapping = {True: 1.0, False: 0.0, "True": 1.0, "False": 0.0, "true": 1.0, "false": 0.0, 1: 1.0, 0: 0.0}
    return series.map(lambda v: mapping.get(v, np.nan) if not isinstance(v, float) else v).astype(float)


def arch_order(names) -> list[str]:
    """Architecture names in rnnprobe's registry order (unknown names last, alphabetically).

    Examples
    --------
    >>> arch_order(["lstm", "zzz", "vanilla-tanh", "gru"])
    ['vanilla-tanh', 'gru', 'lstm', 'zzz']
    """
    from rnnprobe import architectures

    known = list(architectures)
    names = list(dict.fromkeys(str(n) for n in names))
    return [n for n in known if n in names] + sorted(n for n in names if n not in known)


def sort_by_arch(frame: pd.DataFrame, then=()) -> pd.DataFrame:
    """Sort rows by architecture (registry order), then by the columns ``then``."""
    if "arch" not in frame or frame.empty:
        return frame.reset_index(drop=True)
    rank = {a: i for i, a in enumerate(arch_order(frame["arch"].dropna().unique()))}
    cols = [c for c in then if c in frame]
    out = frame.assign(_rank=frame["arch"].map(rank)).sort_values(["_rank"] + cols, kind="stable")
    return out.drop(columns="_rank").reset_index(drop=True)


def point_key(frame: pd.DataFrame, keys) -> pd.Series:
    """One string per row identifying its values of ``keys`` (NaN spelled 'nan'); groupby-safe.

    The strings are built once per distinct combination (a results table repeats
    each grid point's values on hundreds of rows).

    Examples
    --------
    >>> [k.split("\x1f") for k in point_key(pd.DataFrame({"a": ["x", "x", "y"], "b": [1.0, 1.0, float("nan")]}),
    ...                                       ["a", "b"])]
    [['x', '1.0'], ['x', '1.0'], ['y', 'nan']]
    """
    keys = list(keys)
    if not keys:
        return pd.Series("", index=frame.index)
    if frame.empty:
        return pd.Series([], index=frame.index, dtype=object)
    codes = frame.groupby(keys, dropna=False, sort=False).ngroup().to_numpy()
    firsts = frame[keys][~pd.Series(codes).duplicated().to_numpy()]
    parts = [firsts[k].astype(object).where(firsts[k].notna(), "nan").astype(str) for k in keys]
    names = parts[0]
    for part in parts[1:]:
        names = names + "\x1f" + part
    return pd.Series(names.to_numpy(dtype=object)[codes], index=frame.index)


def aggregate_seeds(frame: pd.DataFrame, measures, *, by, stats=("median", "min", "max")) -> pd.DataFrame:
    """Aggregate ``measures`` over the rows of each ``by`` group (the seeds).

    Returns one row per group: the ``by`` columns, ``n_seeds``, and for each
    measure ``m``: ``m`` (the first statistic, the median by default) and
    ``m_<stat>`` for the others. NaN grid values form their own groups.

    Examples
    --------
    >>> f = pd.DataFrame({"arch": ["a", "a", "b"], "depth": [float("nan")] * 3, "x": [1.0, 3.0, 5.0]})
    >>> aggregate_seeds(f, ["x"], by=["arch", "depth"]).to_dict("records")
    [{'arch': 'a', 'depth': nan, 'n_seeds': 2, 'x': 2.0, 'x_min': 1.0, 'x_max': 3.0}, {'arch': 'b', 'depth': nan, 'n_seeds': 1, 'x': 5.0, 'x_min': 5.0, 'x_max': 5.0}]
    """
    by = list(by)
    measures = [m for m in measures if m in frame]
    columns = by + ["n_seeds"] + [f"{m}{'' if i == 0 else '_' + s}" for m in measures for i, s in enumerate(stats)]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    key = point_key(frame, by)
    first = frame.groupby(key, sort=False)[by].first() if by else pd.DataFrame(index=[""])
    out = first.copy()
    out["n_seeds"] = frame.groupby(key, sort=False).size()
    for m in measures:
        values = pd.to_numeric(frame[m], errors="coerce").astype(float)
        grouped = values.groupby(key, sort=False)
        for i, s in enumerate(stats):
            out[f"{m}{'' if i == 0 else '_' + s}"] = grouped.agg(s)
    return out.reset_index(drop=True)[columns]


def nearest_gain(frame: pd.DataFrame, target: float = 1.0) -> float:
    """The gain in ``frame`` closest to ``target`` (the larger on a tie); NaN if there is none.

    Examples
    --------
    >>> nearest_gain(pd.DataFrame({"gain": [0.5, 0.9, 1.5]}))
    0.9
    """
    gains = pd.to_numeric(frame["gain"], errors="coerce").dropna().unique() if "gain" in frame else []
    if len(gains) == 0:
        return float("nan")
    gains = np.sort(gains)[::-1]
    return float(gains[np.argmin(np.abs(gains - target))])


def select_points(frame: pd.DataFrame, *, gain="nearest", seed="first", horizon="max") -> pd.DataFrame:
    """Pick representative grid points: one gain, one seed, one horizon.

    Parameters
    ----------
    frame : DataFrame
        Any frame with grid columns.
    gain : 'nearest', float or None
        ``'nearest'``: the gain closest to 1 (the edge between vanishing and
        exploding); a value: that gain; None: all gains.
    seed : 'first', int or None
        ``'first'``: the smallest seed; an int: that seed; None: all seeds.
    horizon : 'max', int or None
        As for :func:`select_horizon`.

    Examples
    --------
    >>> f = pd.DataFrame({"arch": "gru", "gain": [0.5, 1.0, 1.0], "seed": [0, 0, 1], "length": 10})
    >>> select_points(f).to_dict("records")
    [{'arch': 'gru', 'gain': 1.0, 'seed': 0, 'length': 10}]
    """
    out = frame
    if gain is not None and "gain" in out and not out.empty:
        g = nearest_gain(out) if gain == "nearest" else float(gain)
        out = out[np.isclose(pd.to_numeric(out["gain"], errors="coerce"), g)]
    if seed is not None and "seed" in out and not out.empty:
        s = out["seed"].min() if seed == "first" else seed
        out = out[out["seed"] == s]
    return select_horizon(out, horizon)
