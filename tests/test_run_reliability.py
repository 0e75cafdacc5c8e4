"""Reliability of study runs (issue 11): killed parents, damaged files, concurrent runs, full disks, Ctrl-C.

Each test here failed before the fix it checks.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import rnnprobe
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
    workers: list = []
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            children = parent.children(recursive=True)
            workers = _workers(children)
            if len(workers) >= 2 and (not busy or len(list((out / "points").glob("vanishing*.json"))) >= 1):
                break
            time.sleep(0.05)
        children = parent.children(recursive=True)
        workers = _workers(children)
    finally:
        os.kill(proc.pid, sig)
    start = time.monotonic()
    _, stderr = proc.communicate(timeout=30)        # hung for good before: the orphans held the pipes
    waited = time.monotonic() - start
    while time.monotonic() - start < 10 and not all(_gone(c) for c in children):
        time.sleep(0.05)
    alive = {}
    for c in children:
        if not _gone(c):
            with contextlib.suppress(psutil.Error):
                alive[c.pid] = " ".join(c.cmdline())[-80:]
                c.kill()                # do not leave them behind if the test fails
    assert len(workers) >= 2, f"no workers seen: {children}; stderr: {stderr[-500:]!r}"
    assert proc.returncode == -sig, f"the run ended by itself ({proc.returncode}): {stderr[-500:]!r}"
    assert not alive, f"processes outlived their parent by 10 s: {alive}"
    assert waited < 10, f"communicate() returned {waited:.1f} s after the kill"


def test_without_the_kernel_signal_a_worker_sees_its_parent_go(tmp_path):
    """The fallback where PR_SET_PDEATHSIG does not exist (macOS): a thread polling os.getppid()."""
    child = ("import os, sys, time\nsys.platform = 'darwin'   # no prctl: only the polling thread\n"
             "from rnnprobe.studies import _runner\n_runner._exit_with_parent(os.getppid())\n"
             "print('watching', flush=True)\ntime.sleep(60)\n")
    parent = (f"import subprocess, sys, time\np = subprocess.Popen([sys.executable, '-c', {child!r}])\n"
              "print(p.pid, flush=True)\ntime.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", parent], env=ENV, stdout=subprocess.PIPE, text=True)
    worker = psutil.Process(int(proc.stdout.readline()))
    assert proc.stdout.readline().strip() == "watching" and not _gone(worker)
    proc.kill()
    start = time.monotonic()
    proc.communicate(timeout=10)
    while time.monotonic() - start < 5 and not _gone(worker):
        time.sleep(0.02)
    if not _gone(worker):
        worker.kill()
    assert time.monotonic() - start < 5, "the worker outlived its parent"


# ------------------------------------------------------------------ damaged point files and identity
SMALL = dict(quick=True, jobs=1, arch=["vanilla-tanh"], length=[5, 7], gain=[0.5, 1.5])   # 4 points, ~0.1 s


def files(directory: Path) -> dict:
    return {p.relative_to(directory): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "o"
    studies.run("vanishing", out=out, **SMALL)
    return out


def _copy_run(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def _truncate(text: str) -> str:
    return text[: len(text) // 2]


DAMAGES = {
    "truncated": (_truncate, "is not valid JSON: .* \\(truncated\\?\\)"),
    "empty": (lambda text: "", "is empty"),
    "random bytes": (lambda text: bytes(range(256)) * 3, "is not UTF-8 text"),
    "not a point": (lambda text: json.dumps({"hello": 1}), "lacks the fields 'key'"),
    "no record": (lambda text: json.dumps({"key": json.loads(text)["key"]}), "lacks the fields 'key'"),
    "no rows": (lambda text: json.dumps({"key": json.loads(text)["key"], "record": {"summary": {}}}),
                "damaged record .* it has no list 'rows'"),
    "short row": (lambda text: json.dumps({"key": json.loads(text)["key"],
                                           "record": {**json.loads(text)["record"], "rows": [["jacobian_norm", 1]]}}),
                  "row 0 is not \\[metric, lag, layer, index, block, value\\]"),
    "no summary": (lambda text: json.dumps({"key": json.loads(text)["key"],
                                            "record": {"rows": json.loads(text)["record"]["rows"]}}),
                   "it has no object 'summary'"),
    "other dtype": (lambda text: json.dumps({"key": json.loads(text)["key"],
                                             "record": {**json.loads(text)["record"], "dtype": "float32"}}),
                    "computed with dtype 'float32', this run uses 'float64'"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_point_is_named_set_aside_and_recomputed(tmp_path, reference, caplog, damage):
    """Before: exit 2 without the file's name (and --force did not help), or a KeyError after recomputing."""
    make, reason = DAMAGES[damage]
    out = _copy_run(reference, tmp_path / "o")
    victim = sorted((out / schema.POINTS_DIR).glob("vanishing*.json"))[1]
    original = victim.read_text()
    bad = make(original)
    victim.write_bytes(bad if isinstance(bad, bytes) else bad.encode())
    with caplog.at_level("WARNING", logger="rnnprobe.studies"):
        result = studies.run("vanishing", out=out, **SMALL)
    assert (result.meta["timings"]["computed"], result.meta["timings"]["resumed"]) == (1, 3)
    moved = out / schema.POINTS_DIR / "_set_aside" / victim.name
    assert moved.read_bytes() == (bad if isinstance(bad, bytes) else bad.encode())     # kept, not deleted
    redone, before = json.loads(victim.read_text()), json.loads(original)
    assert redone["record"].pop("elapsed_s") > 0 and before["record"].pop("elapsed_s") > 0 and redone == before
    assert [d["file"] for d in result.meta["set_aside"]] == [victim.name]
    assert __import__("re").search(reason, result.meta["set_aside"][0]["reason"])
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1 and str(victim) in warned[0] and str(moved) in warned[0]
    for table in (schema.RESULTS_FILE, schema.SUMMARY_FILE):
        assert (out / table).read_bytes() == (reference / table).read_bytes()


def test_a_damaged_point_and_force_with_another_grid(tmp_path, reference):
    """--force used to fail on the damaged file too; now it is set aside and the old run discarded."""
    out = _copy_run(reference, tmp_path / "o")
    victim = sorted((out / schema.POINTS_DIR).glob("vanishing*.json"))[0]
    victim.write_text('{"key": "vanish')
    result = studies.run("vanishing", out=out, force=True, **{**SMALL, "gain": [0.7]})
    assert result.meta["timings"]["computed"] == 2 and set(result.summary["gain"]) == {0.7}
    assert (out / schema.POINTS_DIR / "_set_aside" / victim.name).read_text() == '{"key": "vanish'


@pytest.mark.parametrize("content", ["", '{"identity": {"study": "vani', "\x00\x01binary\xff", '{"created": "x"}',
                                     "[1, 2]"], ids=["empty", "truncated", "binary", "no identity", "a list"])
def test_a_damaged_run_identity_is_set_aside_and_the_points_resume(tmp_path, reference, caplog, content):
    out = _copy_run(reference, tmp_path / "o")
    identity = out / schema.POINTS_DIR / "_run.json"
    good = identity.read_text()
    identity.write_bytes(content.encode("latin-1"))
    with caplog.at_level("WARNING", logger="rnnprobe.studies"):
        result = studies.run("vanishing", out=out, **SMALL)
    assert (result.meta["timings"]["computed"], result.meta["timings"]["resumed"]) == (0, 4)
    assert json.loads(identity.read_text())["identity"] == json.loads(good)["identity"]
    assert (out / schema.POINTS_DIR / "_set_aside" / "_run.json").read_bytes() == content.encode("latin-1")
    assert any("_run.json" in r.getMessage() for r in caplog.records)
    assert (out / schema.RESULTS_FILE).read_bytes() == (reference / schema.RESULTS_FILE).read_bytes()


def test_a_damaged_identity_does_not_let_points_of_another_dtype_in(tmp_path, reference):
    """Without the identity, each point record's own dtype keeps a float32 point out of a float64 run."""
    out = tmp_path / "o"
    studies.run("vanishing", out=out, dtype="float32", **SMALL)
    (out / schema.POINTS_DIR / "_run.json").write_text("{")
    result = studies.run("vanishing", out=out, **SMALL)
    assert result.meta["timings"]["computed"] == 4 and len(result.meta["set_aside"]) == 5
    assert (out / schema.RESULTS_FILE).read_bytes() == (reference / schema.RESULTS_FILE).read_bytes()


def test_cli_names_the_damaged_point_and_resumes(tmp_path, reference):
    from click.testing import CliRunner

    from rnnprobe.cli import main

    out = _copy_run(reference, tmp_path / "o")
    victim = sorted((out / schema.POINTS_DIR).glob("vanishing*.json"))[2]
    victim.write_text("")
    args = ["study", "vanishing", "--quick", "--jobs", "1", "--no-report", "--arch", "vanilla-tanh", "--lengths", "5,7",
            "--gains", "0.5,1.5", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "(1 computed, 3 resumed)" in result.output and f"set aside {victim} (is empty)" in result.output
    assert "Traceback" not in result.output


# ------------------------------------------------------------------ two runs into one directory
def _probe_that_runs(monkeypatch, action):
    """Make the vanishing study's probe call ``action()`` once, while the run holds its directory."""
    module = studies.load("vanishing").module
    real, seen = module.probe, []

    def probe(point, **kw):
        if not seen:
            seen.append(action())
        return real(point, **kw)

    monkeypatch.setattr(module, "probe", probe)
    return seen


@pytest.mark.parametrize("second", [dict(), dict(force=True, gain=[0.7])], ids=["same run", "force another grid"])
def test_a_second_run_into_a_busy_directory_is_refused(tmp_path, reference, monkeypatch, second):
    """Before: both runs computed everything, and a --force run could leave its identity beside the other's
    tables; a starting run deleted the other's temporary files."""
    out = tmp_path / "o"
    out.mkdir()
    temporary = out / ".results.csv.abc123.tmp"           # as if the first run were writing its tables

    def second_run():
        temporary.write_text("being written")
        with pytest.raises(studies.StudyArgumentError, match="another rnnprobe run is writing to") as info:
            studies.run("vanishing", out=out, **{**SMALL, **second})
        assert info.value.parameter == "out"
        assert temporary.read_text() == "being written"   # not the second run's to delete
        temporary.unlink()
        return True

    seen = _probe_that_runs(monkeypatch, second_run)
    result = studies.run("vanishing", out=out, **SMALL)
    assert seen == [True] and result.meta["timings"]["computed"] == 4
    identity = json.loads((out / schema.POINTS_DIR / "_run.json").read_text())["identity"]
    assert identity["grid"]["gain"] == [0.5, 1.5]
    for table in (schema.RESULTS_FILE, schema.SUMMARY_FILE):
        assert (out / table).read_bytes() == (reference / table).read_bytes()
    studies.run("vanishing", out=out, **SMALL)                # released when the run ended


def test_cli_second_run_exits_2_with_one_line(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from rnnprobe.cli import main

    out = tmp_path / "o"
    args = ["study", "vanishing", "--quick", "--jobs", "1", "--no-report", "--arch", "vanilla-tanh", "--lengths", "5",
            "--gains", "1", "--out", str(out)]
    seen = _probe_that_runs(monkeypatch, lambda: CliRunner().invoke(main, args + ["--force"]))
    assert CliRunner().invoke(main, args).exit_code == 0
    inner = seen[0]
    assert inner.exit_code == 2 and "Traceback" not in inner.output
    errors = [line for line in inner.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "'--out'" in errors[0] and "another rnnprobe run is writing to" in errors[0]


def test_the_lock_is_released_when_its_holder_is_killed(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    code = ("import sys, time\nfrom rnnprobe.studies._runner import lock_directory\n"
            f"with lock_directory({str(out)!r}):\n    print('locked', flush=True)\n    time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", code], env=ENV, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(_runner.DirectoryBusy):
            _runner.lock_directory(out).__enter__()
    finally:
        holder.kill()
        holder.communicate()
    with _runner.lock_directory(out) as lock:
        assert lock.locked


# ------------------------------------------------------------------ a full disk
@pytest.fixture
def full_disk(monkeypatch):
    """``full_disk(prefix, after=0)``: syncing a file whose name starts with ``prefix`` fails with ENOSPC, after
    ``after`` such files went through (the writers' temporaries are '.<name>.XXXX.tmp', synced before the rename)."""
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to name an open file")
    real = os.fsync

    def arm(prefix: str, after: int = 0):
        count = [0]

        def fsync(fd):
            name = Path(os.readlink(f"/proc/self/fd/{fd}")).name
            if name.startswith(prefix):
                count[0] += 1
                if count[0] > after:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real(fd)

        monkeypatch.setattr(os, "fsync", fsync)
        return count

    yield arm
    monkeypatch.setattr(os, "fsync", real)


def _temporaries(directory: Path) -> list:
    return [p for p in directory.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".report-")]


def test_a_full_disk_while_saving_points(tmp_path, reference, full_disk):
    out = tmp_path / "o"
    full_disk(".vanishing_", after=2)
    with pytest.raises(studies.WriteFailed, match="No space left on device") as info:
        studies.run("vanishing", out=out, **SMALL)
    assert (info.value.saved, info.value.total) == (2, 4) and "2 of 4 points are saved there" in str(info.value)
    assert not isinstance(info.value, rnnprobe.InvalidArgument)
    assert not _temporaries(out) and not (out / schema.RESULTS_FILE).exists()
    assert len(list((out / schema.POINTS_DIR).glob("vanishing*.json"))) == 2


def test_after_a_full_disk_the_rerun_resumes(tmp_path, reference, full_disk, monkeypatch):
    out = tmp_path / "o"
    count = full_disk(".vanishing_", after=2)
    with pytest.raises(studies.WriteFailed):
        studies.run("vanishing", out=out, **SMALL)
    assert count[0] == 3
    full_disk("nothing-matches")            # space freed
    result = studies.run("vanishing", out=out, **SMALL)
    assert (result.meta["timings"]["computed"], result.meta["timings"]["resumed"]) == (2, 2)
    assert (out / schema.RESULTS_FILE).read_bytes() == (reference / schema.RESULTS_FILE).read_bytes()


def test_a_full_disk_while_writing_the_tables_writes_none(tmp_path, full_disk):
    """Before: results.csv was written, then summary.csv failed: a table of this run beside none (or an old one)."""
    out = tmp_path / "o"
    full_disk(".summary.csv.")
    with pytest.raises(studies.WriteFailed, match="while writing the tables \\(none was written\\): No space left") \
            as info:
        studies.run("vanishing", out=out, **SMALL)
    assert info.value.saved == info.value.total == 4
    assert sorted(p.name for p in out.iterdir()) == [schema.POINTS_DIR] and not _temporaries(out)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_cli_full_disk_exits_1_with_one_line(tmp_path, full_disk, jobs):
    from click.testing import CliRunner

    from rnnprobe.cli import main

    full_disk(".vanishing_", after=1)
    out = tmp_path / "o"
    result = CliRunner().invoke(main, ["study", "vanishing", "--quick", "--jobs", jobs, "--no-report", "--out", str(out)])
    assert result.exit_code == 1 and "Traceback" not in result.output and result.exception is not None
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "No space left on device" in errors[0] and "of 8 points are saved" in errors[0]
    assert not _temporaries(out) and not (out / schema.RESULTS_FILE).exists()


def test_report_on_a_full_disk_exits_1_and_leaves_whole_files(tmp_path, reference, full_disk):
    from click.testing import CliRunner

    from rnnprobe.cli import main

    out = _copy_run(reference, tmp_path / "o")
    assert CliRunner().invoke(main, ["report", str(out), "--dpi", "40"]).exit_code == 0
    before = files(out)
    full_disk(".gradient_decay.png.")
    result = CliRunner().invoke(main, ["report", str(out), "--dpi", "40"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert errors == ["Error: cannot write the report: No space left on device"]
    assert not _temporaries(out)
    after = files(out)
    assert set(after) == set(before)
    assert after[Path("figures/gradient_decay.png")] == before[Path("figures/gradient_decay.png")]


# ------------------------------------------------------------------ Ctrl-C
def test_points_that_finish_during_shutdown_are_kept(tmp_path):
    """Ctrl-C while a point is running: the pool lets it finish, and its record is saved (it was thrown away)."""
    store = _runner.PointStore(tmp_path)
    tasks = [("fast", 0.0), ("slow", 1.5)]        # time.sleep(seconds) -> None: a point that takes its time

    def on_done(key, record):
        if key == "fast":                         # the user presses Ctrl-C while 'slow' is running
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _runner.run_points(time.sleep, tasks, store, jobs=2, on_done=on_done)
    assert store.load() == {"fast": None, "slow": None}
    assert _runner.run_points(time.sleep, tasks, store, jobs=2).computed == []


def test_a_failed_point_keeps_the_points_that_finish_while_stopping(tmp_path):
    store = _runner.PointStore(tmp_path)
    tasks = [("bad", "x"), ("slow", 1.5)]         # float('x') fails at once while float(1.5) ... runs quickly
    with pytest.raises(_runner.PointFailed, match="'bad' failed"):
        _runner.run_points(_float_after, tasks, store, jobs=2)
    assert store.load() == {"slow": 1.5}


def _float_after(value):
    if value == "x":
        raise ValueError("not a number")
    time.sleep(float(value))
    return float(value)


# ------------------------------------------------------------------ T = 1
def test_a_single_step_run_writes_no_nan_and_its_report_says_undetermined(tmp_path):
    """T = 1 has one lag: no slope can be fitted. The probes say so with the interval (-inf, inf); summary.csv
    writes it (no NaN), the Pascanu comparison calls it undetermined (it said 'neutral', and 'contradicts' for a
    'vanishing' verdict), and the report is written (it failed on the empty χ₁ figure)."""
    from rnnprobe import analysis, reports

    out = tmp_path / "o"
    result = studies.run("vanishing", out=out, quick=True, jobs=1, arch=["vanilla-tanh", "lstm"], length=[1],
                         gain=[0.5, 1.5])
    text = (out / schema.SUMMARY_FILE).read_text()
    assert "nan" not in text.lower()
    summary = result.summary
    assert (summary["efold_slope_low"] == -math.inf).all() and (summary["efold_slope_high"] == math.inf).all()
    assert (summary["efold_slope"] == 0.0).all() and (summary["memory_efold"] == math.inf).all()
    assert (summary["memory_threshold"] == 1).all() and summary["memory_threshold_censored"].all()
    points = analysis.pascanu_agreement(summary)
    assert set(points["measured"]) == {"undetermined"}
    assert set(points["agreement"]) == {"undetermined", "no prediction"}
    assert (points.loc[points["pascanu"] == "vanishing", "agreement"] == "undetermined").all()
    table = analysis.pascanu_crosstab(points)
    assert table["undetermined"].sum() == 4 and table["agreement"].isna().all()
    pdf = reports.write_report(out, png=False)
    assert pdf.exists() and not (out / "figures").exists()
    assert analysis.measured_outcome(-math.inf, math.inf) == "undetermined"
    assert analysis.measured_outcome(-0.5, 0.5) == "neutral"
