"""What the diagonal recurrences share: per-unit factors, the gain rule, block Jacobians.

A diagonal recurrence (LRU, S4D, S6, minGRU, minLSTM) updates each unit of its
state with its own factor, ``s'_j = a_j(x) · s_j + (input terms)``, so that its
step Jacobian ``∂s'/∂s`` is diagonal and depends on the input only (or, for the
complex LRU held as a real state ``[Re; Im]``, block-diagonal with 2×2
rotation–scaling blocks). The probes use that to compute products over all lags
in O(T·n) (:mod:`rnnprobe.blocks`).

``gain`` and ``init`` in this family
------------------------------------
These models have no dense matrix acting on the state; their recurrence is the
factor ``a_j`` (``λ_j`` for ``lru``, ``exp(Δ A)`` for ``s4d``/``s6``, ``1 − z``
for ``mingru``, ``f'`` for ``minlstm``), with its own published initialisation
(the LRU ring, S4D-Real, the gate biases). :meth:`recurrent_weights` returns the
step Jacobian at zero input, the matrix the weight spectra and the Pascanu
columns report. ``gain`` g multiplies the factor, as it scales W_h elsewhere:
g = 1 is the published model, g < 1 forgets faster, g > 1 can explode. ``init``
decides how:

* ``'gaussian'`` (the default) and ``'orthogonal'``: the published factors times g
  (the schemes' other meanings are about dense matrices, which these models do not
  have; their published spread of timescales is kept);
* ``'spectral'``: the factors rescaled so that the spectral radius of
  :meth:`recurrent_weights` (the largest factor at zero input) is exactly g, as
  :func:`rnnprobe.init_matrix` does for a dense matrix.
"""

from __future__ import annotations

import torch

from rnnprobe.errors import InvalidArgument
from rnnprobe.models.base import RecurrentModel

__all__ = ["DiagonalRecurrentModel", "gain_multiplier", "dense_from_blocks"]


def gain_multiplier(zero_input_factors: torch.Tensor, gain: float, init: str) -> torch.Tensor:
    """The scalar that multiplies a diagonal recurrence's published factors (see the module docstring).

    Parameters
    ----------
    zero_input_factors : torch.Tensor
        Moduli of the published factors at zero input (float64), one per unit.
    gain : float
    init : {'gaussian', 'orthogonal', 'spectral'}

    Returns
    -------
    torch.Tensor
        A float64 scalar.
    """
    if init != "spectral":
        return torch.tensor(float(gain), dtype=torch.float64)
    radius = zero_input_factors.abs().max()
    if not bool(radius > 0):
        raise InvalidArgument("init='spectral' needs a non-zero factor at zero input to rescale; got all factors 0")
    scale = (gain / radius).to(torch.float64)
    if not bool(torch.isfinite(scale)):
        raise InvalidArgument(f"init='spectral' cannot rescale the factors to gain={gain!r}: their largest modulus at "
                              f"zero input, {float(radius)!r}, would need a multiplier beyond float64")
    return scale


def dense_from_blocks(blocks: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """The dense matrices ``(..., S, S)`` whose diagonal blocks are ``blocks`` ``(..., m, k, k)`` at ``index`` ``(m, k)``."""
    lead = blocks.shape[:-3]
    m, k = index.shape
    out = blocks.new_zeros(*lead, size, size)
    rows = index.to(blocks.device)[:, :, None].expand(m, k, k)
    cols = index.to(blocks.device)[:, None, :].expand(m, k, k)
    out[..., rows, cols] = blocks
    return out


class DiagonalRecurrentModel(RecurrentModel):
    """Base of the diagonal recurrences: the step Jacobian is ``diag(factors(x))``.

    Subclasses set ``name`` and implement :meth:`factors` (and :meth:`step`);
    ``recurrent_weights`` returns ``{weights_name: diag(factors at x = 0)}``.
    """

    family = "diagonal"
    jacobian_block_size = 1
    #: the key of :meth:`recurrent_weights`
    weights_name = "A"
    #: whether the factors do not depend on the input (LRU, S4D): then the step Jacobian is the same matrix
    #: at every step, :meth:`recurrent_weights`, and G(k) = ρ^k exactly with ρ its spectral radius
    input_independent: bool = False

    def affine(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The step as an affine map of the state, ``s' = a ⊙ s + b``: ``(a, b)``, each ``(..., S)``, for inputs ``x`` ``(..., d)``."""
        raise NotImplementedError

    def factors(self, x: torch.Tensor) -> torch.Tensor:
        """The per-unit factors ``a`` ``(B, S)`` of one step with inputs ``x`` ``(B, d)``: the step Jacobian's diagonal."""
        return self.affine(x)[0]

    def step(self, x, state, t=0):
        a, b = self.affine(x)
        return torch.addcmul(b, a, state)

    def scan(self, inputs: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """The states ``s_1 … s_T`` ``(T, B, S)`` from inputs ``(T, B, d)`` and ``s_0`` ``(B, S)``.

        The factors and drives of a chunk of steps are computed at once, then the
        recurrence ``s_t = a_t ⊙ s_{t−1} + b_t`` runs step by step (one fused
        multiply-add each), the same arithmetic as :meth:`step`, much faster than
        calling it T times; :func:`rnnprobe.record` uses it.
        """
        T = inputs.shape[0]
        out = state.new_empty(T, *state.shape)
        chunk = max(1, (1 << 20) // max(1, state.numel()))
        h = state
        for start in range(0, T, chunk):
            a, b = self.affine(inputs[start : start + chunk])
            for i in range(a.shape[0]):
                h = torch.addcmul(b[i], a[i], h, out=out[start + i])
        return out

    def step_jacobian(self, x, state, t=0):
        return torch.diag_embed(self.factors(x).to(state.dtype))

    def jacobians(self, xs, states, t0=0):
        C, B = xs.shape[:2]
        return torch.diag_embed(self.factors(xs.reshape(C * B, -1)).reshape(C, B, self.state_size))

    def jacobian_blocks(self, xs, states, t0=0):
        C, B = xs.shape[:2]
        return self.factors(xs.reshape(C * B, -1)).reshape(C, B, self.state_size, 1, 1)

    def zero_input(self) -> torch.Tensor:
        """A zero input ``(1, d)`` in the model's dtype and device."""
        p = self.reference_parameter()
        return torch.zeros(1, self.input_size, dtype=p.dtype, device=p.device)

    def recurrent_weights(self):
        with torch.no_grad():
            return {self.weights_name: torch.diag(self.factors(self.zero_input())[0]).detach()}
