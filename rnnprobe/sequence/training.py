"""Train a char-RNN by maximum likelihood, with checkpoints, resuming, probes and gradient flossing.

:func:`train` runs one configuration (:class:`TrainConfig`) for ``steps``
optimizer updates:

* **data**: the training text is cut into ``batch_size`` parallel streams;
  step s reads the next ``bptt`` characters of every stream and predicts each
  next character (truncated backpropagation through time: the recurrent state
  is carried from one chunk to the next, cut from the graph; it restarts from
  zero when the streams wrap around);
* **loss**: mean cross-entropy (maximum likelihood), Adam, optional gradient
  clipping of the global norm; optional gradient flossing (``floss=K``): the
  regulariser ``floss_weight · Σ_{i≤K} λ_i²`` of the core's top-K Lyapunov
  exponents on the first ``floss_batch`` streams of the batch, and
  ``floss_before`` steps of flossing alone before training;
* **evaluation**: bits per character on the validation text every
  ``eval_every`` steps (and at the start and the end);
* **probes**: a :class:`~rnnprobe.monitor.ProbeMonitor` on a fixed probe
  sequence (the first ``probe_length`` validation characters) every
  ``probe_every`` steps and at the end;
* **checkpoints**: every ``checkpoint_every`` steps ``DIR/model.pt`` (the
  latest) is replaced atomically, after ``DIR/monitor.csv`` (the rows). A run
  started again with the same configuration resumes from the latest checkpoint
  and ends with exactly the weights and rows of an uninterrupted run; only the
  steps since that checkpoint are recomputed.

Step s means "the weights after s updates": the monitor's rows at step s are
measured on those weights, with the gradient of the batch of step s; the
evaluation rows at step s likewise.

Examples
--------
>>> from rnnprobe.sequence.corpus import Corpus
>>> corpus = Corpus.from_text("abcd" * 60)
>>> config = TrainConfig(core="gru", hidden_size=8, embedding_size=4, batch_size=4, bptt=8, steps=30,
...                      eval_every=30, probe_every=30, probe_length=16, lyapunov_k=2, lr=1e-2)
>>> result = train(config, corpus=corpus)
>>> result.step, result.val_bits_per_char < 1.0      # a uniform guess among 4 is 2 bits/char
(30, True)
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
import torch.nn.functional as F

from rnnprobe._atomic import atomic_write
from rnnprobe._validation import check_int, check_real
from rnnprobe.errors import InvalidArgument
from rnnprobe.flossing import flossing_loss
from rnnprobe.monitor import ProbeMonitor
from rnnprobe.sequence.charrnn import CharRNN, CharRNNSpec
from rnnprobe.sequence.checkpoint import load_checkpoint, save_checkpoint
from rnnprobe.sequence.corpus import Corpus, load_corpus

__all__ = ["TrainConfig", "TrainResult", "train", "evaluate", "read_rows", "CHECKPOINT_FILE", "ROWS_FILE",
           "META_FILE"]

CHECKPOINT_FILE = "model.pt"
ROWS_FILE = "monitor.csv"
META_FILE = "meta.json"
_LN2 = math.log(2.0)
#: configuration fields that may change between a run and its resumption
_RESUMABLE_CHANGES = ("steps",)


@dataclass(frozen=True)
class TrainConfig:
    """One training configuration (every field a plain value).

    Attributes
    ----------
    core, hidden_size, embedding_size, num_layers, options, seed, dtype
        The model (see :class:`~rnnprobe.sequence.charrnn.CharRNNSpec`).
    steps : int
        Optimizer updates, >= 1.
    batch_size : int
        Parallel text streams per step.
    bptt : int
        Characters per stream per step (the truncation of backpropagation through time).
    lr : float
        Adam's learning rate.
    clip : float or None
        Clip the global gradient norm to this value (None: no clipping).
    eval_every, probe_every, checkpoint_every : int
        Steps between validation evaluations, monitor probes, checkpoints.
    val_chars : int or None
        Evaluate on at most this many validation characters (None: all).
    probe_length : int
        Length of the monitor's probe sequence (the first validation characters).
    lyapunov_k : int
        Lyapunov exponents the monitor records.
    eps : float
        Threshold of the monitor's memory length.
    floss : int
        Gradient flossing: how many top Lyapunov exponents to push towards 0 (0: off).
    floss_weight : float
        Weight of the flossing term in the loss.
    floss_before : int
        Steps of flossing alone before the first training step.
    floss_batch : int
        Streams of the batch the flossing term is computed on.
    floss_lr : float
        Adam's learning rate of the flossing-only steps.
    """

    core: str = "lstm"
    hidden_size: int = 128
    embedding_size: int = 32
    num_layers: int = 1
    options: Mapping = field(default_factory=dict)
    seed: int = 0
    dtype: str = "float32"
    steps: int = 1000
    batch_size: int = 32
    bptt: int = 64
    lr: float = 2e-3
    clip: float | None = 1.0
    eval_every: int = 100
    probe_every: int = 100
    checkpoint_every: int = 100
    val_chars: int | None = 20_000
    probe_length: int = 200
    lyapunov_k: int = 4
    eps: float = 0.01
    floss: int = 0
    floss_weight: float = 0.1
    floss_before: int = 0
    floss_batch: int = 1
    floss_lr: float = 1e-3

    def __post_init__(self):
        spec = self.spec(vocab_size=1)          # validates the model fields
        object.__setattr__(self, "options", dict(spec.options))
        for name in ("steps", "batch_size", "bptt", "eval_every", "probe_every", "checkpoint_every",
                     "probe_length", "lyapunov_k", "floss_batch"):
            check_int(name, getattr(self, name), min_value=2 if name == "probe_length" else 1)
        for name in ("floss", "floss_before"):
            check_int(name, getattr(self, name), min_value=0)
        if self.val_chars is not None:
            check_int("val_chars", self.val_chars, min_value=2)
        check_real("lr", self.lr, low=0.0, low_open=True)
        check_real("floss_lr", self.floss_lr, low=0.0, low_open=True)
        check_real("floss_weight", self.floss_weight, low=0.0)
        check_real("eps", self.eps, low=0.0, high=1.0, low_open=True, high_open=True)
        if self.clip is not None:
            check_real("clip", self.clip, low=0.0, low_open=True, hint="None turns clipping off")
        if self.floss_before and not self.floss:
            raise InvalidArgument(f"floss_before needs floss >= 1 (how many exponents to floss); "
                                  f"got floss_before={self.floss_before!r} with floss=0")
        if self.floss > self.hidden_size:
            raise InvalidArgument(f"floss must be <= hidden_size = {self.hidden_size} (exponents of the core); "
                                  f"got {self.floss!r}")

    def spec(self, vocab_size: int) -> CharRNNSpec:
        """The model's spec for a vocabulary of ``vocab_size`` characters."""
        return CharRNNSpec(core=self.core, vocab_size=vocab_size, hidden_size=self.hidden_size,
                           embedding_size=self.embedding_size, num_layers=self.num_layers, options=self.options,
                           seed=self.seed, dtype=self.dtype)

    def as_dict(self) -> dict:
        out = asdict(self)
        out["options"] = dict(self.options)
        return out

    @classmethod
    def from_dict(cls, data: Mapping) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InvalidArgument(f"unknown training settings {unknown}; allowed: {', '.join(sorted(names))}")
        return cls(**dict(data))


@dataclass(frozen=True, eq=False)
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    model : CharRNN
        The trained model (after ``step`` updates).
    vocab : str
        Its vocabulary.
    step : int
        Updates done.
    val_bits_per_char : float
        Validation bits per character at the end.
    rows : list of dict
        The monitor's and the evaluations' tidy rows (see :data:`rnnprobe.monitor.MONITOR_COLUMNS`).
    resumed_from : int
        The step the run resumed from (0 for a fresh run).
    elapsed_s : float
        Wall seconds of this call.
    """

    model: CharRNN
    vocab: str
    step: int
    val_bits_per_char: float
    rows: list
    resumed_from: int = 0
    elapsed_s: float = 0.0


# --------------------------------------------------------------------------- data
def _streams(ids: torch.Tensor, batch_size: int) -> torch.Tensor:
    """``ids`` cut into ``batch_size`` equal streams, as columns ``(L, batch_size)``."""
    L = ids.numel() // batch_size
    return ids[: L * batch_size].reshape(batch_size, L).T.contiguous()


def _check_corpus(corpus: Corpus, config: TrainConfig) -> None:
    if not isinstance(corpus, Corpus):
        raise InvalidArgument(f"corpus must be a rnnprobe.sequence.Corpus; got {type(corpus).__name__}")
    need = config.batch_size * (config.bptt + 1)
    if corpus.train.numel() < need:
        raise InvalidArgument(
            f"the training text must hold at least one batch, batch_size x (bptt + 1) = {config.batch_size} x "
            f"{config.bptt + 1} = {need} characters; got {corpus.train.numel()} (lower batch_size or bptt, or give "
            f"a longer text)")
    if corpus.val.numel() < 2:
        raise InvalidArgument(f"the validation text must hold at least 2 characters; got {corpus.val.numel()}")


def evaluate(model: CharRNN, ids: torch.Tensor, *, batch_size: int = 32, bptt: int = 64) -> float:
    """Cross-entropy of ``model`` on the text ``ids``, in bits per character.

    The text is cut into at most ``batch_size`` streams read ``bptt`` characters
    at a time with the state carried, exactly as in training; every character
    after the first of its stream is predicted once.

    Examples
    --------
    A model that knows nothing predicts the uniform distribution: log2 V bits.

    >>> from rnnprobe.sequence.charrnn import CharRNN, CharRNNSpec
    >>> m = CharRNN(CharRNNSpec("gru", vocab_size=8, hidden_size=4, embedding_size=2))
    >>> with torch.no_grad():
    ...     _ = m.readout.weight.zero_(), m.readout.bias.zero_()
    >>> round(evaluate(m, torch.arange(8).repeat(10)), 6)
    3.0
    """
    batch_size = check_int("batch_size", batch_size, min_value=1)
    bptt = check_int("bptt", bptt, min_value=1)
    n = ids.numel()
    if n < 2:
        raise InvalidArgument(f"ids must hold at least 2 characters to evaluate; got {n}")
    streams = max(1, min(batch_size, (n - 1) // bptt))
    L = (n - 1) // streams
    x = ids[: streams * L].reshape(streams, L).T
    y = ids[1 : streams * L + 1].reshape(streams, L).T
    device = model.readout.weight.device
    total, count = 0.0, 0
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            state = None
            for start in range(0, L, bptt):
                xb, yb = x[start : start + bptt].to(device), y[start : start + bptt].to(device)
                logits, state = model(xb, state)
                total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]).double(), yb.reshape(-1),
                                               reduction="sum"))
                count += yb.numel()
    finally:
        model.train(was_training)
    bits = total / (count * _LN2)
    if not math.isfinite(bits):
        raise InvalidArgument(f"the model's validation loss is not finite ({bits!r}): its weights diverged")
    return bits


# --------------------------------------------------------------------------- rows file
def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _write_rows(path: Path, columns: list[str], rows: list[dict]) -> None:
    buffer = io.StringIO()
    w = csv.writer(buffer, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([_cell(r.get(c)) for c in columns])
    atomic_write(path, buffer.getvalue())


_INT_COLUMNS = ("step", "lag", "layer", "index")


def read_rows(path, context_types: Mapping[str, type] | None = None) -> list[dict]:
    """Read the rows :func:`train` wrote (``monitor.csv``) back as dicts (numbers as numbers, empty as None)."""
    types = dict(context_types or {})
    out = []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        for raw in reader:
            r = {}
            for key, text in raw.items():
                if text == "":
                    r[key] = None
                elif key in _INT_COLUMNS:
                    r[key] = int(text)
                elif key == "value":
                    r[key] = float(text)
                else:
                    r[key] = types.get(key, str)(text)
            out.append(r)
    return out


# --------------------------------------------------------------------------- training
def _identity(config: TrainConfig) -> dict:
    d = config.as_dict()
    for key in _RESUMABLE_CHANGES:
        d.pop(key)
    return d


def _damaged_training_state(training: dict) -> str | None:
    """What is wrong with a checkpoint's training state (None if it can be resumed from)."""
    if not isinstance(training["config"], dict):
        return f"config must be a dict; got {type(training['config']).__name__}"
    step, count, total = training.get("step"), training.get("loss_count"), training.get("loss_sum")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        return f"step must be an integer >= 0; got {step!r}"
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        return f"loss_count must be an integer >= 0; got {count!r}"
    if isinstance(total, bool) or not isinstance(total, (int, float)) or not math.isfinite(total):
        return f"loss_sum must be a finite number; got {total!r}"
    if not isinstance(training.get("optimizer"), dict) or not {"state", "param_groups"} <= set(training["optimizer"]):
        return "optimizer must be an optimizer state_dict {'state', 'param_groups'}"
    carry = training.get("carry")
    tensors = [carry] if isinstance(carry, torch.Tensor) else list(carry) if isinstance(carry, (list, tuple)) else []
    if carry is not None and not tensors:
        return f"carry must be None or the carried states (tensors); got {type(carry).__name__}"
    flat = []
    while tensors:
        t = tensors.pop()
        if isinstance(t, (list, tuple)):
            tensors.extend(t)
        elif not isinstance(t, torch.Tensor):
            return f"carry must hold tensors; got {type(t).__name__}"
        else:
            flat.append(t)
    if any(t.is_floating_point() and not bool(torch.isfinite(t).all()) for t in flat):
        return "carry must be finite; got NaN/Inf in the carried state"
    return None


def _resume(directory: Path, config: TrainConfig, corpus: Corpus):
    """The saved state to resume from, or None for a fresh run."""
    path = directory / CHECKPOINT_FILE
    if not path.exists():
        return None
    model, _, training = load_checkpoint(path, vocab=corpus.vocab, name="the run's checkpoint")
    if not isinstance(training, dict) or "config" not in training:
        raise InvalidArgument(f"the run's checkpoint {str(path)!r} has no training state; it cannot be "
                              "resumed (choose another directory)")
    problem = _damaged_training_state(training)
    if problem:
        raise InvalidArgument(f"the run's checkpoint {str(path)!r} holds a damaged training state ({problem}); it "
                              "cannot be resumed (choose another directory, or remove it to start again)")
    saved = dict(training["config"])
    saved.pop("steps", None)
    if saved != _identity(config):
        diff = sorted(k for k in set(saved) | set(_identity(config)) if saved.get(k) != _identity(config).get(k))
        raise InvalidArgument(f"directory {str(directory)!r} holds a run with other settings (differs in: "
                              f"{', '.join(diff)}); use the same settings to resume it, or another directory")
    if training.get("corpus_sha256") != corpus.source.get("sha256"):
        raise InvalidArgument(f"directory {str(directory)!r} holds a run on another text (sha256 "
                              f"{training.get('corpus_sha256')!r}); got a text with sha256 "
                              f"{corpus.source.get('sha256')!r}")
    if training["step"] > config.steps:
        raise InvalidArgument(f"steps must be >= {training['step']}, the steps the run in {str(directory)!r} "
                              f"has already done; got {config.steps!r}")
    return model, training


def _floss_term(model: CharRNN, x: torch.Tensor, config: TrainConfig, step: int) -> torch.Tensor:
    """The flossing regulariser Σ λ_i² of every core layer on the first streams of a batch."""
    ids = x[:, : config.floss_batch]
    total = 0.0
    for layer in range(config.num_layers):
        inputs = model.core_layer_inputs(ids, layer).detach()
        core = model.core_layer(layer)
        k = min(config.floss, core.state_size)
        total = total + flossing_loss(core, inputs, k, seed=step)
    return total


def train(config: TrainConfig, directory=None, *, corpus: Corpus | None = None, monitor: ProbeMonitor | None = None,
          context: Mapping | None = None, progress: Callable[[int, float], None] | None = None) -> TrainResult:
    """Train a char-RNN for ``config.steps`` updates, resuming from ``directory`` if it holds a checkpoint.

    Parameters
    ----------
    config : TrainConfig
    directory : path-like, optional
        Where ``model.pt`` (the latest checkpoint) and ``monitor.csv`` (the rows)
        go; None: no checkpoints (nothing is written).
    corpus : Corpus, optional
        The text (default: :func:`~rnnprobe.sequence.corpus.load_corpus`'s standard-library corpus).
    monitor : ProbeMonitor, optional
        Default: probes the core every ``config.probe_every`` steps on the first
        ``config.probe_length`` validation characters. Its ``rows`` are replaced
        by the run's (restored ones first when resuming).
    context : dict, optional
        Constant columns put first in every row of the default monitor (e.g. a
        study's grid columns: ``{"arch": "lstm", "seed": 0}``).
    progress : callable, optional
        Called as ``progress(step, loss)`` after every update (``loss``: the
        step's cross-entropy in nats per character).

    Returns
    -------
    TrainResult

    Raises
    ------
    InvalidArgument
        For a text shorter than one batch, or a directory holding a run with
        other settings, another text or another vocabulary.
    """
    started = time.perf_counter()
    if not isinstance(config, TrainConfig):
        raise InvalidArgument(f"config must be a TrainConfig; got {type(config).__name__}")
    corpus = load_corpus() if corpus is None else corpus
    _check_corpus(corpus, config)
    directory = None if directory is None else Path(directory)
    if directory is not None and directory.exists() and not directory.is_dir():
        raise InvalidArgument(f"directory must be a directory; got {str(directory)!r}, which is a file")
    probe_ids = corpus.val[: config.probe_length]
    if probe_ids.numel() < 2:
        raise InvalidArgument(f"the validation text must hold at least 2 characters to probe; got {probe_ids.numel()}")
    if monitor is None:
        monitor = ProbeMonitor(probe_ids, every=config.probe_every, eps=config.eps, lyapunov_k=config.lyapunov_k,
                               layers=range(config.num_layers), context=context)
    elif context is not None:
        raise InvalidArgument("context applies to the default monitor only; give it to your ProbeMonitor instead")
    elif not isinstance(monitor, ProbeMonitor):
        raise InvalidArgument(f"monitor must be a ProbeMonitor; got {type(monitor).__name__}")
    val_ids = corpus.val if config.val_chars is None else corpus.val[: config.val_chars]

    resumed = None if directory is None else _resume(directory, config, corpus)
    if resumed is None:
        model = CharRNN(config.spec(corpus.vocab_size))
        training = {"step": 0, "carry": None, "loss_sum": 0.0, "loss_count": 0, "finished": False}
        rows: list[dict] = []
    else:
        model, training = resumed
        if not (directory / ROWS_FILE).is_file():
            raise InvalidArgument(f"directory {str(directory)!r} holds a checkpoint but not its rows ({ROWS_FILE}); "
                                  "it cannot be resumed (choose another directory)")
        rows = [r for r in read_rows(directory / ROWS_FILE, _context_types(monitor))
                if r["step"] < training["step"]]
    start = int(training["step"])
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    if resumed is not None:
        try:
            opt.load_state_dict(training["optimizer"])
        except (ValueError, KeyError, TypeError, RuntimeError, IndexError) as exc:
            raise InvalidArgument(f"the run's checkpoint {str(directory / CHECKPOINT_FILE)!r} holds an optimizer "
                                  f"state that does not fit the model ({type(exc).__name__}: {exc}); it cannot be "
                                  "resumed (choose another directory, or remove it to start again)") from exc
    monitor.rows = rows
    carry = training.get("carry")
    loss_sum, loss_count = float(training["loss_sum"]), int(training["loss_count"])

    streams = _streams(corpus.train, config.batch_size)
    chunks = (streams.shape[0] - 1) // config.bptt

    def batch(step):
        chunk = step % chunks
        x = streams[chunk * config.bptt : (chunk + 1) * config.bptt]
        y = streams[chunk * config.bptt + 1 : (chunk + 1) * config.bptt + 1]
        return chunk, x, y

    def save(step, finished=False, running=None):
        if directory is None:
            return
        directory.mkdir(parents=True, exist_ok=True)
        _write_rows(directory / ROWS_FILE, monitor.columns, monitor.rows)
        total, count = (loss_sum, loss_count) if running is None else running
        save_checkpoint(directory / CHECKPOINT_FILE, model, corpus.vocab, training={
            "step": step, "config": config.as_dict(), "optimizer": opt.state_dict(),
            "carry": carry, "loss_sum": total, "loss_count": count, "finished": finished,
            "corpus_sha256": corpus.source.get("sha256")})
        atomic_write(directory / META_FILE, json.dumps(_meta(config, corpus, monitor, step, finished, start,
                                                            time.perf_counter() - started), indent=1))

    def evaluation_rows(step):
        nonlocal loss_sum, loss_count
        if loss_count:
            monitor.log(step, "train_loss", loss_sum / loss_count)
        loss_sum, loss_count = 0.0, 0
        monitor.log(step, "val_bits_per_char", evaluate(model, val_ids, batch_size=config.batch_size,
                                                         bptt=config.bptt))

    if start == 0 and config.floss_before:
        _floss_before(model, streams, config)

    def loss_of(step, state, final=False):
        chunk, x, y = batch(step)
        if chunk == 0:
            state = None
        logits, state = model(x, state)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        total = loss
        if config.floss:
            fl = _floss_term(model, x, config, step)
            total = total + config.floss_weight * fl
            if final or monitor.due(step):
                monitor.log(step, "flossing_loss", float(fl.detach()))
        return loss, total, state

    for step in range(start, config.steps):
        if step % config.eval_every == 0:
            evaluation_rows(step)
        loss, total, state = loss_of(step, carry)
        if not math.isfinite(float(total.detach())):
            raise InvalidArgument(f"the training loss is not finite at step {step} ({float(total.detach())!r}): "
                                  f"lower lr (got {config.lr!r}) or clip the gradients (clip={config.clip!r})")
        opt.zero_grad()
        total.backward()
        monitor(step, model, loss=loss, parameters=model)
        if config.clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        opt.step()
        carry = CharRNN.detach_state(state)
        loss_sum += float(loss.detach())
        loss_count += 1
        if (step + 1) % config.checkpoint_every == 0 and step + 1 < config.steps:
            save(step + 1)
        if progress is not None:
            progress(step + 1, float(loss.detach()))

    end = config.steps
    if not (training.get("finished") and start == end):
        running = (loss_sum, loss_count)               # an extended run resumes with them
        evaluation_rows(end)
        loss, total, _ = loss_of(end, carry, final=True)   # the gradient at the final weights; no update
        opt.zero_grad()
        total.backward()
        monitor(end, model, loss=loss, parameters=model, force=True)
        opt.zero_grad()
        save(end, finished=True, running=running)
    else:
        monitor.rows = read_rows(directory / ROWS_FILE, _context_types(monitor))
    bpc = next(r["value"] for r in reversed(monitor.rows) if r["metric"] == "val_bits_per_char")
    return TrainResult(model=model, vocab=corpus.vocab, step=end, val_bits_per_char=bpc, rows=list(monitor.rows),
                       resumed_from=start, elapsed_s=time.perf_counter() - started)


def _meta(config: TrainConfig, corpus: Corpus, monitor: ProbeMonitor, step: int, finished: bool, start: int,
          elapsed: float) -> dict:
    """What a run directory's meta.json says: the text, the settings, the progress, the versions."""
    from importlib import metadata

    bpc = [r["value"] for r in monitor.rows if r["metric"] == "val_bits_per_char"]
    versions = {"python": platform.python_version()}
    for dist in ("rnnprobe", "torch"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "kind": "char-rnn training run",
        "step": step, "finished": finished, "resumed_from": start,
        "val_bits_per_char": bpc[-1] if bpc else None,
        "config": config.as_dict(),
        "corpus": corpus.source,
        "vocab": corpus.vocab,
        "monitor": {"every": monitor.every, "eps": monitor.eps, "lyapunov_k": monitor.lyapunov_k,
                    "burn_in": monitor.burn_in, "layers": list(monitor.layers),
                    "probe_length": int(monitor.inputs.shape[0])},
        "files": {"checkpoint": CHECKPOINT_FILE, "rows": ROWS_FILE},
        "columns": list(monitor.columns),
        "elapsed_s": elapsed,
        "versions": versions,
        "host": {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads()},
    }


def _context_types(monitor: ProbeMonitor) -> dict:
    return {k: type(v) for k, v in monitor.context.items() if v is not None}


def _floss_before(model: CharRNN, streams: torch.Tensor, config: TrainConfig) -> None:
    """``floss_before`` Adam steps on the flossing term alone (the core's parameters only)."""
    params = [p for layer in range(config.num_layers) for p in _core_parameters(model, layer)]
    opt = torch.optim.Adam(params, lr=config.floss_lr)
    chunks = (streams.shape[0] - 1) // config.bptt
    for i in range(config.floss_before):
        chunk = i % chunks
        x = streams[chunk * config.bptt : (chunk + 1) * config.bptt]
        loss = _floss_term(model, x, config, i)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.zero_grad()


def _core_parameters(model: CharRNN, layer: int):
    if model.fused:
        return [p for name, p in model.core.named_parameters() if name.endswith(f"_l{layer}")]
    return list(model.core[layer].parameters())

