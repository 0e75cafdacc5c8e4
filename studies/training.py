"""How do gradient flow and memory change while a char-RNN learns, for vanilla tanh, GRU and LSTM cores and a flossed vanilla RNN?

Every grid point is one training run of the lecture's char-RNN (embedding →
recurrent core → linear readout, :mod:`rnnprobe.sequence`) on the first
``chars`` characters of the default corpus (the standard library's own
sources; the last 10 % are the validation text), for ``train_steps`` optimizer
updates: truncated backpropagation through time, Adam, gradient clipping (the
settings are :data:`TRAINING`). The core is the architecture ``arch`` of
``rnnprobe.architectures`` at hidden size ``hidden``, built with ``init`` and
``gain`` from ``seed`` (its step is looped over time, so every probe sees the
very core that trains); ``floss = k > 0`` adds gradient flossing (Engelken
2023), the regulariser 0.1·Σ_{i≤k} λ_i² of the core's top k Lyapunov
exponents, to the loss. Flossing is swept on the vanilla cores (family
``vanilla``) only: the other cores train once, without it (``floss`` empty).

At :data:`CHECKPOINTS` + 1 evenly spaced steps (0 = the initialisation, and the
last step) the run records, through :class:`rnnprobe.ProbeMonitor` on a fixed
probe sequence (the first ``length`` validation characters, embedded by the
current embedding, from the zero state; probes in ``dtype``, float64 by
default):

* ``val_bits_per_char`` on the validation text (at most 20 000 characters) and
  ``train_loss``, the mean training cross-entropy since the previous checkpoint;
* the G(k) profile ``jacobian_norm`` = ‖∂s_T/∂s_{T−k}‖₂ at every lag k = 1 … T;
* the memory length: ``memory_threshold`` (largest k with G(k) ≥ 0.01) and
  ``memory_efold`` (−1/slope of a Theil–Sen fit of log G(k));
* the top four Lyapunov exponents ``lyapunov_exponent`` (index 0 is λ₁), σ_max
  of every recurrent weight block ``sigma_max`` (``W_h``, or one per gate),
  the loss and the gradient norm of each parameter group;
* a text sample: 300 characters drawn at temperature 0.8 after a newline,
  seeded by the seed (``samples.csv``).

Rows carry the training ``step`` (before ``value``); summary.csv holds the values
at the last step (and the initial validation bits/char).

Resumable: each point trains in its own directory ``OUT/work/<point>/``, where
:func:`rnnprobe.sequence.train` replaces its checkpoint ``model.pt`` at every
checkpoint; a killed run started again with the same arguments resumes each
unfinished point from its last checkpoint (and ends with the weights and rows of
an uninterrupted run). The finished checkpoints stay there: ``rnnprobe sample
OUT/work/<point>/model.pt`` samples more text, ``rnnprobe probe --model`` probes
them. Training runs on the CPU, in float32 (the probes copy the core to ``dtype``).

Examples
--------
>>> from rnnprobe import studies
>>> study = studies.load("training")
>>> [study.point_id(p) for p in study.points(study.resolve())][-1]
'training:arch=lstm,hidden=128,length=200,gain=1.0,seed=0,init=gaussian,train_steps=2000,chars=300000'
>>> point = dict(arch="gru", hidden=4, length=10, depth=None, gain=1.0, seed=0, init="gaussian", floss=None,
...              train_steps=4, chars=3000)
>>> rows, summary, tables = study.module.probe(point)
>>> [s[0] for s in tables["samples"]], len(tables["samples"][0][3])   # steps sampled, characters per sample
([0, 1, 2, 3, 4], 300)
>>> sorted(set(r[5] for r in rows)) == [0, 1, 2, 3, 4], summary["val_bits_per_char"] > 0
(True, True)
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

from rnnprobe.schema import EXTRA_GRID_COLUMNS, EXTRA_ROW_COLUMNS, EXTRA_TABLES, TRAINING_METRICS, TRAINING_SUMMARY_FIELDS
from rnnprobe.studies import Axis, GridError

# torch and rnnprobe.sequence are imported inside the functions: loading a study to read its grid stays light


def __getattr__(name):
    """``ARCHS``, the architectures the study accepts: every recurrent one in ``rnnprobe.architectures``
    (read when asked, so that architectures registered later are accepted too)."""
    if name == "ARCHS":
        from rnnprobe.models.registry import architectures

        return tuple(architectures.recurrent())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: the training settings every point shares (rnnprobe.sequence.TrainConfig fields)
TRAINING = {"embedding_size": 32, "batch_size": 32, "bptt": 64, "lr": 2e-3, "clip": 1.0, "val_chars": 20_000,
            "lyapunov_k": 4, "eps": 0.01, "floss_weight": 0.1, "dtype": "float32"}
#: the share of the corpus kept for validation (rnnprobe.sequence.load_corpus's default)
VAL_FRACTION = 0.1
#: checkpoints per run: probes, evaluations, samples and checkpoints every steps // CHECKPOINTS updates
CHECKPOINTS = 20
#: the text samples: characters, temperature, and what the model reads first
SAMPLE_LENGTH = 300
SAMPLE_TEMPERATURE = 0.8
SAMPLE_PRIME = "\n"
#: the architecture families whose cores are flossed when the grid asks for it
FLOSS_FAMILIES = ("vanilla",)
#: the file in a point's work directory that keeps its samples across a restart
SAMPLES_FILE = "samples.json"

WORKDIR = True
#: training runs on the CPU (rnnprobe.sequence.train does not move the model)
DEVICES = ("cpu",)
EXTRA_ROW_COLUMNS = {"step": EXTRA_ROW_COLUMNS["step"]}
EXTRA_METRICS = TRAINING_METRICS
EXTRA_SUMMARY = TRAINING_SUMMARY_FIELDS
TABLES = {"samples": EXTRA_TABLES["samples"]}

EXTRA_AXES = {
    "init": Axis(str, EXTRA_GRID_COLUMNS["init"], choices=("gaussian", "orthogonal", "spectral")),
    "floss": Axis(int, EXTRA_GRID_COLUMNS["floss"], min_value=0),
    "train_steps": Axis(int, EXTRA_GRID_COLUMNS["train_steps"], min_value=1),
    "chars": Axis(int, EXTRA_GRID_COLUMNS["chars"], min_value=2500),
}

GRID = {
    "arch": ["vanilla-tanh", "gru", "lstm"],
    "hidden": [128],
    "length": [200],
    "gain": [1.0],
    "seed": [0],
    "init": ["gaussian"],
    "floss": [0, 4],
    "train_steps": [2000],
    "chars": [300_000],
}

QUICK = {
    "arch": ["vanilla-tanh", "gru", "lstm"],
    "hidden": [8],
    "length": [20],
    "gain": [1.0],
    "seed": [0],
    "init": ["gaussian"],
    "floss": [0, 2],
    "train_steps": [20],
    "chars": [5000],
}


def points(grid):
    """Every combination; the ``floss`` values apply to the vanilla cores, the other cores train once (floss empty).

    Raises :class:`~rnnprobe.studies.GridError` for a probe sequence (``length``)
    shorter than 2 characters or longer than the validation text (``chars`` / 10).
    """
    from rnnprobe.models.registry import architectures

    for length in grid["length"]:
        if length < 2:
            raise GridError("length", f"length values must be >= 2 for study 'training' (the probe sequence needs "
                                      f"two characters); got {length!r}")
        for chars in grid["chars"]:
            val = min(chars - 1, max(1, round(chars * VAL_FRACTION)))
            if length > val:
                raise GridError("length", f"length values must be at most the {val} validation characters of "
                                          f"chars = {chars} (its last {VAL_FRACTION:.0%}); got {length!r}")
    out = []
    for arch in grid["arch"]:
        flossed = architectures[arch].family in FLOSS_FAMILIES
        for hidden in grid["hidden"]:
            for length in grid["length"]:
                for gain in grid["gain"]:
                    for seed in grid["seed"]:
                        for init in grid["init"]:
                            for floss in (grid["floss"] if flossed else [None]):
                                for steps in grid["train_steps"]:
                                    for chars in grid["chars"]:
                                        out.append(dict(arch=arch, hidden=hidden, length=length, gain=gain,
                                                        seed=seed, init=init, floss=floss, train_steps=steps,
                                                        chars=chars))
    return out


def cost(point) -> float:
    """Relative cost: steps × n² × the architecture's cost factor, doubled when flossed (start long runs first)."""
    from rnnprobe.models.registry import architectures

    return point["train_steps"] * point["hidden"] ** 2 * architectures[point["arch"]].cost * (2 if point["floss"] else 1)


def checkpoint_every(steps: int) -> int:
    """Updates between checkpoints: ``steps // CHECKPOINTS`` (at least 1)."""
    return max(1, steps // CHECKPOINTS)


def train_config(point):
    """The :class:`rnnprobe.sequence.TrainConfig` of one grid point."""
    from rnnprobe.sequence import TrainConfig

    every = checkpoint_every(point["train_steps"])
    return TrainConfig(core=point["arch"], hidden_size=point["hidden"], options={"gain": point["gain"],
                       "init": point["init"]}, seed=point["seed"], steps=point["train_steps"], eval_every=every,
                       probe_every=every, checkpoint_every=every, probe_length=point["length"],
                       floss=point["floss"] or 0, **TRAINING)


def _sampling_monitor():
    """The monitor class (defined here so that importing the study does not import torch)."""
    from rnnprobe.monitor import ProbeMonitor
    from rnnprobe.sequence import sample

    class SamplingMonitor(ProbeMonitor):
        """A ProbeMonitor that also samples text at every probe, keeping the samples in ``path`` (JSON)."""

        def __init__(self, inputs, *, vocab: str, path: Path, seed: int, **kwargs):
            super().__init__(inputs, **kwargs)
            self.vocab, self.path, self.seed = vocab, path, seed
            self.samples = ({int(k): v for k, v in json.loads(path.read_text(encoding="utf-8")).items()}
                            if path.is_file() else {})

        def __call__(self, step, model, *, loss=None, parameters=None, force=False):
            rows = super().__call__(step, model, loss=loss, parameters=parameters, force=force)
            if rows:
                # a pure function of the weights at this step: a resumed run samples the same text again
                self.samples[int(step)] = sample(model, self.vocab, SAMPLE_LENGTH, temperature=SAMPLE_TEMPERATURE,
                                                 seed=self.seed, prime=SAMPLE_PRIME)
                _atomic_json(self.path, {str(k): v for k, v in sorted(self.samples.items())})
            return rows

    return SamplingMonitor


def _atomic_json(path: Path, data) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _final(rows, metric, step, **where):
    values = [r["value"] for r in rows if r["metric"] == metric and r["step"] == step
              and all(r[k] == v for k, v in where.items())]
    return values


def probe(point, *, dtype="float64", device="cpu", workdir=None):
    """Train one grid point's char-RNN (resuming from ``workdir``) and return its rows, summary and samples."""
    from rnnprobe.errors import InvalidArgument
    from rnnprobe.sequence import load_corpus, train

    if device != "cpu":
        raise InvalidArgument(f"device must be 'cpu' for the training study (rnnprobe.sequence.train trains on the "
                              f"CPU); got {device!r}")
    config = train_config(point)
    corpus = load_corpus(max_chars=point["chars"], val_fraction=VAL_FRACTION)
    if corpus.source["chars"] < point["chars"]:
        raise InvalidArgument(f"chars must be at most the default corpus's {corpus.source['chars']} characters; "
                              f"got {point['chars']!r}")
    with tempfile.TemporaryDirectory(prefix="rnnprobe-train-") as scratch:
        directory = Path(scratch) if workdir is None else Path(workdir)
        monitor = _sampling_monitor()(corpus.val[: config.probe_length], vocab=corpus.vocab,
                                      path=directory / SAMPLES_FILE, seed=point["seed"], every=config.probe_every,
                                      eps=config.eps, lyapunov_k=config.lyapunov_k, dtype=dtype)
        result = train(config, directory, corpus=corpus, monitor=monitor)
    rows = result.rows
    probe_steps = sorted({r["step"] for r in rows if r["metric"] == "jacobian_norm"})
    missing = [s for s in probe_steps if s not in monitor.samples]
    if missing:
        raise InvalidArgument(f"the work directory {str(workdir)!r} holds a run without the samples of steps "
                              f"{missing} ({SAMPLES_FILE}); remove it (or rerun with force) to train again")
    end = result.step
    out_rows = [(r["metric"], r["lag"], r["layer"], r["index"], r["block"], r["step"], r["value"]) for r in rows]
    lam = _final(rows, "lyapunov_exponent", end, index=0)
    threshold = _final(rows, "memory_threshold", end)
    summary = {
        "val_bits_per_char": result.val_bits_per_char,
        "val_bits_per_char_initial": _final(rows, "val_bits_per_char", 0)[0],
        "memory_threshold": int(threshold[0]),
        "memory_threshold_censored": int(threshold[0]) >= point["length"],
        "memory_efold": _final(rows, "memory_efold", end)[0],
        "lyapunov_exponent": lam[0],
        "lyapunov_time": -1.0 / lam[0] if lam[0] < 0 else math.inf,
        "sigma_max": max(_final(rows, "sigma_max", end)),
        "eps": config.eps,
    }
    samples = [(s, SAMPLE_TEMPERATURE, SAMPLE_PRIME, monitor.samples[s]) for s in probe_steps]
    return out_rows, summary, {"samples": samples}
