"""The attention study: its grid, its rows against autograd, a quick run in memory and through the CLI, its report."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from pypdf import PdfReader

from rnnprobe import analysis, studies
from rnnprobe.attention import SequenceTask, train_seq2seq
from rnnprobe.cli import main
from rnnprobe.linalg import start_vectors
from rnnprobe.reports import attention_pages
from rnnprobe.studies._runner import single_thread
from tests.report_fixtures import layout_problems_of_the_report

STUDY = studies.load("attention")
MODULE = STUDY.module
F64 = torch.float64


def squash(text: str) -> str:
    """Text without whitespace: line breaks from wrapping and PDF extraction do not matter."""
    return re.sub(r"\s+", "", text)


def point(**kw):
    p = dict(arch="gru", hidden=8, length=5, depth=None, gain=None, seed=1, model="dot", task="reverse", vocab=4,
             train_steps=3)
    p.update(kw)
    return p


def by_metric(rows):
    """{metric: {(s, t, example): value}} of a probe's rows."""
    out = {}
    for metric, lag, layer, index, block, s, t, example, value in rows:
        assert lag is None and layer is None and index is None and block is None
        out.setdefault(metric, {})[(s, t, example)] = value
    return out


def trained(p):
    """The model of point p, trained exactly as the probe trains it (same seeds, same thread count)."""
    task = SequenceTask(p["task"], p["vocab"], p["length"])
    model = MODULE.build_model(p)
    lr = MODULE.LEARNING_RATE["transformer" if p["model"] == "transformer" else "encoder-decoder"]
    train_seq2seq(model, task, p["train_steps"], seed=p["seed"], batch_size=MODULE.BATCH_SIZE, lr=lr)
    return model, task


@pytest.fixture(scope="module")
def quick():
    return studies.run("attention", quick=True, jobs=1)


# --------------------------------------------------------------------------------------------- grid
def test_default_grid_is_model_by_task_by_length_by_seed():
    points = STUDY.points(STUDY.resolve())
    assert len(points) == 4 * 2 * 4 * 2
    assert {p["model"] for p in points} == {"none", "dot", "dot-nofeedback", "transformer"}
    assert {p["task"] for p in points} == {"copy", "reverse"} and {p["length"] for p in points} == {5, 10, 20, 40}
    assert all((p["arch"] is None) == (p["model"] == "transformer") for p in points)
    assert all(p["gain"] is None and p["depth"] is None for p in points)
    ids = [STUDY.point_id(p) for p in points]
    assert len(set(ids)) == len(ids)
    assert "attention:hidden=32,length=5,seed=0,model=transformer,task=copy,vocab=8,train_steps=600" in ids
    assert STUDY.row_columns == ("metric", "lag", "layer", "index", "block", "target_position", "source_position",
                                 "example", "value")


BAD_GRIDS = [
    ({"model": ["attn"]}, "model", "'attn'"),
    ({"task": ["sort"]}, "task", "'sort'"),
    ({"vocab": [1]}, "vocab", ">= 2"),
    ({"train_steps": [0]}, "train_steps", ">= 1"),
    ({"length": [0]}, "length", ">= 1"),
    ({"arch": ["mlp"]}, "arch", "'mlp'"),
    ({"hidden": [6]}, "hidden", "divisible by the transformer's 4 heads"),
    ({"gain": [1.0]}, "gain", "does not apply"),
]


@pytest.mark.parametrize("grid, axis, message", BAD_GRIDS, ids=[g[1] for g in BAD_GRIDS])
def test_bad_grid_values_raise_before_anything_runs(grid, axis, message, tmp_path):
    with pytest.raises(studies.GridError, match=re.escape(message)) as info:
        studies.run("attention", quick=True, jobs=1, out=tmp_path / "run", **grid)
    assert info.value.parameter == axis and not (tmp_path / "run").exists()


@pytest.mark.parametrize("args, fragment", [
    (["--set", "model=attn"], "model must be one of"),
    (["--hidden", "6"], "divisible by the transformer's 4 heads"),
    (["--set", "task=sort,copy"], "task must be one of"),
    (["--lengths", "0"], "length"),
])
def test_bad_grid_values_exit_2_on_the_command_line(args, fragment, tmp_path):
    result = CliRunner().invoke(main, ["study", "attention", "--quick", "--jobs", "1", "--out", str(tmp_path / "r"),
                                       *args])
    assert result.exit_code == 2, result.output
    assert fragment in result.output and "Traceback" not in result.output and not (tmp_path / "r").exists()


def test_a_row_of_the_wrong_width_is_refused(monkeypatch):
    monkeypatch.setattr(MODULE, "probe", lambda p, **kw: ([("attention_weight", None, None, None, None, 0.5)], {}))
    with pytest.raises(studies.RnnProbeStudyError, match="row of 6 fields; its rows have 9"):
        studies.run_point(point(), study="attention")


def test_extra_row_columns_may_not_shadow_grid_columns():
    import types

    module = types.ModuleType("bad")
    module.__doc__ = "Bad?"
    module.ARCHS, module.GRID, module.QUICK = ("gru",), {"arch": ["gru"]}, {"arch": ["gru"]}
    module.EXTRA_ROW_COLUMNS = {"seed": "a row column named like a grid column"}
    with pytest.raises(studies.RnnProbeStudyError, match="EXTRA_ROW_COLUMNS \\['seed'\\]"):
        studies.Study.from_module("bad", module)


# ----------------------------------------------------------------------------- rows against autograd
@pytest.mark.parametrize("model", ["dot", "none-nofeedback"])
def test_encoder_decoder_rows_against_autograd(model):
    """Each sequence on its own, plain autograd: gradients at the source embeddings and at the encoder states with
    one bridge detached (docs: the parts are the gradients of the forward passes with the other bridge cut)."""
    p = point(model=model, task="copy" if model == "dot" else "reverse")
    with single_thread():
        rows, summary = MODULE.probe(p)
        net, task = trained(p)
    got = by_metric(rows)
    T, n = p["length"], MODULE.GRADIENT_SAMPLES
    batch = task.batch(MODULE.EVAL_SAMPLES, seed=MODULE.EVAL_SEED)
    u = start_vectors(1, p["vocab"], dtype=F64, device="cpu", seed=p["seed"])[0]
    ref = {k: np.zeros((T, T)) for k in ("source", "total", "attention", "recurrence")}
    for b in range(n):
        src, inp = batch.source[:, b], batch.decoder_inputs[:, b]
        x = net.source_embedding(src).detach().requires_grad_(True)
        logits = net(x, inp).logits
        for s in range(T):
            (gx,) = torch.autograd.grad(logits[s] @ u, x, retain_graph=True)
            ref["source"][s] += gx.norm(dim=-1).numpy() / n
        for part, cut in (("total", None), ("attention", "recurrence"), ("recurrence", "attention")):
            out = net.unrolled(src, inp, stepwise=True, cut=cut)
            for s in range(T):
                grads = torch.autograd.grad(out["logits"][s] @ u, out["states"], allow_unused=True, retain_graph=True)
                ref[part][s] += np.array([0.0 if g is None else float(g.norm()) for g in grads]) / n
    names = {"source": "source_gradient_norm", "total": "path_gradient_total",
             "attention": "path_gradient_attention", "recurrence": "path_gradient_recurrence"}
    for part, metric in names.items():
        if part == "attention" and model.startswith("none"):
            assert metric not in got and np.all(ref[part] == 0)
            continue
        table = np.array([[got[metric][(s, t, None)] for t in range(T)] for s in range(T)])
        np.testing.assert_allclose(table, ref[part], rtol=1e-9, atol=1e-14, err_msg=metric)
    # the weights of the stored examples, and the alignment shares over all 256 evaluation sequences
    with torch.no_grad():
        alpha = net(batch.source, batch.decoder_inputs).attention
    if model.startswith("none"):
        assert alpha is None and "attention_weight" not in got and "alignment_accuracy" not in summary
    else:
        for b in range(MODULE.EXAMPLES):
            one = net(batch.source[:, b], batch.decoder_inputs[:, b]).attention.detach()
            table = np.array([[got["attention_weight"][(s, t, b)] for t in range(T)] for s in range(T)])
            np.testing.assert_allclose(table, one.numpy(), rtol=1e-12, atol=1e-15)
        top = alpha.argmax(-1).numpy()
        aligned = np.arange(T) if p["task"] == "copy" else T - 1 - np.arange(T)
        assert summary["alignment_accuracy"] == pytest.approx(float(np.mean(top == aligned)), abs=1e-15)
        assert summary["alignment_shifted"] == pytest.approx(float(np.mean(top == aligned + 1)), abs=1e-15)
    with torch.no_grad():
        greedy = net.generate(batch.source, T).logits.argmax(-1)
        forced = net(batch.source, batch.decoder_inputs).logits.argmax(-1)
    assert summary["token_accuracy"] == pytest.approx(float((greedy == batch.targets).double().mean()), abs=1e-15)
    assert summary["sequence_accuracy"] == pytest.approx(float((greedy == batch.targets).all(0).double().mean()),
                                                         abs=1e-15)
    assert summary["teacher_forced_accuracy"] == pytest.approx(float((forced == batch.targets).double().mean()),
                                                               abs=1e-15)


def test_transformer_rows_against_autograd():
    p = point(arch=None, model="transformer", task="reverse", length=4)
    with single_thread():
        rows, summary = MODULE.probe(p)
        net, task = trained(p)
    got = by_metric(rows)
    T = p["length"]
    assert set(got) == {"attention_weight", "source_gradient_norm"}
    batch = task.batch(MODULE.EVAL_SAMPLES, seed=MODULE.EVAL_SEED)
    u = start_vectors(1, p["vocab"], dtype=F64, device="cpu", seed=p["seed"])[0]
    ref = np.zeros((T, T))
    for b in range(MODULE.GRADIENT_SAMPLES):
        x = net.embedding(batch.source[:, b]).detach().requires_grad_(True)
        logits = net(x, batch.decoder_inputs[:, b]).logits
        for s in range(T):
            (gx,) = torch.autograd.grad(logits[s] @ u, x, retain_graph=True)
            ref[s] += gx.norm(dim=-1).numpy() / MODULE.GRADIENT_SAMPLES
    table = np.array([[got["source_gradient_norm"][(s, t, None)] for t in range(T)] for s in range(T)])
    np.testing.assert_allclose(table, ref, rtol=1e-9, atol=1e-14)
    # attention: the decoder positions' head-averaged weights on the source positions, by hand from the layer
    layer = net.stack.layers[0]
    for b in range(MODULE.EXAMPLES):
        z = torch.cat([net.embedding(batch.source[:, b]), net.embedding(batch.decoder_inputs[:, b])])
        h = net.stack.input(z) + net.stack.positions.weight[: 2 * T]
        q, k, _ = torch.nn.functional.linear(h, layer.self_attn.in_proj_weight, layer.self_attn.in_proj_bias).chunk(3, -1)
        heads = net.stack.nhead
        q, k = (m.reshape(2 * T, heads, -1).transpose(0, 1) for m in (q, k))
        scores = q @ k.transpose(1, 2) / (q.shape[-1] ** 0.5)
        scores = scores.masked_fill(torch.ones(2 * T, 2 * T, dtype=torch.bool).triu(1), float("-inf"))
        weights = scores.softmax(-1).mean(0)[T:, :T].detach().numpy()
        table = np.array([[got["attention_weight"][(s, t, b)] for t in range(T)] for s in range(T)])
        np.testing.assert_allclose(table, weights, rtol=1e-10, atol=1e-14)


# ------------------------------------------------------------------------------------- a quick run
def test_quick_run_in_memory(quick):
    R, S = quick.results, quick.summary
    points = STUDY.points(STUDY.resolve(quick=True))
    assert len(S) == len(points) and set(S["model"]) == {"none", "dot", "transformer"}
    assert list(R.columns[-9:]) == list(STUDY.row_columns)
    assert analysis.grid_columns(R) == ["study", "arch", "hidden", "length", "depth", "gain", "seed", "model", "task",
                                        "vocab", "train_steps"]
    for _, row in S.iterrows():
        rows = R[R["point_id"] == row["point_id"]]
        T, counts = row["length"], rows["metric"].value_counts().to_dict()
        expected = {"source_gradient_norm": T * T}
        if row["model"] != "transformer":
            expected.update(path_gradient_total=T * T, path_gradient_recurrence=T * T)
        if row["model"] != "none":
            expected["attention_weight"] = MODULE.EXAMPLES * T * T
            assert 0 <= row["alignment_accuracy"] + row["alignment_shifted"] <= 1
        else:
            assert np.isnan(row["alignment_accuracy"])
        if row["model"] == "dot":
            expected["path_gradient_attention"] = T * T
        assert counts == expected, row["point_id"]
        for col in ("token_accuracy", "sequence_accuracy", "teacher_forced_accuracy"):
            assert 0 <= row[col] <= 1
        assert row["sequence_accuracy"] <= row["token_accuracy"] and row["final_loss"] > 0
    assert np.isfinite(R["value"]).all() and (R["value"] >= 0).all()
    # every encoder–decoder weight row sums to 1 over the source; the transformer's hold part of it
    weights = R[R["metric"] == "attention_weight"]
    sums = weights.groupby(["point_id", "model", "example", "target_position"])["value"].sum().reset_index()
    enc_dec = sums[sums["model"] != "transformer"]["value"]
    np.testing.assert_allclose(enc_dec, 1.0, atol=1e-12)
    assert (sums[sums["model"] == "transformer"]["value"] <= 1 + 1e-12).all()
    # without attention the recurrence is the only bridge; with it the parts add up to at least the total
    paths = R[R["metric"].str.startswith("path_gradient")].pivot_table(
        index=["point_id", "model", "target_position", "source_position"], columns="metric", values="value").reset_index()
    none = paths[paths["model"] == "none"]
    np.testing.assert_allclose(none["path_gradient_total"], none["path_gradient_recurrence"], rtol=1e-12)
    dot = paths[paths["model"] == "dot"]
    assert (dot["path_gradient_total"] <= dot["path_gradient_attention"] + dot["path_gradient_recurrence"]
            + 1e-12).all()


def test_analysis_of_the_quick_run(quick):
    R, S = quick.results, quick.summary
    table = analysis.accuracy_table(S)
    assert len(table) == len(S) and (table["n_seeds"] == 1).all()
    assert list(table["model"].drop_duplicates()) == ["none", "dot", "transformer"]
    row = table[(table["model"] == "dot") & (table["length"] == 8)].iloc[0]
    src = S[(S["model"] == "dot") & (S["length"] == 8)].iloc[0]
    assert row["token_accuracy"] == src["token_accuracy"] and row["alignment_shifted"] == src["alignment_shifted"]
    profile = analysis.gradient_by_distance(R)
    assert set(profile["path"]) == {"source", "total", "recurrence", "attention"}
    for (model, T), part in profile.groupby(["model", "length"]):
        for path, curve in part.groupby("path"):
            assert list(curve["distance"]) == list(range(1, 2 * T))
            # T pairs at distance T (the main diagonal s = t), one at each end
            assert curve.set_index("distance")["pairs"].to_dict() == {d: T - abs(d - T) for d in range(1, 2 * T)}
    # distance 1 is the single pair (s = 0, t = T - 1): the median over pairs is that value
    first = profile[(profile["model"] == "none") & (profile["length"] == 4) & (profile["path"] == "recurrence")
                    & (profile["distance"] == 1)]["median"].item()
    raw = R[(R["model"] == "none") & (R["length"] == 4) & (R["metric"] == "path_gradient_recurrence")
            & (R["target_position"] == 0) & (R["source_position"] == 3)]["value"].item()
    assert first == raw
    maps = analysis.attention_maps(R)
    assert set(maps["length"]) == {8} and set(maps["model"]) == {"dot", "transformer"}
    assert maps["aligned"].sum() == 2 * MODULE.EXAMPLES * 8 and maps["shifted"].sum() == 2 * MODULE.EXAMPLES * 7
    aligned = maps[maps["aligned"]]
    assert (aligned["source_position"] == 7 - aligned["target_position"]).all()


def test_quick_run_on_the_command_line_and_its_report(quick, tmp_path):
    out = tmp_path / "attention"
    result = CliRunner().invoke(main, ["study", "attention", "--quick", "--jobs", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(out / "summary.csv")
    pd.testing.assert_frame_equal(summary, quick.summary)      # same numbers as in memory
    assert pd.read_csv(out / "results.csv").equals(quick.results)
    text = squash(" ".join(page.extract_text() for page in PdfReader(out / "report.pdf").pages))
    for title in ("Table1:Accuracyandalignment", "Figure1:Accuracyagainstsequencelength",
                  "Figure2:Gradientpathsagainstdistance", "Figure3:Attentionweights:reverse", "Methods"):
        assert title in text, title
    table = analysis.accuracy_table(quick.summary)
    assert squash(attention_pages.accuracy_finding(table)) in text                  # the caption's numbers
    dot = table[(table["model"] == "dot") & (table["length"] == 8)].iloc[0]
    assert squash(f"dot attention {100 * dot['alignment_accuracy']:.0f}% on it") in text
    assert {p.name for p in (out / "figures").iterdir()} == {"attention_accuracy.png", "attention_gradients.png",
                                                            "attention_maps_reverse.png"}
    assert (out / "tables" / "attention_gradients.csv").exists() and (out / "tables" / "summary.md").exists()


# ----------------------------------------------------------------------------------- figures and captions
def test_figures_and_captions_from_hand_made_frames():
    table = pd.DataFrame({"model": ["none", "none", "dot", "dot"], "task": "reverse", "length": [5, 40, 5, 40],
                          "vocab": 8, "train_steps": 600, "n_seeds": 2,
                          "token_accuracy": [0.93, 0.22, 0.98, 0.28], "token_accuracy_min": [0.9, 0.2, 0.97, 0.25],
                          "token_accuracy_max": [0.95, 0.25, 0.99, 0.3],
                          "teacher_forced_accuracy": [0.95, 0.3, 0.99, 0.83], "final_loss": [0.05, 1.5, 0.01, 0.36],
                          "alignment_accuracy": [np.nan, np.nan, 0.9, 0.03],
                          "alignment_shifted": [np.nan, np.nan, 0.05, 0.02]})
    caption = attention_pages.accuracy_caption(table)
    assert "From T = 5 to T = 40: reverse: no attention 0.93 → 0.22, dot attention 0.98 → 0.28" in caption
    assert "dot attention on reverse (0.83 against 0.28)" in caption and "no attention on reverse" not in \
        caption.split("teacher forcing")[1].split(":")[0]
    assert "loss 1.5 nats/symbol" in caption and "loss 0.36" in caption
    fig = attention_pages.plot_accuracy_against_length(table)
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.get_lines()[:2]] == ["no attention", "dot attention"]
    assert ax.get_xscale() == "log" and len(ax.collections) == 2                      # one seed band per model
    profile = pd.DataFrame({"model": "none", "task": "copy", "length": 3, "path": "recurrence",
                            "distance": [1, 2, 3, 4, 5], "median": [1.0, 0.3, 0.1, 0.02, 0.01],
                            "low": 0.0, "high": 2.0, "n_seeds": 2})
    text = attention_pages.gradient_caption(profile)
    assert "copy (T = 3): through the recurrence from d = 1 to d = 5, no attention 1 → 0.01 (1/100 of it)" in text
    fig = attention_pages.plot_gradient_paths(profile)
    assert len(fig.axes) == 1 and fig.axes[0].get_yscale() == "log"
    maps = pd.DataFrame([dict(model=m, task="reverse", length=3, seed=0, example=0, target_position=s,
                              source_position=t, weight=float(t == 2 - s), aligned=t == 2 - s, shifted=t == 3 - s)
                         for m in ("dot", "transformer") for s in range(3) for t in range(3)])
    fig = attention_pages.plot_attention_maps(maps)
    assert len(fig.axes) == 3                                                          # 2 maps and the colour bar
    assert len(fig.axes[0].patches) == 3                                               # the anti-diagonal marked
    acc = table.assign(length=3, alignment_accuracy=[np.nan, np.nan, 0.11, 0.11],
                       alignment_shifted=[np.nan, np.nan, 0.87, 0.87])
    caption = attention_pages.attention_caption(maps, acc)
    assert "dot attention 11% on it and 87% one position later (t = T − s)" in caption
    assert "holds x_(T−1−s)" in caption and "they hold 100% of each row's weight" in caption


def test_every_page_and_figure_of_the_quick_report_reads_cleanly(quick, tmp_path):
    assert layout_problems_of_the_report(quick, tmp_path) == {}
