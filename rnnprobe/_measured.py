"""Guards for the assertion helpers: a measured quantity that is not finite fails loudly.

Comparisons with NaN are all false, so an assertion written ``if value > limit: fail``
would pass on NaN. Every measurement :mod:`rnnprobe.testing` judges goes through
:func:`require_finite_measure` first.

Examples
--------
>>> import torch
>>> from rnnprobe._measured import require_finite_measure
>>> require_finite_measure("log G(k)", torch.tensor([[0.0, -float("inf")]]))   # a zero G is finite in log
tensor([[0., -inf]])
>>> require_finite_measure("log G(k)", torch.tensor([[0.0, float("nan")]]))
Traceback (most recent call last):
...
AssertionError: measured log G(k) is not finite: nan at lag k = 2 (sequence 0); nothing can be asserted from it ...
"""

from __future__ import annotations

import math

import torch

__all__ = ["require_finite_measure"]


def require_finite_measure(label: str, values, *, by_lag: bool = True, allow_minus_inf: bool = True):
    """Return ``values`` if none is NaN or +inf (and, unless ``allow_minus_inf``, -inf); else AssertionError.

    Parameters
    ----------
    label : str
        What was measured, for the message (e.g. ``"log G(k)"``).
    values : torch.Tensor or float
        ``(B, T)`` per sequence and ascending lag when ``by_lag``, else any shape.
    allow_minus_inf : bool
        Whether ``-inf`` is a valid value (the log of an exact zero).
    """
    t = torch.as_tensor(values)
    bad = torch.isnan(t) | (t == math.inf) | (~torch.isfinite(t) & (t < 0) & (not allow_minus_inf))
    if not bool(bad.any()):
        return values
    index = tuple(int(i) for i in bad.nonzero()[0]) if t.ndim else ()
    where = ""
    if by_lag and len(index) == 2:
        where = f" at lag k = {index[1] + 1} (sequence {index[0]})"
    elif index:
        where = f" at index {index}"
    raise AssertionError(
        f"measured {label} is not finite: {float(t[index]) if index else float(t)!r}{where}; nothing can be asserted "
        f"from it (a NaN compares false with every bound). The model's step Jacobian or the inputs give a "
        f"non-finite derivative: check them with rnnprobe.testing.assert_jacobian_close(model, 'autograd', inputs)")
