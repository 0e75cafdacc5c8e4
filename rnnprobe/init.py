"""Weight initialisation by name and gain.

Schemes
-------
``gaussian``
    Entries i.i.d. N(0, g²/n) with n the fan-in (columns): the spectral radius
    of a square matrix is close to g for large n (circular law).
``orthogonal``
    g times a Haar-random orthogonal matrix: every singular value equals g.
``spectral``
    A Gaussian matrix rescaled so that its spectral radius is exactly g.

Examples
--------
>>> import torch
>>> from rnnprobe.init import init_matrix
>>> W = init_matrix(4, 4, scheme="orthogonal", gain=0.5, generator=torch.Generator().manual_seed(0))
>>> torch.allclose(torch.linalg.svdvals(W), torch.full((4,), 0.5, dtype=W.dtype))
True
>>> W = init_matrix(6, 6, scheme="spectral", gain=1.2, generator=torch.Generator().manual_seed(0))
>>> round(float(torch.linalg.eigvals(W).abs().max()), 12)
1.2
"""

from __future__ import annotations

import torch

from rnnprobe._validation import check_choice, check_int, check_real
from rnnprobe.errors import InvalidArgument

__all__ = ["INIT_SCHEMES", "init_matrix"]

INIT_SCHEMES = ("gaussian", "orthogonal", "spectral")


def init_matrix(
    rows: int,
    cols: int,
    *,
    scheme: str = "gaussian",
    gain: float = 1.0,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """Draw a ``rows × cols`` weight matrix.

    Parameters
    ----------
    rows, cols : int
        Shape of the matrix (``cols`` is the fan-in).
    scheme : {'gaussian', 'orthogonal', 'spectral'}
        Initialisation scheme (see the module docstring).
    gain : float
        Scale g >= 0.
    generator : torch.Generator, optional
        Source of randomness; pass a seeded one for reproducibility.
    dtype : torch.dtype
        Floating dtype of the result.

    Returns
    -------
    torch.Tensor
        The ``(rows, cols)`` matrix.
    """
    check_int("rows", rows, min_value=1)
    check_int("cols", cols, min_value=1)
    check_choice("scheme", scheme, INIT_SCHEMES)
    gain = check_real("gain", gain, low=0.0)
    if scheme == "spectral" and rows != cols:
        raise InvalidArgument(
            f"scheme='spectral' needs a square matrix (the spectral radius is defined only then); got {rows}x{cols}"
        )
    # Draw in float64 whatever the requested dtype, so seeds give the same matrix.
    g = torch.randn(rows, cols, generator=generator, dtype=torch.float64)
    if scheme == "gaussian":
        W = g * (gain / cols**0.5)
    elif scheme == "orthogonal":
        a = g if rows >= cols else g.T
        q, r = torch.linalg.qr(a)
        # Fix the signs so that Q is Haar distributed (Mezzadri 2007).
        signs = torch.sign(torch.diagonal(r))
        q = q * torch.where(signs == 0, torch.ones_like(signs), signs)
        W = gain * (q if rows >= cols else q.T)
    else:
        radius = torch.linalg.eigvals(g).abs().max().real
        W = g * (gain / radius)
    return W.to(dtype)

