"""Files written whole or not at all: a synced temporary file beside the target, then a rename.

Every writer of rnnprobe (checkpoints and rows of a training run, a study's
tables and point files, a report's figures and tables) goes through here, so a
full disk or a kill leaves the old file or the whole new one, never a part,
and the new file gets the usual permissions (``0o666`` less the umask; a bare
``mkstemp`` file would be ``0o600``).

Examples
--------
>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
>>> atomic_write(path, "old"); atomic_write(path, "new")
>>> path.read_text(), sorted(p.name for p in path.parent.iterdir())
('new', ['a.txt'])
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

__all__ = ["UMASK", "write_temporary", "atomic_write", "atomic_write_all"]

#: the process's umask (read once: reading it means setting it)
UMASK = os.umask(0o022)
os.umask(UMASK)


def write_temporary(path, data: str | bytes) -> str:
    """Write ``data`` to a new temporary file beside ``path`` (synced, usual permissions); return its name."""
    path = Path(path)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~UMASK)
        with os.fdopen(fd, mode, **({} if mode == "wb" else {"encoding": "utf-8", "newline": ""})) as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return tmp


def atomic_write(path, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8, or bytes) to ``path`` atomically: readers see the old file or the whole new one."""
    atomic_write_all({path: data})


def atomic_write_all(files: Mapping) -> None:
    """Write several files, each atomically, and none unless every one could be written in full.

    Every file is first written to a temporary file beside it; only when all
    are on disk are they renamed into place. A failure (a full disk: ``OSError``
    with ``errno.ENOSPC``) removes the temporary files and leaves every target
    as it was.
    """
    written: list[tuple[str, Path]] = []
    try:
        for path, data in files.items():
            path = Path(path)
            written.append((write_temporary(path, data), path))
        while written:
            tmp, path = written[0]
            os.replace(tmp, path)
            written.pop(0)
    except BaseException:
        for tmp, _ in written:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise
