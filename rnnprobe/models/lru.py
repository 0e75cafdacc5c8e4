"""The Linear Recurrent Unit (Orvieto et al. 2023), held as a real state.

The LRU's recurrence is complex and diagonal::

    x_t = λ ⊙ x_{t−1} + γ ⊙ (B u_t + b),      λ_j = exp(−exp(ν_j) + iθ_j),  γ_j = √(1 − |λ_j|²)

with x ∈ ℂⁿ, B ∈ ℂ^{n×d}. rnnprobe holds x as the real state ``s = [Re x; Im x]``
of size 2n (like the LSTM's ``[h; c]``): the hidden vector is ``Re x``, and the
step Jacobian ``∂s'/∂s`` is block-diagonal in the pairs ``(Re x_j, Im x_j)``, each
block the rotation–scaling ``[[Re λ_j, −Im λ_j], [Im λ_j, Re λ_j]]``, whose two
singular values are both ``|λ_j|``. It does not depend on the input or the state.

Initialisation (Orvieto et al. 2023, section 3.2): ``|λ_j|`` uniform on the ring
``r_min <= |λ| <= r_max`` (uniform in area: ``|λ|² ~ U(r_min², r_max²)``), phases
``θ_j ~ U(0, max_phase)``, ``B = (B_re + i B_im)/√(2d)`` with standard normal parts,
and γ computed from the drawn ring. Like the paper's code, γ is its own parameter
(``gamma``; the paper stores log γ, rnnprobe γ itself so that |λ| = 1, γ = 0 is
representable), so ``gain`` (which multiplies every λ_j, see
:mod:`rnnprobe.models._diagonal`) leaves it as drawn. ``normalize=False`` drops it
(γ = 1). The readout ``y = Re(C x) + D u`` is not part of the recurrence and is
left out.

Examples
--------
>>> import torch, rnnprobe
>>> lru = rnnprobe.build("lru", hidden_size=3, input_size=2, r_min=0.5, r_max=0.9, seed=0)
>>> lru.state_size, lru.jacobian_block_size
(6, 2)
>>> bool(((lru.eigenvalues().abs() >= 0.5) & (lru.eigenvalues().abs() <= 0.9)).all())
True
>>> x, s = torch.randn(4, 2, dtype=torch.float64), torch.randn(4, 6, dtype=torch.float64)
>>> torch.allclose(lru.step_jacobian(x, s), lru.autograd_step_jacobian(x, s), atol=1e-12)
True
"""

from __future__ import annotations

import math

import torch
from torch import nn

from rnnprobe._validation import check_int, check_real
from rnnprobe.errors import InvalidArgument
from rnnprobe.models._diagonal import DiagonalRecurrentModel, dense_from_blocks, gain_multiplier
from rnnprobe.models._params import ParameterDrawer

__all__ = ["LRU", "check_ring"]


def check_ring(r_min, r_max) -> tuple[float, float]:
    """Validate an eigenvalue ring ``0 < r_min <= r_max <= 1``; return it as floats."""
    r_min = check_real("r_min", r_min, low=0.0, high=1.0, low_open=True,
                       hint="the smallest eigenvalue modulus of the ring, in (0, 1]")
    r_max = check_real("r_max", r_max, low=0.0, high=1.0, low_open=True,
                       hint="the largest eigenvalue modulus of the ring, in (0, 1]")
    tiny = torch.finfo(torch.float64).tiny
    if r_min < tiny:
        raise InvalidArgument(f"r_min must be >= {tiny!r} (the smallest normal float64: below it |λ| loses its "
                              f"precision); got {r_min!r}")
    if r_min > r_max:
        raise InvalidArgument(f"r_min must be <= r_max (the ring r_min <= |λ| <= r_max); got r_min={r_min!r} > "
                              f"r_max={r_max!r}")
    return r_min, r_max


class LRU(DiagonalRecurrentModel):
    """The Linear Recurrent Unit (Orvieto et al. 2023): a complex diagonal linear recurrence.

    Parameters
    ----------
    hidden_size : int
        n, the number of complex units (the real state has size 2n: ``[Re x; Im x]``).
    input_size : int
        d.
    r_min, r_max : float
        The eigenvalue ring, ``0 < r_min <= r_max <= 1``.
    max_phase : float
        Phases θ_j are drawn from U(0, max_phase), ``0 <= max_phase <= 2π``
        (0: real eigenvalues).
    normalize : bool
        Multiply the input by γ_j = √(1 − |λ_j|²) (the LRU's normalisation), or not (γ = 1).
    gain : float
        Multiplies every λ_j (1: the published ring; see :mod:`rnnprobe.models._diagonal`).
    init : {'gaussian', 'orthogonal', 'spectral'}
        ``'spectral'`` rescales the ring so that max |λ_j| = gain; the others keep it, times gain.
    bias_std : float
        A complex bias b with real and imaginary parts N(0, bias_std²/2) on the input term.
    seed : int
    dtype : torch.dtype or str
    """

    name = "lru"
    input_independent = True
    jacobian_block_size = 2
    weights_name = "Lambda"

    def __init__(self, hidden_size, input_size=1, *, r_min=0.9, r_max=0.999, max_phase=2 * math.pi,
                 normalize=True, gain=1.0, init="gaussian", bias_std=0.0, seed=0, dtype=torch.float64):
        super().__init__()
        self.hidden_size = check_int("hidden_size", hidden_size, min_value=1)
        self.input_size = check_int("input_size", input_size, min_value=0)
        self.state_size = 2 * self.hidden_size
        n, d = self.hidden_size, self.input_size
        self.r_min, self.r_max = check_ring(r_min, r_max)
        self.max_phase = check_real("max_phase", max_phase, low=0.0, high=2 * math.pi)
        if not isinstance(normalize, bool):
            raise InvalidArgument(f"normalize must be True or False; got {normalize!r}")
        self.normalize = normalize
        draw = ParameterDrawer(seed=seed, init=init, gain=gain, dtype=dtype)
        g = draw.generator
        u1 = torch.rand(n, generator=g, dtype=torch.float64)
        u2 = torch.rand(n, generator=g, dtype=torch.float64)
        if self.r_min > 1e-150:
            modulus = torch.sqrt(u1 * (self.r_max**2 - self.r_min**2) + self.r_min**2)
        else:   # r_min² would underflow: the same |λ|², written relative to r_max
            modulus = self.r_max * torch.sqrt(u1 + (1 - u1) * (self.r_min / self.r_max) ** 2)
        tiny = torch.finfo(torch.float64).tiny          # |λ| = 1 as ν = log(tiny): exp(−exp(ν)) == 1.0
        nu_log = torch.log((-torch.log(modulus)).clamp_min(tiny))
        theta = u2 * self.max_phase
        gamma = torch.sqrt((1 - modulus**2).clamp_min(0)) if normalize else torch.ones(n, dtype=torch.float64)
        scale = gain_multiplier(modulus, draw.gain, draw.init)
        B_re = torch.randn(n, d, generator=g, dtype=torch.float64) / math.sqrt(2 * max(d, 1))
        B_im = torch.randn(n, d, generator=g, dtype=torch.float64) / math.sqrt(2 * max(d, 1))
        std = check_real("bias_std", bias_std, low=0.0) / math.sqrt(2)
        b = std * torch.randn(2, n, generator=g, dtype=torch.float64)
        cast = draw.dtype
        self.nu_log = nn.Parameter(nu_log.to(cast))
        self.theta = nn.Parameter(theta.to(cast))
        self.gamma = nn.Parameter(gamma.to(cast))
        self.B_re = nn.Parameter(B_re.to(cast))
        self.B_im = nn.Parameter(B_im.to(cast))
        self.b_re = nn.Parameter(b[0].to(cast))
        self.b_im = nn.Parameter(b[1].to(cast))
        self.register_buffer("scale", scale.to(cast))

    # ------------------------------------------------------------------ the recurrence
    def _lambda_parts(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(Re λ, Im λ), each ``(n,)``."""
        modulus = self.scale * torch.exp(-torch.exp(self.nu_log))
        return modulus * torch.cos(self.theta), modulus * torch.sin(self.theta)

    def eigenvalues(self) -> torch.Tensor:
        """λ ``(n,)`` as a complex tensor (gain included)."""
        with torch.no_grad():
            re, im = self._lambda_parts()
            return torch.complex(re, im)

    def drive(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The input term ``γ ⊙ (B u + b)`` as (real, imaginary) parts, each ``(..., n)``."""
        return self.gamma * (x @ self.B_re.T + self.b_re), self.gamma * (x @ self.B_im.T + self.b_im)

    def step(self, x, state, t=0):
        n = self.hidden_size
        re, im = state[..., :n], state[..., n:]
        lr, li = self._lambda_parts()
        drive_re, drive_im = self.drive(x)
        return torch.cat([lr * re - li * im + drive_re, li * re + lr * im + drive_im], dim=-1)

    def scan(self, inputs, state):
        """The states of a whole pass (see :meth:`DiagonalRecurrentModel.scan`), in complex arithmetic."""
        n, T = self.hidden_size, inputs.shape[0]
        lam = torch.complex(*self._lambda_parts())
        h = torch.complex(state[..., :n], state[..., n:])
        out = h.new_empty(T, *h.shape)
        chunk = max(1, (1 << 20) // max(1, h.numel()))
        for start in range(0, T, chunk):
            drive = torch.complex(*self.drive(inputs[start : start + chunk]))
            for i in range(drive.shape[0]):
                h = torch.addcmul(drive[i], lam, h, out=out[start + i])
        return torch.cat([out.real, out.imag], dim=-1)

    def factors(self, x):
        """λ as a complex tensor ``(B, n)`` (the same for every input)."""
        lr, li = self._lambda_parts()
        return torch.complex(lr, li).expand(x.shape[0], self.hidden_size)

    def _blocks(self, batch: int) -> torch.Tensor:
        lr, li = self._lambda_parts()
        block = torch.stack([torch.stack([lr, -li], -1), torch.stack([li, lr], -1)], -2)     # (n, 2, 2)
        return block.expand(batch, self.hidden_size, 2, 2)

    def jacobian_block_index(self):
        n = self.hidden_size
        return torch.stack([torch.arange(n), torch.arange(n, 2 * n)], dim=1)

    def jacobian_blocks(self, xs, states, t0=0):
        C, B = xs.shape[:2]
        return self._blocks(C * B).reshape(C, B, self.hidden_size, 2, 2)

    def step_jacobian(self, x, state, t=0):
        return dense_from_blocks(self._blocks(x.shape[0]), self.jacobian_block_index(), self.state_size)

    def jacobians(self, xs, states, t0=0):
        C, B = xs.shape[:2]
        return self.step_jacobian(xs.reshape(C * B, -1), states.reshape(C * B, -1)).reshape(
            C, B, self.state_size, self.state_size)

    def recurrent_weights(self):
        with torch.no_grad():
            return {self.weights_name: self.step_jacobian(self.zero_input(), None)[0].detach()}
