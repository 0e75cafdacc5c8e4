"""The one error hierarchy of rnnprobe.

Every error rnnprobe raises on purpose derives from :class:`RnnProbeError`;
bad arguments raise :class:`InvalidArgument`, which is also a ``ValueError``
so that generic ``except ValueError`` handlers keep working.

Examples
--------
>>> from rnnprobe.errors import InvalidArgument, RnnProbeError
>>> issubclass(InvalidArgument, ValueError) and issubclass(InvalidArgument, RnnProbeError)
True
"""

from __future__ import annotations

__all__ = ["RnnProbeError", "InvalidArgument"]


class RnnProbeError(Exception):
    """Base class of every error raised by rnnprobe."""


class InvalidArgument(RnnProbeError, ValueError):
    """An argument is outside its allowed set or range.

    The message names the parameter, what is allowed and the value received
    (with ``!r``), plus a hint for known mistakes.
    """
