"""Diagonal state-space models: S4D (input-independent) and S6 (selective, the recurrence of Mamba).

Both have D channels, each with its own N-dimensional diagonal state; rnnprobe's
state is the flattened SSM state ``h`` ``(D·N,)``, entry ``c·N + k`` for channel c
and state index k (so ``hidden_size = D·N`` and ``state_dim = N`` must divide it).
One step, with the channel inputs ``u_t = W_in x_t + b_in`` ``(D,)``::

    h_t[c, k] = exp(Δ_t[c] A[c, k]) · h_{t−1}[c, k] + B̄_t[c, k] · u_t[c]

* ``A = −exp(A_log)`` with the S4D-Real initialisation ``A[c, k] = −(k + 1)``
  (Gu et al. 2022; Mamba's default);
* ``s6`` (Gu & Dao 2023): ``Δ_t = softplus(W_Δ u_t + b_Δ)`` ``(D,)``, ``B_t = W_B u_t``
  and ``C_t = W_C u_t`` ``(N,)`` depend on the input (selection); ``b_Δ`` is Mamba's
  dt_proj bias, ``softplus⁻¹`` of a step drawn log-uniformly in ``[dt_min, dt_max]``;
* ``s4d``: Δ ``(D,)`` (log-uniform in ``[dt_min, dt_max]``), B ``(D, N)`` (ones, as
  S4D) and C do not depend on the input.

Discretisation. ``A`` is discretised by the zero-order hold exactly,
``Ā = exp(ΔA)``; ``B`` by ``discretization='mamba'``: ``B̄ = Δ·B`` (the simplification
Mamba's selective scan uses, an Euler step for B) or ``'zoh'``: the exact zero-order
hold ``B̄ = (exp(ΔA) − 1)/A · B``. Defaults: ``'mamba'`` for s6, ``'zoh'`` for s4d.
The scan is sequential, in pure PyTorch (no fused kernels).

Since Δ, B and C depend on the input only, the step Jacobian is exactly
``∂h_t/∂h_{t−1} = diag(exp(Δ_t A))``, times ``gain`` (see
:mod:`rnnprobe.models._diagonal`); :meth:`output` gives the SSM's readout
``y_t[c] = Σ_k C_t[k] h_t[c, k] + D_c u_t[c]``, which the probes do not use.

Examples
--------
>>> import torch, rnnprobe
>>> s6 = rnnprobe.build("s6", hidden_size=8, input_size=2, state_dim=4, seed=0)
>>> s6.channels, s6.state_dim, s6.state_size
(2, 4, 8)
>>> x = torch.randn(3, 2, dtype=torch.float64)
>>> torch.allclose(s6.step_jacobian(x, torch.zeros(3, 8, dtype=torch.float64)),
...                torch.diag_embed(torch.exp(s6.delta(x).repeat_interleave(4, -1) * s6.A().flatten())))
True
"""

from __future__ import annotations

import math

import torch
from torch import nn

from rnnprobe._validation import check_choice, check_int, check_real
from rnnprobe.errors import InvalidArgument
from rnnprobe.init import init_matrix
from rnnprobe.models._diagonal import DiagonalRecurrentModel, gain_multiplier
from rnnprobe.models._params import ParameterDrawer

__all__ = ["S4D", "S6", "DISCRETIZATIONS", "default_state_dim", "check_dt_range"]

DISCRETIZATIONS = ("mamba", "zoh")
#: Mamba's d_state
MAMBA_STATE_DIM = 16


def default_state_dim(hidden_size: int) -> int:
    """The largest divisor of ``hidden_size`` that is at most 16 (Mamba's d_state)."""
    return max(k for k in range(1, min(hidden_size, MAMBA_STATE_DIM) + 1) if hidden_size % k == 0)


def check_dt_range(dt_min, dt_max) -> tuple[float, float]:
    """Validate the step range ``0 < dt_min <= dt_max``."""
    dt_min = check_real("dt_min", dt_min, low=0.0, low_open=True, hint="the smallest step Δ, > 0")
    dt_max = check_real("dt_max", dt_max, low=0.0, low_open=True, hint="the largest step Δ, > 0")
    if dt_min > dt_max:
        raise InvalidArgument(f"dt_min must be <= dt_max (the range of the step Δ); got dt_min={dt_min!r} > "
                              f"dt_max={dt_max!r}")
    return dt_min, dt_max


def _inverse_softplus(y: torch.Tensor) -> torch.Tensor:
    """x with softplus(x) = y, for y > 0 (stable: y + log(−expm1(−y)))."""
    return y + torch.log(-torch.expm1(-y))


class _DiagonalSSM(DiagonalRecurrentModel):
    selective: bool = False
    weights_name = "A_bar"

    def _setup(self, hidden_size, input_size, *, state_dim, dt_min, dt_max, discretization, gain, init,
               bias_std, seed, dtype):
        self.hidden_size = check_int("hidden_size", hidden_size, min_value=1)
        self.input_size = check_int("input_size", input_size, min_value=0)
        self.state_size = self.hidden_size
        n, d = self.hidden_size, self.input_size
        if state_dim is None:
            state_dim = default_state_dim(n)
        self.state_dim = check_int("state_dim", state_dim, min_value=1, max_value=n)
        if n % self.state_dim:
            raise InvalidArgument(f"state_dim must divide hidden_size = {n} (the state is channels × state_dim, "
                                  f"flattened); got state_dim={self.state_dim!r}")
        self.channels = D = n // self.state_dim
        N = self.state_dim
        self.dt_min, self.dt_max = check_dt_range(dt_min, dt_max)
        self.discretization = check_choice("discretization", discretization, DISCRETIZATIONS)
        draw = ParameterDrawer(seed=seed, init=init, gain=gain, dtype=dtype)
        g, cast = draw.generator, draw.dtype
        std = check_real("bias_std", bias_std, low=0.0)
        self.W_in = draw.gaussian(D, d)
        b_in = std * torch.randn(D, generator=g, dtype=torch.float64)
        self.b_in = nn.Parameter(b_in.to(cast))
        A_log = torch.log(torch.arange(1, N + 1, dtype=torch.float64)).expand(D, N).clone()
        self.A_log = nn.Parameter(A_log.to(cast))
        u = torch.rand(D, generator=g, dtype=torch.float64)
        dt = torch.exp(math.log(self.dt_min) + u * (math.log(self.dt_max) - math.log(self.dt_min)))
        self.D_skip = nn.Parameter(torch.ones(D, dtype=cast))
        return draw, dt, A_log, b_in

    def A(self) -> torch.Tensor:
        """The continuous-time diagonal ``A = −exp(A_log)`` ``(D, N)``."""
        return -torch.exp(self.A_log)

    def channel_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """``u = W_in x + b_in`` ``(B, D)``."""
        return x @ self.W_in.T + self.b_in

    def delta(self, x: torch.Tensor) -> torch.Tensor:
        """The step Δ ``(B, D)`` for inputs ``x`` ``(B, d)``."""
        raise NotImplementedError

    def _B(self, u: torch.Tensor) -> torch.Tensor:
        """B (broadcastable to ``(..., D, N)``) for channel inputs u ``(..., D)``."""
        raise NotImplementedError

    def _C(self, u: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def affine(self, x):
        u = self.channel_inputs(x)
        delta = self.delta(x)[..., None]                                   # (..., D, 1)
        A = self.A()
        B = self._B(u)
        B_bar = delta * B if self.discretization == "mamba" else torch.expm1(delta * A) / A * B
        a = self.scale * torch.exp(delta * A)
        return a.flatten(-2), (B_bar * u[..., None]).flatten(-2)

    def factors(self, x):
        return (self.scale * torch.exp(self.delta(x)[..., None] * self.A())).flatten(-2)

    def output(self, x: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """The readout ``y[c] = Σ_k C[k] h[c, k] + D_c u[c]`` ``(B, D)`` (not used by the probes)."""
        u = self.channel_inputs(x)
        h = state.reshape(*state.shape[:-1], self.channels, self.state_dim)
        return (self._C(u) * h).sum(-1) + self.D_skip * u


class S4D(_DiagonalSSM):
    """S4D: a diagonal state-space model with input-independent Δ, B, C (Gu et al. 2022).

    Parameters
    ----------
    hidden_size : int
        The flattened state size D·N (channels × state_dim).
    input_size : int
        d.
    state_dim : int, optional
        N, the state size per channel; must divide hidden_size. Default: the largest
        divisor of hidden_size that is at most 16 (Mamba's d_state).
    dt_min, dt_max : float
        Range of the per-channel step Δ (log-uniform), ``0 < dt_min <= dt_max``.
    discretization : {'zoh', 'mamba'}
        How B is discretised (A always by the exact zero-order hold); see the module docstring.
    gain, init
        See :mod:`rnnprobe.models._diagonal`: gain multiplies every exp(ΔA).
    bias_std : float
        The channel inputs' bias b_in ~ N(0, bias_std²).
    seed, dtype
    """

    name = "s4d"
    input_independent = True
    #: parameters only :meth:`output` uses (the SSM's own readout): a model that reads the state,
    #: as the char-RNN does, gives them no gradient
    readout_only_parameters = ("C", "D_skip")

    def __init__(self, hidden_size, input_size=1, *, state_dim=None, dt_min=1e-3, dt_max=1e-1,
                 discretization="zoh", gain=1.0, init="gaussian", bias_std=0.0, seed=0, dtype=torch.float64):
        super().__init__()
        draw, dt, A_log, _ = self._setup(hidden_size, input_size, state_dim=state_dim, dt_min=dt_min,
                                         dt_max=dt_max, discretization=discretization, gain=gain, init=init,
                                         bias_std=bias_std, seed=seed, dtype=dtype)
        D, N, cast = self.channels, self.state_dim, draw.dtype
        self.log_dt = nn.Parameter(torch.log(dt).to(cast))
        self.B = nn.Parameter(torch.ones(D, N, dtype=cast))
        C = torch.randn(D, N, generator=draw.generator, dtype=torch.float64) / math.sqrt(N)
        self.C = nn.Parameter(C.to(cast))
        zero = torch.exp(dt[:, None] * -torch.exp(A_log))
        self.register_buffer("scale", gain_multiplier(zero, draw.gain, draw.init).to(cast))

    def delta(self, x):
        return torch.exp(self.log_dt).expand(*x.shape[:-1], self.channels)

    def _B(self, u):
        return self.B

    def _C(self, u):
        return self.C


class S6(_DiagonalSSM):
    """S6, the selective state space of Mamba (Gu & Dao 2023): Δ_t, B_t, C_t depend on the input.

    Parameters
    ----------
    hidden_size, input_size, state_dim, dt_min, dt_max, bias_std, seed, dtype
        As for :class:`S4D`; ``[dt_min, dt_max]`` is the range of softplus(b_Δ), the step at zero input.
    discretization : {'mamba', 'zoh'}
        How B is discretised (default Mamba's B̄ = Δ B).
    gain, init
        See :mod:`rnnprobe.models._diagonal`: gain multiplies every exp(Δ_t A);
        ``init='spectral'`` makes the largest factor at zero input equal to gain.

    Notes
    -----
    ``W_Δ`` ``(D, D)``, ``W_B`` and ``W_C`` ``(N, D)`` are Gaussian N(0, 1/D) (Mamba uses a
    low-rank Δ projection; the full-rank one here is the same family of maps).
    """

    name = "s6"
    selective = True
    weights_name = "A_bar(x=0)"

    #: parameters only :meth:`output` uses (see :class:`S4D`)
    readout_only_parameters = ("W_C", "D_skip")

    def __init__(self, hidden_size, input_size=1, *, state_dim=None, dt_min=1e-3, dt_max=1e-1,
                 discretization="mamba", gain=1.0, init="gaussian", bias_std=0.0, seed=0, dtype=torch.float64):
        super().__init__()
        draw, dt, A_log, b_in = self._setup(hidden_size, input_size, state_dim=state_dim, dt_min=dt_min,
                                            dt_max=dt_max, discretization=discretization, gain=gain, init=init,
                                            bias_std=bias_std, seed=seed, dtype=dtype)
        D, N, cast = self.channels, self.state_dim, draw.dtype
        W_delta = init_matrix(D, D, gain=1.0, generator=draw.generator)          # float64: N(0, 1/D)
        self.W_delta = nn.Parameter(W_delta.to(cast))
        self.b_delta = nn.Parameter(_inverse_softplus(dt).to(cast))
        self.W_B = draw.gaussian(N, D)
        self.W_C = draw.gaussian(N, D)
        # the factors at zero input (in float64): u = b_in, Δ = softplus(W_Δ b_in + b_Δ)
        delta0 = torch.nn.functional.softplus(W_delta @ b_in + _inverse_softplus(dt))
        zero = torch.exp(delta0[:, None] * -torch.exp(A_log))
        self.register_buffer("scale", gain_multiplier(zero, draw.gain, draw.init).to(cast))

    def delta(self, x):
        return torch.nn.functional.softplus(self.channel_inputs(x) @ self.W_delta.T + self.b_delta)

    def _B(self, u):
        return (u @ self.W_B.T)[..., None, :]

    def _C(self, u):
        return (u @ self.W_C.T)[..., None, :]
