"""rnnprobe.studies.run from Python: in memory, on disk, resuming, forcing, progress, reports, bad arguments."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import rnnprobe
from rnnprobe import schema, studies

ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(quick=True, jobs=1, arch=["vanilla-tanh"], length=[5, 7], gain=[0.5, 1.5])   # 4 points, ~0.1 s


def files(directory: Path) -> dict:
    return {p.relative_to(directory): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def on_disk(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "vanishing"
    return out, studies.run("vanishing", out=out, **SMALL)


def test_in_memory_run_writes_nothing_and_equals_the_files(tmp_path, monkeypatch, on_disk):
    monkeypatch.chdir(tmp_path)
    result = studies.run("vanishing", **SMALL)
    assert list(tmp_path.iterdir()) == [] and result.out is None
    out, written = on_disk
    # the same frames as pandas reads from the files of a run on disk (and as that run returned)
    for frame, name in ((result.results, schema.RESULTS_FILE), (result.summary, schema.SUMMARY_FILE)):
        from_file = pd.read_csv(out / name, low_memory=False)
        assert list(frame.columns) == list(from_file.columns)
        pd.testing.assert_frame_equal(frame, from_file)
    pd.testing.assert_frame_equal(written.results, pd.read_csv(out / schema.RESULTS_FILE))
    study = studies.load("vanishing")
    assert tuple(result.results.columns) == study.result_columns()
    assert tuple(result.summary.columns) == study.summary_columns()
    assert len(result.summary) == 4 and set(result.summary["length"]) == {5, 7}
    assert result.meta["n_points"] == 4 and result.meta["n_rows"] == len(result.results)
    assert result.meta["config"]["out"] is None and result.meta["config"]["jobs"] == 1
    assert result.meta["config"]["overrides"] == {"arch": ["vanilla-tanh"], "length": [5, 7], "gain": [0.5, 1.5]}
    assert json.loads((out / schema.META_FILE).read_text())["grid"] == result.meta["grid"]
    assert repr(result) == "StudyResult('vanishing', 4 points, %d rows, out=None)" % len(result.results)


def test_a_single_value_stands_for_a_list_of_one():
    result = studies.run("vanishing", quick=True, jobs=1, arch="gru", length=5, gain=1.0, seed=3)
    row = result.summary.iloc[0]
    assert len(result.summary) == 1 and (row["arch"], row["length"], row["gain"], row["seed"]) == ("gru", 5, 1.0, 3)


def test_rerun_resumes_losslessly_and_reports_progress(tmp_path, on_disk):
    ref, _ = on_disk
    out = tmp_path / "o"
    calls = []
    first = studies.run("vanishing", out=out, progress=lambda done, total: calls.append((done, total)), **SMALL)
    assert calls == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]
    assert first.meta["timings"]["computed"] == 4 and (out / schema.RESULTS_FILE).read_bytes() == \
        (ref / schema.RESULTS_FILE).read_bytes()
    before = files(out)
    # two points lost (as if killed before they were written): only those are computed again
    lost = sorted((out / schema.POINTS_DIR).glob("vanishing*.json"))[:2]
    for p in lost:
        p.unlink()
    calls.clear()
    again = studies.run("vanishing", out=out, progress=lambda done, total: calls.append((done, total)), **SMALL)
    assert (again.meta["timings"]["computed"], again.meta["timings"]["resumed"]) == (2, 2)
    assert calls == [(2, 4), (3, 4), (4, 4)]
    assert (out / schema.RESULTS_FILE).read_bytes() == before[Path(schema.RESULTS_FILE)]
    same = studies.run("vanishing", out=out, **SMALL)
    assert same.meta["timings"]["computed"] == 0
    assert (out / schema.SUMMARY_FILE).read_bytes() == (tmp_path / "o" / schema.SUMMARY_FILE).read_bytes()


def test_other_settings_are_refused_unless_forced(tmp_path):
    out = tmp_path / "o"
    studies.run("vanishing", out=out, **SMALL)
    snapshot = files(out)
    with pytest.raises(studies.StudyArgumentError, match=r"different settings \(differs in: dtype, grid.gain\)") as info:
        studies.run("vanishing", out=out, **{**SMALL, "gain": [0.7]}, dtype="float32")
    assert info.value.parameter == "out" and "force=True" in str(info.value)
    assert files(out) == snapshot
    forced = studies.run("vanishing", out=out, force=True, **{**SMALL, "gain": [0.7]})
    assert forced.meta["timings"]["computed"] == 2 and set(forced.summary["gain"]) == {0.7}
    assert len(list((out / schema.POINTS_DIR).glob("vanishing*.json"))) == 2


def test_a_failing_point_keeps_the_finished_ones(tmp_path, monkeypatch):
    module = studies.load("vanishing").module
    real = module.probe

    def flaky(point, **kw):
        if point["gain"] == 1.5 and point["length"] == 7:
            raise rnnprobe.RnnProbeError("numerical trouble")
        return real(point, **kw)

    monkeypatch.setattr(module, "probe", flaky)
    with pytest.raises(studies.PointFailed, match="numerical trouble") as info:
        studies.run("vanishing", out=tmp_path / "o", **SMALL)
    assert info.value.total == 4 and info.value.saved == len(list((tmp_path / "o" / "points").glob("vanishing*")))
    assert not (tmp_path / "o" / schema.RESULTS_FILE).exists()


def test_interrupt_is_a_keyboard_interrupt_that_counts_the_saved_points(monkeypatch):
    module = studies.load("vanishing").module
    real, calls = module.probe, []

    def interrupted(point, **kw):
        calls.append(point)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(point, **kw)

    monkeypatch.setattr(module, "probe", interrupted)
    with pytest.raises(KeyboardInterrupt) as info:
        studies.run("vanishing", **SMALL)
    assert isinstance(info.value, studies.RunInterrupted) and (info.value.saved, info.value.total) == (1, 4)
    assert "in memory only" in str(info.value)


def test_report_of_a_run_in_memory(tmp_path):
    result = studies.run("vanishing", quick=True, jobs=1, arch=["vanilla-tanh", "lstm"], length=[20], gain=[0.5, 1.5])
    pdf = result.report(tmp_path / "r.pdf", png=False, dpi=40)
    assert pdf == tmp_path / "r.pdf" and pdf.stat().st_size > 10_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.pdf", "tables"]
    with pytest.raises(rnnprobe.InvalidArgument, match="path must be given .* held in memory"):
        result.report()


def test_report_of_a_run_on_disk_defaults_to_its_directory(on_disk, monkeypatch):
    from rnnprobe import reports

    out, result = on_disk
    calls = []
    monkeypatch.setattr(reports, "write_report", lambda data, path, **kw: calls.append((data, path, kw)) or path)
    result.report(dpi=40)
    (data, path, kw), = calls
    assert path is None and data.directory == out and data.name == "vanishing" and kw["dpi"] == 40
    assert data.results is result.results and data.meta is result.meta


def test_studies_and_rnnprobe_import_without_pandas():
    code = ("import sys, rnnprobe, rnnprobe.studies, rnnprobe.schema\n"
            "print(sorted(m for m in ('pandas', 'matplotlib', 'seaborn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_study_axes_may_not_shadow_run_keywords():
    import types

    module = types.ModuleType("bad")
    module.__doc__ = "Bad?"
    module.ARCHS, module.EXTRA_AXES = ("gru",), {"device": studies.Axis(str, "clash")}
    module.GRID = module.QUICK = {"arch": ["gru"], "device": ["cpu"]}
    with pytest.raises(studies.RnnProbeStudyError, match="named like keywords"):
        studies.Study.from_module("bad", module)


# ------------------------------------------------------------------ bad arguments
BAD_RUN_CALLS = [
    (dict(name="vanishng"), "name", "unknown study 'vanishng'; available: ([a-z]+, )*depth, memory, ([a-z]+, )*"
                                    "vanishing \\(did you mean 'vanishing'\\?\\)"),
    (dict(name=3), "name", "unknown study 3"),
    (dict(lenght=[5]), "lenght", "axis 'lenght' does not apply to study 'vanishing'; .* \\(did you mean 'length'\\?\\)"),
    (dict(depth=[4]), "depth", "axis 'depth' does not apply to study 'vanishing'"),
    (dict(length=[5, -1]), "length", "length values must be >= 1; got -1"),
    (dict(length=[]), "length", "at least one value"),
    (dict(length=[2.5]), "length", "length values must be integers; got 2.5"),
    (dict(gain=[math.nan]), "gain", "finite real numbers; got nan"),
    (dict(gain=[1.0, 1.0]), "gain", "lists 1.0 twice"),
    (dict(gain={"a": 1}), "gain", "a value or a list of values; got \\{'a': 1\\}"),
    (dict(arch=["lstmm"]), "arch", "arch must be one of .*; got 'lstmm' \\(did you mean 'lstm'\\?\\)"),
    (dict(seed=[-1]), "seed", ">= 0; got -1"),
    (dict(init="uniform"), "init", "got 'uniform'"),
    (dict(jobs=0), "jobs", "jobs must be >= 1; got 0"),
    (dict(jobs=1.5), "jobs", "jobs must be an integer; got 1.5"),
    (dict(jobs=True), "jobs", "jobs must be an integer; got True"),
    (dict(dtype="float16"), "dtype", "dtype must be one of 'float32', 'float64' .*; got 'float16'"),
    (dict(device="tpu"), "device", "device must be one of 'cpu', 'cuda'; got 'tpu'"),
    (dict(quick="yes"), "quick", "quick must be True or False; got 'yes'"),
    (dict(force=1), "force", "force must be True or False; got 1"),
    (dict(progress="bar"), "progress", "progress must be a callable .*; got 'bar'"),
    (dict(out=3), "out", "out must be a directory path .*; got 3"),
    (dict(out="{file}"), "out", "out must be a directory; got '.*a-file', which is a file"),
    (dict(out="{file}/sub"), "out", "cannot create out = '.*a-file/sub': '.*a-file' is not a directory"),
    (dict(out="{foreign}"), "out", "is not a readable rnnprobe run"),
    (dict(scheduler=42), "scheduler", "scheduler must be a Dask scheduler address or a distributed.Client; got 42"),
    (dict(out=""), "out", "out must be a directory path .*; got ''"),                                         # (#11)
    # absurd grids are refused before anything is allocated, with the estimate (#11)
    (dict(seed=range(10**9)), "seed", "seed lists 1,000,000,000 values, more than the 1,000,000 grid points a run "
                                      "may have \\(its tables alone would take at least 300 GB of memory\\); "
                                      "got range\\(0, 1000000000\\)"),
    (dict(seed="{iterator}"), "seed", "seed lists more than 1,000,000 values"),             # iter(range(10**12))
    (dict(length=range(1, 1002), gain=[i / 1000 for i in range(1001)]), "length",
     "the grid has 2,004,002 points \\(2 arch × 1001 length × 1001 gain\\), more than the 1,000,000"),
    (dict(hidden=10**7), "hidden", "hidden = 10000000: one grid point needs at least 800 TB of memory "
                                   "\\(its 10000000 × 10000000 weights and 31 states, float64\\), more than this machine's"),
    (dict(length=10**13, dtype="float32"), "length", "length = 10000000000000: one grid point needs at least 320 TB "
                                                     "of memory \\(its 8 × 8 weights and 10000000000001 states, float32\\)"),
]


@pytest.mark.parametrize("kwargs, parameter, message", BAD_RUN_CALLS, ids=[str(c[0])[:60] for c in BAD_RUN_CALLS])
def test_bad_arguments_raise_invalid_argument_and_write_nothing(tmp_path, monkeypatch, kwargs, parameter, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("x")
    foreign = tmp_path / "foreign" / schema.POINTS_DIR
    foreign.mkdir(parents=True)
    (foreign / "notes.json").write_text('{"mine": true}')
    before = files(tmp_path)
    kwargs = {k: iter(range(10**12)) if v == "{iterator}" else v for k, v in kwargs.items()}
    kwargs = {k: v.format(file=tmp_path / "a-file", foreign=tmp_path / "foreign") if isinstance(v, str) else v
              for k, v in kwargs.items()}
    name = kwargs.pop("name", "vanishing")
    with pytest.raises(rnnprobe.InvalidArgument, match=message) as info:
        studies.run(name, **{"quick": True, "jobs": 1, **kwargs})
    assert isinstance(info.value, studies.StudyArgumentError) and info.value.parameter == parameter
    assert files(tmp_path) == before


def test_empty_grid_and_missing_cuda(tmp_path):
    with pytest.raises(studies.StudyArgumentError, match="the grid of study 'memory' is empty") as info:
        studies.run("memory", quick=True, arch=["lstm"], forget_bias=[], chrono=[])
    assert info.value.parameter is None
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(studies.StudyArgumentError, match="device 'cuda' was requested") as info:
            studies.run("vanishing", out=tmp_path / "o", quick=True, device="cuda")
        assert info.value.parameter == "device" and not (tmp_path / "o").exists()


def test_unreachable_scheduler_is_a_bad_argument(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr(studies._run, "SCHEDULER_TIMEOUT", "1s")
    with pytest.raises(studies.StudyArgumentError, match="cannot connect to the Dask scheduler at 'tcp://127.0.0.1:9'"):
        studies.run("vanishing", out=tmp_path / "o", scheduler="tcp://127.0.0.1:9", **SMALL)
    assert not (tmp_path / "o").exists()


def test_run_on_a_dask_client_gives_the_same_tables(on_disk):
    distributed = pytest.importorskip("distributed")
    ref, _ = on_disk
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        result = studies.run("vanishing", scheduler=client, **SMALL)
        assert client.status == "running"            # a client given by the caller stays open
    assert result.meta["config"]["scheduler"].startswith("<Client")
    pd.testing.assert_frame_equal(result.results, pd.read_csv(ref / schema.RESULTS_FILE))
