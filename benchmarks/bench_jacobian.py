"""Speed of jacobian_norms / jacobian_singular_values against what a user would write.

Baselines, measured in the same run:

* ``per-lag``: for every start step t, ``torch.autograd.functional.jacobian`` of the
  unrolled map h_t -> h_T (vectorised), then its spectral norm / singular values;
* ``batched-vjp``: one unroll with autograd, then one backward pass with n batched
  vector-Jacobian products (``is_grads_batched=True``) giving ∂h_T/∂h_t for every t
  at once, then ``torch.linalg.matrix_norm(ord=2)`` / ``svdvals`` of every product;
* ``floor``: the T bare n×n matrix products the backward sweep cannot avoid.

Usage::

    python benchmarks/bench_jacobian.py                 # the README table
    python benchmarks/bench_jacobian.py --sizes 128 --lengths 1000 --repeat 3

The per-lag baseline costs O(T²) steps; for T >= 1000 it is measured on
``--per-lag-sample`` evenly spaced lags and scaled by the exact sum of the
per-lag costs (it is linear in the lag), which the output says.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

import rnnprobe


def _sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _time(fn, repeat):
    times = []
    fn() if repeat > 1 else None                       # warm-up (kernels, caches) when repeating
    for _ in range(repeat):
        _sync()
        t0 = time.perf_counter()
        fn()
        _sync()
        times.append(time.perf_counter() - t0)
    return min(times)


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


def bench(n, T, repeat, sample, device="cpu", svals=True):
    torch.manual_seed(0)
    model = rnnprobe.build("vanilla-tanh", hidden_size=n, input_size=4, gain=1.0, init="orthogonal", seed=0)
    model.requires_grad_(False)
    model.to(device)
    traj = rnnprobe.record(model, torch.randn(T, 4, dtype=torch.float64))
    row = {"n": n, "T": T}
    row["floor_s"] = _time(lambda: floor(traj), repeat)
    row["norms_s"] = _time(lambda: rnnprobe.jacobian_norms(traj), repeat)
    row["svals_s"] = _time(lambda: rnnprobe.jacobian_singular_values(traj), repeat) if svals else float("nan")
    row["vjp_norms_s"] = _time(lambda: baseline_batched_vjp(model, traj, "norms"), repeat)
    row["vjp_svals_s"] = _time(lambda: baseline_batched_vjp(model, traj, "svals"), repeat) if svals else float("nan")
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
    row["per_lag_norms_s"] = _time(lambda: baseline_per_lag(model, traj, lags, "norms"), 1) * scale if lags else scale
    row["per_lag_svals_s"] = (_time(lambda: baseline_per_lag(model, traj, lags, "svals"), 1) * scale
                              if lags and svals else float("nan"))
    # accuracy of the default (power) norms against the SVD of the batched-VJP products
    ref = baseline_batched_vjp(model, traj, "norms")
    ours = rnnprobe.jacobian_norms(traj)
    row["max_rel_err"] = float(((ours - ref).abs() / ref).max())
    row["norms_vs_per_lag"] = row["per_lag_norms_s"] / row["norms_s"]
    row["norms_vs_vjp"] = row["vjp_norms_s"] / row["norms_s"]
    row["norms_vs_floor"] = row["norms_s"] / row["floor_s"]
    row["svals_vs_per_lag"] = row["per_lag_svals_s"] / row["svals_s"]
    row["svals_vs_vjp"] = row["vjp_svals_s"] / row["svals_s"]
    return row


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="64,128,256")
    p.add_argument("--lengths", default="100,1000")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--per-lag-sample", type=int, default=100)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--skip-per-lag", action="store_true", help="leave out the (slow) per-lag baseline")
    p.add_argument("--norms-only", action="store_true", help="leave out the singular values and their baselines")
    p.add_argument("--json", help="write the rows to this file")
    args = p.parse_args()
    rows = []
    where = torch.cuda.get_device_name() if args.device == "cuda" else f"{torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, {args.device} ({where}), float64")
    header = ("n", "T", "floor", "norms", "x floor", "vs per-lag", "vs vjp", "svals", "svals vs per-lag", "svals vs vjp", "max rel err")
    print(" | ".join(header))
    for n in map(int, args.sizes.split(",")):
        for T in map(int, args.lengths.split(",")):
            r = bench(n, T, args.repeat, 0 if args.skip_per_lag else args.per_lag_sample, args.device,
                      svals=not args.norms_only)
            rows.append(r)
            print(f"{n} | {T} | {r['floor_s']:.3f}s | {r['norms_s']:.3f}s | {r['norms_vs_floor']:.2f} | "
                  f"{r['norms_vs_per_lag']:.0f}x | {r['norms_vs_vjp']:.1f}x | {r['svals_s']:.3f}s | "
                  f"{r['svals_vs_per_lag']:.0f}x | {r['svals_vs_vjp']:.1f}x | {r['max_rel_err']:.1e}"
                  + ("" if r["per_lag_measured"] == "all lags" else f"  (per-lag: {r['per_lag_measured']})"),
                  flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
