"""How far from an isometry is the input-output Jacobian of a deep stack, across depths, gains and initialisations?

The same mathematics as through time, through depth: a stack of L layers is a
chain s_{l+1} = F_l(s_l), and the study measures, for every architecture x depth
L x gain x init x seed:

* per layer l = 0 … L-1: ||ds_L/ds_l||_2 (``jacobian_norm``) and the gradient
  norm ||dL/ds_l|| of a fixed random unit readout L = u.s_L (``gradient_norm``);
* per index: the singular values of the input-output Jacobian ds_L/dx
  (``jacobian_singular_value``), and in summary.csv the mean and standard
  deviation of their logarithms (``log_sv_mean``, ``log_sv_std``: an isometry
  has both 0; ``log_sv_std`` is how far from *dynamical* isometry, i.e. from all
  singular values equal), the extreme singular values, sigma_max over the layers'
  weights, the Pascanu verdict and whether the gradient bounds held. (The
  layers' weight singular values are not written as rows: L x n of them per point.)

Architectures (hidden = width n, inputs x ~ N(0, I_n) from the seed, biases 0):

* ``mlp``: s' = tanh(W_l s); ``resmlp``: s' = s + tanh(W_l s);
* ``densemlp``: DenseNet-style, each layer appends ``growth = 1`` feature
  computed from all before (state n + L; kept at 1 so that L = 128 stays cheap).
  Its output is the whole concatenation, which contains the input itself, so the
  singular values of ds_L/dx (the first n columns of ds_L/ds_0) are all >= 1;
* ``stacked-rnn``: L stacked vanilla tanh RNN layers h^l_t = tanh(W^l_x h^{l-1}_t
  + W^l_h h^l_{t-1}), with h^{-1}_t = x_t ~ N(0, I_n), run for ``length`` T steps
  (default 20). It is probed through depth at the last time step: the chain is
  s_0 = x_T, s_{l+1} = h^l_T, whose layer map tanh(W^l_x s + W^l_h h^l_{T-1}) holds
  the recurrent contribution fixed (it does not depend on x_T), so ds_L/ds_0 is
  exactly dh^{L-1}_T/dx_T of the unrolled stack, the product of D_l W^l_x.
  W^l_x and W^l_h are both drawn with the grid's init and gain.

Initialisation (``init`` column): ``orthogonal`` (gain times a Haar orthogonal
matrix: all singular values equal the gain) and ``gaussian`` (N(0, gain^2/n)),
because dynamical isometry needs the first (Saxe et al. 2014; Pennington et al.
2017). ``length`` is empty except for ``stacked-rnn``.

Examples
--------
>>> from rnnprobe import studies
>>> study = studies.load("depth")
>>> len(study.points(study.resolve()))       # 4 architectures x 7 depths x 3 gains x 2 inits x 2 seeds
336
>>> point = dict(arch="resmlp", hidden=4, depth=6, length=None, gain=1.0, seed=0, init="orthogonal")
>>> rows, summary = study.module.probe(point)
>>> sorted({r[0] for r in rows}), summary["min_singular_value"] > 0
(['gradient_norm', 'jacobian_norm', 'jacobian_singular_value'], True)
"""

from __future__ import annotations

import math

from rnnprobe.schema import EXTRA_GRID_COLUMNS
from rnnprobe.studies import Axis

# torch and the probes are imported inside the functions: loading a study to read its grid stays light

#: the study's own chain, not a registry architecture: stacked vanilla RNN layers at the last time step
STACKED = "stacked-rnn"


def __getattr__(name):
    """``ARCHS``, the architectures the study accepts: every feed-forward stack in ``rnnprobe.architectures``
    (read when asked, so that stacks registered later are accepted too), and ``stacked-rnn``."""
    if name == "ARCHS":
        from rnnprobe.models.registry import architectures

        return (*architectures.feedforward(), STACKED)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

#: features added per layer by densemlp in this study
DENSE_GROWTH = 1

EXTRA_AXES = {
    "init": Axis(str, EXTRA_GRID_COLUMNS["init"], choices=("gaussian", "orthogonal")),
}

GRID = {
    "arch": ["mlp", "resmlp", "densemlp", STACKED],
    "hidden": [32],
    "depth": [2, 4, 8, 16, 32, 64, 128],
    "length": [20],
    "gain": [0.5, 1.0, 1.5],
    "seed": [0, 1],
    "init": ["orthogonal", "gaussian"],
}

QUICK = {
    "arch": ["mlp", "resmlp", "densemlp", STACKED],
    "hidden": [8],
    "depth": [2, 8],
    "length": [5],
    "gain": [1.0],
    "seed": [0],
    "init": ["orthogonal"],
}


def points(grid):
    """Every combination; ``length`` applies to ``stacked-rnn`` only (None for the others)."""
    out = []
    for arch in grid["arch"]:
        lengths = grid["length"] if arch == STACKED else [None]
        for hidden in grid["hidden"]:
            for depth in grid["depth"]:
                for length in lengths:
                    for gain in grid["gain"]:
                        for seed in grid["seed"]:
                            for init in grid["init"]:
                                out.append(dict(arch=arch, hidden=hidden, depth=depth, length=length,
                                                gain=gain, seed=seed, init=init))
    return out


def cost(point) -> float:
    """Relative cost: the depth times the architecture's cost factor, times the squared state growth of
    stacks that grow (``growth``); the stacked RNN counts twice."""
    from rnnprobe.models.registry import architectures

    if point["arch"] == STACKED:
        return point["depth"] * 2.0
    spec = architectures[point["arch"]]
    if "growth" in spec.options:
        return point["depth"] * (1 + point["depth"] * DENSE_GROWTH / point["hidden"]) ** 2 * spec.cost
    return point["depth"] * spec.cost


def stacked_rnn_slice(hidden, depth, length, *, gain, init, seed, dtype="float64"):
    """The depth chain of a stacked vanilla tanh RNN at its last time step.

    Returns ``(model, x_T, unrolled, xs)``: an rnnprobe ``mlp`` whose layer l is
    ``s -> tanh(W^l_x s + W^l_h h^l_{T-1})`` (named ``stacked-rnn``), the last
    input x_T (the chain's input), a function ``unrolled(xs) -> h^{L-1}_T``
    running the whole stack over inputs ``(T, n)`` (the reference for tests),
    and the inputs ``xs`` themselves.
    """
    import torch

    import rnnprobe
    from rnnprobe.studies._probes import dtype_of, sequence

    dt = dtype_of(dtype)
    g = torch.Generator().manual_seed(seed)
    W_x = torch.stack([rnnprobe.init_matrix(hidden, hidden, scheme=init, gain=gain, generator=g)
                       for _ in range(depth)])
    W_h = torch.stack([rnnprobe.init_matrix(hidden, hidden, scheme=init, gain=gain, generator=g)
                       for _ in range(depth)])
    xs = sequence(seed, length, hidden)

    def run(inputs, *, keep_previous=False):
        below, previous = inputs, []
        for l in range(depth):
            h = inputs.new_zeros(hidden)
            seq = []
            for t in range(inputs.shape[0]):
                if t == inputs.shape[0] - 1:
                    previous.append(h)
                h = torch.tanh(W_x[l].to(inputs) @ below[t] + W_h[l].to(inputs) @ h)
                seq.append(h)
            below = torch.stack(seq)
        return (below[-1], previous) if keep_previous else below[-1]

    with torch.no_grad():
        _, previous = run(xs, keep_previous=True)
    model = rnnprobe.build("mlp", hidden, depth=depth, gain=gain, init=init, seed=seed, dtype=dt)
    with torch.no_grad():
        model.W.copy_(W_x.to(dt))
        model.b.copy_(torch.stack([W_h[l] @ previous[l] for l in range(depth)]).to(dt))
    model.name = STACKED
    return model, xs[-1].to(dt), run, xs


def build_chain(point, *, dtype="float64"):
    """The chain model of a grid point and its input vector."""
    import rnnprobe
    from rnnprobe.studies._probes import dtype_of, sequence

    n, L = point["hidden"], point["depth"]
    if point["arch"] == STACKED:
        model, x, _, _ = stacked_rnn_slice(n, L, point["length"], gain=point["gain"], init=point["init"],
                                           seed=point["seed"], dtype=dtype)
        return model, x
    options = {"growth": DENSE_GROWTH} if "growth" in rnnprobe.architectures[point["arch"]].options else {}
    model = rnnprobe.build(point["arch"], n, depth=L, gain=point["gain"], init=point["init"],
                           seed=point["seed"], dtype=dtype_of(dtype), **options)
    return model, sequence(point["seed"], 1, n, dtype_of(dtype))[0]


def probe(point, *, dtype="float64", device="cpu"):
    """Probe one grid point: per-layer norms, input-output singular values, summary."""
    import torch

    import rnnprobe
    from rnnprobe.studies._probes import bound_rtol, per_index_rows, per_layer_rows, spectrum_rows, to_device

    model, x = build_chain(point, dtype=dtype)
    model = to_device(model, device)
    traj = rnnprobe.record(model, x)
    b = rnnprobe.gradient_bounds(traj, log=True, seed=point["seed"])
    rows = per_layer_rows("jacobian_norm", b.jacobian - b.final_gradient_norm)
    rows += per_layer_rows("gradient_norm", b.gradient)
    # input-output Jacobian ds_L/dx: the first n columns of ds_L/ds_0 (all of it except for densemlp,
    # whose other columns, the not-yet-computed features, are exactly zero)
    log_sv = rnnprobe.jacobian_singular_values(traj, log=True)[0][: point["hidden"]].cpu()
    rows += per_index_rows("jacobian_singular_value", log_sv, log=True)
    _, summary = spectrum_rows(model, rows=False)
    finite = bool(torch.isfinite(log_sv).all())
    summary.update(
        bound_holds=bool(b.holds(bound_rtol(traj.dtype))),
        log_sv_mean=float(log_sv.mean()),
        log_sv_std=float(log_sv.std(unbiased=False)) if finite else math.nan,
        max_singular_value=math.exp(float(log_sv[0])) if float(log_sv[0]) < 709 else math.inf,
        min_singular_value=math.exp(float(log_sv[-1])) if float(log_sv[-1]) < 709 else math.inf,
    )
    return rows, summary
