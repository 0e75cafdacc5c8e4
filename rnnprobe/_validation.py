"""Argument checks shared by every public function.

Each check raises :class:`~rnnprobe.errors.InvalidArgument` with a message
that names the parameter, the allowed set or range and the value received.
This module does not import torch (the tensor checks import it when called),
so that the studies layer and the command line can validate without it.

Examples
--------
>>> check_int("jobs", 0, min_value=1)
Traceback (most recent call last):
...
rnnprobe.errors.InvalidArgument: jobs must be >= 1; got 0
"""

from __future__ import annotations

import difflib
import math
import numbers
import os
from collections.abc import Iterable
from pathlib import Path

from rnnprobe.errors import InvalidArgument

__all__ = [
    "check_choice",
    "check_int",
    "check_real",
    "check_finite_tensor",
    "check_dtype",
    "check_bool",
    "check_seed",
    "check_output_directory",
    "nearest",
    "DTYPE_NAMES",
]

#: the largest seed torch's generators take (an unsigned 64-bit integer)
MAX_SEED = 2**64 - 1


def nearest(value: str, choices: Iterable[str]) -> str | None:
    """Return the closest spelling of ``value`` among ``choices`` (or None)."""
    matches = difflib.get_close_matches(str(value), list(choices), n=1, cutoff=0.5)
    return matches[0] if matches else None


def check_choice(name: str, value, choices: Iterable[str]):
    """Check that ``value`` is one of ``choices``; suggest the nearest spelling."""
    choices = list(choices)
    if value not in choices:
        hint = nearest(value, choices) if isinstance(value, str) else None
        msg = f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}"
        if hint is not None:
            msg += f" (did you mean {hint!r}?)"
        raise InvalidArgument(msg)
    return value


def check_int(name: str, value, *, min_value: int | None = None, max_value: int | None = None) -> int:
    """Check that ``value`` is an integer in ``[min_value, max_value]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidArgument(f"{name} must be an integer; got {value!r}")
    value = int(value)
    if min_value is not None and value < min_value:
        raise InvalidArgument(f"{name} must be >= {min_value}; got {value!r}")
    if max_value is not None and value > max_value:
        raise InvalidArgument(f"{name} must be <= {max_value}; got {value!r}")
    return value


def check_bool(name: str, value) -> bool:
    """Check that ``value`` is a bool (``True``/``False``; numpy bools too): ``log='no'`` is not True."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return bool(value)
    raise InvalidArgument(f"{name} must be True or False; got {value!r}")


def check_seed(name: str, value) -> int:
    """Check that ``value`` is a seed torch accepts: an integer in ``[0, 2**64 - 1]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidArgument(f"{name} must be an integer in [0, 2**64 - 1]; got {value!r}")
    value = int(value)
    if not 0 <= value <= MAX_SEED:
        raise InvalidArgument(f"{name} must be an integer in [0, 2**64 - 1]; got {value!r}")
    return value


def check_real(
    name: str,
    value,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    hint: str = "",
) -> float:
    """Check that ``value`` is a finite real number in the given interval."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise InvalidArgument(f"{name} must be a finite real number; got {value!r}")
    value = float(value)
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        left = "(" if low_open or low is None else "["
        right = ")" if high_open or high is None else "]"
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        msg = f"{name} must lie in {left}{lo}, {hi}{right}; got {value!r}"
        if hint:
            msg += f" ({hint})"
        raise InvalidArgument(msg)
    return value


def check_finite_tensor(name: str, tensor):
    """Check that a tensor has no NaN or infinite entries."""
    import torch

    if not isinstance(tensor, torch.Tensor):
        raise InvalidArgument(f"{name} must be a torch.Tensor; got {type(tensor).__name__}")
    if tensor.is_floating_point() or tensor.is_complex():
        bad = ~torch.isfinite(tensor)
        if bool(bad.any()):
            n_bad = int(bad.sum())
            first = tuple(int(i) for i in bad.nonzero()[0])
            raise InvalidArgument(
                f"{name} must be finite; got {n_bad} NaN/Inf entr{'y' if n_bad == 1 else 'ies'} "
                f"(first at index {first}: {tensor[first].item()!r})"
            )
    return tensor


#: the dtypes rnnprobe computes in, by name
DTYPE_NAMES = ("float32", "float64")


def check_dtype(name: str, dtype):
    """Accept ``torch.float32``/``torch.float64`` or their names; return the torch dtype."""
    import torch

    if isinstance(dtype, str):
        check_choice(name, dtype, DTYPE_NAMES)
        return getattr(torch, dtype)
    if dtype not in (torch.float32, torch.float64):
        raise InvalidArgument(f"{name} must be torch.float32 or torch.float64; got {dtype!r}")
    return dtype


def check_output_directory(name: str, value, *, subdirs: Iterable[str] = ()) -> Path:
    """``value`` as a Path that is, or can be created as, a writable directory.

    Nothing is created. ``subdirs`` are directories inside it that, where they
    exist already, must be writable too.

    Examples
    --------
    >>> import tempfile
    >>> check_output_directory("out", tempfile.mkdtemp()).is_dir()
    True
    >>> check_output_directory("out", 3)
    Traceback (most recent call last):
    ...
    rnnprobe.errors.InvalidArgument: out must be a directory path (str or os.PathLike); got 3
    """
    if not isinstance(value, (str, os.PathLike)) or str(value) == "":
        raise InvalidArgument(f"{name} must be a directory path (str or os.PathLike); got {value!r}")
    out = Path(value)
    path = out.absolute()
    if path.exists():
        if not path.is_dir():
            raise InvalidArgument(f"{name} must be a directory; got {str(out)!r}, which is a file")
        target = path
    else:
        ancestor = path.parent
        while not ancestor.exists():
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            raise InvalidArgument(f"cannot create {name} = {str(out)!r}: {str(ancestor)!r} is not a directory")
        target = ancestor
    for d in (target, *(path / s for s in subdirs)):
        if d.exists() and (not d.is_dir() or not os.access(d, os.W_OK | os.X_OK)):
            raise InvalidArgument(f"{str(d)!r} is not a writable directory; got {name} = {str(out)!r}")
    return out
