"""rnnprobe.memory_capacity against ReservoirPy's ``observables.memory_capacity`` on identical reservoirs.

Not part of the test suite (ReservoirPy is not a dependency of rnnprobe): install it
beside rnnprobe (``pip install reservoirpy==0.4.2``) and run::

    python benchmarks/compare_reservoirpy.py                 # the table of docs/theory.md §4
    python benchmarks/compare_reservoirpy.py --seeds 5 --n-samples 20000

Each case builds one reservoir, ``h(t) = φ(W h(t−1) + W_in u(t))`` with no bias, as an
rnnprobe ``vanilla-<φ>`` model and as a ReservoirPy ``Reservoir`` (the same W and W_in,
leak rate 1), and drives both with the same inputs: rnnprobe's own sequence for the seed
(u ~ U(−1, 1)), handed to ReservoirPy as ``series`` with ``max_lag`` leading zeros so that
its states start from zero at the same input (rnnprobe is run with ``washout=0``) and its
train/test split (``test_size = n_test``) is rnnprobe's. The script reports:

* the largest difference, over delays k = 1 … max_lag, between ReservoirPy's held-out
  squared correlation and rnnprobe's before its null correction (``r² = 1 − (1 − MC_k)
  (n_test − 2)/(n_test − 1)``): the two fit and score the same readouts on the same data,
  so this is rounding (ReservoirPy solves the normal equations, rnnprobe uses an SVD);
* per case, over the seeds (mean ± standard deviation): ReservoirPy's total Σ_{k=1}^{max_lag}
  r²_k, rnnprobe's ``total`` (the same delays, null-corrected), rnnprobe's ``same_step``
  (MC_0, which neither total counts), and for the near-linear case the closed form of the
  linear reservoir with the same W and W_in (``rnnprobe.theory.predicted_memory_capacity``);
* rnnprobe's total against ``max_lag`` (25 … 400) on the second case (the Gaussian tanh N = 50 one): it does not grow,
  while ReservoirPy's grows by about 1/(n_test − 1) per added (forgotten) delay.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import torch

import rnnprobe
from rnnprobe.capacity import CapacityResolutionWarning
from rnnprobe.theory import capacity as cap

CASES = [
    # name, hidden, nonlinearity, W ensemble, spectral radius, W_in scale, max_lag
    ("near-linear: tanh, N=50, orthogonal W, radius 0.9, W_in ~ U(±0.01)", 50, "tanh", "orthogonal", 0.9, 0.01, 100),
    ("tanh, N=50, Gaussian W, radius 0.9, W_in ~ U(±1)", 50, "tanh", "gaussian", 0.9, 1.0, 100),
    ("tanh, N=100, Gaussian W, radius 0.99, W_in ~ U(±1)", 100, "tanh", "gaussian", 0.99, 1.0, 200),
]


def reservoir(hidden, ensemble, radius, input_scale, seed=0):
    """(W, W_in): W Gaussian rescaled to the spectral radius, or radius × a Haar orthogonal matrix."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((hidden, hidden))
    if ensemble == "orthogonal":
        q, r = np.linalg.qr(A)
        W = radius * q * np.sign(np.diag(r))
    else:
        W = A * radius / np.abs(np.linalg.eigvals(A)).max()
    return W, rng.uniform(-input_scale, input_scale, (hidden, 1))


def rnnprobe_model(W, W_in, nonlinearity):
    model = rnnprobe.build(f"vanilla-{nonlinearity}", hidden_size=W.shape[0], input_size=1, seed=0)
    with torch.no_grad():
        model.W_h.copy_(torch.from_numpy(W))
        model.W_x.copy_(torch.from_numpy(W_in))
        model.b.zero_()
    return model


def inputs(seed, steps):
    """rnnprobe.memory_capacity's input sequence for ``seed`` (u ~ U(−1, 1))."""
    g = torch.Generator().manual_seed(seed)
    return (2 * torch.rand(steps, generator=g, dtype=torch.float64) - 1).numpy()


def reservoirpy_capacity(W, W_in, nonlinearity, series, max_lag, n_test):
    from reservoirpy.nodes import Reservoir, Ridge
    from reservoirpy.observables import memory_capacity

    node = Reservoir(W=W, Win=W_in, bias=np.zeros(W.shape[0]), lr=1.0, activation=nonlinearity)
    return memory_capacity(node >> Ridge(ridge=0.0), k_max=max_lag, as_list=True, series=series[:, None],
                           test_size=int(n_test))


def one(model, W, W_in, nonlinearity, max_lag, n_samples, seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CapacityResolutionWarning)
        ours = rnnprobe.memory_capacity(model, max_lag=max_lag, n_samples=n_samples, washout=0, seed=seed)
    series = np.concatenate([np.zeros(max_lag), inputs(seed, max_lag + n_samples)])
    theirs = reservoirpy_capacity(W, W_in, nonlinearity, series, max_lag, ours.n_test)
    m = ours.n_test
    r2 = 1 - (1 - ours.per_lag[1:].numpy()) * (m - 2) / (m - 1)
    return ours, theirs, float(np.abs(r2 - theirs).max())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="input sequences per case")
    parser.add_argument("--n-samples", type=int, default=10_000, help="rnnprobe's n_samples (20%% held out)")
    args = parser.parse_args(argv)
    try:
        import reservoirpy
    except ImportError:  # pragma: no cover - an optional comparison
        parser.exit(1, "this comparison needs ReservoirPy: pip install reservoirpy==0.4.2\n")
    print(f"ReservoirPy {reservoirpy.__version__}, rnnprobe {rnnprobe.__version__}; n_samples {args.n_samples}, "
          f"{args.seeds} input seeds per case (mean ± sd)\n")
    print("| reservoir | max_lag | ReservoirPy Σ_{k≥1} | rnnprobe total (k ≥ 1) | rnnprobe MC_0 | closed form "
          "(linear) Σ_{k≥1} | effective rank | max |Δr²_k| |")
    print("|---|---|---|---|---|---|---|---|")
    for name, hidden, phi, ensemble, radius, scale, max_lag in CASES:
        W, W_in = reservoir(hidden, ensemble, radius, scale)
        model = rnnprobe_model(W, W_in, phi)
        runs = [one(model, W, W_in, phi, max_lag, args.n_samples, s) for s in range(args.seeds)]
        rp = np.array([t.sum() for _, t, _ in runs])
        rn = np.array([o.total for o, _, _ in runs])
        m0 = np.array([o.same_step for o, _, _ in runs])
        closed = "–"
        if scale < 0.1:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CapacityResolutionWarning)
                lin = cap.predicted_memory_capacity(rnnprobe_model(W, W_in, "linear"), max_lag=max_lag)
            closed = f"{lin.total:.2f}"
        print(f"| {name} | {max_lag} | {rp.mean():.2f} ± {rp.std(ddof=1):.2f} | {rn.mean():.2f} ± {rn.std(ddof=1):.2f} "
              f"| {m0.mean():.3f} | {closed} | {runs[0][0].effective_rank} | {max(d for _, _, d in runs):.1e} |")
    _, hidden, phi, ensemble, radius, scale, _ = CASES[1]
    W, W_in = reservoir(hidden, ensemble, radius, scale)
    model = rnnprobe_model(W, W_in, phi)
    print(f"\nTotal against max_lag, {CASES[1][0]} (seed 0):\n")
    print("| max_lag | ReservoirPy Σ_{k≥1} | rnnprobe total |")
    print("|---|---|---|")
    for max_lag in (25, 50, 100, 200, 400):
        ours, theirs, _ = one(model, W, W_in, phi, max_lag, args.n_samples, 0)
        print(f"| {max_lag} | {theirs.sum():.3f} | {ours.total:.3f} |")


if __name__ == "__main__":
    main()
