"""The run engine: a grid of independent points, in this process, in worker processes or on a Dask cluster.

Resumable and lossless: every finished point is written at once, atomically
(a temporary file in the same directory, then ``os.replace``), as one JSON file
in a :class:`PointStore`; a rerun computes only the points that have no file.
A point file that cannot be read back (truncated, empty, not JSON, missing
fields) is named in a warning, moved to ``_set_aside/`` (never deleted) and
computed again. A run directory remembers what it was started with
(``_run.json``), so that a rerun with different settings is refused rather than
mixed in, and a run holds a lock on its directory (:func:`lock_directory`) so
that two runs never write into one directory at once.

The function run on every point must be importable (picklable by reference) and
return a JSON-ready dict; it runs with one torch thread (the workers' and, for
``jobs=1``, this process's, restored afterwards), so that the numbers do not
depend on how many jobs ran them. Worker processes end when the process that
started them dies (killed, even by ``SIGKILL``), and points that finish while a
run shuts down (Ctrl-C, a failed point) are saved.

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
>>> _ = store.path("b").write_text('{"key": "b", "rec')               # a damaged point is set aside and redone
>>> run_points(dict, [("a", {"x": 1}), ("b", {"x": 2})], store).computed
['b']
>>> sorted(p.name for p in (store.directory / "_set_aside").iterdir())
['b.json']
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import csv
import ctypes
import errno
import io
import json
import logging
import multiprocessing
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rnnprobe._atomic import atomic_write, atomic_write_all
from rnnprobe.errors import RnnProbeError
from rnnprobe.schema import point_file_name

__all__ = [
    "PointStore", "MemoryStore", "RunReport", "PointFailed", "DamagedFile", "DirectoryBusy", "SetAside", "run_points",
    "atomic_write", "atomic_write_all", "write_csv", "csv_text", "csv_line", "remove_temporary", "read_identity",
    "identity_differences", "write_identity", "set_aside", "lock_directory", "single_thread",
]

log = logging.getLogger("rnnprobe.studies")

IDENTITY_FILE = "_run.json"
#: where damaged files of a point store are moved (inside the store's directory)
SET_ASIDE_DIR = "_set_aside"
_TMP_PATTERN = re.compile(r"^\..+\.tmp$")


# --------------------------------------------------------------------------- files
def remove_temporary(directory) -> int:
    """Delete the temporary files :func:`atomic_write` left in ``directory`` when killed; return how many.

    Call it only while holding the directory's lock (:func:`lock_directory`):
    another run's temporaries may be files it is writing right now.
    """
    directory = Path(directory)
    n = 0
    if directory.is_dir():
        for p in directory.iterdir():
            if p.is_file() and _TMP_PATTERN.match(p.name):
                p.unlink(missing_ok=True)
                n += 1
    return n


def set_aside(path, reason: str = "") -> Path:
    """Move a damaged file into ``_set_aside/`` beside it (never overwriting); return where it went."""
    path = Path(path)
    target_dir = path.parent / SET_ASIDE_DIR
    target_dir.mkdir(exist_ok=True)
    target, n = target_dir / path.name, 1
    while target.exists():
        target, n = target_dir / f"{path.name}.{n}", n + 1
    os.replace(path, target)
    log.warning("set aside %s%s; moved to %s", path, f" ({reason})" if reason else "", target)
    return target


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


class DamagedFile(RnnProbeError):
    """A file of a run directory that cannot be read back; ``path`` and ``reason`` say which and why."""

    def __init__(self, path, reason: str):
        super().__init__(f"{path} {reason}")
        self.path, self.reason = Path(path), reason


@dataclass(frozen=True)
class SetAside:
    """A damaged file found in a run directory: where it was, why, and where it was moved (None: not yet)."""

    file: Path
    reason: str
    moved_to: Path | None = None

    def as_dict(self) -> dict:
        """Plain strings (for meta.json)."""
        return {"file": self.file.name, "reason": self.reason,
                "moved_to": None if self.moved_to is None else str(self.moved_to)}


def _read_json(path: Path):
    """The JSON in ``path``; :class:`DamagedFile` saying what is wrong when it cannot be read back."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DamagedFile(path, f"cannot be read ({exc.strerror or exc})") from None
    if not raw.strip():
        raise DamagedFile(path, "is empty")
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise DamagedFile(path, "is not UTF-8 text (binary data)") from None
    except json.JSONDecodeError as exc:
        cut = "" if raw.rstrip().endswith((b"}", b"]")) else " (truncated?)"
        raise DamagedFile(path, f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}{cut}") from None


class PointStore:
    """One JSON file per finished point, in ``directory``.

    Parameters
    ----------
    directory : path
        Created on the first :meth:`save`.
    check : callable, optional
        ``check(key, record) -> str | None``: what is wrong with a record read
        back (None: nothing); a record it objects to counts as damaged.
    """

    def __init__(self, directory, check: Callable[[str, object], str | None] | None = None):
        self.directory = Path(directory)
        self.check = check

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
                      if p.suffix == ".json" and not p.name.startswith((".", "_")) and p.is_file())

    def _read(self, path: Path) -> tuple[str, object]:
        data = _read_json(path)
        if not isinstance(data, dict) or not isinstance(data.get("key"), str) or "record" not in data:
            raise DamagedFile(path, "is not a point file: it lacks the fields 'key' (a string) and 'record'")
        key = data["key"]
        if path.name != _file_name(key):
            raise DamagedFile(path, f"holds point {key!r}, whose file would be {_file_name(key)!r}")
        problem = None if self.check is None else self.check(key, data["record"])
        if problem:
            raise DamagedFile(path, f"holds a damaged record of point {key!r}: {problem}")
        return key, data["record"]

    def scan(self) -> tuple[dict, list[SetAside]]:
        """Read every point file, changing nothing: ``({key: record}, [damaged files])``."""
        out, damaged = {}, []
        for p in self._point_files():
            try:
                key, record = self._read(p)
            except DamagedFile as exc:
                damaged.append(SetAside(p, exc.reason))
            else:
                out[key] = record
        return out, damaged

    def load(self) -> dict:
        """``{key: record}`` of every finished point; :class:`DamagedFile` (an ``RnnProbeError``) for a damaged one."""
        out = {}
        for p in self._point_files():
            try:
                key, record = self._read(p)
            except DamagedFile as exc:
                raise DamagedFile(p, f"{exc.reason} (run_points sets damaged point files aside)") from None
            out[key] = record
        return out

    def set_aside_damaged(self) -> list[SetAside]:
        """Move every damaged point file to ``_set_aside/`` (named in a warning, never deleted); return them."""
        return [SetAside(d.file, d.reason, set_aside(d.file, d.reason)) for d in self.scan()[1]]

    def remove_temporary(self) -> int:
        """Delete temporary files left by an interrupted write; return how many."""
        return remove_temporary(self.directory)

    def clear(self) -> None:
        """Delete every point file, temporary file and the run identity (files set aside stay)."""
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

    def scan(self) -> tuple[dict, list[SetAside]]:
        """``(load(), [])``: nothing in memory is damaged."""
        return self.load(), []

    def set_aside_damaged(self) -> list[SetAside]:
        """Nothing to set aside: []."""
        return []

    def remove_temporary(self) -> int:
        """Nothing to remove: 0."""
        return 0

    def clear(self) -> None:
        """Forget every point."""
        self._points.clear()


# --------------------------------------------------------------------------- identity
def read_identity(directory) -> dict | None:
    """The identity a run directory was started with, or None; :class:`DamagedFile` when it cannot be read back."""
    path = Path(directory) / IDENTITY_FILE
    if not path.is_file():
        return None
    data = _read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("identity"), dict):
        raise DamagedFile(path, "is not a run identity: it lacks the field 'identity' (an object)")
    return data


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


# --------------------------------------------------------------------------- the lock
class DirectoryBusy(RnnProbeError):
    """Another run holds the lock on ``directory``."""

    def __init__(self, directory):
        super().__init__(f"another rnnprobe run is writing to {str(directory)!r} (it holds the directory's lock); "
                         "wait for it to finish, or choose another directory")
        self.directory = Path(directory)


class lock_directory:  # noqa: N801 - used like a function: ``with lock_directory(out):``
    """Hold an exclusive lock on an existing directory while the ``with`` block runs.

    The lock is ``flock`` on the directory itself, so nothing is written; it is
    released when the block ends or the process dies (even by ``SIGKILL``), and
    worker processes do not inherit it. A second lock on the same directory,
    from this process or another, raises :class:`DirectoryBusy` at once. Where
    the platform or file system has no ``flock``, a warning says the directory
    is not protected and the block runs anyway (``locked`` is False).

    Examples
    --------
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> with lock_directory(d) as first:
    ...     try:
    ...         lock_directory(d).__enter__()
    ...     except DirectoryBusy as exc:
    ...         print("busy:", "another rnnprobe run" in str(exc))
    busy: True
    >>> with lock_directory(d) as again:      # released
    ...     again.locked
    True
    """

    def __init__(self, directory):
        self.directory = Path(directory)
        self.locked = False
        self._fd: int | None = None

    def __enter__(self) -> lock_directory:
        try:
            import fcntl
        except ImportError:         # pragma: no cover - not POSIX
            log.warning("cannot lock %s on this platform: a concurrent run into it is not refused", self.directory)
            return self
        self._fd = os.open(self.directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(self._fd)
            self._fd = None
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise DirectoryBusy(self.directory) from None
            log.warning("cannot lock %s (%s): a concurrent run into it is not refused", self.directory,
                        exc.strerror or exc)
            return self
        self.locked = True
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.close(self._fd)          # releases the lock
            self._fd = None
        self.locked = False


# --------------------------------------------------------------------------- running
class PointFailed(RnnProbeError):
    """A point raised; ``key`` names it, ``__cause__`` is the original error."""

    def __init__(self, key: str, error: BaseException):
        super().__init__(f"point {key!r} failed: {type(error).__name__}: {error}")
        self.key = key
        self.error = error


@dataclass
class RunReport:
    """What a :func:`run_points` call did (``set_aside``: the damaged point files it moved away and redid)."""

    computed: list = field(default_factory=list)
    resumed: list = field(default_factory=list)
    elapsed_s: float = 0.0
    set_aside: list = field(default_factory=list)


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


#: seconds between two looks of a worker at its parent (where the kernel cannot be asked to end it)
PARENT_POLL_S = 0.25
_PR_SET_PDEATHSIG = 1


def _exit_with_parent(parent: int) -> None:
    """End this process as soon as process ``parent`` (the one that started it) is gone.

    On Linux the kernel sends SIGKILL when the parent dies (``PR_SET_PDEATHSIG``);
    everywhere a daemon thread also checks ``os.getppid()``, which changes when
    the parent dies. A worker holds nothing that needs cleaning up: the parent
    writes every file.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:          # it died before we could ask
        os._exit(1)

    def watch():
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="rnnprobe-watch-parent", daemon=True).start()


def _init_worker(parent: int | None = None) -> None:
    # Ctrl-C reaches the whole process group: let the parent handle it and stop the pool
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if parent is not None:
        _exit_with_parent(parent)
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

    Damaged point files in ``store`` are first set aside (moved to
    ``_set_aside/`` and named in a warning) and their points computed again.

    Parameters
    ----------
    func : callable
        ``func(arg) -> dict`` (JSON-ready); importable, for worker processes.
    tasks : sequence of (key, arg)
        Submitted in this order (put long ones first).
    store : PointStore or MemoryStore
        Where finished points are (and go).
    jobs : int
        Worker processes (spawned; 1 runs here, in this process). They end
        when this process dies, however it dies.
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
        When a point raises; the points finished before, and those that finish
        while the others are stopped, are saved.
    KeyboardInterrupt
        Ctrl-C; the points finished before, and those that finish while the
        others are stopped, are saved.
    OSError
        When a point cannot be saved (a full disk); the points saved before stay.
    """
    start = time.perf_counter()
    keys = [k for k, _ in tasks]
    if len(set(keys)) != len(keys):
        raise RnnProbeError("task keys must be unique")
    store.remove_temporary()
    report = RunReport(set_aside=store.set_aside_damaged())
    done = store.load()
    report.resumed = [k for k in keys if k in done]
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


def _pool_result(fut):
    """``(True, record)`` for a future that finished well, else ``(False, None)`` (never raises)."""
    if not fut.done() or fut.cancelled() or fut.exception() is not None:
        return False, None
    return True, fut.result()


def _keep_finished(futures: Mapping, handled: set, finish, result=_pool_result) -> None:
    """Save the points whose futures finished well but were not handled yet (the run is stopping)."""
    for fut, key in futures.items():
        if fut in handled:
            continue
        ok, record = result(fut)
        if not ok:
            continue
        try:
            finish(key, record)
        except Exception as exc:  # noqa: BLE001 - e.g. a full disk: the error being raised says so
            log.warning("could not save point %r while stopping: %s", key, exc)
            return


def _run_pool(func, missing, jobs, finish) -> None:
    ctx = multiprocessing.get_context("spawn")
    pool = cf.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker,
                                  initargs=(os.getpid(),))
    futures: dict = {}
    handled: set = set()
    try:
        futures = {pool.submit(_call, func, arg): key for key, arg in missing}
        for fut in cf.as_completed(futures):
            key = futures[fut]
            handled.add(fut)
            try:
                record = fut.result()
            except Exception as exc:
                raise PointFailed(key, exc) from exc
            finish(key, record)
    except BaseException:
        # on error or Ctrl-C: drop what has not started; the points running now finish (seconds) and are kept
        pool.shutdown(wait=True, cancel_futures=True)
        _keep_finished(futures, handled, finish)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _dask_result(fut):
    if fut.status != "finished":
        return False, None
    return True, fut.result()


def _run_dask(func, missing, client, finish) -> None:
    from distributed import as_completed

    futures = {}
    by_key = {}
    for key, arg in missing:
        fut = client.submit(_call, func, arg, pure=False)
        futures[fut] = key
        by_key[fut.key] = key
    handled: set = set()
    try:
        for fut in as_completed(list(futures), loop=client.loop):
            key = by_key[fut.key]
            handled.add(fut)
            try:
                record = fut.result()
            except Exception as exc:
                raise PointFailed(key, exc) from exc
            finish(key, record)
    except BaseException:
        client.cancel([f for f in futures if not f.done()])
        _keep_finished(futures, handled, finish, result=_dask_result)
        raise
    finally:
        client.cancel([f for f in futures if not f.done()])
