"""Gradient flossing (Engelken 2023): differentiable Lyapunov exponents and a regulariser pushing them to 0.

The top-k Lyapunov exponents of a recurrent net driven by inputs are
``λ_i = (1/T′) Σ log|R_ii|``, from re-orthonormalising a k-frame along the
trajectory, ``J_t Q_t = Q_{t+1} R_t`` (the same estimator as
:func:`rnnprobe.lyapunov_spectrum`). Here the whole computation — the forward
pass, the analytic step Jacobians ``J_t`` and the QR factorisations — runs
inside autograd, so the exponents are differentiable functions of the model's
parameters. A negative λ₁ is the rate at which G(k) = ‖∂s_T/∂s_{T−k}‖ decays
(vanishing gradients); a positive one, the rate at which it grows. Gradient
flossing adds ``Σ_{i≤k} λ_i²`` to the loss, pushing the top k exponents
towards 0, so that the gradients along k directions neither vanish nor explode
(R. Engelken, *Gradient Flossing: Improving Gradient Descent through Dynamic
Control of Jacobians*, NeurIPS 2023). It can be applied before training (to
the initial weights) and during training (added to the task loss).

QR is taken every ``qr_every`` steps (the frame is multiplied by that many
Jacobians in between; 1 is the most stable, larger values are cheaper but
overflow for long intervals in strongly expanding nets).

Examples
--------
A linear RNN with W = diag(0.5, 0.25) has exponents log 0.5 and log 0.25, and
∂λ₁/∂W₁₁ = 1/W₁₁ = 2:

>>> import torch, rnnprobe
>>> from rnnprobe.flossing import lyapunov_exponents
>>> model = rnnprobe.build("vanilla-linear", hidden_size=2, input_size=0, seed=0)
>>> with torch.no_grad():
...     _ = model.W_h.copy_(torch.diag(torch.tensor([0.5, 0.25], dtype=torch.float64)))
>>> lam = lyapunov_exponents(model, torch.zeros(100, 0), k=2, burn_in=50)
>>> [round(v, 6) for v in lam.tolist()]
[-0.693147, -1.386294]
>>> lam[0].backward()
>>> round(float(model.W_h.grad[0, 0]), 6)
2.0
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from rnnprobe._validation import check_finite_tensor, check_int, check_real
from rnnprobe.errors import InvalidArgument
from rnnprobe.linalg import start_vectors
from rnnprobe.models.base import StepModel

__all__ = ["lyapunov_exponents", "flossing_loss", "floss"]


def _check_inputs(model: StepModel, inputs: torch.Tensor) -> tuple[torch.Tensor, bool]:
    if not isinstance(model, StepModel):
        raise InvalidArgument(f"model must be an rnnprobe StepModel (rnnprobe.build, or CharRNN.core_layer); "
                              f"got {type(model).__name__}")
    if model.kind != "recurrent":
        raise InvalidArgument(f"model must be recurrent; got a {model.kind!r} stack {model.name!r}")
    check_finite_tensor("inputs", inputs)
    batched = inputs.dim() == 3
    if inputs.dim() not in (2, 3) or inputs.shape[-1] != model.input_size:
        raise InvalidArgument(f"inputs must have shape (T, {model.input_size}) or (T, B, {model.input_size}); "
                              f"got {tuple(inputs.shape)}")
    if inputs.shape[0] < 1:
        raise InvalidArgument(f"inputs must hold at least one step; got shape {tuple(inputs.shape)}")
    p = model.reference_parameter()
    x = inputs if batched else inputs.unsqueeze(1)
    return x.to(dtype=p.dtype, device=p.device), batched


def lyapunov_exponents(model: StepModel, inputs: torch.Tensor, k: int = 1, *, burn_in: int = 0, qr_every: int = 1,
                       h0: torch.Tensor | None = None, seed: int = 0) -> torch.Tensor:
    """Top-k Lyapunov exponents, differentiable with respect to the model's parameters.

    Parameters
    ----------
    model : StepModel
        A recurrent step model whose ``step`` and ``step_jacobian`` are
        differentiable (every built-in architecture; a torch module's layer
        through :class:`rnnprobe.sequence.charrnn.TiedTorchLayer`).
    inputs : torch.Tensor
        ``(T, d)`` or ``(T, B, d)``, time-major.
    k : int
        How many exponents, 1 <= k <= state size.
    burn_in : int
        Steps (re-orthonormalised at every step) before the exponents are
        accumulated, 0 <= burn_in < T.
    qr_every : int
        Steps between QR factorisations after the burn-in (>= 1).
    h0 : torch.Tensor, optional
        Initial state ``(S,)`` or ``(B, S)``; zeros by default.
    seed : int
        Seed of the initial orthonormal frame: the first k vectors of
        :func:`rnnprobe.linalg.start_vectors` (as :func:`rnnprobe.lyapunov_spectrum`).

    Returns
    -------
    torch.Tensor
        ``(k,)`` or ``(B, k)`` exponents per step (natural log), decreasing,
        attached to the autograd graph. An exponent is ``-inf`` (as in
        :func:`rnnprobe.lyapunov_spectrum`) when the step Jacobians annihilate
        that many directions exactly (e.g. ReLU units that are off).

    Raises
    ------
    InvalidArgument
        For bad arguments, or when a product over ``qr_every > 1`` steps
        under- or overflows (NaN/±inf exponents are never returned silently).
    """
    x, batched = _check_inputs(model, inputs)
    T, B = x.shape[:2]
    S = model.state_size
    k = check_int("k", k, min_value=1, max_value=S)
    burn_in = check_int("burn_in", burn_in, min_value=0, max_value=T - 1)
    qr_every = check_int("qr_every", qr_every, min_value=1)
    seed = check_int("seed", seed, min_value=0)
    if h0 is None:
        state = model.initial_state(B)
    else:
        check_finite_tensor("h0", h0)
        state = (h0 if h0.dim() == 2 else h0.unsqueeze(0).expand(B, -1)).to(x.dtype)
        if state.shape != (B, S):
            raise InvalidArgument(f"h0 must have shape ({S},) or ({B}, {S}); got {tuple(h0.shape)}")
    frame = start_vectors(S, S, dtype=x.dtype, device=x.device, seed=seed)[:k].T
    Q = torch.linalg.qr(frame)[0].expand(B, S, k)
    total = x.new_zeros(B, k)
    pending = 0
    for t in range(T):
        J = model.step_jacobian(x[t], state, t)
        state = model.step(x[t], state, t)
        Q = J @ Q
        pending += 1
        if t < burn_in or pending == qr_every or t == T - 1:
            Q, R = torch.linalg.qr(Q)
            if t >= burn_in:
                total = total + torch.log(torch.diagonal(R, dim1=-2, dim2=-1).abs())
            pending = 0
    lam = total / (T - burn_in)
    # -inf with qr_every = 1 is an exact zero of R (a singular J, e.g. ReLU units off), as rnnprobe's own
    bad = torch.isnan(lam) | (lam == math.inf) | ((lam == -math.inf) & (qr_every > 1))
    if bool(bad.any()):
        raise InvalidArgument(f"the Lyapunov exponents are not finite ({lam.detach().tolist()}): a Jacobian "
                              f"product over qr_every={qr_every} steps under- or overflowed; use qr_every=1")
    lam = torch.sort(lam, dim=-1, descending=True).values
    return lam if batched else lam[0]


def flossing_loss(model: StepModel, inputs: torch.Tensor, k: int = 1, **options) -> torch.Tensor:
    """The gradient-flossing regulariser ``Σ_{i≤k} λ_i²`` (mean over a batch).

    Parameters
    ----------
    model, inputs, k, **options
        As for :func:`lyapunov_exponents`.

    Returns
    -------
    torch.Tensor
        A differentiable scalar, 0 only when the top k exponents are 0.
    """
    lam = lyapunov_exponents(model, inputs, k, **options)
    if not bool(torch.isfinite(lam).all()):
        raise InvalidArgument(f"k must be at most the number of directions the step Jacobians do not annihilate: "
                              f"the top {k} exponents include -inf ({lam.detach().tolist()}); got k={k!r}")
    return (lam ** 2).sum(-1).mean()


def floss(model: StepModel, inputs: torch.Tensor | Iterable[torch.Tensor], k: int = 1, *, steps: int = 100,
          lr: float = 1e-3, **options) -> list[list[float]]:
    """Floss a model before training: minimise ``Σ λ_i²`` alone with Adam, in place.

    Parameters
    ----------
    model : StepModel
        Its parameters are updated.
    inputs : torch.Tensor or iterable of them
        The driving sequence (reused at every step), or one sequence per step.
    k : int
        How many exponents are pushed towards 0.
    steps : int
        Adam steps, >= 1.
    lr : float
        Adam's learning rate, > 0.
    **options
        Passed to :func:`lyapunov_exponents` (``burn_in``, ``qr_every``, ``seed``).

    Returns
    -------
    list of list of float
        The top-k exponents (of the first sequence of a batch) before each step.
    """
    steps = check_int("steps", steps, min_value=1)
    lr = check_real("lr", lr, low=0.0, low_open=True)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise InvalidArgument(f"model has no trainable parameters to floss; got {model.name!r}")
    opt = torch.optim.Adam(params, lr=lr)
    if isinstance(inputs, torch.Tensor):
        sequences = (inputs for _ in range(steps))
    else:
        sequences = iter(inputs)
    history = []
    for step in range(steps):
        try:
            x = next(sequences)
        except StopIteration:
            raise InvalidArgument(f"inputs gave {step} sequences; steps={steps} needs one per step") from None
        lam = lyapunov_exponents(model, x, k, **options)
        first = lam if lam.dim() == 1 else lam[0]
        history.append([float(v) for v in first.detach()])
        loss = (lam ** 2).sum(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return history
