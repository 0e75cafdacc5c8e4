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
StudyResult('vanishing', 1 point, 52 rows, out=None)
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
import json
import logging
import os
import platform
import socket
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from rnnprobe import __version__
from rnnprobe._validation import DTYPE_NAMES, check_choice, check_int, check_output_directory, nearest
from rnnprobe.errors import InvalidArgument
from rnnprobe.schema import META_FILE, POINTS_DIR, RESULTS_FILE, SUMMARY_FILE, TABLE_FILES
from rnnprobe.studies import GridError, StudyArgumentError

__all__ = ["run", "StudyResult", "RunInterrupted", "default_jobs", "DEVICES"]

log = logging.getLogger("rnnprobe.studies")

#: devices a study runs on
DEVICES = ("cpu", "cuda")
#: how long to try connecting to a Dask scheduler given by its address
SCHEDULER_TIMEOUT = "10s"


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
    """

    def __init__(self, study: str, results_csv: str, summary_csv: str, meta: dict, out: Path | None):
        self.study = study
        self.meta = meta
        self.out = out
        self._csv = {"results": results_csv, "summary": summary_csv}
        self._frames: dict = {}

    def _frame(self, name: str):
        if name not in self._frames:
            import pandas as pd

            self._frames[name] = pd.read_csv(io.StringIO(self._csv[name]), low_memory=False)
        return self._frames[name]

    @property
    def results(self):
        """``results.csv`` as a DataFrame (parsed on first use)."""
        return self._frame("results")

    @property
    def summary(self):
        """``summary.csv`` as a DataFrame (parsed on first use)."""
        return self._frame("summary")

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
                                 self.meta)
        return reports.write_report(data, path, png=png, tables=tables, dpi=dpi, title=title)


# --------------------------------------------------------------------------- argument checks
def _as_values(axis: str, values) -> list:
    """One value or a list of values of a grid axis, as a list."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        return [values]
    if isinstance(values, Mapping):
        raise StudyArgumentError(axis, f"{axis} must be a value or a list of values; got {values!r}")
    return list(values)


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


def _previous_run(out: Path, store, identity: dict, force: bool):
    """The run already in ``out`` (its saved identity) and the points it finished; refuse a different one."""
    from rnnprobe.studies import _runner

    points_dir = out / POINTS_DIR
    try:
        previous = _runner.read_identity(points_dir) if points_dir.is_dir() else None
        done = set(store.load())
    except (ValueError, OSError, _runner.RnnProbeError) as exc:
        raise StudyArgumentError("out", f"{str(points_dir)!r} is not a readable rnnprobe run ({exc}); "
                                        "choose another out directory") from None
    if previous is not None and not isinstance(previous, dict):
        raise StudyArgumentError("out", f"{str(points_dir)!r} holds an unreadable run identity; "
                                        "choose another out directory")
    if previous is not None and previous.get("identity") != identity and not force:
        diff = _runner.identity_differences(previous.get("identity") or {}, identity)
        raise StudyArgumentError("out", f"{str(out)!r} holds a run made with different settings (differs in: "
                                        f"{', '.join(diff)}); rerun with the same arguments to resume it, choose "
                                        "another out directory, or pass force=True to discard it")
    return previous, done


# --------------------------------------------------------------------------- run
def run(name: str, *, out=None, jobs: int | None = None, scheduler=None, force: bool = False, quick: bool = False,
        dtype: str = "float64", device: str = "cpu", progress: Callable[[int, int], None] | None = None,
        **grid) -> StudyResult:
    """Run study ``name`` over its grid and return its tables.

    Parameters
    ----------
    name : str
        A study (``rnnprobe.studies.available()``: vanishing, depth, memory, theory, attention).
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
        (``parameter``) and value; raised before anything is written.
    PointFailed
        A grid point raised (``key`` names it); the points finished before are
        saved in ``out``.
    RunInterrupted
        Ctrl-C (a ``KeyboardInterrupt``); the points finished before are saved in ``out``.
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
    points = study.points(resolved)
    if not points:
        raise StudyArgumentError(None, f"the grid of study {study.name!r} is empty: {json.dumps(resolved)}")
    device = _check_device(device)
    out = None if out is None else _check_out(out)
    identity = {"study": study.name, "grid": resolved, "dtype": dtype, "device": device, "rnnprobe": __version__}
    store = _runner.MemoryStore() if out is None else _runner.PointStore(out / POINTS_DIR)
    previous, done_before = (None, set()) if out is None else _previous_run(out, store, identity, force)
    client, own_client = (None, False) if scheduler is None else _connect(scheduler)

    # ---- arguments are valid: from here on we write
    n_jobs = jobs or default_jobs()
    started = time.perf_counter()
    created = _now()
    if out is not None:
        try:
            out.mkdir(parents=True, exist_ok=True)
            if previous is not None and previous.get("identity") != identity:
                log.warning("force: discarding the run in %s", out)
                store.clear()
                for f in TABLE_FILES:
                    (out / f).unlink(missing_ok=True)
                previous, done_before = None, set()
            created = previous.get("created", created) if previous else created
            _runner.write_identity(out / POINTS_DIR, {"identity": identity, "created": created})
        except OSError as exc:
            if own_client:
                client.close()
            raise StudyArgumentError("out", f"cannot write to out = {str(out)!r}: {exc.strerror or exc}") from None
        _runner.remove_temporary(out)

    by_id = {study.point_id(p): p for p in points}
    done_before &= set(by_id)
    order = sorted(by_id, key=lambda pid: -study.cost(by_id[pid]))   # long points first
    func = functools.partial(studies.run_point, study=study.name, dtype=dtype, device=device)
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
        raise RunInterrupted(len(set(store.load()) & set(by_id)), len(points), out) from None
    except _runner.PointFailed as exc:
        exc.saved, exc.total, exc.out = len(set(store.load()) & set(by_id)), len(points), out
        raise
    finally:
        if own_client:
            client.close()

    records = store.load()
    results_csv, n_rows = _runner.csv_text(study.result_columns(), study.result_rows(points, records))
    summary_csv, _ = _runner.csv_text(study.summary_columns(), study.summary_rows(points, records))
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
                    "points": {pid: records[pid]["summary"]["elapsed_s"] for pid in by_id},
                    "computed": len(report.computed), "resumed": len(report.resumed)},
        "n_points": len(points),
        "n_rows": n_rows,
        "columns": study.column_docs(),
        "schema": "docs/results.md",
    }
    if out is not None:
        _runner.atomic_write(out / RESULTS_FILE, results_csv)
        _runner.atomic_write(out / SUMMARY_FILE, summary_csv)
        _runner.atomic_write(out / META_FILE, json.dumps(meta, indent=1, allow_nan=True))
    return StudyResult(study.name, results_csv, summary_csv, meta, out)
