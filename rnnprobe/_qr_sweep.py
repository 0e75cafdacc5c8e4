"""The forward QR sweep shared by the Lyapunov spectrum and the covariant Lyapunov vectors.

A frame ``Q`` ``(B, S, k)`` with orthonormal columns is carried along the
trajectory: ``Y ← J_t Y`` for the m steps of a block, then ``Y = Q′R`` (QR), so
that ``J_{t+m−1} ⋯ J_t Q = Q′ R``. The diagonal of R is the product of the
per-step QR factors' diagonals (a product of upper-triangular matrices), so the
sums of ``log|R_ii|`` over blocks equal the every-step sums in exact arithmetic.
In floating point a block loses digits as the columns of Y collapse onto the
leading direction, measured by ``ρ = max_j ‖Y e_j‖ / min_i |R_ii|`` (the frame's
condition number; it grows like ``exp(m(λ₁ − λ_k))``). On a tanh network whose
exponents span 4.2 per step, fixed blocks of 2 and 3 steps (ρ ≈ 4·10³ and 3·10⁵)
put errors of 1.6·10⁻¹² and 9·10⁻⁹ into the smallest exponent (against 50-digit
arithmetic; every step: 2·10⁻¹⁴): roughly ``eps·ρ²`` per block.

The block length m is either fixed, or chosen automatically, block by block, from
the measured growth of ``log ρ`` per step in the previous block: m is the largest
length that keeps ``ρ`` below ``eps^(−1/6)`` (about 400 in float64, 15 in
float32) if the growth rate stays that of the previous block, and the column
norms within ``exp(±log(max float)/4)`` (no under- or overflow); at most twice
the previous length and at most :data:`MAX_EVERY`. A block whose ρ ends up above
8× the target after all (the growth rate rose within it) is redone from its
starting frame as two halves, each checked the same way, down to single steps
(always kept). So is, for a fixed m too, a block whose column norms or R's
diagonal under- or overflowed (zero, subnormal or infinite): the result never
depends on whether a tiny R_ii is a singular direction (exponent −∞, as a single
step shows it) or an underflow of the product.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from rnnprobe.products import default_chunk_size
from rnnprobe.trajectory import Trajectory

__all__ = ["MAX_EVERY", "FrameSweep"]

#: longest block of the automatic choice (beyond it the QRs cost nothing anyway)
MAX_EVERY = 64


class FrameSweep:
    """Carry an orthonormal frame along a trajectory, re-orthonormalising every m steps.

    Parameters
    ----------
    traj : Trajectory
    every : int or None
        Fixed block length, or None for the automatic choice.
    chunk_size : int, optional
        Steps per call of ``model.jacobians`` (default
        :func:`rnnprobe.products.default_chunk_size`: about 4 MiB of Jacobians).

    Examples
    --------
    Under 0.5 × an orthogonal matrix every direction shrinks alike (ρ = 1): the
    blocks double up to :data:`MAX_EVERY`, and the last one ends at ``stop``:

    >>> import torch, rnnprobe
    >>> from rnnprobe._qr_sweep import FrameSweep
    >>> model = rnnprobe.build("vanilla-linear", hidden_size=4, init="orthogonal", gain=0.5, seed=0)
    >>> traj = rnnprobe.record(model, torch.zeros(200, 1))
    >>> sweep = FrameSweep(traj)
    >>> Q = torch.eye(4, dtype=torch.float64).expand(1, 4, 4)
    >>> [t for t, Q, R in sweep.run(Q, 0, 200)]
    [1, 3, 7, 15, 31, 63, 127, 191, 200]
    >>> sweep.blocks
    [1, 2, 4, 8, 16, 32, 64, 64, 9]
    """

    def __init__(self, traj: Trajectory, every: int | None = None, chunk_size: int | None = None):
        self.traj = traj
        self.fixed = every
        self.every = 1 if every is None else every
        self.chunk_size = chunk_size or default_chunk_size(traj.state_size, traj.batch_size)
        eps = torch.finfo(traj.dtype).eps
        self._log_kappa = -math.log(eps) / 6
        self._log_range = math.log(torch.finfo(traj.dtype).max) / 4
        self._tiny = torch.finfo(traj.dtype).tiny
        #: the block lengths used, in order
        self.blocks: list[int] = []

    def run(self, Q: torch.Tensor, start: int, stop: int) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
        """Advance ``Q`` (the frame at state ``start``) to state ``stop``.

        Yields ``(t, Q_t, R)`` after every QR: ``Q_t`` is the frame at state t and
        ``R`` ``(B, k, k)`` the triangular factor of the block that ended there.
        A block never crosses ``stop``.
        """
        if Q.shape[0] != 1:
            yield from self._run(Q, start, stop)
            return
        # one sequence: 2-D products (torch.matmul of (1, S, S) @ (1, S, k) takes the slower batched path)
        for t, Q_t, R in self._run(Q[0], start, stop):
            yield t, Q_t.unsqueeze(0), R.unsqueeze(0)

    def _jacobians(self, start: int, stop: int, batched: bool) -> torch.Tensor:
        J = self.traj.step_jacobians(start, stop, check=True)        # (C, B, S, S), finite
        return J if batched else J[:, 0]

    def _run(self, Q: torch.Tensor, start: int, stop: int):
        Y, n, batched = Q, 0, Q.ndim == 3
        for c0 in range(start, stop, self.chunk_size):
            c1 = min(c0 + self.chunk_size, stop)
            J = self._jacobians(c0, c1, batched)
            for i in range(c1 - c0):
                Y = torch.matmul(J[i], Y)
                n += 1
                if n >= self.every or c0 + i + 1 == stop:
                    t = c0 + i + 1
                    Q_next, R = torch.linalg.qr(Y)
                    if n > 1 and not self._accept(Y, R, n):
                        # under- or overflow, or (automatic m) the growth rose within the block:
                        # redo it in halves from its starting frame
                        for t_sub, Q_next, R in self._redo(Q, t - n, t):
                            yield t_sub, Q_next, R
                    else:
                        if n == 1 and self.fixed is None:
                            self._accept(Y, R, n)                    # only to choose the next block length
                        self.blocks.append(n)
                        yield t, Q_next, R
                    Q = Y = Q_next
                    n = 0

    def _redo(self, Q: torch.Tensor, start: int, stop: int):
        """Redo the rejected block ``[start, stop)`` as two halves, recursively (a single step is always kept)."""
        every = self.every
        J = self._jacobians(start, stop, Q.ndim == 3)
        half = (stop - start + 1) // 2
        for a in (start, start + half):
            b = min(a + half, stop)
            Y = Q
            for t in range(a, b):
                Y = torch.matmul(J[t - start], Y)
            Q_next, R = torch.linalg.qr(Y)
            if b - a > 1 and not self._accept(Y, R, b - a):
                for item in self._redo(Q, a, b):
                    yield item
                Q_next = item[1]
            else:
                self.blocks.append(b - a)
                yield b, Q_next, R
            Q = Q_next
        if self.fixed is None:
            self.every = min(every, self.every)

    def _accept(self, Y: torch.Tensor, R: torch.Tensor, n: int) -> bool:
        """Whether a block is kept; with automatic m, also sets the next block length.

        Kept: no column or diagonal entry of R under- or overflowed (subnormal, zero or
        infinite: a block of one step is always kept, its zeros are singular
        directions), and with automatic m, ρ within 8× its target.
        """
        d = torch.diagonal(R, dim1=-2, dim2=-1).abs()
        col = torch.linalg.vector_norm(Y, dim=-2)
        d_min, d_max, col_max = torch.stack([d.min(), d.max(), col.max()]).tolist()
        if not (d_min >= self._tiny and col_max >= self._tiny and math.isfinite(d_max) and math.isfinite(col_max)):
            if self.fixed is None:
                self.every = 1                                       # a singular (or vanished) frame
            return False
        if self.fixed is not None:
            return True
        log_d_min, log_d_max, log_col_max = math.log(d_min), math.log(d_max), math.log(col_max)
        log_rho = log_col_max - log_d_min                            # >= 0 up to rounding
        scale = max(abs(log_col_max), abs(log_d_min), abs(log_d_max))
        m = MAX_EVERY
        if log_rho > 0:
            m = min(m, int(self._log_kappa * n / log_rho))
        if scale > 0:
            m = min(m, int(self._log_range * n / scale))
        self.every = max(1, min(m, 2 * self.every))
        return log_rho <= self._log_kappa + math.log(8) and scale <= 2 * self._log_range
