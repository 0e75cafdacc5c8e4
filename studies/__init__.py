"""Studies: rnnprobe's probes swept over a grid of architectures, lengths, depths, gains and seeds.

Run one from Python with :func:`run` (``rnnprobe study NAME`` is the same call
from the command line)::

    from rnnprobe import studies
    result = studies.run("vanishing", arch=["gru", "lstm"], length=[50], out=None)
    result.summary            # one row per grid point (pandas)
    result.results            # tidy: grid point x lag / layer / index x metric
    result.report("vanishing.pdf")

The tables' columns are :mod:`rnnprobe.schema`'s (documented in
``docs/results.md``). ``out=DIR`` writes them, with ``meta.json`` and the point
store, and makes the run resumable; the run engine (point store, atomic writes,
worker processes, Dask) is :mod:`rnnprobe.studies._runner`.

Adding a study
--------------
A study is one module in this package (``studies/<name>.py``; modules whose name
starts with ``_`` are helpers, not studies). Adding a study is adding one file
that defines:

* a module docstring whose **first line is the question the study answers**
  (``rnnprobe studies`` lists it);
* ``ARCHS``: the architecture names the study accepts;
* ``GRID``: the default grid, a dict ``axis -> list of values``, with axes among
  :data:`CORE_AXES` (``arch, hidden, length, depth, gain, seed``) and the study's
  own ``EXTRA_AXES``; no axis may be named like a keyword of :func:`run`;
* ``QUICK``: a small grid of the same axes for smoke tests (``quick=True``, seconds);
* ``EXTRA_AXES`` (optional): ``{name: Axis(...)}``, the study's own grid columns
  (a column the study sets itself from other axes, rather than sweeps, may be
  left out of ``GRID``); their meanings are declared in
  :data:`rnnprobe.schema.EXTRA_GRID_COLUMNS`;
* ``EXTRA_METRICS``, ``EXTRA_SUMMARY`` (optional): ``{name: doc}``, the study's own
  metric names (results.csv) and scalar columns (summary.csv, after the common
  ones), declared in :mod:`rnnprobe.schema` as well
  (the ``theory`` study's are :data:`rnnprobe.schema.CHECK_METRICS` and
  :data:`rnnprobe.schema.CHECK_SUMMARY_FIELDS`);
* ``EXTRA_ROW_COLUMNS`` (optional): ``{name: doc}``, row columns of results.csv beyond
  ``lag, layer, index, block`` (declared in :data:`rnnprobe.schema.EXTRA_ROW_COLUMNS`;
  the ``attention`` study's target and source positions), written between ``block``
  and ``value``;
* ``probe(point, *, dtype, device) -> (rows, summary)``: probes one grid point and
  returns measurements (statistics and verdicts belong to ``rnnprobe.analysis``).
  ``rows`` are tuples ``(metric, lag, layer, index, block, value)`` (None where a
  field does not apply; with ``EXTRA_ROW_COLUMNS``, their values come before ``value``:
  ``(metric, lag, layer, index, block, *extra, value)``) and ``summary`` a dict of the scalar columns of
  ``summary.csv`` (see :data:`rnnprobe.schema.SUMMARY_FIELDS`; missing ones are left empty);
* ``points(grid) -> list[dict]`` (optional): expand a grid into points when not
  every combination makes sense (default: the Cartesian product);
* ``cost(point) -> float`` (optional): relative cost, to start long points first;
* ``EXTRA_ROW_COLUMNS`` (optional): ``{name: doc}``, row columns of results.csv beyond
  ``lag, layer, index, block`` (declared in :data:`rnnprobe.schema.EXTRA_ROW_COLUMNS`;
  the ``training`` study's ``step``), written between ``block`` and ``value``: ``rows``
  are then tuples ``(metric, lag, layer, index, block, *extra, value)``;
* ``TABLES`` (optional): ``{table: {column: doc}}``, side tables that may hold text
  (the ``training`` study's ``samples``; declared in
  :data:`rnnprobe.schema.EXTRA_TABLES`), written to ``<table>.csv`` beside
  results.csv with the grid columns and ``point_id`` first; ``probe`` then returns
  ``(rows, summary, tables)`` with ``tables`` a dict ``table -> list of tuples``
  (one value per column) and :class:`StudyResult` has them as ``result.tables``;
* ``WORKDIR = True`` (optional): ``probe`` is called with ``workdir=``, a directory
  of its own for files it keeps while it runs (checkpoints): ``OUT/work/<point
  file name without .json>/`` (:data:`rnnprobe.schema.WORK_DIR`), the same one
  when a stopped run is started again, so that a long point resumes from what
  it left there, and kept after the point is done; a temporary directory,
  removed after the point, when ``out`` is None. A study's identity check (same
  settings, or ``force``) covers it: ``force`` deletes ``OUT/work``.
* ``DEVICES`` (optional): the devices the study runs on (default ``('cpu', 'cuda')``);
  another device is refused before anything runs.

Every new column, metric and summary field must be documented in
``docs/results.md`` (a test checks). This module is light: listing studies reads
their docstrings without importing them (nor torch).

Examples
--------
>>> from rnnprobe import studies
>>> sorted(studies.available())
['attention', 'depth', 'memory', 'theory', 'training', 'vanishing']
>>> study = studies.load("vanishing")
>>> grid = study.resolve({"arch": ["gru"], "length": [10], "gain": [0.5], "seed": [0]}, quick=True)
>>> [study.point_id(p) for p in study.points(grid)]
['vanishing:arch=gru,hidden=8,length=10,gain=0.5,seed=0,init=orthogonal']
"""

from __future__ import annotations

import ast
import contextlib
import difflib
import importlib
import itertools
import math
import numbers
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from rnnprobe._validation import nearest
from rnnprobe.errors import InvalidArgument
from rnnprobe.schema import (CORE_AXES, GRID_COLUMNS, METRICS, POINT_ID, RESULT_COLUMNS, RESULTS_FILE, ROW_COLUMNS,
                             SUMMARY_COLUMNS, SUMMARY_FIELDS, SUMMARY_FILE, point_file_name, table_file_name)

__all__ = [
    "run", "StudyResult", "StudyArgumentError", "GridError", "PointFailed", "RunInterrupted", "WriteFailed",
    "default_jobs", "DEVICES", "MAX_POINTS", "Axis", "Study", "available", "load", "run_point", "elapsed_of",
    "CORE_AXES", "GRID_COLUMNS", "ROW_COLUMNS", "RESULT_COLUMNS", "SUMMARY_COLUMNS", "METRICS",
    "format_value",
]


#: keyword arguments of :func:`run` (no grid axis may be named like one)
RUN_KEYWORDS = ("name", "out", "jobs", "scheduler", "force", "quick", "dtype", "device", "progress")


# --------------------------------------------------------------------------- axes
class RnnProbeStudyError(InvalidArgument):
    """A study module does not follow the study contract."""


class StudyArgumentError(InvalidArgument):
    """A bad argument of :func:`run`; ``parameter`` names it (the command line maps it to its option).

    ``parameter`` is a keyword of :func:`run` (a grid axis, ``out``, ``jobs``,
    ``dtype``, ...), or None for an error of the arguments together (an empty grid).
    """

    def __init__(self, parameter: str | None, message: str):
        super().__init__(message)
        self.parameter = parameter


class GridError(StudyArgumentError):
    """A grid axis has a bad value; ``axis`` (= ``parameter``) names it."""

    def __init__(self, axis: str, message: str):
        super().__init__(axis, message)
        self.axis = axis


@dataclass(frozen=True)
class Axis:
    """One grid axis: its type, its documentation and what it accepts.

    Attributes
    ----------
    type : type
        ``int``, ``float`` or ``str``.
    doc : str
        What the column means (goes into docs/results.md and meta.json).
    min_value : float, optional
        Smallest accepted value (numbers).
    choices : tuple of str, optional
        Accepted values (strings).
    allow_empty : bool
        Whether the axis may list no values (arch-specific axes may).
    """

    type: type
    doc: str
    min_value: float | None = None
    choices: tuple[str, ...] | None = None
    allow_empty: bool = False

    def check(self, name: str, values) -> list:
        """Return ``values`` converted to ``type``; raise :class:`GridError` for a bad one."""
        values = list(values)
        if not values and not self.allow_empty:
            raise GridError(name, f"{name} must list at least one value; got an empty list (the grid would be empty)")
        out = []
        for v in values:
            if self.type is str:
                if not isinstance(v, str):
                    raise GridError(name, f"{name} values must be strings; got {v!r}")
                if self.choices is not None and v not in self.choices:
                    hint = nearest(v, self.choices)
                    msg = f"{name} must be one of {', '.join(self.choices)}; got {v!r}"
                    raise GridError(name, msg + (f" (did you mean {hint!r}?)" if hint else ""))
            elif self.type is int:
                if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                    raise GridError(name, f"{name} values must be integers; got {v!r}")
                v = int(v)
            else:
                if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
                    raise GridError(name, f"{name} values must be finite real numbers; got {v!r}")
                v = float(v)
            if self.min_value is not None and v < self.min_value:
                raise GridError(name, f"{name} values must be >= {self.min_value:g}; got {v!r}")
            out.append(v)
        if len(set(out)) != len(out):
            dup = next(v for v in out if out.count(v) > 1)
            raise GridError(name, f"{name} lists {dup!r} twice; each value must appear once")
        return out


def _core_axes(archs) -> dict[str, Axis]:
    return {
        "arch": Axis(str, GRID_COLUMNS["arch"], choices=tuple(archs)),
        "hidden": Axis(int, GRID_COLUMNS["hidden"], min_value=1),
        "length": Axis(int, GRID_COLUMNS["length"], min_value=1),
        "depth": Axis(int, GRID_COLUMNS["depth"], min_value=1),
        "gain": Axis(float, GRID_COLUMNS["gain"], min_value=0.0),
        "seed": Axis(int, GRID_COLUMNS["seed"], min_value=0),
    }


def format_value(value) -> str:
    """A value as written to point ids and CSV cells: '' for None, repr for floats."""
    kind = type(value)          # fast paths first: tables have about a million cells
    if kind is float:
        return repr(value)
    if value is None:
        return ""
    if kind is str:
        return value
    if kind is int or kind is bool:
        return str(value)
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return repr(float(value))
    return str(value)


# --------------------------------------------------------------------------- discovery
def _package_dir() -> Path:
    return Path(__file__).resolve().parent


def _study_names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules([str(_package_dir())])
                  if not m.name.startswith("_") and not m.ispkg)


def available() -> dict[str, str]:
    """``{name: one-line question}`` of every study, read without importing them."""
    out = {}
    for name in _study_names():
        source = (_package_dir() / f"{name}.py").read_text(encoding="utf-8")
        doc = ast.get_docstring(ast.parse(source)) or ""
        out[name] = doc.strip().splitlines()[0] if doc.strip() else ""
    return out


def unknown_study_message(name: str) -> str:
    """The message for an unknown study name, with the nearest spelling."""
    names = _study_names()
    msg = f"unknown study {name!r}; available: {', '.join(names)}"
    hint = difflib.get_close_matches(str(name), names, n=1, cutoff=0.4)
    return msg + (f" (did you mean {hint[0]!r}?)" if hint else "")


def load(name: str) -> Study:
    """Load a study by name; :class:`~rnnprobe.errors.InvalidArgument` if there is none."""
    if name not in _study_names():
        raise InvalidArgument(unknown_study_message(name))
    return Study.from_module(name, importlib.import_module(f"{__name__}.{name}"))


# --------------------------------------------------------------------------- studies
@dataclass(frozen=True)
class Study:
    """One study: its grids, its axes and the function probing one grid point."""

    name: str
    module: ModuleType
    question: str
    axes: Mapping[str, Axis]
    grid: Mapping[str, list]
    quick: Mapping[str, list]
    extra_axes: Mapping[str, Axis] = field(default_factory=dict)
    extra_rows: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_module(cls, name: str, module: ModuleType) -> Study:
        doc = (module.__doc__ or "").strip()
        question = doc.splitlines()[0] if doc else ""
        extra = dict(getattr(module, "EXTRA_AXES", {}))
        core = _core_axes(module.ARCHS)
        for grid_name in ("GRID", "QUICK"):
            unknown = set(getattr(module, grid_name)) - set(core) - set(extra)
            if unknown or set(getattr(module, grid_name)) != set(module.GRID):
                raise RnnProbeStudyError(f"study {name!r}: {grid_name} axes {sorted(getattr(module, grid_name))} "
                                         f"must equal GRID's and be core or EXTRA_AXES")
        axes = {k: core[k] if k in core else extra[k] for k in module.GRID}
        clash = (set(axes) | set(extra)) & set(RUN_KEYWORDS)
        if clash:
            raise RnnProbeStudyError(f"study {name!r}: grid axes {sorted(clash)} are named like keywords of "
                                     "rnnprobe.studies.run; rename them")
        rows = dict(getattr(module, "EXTRA_ROW_COLUMNS", {}))
        taken = set(GRID_COLUMNS) | set(extra) | set(ROW_COLUMNS) | set(POINT_ID)
        if set(rows) & taken:
            raise RnnProbeStudyError(f"study {name!r}: EXTRA_ROW_COLUMNS {sorted(set(rows) & taken)} are named like "
                                     "grid or row columns; rename them")
        for table, columns in dict(getattr(module, "TABLES", {})).items():
            if table_file_name(table) in (RESULTS_FILE, SUMMARY_FILE) or not columns \
                    or set(columns) & (set(GRID_COLUMNS) | set(extra) | set(POINT_ID)):
                raise RnnProbeStudyError(f"study {name!r}: table {table!r} needs its own name and columns other "
                                         "than the grid columns")
        return cls(name, module, question, axes, dict(module.GRID), dict(module.QUICK), extra, rows)

    @property
    def archs(self) -> tuple[str, ...]:
        return tuple(self.module.ARCHS)

    @property
    def extra_columns(self) -> tuple[str, ...]:
        """The study's own grid columns, in order (after the core grid columns)."""
        return tuple(self.extra_axes)

    @property
    def grid_columns(self) -> tuple[str, ...]:
        return tuple(GRID_COLUMNS) + self.extra_columns

    @property
    def row_columns(self) -> tuple[str, ...]:
        """The per-row columns of results.csv: ``metric, lag, layer, index, block``, its extra row columns, ``value``."""
        names = tuple(ROW_COLUMNS)
        return names[:-1] + tuple(self.extra_rows) + names[-1:]

    @property
    def tables(self) -> dict[str, dict[str, str]]:
        """The study's side tables (its ``TABLES``): ``{table: {column: doc}}``."""
        return {name: dict(cols) for name, cols in getattr(self.module, "TABLES", {}).items()}

    @property
    def wants_workdir(self) -> bool:
        """Whether ``probe`` takes a per-point work directory (the study's ``WORKDIR``)."""
        return bool(getattr(self.module, "WORKDIR", False))

    @property
    def metrics(self) -> dict[str, str]:
        """Metric names this study may write (the common ones and its ``EXTRA_METRICS``)."""
        return {**METRICS, **getattr(self.module, "EXTRA_METRICS", {})}

    @property
    def summary_scalars(self) -> dict[str, str]:
        """Scalar columns of its summary.csv: the common ones, then its ``EXTRA_SUMMARY``.

        The seconds each point took are not among them (they differ between two
        runs): they are in meta.json (``timings.points``).
        """
        return {**SUMMARY_FIELDS, **getattr(self.module, "EXTRA_SUMMARY", {})}

    def result_columns(self) -> tuple[str, ...]:
        return self.grid_columns + ("point_id",) + self.row_columns

    def table_columns(self, table: str) -> tuple[str, ...]:
        """The columns of side table ``table``: the grid columns, ``point_id``, then its own."""
        return self.grid_columns + ("point_id",) + tuple(self.tables[table])

    def summary_columns(self) -> tuple[str, ...]:
        return self.grid_columns + ("point_id",) + tuple(self.summary_scalars)

    def column_docs(self) -> dict[str, dict[str, str]]:
        """Column meanings of both tables (for meta.json)."""
        extra = {k: a.doc for k, a in self.extra_axes.items()}
        rows = {**ROW_COLUMNS, **self.extra_rows}
        results = {**GRID_COLUMNS, **extra, **POINT_ID, **{c: rows[c] for c in self.row_columns}}
        summary = {**GRID_COLUMNS, **extra, **POINT_ID, **self.summary_scalars}
        docs = {"results.csv": results, "summary.csv": summary, "metrics": self.metrics}
        for table, columns in self.tables.items():
            docs[table_file_name(table)] = {**GRID_COLUMNS, **extra, **POINT_ID, **columns}
        return docs

    def resolve(self, overrides: Mapping[str, list] | None = None, *, quick: bool = False) -> dict[str, list]:
        """The grid to run: the default (or quick) grid with ``overrides`` replacing axes.

        Raises :class:`GridError` for an axis the study does not have or a bad value.
        """
        grid = dict(self.quick if quick else self.grid)
        for axis, values in (overrides or {}).items():
            if axis not in self.axes:
                raise GridError(axis, f"axis {axis!r} does not apply to study {self.name!r}; "
                                      f"its axes are {', '.join(self.axes)}")
            grid[axis] = list(values)
        return {axis: self.axes[axis].check(axis, grid[axis]) for axis in self.axes}

    def points(self, grid: Mapping[str, list]) -> list[dict]:
        """Every grid point, in a fixed order; each point has every grid column (None where n/a)."""
        expand = getattr(self.module, "points", None)
        if expand is None:
            keys = list(grid)
            raw = [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))]
        else:
            raw = list(expand(grid))
        columns = tuple(CORE_AXES) + self.extra_columns
        return [{c: p.get(c) for c in columns} for p in raw]

    def point_id(self, point: Mapping) -> str:
        """``'<study>:axis=value,...'`` over the point's non-empty grid columns (stable across runs)."""
        parts = [f"{c}={format_value(point[c])}" for c in CORE_AXES + self.extra_columns if point.get(c) is not None]
        return f"{self.name}:" + ",".join(parts)

    def _grid_cells(self, point: Mapping) -> list[str]:
        return [self.name] + [format_value(point[c]) for c in CORE_AXES + self.extra_columns]

    def result_rows(self, points, records: Mapping[str, Mapping]):
        """CSV lines of results.csv, in grid order then the study's row order (deterministic)."""
        from rnnprobe.studies._runner import csv_line

        for point in points:
            pid = self.point_id(point)
            head = csv_line(self._grid_cells(point) + [pid]) + ","
            for row in records[pid]["rows"]:
                cells = [format_value(v) for v in row]
                if any(c and (c[0] == " " or any(ch in c for ch in ',"\n\r')) for c in (cells[0], cells[4])):
                    yield head + csv_line(cells)      # a metric or block name that needs quoting
                else:
                    yield head + ",".join(cells)

    def table_rows(self, table: str, points, records: Mapping[str, Mapping]):
        """Cells of side table ``table``, in grid order then the study's row order."""
        for point in points:
            pid = self.point_id(point)
            head = self._grid_cells(point) + [pid]
            for row in (records[pid].get("tables") or {}).get(table, []):
                yield head + [format_value(v) for v in row]

    def summary_rows(self, points, records: Mapping[str, Mapping]):
        """Cells of summary.csv, one row per point in grid order."""
        for point in points:
            pid = self.point_id(point)
            summary = records[pid]["summary"]
            yield self._grid_cells(point) + [pid] + [format_value(summary.get(k)) for k in self.summary_scalars]

    def cost(self, point: Mapping) -> float:
        fn = getattr(self.module, "cost", None)
        return float(fn(point)) if fn is not None else 1.0

    def describe(self) -> str:
        """The module docstring (question first)."""
        return (self.module.__doc__ or "").strip()


def run_point(point: Mapping, *, study: str, dtype: str = "float64", device: str = "cpu", work=None) -> dict:
    """Probe one grid point of a study and return a JSON-ready record.

    The record holds ``point_id``, ``study``, ``dtype``, ``device``, ``point``,
    ``rows`` (lists ``[metric, lag, layer, index, block, value]``, the study's extra row
    columns before ``value``), ``summary`` (the scalars of summary.csv), ``elapsed_s``
    (wall seconds; it goes to meta.json, not to the tables) and, for a study with side
    tables, ``tables`` (``{table: [[cell, ...], ...]}``). This is the function the
    runner sends to worker processes or Dask workers; but for ``elapsed_s`` it is
    deterministic given the point, dtype and device. ``work`` is the run's work
    directory (``OUT/work``) for a study that declares ``WORKDIR``: the point gets its
    own directory in it (a temporary one when ``work`` is None).
    """
    import tempfile
    import time

    st = load(study)
    pid = st.point_id(point)
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        kwargs = {}
        if st.wants_workdir:
            if work is None:
                kwargs["workdir"] = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rnnprobe-work-")))
            else:
                kwargs["workdir"] = Path(work) / Path(point_file_name(pid)).stem
                kwargs["workdir"].mkdir(parents=True, exist_ok=True)
        out = st.module.probe(dict(point), dtype=dtype, device=device, **kwargs)
    elapsed = time.perf_counter() - start
    tables = st.tables
    if tables:
        if not isinstance(out, tuple) or len(out) != 3:
            raise RnnProbeStudyError(f"study {study!r} declares TABLES, so probe must return (rows, summary, tables)")
        rows, summary, point_tables = out
    else:
        rows, summary = out
        point_tables = {}
    scalars, metrics = st.summary_scalars, st.metrics
    unknown = set(summary) - set(scalars)
    if unknown:
        raise RnnProbeStudyError(f"study {study!r} returned summary keys outside the schema: {sorted(unknown)}")
    clean_rows = []
    width = len(st.row_columns)
    for row in rows:
        if len(row) != width:
            raise RnnProbeStudyError(f"study {study!r} returned a row of {len(row)} fields; its rows have {width}: "
                                     f"{', '.join(st.row_columns)}")
        metric, lag, layer, index, block, *extra, value = row
        if metric not in metrics:
            raise RnnProbeStudyError(f"study {study!r} returned metric {metric!r} outside the schema")
        clean_rows.append([metric, _plain(lag), _plain(layer), _plain(index), block, *map(_plain, extra),
                           float(value)])
    clean_summary = {k: _plain(summary.get(k)) for k in scalars if k in summary}
    record = {"point_id": pid, "study": study, "dtype": dtype, "device": device, "point": dict(point),
              "rows": clean_rows, "summary": clean_summary, "elapsed_s": elapsed}
    if tables:
        unknown = set(point_tables) - set(tables)
        if unknown:
            raise RnnProbeStudyError(f"study {study!r} returned tables outside its TABLES: {sorted(unknown)}")
        record["tables"] = {}
        for table, columns in tables.items():
            cells = []
            for row in point_tables.get(table, []):
                if len(row) != len(columns):
                    raise RnnProbeStudyError(f"study {study!r} returned a {table!r} row of {len(row)} values; "
                                             f"expected {len(columns)} ({', '.join(columns)})")
                cells.append([_plain(v) for v in row])
            record["tables"][table] = cells
    return record


def elapsed_of(record: Mapping) -> float | None:
    """The seconds a point record took: its ``elapsed_s`` (inside ``summary`` in point files of earlier versions)."""
    value = record.get("elapsed_s")
    return record.get("summary", {}).get("elapsed_s") if value is None else value


def _plain(value):
    """Python scalars only (torch/numpy scalars converted), for JSON."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return value


from rnnprobe.studies._run import (DEVICES, MAX_POINTS, RunInterrupted, StudyResult, WriteFailed,  # noqa: E402
                                   default_jobs, run)
from rnnprobe.studies._runner import PointFailed  # noqa: E402
