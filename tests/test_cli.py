"""The rnnprobe command line: every command, every bad argument, resuming, parallel runs."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

import rnnprobe
from rnnprobe import studies
from rnnprobe import cli
from rnnprobe.cli import main

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
QUICK = ["--quick", "--jobs", "1", "--no-report"]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)


def table(path):
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


@pytest.fixture(scope="module")
def quick_vanishing(tmp_path_factory):
    out = tmp_path_factory.mktemp("quick") / "vanishing"
    result = invoke("study", "vanishing", *QUICK, "--out", out)
    assert result.exit_code == 0, result.output
    return out, result


# ------------------------------------------------------------------ startup and listing
def test_cli_import_does_not_import_torch():
    code = ("import sys, rnnprobe.cli\nfrom click.testing import CliRunner\n"
            "r = CliRunner().invoke(rnnprobe.cli.main, ['--help'])\nassert r.exit_code == 0\n"
            "r = CliRunner().invoke(rnnprobe.cli.main, ['studies'])\nassert 'vanishing' in r.output\n"
            "print(sorted(m for m in ('torch', 'pandas', 'matplotlib', 'seaborn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_python_m_rnnprobe_help_is_fast():
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "rnnprobe", "--help"], env=ENV, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    assert out.returncode == 0 and "study" in out.stdout and "probe" in out.stdout
    assert elapsed < 5      # measured about 0.3 s; importing torch alone takes about 2 s (loose: shared CI)


@pytest.mark.parametrize("args", [["--help"], ["study", "--help"], ["probe", "--help"], ["studies", "--help"],
                                  ["--version"]])
def test_help_pages(args):
    result = invoke(*args)
    assert result.exit_code == 0
    assert ("Usage:" in result.output) or ("rnnprobe, version" in result.output)


@pytest.mark.parametrize("args", [["studies"], ["study", "--list"], ["study", "vanishing", "--list"]])
def test_listing(args):
    result = invoke(*args)
    assert result.exit_code == 0
    for name, question in studies.available().items():
        assert f"{name}  " in result.output and question in result.output


# ------------------------------------------------------------------ bad arguments
BAD_STUDY_ARGS = [
    (["study", "vanishng"], "unknown study 'vanishng'", "did you mean 'vanishing'"),
    (["study"], "Missing argument 'NAME'", "depth, memory, theory, training, vanishing"),
    (["study", "vanishing", "--arch", ""], "--arch", "at least one value"),
    (["study", "vanishing", "--lengths", "10,-5"], "--lengths", ">= 1; got -5"),
    (["study", "vanishing", "--lengths", "0"], "--lengths", ">= 1; got 0"),
    (["study", "vanishing", "--lengths", "10,abc"], "--lengths", "'abc' is not an integer"),
    (["study", "vanishing", "--lengths", "10,,20"], "--lengths", "empty item"),
    (["study", "vanishing", "--arch", "lstm,grru"], "--arch", "did you mean 'gru'"),
    (["study", "vanishing", "--arch", "mlp"], "--arch", "got 'mlp'"),
    (["study", "vanishing", "--gains", "-1"], "--gains", ">= 0"),
    (["study", "vanishing", "--gains", "nan"], "--gains", "finite"),
    (["study", "vanishing", "--gains", "1,1"], "--gains", "twice"),
    (["study", "vanishing", "--depths", "4"], "--depths", "does not apply to study 'vanishing'"),
    (["study", "depth", "--depths", "-2"], "--depths", ">= 1"),
    (["study", "vanishing", "--hidden", "0"], "--hidden", "0 is not in the range x>=1"),
    (["study", "vanishing", "--seeds", "0"], "--seeds", "0 is not in the range x>=1"),
    (["study", "vanishing", "--jobs", "0"], "--jobs", "0 is not in the range x>=1"),
    (["study", "vanishing", "--dtype", "float16"], "--dtype", "'float16' is not one of"),
    (["study", "vanishing", "--device", "tpu"], "--device", "'tpu' is not one of"),
    (["study", "vanishing", "--set", "forget_bias=1"], "--set", "axis 'forget_bias' does not apply"),
    (["study", "memory", "--set", "forget_bias"], "--set", "expected AXIS=V1,V2"),
    (["study", "memory", "--set", "forget_bias=a"], "--set", "'a' is not a number"),
    (["study", "memory", "--set", "chrono=2"], "--set", "chrono values must be >= 3"),
    (["study", "memory", "--set", "gain=1"], "--set", "use --gains"),
    (["study", "memory", "--set", "chrono=5", "--set", "chrono=6"], "--set", "set twice"),
    (["study", "memory", "--arch", "lstm", "--set", "forget_bias=", "--set", "chrono="], "grid", "is empty"),
]


@pytest.mark.parametrize("args, fragment, detail", BAD_STUDY_ARGS, ids=[" ".join(a[0][1:]) or "none" for a in BAD_STUDY_ARGS])
def test_bad_study_arguments(tmp_path, args, fragment, detail):
    out = tmp_path / "out"
    result = invoke(*args, "--out", out, "--no-report")
    assert result.exit_code == 2, result.output
    assert fragment in result.output and detail in result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert not out.exists()


def test_cuda_unavailable_is_a_usage_error(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    result = invoke("study", "vanishing", "--quick", "--device", "cuda", "--out", tmp_path / "o")
    assert result.exit_code == 2 and "--device" in result.output and "cuda" in result.output
    assert not (tmp_path / "o").exists()


def test_unwritable_output_dirs(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = invoke("study", "vanishing", *QUICK, "--out", blocker / "sub")
    assert result.exit_code == 2 and "is not a directory" in result.output and "--out" in result.output
    result = invoke("study", "vanishing", *QUICK, "--out", blocker)
    assert result.exit_code == 2 and "is a file" in result.output
    assert blocker.read_text() == "x" and sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]
    if os.geteuid() != 0:   # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        result = invoke("study", "vanishing", *QUICK, "--out", locked / "run")
        assert result.exit_code == 2 and "not a writable directory" in result.output
        assert list(locked.iterdir()) == []


def test_foreign_points_directory_is_refused(tmp_path):
    points = tmp_path / "o" / "points"
    points.mkdir(parents=True)
    (points / "notes.json").write_text('{"mine": true}')
    result = invoke("study", "vanishing", *QUICK, "--out", tmp_path / "o")
    assert result.exit_code == 2 and "not a readable rnnprobe run" in result.output and "Traceback" not in result.output
    assert sorted(p.name for p in points.iterdir()) == ["notes.json"] and not (tmp_path / "o" / "results.csv").exists()


def test_unreachable_scheduler(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr(studies._run, "SCHEDULER_TIMEOUT", "1s")
    result = invoke("study", "vanishing", *QUICK, "--scheduler", "tcp://127.0.0.1:9", "--out", tmp_path / "o")
    assert result.exit_code == 2 and "cannot connect to the Dask scheduler" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "o").exists()


# ------------------------------------------------------------------ running studies
def test_quick_vanishing_outputs_follow_the_schema(quick_vanishing):
    out, result = quick_vanishing
    assert "8 points (8 computed, 0 resumed)" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["meta.json", "points", "results.csv", "summary.csv"]
    study = studies.load("vanishing")
    res = pd.read_csv(out / "results.csv")
    summ = pd.read_csv(out / "summary.csv")
    assert tuple(res.columns) == study.result_columns()
    assert tuple(summ.columns) == study.summary_columns()
    assert list(res.columns[:7]) == ["study", "arch", "hidden", "length", "depth", "gain", "seed"]
    assert list(res.columns[-6:]) == ["metric", "lag", "layer", "index", "block", "value"]
    assert len(summ) == 8 and summ.point_id.is_unique and set(res.point_id) == set(summ.point_id)
    assert res.depth.isna().all() and summ.memory_capacity.isna().all()
    # one row per point x lag x metric for the per-lag metrics
    G = res[res.metric == "jacobian_norm"]
    assert len(G) == summ.length.sum() and (G.groupby("point_id").lag.max() == G.groupby("point_id").length.max()).all()
    assert set(res.metric) == {"jacobian_norm", "gradient_norm", "bound_jacobian", "bound_product", "bound_weight",
                               "weight_singular_value", "lyapunov_exponent", "clv_angle"}
    assert res[res.metric == "weight_singular_value"].block.notna().all()
    assert summ.bound_holds.all() and set(summ.pascanu) <= {"vanishing", "inconclusive", "not applicable"}
    meta = json.loads((out / "meta.json").read_text())
    for key in ("study", "created", "grid", "config", "seeds", "versions", "host", "timings", "n_points", "columns"):
        assert key in meta
    assert meta["n_points"] == 8 and meta["seeds"] == [0] and meta["grid"]["gain"] == [0.5, 1.5]
    assert set(meta["timings"]) >= {"total_s", "points"} and set(meta["timings"]["points"]) == set(summ.point_id)
    assert {"hostname", "platform", "cpu_count"} <= set(meta["host"])
    assert {"python", "torch", "numpy", "scipy", "pandas", "rnnprobe"} <= set(meta["versions"])
    assert set(meta["columns"]["results.csv"]) == set(res.columns)
    assert meta["config"]["quick"] is True and meta["config"]["jobs"] == 1


def test_tables_read_back_exactly(quick_vanishing):
    out, _ = quick_vanishing
    records = {json.loads(p.read_text())["key"]: json.loads(p.read_text())["record"]
               for p in (out / "points").glob("vanishing*.json")}
    res = pd.read_csv(out / "results.csv")
    for pid, rec in records.items():
        values = res[res.point_id == pid].value.tolist()
        assert values == [row[-1] for row in rec["rows"]]       # bit-exact through CSV


@pytest.mark.parametrize("name, metrics, extra", [
    ("depth", {"jacobian_norm", "gradient_norm", "jacobian_singular_value"}, ["log_sv_mean", "log_sv_std"]),
    ("memory", {"jacobian_norm", "memory_capacity_lag", "weight_singular_value", "lyapunov_exponent"},
     ["memory_capacity", "memory_efold"]),
])
def test_quick_depth_and_memory(tmp_path, name, metrics, extra):
    out = tmp_path / name
    result = invoke("study", name, *QUICK, "--out", out)
    assert result.exit_code == 0, result.output
    res, summ = pd.read_csv(out / "results.csv"), pd.read_csv(out / "summary.csv")
    assert set(res.metric) == metrics
    assert summ[extra].notna().all().all()
    assert len(summ) == len(studies.load(name).points(studies.load(name).resolve(quick=True)))
    if name == "depth":
        assert res[res.metric == "jacobian_norm"].layer.notna().all() and res.lag.isna().all()
        assert summ.loc[summ.arch != "stacked-rnn", "length"].isna().all()
    else:
        assert {"forget_bias", "update_bias", "chrono", "init"} <= set(summ.columns)


def test_grid_options_override_the_grid(tmp_path):
    out = tmp_path / "o"
    result = invoke("study", "vanishing", *QUICK, "--arch", "gru-torch,residual", "--lengths", "7", "--gains", "0.9",
                    "--hidden", "3", "--seeds", "2", "--out", out)
    assert result.exit_code == 0, result.output
    summ = pd.read_csv(out / "summary.csv")
    assert sorted(set(summ.arch)) == ["gru-torch", "residual"] and set(summ.length) == {7}
    assert set(summ.gain) == {0.9} and set(summ.hidden) == {3} and set(summ.seed) == {0, 1} and len(summ) == 4
    result = invoke("study", "memory", *QUICK, "--arch", "lstm", "--set", "forget_bias=0,3", "--set", "chrono=",
                    "--out", tmp_path / "m")
    assert result.exit_code == 0, result.output
    assert sorted(pd.read_csv(tmp_path / "m" / "summary.csv").forget_bias) == [0.0, 3.0]


def test_same_seeds_same_numbers_and_rerun_resumes(tmp_path, quick_vanishing):
    ref, _ = quick_vanishing
    out = tmp_path / "again"
    assert invoke("study", "vanishing", *QUICK, "--out", out).exit_code == 0
    assert (out / "results.csv").read_bytes() == (ref / "results.csv").read_bytes()
    assert (out / "summary.csv").read_bytes() == (ref / "summary.csv").read_bytes()
    before = (out / "summary.csv").read_bytes()
    result = invoke("study", "vanishing", *QUICK, "--out", out)
    assert result.exit_code == 0 and "(0 computed, 8 resumed)" in result.output
    assert (out / "summary.csv").read_bytes() == before


def test_rerun_with_other_arguments_is_refused_unless_forced(tmp_path):
    out = tmp_path / "o"
    assert invoke("study", "vanishing", *QUICK, "--out", out).exit_code == 0
    snapshot = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    result = invoke("study", "vanishing", *QUICK, "--gains", "0.7", "--out", out)
    assert result.exit_code == 2 and "different settings" in result.output and "grid.gain" in result.output
    assert "--force" in result.output and "Traceback" not in result.output
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == snapshot
    result = invoke("study", "vanishing", *QUICK, "--dtype", "float32", "--out", out)
    assert result.exit_code == 2 and "dtype" in result.output
    result = invoke("study", "vanishing", *QUICK, "--gains", "0.7", "--force", "--out", out)
    assert result.exit_code == 0 and "(4 computed, 0 resumed)" in result.output
    assert set(pd.read_csv(out / "summary.csv").gain) == {0.7}
    assert len(list((out / "points").glob("vanishing*.json"))) == 4


def test_parallel_and_dask_runs_give_identical_tables(tmp_path, quick_vanishing):
    distributed = pytest.importorskip("distributed")
    ref, _ = quick_vanishing
    result = invoke("study", "vanishing", "--quick", "--no-report", "--jobs", "2", "--out", tmp_path / "j2")
    assert result.exit_code == 0, result.output
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        result = invoke("study", "vanishing", *QUICK, "--scheduler", cluster.scheduler_address, "--out", tmp_path / "dk")
    assert result.exit_code == 0, result.output
    for run in ("j2", "dk"):
        assert (tmp_path / run / "results.csv").read_bytes() == (ref / "results.csv").read_bytes()
        assert (tmp_path / run / "summary.csv").read_bytes() == (ref / "summary.csv").read_bytes()


def test_kill_and_resume_loses_and_duplicates_nothing(tmp_path):
    args = ["study", "vanishing", "--quick", "--lengths", "10,30,60,120", "--seeds", "2", "--jobs", "1", "--no-report"]
    n_points = 2 * 4 * 2 * 2
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "rnnprobe", *args, "--out", str(out)], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    points = out / "points"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if points.is_dir() and len(list(points.glob("vanishing*.json"))) >= 3:
                break
            time.sleep(0.005)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    n_saved = len(list(points.glob("vanishing*.json")))
    assert 3 <= n_saved < n_points and not (out / "results.csv").exists()
    result = invoke(*args, "--out", out)
    assert result.exit_code == 0, result.output
    assert f"({n_points - n_saved} computed, {n_saved} resumed)" in result.output
    assert len(list(points.glob("vanishing*.json"))) == n_points
    assert not [p for p in out.rglob(".*") if p.name.endswith(".tmp")]
    reference = tmp_path / "uninterrupted"
    assert invoke(*args, "--out", reference).exit_code == 0
    assert (out / "results.csv").read_bytes() == (reference / "results.csv").read_bytes()
    assert (out / "summary.csv").read_bytes() == (reference / "summary.csv").read_bytes()
    summ = pd.read_csv(out / "summary.csv")
    assert len(summ) == n_points and summ.point_id.is_unique


def test_progress_bar_only_on_a_terminal(tmp_path, monkeypatch):
    result = invoke("study", "vanishing", *QUICK, "--arch", "gru", "--lengths", "5", "--gains", "1", "--out", tmp_path / "a")
    assert result.exit_code == 0 and "ETA" not in result.output and "vanishing  [" not in result.output
    monkeypatch.setattr(cli, "_progress_enabled", lambda: True)
    result = invoke("study", "vanishing", *QUICK, "--arch", "gru", "--lengths", "5", "--gains", "1", "--out", tmp_path / "b")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "b" / "summary.csv").exists()


# ------------------------------------------------------------------ the report hook
def test_report_hook(tmp_path, monkeypatch):
    from rnnprobe import reports

    calls = []
    monkeypatch.setattr(reports, "write_report", lambda out: calls.append(Path(out)) or Path(out) / "report.pdf",
                        raising=False)
    args = ["study", "vanishing", "--quick", "--jobs", "1", "--arch", "gru", "--lengths", "5", "--gains", "1"]
    result = invoke(*args, "--out", tmp_path / "a")
    assert result.exit_code == 0 and calls == [tmp_path / "a"] and "report:" in result.output
    assert invoke(*args, "--no-report", "--out", tmp_path / "b").exit_code == 0 and len(calls) == 1

    def broken(out):
        raise RuntimeError("no fonts")

    monkeypatch.setattr(reports, "write_report", broken)
    result = invoke(*args, "--out", tmp_path / "c")
    assert result.exit_code == 1 and "tables are written" in result.output and "no fonts" in result.output
    assert (tmp_path / "c" / "results.csv").exists() and "Traceback" not in result.output


def test_study_writes_its_report_and_report_command_rewrites_it(tmp_path, quick_vanishing):
    from pypdf import PdfReader

    args = ["study", "vanishing", "--quick", "--jobs", "1", "--arch", "vanilla-tanh,lstm", "--lengths", "20",
            "--gains", "0.5,1.5", "--seeds", "1"]
    result = invoke(*args, "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    pdf = tmp_path / "run" / "report.pdf"
    assert f"report: {pdf}" in result.output and pdf.exists()
    assert (tmp_path / "run" / "figures").is_dir() and any((tmp_path / "run" / "tables").glob("*.md"))
    # the report command on the --quick run of the module fixture, to another file
    out, _ = quick_vanishing
    result = invoke("report", out, "-o", tmp_path / "elsewhere" / "r.pdf", "--no-png", "--dpi", "60")
    assert result.exit_code == 0, result.output
    reader = PdfReader(tmp_path / "elsewhere" / "r.pdf")
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert len(reader.pages) >= 4 and "vanishing" in text and "Methods" in text
    assert not (tmp_path / "elsewhere" / "figures").exists()


@pytest.mark.parametrize("args, fragment", [
    (["report", "{tmp}/missing"], "RESULTS_DIR must be a study output directory"),
    (["report", "{tmp}"], "must contain results.csv or summary.csv"),
    (["report", "{tmp}", "--dpi", "5"], "'--dpi'"),
])
def test_bad_report_arguments(tmp_path, args, fragment):
    result = invoke(*[a.format(tmp=tmp_path) for a in args])
    assert result.exit_code == 2, result.output
    assert fragment in result.output and "Traceback" not in result.output
    assert not (tmp_path / "report.pdf").exists()


def test_failing_point_is_an_error_with_progress_kept(tmp_path, monkeypatch):
    module = studies.load("vanishing").module
    real = module.probe

    def flaky(point, **kw):
        if point["gain"] == 1.5:
            raise rnnprobe.RnnProbeError("numerical trouble")
        return real(point, **kw)

    monkeypatch.setattr(module, "probe", flaky)
    out = tmp_path / "o"
    result = invoke("study", "vanishing", *QUICK, "--out", out)
    assert result.exit_code == 1 and "numerical trouble" in result.output and "a rerun resumes" in result.output
    assert "Traceback" not in result.output and not (out / "results.csv").exists()
    assert 0 <= len(list((out / "points").glob("vanishing*.json"))) < 8


def test_interrupt_keeps_progress_and_says_how_to_resume(tmp_path, monkeypatch):
    module = studies.load("vanishing").module
    real = module.probe
    calls = []

    def interrupted(point, **kw):
        calls.append(point)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(point, **kw)

    monkeypatch.setattr(module, "probe", interrupted)
    out = tmp_path / "o"
    result = invoke("study", "vanishing", *QUICK, "--out", out)
    assert result.exit_code == 130 and "interrupted: 2 of 8 points are saved" in result.output
    assert "run the same command again to resume" in result.output and not (out / "results.csv").exists()
    monkeypatch.setattr(module, "probe", real)
    result = invoke("study", "vanishing", *QUICK, "--out", out)
    assert result.exit_code == 0 and "(6 computed, 2 resumed)" in result.output


def test_float32_run(tmp_path):
    result = invoke("study", "vanishing", *QUICK, "--dtype", "float32", "--out", tmp_path / "f32")
    assert result.exit_code == 0, result.output
    summ = pd.read_csv(tmp_path / "f32" / "summary.csv")
    assert summ.bound_holds.all() and len(summ) == 8
    assert json.loads((tmp_path / "f32" / "meta.json").read_text())["config"]["dtype"] == "float32"


# ------------------------------------------------------------------ probe
def test_probe_builtin_table_and_json():
    result = invoke("probe", "vanilla-tanh", "--gain", "0.5", "--hidden", "6", "--length", "50")
    assert result.exit_code == 0, result.output
    for label in ("memory length", "sigma_max(W_h)", "Pascanu verdict", "top Lyapunov exp."):
        assert label in result.output
    assert "vanishing" in result.output
    result = invoke("probe", "vanilla-tanh", "--gain", "0.5", "--hidden", "6", "--length", "50", "--json")
    data = json.loads(result.stdout)
    model = rnnprobe.build("vanilla-tanh", 6, 1, gain=0.5, init="orthogonal", seed=0)
    from rnnprobe.studies._probes import sequence

    mem = rnnprobe.memory_length(rnnprobe.record(model, sequence(0, 50, 1)), eps=0.01)
    assert data["memory_threshold"] == mem.threshold and data["lyapunov_exponent"] == mem.lyapunov_exponent
    assert data["sigma_max"] == pytest.approx(0.5) and data["pascanu"] == "vanishing"
    result = invoke("probe", "residual", "--gain", "0", "--length", "20", "--json")
    assert json.loads(result.stdout)["memory_efold"] == "inf"      # strict JSON: non-finite as strings


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(3, 5, num_layers=2)
    spec = {"module": "LSTM", "kwargs": {"input_size": 3, "hidden_size": 5, "num_layers": 2}}
    torch.save({"spec": spec, "state_dict": lstm.state_dict()}, d / "checkpoint.pt")
    torch.save(lstm.state_dict(), d / "state.pt")
    (d / "spec.json").write_text(json.dumps(spec))
    torch.save(lstm, d / "pickled.pt")
    (d / "garbage.pt").write_bytes(b"definitely not a torch file")
    gru = rnnprobe.build("gru", 4, 2, seed=1, update_bias=1.0)
    torch.save({"spec": {"arch": "gru", "hidden_size": 4, "input_size": 2}, "state_dict": gru.state_dict()},
               d / "rnnprobe-gru.pt")
    (d / "bad-spec.json").write_text(json.dumps({"module": "Transformer", "kwargs": {}}))
    return d, lstm, gru


def test_probe_saved_models(saved_models):
    d, lstm, gru = saved_models
    expected = rnnprobe.weight_spectrum(rnnprobe.adapt(lstm, 1)).sigma_max
    for args in (["--model", d / "checkpoint.pt", "--layer", "1"],
                 ["--model", d / "state.pt", "--spec", d / "spec.json", "--layer", "1"],
                 ["--model", d / "pickled.pt", "--trust-pickle", "--layer", "1"]):
        result = invoke("probe", *args, "--json")
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert data["sigma_max"] == pytest.approx(expected, rel=1e-12) and data["state_size"] == 10
    data = json.loads(invoke("probe", "--model", d / "rnnprobe-gru.pt", "--json").stdout)
    assert data["name"] == "gru" and data["sigma_max"] == pytest.approx(rnnprobe.weight_spectrum(gru).sigma_max)


BAD_PROBE_ARGS = [
    (["probe"], "either ARCH", "neither"),
    (["probe", "lstm", "--model", "{d}/checkpoint.pt"], "either ARCH", "both"),
    (["probe", "lsmt"], "unknown architecture 'lsmt'", "did you mean 'lstm'"),
    (["probe", "mlp"], "feed-forward", "rnnprobe study depth"),
    (["probe", "lstm", "--length", "1"], "--length", "1 is not in the range x>=2"),
    (["probe", "lstm", "--eps", "1.5"], "--eps", "0<x<1"),
    (["probe", "lstm", "--spec", "{d}/spec.json"], "--spec", "applies to --model only"),
    (["probe", "--model", "{d}/checkpoint.pt", "--hidden", "3"], "--hidden", "built-in ARCH only"),
    (["probe", "--model", "{d}/missing.pt"], "--model", "does not exist"),
    (["probe", "--model", "{d}/pickled.pt"], "pickled Python objects", "--trust-pickle"),
    (["probe", "--model", "{d}/garbage.pt"], "--model", "not a file torch.load"),
    (["probe", "--model", "{d}/garbage.pt", "--trust-pickle"], "--model", "not a file torch.load"),
    (["probe", "--model", "{d}/state.pt"], "bare state_dict", "--spec"),
    (["probe", "--model", "{d}/state.pt", "--spec", "{d}/bad-spec.json"], "--spec", "must be one of RNN, GRU"),
    (["probe", "--model", "{d}/checkpoint.pt", "--layer", "4"], "--model", "layer must be <= 1"),
]


@pytest.mark.parametrize("args, fragment, detail", BAD_PROBE_ARGS, ids=range(len(BAD_PROBE_ARGS)))
def test_bad_probe_arguments(saved_models, args, fragment, detail):
    d = saved_models[0]
    before = sorted(p.name for p in d.iterdir())
    result = invoke(*[a.format(d=d) for a in args])
    assert result.exit_code == 2, result.output
    assert fragment in result.output and detail in result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert sorted(p.name for p in d.iterdir()) == before
