"""Char-RNN checkpoints: ``{"spec", "state_dict", "vocab"}``, loaded with ``weights_only=True``.

A checkpoint is a dict of plain values and tensors (no pickled code):

* ``spec``: ``{"charrnn": CharRNNSpec.as_dict()}``;
* ``state_dict``: the model's parameters;
* ``vocab``: the characters, a str (character ``vocab[i]`` has id ``i``);
* ``training`` (optional): what resuming needs — the step, the training
  configuration, the optimizer's state, the carried recurrent state.

``rnnprobe probe --model model.pt`` reads the same files (it probes the core).
Files are written atomically (a temporary file, then ``os.replace``): a run
killed while saving leaves the previous checkpoint intact.

Examples
--------
>>> import tempfile, os
>>> from rnnprobe.sequence.charrnn import CharRNN, CharRNNSpec
>>> model = CharRNN(CharRNNSpec("lstm", vocab_size=3, hidden_size=4, embedding_size=2))
>>> path = os.path.join(tempfile.mkdtemp(), "model.pt")
>>> _ = save_checkpoint(path, model, "abc")
>>> loaded, vocab, training = load_checkpoint(path, vocab="abc")
>>> vocab, training, loaded.spec == model.spec
('abc', None, True)
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Mapping
from pathlib import Path

import torch

from rnnprobe._atomic import atomic_write
from rnnprobe.errors import InvalidArgument
from rnnprobe.sequence.charrnn import CharRNN, CharRNNSpec

__all__ = ["save_checkpoint", "load_checkpoint", "read_checkpoint", "charrnn_from_checkpoint", "is_charrnn_spec"]

SPEC_KEY = "charrnn"


def is_charrnn_spec(spec) -> bool:
    """Whether a checkpoint's ``spec`` describes a char-RNN."""
    return isinstance(spec, Mapping) and SPEC_KEY in spec


def _atomic_save(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write(path, buffer.getvalue())


def save_checkpoint(path, model: CharRNN, vocab: str, *, training: Mapping | None = None) -> Path:
    """Write a checkpoint atomically and return its path.

    Parameters
    ----------
    path : path-like
        The file (its directory is created).
    model : CharRNN
    vocab : str
        The characters of the model's vocabulary, ``len(vocab) == spec.vocab_size``.
    training : dict, optional
        Training state for resuming (plain values and tensors only).
    """
    if not isinstance(model, CharRNN):
        raise InvalidArgument(f"model must be a CharRNN; got {type(model).__name__}")
    if not isinstance(vocab, str) or len(vocab) != model.spec.vocab_size:
        raise InvalidArgument(f"vocab must be a str of {model.spec.vocab_size} characters (the model's vocab_size); "
                              f"got {vocab!r}")
    blob = {"spec": {SPEC_KEY: model.spec.as_dict()}, "state_dict": model.state_dict(), "vocab": vocab}
    if training is not None:
        blob["training"] = dict(training)
    path = Path(path)
    _atomic_save(blob, path)
    return path


def read_checkpoint(path, *, name: str = "checkpoint") -> dict:
    """The raw checkpoint dict, read with ``torch.load(weights_only=True)``.

    Raises
    ------
    InvalidArgument
        When the file is missing, unreadable, holds pickled objects, or is not a
        char-RNN checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidArgument(f"{name} must be an existing checkpoint file; got {str(path)!r}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" in str(exc):
            raise InvalidArgument(f"{name} {str(path)!r} holds pickled Python objects, not a char-RNN checkpoint "
                                  f"(torch.load(weights_only=True) refused it)") from exc
        raise InvalidArgument(f"{name} must be a file torch.load can read; got {str(path)!r} ({exc})") from exc
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a bad argument
        raise InvalidArgument(f"{name} must be a file torch.load can read; got {str(path)!r} "
                              f"({type(exc).__name__}: {exc})") from exc
    if not isinstance(blob, dict) or not {"spec", "state_dict", "vocab"} <= set(blob) \
            or not is_charrnn_spec(blob["spec"]):
        raise InvalidArgument(f"{name} must be a char-RNN checkpoint {{'spec': {{'charrnn': ...}}, 'state_dict', "
                              f"'vocab'}}; got {str(path)!r} with keys "
                              f"{sorted(blob) if isinstance(blob, dict) else type(blob).__name__}")
    return blob


def charrnn_from_checkpoint(spec, state_dict, *, name: str = "checkpoint") -> CharRNN:
    """Rebuild a :class:`CharRNN` from a checkpoint's ``spec`` and ``state_dict``."""
    if not is_charrnn_spec(spec):
        raise InvalidArgument(f"{name} spec must be {{'charrnn': {{...}}}}; got {spec!r}")
    try:
        model = CharRNN(CharRNNSpec.from_dict(spec[SPEC_KEY]))
    except InvalidArgument as exc:          # a tampered spec, or one from another version of rnnprobe
        raise InvalidArgument(f"{name} spec is not a char-RNN spec this rnnprobe can build ({exc})") from exc
    if not isinstance(state_dict, Mapping):
        raise InvalidArgument(f"{name} state_dict must be a dict of tensors; got {type(state_dict).__name__}")
    for key, value in state_dict.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise InvalidArgument(f"{name} state_dict must hold finite values; got NaN/Inf in {key!r}")
    try:
        model.load_state_dict(state_dict)
    except (RuntimeError, TypeError, KeyError, AttributeError) as exc:
        raise InvalidArgument(f"{name} state_dict does not fit its spec {spec[SPEC_KEY]!r}: "
                              f"{' '.join(str(exc).split())}") from exc
    return model


def load_checkpoint(path, *, vocab: str | None = None, name: str = "checkpoint") -> tuple[CharRNN, str, dict | None]:
    """Load a char-RNN checkpoint.

    Parameters
    ----------
    path : path-like
    vocab : str, optional
        The vocabulary the caller's text uses; a checkpoint with another
        vocabulary is refused (its ids would mean other characters).
    name : str
        Name of the file in error messages.

    Returns
    -------
    (CharRNN, str, dict or None)
        The model (in training mode, on the CPU), its vocabulary and its
        training state (None for a checkpoint saved without one).
    """
    blob = read_checkpoint(path, name=name)
    saved = blob["vocab"]
    if not isinstance(saved, str):
        raise InvalidArgument(f"{name} vocab must be a str; got {type(saved).__name__} in {str(path)!r}")
    if vocab is not None and vocab != saved:
        only_saved = "".join(sorted(set(saved) - set(vocab)))
        only_given = "".join(sorted(set(vocab) - set(saved)))
        raise InvalidArgument(
            f"the vocabulary of {name} {str(path)!r} ({len(saved)} characters) does not match the text's "
            f"({len(vocab)} characters): only in the checkpoint {only_saved!r}, only in the text {only_given!r}"
            + ("" if only_saved or only_given else " (same characters, other order)") + f"; got vocab={vocab!r}")
    model = charrnn_from_checkpoint(blob["spec"], blob["state_dict"], name=name)
    if len(saved) != model.spec.vocab_size:
        raise InvalidArgument(f"{name} vocab has {len(saved)} characters but its spec says vocab_size="
                              f"{model.spec.vocab_size}; got {str(path)!r}")
    return model, saved, blob.get("training")
