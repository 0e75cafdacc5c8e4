"""How do gradients vanish or explode through time, across architectures, sequence lengths and gains?

For every architecture x sequence length T x gain x seed, one sequence of i.i.d.
N(0, 1) inputs (input size 1, drawn from the seed) drives a freshly built model
from the zero state, and the study records, per lag k = 1 … T:

* G(k) = ||ds_T/ds_{T-k}||_2 (``jacobian_norm``),
* the gradient norm g(k) = ||dL/ds_{T-k}|| of a fixed random unit readout
  L = u.h_T (``gradient_norm``, u drawn from the seed) and its bounds
  ``bound_jacobian`` ||dL/ds_T|| G(k), ``bound_product`` B_prod(k) and, for the
  vanilla RNNs, the lecture's ``bound_weight`` B_W(k);

per grid point, the singular values of every recurrent weight block, the full
Lyapunov spectrum along the trajectory, the minimum angle between the unstable
and the leading 8 stable covariant Lyapunov directions at (at most 50) states of
the trajectory (``clv_angle``, radians; how hyperbolic the dynamics is), and in
summary.csv the memory-length measures (threshold at eps = 0.01, e-folding time,
Lyapunov time), the Pascanu verdict, whether the chain of bounds held and the
minimum angle over the whole window (``clv_min_angle``).

Initialisation: ``orthogonal`` (the ``init`` column) — every matrix acting on the
state is ``gain`` times a Haar-random orthogonal matrix, so all its singular values
*and* its spectral radius equal the gain: gains 0.5, 1.0, 1.5 are below, at and
above 1 in every sense. The dense RNN's window matrices W_k get gain/sqrt(K)
each (K = 3). The LSTM keeps rnnprobe's default forget bias 1.0; the GRUs have
update bias 0. Input weights are Gaussian N(0, 1/d), biases zero. The state s is
h, except [h; c] for the LSTM and the window of the last K states for ``dense``.

The two diagonal recurrences of the default grid have no matrix acting on the
state: ``gain`` multiplies their per-unit factors (rnnprobe.models._diagonal). The
LRU keeps its published ring, eigenvalue moduli uniform in area on
[0.9, 0.999] times the gain, phases in [0, 2π), γ normalisation, state
[Re x; Im x] (2n = 64 entries); minGRU's gates read the input only, kept fraction
1 − z = σ(−W_z x) per step (update bias 0), times the gain. Their step Jacobians
are diagonal (2×2 blocks for the LRU), so G(k) comes from the O(T·n) path.

Gains above 1 are where exploding gradients show: G(k) grows with k for the
vanilla RNNs until saturation (tanh) or without bound (ReLU).

Examples
--------
>>> from rnnprobe import studies
>>> study = studies.load("vanishing")
>>> len(study.points(study.resolve()))       # 9 architectures x 5 lengths x 3 gains x 2 seeds
270
>>> point = dict(arch="vanilla-tanh", hidden=4, length=20, depth=None, gain=0.5, seed=0, init="orthogonal")
>>> rows, summary = study.module.probe(point)
>>> summary["pascanu"], summary["bound_holds"], summary["sigma_max"]
('vanishing', True, 0.5...)
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

#: threshold of the memory length
EPS = 1e-2

EXTRA_AXES = {
    "init": Axis(str, EXTRA_GRID_COLUMNS["init"], choices=("gaussian", "orthogonal", "spectral")),
}

GRID = {
    "arch": ["vanilla-tanh", "vanilla-relu", "gru", "gru-torch", "lstm", "residual", "dense", "lru", "mingru"],
    "hidden": [32],
    "length": [10, 50, 100, 200, 400],
    "gain": [0.5, 1.0, 1.5],
    "seed": [0, 1],
    "init": ["orthogonal"],
}

QUICK = {
    "arch": ["vanilla-tanh", "lstm"],
    "hidden": [8],
    "length": [10, 30],
    "gain": [0.5, 1.5],
    "seed": [0],
    "init": ["orthogonal"],
}

def cost(point) -> float:
    """Relative cost: sequence length times the architecture's cost factor (``ArchitectureSpec.cost``)."""
    from rnnprobe.models.registry import architectures

    return point["length"] * architectures[point["arch"]].cost


def build_model(point, *, dtype="float64", device="cpu"):
    """The model of one grid point (seeded by the point's seed)."""
    import rnnprobe
    from rnnprobe.studies._probes import dtype_of, to_device

    model = rnnprobe.build(point["arch"], point["hidden"], 1, gain=point["gain"], init=point["init"],
                           seed=point["seed"], dtype=dtype_of(dtype))
    return to_device(model, device)


def probe(point, *, dtype="float64", device="cpu"):
    """Probe one grid point: per-lag rows, spectra, Lyapunov spectrum and the summary."""
    import rnnprobe
    from rnnprobe.studies._probes import (clv_angle_rows, dtype_of, lyapunov_rows, memory_summary, sequence,
                                          spectrum_rows, time_rows)

    model = build_model(point, dtype=dtype, device=device)
    x = sequence(point["seed"], point["length"], 1, dtype_of(dtype))
    traj = rnnprobe.record(model, x)
    rows, summary = time_rows(traj, seed=point["seed"], bounds=True)
    spec_rows, spec_summary = spectrum_rows(model)
    exponents = rnnprobe.trajectory_lyapunov_spectrum(traj)
    rows += spec_rows + lyapunov_rows(traj, exponents)
    summary.update(spec_summary)
    summary.update(memory_summary(traj, EPS))
    angle_rows, angle_summary = clv_angle_rows(traj, seed=point["seed"], exponents=exponents)
    rows += angle_rows
    summary.update(angle_summary)
    return rows, summary
