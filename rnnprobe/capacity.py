"""Linear memory capacity (Jaeger 2001).

Drive the model with i.i.d. inputs u_t ~ U(−1, 1) (the same value on every
input dimension). For every lag k >= 1 (k = 1 is the latest input read, k the
one read k steps before the state), MC_k is the squared correlation between
u_{t−k} and its best linear readout from the hidden state, and the capacity
is MC = Σ_k MC_k.

Estimator: least squares over ``n_samples`` steps after a washout, with the
lagged-input columns symmetrically orthonormalised (Löwdin) first. Then
``MC_k = ‖P_H ỹ_k‖²`` with ``P_H`` the projection on the centred states, and
``Σ_k MC_k = ‖P_H Ỹ‖_F² ≤ rank H ≤ N``: the estimate never exceeds the state
size, as the theory (MC ≤ N, with equality for a linear reservoir whose Krylov
matrix has full rank) says. For i.i.d. inputs the orthonormalisation changes
the lagged inputs by O(1/√n_samples) only.

Examples
--------
>>> import rnnprobe
>>> model = rnnprobe.build("vanilla-linear", hidden_size=5, init="orthogonal", gain=0.7, seed=0)
>>> mc = rnnprobe.memory_capacity(model, max_lag=40, seed=0)
>>> 4.9 < mc.total <= 5.0
True
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rnnprobe._validation import check_int, check_real
from rnnprobe.errors import InvalidArgument
from rnnprobe.trajectory import as_model, record

__all__ = ["MemoryCapacity", "memory_capacity"]


@dataclass(frozen=True)
class MemoryCapacity:
    """Jaeger's linear memory capacity.

    Attributes
    ----------
    total : float
        Σ_k MC_k (at most ``state_size``).
    per_lag : torch.Tensor
        ``(max_lag,)`` MC_k for k = 1 … max_lag, each in [0, 1].
    state_size : int
        N, the size of the hidden vector the readout reads.
    """

    total: float
    per_lag: torch.Tensor
    state_size: int


def memory_capacity(model, max_lag: int | None = None, *, n_samples: int = 10000, washout: int = 200,
                    input_scale: float = 1.0, seed: int = 0) -> MemoryCapacity:
    """Jaeger's linear memory capacity of a model's hidden state.

    Parameters
    ----------
    model : StepModel or torch recurrent module
        A recurrent model with at least one input.
    max_lag : int, optional
        Largest lag k (default 4·n, n the hidden size).
    n_samples : int
        Steps used for the readouts (after the washout); must exceed
        ``max_lag + n``.
    washout : int
        Steps run first and discarded, so the initial state is forgotten.
    input_scale : float
        u_t ~ U(−input_scale, input_scale).
    seed : int
        Seed of the input sequence.

    Returns
    -------
    MemoryCapacity
    """
    model = as_model(model)
    if model.kind != "recurrent" or model.input_size < 1:
        raise InvalidArgument(f"model must be a recurrent net with input_size >= 1; got {model.name!r} "
                              f"(kind {model.kind!r}, input_size {model.input_size})")
    n = model.hidden_size
    max_lag = 4 * n if max_lag is None else check_int("max_lag", max_lag, min_value=1)
    n_samples = check_int("n_samples", n_samples, min_value=1)
    if n_samples <= max_lag + n:
        raise InvalidArgument(f"n_samples must exceed max_lag + hidden_size = {max_lag + n}; got {n_samples!r}")
    washout = check_int("washout", washout, min_value=0)
    input_scale = check_real("input_scale", input_scale, low=0.0, low_open=True)
    total_steps = washout + max_lag + n_samples
    g = torch.Generator().manual_seed(check_int("seed", seed, min_value=0))
    u = (2 * torch.rand(total_steps, generator=g, dtype=torch.float64) - 1) * input_scale
    traj = record(model, u[:, None].expand(total_steps, model.input_size).to(model.dtype))
    # states[j] has read u_0 … u_{j−1}: lag k of state j is u_{j−k}
    first = washout + max_lag
    H = model.hidden(traj.states[first:total_steps, 0]).to(torch.float64)
    Y = torch.stack([u[first - k : total_steps - k] for k in range(1, max_lag + 1)], dim=1).to(H.device)
    H = H - H.mean(0)
    Y = Y - Y.mean(0)
    # orthonormal basis of the state columns (rank-revealing via SVD)
    U_h, s_h, _ = torch.linalg.svd(H, full_matrices=False)
    rank = int((s_h > s_h[0] * H.shape[0] * torch.finfo(H.dtype).eps).sum()) if s_h[0] > 0 else 0
    U_h = U_h[:, :rank]
    # Löwdin orthonormalisation of the lagged inputs: Y (YᵀY)^{-1/2}
    U_y, _, Vh_y = torch.linalg.svd(Y, full_matrices=False)
    Y_tilde = U_y @ Vh_y
    per_lag = (U_h.T @ Y_tilde).pow(2).sum(0).clamp(0.0, 1.0)
    return MemoryCapacity(float(per_lag.sum()), per_lag, n)
