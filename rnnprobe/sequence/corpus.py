"""A character-level corpus: text, its vocabulary, and a train/validation split.

The text is any UTF-8 file, or by default text that every Python installation
carries: a fixed, sorted list of the standard library's own source files
(:data:`DEFAULT_MODULES`), read from ``sysconfig.get_paths()["stdlib"]``. A
module missing from an installation is skipped and the list is topped up,
deterministically, with the next files (by name) of the standard library until
the text holds at least :data:`DEFAULT_MIN_CHARS` characters. The files used,
the text's size and its SHA-256 are recorded in :attr:`Corpus.source`.

The vocabulary is the sorted set of characters of the whole text, so the
validation text has no unknown characters. The split is contiguous: the last
``val_fraction`` of the text is the validation text.

Examples
--------
>>> from rnnprobe.sequence.corpus import Corpus
>>> c = Corpus.from_text("abracadabra " * 10, val_fraction=0.2)
>>> c.vocab, c.vocab_size, len(c.train), len(c.val)
(' abcdr', 6, 96, 24)
>>> c.decode(c.encode("cab"))
'cab'
"""

from __future__ import annotations

import hashlib
import os
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

import torch

from rnnprobe._validation import check_int, check_real
from rnnprobe.errors import InvalidArgument

__all__ = ["Corpus", "load_corpus", "default_corpus_files", "DEFAULT_MODULES", "DEFAULT_MIN_CHARS"]

#: the standard-library sources of the default corpus, in this order
DEFAULT_MODULES = (
    "bisect.py", "calendar.py", "contextlib.py", "copy.py", "difflib.py", "fractions.py", "functools.py",
    "heapq.py", "random.py", "shlex.py", "statistics.py", "string.py", "textwrap.py",
)
#: the default corpus is topped up with further stdlib files until it holds this many characters
DEFAULT_MIN_CHARS = 300_000
#: separator between the files of the default corpus
FILE_SEPARATOR = "\n\n"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, eq=False)
class Corpus:
    """A text as character ids, split into training and validation parts.

    Attributes
    ----------
    vocab : str
        The distinct characters of the text, sorted; character ``vocab[i]`` has id ``i``.
    train, val : torch.Tensor
        Character ids (int64) of the training and validation texts.
    source : dict
        Where the text came from: ``kind`` (``'file'``, ``'stdlib'`` or
        ``'text'``), ``path`` or ``files``, ``chars``, ``bytes`` and ``sha256``
        of the whole text, ``val_fraction``.
    """

    vocab: str
    train: torch.Tensor
    val: torch.Tensor
    source: dict = field(default_factory=dict)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @classmethod
    def from_text(cls, text: str, *, val_fraction: float = 0.1, source: dict | None = None,
                  name: str = "text") -> Corpus:
        """Build a corpus from a string.

        Parameters
        ----------
        text : str
            At least two characters (one for each part), and two distinct ones.
        val_fraction : float
            Fraction of the text, in (0, 1), kept for validation (its end).
        source : dict, optional
            Provenance merged into :attr:`source`.
        name : str
            Name of the text in error messages (a CLI option, a path).
        """
        if not isinstance(text, str):
            raise InvalidArgument(f"{name} must be a str; got {type(text).__name__}")
        val_fraction = check_real("val_fraction", val_fraction, low=0.0, high=1.0, low_open=True, high_open=True)
        if len(text) < 2:
            raise InvalidArgument(f"{name} must hold at least 2 characters (a training and a validation part); "
                                  f"got {len(text)} character(s): {text!r}")
        vocab = "".join(sorted(set(text)))
        if len(vocab) < 2:
            raise InvalidArgument(f"{name} must hold at least 2 distinct characters (with one there is nothing to "
                                  f"predict: every model scores 0 bits/char); got only {vocab!r}, "
                                  f"{len(text)} times")
        lookup = {ch: i for i, ch in enumerate(vocab)}
        ids = torch.tensor([lookup[ch] for ch in text], dtype=torch.int64)
        n_val = min(len(text) - 1, max(1, round(len(text) * val_fraction)))
        info = {"kind": "text", "chars": len(text), "bytes": len(text.encode("utf-8")), "sha256": _sha256(text),
                "val_fraction": val_fraction, "train_chars": len(text) - n_val, "val_chars": n_val,
                "vocab_size": len(vocab)}
        info.update(source or {})
        return cls(vocab=vocab, train=ids[:-n_val], val=ids[-n_val:], source=info)

    def encode(self, text: str, *, name: str = "text") -> torch.Tensor:
        """Character ids of ``text``; every character must be in the vocabulary."""
        lookup = {ch: i for i, ch in enumerate(self.vocab)}
        missing = sorted({ch for ch in text if ch not in lookup})
        if missing:
            raise InvalidArgument(f"{name} has characters outside the vocabulary ({self.vocab_size} characters): "
                                  f"{''.join(missing)!r}; got {text[:40]!r}")
        return torch.tensor([lookup[ch] for ch in text], dtype=torch.int64)

    def decode(self, ids) -> str:
        """The text of character ids."""
        return "".join(self.vocab[int(i)] for i in ids)


def default_corpus_files(stdlib: str | os.PathLike | None = None, *, min_chars: int = DEFAULT_MIN_CHARS) -> list[Path]:
    """The standard-library files of the default corpus, in order.

    :data:`DEFAULT_MODULES` that exist, then (only if they hold fewer than
    ``min_chars`` bytes) the other ``*.py`` files of the directory by sorted name.
    """
    root = Path(sysconfig.get_paths()["stdlib"] if stdlib is None else stdlib)
    files = [root / name for name in DEFAULT_MODULES if (root / name).is_file()]
    total = sum(f.stat().st_size for f in files)
    if total < min_chars:
        chosen = set(files)
        for f in sorted(root.glob("*.py")):
            if total >= min_chars:
                break
            if f not in chosen and f.is_file():
                files.append(f)
                total += f.stat().st_size
    if not files:
        raise InvalidArgument(f"the standard library directory holds no Python sources; got {str(root)!r} "
                              "(give a text file instead)")
    return files


def _read_text(path: Path, name: str) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidArgument(f"{name} must be a readable file; got {str(path)!r} ({exc.strerror or exc})") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidArgument(f"{name} must be UTF-8 text; got {str(path)!r}, whose byte {exc.start} "
                              f"({data[exc.start:exc.start + 1]!r}) is not UTF-8") from exc


def load_corpus(path: str | os.PathLike | None = None, *, val_fraction: float = 0.1, max_chars: int | None = None,
                name: str = "text") -> Corpus:
    """Read a character corpus from a UTF-8 file, or the default (standard-library) corpus.

    Parameters
    ----------
    path : path-like, optional
        A UTF-8 text file; None for the default corpus.
    val_fraction : float
        Fraction of the text kept for validation (its end), in (0, 1).
    max_chars : int, optional
        Keep only the first ``max_chars`` characters.
    name : str
        Name of the file in error messages (the CLI passes ``--text``).

    Returns
    -------
    Corpus

    Raises
    ------
    InvalidArgument
        For a missing, empty or non-UTF-8 file, or a text of fewer than 2
        distinct characters.

    Examples
    --------
    >>> c = load_corpus(max_chars=20000)
    >>> c.source["kind"], c.source["chars"], len(c.source["sha256"])
    ('stdlib', 20000, 64)
    """
    if max_chars is not None:
        max_chars = check_int("max_chars", max_chars, min_value=2)
    if path is None:
        files = default_corpus_files()
        text = FILE_SEPARATOR.join(_read_text(f, "the default corpus file") for f in files)
        info = {"kind": "stdlib", "root": str(files[0].parent), "files": [f.name for f in files]}
    else:
        path = Path(path)
        text = _read_text(path, name)
        if not text:
            raise InvalidArgument(f"{name} must not be empty; got {str(path)!r} (0 bytes)")
        info = {"kind": "file", "path": str(path)}
    if max_chars is not None:
        text = text[:max_chars]
    return Corpus.from_text(text, val_fraction=val_fraction, source=info, name=name)
