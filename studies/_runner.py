"""The run engine: a grid of independent points, in this process, in worker processes or on a Dask cluster.

Resumable and lossless: every finished point is written at once, atomically
(a temporary file in the same directory, then ``os.replace``), as one JSON file
in a :class:`PointStore`; a rerun computes only the points that have no file.
A run directory remembers what it was started with (``_run.json``), so that a
rerun with different settings is refused rather than mixed in.

The function run on every point must be importable (picklable by reference) and
return a JSON-ready dict; it runs with one torch thread (the workers' and, for
``jobs=1``, this process's, restored afterwards), so that the numbers do not
depend on how many jobs ran them.

Examples
--------
>>> import tempfile
>>> from rnnprobe.studies._runner import MemoryStore, PointStore, run_points
>>> store = PointStore(tempfile.mkdtemp())
>>> report = run_points(dict, [("a", {"x": 1}), ("b", {"x": 2})], store)
>>> sorted(report.computed), store.load()["b"]
(['a', 'b'], {'x': 2})
>>> run_points(dict, [("a", {"x": 1}), ("b", {"x": 2})], store).computed
[]
>>> run_points(dict, [("a", {"x": 1})], MemoryStore()).computed      # nothing written to disk
['a']
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import csv
import io
import json
import multiprocessing
import os
import re
import signal
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rnnprobe.errors import RnnProbeError
from rnnprobe.schema import point_file_name

__all__ = [
    "PointStore", "MemoryStore", "RunReport", "PointFailed", "run_points", "atomic_write", "write_csv", "csv_text",
    "csv_line", "remove_temporary", "read_identity", "identity_differences", "write_identity", "single_thread",
]

IDENTITY_FILE = "_run.json"
_UMASK = os.umask(0o022)
os.umask(_UMASK)
_TMP_PATTERN = re.compile(r"^\..+\.tmp$")


# --------------------------------------------------------------------------- files
def atomic_write(path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` atomically: readers see the old file or the whole new one."""
    path = Path(path)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)      # mkstemp makes 0600 files; give the usual permissions
        with os.fdopen(fd, mode, **({} if mode == "wb" else {"encoding": "utf-8", "newline": ""})) as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def remove_temporary(directory) -> int:
    """Delete the temporary files :func:`atomic_write` left in ``directory`` when killed; return how many."""
    directory = Path(directory)
    n = 0
    if directory.is_dir():
        for p in directory.iterdir():
            if p.is_file() and _TMP_PATTERN.match(p.name):
                p.unlink(missing_ok=True)
                n += 1
    return n


def csv_line(cells: Sequence[str]) -> str:
    """One CSV record (quoted where needed), without the line terminator."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow(cells)   # so that embedded \r and \n get quoted
    return buf.getvalue()[:-2]


def csv_text(columns: Sequence[str], rows: Iterable[Sequence[str] | str]) -> tuple[str, int]:
    """A CSV table as text (``\\n`` line ends) and its row count.

    Each row is a sequence of cells already formatted as strings, or a line already
    encoded by :func:`csv_line` (faster for long tables).
    """
    parts = [csv_line(columns)]
    for row in rows:
        parts.append(row if isinstance(row, str) else csv_line(row))
    return "\n".join(parts) + "\n", len(parts) - 1


def write_csv(path, columns: Sequence[str], rows: Iterable[Sequence[str] | str]) -> int:
    """Write a CSV table (see :func:`csv_text`) atomically; return the row count."""
    text, n = csv_text(columns, rows)
    atomic_write(path, text)
    return n


_file_name = point_file_name


class PointStore:
    """One JSON file per finished point, in ``directory``.

    Parameters
    ----------
    directory : path
        Created on the first :meth:`save`.
    """

    def __init__(self, directory):
        self.directory = Path(directory)

    def path(self, key: str) -> Path:
        """The file of point ``key``."""
        return self.directory / _file_name(key)

    def save(self, key: str, record: Mapping) -> None:
        """Write one finished point atomically."""
        self.directory.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path(key), json.dumps({"key": key, "record": record}, allow_nan=True))

    def _point_files(self):
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.iterdir()
                      if p.suffix == ".json" and not p.name.startswith((".", "_")))

    def load(self) -> dict:
        """``{key: record}`` of every finished point."""
        out = {}
        for p in self._point_files():
            data = json.loads(p.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or "key" not in data or p.name != _file_name(data["key"]):
                raise RnnProbeError(f"{p} is not a point file of this run directory (remove it, or use another directory)")
            out[data["key"]] = data["record"]
        return out

    def remove_temporary(self) -> int:
        """Delete temporary files left by an interrupted write; return how many."""
        return remove_temporary(self.directory)

    def clear(self) -> None:
        """Delete every point file, temporary file and the run identity."""
        for p in self._point_files():
            p.unlink(missing_ok=True)
        self.remove_temporary()
        (self.directory / IDENTITY_FILE).unlink(missing_ok=True)


class MemoryStore:
    """A :class:`PointStore` that keeps the finished points in memory (a run that writes nothing).

    Records go through JSON as in a :class:`PointStore`, so that both give the same values.
    """

    def __init__(self):
        self._points: dict[str, str] = {}

    def save(self, key: str, record: Mapping) -> None:
        """Keep one finished point."""
        self._points[key] = json.dumps(record, allow_nan=True)

    def load(self) -> dict:
        """``{key: record}`` of every finished point."""
        return {k: json.loads(v) for k, v in self._points.items()}

    def remove_temporary(self) -> int:
        """Nothing to remove: 0."""
        return 0

    def clear(self) -> None:
        """Forget every point."""
        self._points.clear()


# --------------------------------------------------------------------------- identity
def read_identity(directory) -> dict | None:
    """The identity a run directory was started with, or None."""
    path = Path(directory) / IDENTITY_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def identity_differences(old: Mapping, new: Mapping, prefix: str = "") -> list[str]:
    """Dotted names of the entries that differ between two identities."""
    out = []
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key), new.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out += identity_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}")
    return out


def write_identity(directory, identity: Mapping) -> None:
    """Record what a run directory is for (atomically)."""
    Path(directory).mkdir(parents=True, exist_ok=True)
    atomic_write(Path(directory) / IDENTITY_FILE, json.dumps(identity, indent=1, sort_keys=True))


# --------------------------------------------------------------------------- running
class PointFailed(RnnProbeError):
    """A point raised; ``key`` names it, ``__cause__`` is the original error."""

    def __init__(self, key: str, error: BaseException):
        super().__init__(f"point {key!r} failed: {type(error).__name__}: {error}")
        self.key = key
        self.error = error


@dataclass
class RunReport:
    """What a :func:`run_points` call did."""

    computed: list = field(default_factory=list)
    resumed: list = field(default_factory=list)
    elapsed_s: float = 0.0


@contextlib.contextmanager
def single_thread():
    """Run torch with one intra-op thread inside the block (restored after)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _call(func: Callable, arg):
    with single_thread():
        return func(arg)


def _init_worker() -> None:
    # Ctrl-C reaches the whole process group: let the parent handle it and stop the pool
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    torch.set_num_threads(1)


def run_points(
    func: Callable,
    tasks: Sequence[tuple[str, object]],
    store: PointStore,
    *,
    jobs: int = 1,
    client=None,
    on_done: Callable[[str, Mapping], None] | None = None,
) -> RunReport:
    """Compute every task that ``store`` does not hold yet, saving each as it finishes.

    Parameters
    ----------
    func : callable
        ``func(arg) -> dict`` (JSON-ready); importable, for worker processes.
    tasks : sequence of (key, arg)
        Submitted in this order (put long ones first).
    store : PointStore or MemoryStore
        Where finished points are (and go).
    jobs : int
        Worker processes (spawned; 1 runs here, in this process).
    client : dask.distributed.Client, optional
        Run on this Dask cluster instead (``jobs`` is then ignored).
    on_done : callable, optional
        Called as ``on_done(key, record)`` after each point is saved.

    Returns
    -------
    RunReport

    Raises
    ------
    PointFailed
        When a point raises; the points finished before are saved.
    """
    start = time.perf_counter()
    store.remove_temporary()
    done = store.load()
    keys = [k for k, _ in tasks]
    if len(set(keys)) != len(keys):
        raise RnnProbeError("task keys must be unique")
    report = RunReport(resumed=[k for k in keys if k in done])
    missing = [(k, a) for k, a in tasks if k not in done]

    def finish(key, record):
        store.save(key, record)
        report.computed.append(key)
        if on_done is not None:
            on_done(key, record)

    if not missing:
        pass
    elif client is not None:
        _run_dask(func, missing, client, finish)
    elif jobs <= 1 or len(missing) == 1:
        for key, arg in missing:
            try:
                record = _call(func, arg)
            except Exception as exc:
                raise PointFailed(key, exc) from exc
            finish(key, record)
    else:
        _run_pool(func, missing, min(jobs, len(missing)), finish)
    report.elapsed_s = time.perf_counter() - start
    return report


def _run_pool(func, missing, jobs, finish) -> None:
    ctx = multiprocessing.get_context("spawn")
    pool = cf.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker)
    try:
        futures = {pool.submit(_call, func, arg): key for key, arg in missing}
        for fut in cf.as_completed(futures):
            key = futures[fut]
            try:
                record = fut.result()
            except Exception as exc:
                raise PointFailed(key, exc) from exc
            finish(key, record)
    finally:
        # on error or Ctrl-C: drop what has not started; running points finish (seconds)
        pool.shutdown(wait=True, cancel_futures=True)


def _run_dask(func, missing, client, finish) -> None:
    from distributed import as_completed

    futures = []
    by_key = {}
    for key, arg in missing:
        fut = client.submit(_call, func, arg, pure=False)
        futures.append(fut)
        by_key[fut.key] = key
    try:
        for fut in as_completed(futures, loop=client.loop):
            key = by_key[fut.key]
            try:
                record = fut.result()
            except Exception as exc:
                raise PointFailed(key, exc) from exc
            finish(key, record)
    finally:
        client.cancel([f for f in futures if not f.done()])
