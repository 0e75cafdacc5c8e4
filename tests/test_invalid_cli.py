"""A table of bad command lines: each exits with status 2 and one clear error line, never a traceback.

Rows for every command (``probe``, ``study``, ``report``, ``train``, ``sample``, ``studies``): the
call, the exit code, the option named and a fragment of the message. Rows marked (#11) gave a
traceback, a misleading message or a wrong result (``--out ''`` ran into the current directory)
before issue 11.
"""

from __future__ import annotations

import os
import shutil

import pytest
import torch
from click.testing import CliRunner

from rnnprobe import studies
from rnnprobe.cli import main
from rnnprobe.studies._runner import lock_directory


class _Blocked:
    """Pickles as a call of os.getcwd: torch.load(weights_only=True) refuses the os module outright."""

    def __reduce__(self):
        return (os.getcwd, ())


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli-files")
    torch.save({"weights": _Blocked()}, d / "blocked.pt")
    torch.save(torch.nn.GRU(2, 3), d / "module.pt")
    torch.save({"x": torch.zeros(3)}, d / "dict.pt")
    torch.save(torch.zeros(10, 2), d / "X2.pt")                     # (T, d) with d = 2
    torch.save(torch.zeros(4, 10, 1), d / "X3.pt")                  # (B, T, d) with d = 1
    torch.save(torch.full((10, 1), float("nan")), d / "nan.pt")
    (d / "garbage.npy").write_bytes(b"not numpy")
    import numpy as np

    np.save(d / "objects.npy", np.array([{"a": 1}], dtype=object))
    (d / "notes.txt").write_text("not a checkpoint\n")
    (d / "a-file").write_text("x")
    (d / "foreign" / "points").mkdir(parents=True)
    (d / "foreign" / "points" / "notes.json").write_text('{"mine": true}')
    # a study directory, and copies with one table damaged
    studies.run("vanishing", out=d / "run", quick=True, jobs=1, arch="vanilla-tanh", length=[5], gain=[0.5, 1.5])
    damages = {
        "empty": b"",
        "binary": bytes(range(256)) * 4,
        "truncated": lambda text: text[: len(text) // 2 + 3],
        "not-a-table": b"hello,world\n1,2\n",
        "latin1": "caf\xe9,x\n1,2\n".encode("latin-1"),
        "ragged": lambda text: text + b"vanishing,lstm\n",
    }
    for table in ("results", "summary"):
        for name, damage in damages.items():
            target = d / f"{name}-{table}"
            shutil.copytree(d / "run", target)
            path = target / f"{table}.csv"
            path.write_bytes(damage(path.read_bytes()) if callable(damage) else damage)
    (d / "busy").mkdir()
    with lock_directory(d / "busy"):            # as if another run were writing there
        yield d


ROWS = [
    (["probe", "vanilla-tanh", "--gain", "nan"], "--gain", "must be a finite number; got nan"),          # (#11)
    (["probe", "vanilla-tanh", "--gain", "inf"], "--gain", "must be a finite number; got inf"),          # (#11)
    (["probe", "vanilla-tanh", "--gain", "1e400"], "--gain", "must be a finite number; got inf"),        # (#11)
    (["probe", "vanilla-tanh", "--gain", "-1"], "--gain", "-1.0 is not in the range x>=0"),
    (["probe", "vanilla-tanh", "--eps", "nan"], "--eps", "must be a finite number; got nan"),            # (#11)
    (["probe", "vanilla-tanh", "--eps", "0"], "--eps", "0<x<1"),
    (["probe", "vanilla-tanh", "--hidden", "1000000"], "--hidden", "1000000 needs more memory than this machine has"),  # (#11)
    (["probe", "lstm", "--hidden", "1000000", "--dtype", "float32"], "--hidden", "needs more memory"),   # (#11)
    (["probe", "vanilla-tanh", "--hidden", "0"], "--hidden", "0 is not in the range x>=1"),
    (["probe", "vanilla-tanh", "--seed", str(2**70)], "--seed", f"{2**70} is not in the range 0<=x<=18446744073709551615"),  # (#11)
    (["probe", "vanilla-tanh", "--seed", str(2**64)], "--seed", "is not in the range 0<=x<=18446744073709551615"),  # (#11)
    (["probe", "vanilla-tanh", "--seed", "-1"], "--seed", "-1 is not in the range"),
    (["probe", "vanilla-tanh", "--seed", "1.5"], "--seed", "'1.5' is not a valid integer"),
    (["probe", "vanilla-tanh", "--dtype", "float16"], "--dtype", "'float16' is not one of 'float32', 'float64'"),
    (["probe", "vanilla-tanh", "--init", "xavier"], "--init", "'xavier' is not one of"),
    (["probe", "--model", "{d}/blocked.pt"], "refused", "pass --trust-pickle if you trust the file"),     # (#11)
    (["probe", "--model", "{d}/module.pt"], "refused", "unpickling runs arbitrary code"),
    (["probe", "--model", "{d}/module.pt", "--direction", "2"], "--direction", "2 is not in the range 0<=x<=1"),
    (["probe", "--model", "{d}/module.pt", "--layer", "-1"], "--layer", "-1 is not in the range x>=0"),
    (["probe", "lstm", "--inputs", "{d}/missing.pt"], "--inputs", "does not exist"),
    (["probe", "lstm", "--inputs", "{d}/dict.pt"], "--inputs", "must hold one tensor (T, d), (T, B, d) or (B, T, d); got dict"),
    (["probe", "lstm", "--inputs", "{d}/garbage.npy"], "--inputs", "is not a tensor file"),
    (["probe", "lstm", "--inputs", "{d}/objects.npy"], "--inputs", "is not a tensor file"),
    (["probe", "lstm", "--inputs", "{d}/X2.pt"], "--inputs", "inputs must have last dimension input_size = 1"),
    (["probe", "lstm", "--inputs", "{d}/nan.pt"], "--inputs", "inputs must be finite"),
    (["probe", "lstm", "--inputs", "{d}/X3.pt", "--length", "20"], "--length", "applies to the random inputs only"),
    (["probe", "lstm", "--batch-first"], "--batch-first", "applies to --inputs only"),
    (["probe", "lstm", "--inputs", "{d}/X2.pt", "--batch-first"], "--batch-first", "applies to batched inputs (B, T, d)"),
]


ROWS = [(args, 2, fragment, detail) for args, fragment, detail in ROWS] + [
    # study
    (["study", "vanishing", "--seeds", "1000000000"], 2, "--seeds",
     "seed lists 1,000,000,000 values, more than the 1,000,000 grid points a run may have"),           # (#11)
    (["study", "vanishing", "--quick", "--hidden", "100000000"], 2, "--hidden",
     "hidden = 100000000: one grid point needs at least 80 PB"),                                         # (#11)
    (["study", "vanishing", "--quick", "--lengths", "100000000000000"], 2, "--lengths",
     "length = 100000000000000: one grid point needs at least"),                                       # (#11)
    (["study", "vanishing", "--lengths", "1,2,3,4,5,6,7,8,9,10", "--gains", "1,2,3,4,5,6,7,8,9,10", "--seeds", "2000"],
     2, "--seeds", "points (9 arch × 10 length × 10 gain × 2000 seed), more than the 1,000,000"),                                                    # (#11)
    (["study", "vanishing", "--quick", "--out", ""], 2, "--out", "got '' (an empty path"),             # (#11)
    (["study", "vanishing", "--quick", "--out", "{d}/busy"], 2, "--out", "another rnnprobe run is writing to"),  # (#11)
    (["study", "vanishing", "--quick", "--out", "{d}/foreign"], 2, "--out", "is not a readable rnnprobe run"),
    (["study", "vanishing", "--quick", "--out", "{d}/a-file"], 2, "--out", "a-file' is a file"),
    (["study", "vanishng"], 2, "NAME", "did you mean 'vanishing'"),
    (["study", "vanishing", "--jobs", "0"], 2, "--jobs", "0 is not in the range x>=1"),
    (["study", "vanishing", "--quick", "--lengths", "-3"], 2, "--lengths", "length values must be >= 1; got -3"),
    (["study", "vanishing", "--quick", "--gains", "inf"], 2, "--gains", "must be finite real numbers; got inf"),
    # report
    (["report", ""], 2, "RESULTS_DIR", "got '' (an empty path"),                                         # (#11)
    (["report", "{d}/run", "-o", ""], 2, "--output", "got '' (an empty path"),                          # (#11)
    (["report", "{d}/missing"], 2, "RESULTS_DIR", "must be a study output directory"),
    (["report", "{d}/a-file"], 2, "RESULTS_DIR", "is a file"),
    (["report", "{d}/run", "--dpi", "5"], 2, "--dpi", "5 is not in the range 30<=x<=1200"),
    (["report", "{d}/empty-results"], 2, "results_dir", "damaged results.csv: '{d}/empty-results/results.csv' is empty"),  # (#11)
    (["report", "{d}/binary-results"], 2, "results_dir", "results.csv' holds binary data"),             # (#11)
    (["report", "{d}/truncated-results"], 2, "results_dir", "results.csv' is truncated"),               # (#11)
    (["report", "{d}/not-a-table-results"], 2, "results_dir", "results.csv' lacks the column(s) metric, value"),  # (#11)
    (["report", "{d}/latin1-results"], 2, "results_dir", "results.csv' is not UTF-8 text"),             # (#11)
    (["report", "{d}/ragged-results"], 2, "results_dir", "results.csv' is truncated or damaged"),       # (#11)
    (["report", "{d}/empty-summary"], 2, "results_dir", "damaged summary.csv"),                         # (#11)
    (["report", "{d}/binary-summary"], 2, "results_dir", "summary.csv' holds binary data"),             # (#11)
    (["report", "{d}/truncated-summary"], 2, "results_dir", "summary.csv' is truncated"),               # (#11)
    (["report", "{d}/not-a-table-summary"], 2, "results_dir", "summary.csv' lacks the column(s) arch"),  # (#11)
    # train
    (["train", "--out", ""], 2, "--out", "got '' (an empty path"),                                      # (#11)
    (["train", "--steps", "0"], 2, "--steps", "steps must be >= 1; got 0"),
    (["train", "--lr", "-1"], 2, "--lr", "lr must lie in (0, inf); got -1.0"),
    (["train", "--arch", "xyz"], 2, "--arch", "got 'xyz'"),
    (["train", "--text", "{d}/missing.txt"], 2, "--text", "must be a readable file"),
    (["train", "--option", "forget_bias"], 2, "--option", "expected KEY=VALUE; got 'forget_bias'"),
    # sample
    (["sample", "{d}/missing.pt"], 2, "CHECKPOINT", "must be an existing checkpoint file"),
    (["sample", "{d}/notes.txt"], 2, "CHECKPOINT", "must be a file torch.load can read"),
    # studies
    (["studies", "extra"], 2, "Got unexpected extra argument", "(extra)"),
]


@pytest.mark.parametrize("args, code, fragment, detail", ROWS, ids=[" ".join(r[0]) or "none" for r in ROWS])
def test_bad_command_line(files, args, code, fragment, detail):
    result = CliRunner().invoke(main, [a.format(d=files) for a in args])
    assert result.exit_code == code, result.output
    assert fragment in result.output and detail.format(d=files) in result.output, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert sum(line.startswith("Error:") for line in result.output.splitlines()) == 1


def test_the_table_covers_every_command():
    assert len(ROWS) >= 30
    assert {r[0][0] for r in ROWS} == {"probe", "study", "report", "train", "sample", "studies"}


def test_out_empty_wrote_nothing_into_the_current_directory(tmp_path, monkeypatch):
    """``--out ''`` ran the study into the current directory (#11)."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["study", "vanishing", "--quick", "--out", ""])
    assert result.exit_code == 2 and list(tmp_path.iterdir()) == []


def test_the_blocked_pickle_was_refused_for_safety_not_misread(files):
    """torch's message for a blocked module says 'unsupported GLOBAL' in lower case: it used to fall
    through to "not saved by torch.save?"."""
    result = CliRunner().invoke(main, ["probe", "--model", str(files / "blocked.pt")])
    assert "pickled Python objects" in result.output and "not saved by torch.save" not in result.output
