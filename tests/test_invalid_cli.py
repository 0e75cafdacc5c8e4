"""A table of bad command lines: each exits with status 2 and one clear error line, never a traceback.

These are the ``rnnprobe probe`` rows (issue 11); rows marked (#11) gave a traceback, or a
misleading message, before it.
"""

from __future__ import annotations

import os

import pytest
import torch
from click.testing import CliRunner

from rnnprobe.cli import main


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
    return d


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


@pytest.mark.parametrize("args, fragment, detail", ROWS, ids=[" ".join(r[0][1:]) for r in ROWS])
def test_bad_probe_command_line(files, args, fragment, detail):
    result = CliRunner().invoke(main, [a.format(d=files) for a in args])
    assert result.exit_code == 2, result.output
    assert fragment in result.output and detail in result.output, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert sum(line.startswith("Error:") for line in result.output.splitlines()) == 1


def test_the_blocked_pickle_was_refused_for_safety_not_misread(files):
    """torch's message for a blocked module says 'unsupported GLOBAL' in lower case: it used to fall
    through to "not saved by torch.save?"."""
    result = CliRunner().invoke(main, ["probe", "--model", str(files / "blocked.pt")])
    assert "pickled Python objects" in result.output and "not saved by torch.save" not in result.output
