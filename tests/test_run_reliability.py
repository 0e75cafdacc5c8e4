"""Reliability of study runs (issue 11): killed parents, damaged files, concurrent runs, full disks, Ctrl-C.

Each test here failed before the fix it checks.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rnnprobe import schema, studies
from rnnprobe.studies import _runner

psutil = pytest.importorskip("psutil")

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _workers(children) -> list:
    out = []
    for c in children:
        with contextlib.suppress(psutil.Error):
            if "spawn_main" in " ".join(c.cmdline()):
                out.append(c)
    return out


def _gone(proc) -> bool:
    """True when a process has exited (a zombie has exited too: it holds no memory and no files)."""
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


# ------------------------------------------------------------------ orphaned workers
@pytest.mark.parametrize("sig, busy", [(signal.SIGKILL, True), (signal.SIGTERM, False)], ids=["SIGKILL", "SIGTERM"])
def test_workers_exit_when_the_parent_is_killed(tmp_path, sig, busy):
    """Killing `rnnprobe study --jobs 2` leaves no worker and no resource tracker behind, and a caller's
    communicate() returns (the workers held the parent's stdout and stderr open). SIGKILL comes while the
    workers compute (a point is written), SIGTERM as soon as they exist."""
    out = tmp_path / "o"
    args = [sys.executable, "-m", "rnnprobe", "study", "vanishing", "--quick", "--jobs", "2", "--lengths", "200",
            "--hidden", "16", "--seeds", "20", "--no-report", "--out", str(out)]
    proc = subprocess.Popen(args, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    parent = psutil.Process(proc.pid)
    children: list = []
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            children = parent.children(recursive=True)
            workers = _workers(children)
            if len(workers) >= 2 and (not busy or len(list((out / "points").glob("vanishing*.json"))) >= 1):
                break
            time.sleep(0.05)
        children = parent.children(recursive=True)
    finally:
        os.kill(proc.pid, sig)
    assert len(_workers(children)) >= 2, "no workers seen"
    start = time.monotonic()
    proc.communicate(timeout=30)        # hung for good before: the orphans held the pipes
    assert proc.returncode == -sig, "the run finished before it could be killed"
    while time.monotonic() - start < 10 and not all(_gone(c) for c in children):
        time.sleep(0.05)
    alive = [c.pid for c in children if not _gone(c)]
    for pid in alive:                   # do not leave them behind if the test fails
        os.kill(pid, signal.SIGKILL)
    assert not alive, f"processes outlived their parent: {alive}"
    assert time.monotonic() - start < 10
