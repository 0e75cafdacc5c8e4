"""The one abstraction every probe works on: a chain of steps.

A recurrent net unrolled through time and a deep net unrolled through depth are
the same object, a chain ``s[k+1] = F_k(x[k], s[k])``. A :class:`StepModel`
exposes one step, its step Jacobian ``J_k = ∂s[k+1]/∂s[k]`` (analytic where
cheap, otherwise from ``torch.func``), and the observable hidden part of the state.

Shapes
------
``x``: ``(B, input_size)``, ``state``: ``(B, state_size)``, a step Jacobian
``(B, state_size, state_size)``. The state may be larger than the hidden vector
(an LSTM's state is ``[h; c]``; a dense RNN's is the window of its last K states).
"""

from __future__ import annotations

import functools

import torch
from torch import nn

__all__ = ["FAMILIES", "StepModel", "RecurrentModel", "FeedForwardModel"]

#: The families a model declares (:attr:`StepModel.family`), by the structure of its step:
#:
#: * ``vanilla``: ``h' = σ(W_h h + W_x x + b)``, step Jacobian ``D W_h``;
#: * ``gated``: multiplicative gates on the state (GRU, LSTM);
#: * ``residual``: an identity path, ``s' = s + f(s)`` (step Jacobian ``I + …``);
#: * ``dense``: each step reads several earlier states or features (augmented state);
#: * ``diagonal``: an element-wise (or 2×2-block) linear recurrence (LRU, state-space
#:   models, minGRU/minLSTM), whose step Jacobians are diagonal;
#: * ``feedforward``: a plain deep stack ``s' = σ(W_l s + b_l)`` (steps are layers);
#: * ``custom``: not known (a user's cell wrapped without saying).
FAMILIES = ("vanilla", "gated", "residual", "dense", "diagonal", "feedforward", "custom")


@functools.lru_cache(maxsize=4)
def _basis(S: int, B: int, dtype, device) -> torch.Tensor:
    """Cotangents ``(S, B, S)``: e_i in every row (contiguous: torch.func batches the products into one
    matrix product; kept, not rebuilt for every chunk). Read-only."""
    return torch.eye(S, dtype=dtype, device=device).unsqueeze(1).expand(S, B, S).contiguous()


class StepModel(nn.Module):
    """Base class: one step of a chain ``s' = F_t(x_t, s)``.

    Subclasses set ``name``, ``family`` (one of :data:`FAMILIES`), ``input_size``,
    ``hidden_size`` and ``state_size`` and implement :meth:`step`; they override
    :meth:`step_jacobian` with an analytic formula where it is cheap (the default
    is ``torch.func`` autograd).
    """

    #: registry name, e.g. ``"vanilla-tanh"``
    name: str = "model"
    #: ``"recurrent"`` (steps are time steps) or ``"feedforward"`` (steps are layers)
    kind: str = "recurrent"
    #: what kind of step this is, one of :data:`FAMILIES` (declared, never guessed from the name)
    family: str = "custom"
    #: whether :func:`rnnprobe.record` takes batched inputs as ``(B, T, d)`` by default
    #: (adapters of torch modules built with ``batch_first=True``); else ``(T, B, d)``
    batch_first: bool = False
    #: whether every step Jacobian is ``D_s W_h`` (the lecture's form, where the
    #: Pascanu verdict and the bound B_W apply)
    lecture_form: bool = False
    #: ``None`` for a dense step Jacobian; ``1`` when every step Jacobian is diagonal, ``2`` when it is
    #: block-diagonal with 2×2 blocks (up to a fixed permutation of the state, :meth:`jacobian_block_index`).
    #: Such models implement :meth:`jacobian_blocks`, and the probes take the O(T·n) path for them.
    jacobian_block_size: int | None = None
    input_size: int
    hidden_size: int
    state_size: int

    # ------------------------------------------------------------------ steps
    def step(self, x: torch.Tensor, state: torch.Tensor, t: int = 0) -> torch.Tensor:
        """Return the next state ``(B, state_size)`` from ``x`` ``(B, d)`` and ``state``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, state: torch.Tensor, t: int = 0) -> torch.Tensor:
        return self.step(x, state, t)

    def step_jacobian(self, x: torch.Tensor, state: torch.Tensor, t: int = 0) -> torch.Tensor:
        """Return ``∂step(x, state)/∂state`` per batch row, shape ``(B, S, S)``.

        The default is autograd, :meth:`rowwise_autograd_jacobian`.
        """
        return self.rowwise_autograd_jacobian(x, state, t)

    def rowwise_autograd_jacobian(self, x: torch.Tensor, state: torch.Tensor, t: int = 0) -> torch.Tensor:
        """Step Jacobians ``(B, S, S)`` of B independent rows from one vector–Jacobian product.

        A step treats the rows of its batch independently, so the cotangent e_i in
        every row gives row i of every row's Jacobian: one ``torch.func.vjp`` of the
        whole batch, vmapped over the S basis vectors, is one large matrix product
        where :meth:`autograd_step_jacobian` does one small one per row (the rows of
        a chunk of time steps of :meth:`RecurrentModel.jacobians`, at once). A step
        that mixes rows (batch statistics) is detected, a cotangent on row 0 alone
        having to leave the other rows' gradients exactly zero, and then, as for a
        step torch.func cannot transform, :meth:`autograd_step_jacobian` is used.
        """
        B, S = state.shape
        try:
            _, vjp = torch.func.vjp(lambda s: self.step(x, s, t), state)
            if B > 1:
                probe = torch.zeros(B, S, dtype=state.dtype, device=state.device)
                probe[0] = 1.0
                if bool((vjp(probe)[0][1:] != 0).any()):                    # the step mixes rows
                    return self.autograd_step_jacobian(x, state, t)
            (g,) = torch.func.vmap(vjp)(_basis(S, B, state.dtype, state.device))   # g[i, b] = e_i^T J_b
        except RuntimeError:                                                # not transformable by torch.func
            return self.autograd_step_jacobian(x, state, t)
        return g.transpose(0, 1)

    def autograd_step_jacobian(self, x: torch.Tensor, state: torch.Tensor, t: int = 0) -> torch.Tensor:
        """The step Jacobian from ``torch.func`` (reference for analytic ones)."""

        def one(xi: torch.Tensor, si: torch.Tensor) -> torch.Tensor:
            return self.step(xi.unsqueeze(0), si.unsqueeze(0), t).squeeze(0)

        return torch.func.vmap(torch.func.jacrev(one, argnums=1))(x, state)

    def jacobians(self, xs: torch.Tensor, states: torch.Tensor, t0: int = 0) -> torch.Tensor:
        """Step Jacobians of steps ``t0 .. t0+C-1``.

        Parameters
        ----------
        xs : torch.Tensor
            Inputs ``(C, B, d)`` of those steps.
        states : torch.Tensor
            States ``(C, B, S)`` the steps start from.
        t0 : int
            Index of the first step (layers of a feed-forward stack differ).

        Returns
        -------
        torch.Tensor
            ``(C, B, S, S)``.
        """
        return torch.stack([self.step_jacobian(xs[i], states[i], t0 + i) for i in range(xs.shape[0])])

    def scan(self, inputs: torch.Tensor, state: torch.Tensor) -> torch.Tensor | None:
        """The states ``s_1 … s_T`` ``(T, B, S)`` of a whole pass at once, from the per-step inputs
        ``(T, B, d)`` and ``s_0`` ``(B, S)``, for models that can do better than :meth:`step` T times
        (the diagonal recurrences); None (the default) means step by step. :func:`rnnprobe.record` uses it.
        """
        return None

    def jacobian_blocks(self, xs: torch.Tensor, states: torch.Tensor, t0: int = 0) -> torch.Tensor:
        """The diagonal blocks of the step Jacobians of steps ``t0 .. t0+C-1`` (block-diagonal models only).

        Parameters
        ----------
        xs, states, t0
            As for :meth:`jacobians`: ``(C, B, d)``, ``(C, B, S)``.

        Returns
        -------
        torch.Tensor
            ``(C, B, m, k, k)`` with ``k = jacobian_block_size`` and ``m = S / k``: block ``j``
            is the step Jacobian restricted to the state entries ``jacobian_block_index()[j]``
            (it is zero outside the blocks).
        """
        raise NotImplementedError(f"{type(self).__name__} has no block-diagonal step Jacobian "
                                  f"(jacobian_block_size = {self.jacobian_block_size!r})")

    def jacobian_block_index(self) -> torch.Tensor:
        """State indices of each diagonal block, ``(m, k)`` (long): by default consecutive entries."""
        k = self.jacobian_block_size
        if k is None:
            raise NotImplementedError(f"{type(self).__name__} has no block-diagonal step Jacobian")
        return torch.arange(self.state_size).reshape(-1, k)

    # ----------------------------------------------------------------- states
    def hidden(self, state: torch.Tensor) -> torch.Tensor:
        """The observable hidden vector ``(B, hidden_size)`` inside a state."""
        return state[..., : self.hidden_size]

    def initial_state(self, batch: int) -> torch.Tensor:
        """The default initial state: zeros ``(batch, state_size)``."""
        p = self.reference_parameter()
        return torch.zeros(batch, self.state_size, dtype=p.dtype, device=p.device)

    def prepare_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        """Map user inputs ``(T, B, d)`` to the per-step inputs this chain reads.

        The identity, except for adapters of multi-layer torch modules, which run
        the layers below the probed one here.
        """
        return inputs

    def reference_parameter(self) -> torch.Tensor:
        """A parameter whose dtype and device the model computes in."""
        return next(self.parameters())

    # ---------------------------------------------------------------- weights
    def recurrent_weights(self) -> dict[str, torch.Tensor]:
        """The matrices acting on the previous state, by name (``W_h``, per gate...)."""
        raise NotImplementedError

    def derivative_diagonals(self, xs: torch.Tensor, states: torch.Tensor, t0: int = 0) -> torch.Tensor | None:
        """σ′ of the pre-activations (the lecture's ``D_s``), ``(C, B, n)``.

        Defined only for vanilla RNNs (the lecture's bound uses it); None otherwise.
        """
        return None

    def jacobian_factors(self, xs: torch.Tensor, states: torch.Tensor,
                         t0: int = 0) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``(d, W)`` with every step Jacobian ``J_t = diag(d_t) W`` (the lecture's ``D_s W_h``), or None.

        ``d`` is ``(C, B, S)`` for the steps ``t0 .. t0+C-1`` and ``W`` ``(S, S)`` the same
        for all of them. Product sweeps use it to form ``P J_t = (P diag(d_t)) W``
        without forming ``J_t``. The default: for a time-invariant :attr:`lecture_form`
        model whose state is its hidden vector, :meth:`derivative_diagonals` and
        ``recurrent_weights()['W_h']``; None for every other model. (The sweeps check
        it against :meth:`step_jacobian` on the first step before using it.)
        """
        if not self.lecture_form or self.kind != "recurrent" or self.state_size != self.hidden_size:
            return None
        d = self.derivative_diagonals(xs, states, t0)
        W = self.recurrent_weights().get("W_h") if d is not None else None
        return None if W is None else (d, W)

    @property
    def dtype(self) -> torch.dtype:
        return self.reference_parameter().dtype

    @property
    def device(self) -> torch.device:
        return self.reference_parameter().device

    def extra_repr(self) -> str:
        return f"name={self.name!r}, input_size={self.input_size}, hidden_size={self.hidden_size}"


class RecurrentModel(StepModel):
    """A time-invariant recurrent step: the same weights at every step.

    Step Jacobians of many steps are computed in one vectorised call by
    flattening time and batch.
    """

    kind = "recurrent"

    def jacobians(self, xs: torch.Tensor, states: torch.Tensor, t0: int = 0) -> torch.Tensor:
        C, B = xs.shape[:2]
        J = self.step_jacobian(xs.reshape(C * B, -1), states.reshape(C * B, -1), t0)
        return J.reshape(C, B, self.state_size, self.state_size)


class FeedForwardModel(StepModel):
    """A deep stack: step ``t`` is layer ``t`` and reads no per-step input.

    ``input_size`` is 0; the network input is the initial state.
    """

    kind = "feedforward"
    input_size = 0
    depth: int
