"""Speed of jacobian_norms / jacobian_singular_values against what a user would write.

Baselines, measured in the same run:

* ``per-lag``: for every start step t, ``torch.autograd.functional.jacobian`` of the
  unrolled map h_t -> h_T (vectorised), then its spectral norm / singular values;
* ``batched-vjp``: one unroll with autograd, then one backward pass with n batched
  vector-Jacobian products (``is_grads_batched=True``) giving ∂h_T/∂h_t for every t
  at once, then ``torch.linalg.matrix_norm(ord=2)`` / ``svdvals`` of every product;
* ``floor``: the T bare n×n matrix products the backward sweep cannot avoid.

Every contender is timed ``--repeat`` times, interleaved (one round of all, then the
next), after one warm-up round; the table shows the best time and the ratios of best
times, the JSON rows the medians too. ``norms32`` is ``jacobian_norms(precision='float32')``.

Accuracy, in the same run: ``max rel err`` is the largest relative difference of the
float64 norms from the SVDs of the batched-VJP products (``f32 err`` for float32). For
the singular values, a linear RNN whose weight is symmetric with eigenvalues spread
over [0.3, 1] (n, T as in the row) has exact log singular values k·log|s_i| at lag k:
``sv err`` is the largest error in log of ``jacobian_singular_values`` over all values
of all lags, ``naive sv err`` that of ``svdvals`` of the batched-VJP products (which
returns rounding noise for every value below about 1e-16·σ₁ from lag ≈ 30 on).

Usage::

    python benchmarks/bench_jacobian.py --threads 1     # the README table
    python benchmarks/bench_jacobian.py --sizes 128 --lengths 1000 --repeat 5 --threads 1
    python benchmarks/bench_jacobian.py --sizes 24 --lengths 60 --repeat 2 --skip-per-lag --threads 1   # CI

The last line printed starts with ``SUMMARY`` (for CI logs). The per-lag baseline costs
O(T²) steps; for T >= 1000 it is measured on ``--per-lag-sample`` evenly spaced lags and
scaled by the exact sum of the per-lag costs (it is linear in the lag), which the output says.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time

import torch

import rnnprobe


def _sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _times(fns, repeat):
    """Best and median seconds of each function in ``fns`` (a dict), timed interleaved."""
    times = {name: [] for name in fns}
    for rnd in range(repeat + (1 if repeat > 1 else 0)):         # a warm-up round when repeating
        for name, fn in fns.items():
            _sync()
            t0 = time.perf_counter()
            fn()
            _sync()
            if rnd or repeat == 1:
                times[name].append(time.perf_counter() - t0)
    return {name: (min(t), statistics.median(t)) for name, t in times.items()}


def unroll(model, inputs, h, start, stop):
    for t in range(start, stop):
        h = model.step(inputs[t], h, t)
    return h


def per_lag_jacobian(model, traj, t):
    x = traj.inputs
    h_t = traj.states[t, 0]
    f = lambda h: unroll(model, x, h.unsqueeze(0), t, traj.length).squeeze(0)  # noqa: E731
    return torch.autograd.functional.jacobian(f, h_t, vectorize=True)


def baseline_per_lag(model, traj, lags, what):
    out = []
    for t in lags:
        J = per_lag_jacobian(model, traj, t)
        out.append(torch.linalg.matrix_norm(J, ord=2) if what == "norms" else torch.linalg.svdvals(J))
    return out


def baseline_batched_vjp(model, traj, what):
    x, T, n = traj.inputs, traj.length, traj.state_size
    hs = [traj.states[0].clone().requires_grad_(True)]
    for t in range(T):
        hs.append(model.step(x[t], hs[-1], t))
    eye = torch.eye(n, dtype=traj.dtype, device=traj.device).unsqueeze(1)             # (n, B=1, n) batched grad outputs
    rows = torch.autograd.grad(hs[-1], hs[:-1], grad_outputs=eye, is_grads_batched=True)
    J = torch.stack([r[:, 0, :] for r in rows])                    # (T, n, n): ∂h_T/∂h_t
    return torch.linalg.matrix_norm(J, ord=2) if what == "norms" else torch.linalg.svdvals(J)


def floor(traj):
    J = traj.step_jacobians()[:, 0]
    P = torch.eye(traj.state_size, dtype=traj.dtype, device=traj.device)
    for t in range(traj.length - 1, -1, -1):
        P = P @ J[t]
    return P


def sv_accuracy(n, T, device="cpu"):
    """Largest log errors of jacobian_singular_values and of the naive way, against the closed form."""
    g = torch.Generator().manual_seed(1)
    Q = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64, generator=g))[0]
    s = torch.linspace(0.3, 1.0, n, dtype=torch.float64)
    model = rnnprobe.build("vanilla-linear", hidden_size=n, input_size=4, seed=0)
    with torch.no_grad():
        model.W_h.copy_(Q @ torch.diag(s) @ Q.T)
    model.requires_grad_(False)
    model.to(device)
    traj = rnnprobe.record(model, torch.randn(T, 4, dtype=torch.float64, generator=g))
    k = traj.lags.to(torch.float64)[:, None]
    exact = (k * torch.log(s.flip(0))[None, :]).to(device)                # (T, n), decreasing
    ours = rnnprobe.jacobian_singular_values(traj, log=True)
    naive = torch.log(baseline_batched_vjp(model, traj, "svals"))
    return float((ours - exact).abs().max()), float((naive - exact).abs().max())


def bench(n, T, repeat, sample, device="cpu", svals=True):
    torch.manual_seed(0)
    model = rnnprobe.build("vanilla-tanh", hidden_size=n, input_size=4, gain=1.0, init="orthogonal", seed=0)
    model.requires_grad_(False)
    model.to(device)
    traj = rnnprobe.record(model, torch.randn(T, 4, dtype=torch.float64))
    row = {"n": n, "T": T}
    fns = {
        "floor": lambda: floor(traj),
        "norms": lambda: rnnprobe.jacobian_norms(traj),
        "norms32": lambda: rnnprobe.jacobian_norms(traj, precision="float32"),
        "vjp_norms": lambda: baseline_batched_vjp(model, traj, "norms"),
    }
    if svals:
        fns["svals"] = lambda: rnnprobe.jacobian_singular_values(traj)
        fns["vjp_svals"] = lambda: baseline_batched_vjp(model, traj, "svals")
    for name, (best, median) in _times(fns, repeat).items():
        row[f"{name}_s"], row[f"{name}_median_s"] = best, median
    for name in ("svals", "vjp_svals"):
        row.setdefault(f"{name}_s", math.nan)
        row.setdefault(f"{name}_median_s", math.nan)
    if sample == 0:
        lags, scale = [], float("nan")
        row["per_lag_measured"] = "not measured"
    elif T <= sample:
        lags = list(range(T))
        scale = 1.0
        row["per_lag_measured"] = "all lags"
    else:
        lags = sorted({int(round(i)) for i in torch.linspace(0, T - 1, sample).tolist()})
        # cost of lag t is proportional to T - t: scale the sample's cost by the exact total
        scale = sum(T - t for t in range(T)) / sum(T - t for t in lags)
        row["per_lag_measured"] = f"{len(lags)} of {T} lags, scaled x{scale:.1f}"
    per_lag = {"per_lag_norms": lambda: baseline_per_lag(model, traj, lags, "norms")}
    if svals:
        per_lag["per_lag_svals"] = lambda: baseline_per_lag(model, traj, lags, "svals")
    for name in ("per_lag_norms", "per_lag_svals"):
        row[f"{name}_s"] = _times({name: per_lag[name]}, 1)[name][0] * scale if lags and name in per_lag else math.nan
    # accuracy of the norms against the SVD of the batched-VJP products
    ref = baseline_batched_vjp(model, traj, "norms")
    row["max_rel_err"] = float(((rnnprobe.jacobian_norms(traj) - ref).abs() / ref).max())
    row["f32_rel_err"] = float(((rnnprobe.jacobian_norms(traj, precision="float32") - ref).abs() / ref).max())
    row["sv_err"], row["naive_sv_err"] = sv_accuracy(n, T, device) if svals else (math.nan, math.nan)
    row["norms_vs_per_lag"] = row["per_lag_norms_s"] / row["norms_s"]
    row["norms_vs_vjp"] = row["vjp_norms_s"] / row["norms_s"]
    row["norms_vs_floor"] = row["norms_s"] / row["floor_s"]
    row["norms32_vs_vjp"] = row["vjp_norms_s"] / row["norms32_s"]
    row["norms32_vs_floor"] = row["norms32_s"] / row["floor_s"]
    row["svals_vs_per_lag"] = row["per_lag_svals_s"] / row["svals_s"]
    row["svals_vs_vjp"] = row["vjp_svals_s"] / row["svals_s"]
    row["median_norms_vs_floor"] = row["norms_median_s"] / row["floor_median_s"]
    row["median_norms_vs_vjp"] = row["vjp_norms_median_s"] / row["norms_median_s"]
    row["median_norms32_vs_floor"] = row["norms32_median_s"] / row["floor_median_s"]
    row["median_norms32_vs_vjp"] = row["vjp_norms_median_s"] / row["norms32_median_s"]
    row["median_svals_vs_vjp"] = row["vjp_svals_median_s"] / row["svals_median_s"]
    return row


def _ratio(value: float) -> str:
    """A speed ratio for the table: '–' where it was not measured (NaN)."""
    return "–" if math.isnan(value) else f"{value:.0f}x"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="64,128,256")
    p.add_argument("--lengths", default="100,1000")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--per-lag-sample", type=int, default=100)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's)")
    p.add_argument("--skip-per-lag", action="store_true", help="leave out the (slow) per-lag baseline")
    p.add_argument("--norms-only", action="store_true", help="leave out the singular values and their baselines")
    p.add_argument("--json", help="write the rows to this file")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    where = torch.cuda.get_device_name() if args.device == "cuda" else f"{torch.get_num_threads()} threads"
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    print(f"torch {torch.__version__}, {args.device} ({where}{load}), float64, best of {args.repeat}")
    header = ("n", "T", "floor", "norms", "x floor", "vs per-lag", "vs vjp", "norms32", "x floor", "vs vjp",
              "svals", "svals vs per-lag", "svals vs vjp", "max rel err", "f32 err", "sv err", "naive sv err")
    print(" | ".join(header))
    for n in map(int, args.sizes.split(",")):
        for T in map(int, args.lengths.split(",")):
            r = bench(n, T, args.repeat, 0 if args.skip_per_lag else args.per_lag_sample, args.device,
                      svals=not args.norms_only)
            rows.append(r)
            print(f"{n} | {T} | {r['floor_s']:.3f}s | {r['norms_s']:.3f}s | {r['norms_vs_floor']:.2f} | "
                  f"{_ratio(r['norms_vs_per_lag'])} | {r['norms_vs_vjp']:.1f}x | {r['norms32_s']:.3f}s | "
                  f"{r['norms32_vs_floor']:.2f} | {r['norms32_vs_vjp']:.1f}x | {r['svals_s']:.3f}s | "
                  f"{_ratio(r['svals_vs_per_lag'])} | {r['svals_vs_vjp']:.2f}x | {r['max_rel_err']:.1e} | "
                  f"{r['f32_rel_err']:.1e} | {r['sv_err']:.1e} | {r['naive_sv_err']:.1e}"
                  + ("" if r["per_lag_measured"] == "all lags" else f"  (per-lag: {r['per_lag_measured']})"),
                  flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    r = rows[-1]
    print(f"SUMMARY bench_jacobian n={r['n']} T={r['T']} ({where}{load}): norms {r['norms_vs_floor']:.2f}x floor, "
          f"{r['norms_vs_vjp']:.1f}x faster than batched VJP (median {r['median_norms_vs_vjp']:.1f}x); "
          f"float32 norms {r['norms32_vs_floor']:.2f}x floor, {r['norms32_vs_vjp']:.1f}x; "
          f"singular values {r['svals_vs_vjp']:.2f}x faster than batched VJP + svdvals "
          f"(median {r['median_svals_vs_vjp']:.2f}x), log error {r['sv_err']:.1e} vs naive {r['naive_sv_err']:.1e}",
          flush=True)


if __name__ == "__main__":
    main()
