"""The Pascanu, Mikolov & Bengio (2013) bound and the instances that attain it.

For a vanilla RNN ``h' = σ(W h + …)`` every step Jacobian is ``J_s = D_s W``
with ``D_s = diag σ′(a_s)`` and ``‖D_s‖₂ ≤ γ = sup|σ′|``, so

    G(k) = ‖J_{T−1} ⋯ J_{T−k}‖₂ ≤ (γ σ_max(W))^k.

When is it attained (``G(k) = (γσ_max)^k`` for every k)? Sufficient: every
``D_s = γ I`` along the trajectory (the pre-activations sit where |σ′| = γ)
and W is *normaloid*, ``ρ(W) = ‖W‖₂`` (then ``‖W^k‖₂ = ‖W‖₂^k``: spectral radius
≤ ‖W^k‖^{1/k} ≤ ‖W‖), e.g. W = g·Q with Q orthogonal, or any normal W. With
``D_s = γ I`` the condition on W is also necessary, since
``‖W^k‖^{1/k} → ρ(W)``. Instances: linear σ with W = gQ (``G(k) = g^k``
exactly, γ = 1); tanh at the origin with zero input and bias (``D = I``); the
logistic sigmoid held at pre-activation 0 by the bias ``b = −W·½`` (``D = ¼ I``,
``G(k) = (g/4)^k``); ReLU at a positive fixed point (``D = I``).
:func:`pascanu_tight_model` builds them.

Examples
--------
>>> import torch, rnnprobe
>>> from rnnprobe.theory.pascanu import pascanu_tight_model
>>> model, h0 = pascanu_tight_model(6, 2.0, "sigmoid", seed=0)
>>> traj = rnnprobe.record(model, torch.zeros(5, 1), h0=h0)
>>> [round(float(g), 12) for g in rnnprobe.jacobian_norms(traj)]
[0.03125, 0.0625, 0.125, 0.25, 0.5]
"""

from __future__ import annotations

import numpy as np
import torch

from rnnprobe._validation import check_choice, check_int, check_real
from rnnprobe.errors import InvalidArgument
from rnnprobe.models.registry import build
from rnnprobe.products import _check_trajectory

__all__ = [
    "pascanu_bound",
    "trajectory_pascanu_bound",
    "is_normaloid",
    "pascanu_attained",
    "pascanu_tight_model",
    "GAMMA_POINTS",
]

#: a pre-activation x₀ with |σ′(x₀)| = γ, for every built-in nonlinearity
GAMMA_POINTS = {"tanh": 0.0, "sigmoid": 0.0, "linear": 0.0, "relu": 1.0}


def pascanu_bound(sigma_max: float, lags, *, gamma: float = 1.0, log: bool = False) -> np.ndarray:
    """``(γ σ_max)^k`` for every lag k (natural log with ``log=True``).

    Examples
    --------
    >>> pascanu_bound(2.0, [1, 2, 3], gamma=0.25).tolist()
    [0.5, 0.25, 0.125]
    """
    sigma_max = check_real("sigma_max", sigma_max, low=0.0)
    gamma = check_real("gamma", gamma, low=0.0)
    k = np.asarray(lags, dtype=float)
    if k.size and (k < 0).any():
        raise InvalidArgument(f"lags must be >= 0; got {lags!r}")
    with np.errstate(divide="ignore"):
        rate = np.log(gamma * sigma_max)
    logs = np.where(k == 0, 0.0, k * rate if np.isfinite(rate) else np.where(k == 0, 0.0, -np.inf))
    return logs if log else np.exp(logs)


def trajectory_pascanu_bound(traj, *, log: bool = False) -> torch.Tensor:
    """The bound for every start step of a trajectory, laid out as :func:`rnnprobe.jacobian_norms`.

    Entry t is ``(γ σ_max(W_h))^{T−t}``. Only for models whose step Jacobian is
    ``D_s W_h`` (``model.lecture_form``).
    """
    traj = _check_trajectory(traj)
    model = traj.model
    sigma = getattr(model, "sigma", None)
    if not model.lecture_form or sigma is None or "W_h" not in model.recurrent_weights():
        raise InvalidArgument(
            f"traj must come from a vanilla RNN (step Jacobian D_s W_h); got {model.name!r}, whose step Jacobian "
            "is not of that form"
        )
    W = model.recurrent_weights()["W_h"].to(torch.float64)
    sigma_max = float(torch.linalg.matrix_norm(W, ord=2))
    out = torch.from_numpy(pascanu_bound(sigma_max, traj.lags.numpy(), gamma=sigma.gamma, log=log)).to(traj.dtype)
    return out.expand(traj.batch_size, -1).clone() if traj.batched else out


def is_normaloid(W, *, rtol: float = 1e-9) -> bool:
    """Whether ``ρ(W) = ‖W‖₂`` (to ``rtol``): then ``‖W^k‖₂ = ‖W‖₂^k`` for all k.

    Examples
    --------
    >>> is_normaloid(np.diag([0.5, -0.9])), is_normaloid(np.array([[0.0, 1.0], [0.0, 0.0]]))
    (True, False)
    """
    W = np.asarray(W.detach().cpu() if isinstance(W, torch.Tensor) else W, dtype=float)
    if W.ndim != 2 or W.shape[0] != W.shape[1]:
        raise InvalidArgument(f"W must be a square matrix; got shape {W.shape}")
    norm = np.linalg.norm(W, 2)
    radius = np.abs(np.linalg.eigvals(W)).max()
    return bool(abs(norm - radius) <= rtol * max(norm, np.finfo(float).tiny))


def pascanu_attained(traj, *, rtol: float = 1e-9) -> bool:
    """Whether the sufficient condition for ``G(k) = (γ σ_max)^k`` at every lag holds on ``traj``.

    True when the model is a vanilla RNN, every ``D_s`` along the trajectory
    equals ``γ I`` (to ``rtol``) and ``W_h`` is normaloid.
    """
    traj = _check_trajectory(traj)
    model = traj.model
    sigma = getattr(model, "sigma", None)
    if not model.lecture_form or sigma is None:
        return False
    D = model.derivative_diagonals(traj.inputs, traj.states[:-1])
    if D is None or not bool(torch.all(torch.abs(D.abs() - sigma.gamma) <= rtol * sigma.gamma)):
        return False
    return is_normaloid(model.recurrent_weights()["W_h"], rtol=rtol)


def pascanu_tight_model(hidden_size: int, gain: float, nonlinearity: str = "tanh", *, seed: int = 0,
                        input_size: int = 1, dtype=torch.float64):
    """A vanilla RNN and initial state on which the Pascanu bound is attained at every lag.

    ``W_h = g Q`` (orthogonal), the bias chosen so that ``h* = σ(x₀)·1`` is a
    fixed point for zero input with pre-activation ``x₀`` where ``|σ′(x₀)| = γ``
    (:data:`GAMMA_POINTS`). Run it from ``h0`` with zero inputs: every
    ``D_s = γ I`` and ``G(k) = (γ g)^k`` exactly.

    Returns
    -------
    (VanillaRNN, torch.Tensor)
        The model and ``h0 = h*`` (shape ``(hidden_size,)``).
    """
    check_choice("nonlinearity", nonlinearity, GAMMA_POINTS)
    hidden_size = check_int("hidden_size", hidden_size, min_value=1)
    gain = check_real("gain", gain, low=0.0)
    model = build(f"vanilla-{nonlinearity}", hidden_size, input_size, init="orthogonal", gain=gain, seed=seed,
                  dtype=dtype)
    x0 = torch.full((hidden_size,), GAMMA_POINTS[nonlinearity], dtype=model.dtype)
    h_star = model.sigma(x0)
    with torch.no_grad():
        model.b.copy_(x0 - model.W_h @ h_star)
    return model, h_star.clone()
