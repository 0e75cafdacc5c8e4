"""Synthetic sequence-to-sequence tasks that need long-range access: copy and reverse.

A source is ``length`` symbols drawn uniformly from ``0 … vocab_size − 1``; the
target is the source itself (``copy``) or the source reversed (``reverse``).
Decoders read the target shifted right by one behind a start symbol
``BOS = vocab_size`` (teacher forcing), so they see ``vocab_size + 1`` symbols.
Every batch is drawn from an explicit seed or ``torch.Generator``.

Target position ``s`` is *aligned* with source position ``s`` (copy) or
``T − 1 − s`` (reverse): the symbol it must output sits there. For reversal the
alignment is the anti-diagonal (the lecture's "attention layer visualised").

Examples
--------
>>> from rnnprobe.attention.tasks import SequenceTask
>>> task = SequenceTask("reverse", vocab_size=5, length=4)
>>> b = task.batch(2, seed=0)
>>> b.source.shape, b.decoder_inputs.shape, b.targets.shape
(torch.Size([4, 2]), torch.Size([4, 2]), torch.Size([4, 2]))
>>> bool((b.targets == b.source.flip(0)).all()), b.decoder_inputs[0].tolist() == [task.bos] * 2
(True, True)
>>> task.alignment().tolist()
[3, 2, 1, 0]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

from rnnprobe._validation import check_choice, check_int
from rnnprobe.errors import InvalidArgument

__all__ = ["SequenceTask", "TaskBatch", "TASKS"]

#: the task names and what the target is
TASKS = {"copy": "the source itself", "reverse": "the source reversed"}


class TaskBatch(NamedTuple):
    """One batch of a sequence task, time-major ``(T, B)`` integer tensors.

    Attributes
    ----------
    source : torch.Tensor
        The source symbols, ``(T, B)``, in ``[0, vocab_size)``.
    decoder_inputs : torch.Tensor
        ``BOS`` followed by the target without its last symbol, ``(T, B)`` (teacher forcing).
    targets : torch.Tensor
        What the decoder must output at each position, ``(T, B)``.
    """

    source: torch.Tensor
    decoder_inputs: torch.Tensor
    targets: torch.Tensor


@dataclass(frozen=True)
class SequenceTask:
    """Copy or reverse random symbol sequences of one length.

    Parameters
    ----------
    name : {'copy', 'reverse'}
        What the target is (see :data:`TASKS`).
    vocab_size : int
        Number of source symbols V >= 2 (the decoder's start symbol is V).
    length : int
        Source (and target) length T >= 1.
    """

    name: str
    vocab_size: int
    length: int

    def __post_init__(self):
        check_choice("task", self.name, TASKS)
        check_int("vocab_size", self.vocab_size, min_value=2)
        check_int("length", self.length, min_value=1)

    @property
    def bos(self) -> int:
        """The decoder's start symbol, ``vocab_size``."""
        return self.vocab_size

    @property
    def decoder_vocab_size(self) -> int:
        """Symbols a decoder reads: the V source symbols and BOS."""
        return self.vocab_size + 1

    def alignment(self) -> torch.Tensor:
        """The source position aligned with each target position, ``(T,)``."""
        s = torch.arange(self.length)
        return s if self.name == "copy" else self.length - 1 - s

    def targets_of(self, source: torch.Tensor) -> torch.Tensor:
        """The target sequence of a source ``(T, …)``."""
        return source if self.name == "copy" else source.flip(0)

    def batch(self, batch_size: int, *, seed: int | None = None, generator: torch.Generator | None = None,
              device=None) -> TaskBatch:
        """Draw ``batch_size`` random sources and their targets.

        Parameters
        ----------
        batch_size : int
            B >= 1.
        seed : int, optional
            Seed of a fresh generator (give exactly one of ``seed`` and ``generator``).
        generator : torch.Generator, optional
            A generator to draw from (successive calls give successive batches).
        device : torch.device or str, optional
            Where the tensors go (drawn on the CPU first, so the same seed gives the same symbols).

        Returns
        -------
        TaskBatch
        """
        batch_size = check_int("batch_size", batch_size, min_value=1)
        if (seed is None) == (generator is None):
            raise InvalidArgument(
                f"give exactly one of seed and generator; got seed={seed!r} and generator={generator!r}")
        if generator is None:
            generator = torch.Generator().manual_seed(check_int("seed", seed, min_value=0))
        elif not isinstance(generator, torch.Generator):
            raise InvalidArgument(f"generator must be a torch.Generator; got {type(generator).__name__}")
        source = torch.randint(0, self.vocab_size, (self.length, batch_size), generator=generator)
        targets = self.targets_of(source)
        bos = torch.full((1, batch_size), self.bos, dtype=source.dtype)
        decoder_inputs = torch.cat([bos, targets[:-1]])
        if device is not None:
            source, decoder_inputs, targets = (t.to(device) for t in (source, decoder_inputs, targets))
        return TaskBatch(source, decoder_inputs, targets)
