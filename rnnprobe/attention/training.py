"""Train a sequence-to-sequence model briefly on a task, and measure it.

:func:`train_seq2seq` runs Adam on the cross-entropy of teacher-forced batches drawn from
a seed (the model is trained in place; the losses are returned); :func:`evaluate_seq2seq`
measures token and whole-sequence accuracy on fresh batches, greedy-decoded by default;
:func:`alignment_accuracy` is the share of target positions whose largest attention
weight falls on the aligned source position (for reversal: the anti-diagonal).

Examples
--------
>>> import rnnprobe
>>> from rnnprobe.attention import EncoderDecoder, SequenceTask, train_seq2seq, evaluate_seq2seq
>>> task = SequenceTask("copy", vocab_size=3, length=3)
>>> core = lambda seed: rnnprobe.build("gru", hidden_size=8, input_size=4, seed=seed)
>>> model = EncoderDecoder(core(0), core(1), vocab_size=3, seed=0)
>>> log = train_seq2seq(model, task, steps=5, seed=0, batch_size=8)
>>> len(log.losses), bool(log.losses[-1] < log.losses[0])
(5, True)
>>> 0.0 <= evaluate_seq2seq(model, task, seed=1).token_accuracy <= 1.0
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from rnnprobe._validation import check_finite_tensor, check_int, check_real
from rnnprobe.attention.tasks import SequenceTask
from rnnprobe.errors import InvalidArgument

__all__ = ["train_seq2seq", "TrainingLog", "evaluate_seq2seq", "Accuracy", "alignment_accuracy"]


@dataclass(frozen=True)
class TrainingLog:
    """What :func:`train_seq2seq` did.

    Attributes
    ----------
    losses : torch.Tensor
        Mean cross-entropy (nats per symbol) of each step's batch, ``(steps,)``, before that step's update.
    task : SequenceTask
    seed, batch_size : int
    lr : float
    """

    losses: torch.Tensor
    task: SequenceTask
    seed: int
    batch_size: int
    lr: float


@dataclass(frozen=True)
class Accuracy:
    """Accuracy of a model on fresh batches of a task.

    Attributes
    ----------
    token_accuracy : float
        Share of target symbols right.
    sequence_accuracy : float
        Share of sequences with every symbol right.
    greedy : bool
        Whether the model decoded its own outputs (else teacher forcing).
    samples : int
        Number of sequences.
    """

    token_accuracy: float
    sequence_accuracy: float
    greedy: bool
    samples: int


def _check(model, task):
    if not isinstance(model, nn.Module) or not callable(getattr(model, "generate", None)):
        raise InvalidArgument(
            f"model must be a sequence-to-sequence module (EncoderDecoder, CausalTransformer); got {type(model).__name__}")
    if not isinstance(task, SequenceTask):
        raise InvalidArgument(f"task must be a SequenceTask; got {type(task).__name__}")
    if getattr(model, "vocab_size", None) != task.vocab_size:
        raise InvalidArgument(
            f"task.vocab_size must equal the model's vocab_size = {getattr(model, 'vocab_size', None)}; got {task.vocab_size!r}")


def _device(model):
    return next(model.parameters()).device


def train_seq2seq(model, task: SequenceTask, steps: int, *, seed: int = 0, batch_size: int = 32,
                  lr: float = 1e-2, clip: float = 1.0) -> TrainingLog:
    """Train ``model`` in place with Adam on teacher-forced batches of ``task``.

    Parameters
    ----------
    model : EncoderDecoder or CausalTransformer
        Any module ``model(source, decoder_inputs) -> (logits, …)`` with a ``vocab_size``.
    task : SequenceTask
    steps : int
        Optimiser steps (one fresh batch each), >= 1.
    seed : int
        Seed of the batches (the model's initial weights come from its own seed).
    batch_size : int
    lr : float
        Adam's learning rate.
    clip : float
        Gradient-norm clipping threshold (> 0).

    Returns
    -------
    TrainingLog
        The model is left in eval mode.

    Raises
    ------
    InvalidArgument
        For bad arguments, or a non-finite loss (the message names the step).
    """
    _check(model, task)
    steps = check_int("steps", steps, min_value=1)
    seed = check_int("seed", seed, min_value=0)
    batch_size = check_int("batch_size", batch_size, min_value=1)
    lr = check_real("lr", lr, low=0.0, low_open=True)
    clip = check_real("clip", clip, low=0.0, low_open=True)
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    device = _device(model)
    losses = []
    model.train()
    for step in range(steps):
        batch = task.batch(batch_size, generator=generator, device=device)
        logits = model(batch.source, batch.decoder_inputs)[0]
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch.targets.reshape(-1))
        if not math.isfinite(loss.item()):
            raise InvalidArgument(f"training diverged: the loss is {loss.item()!r} at step {step} (lower lr={lr!r})")
        optimiser.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimiser.step()
        losses.append(loss.item())
    model.eval()
    return TrainingLog(torch.tensor(losses, dtype=torch.float64), task, seed, batch_size, lr)


@torch.no_grad()
def evaluate_seq2seq(model, task: SequenceTask, *, samples: int = 256, seed: int = 12345,
                     greedy: bool = True) -> Accuracy:
    """Token and sequence accuracy on ``samples`` fresh sequences of ``task``.

    Parameters
    ----------
    model : EncoderDecoder or CausalTransformer
    task : SequenceTask
    samples : int
        Number of sequences (one batch).
    seed : int
        Seed of the evaluation batch (keep it apart from the training seeds).
    greedy : bool
        Decode greedily, feeding back the model's own symbols (default); else teacher forcing.

    Returns
    -------
    Accuracy
    """
    _check(model, task)
    samples = check_int("samples", samples, min_value=1)
    batch = task.batch(samples, seed=check_int("seed", seed, min_value=0), device=_device(model))
    was_training = model.training
    model.eval()
    if greedy:
        logits = model.generate(batch.source, task.length)[0]
    else:
        logits = model(batch.source, batch.decoder_inputs)[0]
    model.train(was_training)
    if not bool(torch.isfinite(logits).all()):
        raise InvalidArgument("model must give finite logits to be evaluated; got NaN/Inf")
    right = logits.argmax(-1) == batch.targets
    return Accuracy(float(right.double().mean()), float(right.all(0).double().mean()), bool(greedy), samples)


def alignment_accuracy(attention: torch.Tensor, task: SequenceTask) -> float:
    """Share of target positions whose largest weight is on the aligned source position.

    Parameters
    ----------
    attention : torch.Tensor
        ``(B, S, T)`` or ``(S, T)`` weights (``[b, s, t] = α_{t,s}``) with S = T = ``task.length``.
    task : SequenceTask
        Gives the alignment (copy: t = s; reverse: t = T − 1 − s).

    Returns
    -------
    float
        In [0, 1].

    Examples
    --------
    >>> import torch
    >>> from rnnprobe.attention.tasks import SequenceTask
    >>> alignment_accuracy(torch.eye(4).flip(1), SequenceTask("reverse", 3, 4))
    1.0
    """
    if not isinstance(task, SequenceTask):
        raise InvalidArgument(f"task must be a SequenceTask; got {type(task).__name__}")
    T = task.length
    if not isinstance(attention, torch.Tensor) or attention.ndim not in (2, 3) or tuple(attention.shape[-2:]) != (T, T):
        raise InvalidArgument(
            f"attention must have shape (B, {T}, {T}) or ({T}, {T}) for a task of length {T}; got "
            f"{tuple(attention.shape) if isinstance(attention, torch.Tensor) else type(attention).__name__}")
    check_finite_tensor("attention", attention)
    hits = attention.argmax(-1) == task.alignment().to(attention.device)
    return float(hits.double().mean())
