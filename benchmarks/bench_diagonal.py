"""Speed of the O(T·n) path for diagonal recurrences against rnnprobe's general sweep, in the same run.

For models whose step Jacobians are diagonal (``mingru``, ``s6``) or 2×2-block
(``lru``), ``jacobian_norms`` and ``jacobian_singular_values`` take the block path
(``rnnprobe.blocks``); ``diagonal=False`` forces the general backward sweep of
dense n×n products (subspace iteration for the norms, SVD + QR sweeps for the
singular values). Both are timed on the same trajectory, alternating, ``--repeat``
times each after a warm-up; the output gives best-of and median times and the
ratios. ``--long`` adds one run of the block path alone at T = 10⁶ (record and norms).

Usage::

    python benchmarks/bench_diagonal.py                       # the README numbers: state size 128, T = 10⁴
    python benchmarks/bench_diagonal.py --state 64 --length 1000 --repeat 3 --singular-values
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

import rnnprobe


def _sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _once(fn) -> float:
    _sync()
    t0 = time.perf_counter()
    fn()
    _sync()
    return time.perf_counter() - t0


def _alternate(fns: dict, repeat: int) -> dict:
    """Time each function ``repeat`` times, alternating between them, after one warm-up call each."""
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            times[name].append(_once(fn))
    return {name: {"best": min(t), "median": statistics.median(t), "all": t} for name, t in times.items()}


def model_for(arch: str, state: int, seed: int = 0):
    """A model whose state has ``state`` entries (the LRU's hidden size is half its real state)."""
    hidden = state // 2 if arch == "lru" else state
    return rnnprobe.build(arch, hidden_size=hidden, seed=seed)


def bench(arch: str, state: int, length: int, repeat: int, singular_values: bool) -> dict:
    model = model_for(arch, state)
    x = torch.randn(length, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    record_s = _once(lambda: rnnprobe.record(model, x))
    traj = rnnprobe.record(model, x)
    fast = rnnprobe.jacobian_norms(traj, log=True)
    general = rnnprobe.jacobian_norms(traj, log=True, diagonal=False)
    out = {"arch": arch, "state": state, "length": length, "record_s": record_s,
           "max_abs_log_diff": float((fast - general).abs().max())}
    norms = _alternate({"block": lambda: rnnprobe.jacobian_norms(traj, log=True),
                        "general": lambda: rnnprobe.jacobian_norms(traj, log=True, diagonal=False)}, repeat)
    out["norms"] = norms
    out["norms_ratio_best"] = norms["general"]["best"] / norms["block"]["best"]
    out["norms_ratio_median"] = norms["general"]["median"] / norms["block"]["median"]
    if singular_values:
        sv = _alternate({"block": lambda: rnnprobe.jacobian_singular_values(traj, log=True),
                         "general": lambda: rnnprobe.jacobian_singular_values(traj, log=True, diagonal=False)},
                        repeat)
        out["singular_values"] = sv
        out["sv_ratio_best"] = sv["general"]["best"] / sv["block"]["best"]
        out["sv_ratio_median"] = sv["general"]["median"] / sv["block"]["median"]
    return out


def long_run(arch: str, state: int, length: int) -> dict:
    model = model_for(arch, state)
    x = torch.randn(length, 1, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    t0 = time.perf_counter()
    traj = rnnprobe.record(model, x)
    t_record = time.perf_counter() - t0
    t0 = time.perf_counter()
    log_G = rnnprobe.jacobian_norms(traj, log=True)
    t_norms = time.perf_counter() - t0
    return {"arch": arch, "state": state, "length": length, "record_s": t_record, "norms_s": t_norms,
            "log_G_longest_lag": float(log_G[0]), "finite": bool(torch.isfinite(log_G).all())}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--archs", default="mingru,lru,s6")
    parser.add_argument("--state", type=int, default=128, help="state size n (the LRU: n/2 complex units)")
    parser.add_argument("--length", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--singular-values", action="store_true", help="also time jacobian_singular_values")
    parser.add_argument("--long", type=int, default=0, help="also run the block path alone at this T (e.g. 1000000)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = {"threads": args.threads, "runs": [], "long": []}
    for arch in args.archs.split(","):
        r = bench(arch, args.state, args.length, args.repeat, args.singular_values)
        results["runs"].append(r)
        line = (f"{arch:7s} n={args.state} T={args.length}: norms block {r['norms']['block']['best']:.4f} s "
                f"(median {r['norms']['block']['median']:.4f}), general {r['norms']['general']['best']:.3f} s "
                f"(median {r['norms']['general']['median']:.3f}): {r['norms_ratio_best']:.0f}x best, "
                f"{r['norms_ratio_median']:.0f}x median; max |Δ log G| {r['max_abs_log_diff']:.1e}")
        if args.singular_values:
            line += (f"; singular values {r['sv_ratio_best']:.0f}x best ({r['singular_values']['block']['best']:.3f} s "
                     f"vs {r['singular_values']['general']['best']:.2f} s), {r['sv_ratio_median']:.0f}x median")
        print(line, flush=True)
    if args.long:
        for arch in args.archs.split(","):
            r = long_run(arch, args.state, args.long)
            results["long"].append(r)
            print(f"{arch:7s} n={args.state} T={args.long}: record {r['record_s']:.1f} s, jacobian_norms "
                  f"{r['norms_s']:.2f} s, log G at lag T = {r['log_G_longest_lag']:.6g}, all finite: {r['finite']}",
                  flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
