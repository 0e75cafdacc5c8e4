"""Do rnnprobe's measurements agree with published theory (mean field, Pascanu bound, dynamical isometry, memory capacity, residual path ensembles, gate timescales, diagonal recurrences, the curse of memory)?

Every grid point is one *check* of one prediction of :mod:`rnnprobe.theory`
against rnnprobe's own measurement, for one seed:

``prediction``
    the theory: ``meanfield`` (Poole et al. 2016; Schoenholz et al. 2017),
    ``pascanu`` (Pascanu, Mikolov & Bengio 2013), ``isometry`` (Pennington,
    Schoenholz & Ganguli 2017), ``capacity`` (Jaeger 2001), ``paths`` (Veit,
    Wilber & Belongie 2016), ``gates`` (Gers et al. 2000; Tallec & Ollivier 2018;
    Cho et al. 2014), ``diagonal`` (Orvieto et al. 2023; Feng et al. 2024; Gu & Dao
    2023), ``memory_curse`` (Zucchet & Orvieto 2024);
``setting``
    the parameters (architecture, width, depth, σ_w = ``gain``, σ_b =
    ``bias_std``, φ = ``nonlinearity``, …; written in the grid columns);
``quantity``
    what is compared (below).

The quantities, and how rnnprobe measures them (``R`` replicates per point:
independent networks, or input sequences, drawn from the seed):

* ``meanfield``/``q``: per layer l, the variance ``(1/n) Σ h_i²`` of the
  pre-activations entering layer l of an ``mlp`` (recorded states and the
  layer's weights), started at 4q* (at q₁ = 1 where there is no q*), against
  the length map's iterates;
* ``meanfield``/``chi1``: ``‖J_l‖_F²/n`` (the mean of ``‖J_l v‖²`` over random
  unit v) of rnnprobe's step Jacobians of an ``mlp`` started at q*, averaged
  over its layers, against χ₁ = σ_w² E φ′(√q* z)² with its O(1/n) correction
  (``layer_growth``); ordered, critical and chaotic phases for tanh and ReLU;
* ``pascanu``/``G``: G(k) = ‖∂h_T/∂h_{T−k}‖₂ (``rnnprobe.jacobian_norms``)
  against (γσ_max)^k with σ_max from ``rnnprobe.weight_spectrum``: equal on
  the tight instances (``pascanu_tight_model``), at most on random networks;
* ``isometry``/``lambda_mean``, ``lambda_variance``: mean and (per-network)
  variance of the squared singular values of ∂s_L/∂s_0
  (``rnnprobe.jacobian_product``) of linear Gaussian, linear orthogonal and
  critical tanh (Gaussian vs orthogonal) ``mlp`` stacks;
* ``capacity``/``mc_lag``, ``mc_total``: ``rnnprobe.memory_capacity`` per delay
  k = 0 … 4N (k = 0 the same-step input) and Jaeger's total over k ≥ 1, against
  the closed form of the same linear reservoir (``predicted_memory_capacity``)
  carried through the held-out estimator's expected value
  (``expected_heldout_capacity``: readouts fitted on 8000 samples, scored on
  2000; docs/theory.md §4); the published total over all delays is
  rank − MC_0 (N − MC_0 for full Krylov rank);
* ``paths``/``path_share``: the share of ``‖P[m]‖_F`` per path length m of a
  ``resmlp`` with identical linear branches (``rnnprobe.paths.path_lengths``,
  normalised by ``‖(αM)^m‖_F``) against Binomial(L, ½), Veit's path count;
  ``paths``/``path_norm2``: ``‖P[m]‖_F²/n`` (the squared gradient the paths of
  length m carry, averaged over unit readouts) against ``e_m(g_1 … g_L)``;
* ``gates``/``retention``: the per-step factor at the origin (LSTM: the c→c
  diagonal of the step Jacobian, with recurrent weights; GRU, both
  conventions, zero recurrent weights: ‖J_t‖₂ from ``rnnprobe.step_norms``)
  against σ(b_f), σ(b_z); ``efold``: ``rnnprobe.memory_length(...).efold``
  against −1/log σ(b); ``forgetting_time``: Σ_k G(k)/G(1) against
  1/(1 − σ(b_f)) (the lecture's form); ``forgetting_time_quantile``: the deciles
  of the per-unit forgetting times 1/(1 − f_i) of a chrono-initialised LSTM
  against U(2, T_max);
* ``diagonal``/``G``, ``efold``: G(k) of an ``lru`` and an ``s4d`` (the O(T·n)
  path) against max_j|λ_j|^k, and the fitted e-folding time against −1/log max|λ|;
  ``timescale_order``: the deciles (order statistics k = n/10 … 9n/10) of the
  per-unit timescales −k/log σ_j(k) of a 1000-unit LRU, measured from its
  per-block Jacobian singular values (``rnnprobe.block_singular_values``), against
  the mean order statistics of the ring's law (``ring_timescale_quantile``,
  ``order_statistic_mean``); ``decay_rate``: per unit, −(1/T) log of the unit's
  Jacobian product over T steps of N(0, 1) inputs (minGRU ∏(1 − z_t), minLSTM
  ∏ f'_t, S6 ∏ exp(Δ_t A)) against the rate from the gate (Δ) pre-activation's
  Gaussian law (``mingru_decay_rate``, ``minlstm_decay_rate``,
  ``selective_decay_rate``); ``factor_order``: the deciles of S6's per-step
  factor exp(Δ_t A) of its slowest unit over T inputs against the mean order
  statistics of its law (``selective_factor_quantile``): selectivity;
* ``memory_curse``/``state_variance``, ``sensitivity``: over B white-noise
  sequences, the mean of h_T² and of (∂h_T/∂θ)² (``rnnprobe.parameter_sensitivity``)
  of ``h_t = λh_{t−1} + γx_t`` — a one-unit ``vanilla-linear`` (θ = λ = W_h) and a
  one-unit real ``lru`` without and with its γ = √(1 − λ²) normalisation (θ = ν,
  λ = exp(−e^ν)) — against ``state_variance`` and ``lambda_sensitivity`` at that
  horizon.

Rows (results.csv), per ``lag``/``layer``/``index`` of the quantity (or one row
for a scalar): ``predicted`` (the theory at this finite size: finite-width and
finite-horizon corrections included where they are derived; the mean over the
point's replicates when it depends on them), ``measured`` (the mean over the
replicates), ``standard_error`` of the mean paired difference measured −
predicted (0 for an exact identity), ``allowance`` (the systematic part of the
tolerance: terms the theory leaves out, bounded and justified in
``tolerance_basis``) and ``limit`` (the published large-size value, where it
differs from ``predicted``). summary.csv adds ``relation`` ('equal', or 'at
most' for an upper bound, which has one replicate per point), ``replicates``,
``dof`` (of the standard error: replicates − 1, inf when exact), ``reference``
and ``tolerance_basis`` (the names: :data:`rnnprobe.schema.CHECK_METRICS` and
:data:`rnnprobe.schema.CHECK_SUMMARY_FIELDS`).

The study measures; it passes no verdict. :mod:`rnnprobe.analysis.prediction_checks`
computes the tolerance c·standard_error + allowance (c: Student's t quantile
with ``dof`` degrees of freedom, normal when exact, at two-sided level 1e-4 per
check, Bonferroni-split over its indices), each point's verdict, and pools the
seeds into the final verdict.

Examples
--------
>>> from rnnprobe import studies
>>> study = studies.load("theory")
>>> points = study.points(study.resolve(quick=True))
>>> sorted({p["prediction"] for p in points})
['capacity', 'diagonal', 'gates', 'isometry', 'meanfield', 'memory_curse', 'pascanu', 'paths']
>>> point = next(p for p in points if p["setting"] == "lstm-bf2" and p["quantity"] == "efold")
>>> rows, summary = study.module.probe(point)
>>> summary["relation"], summary["dof"]
('equal', inf)
>>> [round(v, 6) for m, lag, layer, index, block, v in rows if m in ("predicted", "measured")]   # -1/log σ(2)
[7.878482, 7.878482]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rnnprobe.schema import CHECK_METRICS, CHECK_PARAMETERS, CHECK_SUMMARY_FIELDS, EXTRA_GRID_COLUMNS
from rnnprobe.studies import Axis

# torch, numpy and the probes are imported inside the functions: loading a study to read its grid stays light

ARCHS = ("mlp", "resmlp", "vanilla-tanh", "vanilla-relu", "vanilla-sigmoid", "vanilla-linear", "dense", "lstm",
         "gru", "gru-torch", "lru", "s4d", "s6", "mingru", "minlstm")

#: σ_w on tanh's order-to-chaos line at σ_b = 0.3 (rnnprobe.theory.critical_sigma_w(0.3), to 1e-12; written
#: out so that point ids do not depend on the root finder's last digits)
TANH_CRITICAL_SIGMA_W = 1.395583975155
#: the same for ReLU at σ_b = 0: √2
RELU_CRITICAL_SIGMA_W = 1.4142135623730951

PREDICTIONS = ("meanfield", "pascanu", "isometry", "capacity", "paths", "gates", "diagonal", "memory_curse")

REFERENCES = {
    "meanfield": "Poole et al. (2016); Schoenholz et al. (2017); finite width: docs/theory.md §1",
    "pascanu": "Pascanu, Mikolov & Bengio (2013); tight instances: docs/theory.md §2",
    "isometry": "Pennington, Schoenholz & Ganguli (2017); finite-width Wishart recursion: docs/theory.md §3",
    "capacity": "Jaeger (2001); closed form from the Lyapunov equation: docs/theory.md §4",
    "paths": "Veit, Wilber & Belongie (2016); e_m(g) weights: docs/theory.md §5",
    "gates": "Gers, Schmidhuber & Cummins (2000); Tallec & Ollivier (2018); Cho et al. (2014): docs/theory.md §6",
    "diagonal": "Orvieto et al. (2023); Feng et al. (2024); Gu & Dao (2023): docs/theory.md §7",
    "memory_curse": "Zucchet & Orvieto (2024): docs/theory.md §8",
}


@dataclass(frozen=True)
class Setting:
    """One parameter setting of one prediction: its grid columns, quantities and replicates per point."""

    prediction: str
    name: str
    columns: dict
    quantities: tuple
    replicates: int = 1
    quick: bool = False
    options: dict = field(default_factory=dict)


def _mlp(phi, sw, sb, n, depth, init="gaussian"):
    return dict(arch="mlp", hidden=n, depth=depth, gain=sw, init=init, nonlinearity=phi, bias_std=sb)


_SETTINGS = [
    # (a) mean field: n = 256, both phases and the critical line, tanh and ReLU
    Setting("meanfield", "tanh-ordered", _mlp("tanh", 1.0, 0.3, 256, 12), ("q", "chi1"), 8, quick=True),
    Setting("meanfield", "tanh-critical", _mlp("tanh", TANH_CRITICAL_SIGMA_W, 0.3, 256, 12), ("q", "chi1"), 8),
    Setting("meanfield", "tanh-chaotic", _mlp("tanh", 2.0, 0.3, 256, 12), ("q", "chi1"), 8, quick=True),
    Setting("meanfield", "relu-ordered", _mlp("relu", 1.2, 0.3, 256, 12), ("q", "chi1"), 8),
    Setting("meanfield", "relu-critical", _mlp("relu", RELU_CRITICAL_SIGMA_W, 0.0, 256, 12), ("q", "chi1"), 8),
    Setting("meanfield", "relu-chaotic", _mlp("relu", 1.6, 0.0, 256, 12), ("q", "chi1"), 8),
    # (b) Pascanu: tight instances (equality) and random networks (upper bound); T = 30 / 40 steps, n = 16
    Setting("pascanu", "tight-linear", dict(arch="vanilla-linear", hidden=16, length=30, gain=1.1, init="orthogonal"),
            ("G",)),
    Setting("pascanu", "tight-tanh-0.9", dict(arch="vanilla-tanh", hidden=16, length=30, gain=0.9, init="orthogonal"),
            ("G",), quick=True),
    Setting("pascanu", "tight-tanh-1.3", dict(arch="vanilla-tanh", hidden=16, length=30, gain=1.3, init="orthogonal"),
            ("G",)),
    Setting("pascanu", "tight-sigmoid", dict(arch="vanilla-sigmoid", hidden=16, length=30, gain=3.0,
                                             init="orthogonal"), ("G",)),
    Setting("pascanu", "tight-relu", dict(arch="vanilla-relu", hidden=16, length=30, gain=0.7, init="orthogonal"),
            ("G",)),
    Setting("pascanu", "bound-tanh", dict(arch="vanilla-tanh", hidden=16, length=40, gain=1.4, init="gaussian",
                                          bias_std=0.3), ("G",), quick=True),
    Setting("pascanu", "bound-relu", dict(arch="vanilla-relu", hidden=16, length=40, gain=1.4, init="gaussian",
                                          bias_std=0.3), ("G",)),
    Setting("pascanu", "bound-sigmoid", dict(arch="vanilla-sigmoid", hidden=16, length=40, gain=1.4,
                                             init="gaussian", bias_std=0.3), ("G",)),
    # (c) dynamical isometry: depth-6 stacks
    Setting("isometry", "linear-gaussian", _mlp("linear", 1.0, 0.0, 64, 6), ("lambda_mean", "lambda_variance"), 8,
            quick=True),
    Setting("isometry", "linear-orthogonal", _mlp("linear", 0.9, 0.0, 64, 6, "orthogonal"),
            ("lambda_mean", "lambda_variance")),
    Setting("isometry", "tanh-critical-gaussian", _mlp("tanh", TANH_CRITICAL_SIGMA_W, 0.3, 256, 6),
            ("lambda_mean", "lambda_variance"), 6),
    Setting("isometry", "tanh-critical-orthogonal", _mlp("tanh", TANH_CRITICAL_SIGMA_W, 0.3, 256, 6, "orthogonal"),
            ("lambda_mean", "lambda_variance"), 6, quick=True),
    # (d) linear memory capacity: delays 0 … 4N, 10 000 samples (8000 to fit, 2000 held out)
    Setting("capacity", "spectral-0.9", dict(arch="vanilla-linear", hidden=8, gain=0.9, init="spectral"),
            ("mc_lag", "mc_total"), 4, quick=True),
    Setting("capacity", "orthogonal-0.8", dict(arch="vanilla-linear", hidden=6, gain=0.8, init="orthogonal"),
            ("mc_lag", "mc_total"), 4),
    Setting("capacity", "spectral-0.5", dict(arch="vanilla-linear", hidden=10, gain=0.5, init="spectral"),
            ("mc_lag", "mc_total"), 4),
    Setting("capacity", "krylov-rank-3", dict(arch="vanilla-linear", hidden=5, gain=0.8, init="spectral"),
            ("mc_lag", "mc_total"), 4, options={"W_h": "diag(0.5, 0.5, 0.8, -0.3, -0.3)"}),
    Setting("capacity", "dense-readout", dict(arch="dense", hidden=4, gain=0.7, init="orthogonal",
                                              nonlinearity="linear"), ("mc_lag", "mc_total"), 4,
            options={"window": 2}),
    # (e) residual nets as ensembles of paths: L = 8 blocks
    Setting("paths", "identical-branches", dict(arch="resmlp", hidden=16, depth=8, gain=1.0, init="gaussian",
                                                nonlinearity="linear", alpha=0.5), ("path_share",), quick=True),
    Setting("paths", "linear-g1", dict(arch="resmlp", hidden=128, depth=8, gain=1.0, init="gaussian",
                                       nonlinearity="linear", bias_std=0.0, alpha=1.0), ("path_norm2",), 8,
            quick=True),
    Setting("paths", "linear-g0.36", dict(arch="resmlp", hidden=128, depth=8, gain=1.2, init="gaussian",
                                          nonlinearity="linear", bias_std=0.0, alpha=0.5), ("path_norm2",), 8),
    Setting("paths", "tanh-1", dict(arch="resmlp", hidden=128, depth=8, gain=1.0, init="gaussian",
                                    nonlinearity="tanh", bias_std=0.0, alpha=1.0), ("path_norm2",), 8),
    Setting("paths", "tanh-2", dict(arch="resmlp", hidden=128, depth=8, gain=1.5, init="gaussian",
                                    nonlinearity="tanh", bias_std=0.3, alpha=0.7), ("path_norm2",), 8),
    # (f) gate timescales at the origin
    *[Setting("gates", f"lstm-bf{b:g}", dict(arch="lstm", hidden=16, length=400, gain=1.0, init="orthogonal",
                                               forget_bias=float(b)), ("retention", "efold", "forgetting_time"),
              quick=(b == 2)) for b in (0, 1, 2, 4)],
    *[Setting("gates", f"{arch}-bz{b:g}", dict(arch=arch, hidden=16, length=100, gain=0.0, init="orthogonal",
                                                update_bias=float(b)), ("retention", "efold"),
              quick=(arch == "gru" and b == 2)) for arch in ("gru", "gru-torch") for b in (-1, 2)],
    Setting("gates", "chrono-60", dict(arch="lstm", hidden=256, gain=0.0, init="orthogonal", chrono=60),
            ("forgetting_time_quantile",), 4, quick=True),
    Setting("gates", "chrono-60-n20", dict(arch="lstm", hidden=20, length=200, gain=0.0, init="orthogonal", chrono=60),
            ("efold",)),
    # (g) diagonal recurrences: exact products, the LRU ring's timescales, input-gated and selective forgetting
    Setting("diagonal", "lru-0.6-0.97", dict(arch="lru", hidden=16, length=300, gain=1.0, init="gaussian"),
            ("G", "efold"), quick=True, options={"r_min": 0.6, "r_max": 0.97}),
    Setting("diagonal", "s4d-n16", dict(arch="s4d", hidden=16, length=300, gain=1.0, init="gaussian"),
            ("G", "efold"), options={"dt_max": 0.3}),
    Setting("diagonal", "lru-ring-0.5-0.99", dict(arch="lru", hidden=1000, length=40, gain=1.0, init="gaussian"),
            ("timescale_order",), 8, quick=True, options={"r_min": 0.5, "r_max": 0.99}),
    Setting("diagonal", "mingru-bz-1", dict(arch="mingru", hidden=8, length=4000, gain=1.0, init="gaussian",
                                            bias_std=0.5, update_bias=-1.0), ("decay_rate",), 8, quick=True),
    Setting("diagonal", "minlstm-bf1", dict(arch="minlstm", hidden=8, length=4000, gain=1.0, init="gaussian",
                                            bias_std=0.5, forget_bias=1.0), ("decay_rate",), 8),
    Setting("diagonal", "s6-selective", dict(arch="s6", hidden=6, length=3000, gain=0.9, init="gaussian",
                                             bias_std=0.3), ("decay_rate", "factor_order"), 8,
            options={"state_dim": 3, "input_size": 2, "dt_max": 0.5}),
    # (h) the curse of memory: h = λh + γx, one unit, 8 replicates of B = 1000 white-noise sequences
    *[Setting("memory_curse", f"{label}-{lam:g}", dict(arch=arch, hidden=1, length=200, gain=lam, init="gaussian"),
              ("state_variance", "sensitivity"), 8, quick=(label == "lru" and lam == 0.9),
              options={"normalize": normalize}) for label, arch, normalize in
      (("linear", "vanilla-linear", False), ("lru-plain", "lru", False), ("lru", "lru", True))
      for lam in (0.5, 0.9, 0.98)],
]

SETTINGS = {(s.prediction, s.name): s for s in _SETTINGS}
SETTING_NAMES = tuple(dict.fromkeys(s.name for s in _SETTINGS))
QUANTITIES = tuple(dict.fromkeys(q for s in _SETTINGS for q in s.quantities))

_DOC = EXTRA_GRID_COLUMNS
EXTRA_AXES = {
    "prediction": Axis(str, _DOC["prediction"], choices=PREDICTIONS),
    "setting": Axis(str, _DOC["setting"], choices=SETTING_NAMES),
    "quantity": Axis(str, _DOC["quantity"], choices=QUANTITIES),
    "init": Axis(str, _DOC["init"], choices=("gaussian", "orthogonal", "spectral")),
    "nonlinearity": Axis(str, _DOC["nonlinearity"]),
    "bias_std": Axis(float, _DOC["bias_std"], min_value=0.0),
    "alpha": Axis(float, _DOC["alpha"]),
    "forget_bias": Axis(float, _DOC["forget_bias"]),
    "update_bias": Axis(float, _DOC["update_bias"]),
    "chrono": Axis(int, _DOC["chrono"], min_value=3),
}

EXTRA_METRICS = CHECK_METRICS
EXTRA_SUMMARY = CHECK_SUMMARY_FIELDS

GRID = {
    "prediction": list(PREDICTIONS),
    "setting": list(SETTING_NAMES),
    "quantity": list(QUANTITIES),
    "seed": [0, 1, 2, 3, 4],
}

QUICK = {
    "prediction": list(PREDICTIONS),
    "setting": [s.name for s in _SETTINGS if s.quick],
    "quantity": [q for q in QUANTITIES if q != "mc_total"],     # the capacity runs dominate: per lag only
    "seed": [0, 1],
}

_COLUMNS = CHECK_PARAMETERS


def points(grid):
    """Every prediction x its settings x their quantities x seed (filtered by the grid's axes)."""
    out = []
    for s in _SETTINGS:
        if s.prediction not in grid["prediction"] or s.name not in grid["setting"]:
            continue
        for quantity in s.quantities:
            if quantity not in grid["quantity"]:
                continue
            for seed in grid["seed"]:
                cols = {c: s.columns.get(c) for c in _COLUMNS}
                out.append(dict(cols, seed=seed, prediction=s.prediction, setting=s.name, quantity=quantity))
    return out


def cost(point) -> float:
    """Relative cost (replicates x width² x depth, roughly): long points start first."""
    s = SETTINGS[(point["prediction"], point["setting"])]
    if s.prediction == "capacity":
        return 40.0 * s.replicates
    if s.prediction == "memory_curse":
        return 20.0 * s.replicates
    n, depth = point["hidden"] or 1, point["depth"] or point["length"] or 1
    return s.replicates * n * n * depth / 1e4 + 1.0


# ------------------------------------------------------------------------------------------- measurements
@dataclass
class _Check:
    """What one measurement function returns: per replicate r and index j, predicted[r, j] and measured[r, j]."""

    index_kind: str | None            # 'lag', 'layer', 'index' or None (a scalar)
    indices: list
    predicted: object                 # (R, m) array
    measured: object                  # (R, m) array
    allowance: object                 # (m,) array
    basis: str
    relation: str = "equal"
    exact: bool = False
    limit: object = None              # (m,) array or None


def _finish(check: _Check, prediction: str):
    """The point's rows (per index: predicted, measured, standard_error, allowance, limit) and its summary fields.

    Measurements only: the tolerance and the verdict are the analysis's
    (:func:`rnnprobe.analysis.check_points`). An upper bound ('at most') is checked
    per replicate, so it must have one replicate per point (each seed is one).
    """
    import numpy as np

    from rnnprobe.errors import RnnProbeError

    P = np.atleast_2d(np.asarray(check.predicted, dtype=float))
    M = np.atleast_2d(np.asarray(check.measured, dtype=float))
    P = np.broadcast_to(P, M.shape)
    R, m = M.shape
    if check.relation == "at most" and R != 1:
        raise RnnProbeError(f"an upper-bound check needs one replicate per point; got {R}")
    D = M - P
    allowance = np.broadcast_to(np.asarray(check.allowance, dtype=float), (m,))
    if check.exact or R == 1:
        se, dof = np.zeros(m), math.inf
    else:
        se, dof = D.std(axis=0, ddof=1) / math.sqrt(R), float(R - 1)
    pred, meas = P.mean(axis=0), M.mean(axis=0)
    rows = []
    slot = {"lag": 1, "layer": 2, "index": 3}.get(check.index_kind)

    def row(metric, j, value):
        r = [metric, None, None, None, None, float(value)]
        if slot is not None:
            r[slot] = int(check.indices[j])
        rows.append(tuple(r))

    for metric, values in (("predicted", pred), ("measured", meas), ("standard_error", se), ("allowance", allowance)):
        for j in range(m):
            row(metric, j, values[j])
    if check.limit is not None:
        limit = np.broadcast_to(np.asarray(check.limit, dtype=float), (m,))
        for j in range(m):
            row("limit", j, limit[j])
    summary = {"relation": check.relation, "replicates": R, "dof": dof, "reference": REFERENCES[prediction],
               "tolerance_basis": check.basis}
    return rows, summary


# ------------------------------------------------------------------------------------------- helpers
def _setting_key(point) -> int:
    """A stable number per prediction and setting, so that settings do not share networks."""
    import zlib

    return zlib.crc32(f"{point['prediction']}/{point['setting']}".encode()) % 100_000


def _seed(point, r: int) -> int:
    """Model seed of replicate r at the point's grid seed (distinct across settings, seeds < 10⁴ and r < 1000)."""
    return _setting_key(point) * 10**7 + 1000 * int(point["seed"]) + int(r)


def _generator(point, r: int, stream: int):
    """numpy generator of replicate r's inputs (its own stream per purpose)."""
    import numpy as np

    return np.random.default_rng([_setting_key(point), int(point["seed"]), int(r), int(stream)])


def _scaled_input(n: int, q1: float, sw: float, sb: float, rng, batch: int = 2):
    """Inputs whose first pre-activation has conditional variance exactly q₁: σ_w²‖x‖²/n + σ_b² = q₁."""
    import torch

    x = torch.from_numpy(rng.standard_normal((batch, n)))
    return x / x.norm(dim=1, keepdim=True) * math.sqrt(n * max(q1 - sb**2, 1e-12) / sw**2)


def _mlp_model(point, r):
    import rnnprobe

    return rnnprobe.build("mlp", hidden_size=point["hidden"], depth=point["depth"], nonlinearity=point["nonlinearity"],
                          gain=point["gain"], bias_std=point["bias_std"], init=point["init"],
                          seed=_seed(point, r))


def _fixed_point_or_none(point):
    from rnnprobe.errors import InvalidArgument
    from rnnprobe.theory import meanfield as mf

    try:
        q = mf.fixed_point(point["gain"], point["bias_std"], point["nonlinearity"])
    except InvalidArgument:   # ReLU with σ_w ≥ √2 and σ_b = 0: q grows (or stays) without a unique fixed point
        return None
    return q if q > 0 else None


# ------------------------------------------------------------------------------------------- (a) mean field
def _meanfield_q(point, R):
    import numpy as np
    import torch

    import rnnprobe
    from rnnprobe.theory import meanfield as mf

    n, L, phi, sw, sb = point["hidden"], point["depth"], point["nonlinearity"], point["gain"], point["bias_std"]
    qs = _fixed_point_or_none(point)
    q1 = 4 * qs if qs is not None else 1.0
    pred = mf.length_iterates(q1, L, sw, sb, phi)
    meas = []
    for r in range(R):
        model = _mlp_model(point, r)
        traj = rnnprobe.record(model, _scaled_input(n, q1, sw, sb, _generator(point, r, 1)))
        W, b = model.W.detach(), model.b.detach()
        h = torch.einsum("lbj,lij->lbi", traj.states[:-1], W) + b[:, None, :]     # (L, B, n) pre-activations
        meas.append(h.pow(2).mean(-1).mean(-1).numpy())
    if phi == "relu":
        allowance = np.zeros(L)
        basis = ("ReLU: E[(1/n)Σ relu(h)² | q̂] = q̂/2 exactly, so the mean pre-activation variance follows the length "
                 "map exactly at any width; tolerance = c·s.e. over the replicate networks (batch rows share W: the "
                 "network is the replicate).")
    else:
        g = mf.layer_growth(sw, sb, phi, width=n)
        allowance = np.full(L, abs(g.q_mean - mf.fixed_point(sw, sb, phi)))
        basis = (f"tanh: the curvature of the length map biases the mean of q̂ by Eδ = ½ f″ Var δ/(1 − f′) "
                 f"(finite-width expansion, layer_growth; |Eδ| = {allowance[0]:.2g} at n = {n}); allowance |Eδ| at "
                 "every layer, plus c·s.e. over the replicate networks.")
    return _Check("layer", list(range(L)), pred[None, :], np.array(meas), allowance, basis)


def _meanfield_chi1(point, R):
    import numpy as np

    import rnnprobe
    from rnnprobe.theory import meanfield as mf

    n, phi, sw, sb = point["hidden"], point["nonlinearity"], point["gain"], point["bias_std"]
    qs = _fixed_point_or_none(point)
    q1 = qs if qs is not None else 1.0
    growth = mf.layer_growth(sw, sb, phi, width=n, direction="fresh")
    meas = []
    for r in range(R):
        model = _mlp_model(point, r)
        traj = rnnprobe.record(model, _scaled_input(n, q1, sw, sb, _generator(point, r, 2)))
        J = traj.step_jacobians()                                          # (L, B, n, n)
        meas.append(float((J.pow(2).sum((-2, -1)) / n).mean()))
    if growth.exact:
        allowance = 0.0
        basis = ("ReLU: E‖J u‖² = σ_w²/2 exactly at any width and any q (the sign of h_i and the row of W are "
                 "symmetric); tolerance = c·s.e. over the replicate networks.")
    else:
        allowance = 5.0 / n**2 * growth.chi1
        basis = (f"tanh: predicted = χ₁ plus its derived O(1/n) correction (layer_growth, {growth.mean - growth.chi1:+.2g}"
                 f" at n = {n}); allowance 5/n²·χ₁ for the O(n⁻²) remainder (bounded by Monte Carlo at n = 16, "
                 "docs/theory.md §1), plus c·s.e. over the replicate networks.")
    return _Check(None, [0], [[growth.mean]], np.array(meas)[:, None], allowance, basis, limit=[growth.chi1])


# ------------------------------------------------------------------------------------------- (b) Pascanu
def _pascanu_G(point, R):
    import numpy as np
    import torch

    import rnnprobe
    from rnnprobe.theory import pascanu as pa

    phi = point["arch"].removeprefix("vanilla-")
    n, T = point["hidden"], point["length"]
    tight = point["setting"].startswith("tight")
    if tight:
        model, h0 = pa.pascanu_tight_model(n, point["gain"], phi, seed=_seed(point, 0))
        x, kwargs = torch.zeros(T, 1, dtype=torch.float64), {"h0": h0}
    else:
        model = rnnprobe.build(point["arch"], n, gain=point["gain"], bias_std=point["bias_std"], init=point["init"],
                               seed=_seed(point, 0))
        x, kwargs = torch.from_numpy(_generator(point, 0, 3).standard_normal((T, 1))), {}
    traj = rnnprobe.record(model, x, **kwargs)
    order = np.argsort(traj.lags.numpy())
    lags = traj.lags.numpy()[order]
    G = rnnprobe.jacobian_norms(traj, method="svd").numpy()[order]
    spec = rnnprobe.weight_spectrum(model)
    bound = pa.pascanu_bound(spec.sigma_max, lags, gamma=spec.gamma)
    allowance = 1e-10 * bound
    if tight:
        basis = ("exact identity: every D_s = γI along the trajectory and W = gQ is normaloid, so G(k) = (γg)^k; "
                 "allowance 1e-10 relative for float64 rounding (≤ 30 products and an SVD: ~1e-13).")
        return _Check("lag", lags.tolist(), bound[None, :], G[None, :], allowance, basis, exact=True)
    basis = ("upper bound: ‖J_s‖₂ ≤ ‖D_s‖₂‖W‖₂ ≤ γσ_max at every step, so G(k) ≤ (γσ_max)^k for every network; "
             "allowance 1e-10 relative for float64 rounding; verdict: every lag of every network.")
    return _Check("lag", lags.tolist(), bound[None, :], G[None, :], allowance, basis, relation="at most", exact=True)


# ------------------------------------------------------------------------------------------- (c) isometry
def _isometry(point, R, quantity):
    import numpy as np
    import torch

    import rnnprobe
    from rnnprobe.theory import isometry as iso
    from rnnprobe.theory import meanfield as mf

    n, L, phi, sw, sb, init = (point["hidden"], point["depth"], point["nonlinearity"], point["gain"],
                               point["bias_std"], point["init"])
    q = 1.0 if phi == "linear" else mf.fixed_point(sw, sb, phi)
    values = []
    for r in range(R):
        model = _mlp_model(point, r)
        x = _scaled_input(n, q, sw, sb, _generator(point, r, 4), batch=1)[0]
        P = rnnprobe.jacobian_product(rnnprobe.record(model, x))
        lam = torch.linalg.svdvals(P).pow(2)
        values.append(float(lam.mean()) if quantity == "lambda_mean" else float(lam.var(unbiased=False)))
    meas = np.array(values)[:, None]
    mean = quantity == "lambda_mean"
    if phi == "linear" and init == "gaussian":
        exact = iso.ginibre_product_moments(L, n, sw)
        limit = iso.jacobian_spectrum_moments(L, sw, 0.0, "linear", weights="gaussian")
        pred = exact.mean if mean else exact.mean_sample_variance
        basis = ("exact at width n: the Wishart recursion for products of Gaussian matrices (docs/theory.md §3); "
                 "tolerance = c·s.e. over the replicate networks, no allowance.")
        return _Check(None, [0], [[pred]], meas, 0.0, basis, limit=[limit.mean if mean else limit.variance])
    if phi == "linear":
        m = iso.orthogonal_product_moments(L, sw)
        pred = m.mean if mean else m.variance
        basis = ("exact: an orthogonal product has every singular value g^L; allowance 1e-10·g^{2L} (mean) or "
                 "1e-10·g^{4L} (variance) for float64 rounding.")
        return _Check(None, [0], [[pred]], meas, 1e-10 * m.mean ** (1 if mean else 2), basis, exact=True)
    theory = iso.jacobian_spectrum_moments(L, sw, sb, phi, weights=init)
    if mean:
        growth = mf.layer_growth(sw, sb, phi, width=n, direction="propagated")
        pred = growth.mean**L
        basis = (f"predicted = (E R)^L with E R the finite-width growth of a propagated direction (layer_growth: "
                 f"{growth.mean:.5f} at n = {n}; n → ∞: χ₁^L = 1); allowance 5L/n² for the O(n⁻²) remainder "
                 "(docs/theory.md §1), plus c·s.e. over the replicate networks.")
        return _Check(None, [0], [[pred]], meas, 5.0 * L / n**2 * pred, basis, limit=[theory.mean])
    basis = (f"free probability, n → ∞ (PSG 2017: variance L(μ₂/μ₁² − 1 + v_W), v_W = {1 if init == 'gaussian' else 0}); "
             "the O(1/n) correction is not derived: allowance 15% of the prediction, the excess observed at n = 256 "
             "in exploratory runs (3–11%, shrinking with n; docs/theory.md §3), plus c·s.e. over the replicate networks.")
    return _Check(None, [0], [[theory.variance]], meas, 0.15 * theory.variance, basis)


# ------------------------------------------------------------------------------------------- (d) capacity
CAPACITY_SAMPLES = 10_000
CAPACITY_LAGS_PER_UNIT = 4
#: allowance coefficients of the capacity checks, per delay: A(1 − MC_k)/ν + B·MC_k(1 − MC_k)/n_test (docs/theory.md §4)
CAPACITY_TRAIN_ALLOWANCE = 4.0
CAPACITY_TEST_ALLOWANCE = 2.0


def _capacity_model(point, r):
    import torch

    import rnnprobe

    s = SETTINGS[("capacity", point["setting"])]
    seed = _seed(point, r)
    if point["arch"] == "dense":
        return rnnprobe.build("dense", point["hidden"], window=s.options["window"], nonlinearity="linear",
                              init=point["init"], gain=point["gain"], seed=seed)
    model = rnnprobe.build("vanilla-linear", point["hidden"], init=point["init"], gain=point["gain"], seed=seed)
    if "W_h" in s.options:
        with torch.no_grad():
            model.W_h.copy_(torch.diag(torch.tensor([0.5, 0.5, 0.8, -0.3, -0.3], dtype=model.W_h.dtype)))
    return model


def capacity_allowance(mc_k, rank: int, n_train: int, n_test: int):
    """Allowance of a capacity check per delay, around ``expected_heldout_capacity`` (docs/theory.md §4).

    ``A(1 − MC_k)/ν + B·MC_k(1 − MC_k)/n_test + (r/ν)² + 1/(n_test − 2)``, ν = n_train − r − 2, A and B
    :data:`CAPACITY_TRAIN_ALLOWANCE` and :data:`CAPACITY_TEST_ALLOWANCE`: the terms the Gaussian i.i.d.
    approximation leaves out (fourth cumulants of the uniform inputs, the samples' serial dependence), the second
    order, and the estimator's floor −1/(n_test − 2) (the null distribution is a skewed (χ²₁ − 1)/n_test: a
    delay's few replicates can all sit near the floor, with a standard error that does not show it).

    Examples
    --------
    >>> round(float(capacity_allowance(0.5, 8, 8000, 2000)) * 1e4, 2)
    10.02
    """
    import numpy as np

    mc_k = np.asarray(mc_k, dtype=float)
    nu = n_train - rank - 2
    return (CAPACITY_TRAIN_ALLOWANCE * (1 - mc_k) / nu + CAPACITY_TEST_ALLOWANCE * mc_k * (1 - mc_k) / n_test
            + (rank / nu) ** 2 + 1 / (n_test - 2))


def _capacity(point, R, quantity):
    import warnings

    import numpy as np

    import rnnprobe
    from rnnprobe.capacity import CapacityResolutionWarning
    from rnnprobe.theory import capacity as cap

    N = point["hidden"]
    M = CAPACITY_LAGS_PER_UNIT * N
    expected, closed, meas, totals, limits, ranks = [], [], [], [], [], []
    for r in range(R):
        model = _capacity_model(point, r)
        with warnings.catch_warnings():
            # krylov-rank-3 is degenerate on purpose (3 of 5 directions): its rank is the check's limit
            warnings.simplefilter("ignore", CapacityResolutionWarning)
            pred = cap.predicted_memory_capacity(model, max_lag=M)
            mc = rnnprobe.memory_capacity(model, max_lag=M, n_samples=CAPACITY_SAMPLES, seed=_seed(point, r))
        expected.append(cap.expected_heldout_capacity(pred.per_lag, mc.effective_rank, mc.n_train, mc.n_test))
        closed.append(pred.per_lag)
        meas.append(mc.per_lag.numpy())
        totals.append(mc.total)
        limits.append(pred.limit)
        ranks.append(mc.effective_rank)
    expected, closed, meas = np.array(expected), np.array(closed), np.array(meas)
    n_test, r_max = mc.n_test, max(ranks)
    mc_k = closed.mean(0)
    allowance = capacity_allowance(mc_k, r_max, mc.n_train, n_test)
    split = f"n_train = {mc.n_train}, n_test = {n_test}"
    if quantity == "mc_lag":
        basis = (f"closed form of the same reservoir (delays k = 0 … {M}, k = 0 the same-step input) carried through "
                 f"the held-out estimator's expected value ({split}, r = {r_max} regressors: training bias "
                 "≈ (1 − MC_k)(r − 1)/ν, ν = n_train − r − 2, scoring bias ≈ 2MC_k(1 − MC_k)/n_test; "
                 f"expected_heldout_capacity); allowance {CAPACITY_TRAIN_ALLOWANCE:g}(1 − MC_k)/ν + "
                 f"{CAPACITY_TEST_ALLOWANCE:g}MC_k(1 − MC_k)/n_test + (r/ν)² for the non-Gaussian, serial and "
                 "second-order terms, + 1/(n_test − 2) for the estimator's floor (docs/theory.md §4), plus c·s.e. "
                 f"over {R} reservoirs and input sequences.")
        return _Check("lag", list(range(M + 1)), expected, meas, allowance, basis, limit=mc_k)
    basis = (f"Jaeger's total Σ_{{k=1}}^{{{M}}} MC_k: the closed form carried through the held-out estimator's "
             f"expected value ({split}) and summed; allowance the sum of the per-delay allowances without the "
             f"floor term, plus c·s.e. over {R} reservoirs and input sequences. The published total over all delays "
             "is rank − MC_0 (limit; the rank is N for full Krylov rank).")
    total_allowance = (allowance[1:] - 1 / (n_test - 2)).sum()
    return _Check(None, [0], expected[:, 1:].sum(1, keepdims=True), np.array(totals)[:, None], total_allowance,
                  basis, limit=[float(np.mean(limits))])


# ------------------------------------------------------------------------------------------- (e) paths
def _paths_share(point, R):
    import numpy as np
    import torch
    from scipy import stats

    import rnnprobe
    from rnnprobe.paths import path_lengths

    n, L, alpha = point["hidden"], point["depth"], point["alpha"]
    model = rnnprobe.build("resmlp", hidden_size=n, depth=L, alpha=alpha, gain=point["gain"], nonlinearity="linear",
                           init=point["init"], seed=_seed(point, 0))
    M = model.W[0].detach().clone()
    with torch.no_grad():
        model.W.copy_(M.expand(L, n, n))
    pl = path_lengths(rnnprobe.record(model, torch.ones(n, dtype=torch.float64)))
    counts = np.array([float(torch.linalg.matrix_norm(pl.jacobians[m]) /
                             torch.linalg.matrix_norm(torch.linalg.matrix_power(alpha * M, m))) for m in range(L + 1)])
    share = counts / counts.sum()
    pred = stats.binom.pmf(np.arange(L + 1), L, 0.5)
    basis = ("exact: with identical linear branches αM the paths of length m sum to C(L, m)(αM)^m, so the measured "
             "count ‖P[m]‖_F/‖(αM)^m‖_F is C(L, m); allowance 1e-12 for float64 rounding.")
    return _Check("index", list(range(L + 1)), pred[None, :], share[None, :], 1e-12, basis, exact=True)


def _paths_norm2(point, R):
    import numpy as np
    import torch

    import rnnprobe
    from rnnprobe.paths import path_lengths
    from rnnprobe.theory import ensembles as ens

    n, L, alpha, sw, sb, phi = (point["hidden"], point["depth"], point["alpha"], point["gain"], point["bias_std"],
                                point["nonlinearity"])
    meas = []
    for r in range(R):
        model = rnnprobe.build("resmlp", hidden_size=n, depth=L, alpha=alpha, gain=sw, bias_std=sb, nonlinearity=phi,
                               init=point["init"], seed=_seed(point, r))
        x = torch.from_numpy(_generator(point, r, 5).standard_normal(n))
        x = x / x.norm() * math.sqrt(n)                                       # ‖x‖²/n = 1
        pl = path_lengths(rnnprobe.record(model, x))
        meas.append((pl.jacobians.pow(2).sum((-2, -1)) / n).numpy())          # E_u ‖uᵀP[m]‖² over unit readouts u
    gains = ens.residual_branch_gains(L, alpha, sw, sb, phi, input_mean_square=1.0)
    pred = ens.elementary_symmetric(gains)
    m = np.arange(L + 1)
    if phi == "linear":
        allowance = np.zeros(L + 1)
        basis = ("exact in expectation at any width for a linear branch (each W_l enters linearly and independently, "
                 "distinct paths are uncorrelated); tolerance = c·s.e. over the replicate networks.")
    else:
        allowance = m * 2.0 / n * pred
        basis = ("mean field for tanh: each branch factor g_l carries an O(1/n) correction below 0.85/n "
                 "(layer_growth over σ_w ∈ [1, 3], σ_b ∈ [0, 0.5]); allowance m·2/n relative for a path of m "
                 "branches (docs/theory.md §5), plus c·s.e. over the replicate networks.")
    return _Check("index", m.tolist(), pred[None, :], np.array(meas), allowance, basis)


# ------------------------------------------------------------------------------------------- (f) gates
def _gate_model(point, r, gain=None):
    import rnnprobe

    options = {}
    for key in ("forget_bias", "update_bias", "chrono"):
        if point.get(key) is not None:
            options[key] = point[key]
    return rnnprobe.build(point["arch"], point["hidden"], gain=point["gain"] if gain is None else gain,
                          init=point["init"], seed=_seed(point, r), **options)


def _origin_jacobian(model):
    import torch

    with torch.no_grad():
        return model.step_jacobian(torch.zeros(1, model.input_size, dtype=model.dtype),
                                   torch.zeros(1, model.state_size, dtype=model.dtype))[0]


def _gates(point, R, quantity):
    import numpy as np
    import torch

    import rnnprobe
    from rnnprobe.theory import gates

    arch, n = point["arch"], point["hidden"]
    lstm = arch == "lstm"
    bias = point["forget_bias"] if lstm else point["update_bias"]
    if quantity == "forgetting_time_quantile":
        T_max = point["chrono"]
        levels = np.arange(1, 10) / 10
        meas = []
        for r in range(R):
            f = torch.diagonal(_origin_jacobian(_gate_model(point, r))[n:, n:]).numpy()
            meas.append(np.quantile(1.0 / (1.0 - f), levels))
        pred = 2 + (T_max - 2) * ((n - 1) * levels + 1) / (n + 1)
        basis = (f"chrono: forgetting times 1 + e^(b_f) are i.i.d. U(2, T_max); the expected interpolated sample "
                 f"decile of n = {n} units is exact (order statistics of a uniform); tolerance = c·s.e. over {R} "
                 "networks.")
        return _Check("index", list(range(1, 10)), pred[None, :], np.array(meas), 0.0, basis,
                      limit=2 + (T_max - 2) * levels)
    if quantity == "retention" and lstm:
        # with recurrent weights: at zero input and state the c→c block of the step Jacobian is diag σ(b_f)
        J = _origin_jacobian(_gate_model(point, 0))
        meas = float(torch.diagonal(J[n:, n:]).mean())
        basis = ("exact identity at the origin (zero input and state) for any recurrent weights: the c→c block is "
                 "diag σ(b_f); allowance 1e-12 for rounding.")
        return _Check(None, [0], [[gates.gate_factor(bias)]], [[meas]], 1e-12, basis, exact=True)
    # zero recurrent weights, zero inputs: an exact exponential memory
    model = _gate_model(point, 0, gain=0.0)
    T = point["length"]
    h0 = None
    if not lstm:       # a GRU with U = 0 has the step Jacobian σ(b_z) I at every state: start away from the origin
        h0 = torch.from_numpy(_generator(point, 0, 6).uniform(-0.9, 0.9, n))
    traj = rnnprobe.record(model, torch.zeros(T, 1, dtype=torch.float64), h0=h0)
    if quantity == "retention":
        meas = float(rnnprobe.step_norms(traj).mean())
        basis = ("exact identity: with U = 0 and zero input the GRU step Jacobian is σ(b_z) I at every state (both "
                 "conventions: z weights the old state; Cho et al.'s paper writes 1 − z, factor σ(−b_z)); allowance "
                 "1e-12 for rounding.")
        return _Check(None, [0], [[gates.gate_factor(bias)]], [[meas]], 1e-12, basis, exact=True)
    if quantity == "efold":
        pred = gates.efold_time(bias) if bias is not None else gates.efold_time(
            float(model.bias_ih.detach()[n:2 * n].max()))
        meas = rnnprobe.memory_length(traj).efold
        which = "the slowest unit's σ(b_f)" if bias is None else ("σ(b_f)" if lstm else "σ(b_z)")
        basis = (f"exact: with zero recurrent weights G(k) is a pure exponential in {which}, and a Theil–Sen fit of "
                 "log G recovers −1/log of it exactly; allowance 1e-9 relative for rounding.")
        return _Check(None, [0], [[pred]], [[meas]], 1e-9 * pred, basis, exact=True)
    # forgetting time: Σ_{k=1}^{T} G(k)/G(1) = Σ_{j<T} σ(b_f)^j = (1 − a^T)/(1 − a) → 1/(1 − a) = 1 + e^{b_f}
    lags = traj.lags.numpy()
    G = rnnprobe.jacobian_norms(traj, method="svd").numpy()[np.argsort(lags)]
    a = gates.gate_factor(bias)
    pred = (1 - a**T) / (1 - a)
    basis = (f"exact: G(k) = a^k √(1 + σ(b_o)²) with a = σ(b_f), so Σ_k G(k)/G(1) over k ≤ T = {T} is "
             "(1 − a^T)/(1 − a), the forgetting time 1/(1 − a) less its tail; allowance 1e-9 relative for rounding.")
    return _Check(None, [0], [[pred]], [[float(G.sum() / G[0])]], 1e-9 * pred, basis, exact=True,
                  limit=[gates.forgetting_time(bias)])


# ------------------------------------------------------------------------------------------- (g) diagonal
DECILES = tuple(range(1, 10))


def _diagonal_model(point, r):
    import rnnprobe

    s = SETTINGS[(point["prediction"], point["setting"])]
    options = {k: v for k, v in s.options.items() if k != "input_size"}
    for key in ("forget_bias", "update_bias"):
        if point.get(key) is not None:
            options[key] = point[key]
    return rnnprobe.build(point["arch"], point["hidden"], s.options.get("input_size", 1), gain=point["gain"],
                          init=point["init"], bias_std=point["bias_std"] or 0.0, seed=_seed(point, r), **options)


def _diagonal(point, R, quantity):
    import numpy as np
    import torch

    import rnnprobe
    from rnnprobe.theory import diagonal as th

    arch, n, T = point["arch"], point["hidden"], point["length"]
    if quantity in ("G", "efold"):
        model = _diagonal_model(point, 0)
        x = torch.from_numpy(_generator(point, 0, 7).standard_normal((T, model.input_size)))
        traj = rnnprobe.record(model, x)
        lam = (model.eigenvalues() if arch == "lru" else torch.diagonal(model.recurrent_weights()["A_bar"])).numpy()
        if quantity == "efold":
            pred = th.diagonal_efold_time(lam)
            basis = ("exact: G(k) = ρ^k, so the Theil–Sen fit of log G recovers −1/log ρ (ρ = max_j |λ_j|, from the "
                     "model's own factors); allowance 1e-9 relative for rounding.")
            return _Check(None, [0], [[pred]], [[rnnprobe.memory_length(traj).efold]], 1e-9 * pred, basis, exact=True)
        order = np.argsort(traj.lags.numpy())
        lags = traj.lags.numpy()[order]
        G = rnnprobe.jacobian_norms(traj).numpy()[order]
        pred = th.diagonal_jacobian_norms(lam, lags)
        basis = ("exact identity: the step Jacobian is diag(λ) (2×2 rotation–scaling blocks for the LRU) at every "
                 "step, so G(k) = max_j |λ_j|^k; measured by the O(T·n) block path; allowance 1e-10 relative for "
                 "float64 rounding (a sum of k logs: ~1e-13).")
        return _Check("lag", lags.tolist(), pred[None, :], G[None, :], 1e-10 * pred, basis, exact=True)
    if quantity == "timescale_order":
        s = SETTINGS[(point["prediction"], point["setting"])]
        r_min, r_max = s.options["r_min"], s.options["r_max"]
        ks = [round(d * n / 10) for d in DECILES]
        pred = np.array([th.order_statistic_mean(lambda u: th.ring_timescale_quantile(u, r_min, r_max), k, n)
                         for k in ks])
        meas = []
        for r in range(R):
            model = _diagonal_model(point, r)
            traj = rnnprobe.record(model, torch.zeros(T, 1, dtype=torch.float64))
            log_sigma = rnnprobe.block_singular_values(traj, log=True)[0, :, 0].numpy()     # lag T, per unit
            tau = np.sort(-T / log_sigma)
            meas.append(tau[np.array(ks) - 1])
        basis = (f"the ring draws |λ_j|² ~ U(r_min², r_max²) i.i.d., so the k-th smallest of the n = {n} measured "
                 "timescales −1/log|λ_j| has mean E Q(U_(k)), U_(k) ~ Beta(k, n + 1 − k) (quadrature, 768 nodes; "
                 f"Q the ring's timescale quantile); tolerance = c·s.e. over {R} networks.")
        return _Check("index", list(DECILES), pred[None, :], np.array(meas), 0.0, basis)
    preds, meas = [], []
    for r in range(R):
        model = _diagonal_model(point, r)
        x = torch.from_numpy(_generator(point, r, 8).standard_normal((T, model.input_size)))
        traj = rnnprobe.record(model, x)
        W = model.weight.detach().numpy() if arch in ("mingru", "minlstm") else None
        b = model.bias.detach().numpy() if arch in ("mingru", "minlstm") else None
        if arch == "s6":
            with torch.no_grad():
                W_in, b_in, W_d, b_d = (p.numpy() for p in (model.W_in, model.b_in, model.W_delta, model.b_delta))
                A = model.A().numpy()
            mean = W_d @ b_in + b_d                              # p = W_Δ(W_in x + b_in) + b_Δ, x ~ N(0, I)
            std = np.sqrt(np.diag(W_d @ W_in @ W_in.T @ W_d.T))
        if quantity == "factor_order":
            with torch.no_grad():
                a = model.jacobian_blocks(traj.inputs, traj.states)[:, 0, 0, 0, 0].numpy()      # unit (c, k) = (0, 0)
            ks = [round(d * T / 10) for d in DECILES]
            meas.append(np.sort(a)[np.array(ks) - 1])
            preds.append([th.order_statistic_mean(
                lambda u: th.selective_factor_quantile(u, A[0, 0], mean[0], std[0], gain=point["gain"]), k, T)
                for k in ks])
            continue
        meas.append(-rnnprobe.block_singular_values(traj, log=True)[0, :, 0].numpy() / T)
        if arch == "mingru":
            preds.append([th.mingru_decay_rate(b[j], np.linalg.norm(W[j]), gain=point["gain"]) for j in range(n)])
        elif arch == "minlstm":
            nf, ni = np.linalg.norm(W[:n], axis=1), np.linalg.norm(W[n : 2 * n], axis=1)
            corr = np.einsum("ij,ij->i", W[:n], W[n : 2 * n]) / (nf * ni)
            preds.append([th.minlstm_decay_rate(b[j], b[n + j], nf[j], ni[j], corr[j], gain=point["gain"])
                          for j in range(n)])
        else:
            N = model.state_dim
            preds.append([th.selective_decay_rate(A[j // N, j % N], mean[j // N], std[j // N], gain=point["gain"])
                          for j in range(n)])
    preds, meas = np.array(preds), np.array(meas)
    if quantity == "factor_order":
        basis = (f"selectivity: with i.i.d. N(0, I) inputs the factors exp(Δ_t A) of one unit are i.i.d. with the law "
                 f"of g·exp(A softplus(p)), p Gaussian (selective_factor_quantile); the k-th smallest of T = {T} has "
                 f"mean E Q(U_(k)) (quadrature); tolerance = c·s.e. over {R} networks and input sequences.")
        return _Check("index", list(DECILES), preds, meas, 0.0, basis)
    what = {"mingru": "log(1 − z_t) = −softplus(a_t)", "minlstm": "log f'_t = −log(1 + σ(a_i)/σ(a_f))",
            "s6": "log exp(Δ_t A) = A softplus(p_t)"}[arch]
    basis = (f"law of large numbers, per unit: the unit's Jacobian product over T = {T} steps is the product of "
             f"its factors, and {what} with i.i.d. Gaussian pre-activations, so −(1/T)·log of it has mean the rate "
             f"exactly (quadrature to ~1e-12); tolerance = c·s.e. over {R} networks and input sequences.")
    return _Check("index", list(range(n)), preds, meas, 0.0, basis)


# ------------------------------------------------------------------------------------------- (h) memory curse
CURSE_SEQUENCES = 1000


def _memory_curse(point, R, quantity):
    import numpy as np
    import torch

    import rnnprobe
    from rnnprobe.theory import memory_curse as mc

    s = SETTINGS[(point["prediction"], point["setting"])]
    lam, T, arch, normalize = point["gain"], point["length"], point["arch"], s.options["normalize"]
    norm = "lru" if normalize else "none"
    param = "W_h" if arch == "vanilla-linear" else "nu_log"
    meas = []
    for r in range(R):
        model = rnnprobe.build(arch, 1, seed=_seed(point, r), **({} if arch == "vanilla-linear" else
                                                                  {"max_phase": 0.0, "normalize": normalize}))
        with torch.no_grad():                       # h_t = λ h_{t−1} + γ x_t exactly, one real unit
            if arch == "vanilla-linear":
                model.W_h.fill_(lam)
                model.W_x.fill_(1.0)
            else:
                model.nu_log.fill_(math.log(-math.log(lam)))
                model.B_re.fill_(1.0)
                model.gamma.fill_(math.sqrt(1 - lam**2) if normalize else 1.0)
        x = torch.from_numpy(_generator(point, r, 9).standard_normal((T, CURSE_SEQUENCES, 1)))
        if quantity == "state_variance":
            h = rnnprobe.record(model, x).hidden_states()[-1, :, 0]
            meas.append(float((h**2).mean()))
        else:
            meas.append(float(rnnprobe.parameter_sensitivity(model, x, param).pow(2).mean()))
    if quantity == "state_variance":
        pred = mc.state_variance(lam, normalization=norm, horizon=T)
        limit = mc.state_variance(lam, normalization=norm)
    else:
        parametrization = "lambda" if arch == "vanilla-linear" else "exp"
        pred = mc.lambda_sensitivity(lam, normalization=norm, parametrization=parametrization, horizon=T)
        limit = mc.lambda_sensitivity(lam, normalization=norm, parametrization=parametrization)
    basis = (f"exact in expectation: h_T (and ∂h_T/∂θ) is a linear form of the white inputs, whose mean square is the "
             f"finite sum at T = {T} (the stationary value is the limit); tolerance = c·s.e. over {R} replicates of "
             f"{CURSE_SEQUENCES} sequences.")
    return _Check(None, [0], [[pred]], np.array(meas)[:, None], 0.0, basis, limit=[limit])


# ------------------------------------------------------------------------------------------- probe
def probe(point, *, dtype="float64", device="cpu"):
    """Check one prediction at one seed: rows per index and the point's verdict.

    Theory checks run in float64 on the CPU (tolerances of 1e-10 assume it); other
    dtypes or devices are refused.
    """
    from rnnprobe.errors import InvalidArgument

    if str(dtype) not in ("float64", "torch.float64") or device != "cpu":
        raise InvalidArgument(f"the theory study runs in float64 on the cpu (its exact checks need float64 "
                              f"rounding); got dtype {dtype!r}, device {device!r}")
    s = SETTINGS[(point["prediction"], point["setting"])]
    q, R = point["quantity"], s.replicates
    if q not in s.quantities:
        raise InvalidArgument(f"quantity {q!r} is not checked in setting {s.name!r}; its quantities: "
                              f"{', '.join(s.quantities)}")
    if s.prediction == "meanfield":
        check = _meanfield_q(point, R) if q == "q" else _meanfield_chi1(point, R)
    elif s.prediction == "pascanu":
        check = _pascanu_G(point, R)
    elif s.prediction == "isometry":
        check = _isometry(point, R, q)
    elif s.prediction == "capacity":
        check = _capacity(point, R, q)
    elif s.prediction == "paths":
        check = _paths_share(point, R) if q == "path_share" else _paths_norm2(point, R)
    elif s.prediction == "gates":
        check = _gates(point, R, q)
    elif s.prediction == "diagonal":
        check = _diagonal(point, R, q)
    else:
        check = _memory_curse(point, R, q)
    return _finish(check, s.prediction)
