"""A table of bad API calls: each raises the named exception with a message naming the parameter.

In the style of hypothesis's invalid-argument tables: one row per call, the exception type, and a
fragment of the message (which names the parameter and the value received). Rows marked (#11) were
raw errors, silent wrong answers or uninitialised memory before issue 11.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch
from torch import nn

import rnnprobe
from rnnprobe import testing as rt
from rnnprobe import theory
from rnnprobe.errors import InvalidArgument
from rnnprobe.models.base import RecurrentModel
from rnnprobe.diagnosis import diagnose_trajectory
from rnnprobe.trajectory import Trajectory

F64 = torch.float64
X = torch.randn(5, 2, 1, dtype=F64, generator=torch.Generator().manual_seed(0))


def _sum_loss(h):
    return h.sum()


def _model(seed=0):
    return rnnprobe.build("vanilla-tanh", hidden_size=3, seed=seed)


def _traj():
    return rnnprobe.record(_model(), X)


def _lru_traj():
    return rnnprobe.record(rnnprobe.build("lru", hidden_size=2, seed=0), torch.zeros(3, 1, dtype=F64))


def _residual_traj():
    return rnnprobe.record(rnnprobe.build("residual", hidden_size=3, seed=0), X)


def _other_model_traj():
    t = _traj()
    return Trajectory(_model(seed=1), t.inputs, t.states, t.batched)       # same sizes, other weights


def _replaced_traj():
    t = _traj()
    return dataclasses.replace(t, model=_model(seed=2))


def _stale_traj():
    t = _traj()
    with torch.no_grad():
        t.model.W_h.mul_(0.5)                     # weights changed after recording
    return t


class _WrongSizeCell(nn.Module):
    """A cell that returns 4 numbers for a hidden state of 3."""

    input_size, hidden_size = 1, 3

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x, h):
        return torch.tanh(self.lin(torch.cat([x, h], -1)))


class _TupleCell(nn.Module):
    """A cell that returns (h, c) though it is not declared tuple_state."""

    input_size, hidden_size = 1, 2

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)

    def forward(self, x, h):
        out = torch.tanh(self.lin(torch.cat([x, h], -1)))
        return out, out


class _SqrtRNN(RecurrentModel):
    """h' = sqrt(|h|) + x: finite states, an infinite derivative at h = 0."""

    name = "sqrt-rnn"

    def __init__(self):
        super().__init__()
        self.input_size, self.hidden_size, self.state_size = 1, 2, 2
        self.w = nn.Parameter(torch.ones(2, dtype=F64))

    def step(self, x, state, t=0):
        return self.w * torch.sqrt(state.abs()) + x

    def recurrent_weights(self):
        return {}


def _scalar_loss_vector(h):
    return h * 2                                    # not a scalar


ROWS = [
    # ---- chunk_size (#11: -3 returned uninitialised memory; 0 and 2.5 raised raw errors)
    ("jacobian_norms chunk -3", lambda: rnnprobe.jacobian_norms(_traj(), chunk_size=-3), InvalidArgument, "chunk_size must be >= 1; got -3"),
    ("jacobian_norms chunk 2.5", lambda: rnnprobe.jacobian_norms(_traj(), chunk_size=2.5), InvalidArgument, "chunk_size must be an integer; got 2.5"),
    ("singular_values chunk 0", lambda: rnnprobe.jacobian_singular_values(_traj(), chunk_size=0), InvalidArgument, "chunk_size must be >= 1; got 0"),
    ("gradient_norms chunk -3", lambda: rnnprobe.gradient_norms(_traj(), chunk_size=-3), InvalidArgument, "chunk_size must be >= 1; got -3"),
    ("gradient_norms chunk 0", lambda: rnnprobe.gradient_norms(_traj(), chunk_size=0), InvalidArgument, "chunk_size must be >= 1; got 0"),
    ("gradient_norms chunk 2.5", lambda: rnnprobe.gradient_norms(_traj(), chunk_size=2.5), InvalidArgument, "chunk_size must be an integer; got 2.5"),
    ("gradient_bounds chunk -3", lambda: rnnprobe.gradient_bounds(_traj(), chunk_size=-3), InvalidArgument, "chunk_size must be >= 1; got -3"),
    ("gradient_bounds chunk 0", lambda: rnnprobe.gradient_bounds(_traj(), chunk_size=0), InvalidArgument, "chunk_size must be >= 1; got 0"),
    ("gradient_bounds chunk 2.5", lambda: rnnprobe.gradient_bounds(_traj(), chunk_size=2.5), InvalidArgument, "chunk_size must be an integer; got 2.5"),
    ("step_norms chunk -3", lambda: rnnprobe.step_norms(_traj(), chunk_size=-3), InvalidArgument, "chunk_size must be >= 1; got -3"),
    ("step_norms chunk 0", lambda: rnnprobe.step_norms(_traj(), chunk_size=0), InvalidArgument, "chunk_size must be >= 1; got 0"),
    ("step_norms chunk 2.5", lambda: rnnprobe.step_norms(_traj(), chunk_size=2.5), InvalidArgument, "chunk_size must be an integer; got 2.5"),
    ("step_norms chunk '4'", lambda: rnnprobe.step_norms(_traj(), chunk_size="4"), InvalidArgument, "chunk_size must be an integer; got '4'"),
    # ---- seeds (#11: -1 accepted, 'a'/None raw errors, 2**70 an overflow)
    ("gradient_norms seed -1", lambda: rnnprobe.gradient_norms(_traj(), seed=-1), InvalidArgument, "seed must be an integer in [0, 2**64 - 1]; got -1"),
    ("gradient_norms seed 'a'", lambda: rnnprobe.gradient_norms(_traj(), seed="a"), InvalidArgument, "seed must be an integer in [0, 2**64 - 1]; got 'a'"),
    ("gradient_norms seed None", lambda: rnnprobe.gradient_norms(_traj(), seed=None), InvalidArgument, "seed must be an integer in [0, 2**64 - 1]; got None"),
    ("gradient_norms seed 2**70", lambda: rnnprobe.gradient_norms(_traj(), seed=2**70), InvalidArgument, f"got {2**70}"),
    ("gradient_norms seed True", lambda: rnnprobe.gradient_norms(_traj(), seed=True), InvalidArgument, "seed must be an integer in [0, 2**64 - 1]; got True"),
    ("gradient_bounds seed -1", lambda: rnnprobe.gradient_bounds(_traj(), seed=-1), InvalidArgument, "seed must be an integer in [0, 2**64 - 1]; got -1"),
    ("lyapunov_spectrum seed -1", lambda: rnnprobe.lyapunov_spectrum(_model(), X, seed=-1), InvalidArgument, "seed must be an integer in [0, 2**64 - 1]; got -1"),
    ("lyapunov_spectrum seed 'a'", lambda: rnnprobe.lyapunov_spectrum(_model(), X, seed="a"), InvalidArgument, "seed must be an integer in [0, 2**64 - 1]; got 'a'"),
    ("lyapunov_spectrum seed None", lambda: rnnprobe.lyapunov_spectrum(_model(), X, seed=None), InvalidArgument, "seed must be an integer in [0, 2**64 - 1]; got None"),
    ("trajectory_lyapunov seed 2**64", lambda: rnnprobe.trajectory_lyapunov_spectrum(_traj(), seed=2**64), InvalidArgument, f"got {2**64}"),
    ("path_lengths seed -1", lambda: rnnprobe.path_lengths(_residual_traj(), seed=-1), InvalidArgument, "seed must be an integer in [0, 2**64 - 1]; got -1"),
    ("path_lengths seed 'a'", lambda: rnnprobe.path_lengths(_residual_traj(), seed="a"), InvalidArgument, "seed must be an integer in [0, 2**64 - 1]; got 'a'"),
    ("path_lengths seed None", lambda: rnnprobe.path_lengths(_residual_traj(), seed=None), InvalidArgument, "seed must be an integer in [0, 2**64 - 1]; got None"),
    ("build seed 2**70", lambda: rnnprobe.build("gru", hidden_size=2, seed=2**70), InvalidArgument, f"seed must be an integer in [0, 2**64 - 1]; got {2**70}"),
    ("build seed 1.5", lambda: rnnprobe.build("gru", hidden_size=2, seed=1.5), InvalidArgument, "seed must be an integer in [0, 2**64 - 1]; got 1.5"),
    # ---- log must be a bool (#11: log='no' was treated as True)
    ("jacobian_norms log 'no'", lambda: rnnprobe.jacobian_norms(_traj(), log="no"), InvalidArgument, "log must be True or False; got 'no'"),
    ("singular_values log 'no'", lambda: rnnprobe.jacobian_singular_values(_traj(), log="no"), InvalidArgument, "log must be True or False; got 'no'"),
    ("gradient_norms log 1", lambda: rnnprobe.gradient_norms(_traj(), log=1), InvalidArgument, "log must be True or False; got 1"),
    ("gradient_bounds log 'yes'", lambda: rnnprobe.gradient_bounds(_traj(), log="yes"), InvalidArgument, "log must be True or False; got 'yes'"),
    ("step_norms log None", lambda: rnnprobe.step_norms(_traj(), log=None), InvalidArgument, "log must be True or False; got None"),
    # ---- architecture names (#11: build(['lstm']) raised TypeError: unhashable type)
    ("build list", lambda: rnnprobe.build(["lstm"]), InvalidArgument, "architecture must be one of 'vanilla-tanh'"),
    ("build list value", lambda: rnnprobe.build(["lstm"]), InvalidArgument, "got ['lstm']"),
    ("build None", lambda: rnnprobe.build(None), InvalidArgument, "architecture must be one of 'vanilla-tanh', 'vanilla-relu'"),
    ("architectures[dict]", lambda: rnnprobe.architectures[{"a": 1}], InvalidArgument, "got {'a': 1}"),
    # ---- inputs (#11: complex inputs lost their imaginary part; batch size 0 failed inside torch)
    ("record complex inputs", lambda: rnnprobe.record(_model(), X.to(torch.complex128)), InvalidArgument, "inputs must be real"),
    ("record complex h0", lambda: rnnprobe.record(_model(), X, torch.zeros(3, dtype=torch.complex128)), InvalidArgument, "h0 must be real; got dtype torch.complex128"),
    ("record batch 0", lambda: rnnprobe.record(_model(), torch.zeros(5, 0, 1)), InvalidArgument, "inputs must hold at least one sequence (batch size B >= 1); got shape (5, 0, 1)"),
    ("record stack batch 0", lambda: rnnprobe.record(rnnprobe.build("mlp", hidden_size=3), torch.zeros(0, 3)), InvalidArgument, "inputs must hold at least one network input (batch size B >= 1); got shape (0, 3)"),
    ("record empty sequence", lambda: rnnprobe.record(_model(), torch.zeros(0, 1)), InvalidArgument, "inputs must hold at least one time step (T >= 1)"),
    ("record not a tensor", lambda: rnnprobe.record(_model(), [[0.0]]), InvalidArgument, "inputs must be a torch.Tensor; got list"),
    ("record 4-d inputs", lambda: rnnprobe.record(_model(), torch.zeros(2, 1, 1, 1)), InvalidArgument, "inputs must have shape (T, d) or (T, B, d)"),
    ("record NaN inputs", lambda: rnnprobe.record(_model(), torch.tensor([[math.nan]])), InvalidArgument, "inputs must be finite"),
    ("record h0 shape", lambda: rnnprobe.record(_model(), X, torch.zeros(4)), InvalidArgument, "h0 must have shape (2, 3) or (3,)"),
    # ---- a trajectory and its model (#11: another model of the same size was silently wrong)
    ("Trajectory with another model", lambda: rnnprobe.jacobian_norms(_other_model_traj()), InvalidArgument, "traj must be recorded by its own model"),
    ("replace(traj, model=...)", lambda: rnnprobe.gradient_norms(_replaced_traj()), InvalidArgument, "does not reproduce the recorded state s_1 from s_0"),
    ("model changed after record", lambda: rnnprobe.memory_length(_stale_traj()), InvalidArgument, "traj must be recorded by its own model"),
    ("Trajectory states shape", lambda: Trajectory(_model(), X, torch.zeros(5, 2, 3, dtype=F64), True), InvalidArgument, "states must have shape (T + 1, B, state_size) = (6, 2, 3)"),
    ("Trajectory states dtype", lambda: Trajectory(_model(), X, torch.zeros(6, 2, 3), True), InvalidArgument, "states must have the model's dtype torch.float64"),
    ("Trajectory model", lambda: Trajectory(nn.Linear(2, 2), X, torch.zeros(6, 2, 3), True), InvalidArgument, "model must be an rnnprobe StepModel; got Linear"),
    # ---- custom cells and models (#11: a wrong state size failed deep inside torch)
    ("cell wrong state size", lambda: rnnprobe.record(rnnprobe.CellAdapter(_WrongSizeCell()), torch.zeros(4, 1)), InvalidArgument, "must return the next state, a tensor of shape (B, 3) (state size 3); got shape (1, 4)"),
    ("cell tuple state", lambda: rnnprobe.record(rnnprobe.CellAdapter(_TupleCell()), torch.zeros(4, 1)), InvalidArgument, "must return the next state, a tensor of shape (B, 2) (state size 2); got a tuple"),
    ("non-finite step Jacobian", lambda: rnnprobe.jacobian_norms(rnnprobe.record(_SqrtRNN(), torch.zeros(3, 1))), InvalidArgument, "has a step Jacobian with NaN/Inf entries at step t = 0"),
    ("non-finite Jacobian, g", lambda: rnnprobe.gradient_norms(rnnprobe.record(_SqrtRNN(), torch.zeros(3, 1))), InvalidArgument, "its derivative is not finite at the recorded state"),
    ("non-finite Jacobian, Lyapunov", lambda: rnnprobe.lyapunov_spectrum(_SqrtRNN(), torch.zeros(3, 1)), InvalidArgument, "has a step Jacobian with NaN/Inf entries"),
    # ---- other probe arguments
    ("jacobian_norms method", lambda: rnnprobe.jacobian_norms(_traj(), method="exact"), InvalidArgument, "method must be one of 'auto', 'power', 'svd'; got 'exact'"),
    ("jacobian_norms tol 0", lambda: rnnprobe.jacobian_norms(_traj(), tol=0.0), InvalidArgument, "tol must lie in (0, 0.001]; got 0.0"),
    ("jacobian_norms precision", lambda: rnnprobe.jacobian_norms(_traj(), precision="half"), InvalidArgument, "precision must be one of 'full', 'float32'; got 'half'"),
    ("singular_values resolution", lambda: rnnprobe.jacobian_singular_values(_traj(), resolution=0.1), InvalidArgument, "resolution must lie in (0, 1e-06]; got 0.1"),
    ("singular_values rounding_check 'yes'", lambda: rnnprobe.jacobian_singular_values(_traj(), rounding_check="yes"), InvalidArgument, "rounding_check must be True or False; got 'yes'"),
    ("jacobian_product start > stop", lambda: rnnprobe.jacobian_product(_traj(), start=4, stop=2), InvalidArgument, "start must be <= 2; got 4"),
    ("jacobian_product stop > T", lambda: rnnprobe.jacobian_product(_traj(), stop=6), InvalidArgument, "stop must be <= 5; got 6"),
    ("memory_length eps 1.5", lambda: rnnprobe.memory_length(_traj(), eps=1.5), InvalidArgument, "eps must lie in (0, 1); got 1.5"),
    ("memory_length eps nan", lambda: rnnprobe.memory_length(_traj(), eps=math.nan), InvalidArgument, "eps must be a finite real number; got nan"),
    ("memory_length burn_in -1", lambda: rnnprobe.memory_length(_traj(), burn_in=-1), InvalidArgument, "burn_in must be >= 0; got -1"),
    ("memory_length burn_in T", lambda: rnnprobe.memory_length(_traj(), burn_in=5), InvalidArgument, "burn_in must be smaller than the number of steps T = 5; got 5"),
    ("lyapunov k 0", lambda: rnnprobe.lyapunov_spectrum(_model(), X, k=0), InvalidArgument, "k must be >= 1; got 0"),
    ("lyapunov k > S", lambda: rnnprobe.lyapunov_spectrum(_model(), X, k=4), InvalidArgument, "k must be <= 3; got 4"),
    ("lyapunov reorthonormalize_every 0", lambda: rnnprobe.lyapunov_spectrum(_model(), X, reorthonormalize_every=0), InvalidArgument, "reorthonormalize_every must be >= 1; got 0"),
    ("lyapunov reorthonormalize_every 1.5", lambda: rnnprobe.trajectory_lyapunov_spectrum(_traj(), reorthonormalize_every=1.5), InvalidArgument, "reorthonormalize_every must be an integer; got 1.5"),
    ("clv k 0", lambda: rnnprobe.covariant_lyapunov_vectors(_model(), X, k=0), InvalidArgument, "k must be >= 1; got 0"),
    ("clv k > S", lambda: rnnprobe.covariant_lyapunov_vectors(_model(), X, k=4), InvalidArgument, "k must be <= 3; got 4"),
    ("clv burn_in T", lambda: rnnprobe.covariant_lyapunov_vectors(_model(), X, burn_in=5), InvalidArgument, "burn_in must be smaller than the number of steps T = 5; got 5"),
    ("clv burn_out -1", lambda: rnnprobe.covariant_lyapunov_vectors(_model(), X, burn_out=-1), InvalidArgument, "burn_out must be >= 0; got -1"),
    ("clv burn_in + burn_out", lambda: rnnprobe.trajectory_covariant_lyapunov_vectors(_traj(), burn_in=3, burn_out=2), InvalidArgument, "got burn_in=3 + burn_out=2 = 5"),
    ("clv split", lambda: rnnprobe.covariant_lyapunov_vectors(_model(), X, split=3), InvalidArgument, "split must be <= 2; got 3"),
    ("clv seed", lambda: rnnprobe.covariant_lyapunov_vectors(_model(), X, seed=-1), InvalidArgument, "seed must be an integer in [0, 2**64 - 1]; got -1"),
    ("capacity max_lag 0", lambda: rnnprobe.memory_capacity(_model(), max_lag=0), InvalidArgument, "max_lag must be >= 1; got 0"),
    ("capacity n_samples", lambda: rnnprobe.memory_capacity(_model(), max_lag=4, n_samples=5), InvalidArgument, "n_samples must leave at least hidden_size + 2 = 5 training and 3 held-out samples at test_fraction=0.2; got n_samples=5 (4 training, 1 held out)"),
    ("capacity ridge", lambda: rnnprobe.memory_capacity(_model(), ridge=-0.5), InvalidArgument, "ridge must lie in [0, inf); got -0.5"),
    ("capacity test_fraction", lambda: rnnprobe.memory_capacity(_model(), test_fraction=1.0), InvalidArgument, "test_fraction must lie in (0, 1); got 1.0"),
    ("capacity input_scale", lambda: rnnprobe.memory_capacity(_model(), input_scale=0.0), InvalidArgument, "input_scale must lie in (0, inf); got 0.0"),
    ("gradient loss not callable", lambda: rnnprobe.gradient_norms(_traj(), loss=3), InvalidArgument, "loss must be a callable h_T -> scalar or None; got int"),
    ("gradient loss vector", lambda: rnnprobe.gradient_norms(_traj(), loss=_scalar_loss_vector), InvalidArgument, "loss must return a scalar tensor"),
    ("gradient two losses", lambda: rnnprobe.gradient_norms(_traj(), loss=_sum_loss, batch_loss=_sum_loss), InvalidArgument, "give at most one of loss, batch_loss and loss_over_steps; got loss and batch_loss"),
    ("gradient batch_loss not callable", lambda: rnnprobe.gradient_norms(_traj(), batch_loss="mse"), InvalidArgument, "batch_loss must be a callable h_T (B, n) -> (B,) or None; got str"),
    ("gradient batch_loss scalar", lambda: rnnprobe.gradient_norms(_traj(), batch_loss=_sum_loss), InvalidArgument, "batch_loss must return one loss per sequence, shape (2,), for h_T of shape (2, 3); got Tensor of shape () (compute the loss with reduction='none'"),
    ("gradient loss_over_steps shape", lambda: rnnprobe.gradient_norms(_traj(), loss_over_steps=lambda out: out.sum(-1)), InvalidArgument, "loss_over_steps must return one loss per sequence, shape (2,), for h_1…h_T of shape (5, 2, 3); got Tensor of shape (5, 2)"),
    ("gradient loss_over_steps NaN", lambda: rnnprobe.gradient_norms(_traj(), loss_over_steps=lambda out: float("nan") * out.sum((0, 2))), InvalidArgument, "loss_over_steps must have a finite gradient at h_1…h_T; got NaN/Inf"),
    ("bounds loss_over_steps", lambda: rnnprobe.gradient_bounds(_traj(), loss_over_steps=lambda out: out.sum((0, 2))), InvalidArgument, "loss_over_steps is not accepted here: this measure needs a loss of the last state s_T"),
    ("assert with two losses", lambda: rt.assert_gradients_vanish(_model(), X, loss=_sum_loss, loss_over_steps=_sum_loss), InvalidArgument, "give at most one of loss, batch_loss and loss_over_steps; got loss and loss_over_steps"),
    ("diagnose without inputs", lambda: rnnprobe.diagnose(_model()), InvalidArgument, "inputs must be a tensor (your inputs, as record takes them) for a model; got None"),
    ("diagnose trajectory and inputs", lambda: rnnprobe.diagnose(_traj(), X), InvalidArgument, "inputs, h0 and batch_first must be None when a Trajectory is passed"),
    ("diagnose eps", lambda: rnnprobe.diagnose(_model(), X, eps=1.0), InvalidArgument, "eps must lie in (0, 1); got 1.0"),
    ("diagnose sequence", lambda: diagnose_trajectory(_traj(), sequence=2), InvalidArgument, "sequence must be None or an index in [0, 1]; got 2"),
    ("diagnose batch_loss not callable", lambda: rnnprobe.diagnose(_traj(), batch_loss=3), InvalidArgument, "batch_loss must be a callable h_T (B, n) -> (B,) or None; got int"),
    ("path_lengths not residual", lambda: rnnprobe.path_lengths(_traj()), InvalidArgument, "traj must come from a residual model"),
    ("probe of a tensor", lambda: rnnprobe.gradient_bounds(torch.zeros(3)), InvalidArgument, "traj must be a Trajectory from rnnprobe.record(model, inputs); got Tensor"),
    ("weight_spectrum of a Linear", lambda: rnnprobe.weight_spectrum(nn.Linear(2, 2)), InvalidArgument, "model must be an rnnprobe StepModel (see rnnprobe.build)"),
    ("CellAdapter(3)", lambda: rnnprobe.CellAdapter(3), InvalidArgument, "cell must be callable as cell(x, h); got int"),
    ("adapt(Linear)", lambda: rnnprobe.adapt(nn.Linear(2, 2)), InvalidArgument, "module must be a torch.nn.RNN, GRU, LSTM or a cell module; got Linear"),
    # ---- assertions and theory
    ("assert_memory_at_least steps 0", lambda: rt.assert_memory_at_least(_model(), 0, X), InvalidArgument, "steps must be >= 1; got 0"),
    ("assert_gradients_vanish within > T", lambda: rt.assert_gradients_vanish(_model(), X, within=9), InvalidArgument, "within must be <= T = 5"),
    ("assert_gradients_vanish rate", lambda: rt.assert_gradients_vanish(_model(), X, rate=-1.0), InvalidArgument, "rate must lie in (0, inf); got -1.0"),
    ("theory fixed_point sigma_w", lambda: theory.fixed_point(-1.0), InvalidArgument, "sigma_w must lie in [0, inf); got -1.0"),
    ("theory fixed_point q0", lambda: theory.fixed_point(1.0, 0.1, q0=0.0), InvalidArgument, "q0 must lie in (0, inf); got 0.0"),
    ("theory layer_growth width", lambda: theory.layer_growth(1.0, 0.0, width=1), InvalidArgument, "width must be >= 2; got 1"),
    ("theory depth_scale chi", lambda: theory.depth_scale(-0.5), InvalidArgument, "chi must lie in [0, inf); got -0.5"),
    ("theory nonlinearity", lambda: theory.chi1(1.0, 0.0, 3), InvalidArgument, "nonlinearity must be a name from rnnprobe.NONLINEARITIES"),
    # ---- the recurrences of issue 12 and their theory (#12: negative or fractional lags gave |λ|^k silently,
    #      log='no' was taken as True, G beyond the float range came back as inf)
    ("diagonal_jacobian_norms lags -1", lambda: theory.diagonal_jacobian_norms([0.5], [-1]), InvalidArgument, "lags must be an array of integers k >= 0; got [-1]"),
    ("diagonal_jacobian_norms lags 1.5", lambda: theory.diagonal_jacobian_norms([0.5], [1.5]), InvalidArgument, "lags must be an array of integers k >= 0; got [1.5]"),
    ("diagonal_jacobian_norms lags 'a'", lambda: theory.diagonal_jacobian_norms([0.5], "a"), InvalidArgument, "lags must be an array of integers k >= 0; got 'a'"),
    ("diagonal_jacobian_norms log 'no'", lambda: theory.diagonal_jacobian_norms([0.5], [1], log="no"), InvalidArgument, "log must be True or False; got 'no'"),
    ("diagonal_jacobian_norms overflow", lambda: theory.diagonal_jacobian_norms([2.0], [2000]), InvalidArgument, "log must be True here: G(k) = max|λ|^k exceeds the largest float64 at lag k = 2000"),
    ("diagonal_jacobian_norms eigenvalues inf", lambda: theory.diagonal_jacobian_norms([math.inf], [1]), InvalidArgument, "eigenvalues must be a non-empty array of finite numbers; got [inf]"),
    ("ring_timescale_quantile q 1.5", lambda: theory.ring_timescale_quantile(1.5, 0.5, 0.9), InvalidArgument, "q must lie in [0, 1]; got 1.5"),
    ("ring_modulus_cdf r_min > r_max", lambda: theory.ring_modulus_cdf(0.5, 0.9, 0.5), InvalidArgument, "got r_min=0.9 > r_max=0.5"),
    ("selective_decay_rate A 0", lambda: theory.selective_decay_rate(0.0, 0.0, 1.0), InvalidArgument, "A must lie in (-inf, 0); got 0.0"),
    ("selective_factor_quantile u 2", lambda: theory.selective_factor_quantile(2.0, -1.0, 0.0, 1.0), InvalidArgument, "u must lie in [0, 1]; got 2.0"),
    ("mingru_decay_rate gain 0", lambda: theory.mingru_decay_rate(0.0, 1.0, gain=0.0), InvalidArgument, "gain must lie in (0, inf); got 0.0"),
    ("gated_efold_time []", lambda: theory.gated_efold_time([]), InvalidArgument, "rates must be a non-empty array of finite numbers; got []"),
    ("state_variance lam 1", lambda: theory.state_variance(1.0), InvalidArgument, "lam must lie in (-1, 1); got 1.0"),
    ("state_variance normalization", lambda: theory.state_variance(0.5, normalization="batch"), InvalidArgument, "normalization must be one of 'none', 'lru', 'coupled'; got 'batch'"),
    ("state_variance horizon 1.5", lambda: theory.state_variance(0.5, horizon=1.5), InvalidArgument, "horizon must be an integer; got 1.5"),
    ("lambda_sensitivity parametrization", lambda: theory.lambda_sensitivity(0.5, parametrization="polar"), InvalidArgument, "parametrization must be one of 'lambda', 'exp'; got 'polar'"),
    ("block_singular_values chunk 0", lambda: rnnprobe.block_singular_values(_lru_traj(), chunk_size=0), InvalidArgument, "chunk_size must be >= 1; got 0"),
    ("block_singular_values log 'no'", lambda: rnnprobe.block_singular_values(_lru_traj(), log="no"), InvalidArgument, "log must be True or False; got 'no'"),
    ("block_singular_values of a gru", lambda: rnnprobe.block_singular_values(_traj()), InvalidArgument, "the O(T·n) path needs a model with diagonal or 2×2-block step Jacobians"),
    ("jacobian_norms diagonal 'yes'", lambda: rnnprobe.jacobian_norms(_lru_traj(), diagonal="yes"), InvalidArgument, "diagonal must be True, False or None (automatic); got 'yes'"),
    ("build lru r_min '0.5'", lambda: rnnprobe.build("lru", hidden_size=2, r_min="0.5"), InvalidArgument, "r_min must be a finite real number; got '0.5'"),
    ("build lru r_max True", lambda: rnnprobe.build("lru", hidden_size=2, r_max=True), InvalidArgument, "r_max must be a finite real number; got True"),
    ("build lru gain nan", lambda: rnnprobe.build("lru", hidden_size=2, gain=math.nan), InvalidArgument, "gain must be a finite real number; got nan"),
    ("build lru dtype complex", lambda: rnnprobe.build("lru", hidden_size=2, dtype=torch.complex128), InvalidArgument, "dtype must be torch.float32 or torch.float64; got torch.complex128"),
    ("build s6 init", lambda: rnnprobe.build("s6", hidden_size=2, init="xavier"), InvalidArgument, "init must be one of 'gaussian', 'orthogonal', 'spectral'; got 'xavier'"),
    ("build s6 state_dim 1.5", lambda: rnnprobe.build("s6", hidden_size=2, state_dim=1.5), InvalidArgument, "state_dim must be an integer; got 1.5"),
    ("build s4d dt_max inf", lambda: rnnprobe.build("s4d", hidden_size=2, dt_max=math.inf), InvalidArgument, "dt_max must be a finite real number; got inf"),
    ("build mingru bias_std -1", lambda: rnnprobe.build("mingru", hidden_size=2, bias_std=-1.0), InvalidArgument, "bias_std must lie in [0, inf); got -1.0"),
    ("build minlstm hidden 0", lambda: rnnprobe.build("minlstm", hidden_size=0), InvalidArgument, "hidden_size must be >= 1; got 0"),
    ("build unitary gain -1", lambda: rnnprobe.build("unitary", hidden_size=2, gain=-1.0), InvalidArgument, "gain must lie in [0, inf); got -1.0"),
    ("record lru input size", lambda: rnnprobe.record(rnnprobe.build("lru", hidden_size=2, input_size=2), torch.zeros(3, 1)), InvalidArgument, "inputs must have last dimension input_size = 2 for 'lru'; got shape (3, 1)"),
    ("build lru subnormal ring", lambda: rnnprobe.build("lru", hidden_size=2, r_min=1e-320, r_max=1e-320), InvalidArgument, "r_min must be >= 2.2250738585072014e-308 (the smallest normal float64"),
    ("spectral init beyond float64", lambda: rnnprobe.build("s4d", hidden_size=1, dt_min=712.0, dt_max=720.0, init="spectral"), InvalidArgument, "init='spectral' cannot rescale the factors to gain=1.0"),
]


def test_the_table_is_large_and_unique():
    assert len(ROWS) >= 60
    assert len({row[0] for row in ROWS}) == len(ROWS)


def test_the_readme_counts_this_table():
    """The README says how many bad calls this table holds; keep the number true."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert f"`tests/test_invalid_api.py`\nholds a table of {len(ROWS)} such calls" in readme


@pytest.mark.parametrize("label, call, error, fragment", ROWS, ids=[row[0] for row in ROWS])
def test_bad_call_raises_naming_the_parameter(label, call, error, fragment):
    with pytest.raises(error) as info:
        call()
    assert fragment in str(info.value), str(info.value)
    assert isinstance(info.value, ValueError)              # generic handlers keep working
