"""`rnnprobe train` and `rnnprobe sample`, and `rnnprobe probe --model` on their checkpoints."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from rnnprobe import cli
from rnnprobe.cli import main
from rnnprobe.sequence import load_checkpoint, read_rows, sample

FOX = "the quick brown fox jumps over the lazy dog\n" * 30
SMALL = ["--hidden", "8", "--embedding", "4", "--batch", "4", "--bptt", "8", "--probe-length", "20",
         "--lyapunov-k", "2", "--lr", "0.01"]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)


@pytest.fixture()
def text(tmp_path):
    path = tmp_path / "fox.txt"
    path.write_text(FOX, encoding="utf-8")
    return path


@pytest.fixture()
def run(tmp_path, text):
    out = tmp_path / "run"
    result = invoke("train", "--text", text, "--out", out, "--arch", "gru", "--steps", 8, "--eval-every", 4,
                    "--probe-every", 4, "--checkpoint-every", 4, *SMALL)
    assert result.exit_code == 0, result.output
    return out, result


def test_train_writes_the_checkpoint_the_rows_and_meta(run, text):
    out, result = run
    assert "train gru: 8 steps" in result.output and "bits/char" in result.output
    model, vocab, training = load_checkpoint(out / "model.pt")
    assert vocab == "".join(sorted(set(FOX))) and training["step"] == 8 and model.spec.core == "gru"
    rows = read_rows(out / "monitor.csv")
    assert {r["step"] for r in rows if r["metric"] == "val_bits_per_char"} == {0, 4, 8}
    meta = json.loads((out / "meta.json").read_text())
    assert meta["corpus"]["kind"] == "file" and meta["corpus"]["path"] == str(text)
    assert meta["corpus"]["chars"] == len(FOX) and len(meta["corpus"]["sha256"]) == 64
    assert meta["config"]["core"] == "gru" and meta["step"] == 8 and meta["finished"] is True
    assert meta["val_bits_per_char"] == [r["value"] for r in rows if r["metric"] == "val_bits_per_char"][-1]


def test_train_again_resumes_and_sample_reads_the_checkpoint(run, text):
    out, _ = run
    again = invoke("train", "--text", text, "--out", out, "--arch", "gru", "--steps", 12, "--eval-every", 4,
                   "--probe-every", 4, "--checkpoint-every", 4, *SMALL)
    assert again.exit_code == 0 and "12 steps" in again.output and "resumed from step 8" in again.output
    result = invoke("sample", out / "model.pt", "--length", 60, "--temperature", 0.7, "--seed", 3)
    assert result.exit_code == 0, result.output
    model, vocab, _ = load_checkpoint(out / "model.pt")
    assert result.output == sample(model, vocab, 60, temperature=0.7, seed=3) + "\n"
    primed = invoke("sample", out, "--length", 10, "--prime", "the ")       # a run directory works too
    assert primed.exit_code == 0 and primed.output.startswith("the ") and len(primed.output) == 15


def test_probe_reads_a_char_rnn_checkpoint(run):
    out, _ = run
    result = invoke("probe", "--model", out / "model.pt", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["name"] == "gru" and report["hidden_size"] == 8 and report["input_size"] == 4
    assert report["memory_threshold"] >= 0 and report["sigma_max"] > 0


def test_probe_reads_a_torch_core_layer(tmp_path, text):
    out = tmp_path / "lstm"
    assert invoke("train", "--text", text, "--out", out, "--arch", "nn.LSTM", "--layers", 2, "--steps", 2,
                  *SMALL).exit_code == 0
    result = invoke("probe", "--model", out / "model.pt", "--layer", 1, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["state_size"] == 16


def test_the_progress_bar_shows_loss_and_eta(tmp_path, text, monkeypatch):
    import click._termui_impl

    monkeypatch.setattr(cli, "_progress_enabled", lambda: True)
    monkeypatch.setattr(click._termui_impl, "isatty", lambda stream: True)     # CliRunner's stream is no terminal
    result = CliRunner().invoke(main, ["train", "--text", str(text), "--out", str(tmp_path / "o"), "--steps", "3",
                                       *SMALL])
    assert result.exit_code == 0, result.output
    assert "train lstm" in result.output and "loss " in result.output and "3/3" in result.output


def test_flossing_from_the_command_line(tmp_path, text):
    out = tmp_path / "floss"
    result = invoke("train", "--text", text, "--out", out, "--arch", "vanilla-tanh", "--steps", 4, "--floss", 2,
                    "--floss-before", 3, "--probe-every", 2, *SMALL)
    assert result.exit_code == 0, result.output
    rows = read_rows(out / "monitor.csv")
    assert [r["step"] for r in rows if r["metric"] == "flossing_loss"] == [0, 2, 4]


BAD = [
    (["train", "--steps", "0"], "--steps", "steps must be >= 1; got 0"),
    (["train", "--steps", "-5"], "--steps", "steps must be >= 1; got -5"),
    (["train", "--hidden", "0"], "--hidden", "hidden_size must be >= 1; got 0"),
    (["train", "--batch", "0"], "--batch", "batch_size must be >= 1; got 0"),
    (["train", "--lr", "0"], "--lr", "lr must lie in (0, inf); got 0.0"),
    (["train", "--arch", "lsmt"], "--arch", "did you mean 'lstm'?"),
    (["train", "--arch", "mlp"], "--arch", "got 'mlp'"),
    (["train", "--option", "forget_bias"], "--option", "expected KEY=VALUE; got 'forget_bias'"),
    (["train", "--option", "forgetbias=2"], "--option", "did you mean 'forget_bias'?"),
    (["train", "--option", "forget_bias=x"], "--option", "forget_bias must be a finite real number; got 'x'"),
    (["train", "--floss-before", "5"], "--floss-before", "floss_before needs floss >= 1"),
    (["train", "--text", "{empty}"], "--text", "must not be empty"),
    (["train", "--text", "{latin1}"], "--text", "must be UTF-8 text"),
    (["train", "--text", "{missing}"], "--text", "must be a readable file"),
    (["train", "--text", "{short}", "--batch", "8"], "--text", "at least one batch"),
    (["sample", "{ckpt}", "--temperature", "0"], "--temperature", "temperature must lie in (0, inf); got 0.0"),
    (["sample", "{ckpt}", "--temperature", "-0.5"], "--temperature", "got -0.5"),
    (["sample", "{ckpt}", "--length", "0"], "--length", "length must be >= 1; got 0"),
    (["sample", "{ckpt}", "--prime", "xyz"], "--prime", "outside the model's vocabulary: 'xyz'"),
    (["sample", "{missing}"], "CHECKPOINT", "must be an existing checkpoint file"),
    (["sample", "{empty}"], "CHECKPOINT", "must be a file torch.load can read"),
    (["sample", "{future}"], "CHECKPOINT", "spec is not a char-RNN spec this rnnprobe can build"),
    (["sample", "{nan}"], "CHECKPOINT", "state_dict must hold finite values; got NaN/Inf in 'readout.weight'"),
    (["probe", "--model", "{nan}"], "--model", "state_dict must hold finite values"),
    (["train", "--text", "{same}"], "--text", "at least 2 distinct characters"),
]


@pytest.mark.parametrize("args, option, detail", BAD, ids=[" ".join(b[0]) for b in BAD])
def test_bad_arguments_are_usage_errors(tmp_path, text, args, option, detail):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9 au lait")
    (tmp_path / "short.txt").write_text("tiny text", encoding="utf-8")
    from rnnprobe.sequence import CharRNN, CharRNNSpec, save_checkpoint
    save_checkpoint(tmp_path / "ckpt.pt", CharRNN(CharRNNSpec("gru", vocab_size=3, hidden_size=2,
                                                                embedding_size=2)), "abc")
    (tmp_path / "same.txt").write_text("a" * 500, encoding="utf-8")
    blob = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    blob["spec"]["charrnn"]["version"] = 2                         # written by another version of rnnprobe
    torch.save(blob, tmp_path / "future.pt")
    blob = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    blob["state_dict"]["readout.weight"].fill_(float("nan"))
    torch.save(blob, tmp_path / "nan.pt")
    files = {"empty": tmp_path / "empty.txt", "latin1": tmp_path / "latin1.txt", "short": tmp_path / "short.txt",
             "missing": tmp_path / "missing.txt", "ckpt": tmp_path / "ckpt.pt", "same": tmp_path / "same.txt",
             "future": tmp_path / "future.pt", "nan": tmp_path / "nan.pt"}
    args = [a.format(**files) for a in args]
    if args[0] == "train":
        args += ["--out", str(tmp_path / "out")] + (["--text", str(text)] if "--text" not in args else [])
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert option in result.output and detail in result.output, result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_a_run_directory_holding_other_settings_is_refused(run, text):
    out, _ = run
    result = invoke("train", "--text", text, "--out", out, "--arch", "lstm", "--steps", 8, "--eval-every", 4,
                    "--probe-every", 4, "--checkpoint-every", 4, *SMALL)
    assert result.exit_code == 2 and "--out" in result.output and "differs in: core)" in result.output
    other = text.parent / "cat.txt"
    other.write_text(FOX.replace("dog", "cat"), encoding="utf-8")
    result = invoke("train", "--text", other, "--out", out, "--arch", "gru", "--steps", 8, "--eval-every", 4,
                    "--probe-every", 4, "--checkpoint-every", 4, *SMALL)
    assert result.exit_code == 2 and "--text" in result.output and "does not match the text's" in result.output


def test_help_pages_answer():
    for command in ("train", "sample"):
        result = invoke(command, "--help")
        assert result.exit_code == 0 and "Usage:" in result.output


def test_train_interrupted_says_how_to_resume(tmp_path, text, monkeypatch):
    import rnnprobe.sequence as sequence

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sequence, "train", interrupted)
    result = invoke("train", "--text", text, "--out", tmp_path / "o", "--steps", 3, *SMALL)
    assert result.exit_code == 130 and "run the same command again to resume" in result.output
