"""Run a study: :func:`run` sweeps its grid and returns a :class:`StudyResult`.

This is what ``rnnprobe study NAME`` does (the command line only parses its
options into one call of :func:`run`, then writes the report). With ``out=None``
nothing is written: the finished points are kept in memory. With ``out=DIR`` the
run is resumable and lossless: every finished point is written at once,
atomically, to ``DIR/points/``; a run that is stopped and started again with the
same arguments computes only what is missing, and its tables are byte-identical
to an uninterrupted run's; a run with other settings in the same directory is
refused unless ``force=True``.

Examples
--------
>>> from rnnprobe import studies
>>> result = studies.run("vanishing", quick=True, jobs=1, arch="gru", length=[5], gain=1.0)
>>> result
StudyResult('vanishing', 1 point, 57 rows, out=None)
>>> result.summary[["arch", "length", "gain", "pascanu", "bound_holds"]].to_dict("records")
[{'arch': 'gru', 'length': 5, 'gain': 1.0, 'pascanu': 'not applicable', 'bound_holds': True}]
>>> studies.run("vanishing", quick=True, lenght=[5])
Traceback (most recent call last):
...
rnnprobe.studies.GridError: axis 'lenght' does not apply to study 'vanishing'; its axes are arch, hidden, length, gain, seed, init (did you mean 'length'?)
"""

from __future__ import annotations

import datetime as _dt
import functools
import io
import itertools
import json
import logging
import math
import os
import platform
import shutil
import socket
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from rnnprobe import __version__
from rnnprobe._validation import DTYPE_NAMES, check_choice, check_int, check_output_directory, nearest
from rnnprobe.errors import InvalidArgument, RnnProbeError
from rnnprobe.schema import (EXTRA_TABLES, META_FILE, POINTS_DIR, RESULTS_FILE, SUMMARY_FILE, TABLE_FILES,
                             TABLE_TEXT_COLUMNS, WORK_DIR, table_file_name)
from rnnprobe.studies import GridError, StudyArgumentError

__all__ = ["run", "StudyResult", "RunInterrupted", "WriteFailed", "default_jobs", "DEVICES", "MAX_POINTS"]

log = logging.getLogger("rnnprobe.studies")

#: devices a study runs on
DEVICES = ("cpu", "cuda")
#: how long to try connecting to a Dask scheduler given by its address
SCHEDULER_TIMEOUT = "10s"
#: the most grid points one run may have (the default grids have 64 to 336)
MAX_POINTS = 1_000_000
#: bytes of memory a row of results.csv takes at least while a run builds its tables (measured: about 390,
#: the records read back and the CSV text, on a vanishing run)
ROW_BYTES = 300


class WriteFailed(RnnProbeError):
    """``out`` could not be written (a full disk, an I/O error): an environmental failure, not a bad argument.

    ``saved`` of ``total`` points are in ``out`` (a rerun resumes from them); ``path``
    is the file that could not be written; ``__cause__`` is the ``OSError``.
    """

    def __init__(self, message: str, *, saved: int, total: int, out: Path, path=None):
        super().__init__(message)
        self.saved, self.total, self.out, self.path = saved, total, out, path


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C: ``saved`` of ``total`` points are kept (in ``out``, or nowhere when it is None)."""

    def __init__(self, saved: int, total: int, out: Path | None):
        super().__init__(f"interrupted: {saved} of {total} points are saved"
                         + (f" in {out}" if out is not None else " (in memory only: out=None)"))
        self.saved, self.total, self.out = saved, total, out


def default_jobs() -> int:
    """The CPUs this process may run on (``os.sched_getaffinity``, else ``os.cpu_count()``)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _versions() -> dict:
    from importlib import metadata

    out = {"python": platform.python_version(), "rnnprobe": __version__}
    for dist in ("torch", "numpy", "scipy", "pandas", "click", "dask", "distributed"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


# --------------------------------------------------------------------------- the result
class StudyResult:
    """What :func:`run` returns: the study's tables as pandas frames, its metadata and its directory.

    Attributes
    ----------
    study : str
        The study's name.
    results : pandas.DataFrame
        ``results.csv``: one row per grid point × lag / layer / index × metric
        (:mod:`rnnprobe.schema`, documented in ``docs/results.md``), exactly as
        ``pandas.read_csv`` reads the file.
    summary : pandas.DataFrame
        ``summary.csv``: one row per grid point.
    meta : dict
        ``meta.json``: configuration, grid, seeds, versions, host, timings, column meanings.
    out : pathlib.Path or None
        The run directory, or None when nothing was written.
    tables : dict of str -> pandas.DataFrame
        The study's side tables (e.g. the ``training`` study's ``samples``), each
        as ``pandas.read_csv`` reads its ``<table>.csv``; empty for most studies.
    """

    def __init__(self, study: str, results_csv: str, summary_csv: str, meta: dict, out: Path | None,
                 tables_csv: Mapping[str, str] | None = None):
        self.study = study
        self.meta = meta
        self.out = out
        self._csv = {"results": results_csv, "summary": summary_csv}
        self._table_names = tuple(tables_csv or {})
        self._csv.update({f"table:{name}": text for name, text in (tables_csv or {}).items()})
        self._frames: dict = {}

    def _frame(self, name: str):
        if name not in self._frames:
            import pandas as pd

            text = self._csv[name]
            kwargs = {}
            if name.startswith("table:"):       # text columns verbatim: '', 'NA' and 'nan' are text there
                verbatim = TABLE_TEXT_COLUMNS.get(name.removeprefix("table:"), ())
                header = pd.read_csv(io.StringIO(text), nrows=0).columns
                kwargs = {"keep_default_na": False, "na_values": {c: [""] for c in header if c not in verbatim}}
            self._frames[name] = pd.read_csv(io.StringIO(text), low_memory=False, **kwargs)
        return self._frames[name]

    @property
    def results(self):
        """``results.csv`` as a DataFrame (parsed on first use)."""
        return self._frame("results")

    @property
    def summary(self):
        """``summary.csv`` as a DataFrame (parsed on first use)."""
        return self._frame("summary")

    @property
    def tables(self) -> dict:
        """The study's side tables, ``{name: DataFrame}`` (parsed on first use; empty for most studies)."""
        return {name: self._frame(f"table:{name}") for name in self._table_names}

    def __repr__(self) -> str:
        n = self.meta.get("n_points", 0)
        return (f"StudyResult({self.study!r}, {n} point{'' if n == 1 else 's'}, {self.meta.get('n_rows', 0)} rows, "
                f"out={None if self.out is None else str(self.out)!r})")

    def report(self, path=None, *, png: bool = True, tables: bool = True, dpi: int = 150,
               title: str | None = None) -> Path:
        """Write the study's PDF report (and its figures and tables beside it); return the PDF's path.

        Parameters
        ----------
        path : str or Path, optional
            The PDF, or a directory for ``DIR/report.pdf`` (default: ``out/report.pdf``;
            required for a result held in memory).
        png, tables, dpi, title
            As for :func:`rnnprobe.reports.write_report`.
        """
        from rnnprobe import reports

        if path is None and self.out is None:
            raise InvalidArgument("path must be given for the report of a run held in memory (out=None); got None")
        data = reports.StudyData(self.out if self.out is not None else Path(path), self.results, self.summary,
                                 self.meta, tables=self.tables)
        return reports.write_report(data, path, png=png, tables=tables, dpi=dpi, title=title)


# --------------------------------------------------------------------------- argument checks
def _as_values(axis: str, values) -> list:
    """One value or a list of values of a grid axis, as a list (of at most :data:`MAX_POINTS` values)."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        return [values]
    if isinstance(values, Mapping):
        raise StudyArgumentError(axis, f"{axis} must be a value or a list of values; got {values!r}")
    sized = hasattr(values, "__len__")
    if not sized:                   # an iterator: look at no more than needed
        values = list(itertools.islice(values, MAX_POINTS + 1))
    n = len(values)
    if n > MAX_POINTS:
        count = f"{n:,} values" if sized else f"more than {MAX_POINTS:,} values"
        shown = f"; got {values!r}" if isinstance(values, range) else ""
        raise GridError(axis, f"{axis} lists {count}, more than the {MAX_POINTS:,} grid points a run may have "
                              f"(its tables alone would take at least {_bytes(n * ROW_BYTES)} of memory){shown}")
    return list(values)


def _bytes(n: float) -> str:
    """A byte count for a message: '1.2 GB'."""
    for unit, size in (("EB", 1e18), ("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} bytes"


def _physical_memory() -> float:
    """Bytes of physical memory of this machine (inf where the platform does not say)."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return math.inf


def _check_size(grid: Mapping[str, list]) -> None:
    """Refuse a grid of more than :data:`MAX_POINTS` combinations, naming its longest axis."""
    n = math.prod(len(v) for v in grid.values() if v)
    if n > MAX_POINTS:
        axis = max(grid, key=lambda a: len(grid[a]))
        sizes = " × ".join(f"{len(v)} {a}" for a, v in grid.items() if len(v) > 1)
        raise GridError(axis, f"the grid has {n:,} points ({sizes}), more than the {MAX_POINTS:,} a run may have "
                              f"(its tables alone would take at least {_bytes(n * ROW_BYTES)} of memory); "
                              f"use fewer values of {axis}")


def point_memory(point: Mapping, dtype: str) -> tuple[float, str]:
    """A lower bound on the memory one grid point needs, and the axis that makes it large.

    Every study builds a model with an n × n matrix per layer (n = ``hidden``, L =
    ``depth`` layers) and runs it over T = ``length`` steps, keeping the T + 1
    states: at least itemsize × (L n² + (T + 1) n) bytes.
    """
    itemsize = 4 if dtype == "float32" else 8
    n, T, L = (int(point.get(k) or 0) for k in ("hidden", "length", "depth"))
    weights, states = itemsize * n * n * max(L, 1), itemsize * n * (T + 1)
    axis = ("depth" if L > n else "hidden") if weights >= states else "length"
    return float(weights + states), axis


def _check_memory(points, dtype: str) -> None:
    """Refuse a grid point that cannot fit in this machine's memory, with the estimate."""
    if not points:
        return
    available = _physical_memory()
    point = max(points, key=lambda p: point_memory(p, dtype)[0])
    need, axis = point_memory(point, dtype)
    if need > available:
        n, T, L = (int(point.get(k) or 0) for k in ("hidden", "length", "depth"))
        what = (f"its {n} × {n} weights" + (f" in {L} layers" if L > 1 else "") + f" and {T + 1} states"
                if T else f"its {n} × {n} weights" + (f" in {L} layers" if L > 1 else ""))
        raise GridError(axis, f"{axis} = {point.get(axis)!r}: one grid point needs at least {_bytes(need)} of memory "
                              f"({what}, {dtype}), more than this machine's {_bytes(available)}")


def _check_flag(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise StudyArgumentError(name, f"{name} must be True or False; got {value!r}")
    return value


def _check_out(out) -> Path:
    """``out`` as a Path; it must be, or be creatable as, a writable directory."""
    try:
        return check_output_directory("out", out, subdirs=(POINTS_DIR,))
    except InvalidArgument as exc:
        raise StudyArgumentError("out", str(exc)) from exc


def _check_device(device: str) -> str:
    if not isinstance(device, str):
        raise StudyArgumentError("device", f"device must be one of {', '.join(map(repr, DEVICES))}; got {device!r}")
    try:
        check_choice("device", device, DEVICES)
    except InvalidArgument as exc:
        raise StudyArgumentError("device", str(exc)) from None
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise StudyArgumentError("device", "device 'cuda' was requested but torch.cuda.is_available() is False "
                                               "(no CUDA device or a CPU build of torch); use device='cpu'")
    return device


def _check_dtype(dtype) -> str:
    name = dtype if isinstance(dtype, str) else str(dtype).removeprefix("torch.")
    if name not in DTYPE_NAMES:
        raise StudyArgumentError("dtype", f"dtype must be one of {', '.join(map(repr, DTYPE_NAMES))} "
                                          f"(or torch.float32, torch.float64); got {dtype!r}")
    return name


def _connect(scheduler):
    """A Dask client for ``scheduler`` (an address or a client) and whether this run owns it."""
    if not isinstance(scheduler, str):
        if hasattr(scheduler, "submit") and hasattr(scheduler, "cancel"):
            return scheduler, False
        raise StudyArgumentError("scheduler", f"scheduler must be a Dask scheduler address or a "
                                              f"distributed.Client; got {scheduler!r}")
    try:
        from distributed import Client
    except ImportError:
        raise StudyArgumentError("scheduler", f"scheduler {scheduler!r} needs Dask: pip install 'rnnprobe[dask]'") \
            from None
    try:
        return Client(scheduler, timeout=SCHEDULER_TIMEOUT, set_as_default=False), True
    except Exception as exc:  # noqa: BLE001 - any connection failure is a bad address
        raise StudyArgumentError("scheduler", f"cannot connect to the Dask scheduler at {scheduler!r}: "
                                              f"{type(exc).__name__}: {exc}") from None


def _record_check(study, dtype: str, device: str):
    """``check(key, record)`` for the point store: what is wrong with a point record read back (None: nothing)."""

    def check(key, record):
        if not isinstance(record, dict):
            return f"the record is not an object: {type(record).__name__}"
        rows, summary = record.get("rows"), record.get("summary")
        if not isinstance(rows, list):
            return "it has no list 'rows'"
        if not isinstance(summary, dict):
            return "it has no object 'summary'"
        width = len(study.row_columns)
        for i, row in enumerate(rows):
            if not (isinstance(row, list) and len(row) == width and isinstance(row[0], str)
                    and isinstance(row[-1], (int, float)) and not isinstance(row[-1], bool)):
                return f"row {i} is not [{', '.join(study.row_columns)}]: {str(row)[:80]}"
        if record.get("point_id", key) != key:
            return f"its point_id is {record.get('point_id')!r}"
        for name, want in (("study", study.name), ("dtype", dtype), ("device", device)):
            if name in record and record[name] != want:
                return f"it was computed with {name} {record[name]!r}, this run uses {want!r}"
        return None

    return check


def _previous_run(out: Path, store, identity: dict, force: bool):
    """The run already in ``out``: its identity, the points it finished and its damaged files.

    Reads only. Refuses a directory that is not an rnnprobe run, and a run made
    with other settings unless ``force``. A damaged identity counts as none (the
    point records carry their study, dtype and device, which are checked).
    """
    from rnnprobe.studies import _runner

    points_dir = out / POINTS_DIR
    damaged = []
    try:
        try:
            previous = _runner.read_identity(points_dir) if points_dir.is_dir() else None
        except _runner.DamagedFile as exc:
            previous, damaged = None, [_runner.SetAside(exc.path, exc.reason)]
        done, damaged_points = store.scan()
    except OSError as exc:
        raise StudyArgumentError("out", f"{str(points_dir)!r} is not a readable rnnprobe run "
                                        f"({exc.strerror or exc}); choose another out directory") from None
    damaged += damaged_points
    if damaged_points and not done and not (points_dir / _runner.IDENTITY_FILE).exists():
        files = "; ".join(f"{d.file.name} {d.reason}" for d in damaged_points[:3])
        raise StudyArgumentError("out", f"{str(points_dir)!r} is not a readable rnnprobe run (no {_runner.IDENTITY_FILE} "
                                        f"and no point file of a run: {files}); choose another out directory")
    if previous is not None and previous["identity"] != identity and not force:
        diff = _runner.identity_differences(previous["identity"], identity)
        raise StudyArgumentError("out", f"{str(out)!r} holds a run made with different settings (differs in: "
                                        f"{', '.join(diff)}); rerun with the same arguments to resume it, choose "
                                        "another out directory, or pass force=True to discard it")
    return previous, set(done), damaged


# --------------------------------------------------------------------------- run
def run(name: str, *, out=None, jobs: int | None = None, scheduler=None, force: bool = False, quick: bool = False,
        dtype: str = "float64", device: str = "cpu", progress: Callable[[int, int], None] | None = None,
        **grid) -> StudyResult:
    """Run study ``name`` over its grid and return its tables.

    Parameters
    ----------
    name : str
        A study (``rnnprobe.studies.available()``: vanishing, depth, memory, theory, training, attention).
    out : str or Path, optional
        The run directory: results.csv, summary.csv, meta.json and the point store
        ``points/`` are written there, and a run stopped before the end resumes
        from it. None (the default) writes nothing.
    jobs : int, optional
        Worker processes (default: the CPUs available, :func:`default_jobs`; 1
        runs in this process). Worker processes are spawned: a script that calls
        :func:`run` with ``jobs > 1`` needs the ``if __name__ == "__main__":`` guard.
    scheduler : str or distributed.Client, optional
        Run the grid on this Dask cluster instead (an address such as
        ``'tcp://host:8786'``, or a client); needs ``rnnprobe[dask]``.
    force : bool
        Discard a run in ``out`` made with other settings (else it is refused).
    quick : bool
        Start from the study's small grid (seconds) instead of its default grid.
    dtype : {'float64', 'float32'}
        Precision of the probes.
    device : {'cpu', 'cuda'}
        Where the models run.
    progress : callable, optional
        ``progress(done, total)``: called once when the points already in
        ``out`` are known, then after every finished point.
    **grid
        Grid axes replacing the default (or quick) grid's, e.g.
        ``arch=["gru", "lstm"], length=[10, 50], seed=[0, 1, 2]``; a single value
        stands for a list of one. The axes are the study's (``rnnprobe.studies.load(name).axes``).

    Returns
    -------
    StudyResult
        ``results`` and ``summary`` (pandas DataFrames in the schema of
        ``docs/results.md``), ``meta`` (dict), ``out`` (the directory or None)
        and ``report(path)``.

    Raises
    ------
    StudyArgumentError
        An :class:`~rnnprobe.errors.InvalidArgument` naming the bad parameter
        (``parameter``) and value; raised before anything is written. Also for
        a grid of more than :data:`MAX_POINTS` points or one whose points cannot
        fit in memory (with the estimate), an ``out`` that holds another run,
        or one another run is writing to (``out`` is locked while a run writes).
    PointFailed
        A grid point raised (``key`` names it); the points finished before, and
        those that finish while the run stops, are saved in ``out``.
    RunInterrupted
        Ctrl-C (a ``KeyboardInterrupt``); the points finished before, and those
        that finish while the run stops, are saved in ``out``.
    WriteFailed
        ``out`` could not be written (a full disk); ``saved`` of ``total``
        points are there, and no file is left half-written.

    Notes
    -----
    A point file in ``out`` that cannot be read back is named in a warning
    (logger ``rnnprobe.studies``), moved to ``out/points/_set_aside/`` and
    computed again; ``meta["set_aside"]`` lists it.
    """
    from rnnprobe import studies
    from rnnprobe.studies import _runner

    # ---- every argument is checked before anything is written
    if not isinstance(name, str) or name not in studies.available():
        raise StudyArgumentError("name", studies.unknown_study_message(name))
    study = studies.load(name)
    quick, force = _check_flag("quick", quick), _check_flag("force", force)
    dtype = _check_dtype(dtype)
    if jobs is not None:
        try:
            jobs = check_int("jobs", jobs, min_value=1)
        except InvalidArgument as exc:
            raise StudyArgumentError("jobs", str(exc)) from None
    if progress is not None and not callable(progress):
        raise StudyArgumentError("progress", f"progress must be a callable progress(done, total) or None; "
                                             f"got {progress!r}")
    overrides = {}
    for axis, values in grid.items():
        if axis not in study.axes:
            hint = nearest(axis, study.axes)
            raise GridError(axis, f"axis {axis!r} does not apply to study {study.name!r}; its axes are "
                                          f"{', '.join(study.axes)}" + (f" (did you mean {hint!r}?)" if hint else ""))
        overrides[axis] = _as_values(axis, values)
    resolved = study.resolve(overrides, quick=quick)
    _check_size(resolved)
    points = study.points(resolved)
    if not points:
        raise StudyArgumentError(None, f"the grid of study {study.name!r} is empty: {json.dumps(resolved)}")
    allowed = tuple(getattr(study.module, "DEVICES", DEVICES))     # a study may run on fewer devices
    if isinstance(device, str) and device in DEVICES and device not in allowed:
        raise StudyArgumentError("device", f"device must be {' or '.join(map(repr, allowed))} for study "
                                           f"{study.name!r}; got {device!r}")
    device = _check_device(device)
    if scheduler is None:           # a Dask cluster's workers have memory of their own
        _check_memory(points, dtype)
    out = None if out is None else _check_out(out)
    identity = {"study": study.name, "grid": resolved, "dtype": dtype, "device": device, "rnnprobe": __version__}
    store = (_runner.MemoryStore() if out is None
             else _runner.PointStore(out / POINTS_DIR, check=_record_check(study, dtype, device)))
    client, own_client = (None, False) if scheduler is None else _connect(scheduler)
    lock = None
    try:
        if out is not None:
            # the lock first (it writes nothing; a new directory is made for it), then the run in out is read
            try:
                out.mkdir(parents=True, exist_ok=True)
                lock = _runner.lock_directory(out).__enter__()
            except _runner.DirectoryBusy:
                raise StudyArgumentError("out", f"out = {str(out)!r} is in use: another rnnprobe run is writing to it "
                                                "(it holds the directory's lock); wait for it to finish, or choose "
                                                "another out directory") from None
            except OSError as exc:      # _check_out found it writable: the machine failed (a full disk)
                raise WriteFailed(f"cannot write to out = {str(out)!r}: {exc.strerror or exc}", saved=0,
                                  total=len(points), out=out, path=exc.filename) from exc
        return _run_locked(study, points, resolved, overrides, identity, store, out, client, scheduler,
                           jobs=jobs, quick=quick, force=force, dtype=dtype, device=device, progress=progress)
    finally:
        if lock is not None:
            lock.__exit__(None, None, None)
        if own_client:
            client.close()


def _saved(store, ids) -> int:
    """How many of the points ``ids`` are saved (0 when the store cannot be read)."""
    try:
        return len(set(store.scan()[0]) & set(ids))
    except OSError:
        return 0


def _run_locked(study, points, resolved, overrides, identity, store, out, client, scheduler, *, jobs, quick, force,
                dtype, device, progress) -> StudyResult:
    """The part of :func:`run` after every argument is checked, holding the lock on ``out``."""
    from rnnprobe import studies
    from rnnprobe.studies import _runner

    previous, done_before, damaged = (None, set(), []) if out is None else _previous_run(out, store, identity, force)
    by_id = {study.point_id(p): p for p in points}

    def write_failed(exc: OSError, when: str):
        saved = _saved(store, by_id)
        return WriteFailed(f"cannot write to out = {str(out)!r} {when}: {exc.strerror or exc}; {saved} of "
                           f"{len(points)} points are saved there, and a rerun with the same arguments resumes from them",
                           saved=saved, total=len(points), out=out, path=exc.filename)

    # ---- arguments are valid: from here on we write
    n_jobs = jobs or default_jobs()
    started = time.perf_counter()
    created = _now()
    set_aside = []
    if out is not None:
        try:
            set_aside = [_runner.SetAside(d.file, d.reason, _runner.set_aside(d.file, d.reason)) for d in damaged]
            if previous is not None and previous["identity"] != identity:
                log.warning("force: discarding the run in %s", out)
                store.clear()
                for f in TABLE_FILES + tuple(table_file_name(t) for t in EXTRA_TABLES):
                    (out / f).unlink(missing_ok=True)
                shutil.rmtree(out / WORK_DIR, ignore_errors=True)
                previous, done_before = None, set()
            created = previous.get("created", created) if previous else created
            _runner.write_identity(out / POINTS_DIR, {"identity": identity, "created": created})
            _runner.remove_temporary(out)       # ours: the lock keeps other runs out
        except OSError as exc:
            raise write_failed(exc, "while starting the run") from exc

    done_before &= set(by_id)
    order = sorted(by_id, key=lambda pid: -study.cost(by_id[pid]))   # long points first
    work = None if out is None or not study.wants_workdir else out / WORK_DIR
    func = functools.partial(studies.run_point, study=study.name, dtype=dtype, device=device, work=work)
    tasks = [(pid, by_id[pid]) for pid in order]
    log.info("%s: %d points (%d already done), %s", study.name, len(points), len(done_before),
             f"Dask scheduler {scheduler}" if client else f"{n_jobs} job(s)")
    counter = [len(done_before)]

    def on_done(key, record):
        counter[0] += 1
        progress(counter[0], len(points))

    if progress is not None:
        progress(counter[0], len(points))
    try:
        report = _runner.run_points(func, tasks, store, jobs=n_jobs, client=client,
                                    on_done=None if progress is None else on_done)
    except KeyboardInterrupt:
        raise RunInterrupted(_saved(store, by_id), len(points), out) from None
    except _runner.PointFailed as exc:
        exc.saved, exc.total, exc.out = _saved(store, by_id), len(points), out
        raise
    except OSError as exc:
        raise write_failed(exc, "while saving a point") from exc
    set_aside += report.set_aside

    records = store.load()
    results_csv, n_rows = _runner.csv_text(study.result_columns(), study.result_rows(points, records))
    summary_csv, _ = _runner.csv_text(study.summary_columns(), study.summary_rows(points, records))
    tables_csv = {table: _runner.csv_text(study.table_columns(table), study.table_rows(table, points, records))[0]
                  for table in study.tables}
    meta = {
        "study": study.name,
        "question": study.question,
        "created": created,
        "finished": _now(),
        "grid": resolved,
        "config": {"name": study.name, "out": None if out is None else str(out), "overrides": overrides,
                   "jobs": n_jobs, "quick": quick, "device": device, "dtype": dtype,
                   "scheduler": scheduler if isinstance(scheduler, str) or scheduler is None else repr(scheduler),
                   "force": force, "input_variance": getattr(study.module, "INPUT_VARIANCE", None)},
        "seeds": resolved.get("seed", []),
        "versions": _versions(),
        "host": {"hostname": socket.gethostname(), "platform": platform.platform(), "cpu_count": os.cpu_count()},
        "timings": {"total_s": time.perf_counter() - started,
                    "points": {pid: studies.elapsed_of(records[pid]) for pid in by_id},
                    "computed": len(report.computed), "resumed": len(report.resumed)},
        "set_aside": [d.as_dict() for d in set_aside],
        "n_points": len(points),
        "n_rows": n_rows,
        "tables": {table: table_file_name(table) for table in study.tables},
        "columns": study.column_docs(),
        "schema": "docs/results.md",
    }
    if out is not None:
        try:       # all tables or none
            files = {out / RESULTS_FILE: results_csv, out / SUMMARY_FILE: summary_csv}
            files.update({out / table_file_name(table): text for table, text in tables_csv.items()})
            files[out / META_FILE] = json.dumps(meta, indent=1, allow_nan=True)
            _runner.atomic_write_all(files)
        except OSError as exc:
            raise write_failed(exc, "while writing the tables (none was written)") from exc
    return StudyResult(study.name, results_csv, summary_csv, meta, out, tables_csv)
