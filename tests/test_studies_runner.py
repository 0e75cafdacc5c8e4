"""The run engine (rnnprobe.studies._runner): atomic files, resuming, worker processes, Dask, failures."""

from __future__ import annotations

import json
import math
import os

import pytest
import torch

from rnnprobe._atomic import UMASK
from rnnprobe.studies import _runner as runner
from rnnprobe.studies._runner import MemoryStore, PointFailed, PointStore, atomic_write, run_points

TASKS = [(f"p{i}", {"i": i, "x": i / 7}) for i in range(5)]


# ------------------------------------------------------------------ files
def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / "a.txt"
    atomic_write(path, "old")
    atomic_write(path, "new content")
    assert path.read_text() == "new content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_atomic_write_failure_keeps_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "a.txt"
    atomic_write(path, "old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(runner.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, "new")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_atomic_write_gives_usual_permissions(tmp_path):
    path = tmp_path / "a.txt"
    atomic_write(path, "x")
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~UMASK


def test_write_csv_quotes_cells(tmp_path):
    n = runner.write_csv(tmp_path / "t.csv", ["a", "b"], [["1", "x,y"], ["", "z"], runner.csv_line(["q\"", "2"])])
    assert n == 3
    assert (tmp_path / "t.csv").read_text() == 'a,b\n1,"x,y"\n,z\n"q""",2\n'


def test_csv_line_round_trips_awkward_cells():
    import csv
    import io

    cells = ["a\nb", "x,y", 'q"', " s", "", "c\rd", "plain"]
    line = runner.csv_line(cells)
    assert not line.endswith("\n")
    assert list(csv.reader(io.StringIO(line + "\n", newline=""))) == [cells]


def test_store_round_trip_is_exact(tmp_path):
    store = PointStore(tmp_path / "points")
    record = {"v": [0.1, 1e-300, math.inf, -math.inf, 2 / 3], "n": None, "b": True}
    store.save("study:arch=a,gain=0.5", record)
    loaded = store.load()["study:arch=a,gain=0.5"]
    assert loaded["v"][:4] == record["v"][:4] and loaded["v"][4] == 2 / 3
    assert loaded["n"] is None and loaded["b"] is True
    nan_store = PointStore(tmp_path / "nan")
    nan_store.save("k", {"v": math.nan})
    assert math.isnan(nan_store.load()["k"]["v"])


def test_store_file_names_are_safe(tmp_path):
    store = PointStore(tmp_path)
    assert store.path("vanishing:arch=a/b,gain=1.0").name == "vanishing_arch=a_b,gain=1.0.json"


def test_store_rejects_foreign_json(tmp_path):
    (tmp_path / "other.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(runner.RnnProbeError, match="not a point file"):
        PointStore(tmp_path).load()


def test_remove_temporary_only_touches_temporaries(tmp_path):
    store = PointStore(tmp_path)
    store.save("a", {"x": 1})
    (tmp_path / ".a.json.abc123.tmp").write_text("half")
    (tmp_path / "notes.tmp").write_text("user file")
    assert store.remove_temporary() == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "notes.tmp"]


def test_store_clear(tmp_path):
    store = PointStore(tmp_path)
    store.save("a", {"x": 1})
    runner.write_identity(tmp_path, {"identity": {"a": 1}})
    store.clear()
    assert list(tmp_path.iterdir()) == []


def test_identity_round_trip_and_differences(tmp_path):
    assert runner.read_identity(tmp_path) is None
    runner.write_identity(tmp_path, {"identity": {"grid": {"gain": [1.0]}, "dtype": "float64"}})
    old = runner.read_identity(tmp_path)["identity"]
    new = {"grid": {"gain": [0.5]}, "dtype": "float64", "device": "cpu"}
    assert runner.identity_differences(old, new) == ["device", "grid.gain"]
    assert runner.identity_differences(old, old) == []


# ------------------------------------------------------------------ running
def test_run_points_in_process_resumes_only_missing(tmp_path):
    calls = []

    def func(arg):
        calls.append(arg["i"])
        return {"square": arg["i"] ** 2}

    store = PointStore(tmp_path)
    first = run_points(func, TASKS, store)
    assert sorted(first.computed) == [k for k, _ in TASKS] and first.resumed == []
    assert calls == [0, 1, 2, 3, 4]
    store.path("p3").unlink()
    second = run_points(func, TASKS, store)
    assert second.computed == ["p3"] and sorted(second.resumed) == ["p0", "p1", "p2", "p4"]
    assert calls == [0, 1, 2, 3, 4, 3]
    assert {k: v["square"] for k, v in store.load().items()} == {f"p{i}": i * i for i in range(5)}


def test_memory_store_resumes_like_a_point_store_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = MemoryStore()
    record = {"v": [0.1, 1e-300, math.inf, 2 / 3], "n": None, "b": True}
    first = run_points(lambda arg: record, TASKS[:2], store)
    assert sorted(first.computed) == ["p0", "p1"]
    second = run_points(lambda arg: record, TASKS[:3], store)
    assert second.computed == ["p2"] and sorted(second.resumed) == ["p0", "p1"]
    assert store.load()["p2"] == record and store.remove_temporary() == 0
    nan = MemoryStore()
    nan.save("k", {"v": math.nan})
    assert math.isnan(nan.load()["k"]["v"])
    store.clear()
    assert store.load() == {} and list(tmp_path.iterdir()) == []


def test_run_points_progress_callback_sees_every_point(tmp_path):
    seen = []
    run_points(dict, TASKS, PointStore(tmp_path), on_done=lambda key, rec: seen.append((key, rec)))
    assert sorted(seen, key=lambda kv: kv[0]) == [(k, a) for k, a in TASKS]


def test_run_points_failure_names_point_and_keeps_finished(tmp_path):
    def func(arg):
        if arg["i"] == 2:
            raise ValueError("bad point")
        return arg

    store = PointStore(tmp_path)
    with pytest.raises(PointFailed, match="'p2' failed: ValueError: bad point") as info:
        run_points(func, TASKS, store)
    assert info.value.key == "p2"
    assert sorted(store.load()) == ["p0", "p1"]


def test_run_points_rejects_duplicate_keys(tmp_path):
    with pytest.raises(runner.RnnProbeError, match="unique"):
        run_points(dict, [("a", {}), ("a", {})], PointStore(tmp_path))


def test_run_points_worker_processes(tmp_path):
    store = PointStore(tmp_path / "ok")
    report = run_points(dict, TASKS, store, jobs=2)
    assert sorted(report.computed) == [k for k, _ in TASKS]
    assert store.load() == {k: a for k, a in TASKS}
    # a point raising in a worker: named in the error, the others' results kept
    store = PointStore(tmp_path / "fail")
    with pytest.raises(PointFailed, match="'b' failed: ValueError: invalid literal"):
        run_points(int, [("a", "1"), ("b", "x")], store, jobs=2)
    assert set(store.load()) <= {"a"} and store.load().get("a", 1) == 1


def test_run_points_on_dask(tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        store = PointStore(tmp_path)
        report = run_points(dict, TASKS, store, client=client)
        assert sorted(report.computed) == [k for k, _ in TASKS]
        assert store.load() == {k: a for k, a in TASKS}
        with pytest.raises(PointFailed, match="'b' failed"):
            run_points(int, [("a", "1"), ("b", "x")], PointStore(tmp_path / "fail"), client=client)


def test_single_thread_restores_thread_count():
    before = torch.get_num_threads()
    with runner.single_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
