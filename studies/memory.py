"""How long do recurrent nets remember, across architectures and gate biases (LSTM forget gate incl. chrono init, GRU update gate)?

For every architecture x gain x seed (and, for the LSTM, every forget-gate bias
and chrono T_max; for the GRUs, every update-gate bias), the study measures the
effective memory length in every form rnnprobe names:

* along one sequence of ``length`` T i.i.d. N(0, 1) inputs from the seed:
  G(k) = ||ds_T/ds_{T-k}||_2 per lag (``jacobian_norm``), and in summary.csv the
  threshold length (largest k with G(k) >= eps = 0.01, censored at T), the
  e-folding time of a Theil-Sen fit of log G(k), the Lyapunov time -1/lambda_1,
  plus the full Lyapunov spectrum (``lyapunov_exponent`` rows) and the weight
  blocks' singular values;
* Jaeger's linear memory capacity (``rnnprobe.memory_capacity``): MC_k per
  delay k = 1 … 2n (``memory_capacity_lag``, row ``lag`` = k: the input u(t - k)
  read back from the state that has just read u(t)) and their sum
  (``memory_capacity``, Jaeger's total over k >= 1; at most n - MC_0 up to
  sampling error); the same-step term MC_0 (``memory_capacity_same_step``) and
  the number of state directions the readouts resolve
  (``memory_capacity_rank``, n unless the states are degenerate or below
  float64 resolution) are in summary.csv. From 10 n x 2n steps (at least 2000)
  of inputs u ~ U(-1, 1) after a washout of 200, seeded by the seed: readouts
  fitted on the first 80%, scored on the held-out 20% (so a forgotten delay
  reads 0 +- sqrt(2)/n_test, not the n/steps of an in-sample fit).

Gate biases (extra columns; empty where they do not apply: each applies to every
architecture that takes the option of that name, ``rnnprobe.architectures[arch].options``):

* ``forget_bias``: the LSTM forget-gate bias b_f (per-step retention sigma(b_f)
  at the origin; forgetting time 1 + e^{b_f} steps);
* ``chrono``: T_max of chrono initialisation (Tallec & Ollivier 2018):
  b_f = log U(1, T_max - 1), b_i = -b_f (then ``forget_bias`` is empty);
* ``update_bias``: the update-gate bias b_z of both GRUs (z weights the old state:
  larger means longer memory), and of ``mingru`` when it is run (``--arch``): there z
  is the fraction *written* (Feng et al. 2024), so larger means *shorter* memory;
  ``minlstm`` takes ``forget_bias`` (larger: longer memory).

Any recurrent architecture runs with ``--arch`` (the diagonal recurrences ``lru``,
``s4d``, ``s6``, ``mingru``, ``minlstm`` and ``unitary`` too; gain and init for the
diagonal ones: rnnprobe.models._diagonal).

Initialisation: ``orthogonal`` gain x Haar matrices for everything acting on the
state (``init`` column), Gaussian N(0, 1/d) input weights, zero other biases.

Examples
--------
>>> from rnnprobe import studies
>>> study = studies.load("memory")
>>> len(study.points(study.resolve()))       # (1 + 4 + 4 + 5 + 1 + 1) variants x 2 gains x 2 seeds
64
>>> point = dict(arch="gru", hidden=3, length=30, depth=None, gain=1.0, seed=0, init="orthogonal",
...              forget_bias=None, update_bias=2.0, chrono=None)
>>> rows, summary = study.module.probe(point)
>>> 0 < summary["memory_capacity"] <= 3, summary["memory_capacity_rank"]
(True, 3)
"""

from __future__ import annotations

from rnnprobe.schema import EXTRA_GRID_COLUMNS
from rnnprobe.studies import Axis

#: variance the inputs add to every pre-activation: x ~ N(0, 1) (size 1) through
#: W_x ~ N(0, 1/d), so W_x x ~ N(0, 1). Mean-field theory treats it like a bias variance
#: (the report's χ₁ comparison reads it from meta.json's config).
INPUT_VARIANCE = 1.0

# torch and the probes are imported inside the functions: loading a study to read its grid stays light


def __getattr__(name):
    """``ARCHS``, the architectures the study accepts: every recurrent one in ``rnnprobe.architectures``
    (read when asked, so that architectures registered later are accepted too)."""
    if name == "ARCHS":
        from rnnprobe.models.registry import architectures

        return tuple(architectures.recurrent())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


EPS = 1e-2
#: memory capacity: lags per hidden unit, washout, and readout steps per (hidden unit x lag)
MC_LAGS_PER_UNIT = 2
MC_WASHOUT = 200
MC_SAMPLES_PER_UNIT_LAG = 10


def mc_settings(hidden: int) -> tuple[int, int]:
    """``(max_lag, n_samples)`` of the memory capacity for a hidden size n.

    max_lag = 2n; n_samples = 10 n max_lag (at least 2000), of which 20% are
    held out for scoring: the readouts are trained on 8 n max_lag samples, so a
    remembered delay reads about (1 - MC_k)(n - 1)/(16 n²) below its population
    value.
    """
    max_lag = MC_LAGS_PER_UNIT * hidden
    return max_lag, max(2000, MC_SAMPLES_PER_UNIT_LAG * hidden * max_lag)

EXTRA_SUMMARY = {
    "memory_capacity_same_step": "MC_0, the capacity for the same-step input u(t) (not part of memory_capacity)",
    "memory_capacity_rank": "state directions the capacity readouts resolve in float64 (at most the hidden size)",
}

EXTRA_AXES = {
    "init": Axis(str, EXTRA_GRID_COLUMNS["init"], choices=("gaussian", "orthogonal", "spectral")),
    "forget_bias": Axis(float, EXTRA_GRID_COLUMNS["forget_bias"], allow_empty=True),
    "update_bias": Axis(float, EXTRA_GRID_COLUMNS["update_bias"], allow_empty=True),
    "chrono": Axis(int, EXTRA_GRID_COLUMNS["chrono"], min_value=3, allow_empty=True),
}

GRID = {
    "arch": ["vanilla-tanh", "gru", "gru-torch", "lstm", "residual", "dense"],
    "hidden": [32],
    "length": [2000],       # >= RESOLVED_FACTOR x the longest timescale the gate biases set (longest_timescale(GRID))
    "gain": [0.5, 1.0],
    "seed": [0, 1],
    "init": ["orthogonal"],
    "forget_bias": [0.0, 1.0, 2.0, 4.0],
    "update_bias": [0.0, 1.0, 2.0, 4.0],
    "chrono": [400],
}

QUICK = {
    "arch": ["vanilla-tanh", "gru", "lstm"],
    "hidden": [8],
    "length": [50],
    "gain": [1.0],
    "seed": [0],
    "init": ["orthogonal"],
    "forget_bias": [1.0],
    "update_bias": [2.0],
    "chrono": [10],
}


#: the horizon must span this many of the longest timescale the gate biases set (the decay then covers 5 e-folds)
RESOLVED_FACTOR = 5


def longest_timescale(grid) -> float:
    """The longest memory time (steps) that ``rnnprobe.theory.gates`` predicts for the grid's gate biases.

    The e-folding time −1/log σ(b) of the largest forget-gate bias b_f and of the
    largest update-gate bias b_z (both GRU conventions of rnnprobe keep z on the
    old state), and T_max of chrono initialisation (its forgetting times are
    uniform on [2, T_max]). The default grid's ``length`` is at least
    :data:`RESOLVED_FACTOR` times this (the report flags points whose measured
    memory is longer than T / 5).

    Examples
    --------
    >>> round(longest_timescale({"forget_bias": [0.0, 4.0], "update_bias": [1.0], "chrono": [None]}), 1)
    55.1
    >>> longest_timescale(GRID) * RESOLVED_FACTOR <= min(GRID["length"])
    True
    """
    from rnnprobe.theory import gates

    times = [1.0]
    for axis in ("forget_bias", "update_bias"):
        biases = [b for b in grid.get(axis) or [] if b is not None]
        if biases:
            times.append(float(gates.efold_time(max(biases))))
    chrono = [c for c in grid.get("chrono") or [] if c is not None]
    if chrono:
        times.append(float(gates.chrono_forgetting_times(int(max(chrono))).support()[1]))
    return max(times)


#: the gate-bias axes, in the order their variants are listed
_GATE_AXES = ("forget_bias", "chrono", "update_bias")


def points(grid):
    """Every combination, the gate-bias axes applied to the architectures that take those options."""
    from rnnprobe.models.registry import architectures

    out = []
    for arch in grid["arch"]:
        options = architectures[arch].options
        # one variant per value of each gate-bias axis the architecture takes (none when those axes are empty)
        variants = [{axis: v} for axis in _GATE_AXES if axis in options for v in grid[axis]]
        if not any(axis in options for axis in _GATE_AXES):
            variants = [{}]
        for hidden in grid["hidden"]:
            for length in grid["length"]:
                for gain in grid["gain"]:
                    for seed in grid["seed"]:
                        for init in grid["init"]:
                            for v in variants:
                                out.append(dict(arch=arch, hidden=hidden, length=length, gain=gain, seed=seed,
                                                init=init, **v))
    return out


def cost(point) -> float:
    """Relative cost: sequence plus capacity steps, times the architecture's cost factor (``ArchitectureSpec.cost``)."""
    from rnnprobe.models.registry import architectures

    return (point["length"] + mc_settings(point["hidden"])[1] / 10) * architectures[point["arch"]].cost


def build_model(point, *, dtype="float64", device="cpu"):
    """The model of one grid point, gate biases applied."""
    import rnnprobe
    from rnnprobe.studies._probes import dtype_of, to_device

    options = {}
    if point.get("forget_bias") is not None:
        options["forget_bias"] = point["forget_bias"]
    if point.get("chrono") is not None:
        options["chrono"] = point["chrono"]
    if point.get("update_bias") is not None:
        options["update_bias"] = point["update_bias"]
    model = rnnprobe.build(point["arch"], point["hidden"], 1, gain=point["gain"], init=point["init"],
                           seed=point["seed"], dtype=dtype_of(dtype), **options)
    return to_device(model, device)


def probe(point, *, dtype="float64", device="cpu"):
    """Probe one grid point: G per lag, memory lengths, spectra and memory capacity."""
    import warnings

    import rnnprobe
    from rnnprobe.capacity import CapacityResolutionWarning
    from rnnprobe.studies._probes import dtype_of, lyapunov_rows, memory_summary, sequence, spectrum_rows, time_rows

    model = build_model(point, dtype=dtype, device=device)
    x = sequence(point["seed"], point["length"], 1, dtype_of(dtype))
    traj = rnnprobe.record(model, x)
    rows, summary = time_rows(traj, seed=point["seed"], bounds=False)
    spec_rows, spec_summary = spectrum_rows(model)
    rows += spec_rows + lyapunov_rows(traj)
    summary.update(spec_summary)
    summary.update(memory_summary(traj, EPS))
    max_lag, n_samples = mc_settings(point["hidden"])
    with warnings.catch_warnings():
        # fewer resolved directions than n is recorded in memory_capacity_rank rather than warned about per point
        warnings.simplefilter("ignore", CapacityResolutionWarning)
        mc = rnnprobe.memory_capacity(model, max_lag=max_lag, n_samples=n_samples, washout=MC_WASHOUT,
                                      seed=point["seed"])
    rows += [("memory_capacity_lag", int(k), None, None, None, float(v))
             for k, v in zip(mc.delays.tolist(), mc.per_lag.tolist()) if k >= 1]
    summary["memory_capacity"] = mc.total
    summary["memory_capacity_same_step"] = mc.same_step
    summary["memory_capacity_rank"] = mc.effective_rank
    return rows, summary
