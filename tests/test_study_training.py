"""The training study: its quick run, its numbers against direct probes of its checkpoints, resuming, the CLI,
the report's pages, bad grid values; and the engine features it uses (per-row columns, side tables, work dirs)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

import rnnprobe
from rnnprobe import schema, studies
from rnnprobe.cli import main
from tests.report_fixtures import layout_problems_of_the_report

ROOT = Path(__file__).resolve().parents[1]
#: one GRU run of 6 steps at hidden 4 on 3000 characters (about a second)
TINY = dict(quick=True, jobs=1, arch=["gru"], hidden=4, length=[10], train_steps=[6], chars=[3000])


def files(directory: Path) -> dict:
    return {p.relative_to(directory): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """The study's whole --quick grid, written to disk (4 runs, a few seconds)."""
    out = tmp_path_factory.mktemp("training") / "run"
    return out, studies.run("training", out=out, quick=True, jobs=1)


# ------------------------------------------------------------------ the grid
def test_default_and_quick_grids_are_the_four_runs_of_the_issue():
    study = studies.load("training")
    for quick in (False, True):
        points = study.points(study.resolve(quick=quick))
        runs = [(p["arch"], p["floss"]) for p in points]
        assert runs == [("vanilla-tanh", 0), ("vanilla-tanh", study.resolve(quick=quick)["floss"][1]), ("gru", None),
                        ("lstm", None)]
    default = study.points(study.resolve())[0]
    assert (default["hidden"], default["length"], default["train_steps"], default["chars"]) == (128, 200, 2000, 300_000)
    # the longest runs start first: the flossed vanilla RNN and the LSTM
    order = sorted(study.points(study.resolve()), key=lambda p: -study.cost(p))
    assert {(p["arch"], p["floss"]) for p in order[:2]} == {("lstm", None), ("vanilla-tanh", 4)}


def test_flossing_applies_to_vanilla_cores_only():
    study = studies.load("training")
    points = study.points(study.resolve({"arch": ["vanilla-relu", "gru", "residual"], "floss": [0, 2, 8]}))
    assert [(p["arch"], p["floss"]) for p in points] == [("vanilla-relu", 0), ("vanilla-relu", 2), ("vanilla-relu", 8),
                                                         ("gru", None), ("residual", None)]


BAD_GRIDS = [
    (dict(floss=[-1]), "floss", "floss values must be >= 0; got -1"),
    (dict(train_steps=[0]), "train_steps", "train_steps values must be >= 1; got 0"),
    (dict(train_steps=[2.5]), "train_steps", "train_steps values must be integers; got 2.5"),
    (dict(chars=[500]), "chars", "chars values must be >= 2500; got 500"),
    (dict(length=[400], chars=[3000]), "length", "length values must be at most the 300 validation characters"),
    (dict(arch=["nn.GRU"]), "arch", "arch must be one of .*; got 'nn.GRU'"),
    (dict(arch=["lstmm"]), "arch", "got 'lstmm' \\(did you mean 'lstm'\\?\\)"),
    (dict(init=["uniform"]), "init", "init must be one of gaussian, orthogonal, spectral; got 'uniform'"),
    (dict(length=[1]), "length", "length values must be >= 2 for study 'training'.*; got 1"),
    (dict(hidden=[0]), "hidden", "hidden values must be >= 1; got 0"),
    (dict(steps=[10]), "steps", "axis 'steps' does not apply to study 'training'.*did you mean 'train_steps'"),
    (dict(device="cuda"), "device", "device must be 'cpu' for study 'training'; got 'cuda'"),
]


@pytest.mark.parametrize("kwargs, parameter, message", BAD_GRIDS, ids=[str(c[0]) for c in BAD_GRIDS])
def test_bad_grid_values_raise_before_anything_runs(tmp_path, kwargs, parameter, message):
    with pytest.raises(rnnprobe.InvalidArgument, match=message) as info:
        studies.run("training", out=tmp_path / "o", **{**TINY, **kwargs})
    assert isinstance(info.value, studies.StudyArgumentError) and info.value.parameter == parameter
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------ the quick run
def test_quick_run_tables(quick):
    out, result = quick
    study = studies.load("training")
    R, S, samples = result.results, result.summary, result.tables["samples"]
    assert len(S) == 4 and tuple(R.columns) == study.result_columns() and tuple(S.columns) == study.summary_columns()
    assert tuple(R.columns[-7:]) == ("metric", "lag", "layer", "index", "block", "step", "value")
    assert set(R["metric"]) <= set(study.metrics) and {"val_bits_per_char", "jacobian_norm", "lyapunov_exponent",
                                                       "memory_threshold", "sigma_max", "train_loss"} <= set(R["metric"])
    assert R["value"].notna().all()
    # 20 steps, a checkpoint every step: 21 probes (0 … 20) per run, each with G(k) at every lag k = 1 … 20
    for _, run in R.groupby("point_id"):
        G = run[run["metric"] == "jacobian_norm"]
        assert sorted(G["step"].unique()) == list(range(21)) and (G.groupby("step")["lag"].apply(sorted)
                                                                  == [list(range(1, 21))] * 21).all()
    # one 300-character sample per run and probed step, in samples.csv as in memory, verbatim
    assert tuple(samples.columns) == study.table_columns("samples") and len(samples) == 4 * 21
    assert (samples["text"].str.len() == 300).all() and (samples["temperature"] == 0.8).all()
    assert (samples["prime"] == "\n").all()
    on_disk = pd.read_csv(out / "samples.csv", keep_default_na=False)
    assert on_disk["text"].tolist() == samples["text"].tolist()
    assert result.meta["tables"] == {"samples": "samples.csv"} and "samples.csv" in result.meta["columns"]
    # the summary is the rows at the last step
    for _, s in S.iterrows():
        run = R[(R["point_id"] == s["point_id"]) & (R["step"] == 20)]
        assert s["val_bits_per_char"] == run[run["metric"] == "val_bits_per_char"]["value"].item()
        assert s["memory_threshold"] == run[run["metric"] == "memory_threshold"]["value"].item()
        lam = run[(run["metric"] == "lyapunov_exponent") & (run["index"] == 0)]["value"].item()
        assert s["lyapunov_exponent"] == lam and s["lyapunov_time"] == pytest.approx(-1 / lam)
        assert s["sigma_max"] == run[run["metric"] == "sigma_max"]["value"].max()
        G = run[run["metric"] == "jacobian_norm"]
        passing = G[G["value"] >= 0.01]["lag"]
        assert s["memory_threshold"] == (passing.max() if len(passing) else 0)
        assert s["memory_threshold_censored"] == (s["memory_threshold"] >= 20)
    # a checkpoint and the rows of each run stay in its work directory
    work = sorted(p.name for p in (out / schema.WORK_DIR).iterdir())
    assert work == sorted(Path(schema.point_file_name(pid)).stem for pid in S["point_id"])


def test_flossing_moves_the_top_exponents_towards_zero(quick):
    """The flossed run's λ₁ ends closer to 0 than the same core trained without flossing (same seed and data)."""
    _, result = quick
    S = result.summary.set_index(result.summary["floss"].fillna(-1).astype(int))
    assert abs(S.loc[2, "lyapunov_exponent"]) < abs(S.loc[0, "lyapunov_exponent"])
    assert S.loc[2, "val_bits_per_char_initial"] == S.loc[0, "val_bits_per_char_initial"]   # the same initialisation


def test_numbers_equal_direct_probes_of_the_final_checkpoint(tmp_path):
    """G(k), λ₁, σ_max, bits/char and the sample at the last step, recomputed from the checkpoint the run left."""
    from rnnprobe.lyapunov import default_burn_in
    from rnnprobe.sequence import evaluate, load_checkpoint, load_corpus, sample

    result = studies.run("training", out=tmp_path / "o", **TINY)
    pid = result.summary["point_id"].item()
    workdir = tmp_path / "o" / schema.WORK_DIR / Path(schema.point_file_name(pid)).stem
    model, vocab, training = load_checkpoint(workdir / "model.pt")
    assert training["step"] == 6 and training["finished"]
    corpus = load_corpus(max_chars=3000)
    R = result.results
    last = R[R["step"] == 6]
    # G(k) by autograd through the unrolled core, in float64, on the first 10 validation characters
    core, x = model.probe_core(corpus.val[:10])
    states = [torch.zeros(1, core.state_size, dtype=torch.float64)]
    for t in range(10):
        states.append(core.step(x[t : t + 1], states[-1], t))

    def unrolled(start, k):
        s = start
        for t in range(10 - k, 10):
            s = core.step(x[t : t + 1], s, t)
        return s

    G = last[last["metric"] == "jacobian_norm"].set_index("lag")["value"]
    for k in (1, 4, 10):
        J = torch.autograd.functional.jacobian(lambda s: unrolled(s, k)[0], states[10 - k])[:, 0]
        assert G[k] == pytest.approx(torch.linalg.matrix_norm(J, ord=2).item(), rel=1e-9)
    # σ_max of U_r, U_z, U: the largest singular value of the three blocks of the GRU's W_hh
    W = model.core[0].weight_hh.detach().double()
    sigma = max(torch.linalg.svdvals(block)[0].item() for block in W.reshape(3, 4, 4))
    assert result.summary["sigma_max"].item() == pytest.approx(sigma, rel=1e-12)
    # λ₁ along the same trajectory, and the validation bits/char and the sample from the checkpoint itself
    traj = rnnprobe.record(core, x)
    lam = rnnprobe.trajectory_lyapunov_spectrum(traj, 4, burn_in=default_burn_in(10))
    assert result.summary["lyapunov_exponent"].item() == pytest.approx(lam[0].item(), rel=1e-12)
    bits = evaluate(model, corpus.val[:20_000], batch_size=32, bptt=64)
    assert result.summary["val_bits_per_char"].item() == pytest.approx(bits, rel=1e-12)
    samples = result.tables["samples"]
    text = samples[samples["step"] == 6]["text"].item()
    assert text == sample(model, vocab, 300, temperature=0.8, seed=0, prime="\n")


# ------------------------------------------------------------------ resuming from a checkpoint
def test_a_killed_run_resumes_from_the_last_checkpoint(tmp_path, monkeypatch):
    """Killed mid-run (Ctrl-C at step 12 of 40), the rerun restarts from the checkpoint at step 12, not from step 0,
    and writes the same tables as an uninterrupted run."""
    import rnnprobe.sequence as sequence
    from rnnprobe.studies import training as study_module

    grid = {**TINY, "train_steps": [40]}                         # a checkpoint (and a sample) every 2 steps
    reference = studies.run("training", out=tmp_path / "ref", **grid)

    calls = {"n": 0}
    write = study_module._atomic_json

    def killed_at_the_seventh_sample(path, data):
        calls["n"] += 1
        if calls["n"] == 7:                                      # the sample of step 12: checkpoint 12 is written
            raise KeyboardInterrupt
        write(path, data)

    monkeypatch.setattr(study_module, "_atomic_json", killed_at_the_seventh_sample)
    with pytest.raises(studies.RunInterrupted, match="0 of 1 points are saved"):
        studies.run("training", out=tmp_path / "o", **grid)
    monkeypatch.setattr(study_module, "_atomic_json", write)
    work = next((tmp_path / "o" / schema.WORK_DIR).iterdir())
    assert torch.load(work / "model.pt", weights_only=True)["training"]["step"] == 12

    resumed_from = []
    train = sequence.train

    def recording_train(*args, **kwargs):
        result = train(*args, **kwargs)
        resumed_from.append(result.resumed_from)
        return result

    monkeypatch.setattr(sequence, "train", recording_train)
    again = studies.run("training", out=tmp_path / "o", **grid)
    assert resumed_from == [12] and again.meta["timings"]["computed"] == 1
    for name in (schema.RESULTS_FILE, schema.SUMMARY_FILE, "samples.csv"):
        assert (tmp_path / "o" / name).read_bytes() == (tmp_path / "ref" / name).read_bytes()
    pd.testing.assert_frame_equal(again.summary, reference.summary)


def test_force_discards_the_work_directories(tmp_path):
    studies.run("training", out=tmp_path / "o", **TINY)
    assert (tmp_path / "o" / schema.WORK_DIR).is_dir()
    with pytest.raises(studies.StudyArgumentError, match="different settings"):
        studies.run("training", out=tmp_path / "o", **{**TINY, "train_steps": [4]})
    result = studies.run("training", out=tmp_path / "o", force=True, **{**TINY, "train_steps": [4]})
    work = list((tmp_path / "o" / schema.WORK_DIR).iterdir())
    assert len(work) == 1 and "train_steps=4" in work[0].name and result.meta["timings"]["computed"] == 1


# ------------------------------------------------------------------ the command line and the report
def test_cli_quick_run_writes_tables_samples_and_report(tmp_path):
    from pypdf import PdfReader

    out = tmp_path / "cli"
    args = ["study", "training", "--quick", "--out", str(out), "--jobs", "1", "--arch", "vanilla-tanh,gru",
            "--hidden", "4", "--lengths", "10", "--set", "train_steps=4", "--set", "chars=3000"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "training: 3 points (3 computed, 0 resumed)" in res.output and "samples.csv" in res.output
    for name in ("results.csv", "summary.csv", "samples.csv", "meta.json", "report.pdf"):
        assert (out / name).is_file()
    text = "\n".join(page.extract_text() for page in PdfReader(out / "report.pdf").pages)
    for title in ("Table 1: The training runs", "Figure 1: Loss curves", "Figure 2: Gradient decay at initialisation",
                  "Figure 3: Memory length and", "Figure 4:", "Text samples: vanilla-tanh and vanilla-tanh flossed",
                  "Text samples: gru", "Methods", "Gradient flossing (Engelken 2023)"):
        assert title in text, title
    summary = pd.read_csv(out / "summary.csv").set_index("arch")
    # the loss-curve caption states the bits/char it measured, read off the same tables
    gru = summary.loc["gru"]
    assert f"gru {gru['val_bits_per_char_initial']:.3g} → {gru['val_bits_per_char']:.3g}" in text.replace("\n", " ")
    for name in ("loss_curves", "gradient_profiles", "memory_lyapunov", "weight_norms", "samples_1", "samples_2"):
        assert (out / "figures" / f"{name}.png").is_file()
    # the same command again resumes everything; a bad --set value is a usage error naming the option
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and "(0 computed, 3 resumed)" in again.output
    bad = CliRunner().invoke(main, ["study", "training", "--quick", "--set", "floss=-2", "--out", str(tmp_path / "b")])
    assert bad.exit_code == 2 and "floss values must be >= 0; got -2" in bad.output and "Traceback" not in bad.output
    assert not (tmp_path / "b").exists()


def test_report_from_memory_has_every_page(tmp_path, quick):
    from pypdf import PdfReader

    _, result = quick
    pdf = result.report(tmp_path / "r.pdf")
    pages = [p.extract_text() for p in PdfReader(pdf).pages]
    assert any(p.startswith("Figure 2: Gradient decay") or "Figure 2: Gradient decay" in p for p in pages)
    samples_pages = [p for p in pages if "Text samples:" in p and "initialisation, step 0" in p]
    assert len(samples_pages) == 2
    # the end sample of the LSTM, as drawn (its first line), is on the page
    s = result.tables["samples"]
    end = s[(s["arch"] == "lstm") & (s["step"] == 20)]["text"].item()
    first_line = next(line for line in end.split("\n") if line.strip())[:40].replace("\t", "    ")
    if first_line.isprintable():
        assert first_line.strip() in "".join(samples_pages).replace("\n", "")


# ------------------------------------------------------------------ the engine features, on a toy study
TOY = '''"""Does the engine keep per-row columns, text tables and work directories?"""
from pathlib import Path
ARCHS = ("vanilla-linear",)
GRID = {"arch": ["vanilla-linear"], "seed": [0, 1]}
QUICK = GRID
WORKDIR = True
EXTRA_ROW_COLUMNS = {"step": "a step"}
TABLES = {"samples": {"step": "a step", "temperature": "t", "prime": "p", "text": "text"}}
TEXTS = ["NA", "", "a, \\"quoted\\"\\nline", "nan"]

def probe(point, *, dtype, device, workdir):
    marker = Path(workdir) / "runs"
    runs = int(marker.read_text()) + 1 if marker.exists() else 1
    marker.write_text(str(runs))
    if point["seed"] == 1 and runs == 1 and (Path(workdir).parent.parent / "fail-once").exists():
        raise KeyboardInterrupt
    rows = [("jacobian_norm", 1, None, None, None, s, 0.5 * s) for s in (0, 10)]
    return rows, {"sigma_max": float(runs)}, {"samples": [(i, 1.0, "x", t) for i, t in enumerate(TEXTS)]}
'''


@pytest.fixture
def toy(tmp_path, monkeypatch):
    pkg = tmp_path / "studies"
    pkg.mkdir()
    for f in (ROOT / "studies").glob("*.py"):
        (pkg / f.name).write_text(f.read_text())
    (pkg / "toy.py").write_text(TOY)
    monkeypatch.setattr(studies, "_package_dir", lambda: pkg)
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib
    import sys

    spec = importlib.util.spec_from_file_location("rnnprobe.studies.toy", pkg / "toy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, "rnnprobe.studies.toy", module)
    return module


def test_engine_keeps_row_columns_text_tables_and_work_directories(tmp_path, toy):
    out = tmp_path / "o"
    (tmp_path / "o").mkdir()
    (out / "fail-once").write_text("")
    with pytest.raises(studies.RunInterrupted):
        studies.run("toy", out=out, jobs=1)
    result = studies.run("toy", out=out, jobs=1)
    R = pd.read_csv(out / "results.csv")
    assert list(R.columns[-7:]) == ["metric", "lag", "layer", "index", "block", "step", "value"]
    assert R["step"].tolist() == [0, 10, 0, 10] and R["value"].tolist() == [0.0, 5.0, 0.0, 5.0]
    # text cells come back verbatim ('NA', '', 'nan' stay text), from the file and in memory
    samples = result.tables["samples"]
    assert samples["text"].tolist() == toy.TEXTS * 2 and samples["step"].tolist() == [0, 1, 2, 3] * 2
    from rnnprobe.reports import load_study

    assert load_study(out).tables["samples"]["text"].tolist() == toy.TEXTS * 2
    # each point kept its own work directory across the interruption: seed 1 ran twice there, seed 0 once
    runs = {p.name: (p / "runs").read_text() for p in (out / schema.WORK_DIR).iterdir()}
    assert runs == {"toy_arch=vanilla-linear,seed=0": "1", "toy_arch=vanilla-linear,seed=1": "2"}
    assert result.summary["sigma_max"].tolist() == [1.0, 2.0]
    # in memory, each point gets a temporary work directory, removed afterwards
    seen = []
    original = toy.probe

    def spy(point, **kwargs):
        seen.append(kwargs["workdir"])
        return original(point, **kwargs)

    toy.probe = spy
    try:
        studies.run("toy", jobs=1)
    finally:
        toy.probe = original
    assert len(seen) == 2 and not any(Path(w).exists() for w in seen)


def test_engine_checks_rows_and_tables_against_the_contract(toy, monkeypatch):
    monkeypatch.setattr(toy, "probe", lambda point, **kw: ([("jacobian_norm", 1, None, None, None, 0.5)], {}, {}))
    with pytest.raises(studies.PointFailed, match="a row of 6 fields; its rows have 7: metric, lag, layer, index, "
                                                  "block, step, value"):
        studies.run("toy", jobs=1)
    monkeypatch.setattr(toy, "probe", lambda point, **kw: ([], {}, {"other": []}))
    with pytest.raises(studies.PointFailed, match="tables outside its TABLES: \\['other'\\]"):
        studies.run("toy", jobs=1)
    monkeypatch.setattr(toy, "probe", lambda point, **kw: ([], {}, {"samples": [(0, "too short")]}))
    with pytest.raises(studies.PointFailed, match="a 'samples' row of 2 values; expected 4"):
        studies.run("toy", jobs=1)
    monkeypatch.setattr(toy, "probe", lambda point, **kw: ([], {}))
    with pytest.raises(studies.PointFailed, match="declares TABLES, so probe must return"):
        studies.run("toy", jobs=1)


def test_docs_list_the_training_study_and_its_tables():
    text = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    for name in (*schema.SAMPLE_COLUMNS, "samples.csv", "work/", *schema.TRAINING_METRICS, "train_steps", "floss",
                 "chars"):
        assert f"`{name}" in text, name
    study = studies.load("training")
    docs = json.loads(json.dumps(study.column_docs()))        # as meta.json holds them
    assert tuple(docs["samples.csv"]) == study.table_columns("samples")
    assert tuple(docs["results.csv"]) == study.result_columns() and docs["results.csv"]["step"].startswith("training")


def test_every_page_and_figure_of_the_quick_report_reads_cleanly(quick):
    out, result = quick
    assert layout_problems_of_the_report(result, out) == {}
