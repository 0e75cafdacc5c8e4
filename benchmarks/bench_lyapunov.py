"""Speed and accuracy of rnnprobe.lyapunov_spectrum against Engelken's reference algorithm.

The setting of Engelken, Wolf & Abbott (2020), ``rate_Lyapunov_spectra`` in
RainerEngelken/RNN-LyapunovSpectra: the rate network's Euler map
``h ← (1 − dt) h + dt W tanh(h)``, N = 100, g = 4 (W = g·N(0, 1)/√N, no autapses),
dt = 0.1, h₀ = (g − 1)·N(0, 1); 100 τ of transient dynamics (1000 steps), then a
Gram–Schmidt frame carried along for nStep/10 = 1000 steps of frame transient and
1000 τ = 10 000 steps that count, with a QR every tONS = 1 τ = 10 steps. The full
spectrum (100 exponents), per τ.

Contenders, timed in the same run:

* ``reference``: a plain numpy loop doing what the reference does (written here
  from its description, not copied): the Euler step, the analytic Jacobian
  ``(1 − dt) I + dt W diag(sech² h)``, ``q ← D q`` every step, QR every 10 steps.
* ``cell``: the same map written as a user's ``torch.nn.Module`` cell, wrapped in
  ``rnnprobe.CellAdapter`` (no analytic Jacobian: rnnprobe differentiates it);
  the transient with ``rnnprobe.record``, then ``rnnprobe.lyapunov_spectrum`` with
  ``burn_in=1000`` over the 11 000 steps.
* ``cell-every-step``: the same with ``reorthonormalize_every=1`` (the algorithm
  before the speed-up: a QR at every step).
* ``analytic``: the same map as a ``RecurrentModel`` with its step Jacobian in
  closed form (what every built-in architecture does).

Where the time goes (``--breakdown``, from the same run): rnnprobe's forward pass
(``record``), its step Jacobians alone, and the spectrum of an already recorded
trajectory; the reference's loop with only its Euler steps.

Accuracy: on rnnprobe's recorded trajectory and from the same start frame, the
reference loop's exponents against rnnprobe's automatic schedule and every-step
schedule (max |Δλ| per τ); and λ₁ and Σλ of the two independent runs (reference
on its own numpy trajectory, rnnprobe on its own: chaos makes them different
trajectories), with the standard error of one run from batch means over ten
stretches of 100 τ.

Usage::

    python benchmarks/bench_lyapunov.py                    # the README table
    python benchmarks/bench_lyapunov.py --repeat 5 --threads 1 --json out.json

Timings on a shared machine are noisy: every contender is run ``--repeat``
times, interleaved, and the best and the median are reported; ratios are of
times from the same run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time


def _threads_from_argv() -> None:
    """Apply ``--threads N`` to the BLAS libraries before numpy and torch load them."""
    for i, arg in enumerate(sys.argv[:-1]):
        if arg == "--threads":
            for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
                os.environ[var] = sys.argv[i + 1]


_threads_from_argv()

import numpy as np  # noqa: E402  (after the thread settings)


# ------------------------------------------------------------------ the reference algorithm (numpy)
def reference_spectrum(W, h0, q0, *, dt, n_transient, n_ons_transient, n_steps, ons_every, states=None):
    """Engelken's algorithm as a plain numpy loop; exponents per τ.

    ``states``: if given, the trajectory to use (``states[n]`` is h after n steps
    of the dynamics, from the end of the transient), instead of integrating one.
    """
    N = W.shape[0]
    h = h0.copy()
    for _ in range(n_transient):                               # transient dynamics, no frame
        h = h * (1 - dt) + W @ np.tanh(h) * dt
    q = q0.copy()
    eye = np.eye(N) * (1 - dt)
    total = np.zeros(q.shape[1])
    for n in range(n_ons_transient + n_steps):
        if states is not None:
            h = states[n]
        D = eye + W * (dt / np.cosh(h) ** 2)                   # the step Jacobian at h
        h_next = h * (1 - dt) + W @ np.tanh(h) * dt
        q = D @ q
        if (n + 1) % ons_every == 0:
            q, r = np.linalg.qr(q)
            if n + 1 > n_ons_transient:
                total += np.log(np.abs(np.diag(r)))
        h = h_next
    return total / (n_steps * dt)


# ------------------------------------------------------------------ the same map as torch models
def _models():
    import torch
    from torch import nn

    import rnnprobe
    from rnnprobe.models.base import RecurrentModel

    class EulerRateCell(nn.Module):
        """A user's cell: ``h ← (1 − dt) h + dt W tanh(h)`` (no input)."""

        def __init__(self, W, dt):
            super().__init__()
            self.W = nn.Parameter(W.clone())
            self.dt = dt
            self.input_size, self.hidden_size = 0, W.shape[0]

        def forward(self, x, h):
            return (1 - self.dt) * h + self.dt * torch.tanh(h) @ self.W.T

    class EulerRateModel(RecurrentModel):
        """The same map with its step Jacobian in closed form."""

        name = "euler-rate"

        def __init__(self, W, dt):
            super().__init__()
            self.W = nn.Parameter(W.clone(), requires_grad=False)
            self.dt = dt
            self.input_size, self.hidden_size = 0, W.shape[0]
            self.state_size = self.hidden_size

        def step(self, x, state, t=0):
            return (1 - self.dt) * state + self.dt * torch.tanh(state) @ self.W.T

        def step_jacobian(self, x, state, t=0):
            eye = torch.eye(self.state_size, dtype=state.dtype, device=state.device)
            return (1 - self.dt) * eye + self.dt * self.W * (1 - torch.tanh(state) ** 2).unsqueeze(-2)

        def recurrent_weights(self):
            return {"W": self.W.detach()}

    def cell(W, dt):
        model = rnnprobe.CellAdapter(EulerRateCell(W, dt))
        model.requires_grad_(False)
        return model

    return cell, EulerRateModel


def rnnprobe_spectrum(model, h0, *, dt, n_transient, n_ons_transient, n_steps, every=None, seed=0):
    """rnnprobe on the same schedule: transient, then burn-in and the counted steps; per τ."""
    import torch

    import rnnprobe

    x = torch.zeros(n_transient, 0, dtype=torch.float64)
    h = rnnprobe.record(model, x, h0).states[-1, 0]
    x = torch.zeros(n_ons_transient + n_steps, 0, dtype=torch.float64)
    lam = rnnprobe.lyapunov_spectrum(model, x, h0=h, burn_in=n_ons_transient, seed=seed, reorthonormalize_every=every)
    return lam.numpy() / dt


def run(args):
    import torch

    import rnnprobe
    from rnnprobe.lyapunov import start_frame

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    N, g, dt = args.n, args.g, args.dt
    n_steps = int(round(args.t_sim / dt))
    n_transient = int(math.ceil(100 / dt)) if args.transient is None else args.transient
    n_ons = n_steps // 10
    rng = np.random.default_rng(args.seed)
    W = g * rng.standard_normal((N, N)) / math.sqrt(N)
    np.fill_diagonal(W, 0.0)
    h0 = (g - 1) * rng.standard_normal(N)
    q0 = np.linalg.qr(rng.standard_normal((N, N)))[0]
    sched = dict(dt=dt, n_transient=n_transient, n_ons_transient=n_ons, n_steps=n_steps)

    cell, EulerRateModel = _models()
    Wt, h0t = torch.from_numpy(W), torch.from_numpy(h0)
    user_cell, analytic = cell(Wt, dt), EulerRateModel(Wt, dt)

    contenders = {
        "reference": lambda: reference_spectrum(W, h0, q0, ons_every=args.ons_every, **sched),
        "cell": lambda: rnnprobe_spectrum(user_cell, h0t, **sched),
        "analytic": lambda: rnnprobe_spectrum(analytic, h0t, **sched),
    }
    if not args.skip_every_step:
        contenders["cell-every-step"] = lambda: rnnprobe_spectrum(user_cell, h0t, every=1, **sched)
    times = {name: [] for name in contenders}
    results = {}
    for _ in range(args.repeat):                               # interleaved: load changes hit all alike
        for name, fn in contenders.items():
            t0 = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - t0)

    # accuracy on one trajectory and one start frame
    x = torch.zeros(n_transient, 0, dtype=torch.float64)
    h_start = rnnprobe.record(user_cell, x, h0t).states[-1, 0]
    traj = rnnprobe.record(user_cell, torch.zeros(n_ons + n_steps, 0, dtype=torch.float64), h_start)
    frame = start_frame(traj, N, 0)[0].numpy()
    ref_same = reference_spectrum(W, h0, frame, ons_every=args.ons_every, states=traj.states[:, 0].numpy(),
                                  **{**sched, "n_transient": 0})
    auto = rnnprobe.trajectory_lyapunov_spectrum(traj, burn_in=n_ons).numpy() / dt
    every = rnnprobe.trajectory_lyapunov_spectrum(traj, burn_in=n_ons, reorthonormalize_every=1).numpy() / dt
    ref_sorted = np.sort(ref_same)[::-1]
    from rnnprobe._qr_sweep import FrameSweep
    sweep = FrameSweep(traj)
    Q = start_frame(traj, N, 0)
    for _, Q, _ in sweep.run(Q, 0, n_ons):
        pass
    # statistical error of λ₁ and of Σλ: batch means over 10 stretches of the counted steps
    batch = n_steps // 10
    assert batch * 10 == n_steps, "t_sim / dt must be a multiple of 10 steps"
    lam1_b, sum_b = np.zeros(10), np.zeros(10)
    for i in range(10):                                         # blocks end at every stretch's end
        for _, Q, R in sweep.run(Q, n_ons + i * batch, n_ons + (i + 1) * batch):
            logd = torch.log(torch.diagonal(R[0]).abs())
            lam1_b[i] += float(logd[0])
            sum_b[i] += float(logd.sum())
    lam1_b, sum_b = lam1_b / (batch * dt), sum_b / (batch * dt)
    stderr = {"lambda1": float(lam1_b.std(ddof=1) / math.sqrt(10)), "sum": float(sum_b.std(ddof=1) / math.sqrt(10))}
    breakdown = _breakdown(W, h0, dt, n_transient + n_ons + n_steps, {"cell": user_cell, "analytic": analytic},
                           h0t, n_ons, args.repeat) if args.breakdown else None

    def stats(name):
        ts = times[name]
        return {"best_s": min(ts), "median_s": statistics.median(ts), "all_s": ts}

    row = {
        "setting": dict(N=N, g=g, dt=dt, steps_counted=n_steps, frame_transient=n_ons, transient=n_transient,
                        qr_every_reference=args.ons_every, threads=torch.get_num_threads(), repeat=args.repeat),
        "times": {name: stats(name) for name in contenders},
        "ratios_best": {name: min(times["reference"]) / min(times[name]) for name in contenders},
        "ratios_median": {name: statistics.median(times["reference"]) / statistics.median(times[name])
                          for name in contenders},
        "accuracy_per_tau": {
            "same_trajectory_auto_vs_reference": float(np.abs(auto - ref_sorted).max()),
            "same_trajectory_every_step_vs_reference": float(np.abs(every - ref_sorted).max()),
            "same_trajectory_auto_vs_every_step": float(np.abs(auto - every).max()),
            "own_runs_lambda1": {"reference": float(results["reference"].max()), "cell": float(results["cell"][0]),
                                 "stderr_one_run": stderr["lambda1"]},
            "own_runs_sum": {"reference": float(results["reference"].sum()), "cell": float(results["cell"].sum()),
                             "stderr_one_run": stderr["sum"]},
        },
        "auto_blocks": {"count": len(sweep.blocks), "median": statistics.median(sweep.blocks),
                        "min": min(sweep.blocks), "max": max(sweep.blocks)},
        "breakdown_best_s": breakdown,
    }
    return row


def _breakdown(W, h0, dt, n_total, models, h0t, burn_in, repeat):
    """Best-of times of the parts: forward passes, Jacobians, the spectrum of a recorded trajectory."""
    import torch

    import rnnprobe

    out = {}

    def best(fn):
        ts = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return min(ts)

    def euler_only():
        h = h0.copy()
        for _ in range(n_total):
            h = h * (1 - dt) + W @ np.tanh(h) * dt

    out["reference: Euler steps only"] = best(euler_only)
    x = torch.zeros(n_total, 0, dtype=torch.float64)
    for name, model in models.items():
        traj = rnnprobe.record(model, x, h0t)
        out[f"{name}: record"] = best(lambda: rnnprobe.record(model, x, h0t))
        out[f"{name}: step Jacobians"] = best(lambda: [traj.step_jacobians(a, min(a + 52, n_total))
                                                      for a in range(0, n_total, 52)])
        out[f"{name}: spectrum of the recorded trajectory"] = best(
            lambda: rnnprobe.trajectory_lyapunov_spectrum(traj, burn_in=burn_in))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--g", type=float, default=4.0)
    p.add_argument("--dt", type=float, default=0.1)
    p.add_argument("--t-sim", type=float, default=1000.0, help="counted time in τ (steps = t_sim / dt)")
    p.add_argument("--transient", type=int, default=None, help="transient steps (default 100 τ)")
    p.add_argument("--ons-every", type=int, default=10, help="the reference's QR interval in steps")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="BLAS/torch threads for every contender")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--skip-every-step", action="store_true", help="leave out the (slow) every-step schedule")
    p.add_argument("--breakdown", action="store_true", help="also time the parts (forward, Jacobians, sweep)")
    p.add_argument("--json", help="write the results to this file")
    args = p.parse_args()
    row = run(args)
    import torch
    print(f"torch {torch.__version__}, numpy {np.__version__}, {row['setting']['threads']} thread(s), float64")
    print(json.dumps(row["setting"]))
    print("contender | best s | median s | reference/contender (best) | (median)")
    for name, t in row["times"].items():
        print(f"{name} | {t['best_s']:.3f} | {t['median_s']:.3f} | {row['ratios_best'][name]:.2f} | "
              f"{row['ratios_median'][name]:.2f}")
    print("accuracy (per τ):", json.dumps(row["accuracy_per_tau"]))
    print("automatic blocks:", json.dumps(row["auto_blocks"]))
    if row["breakdown_best_s"]:
        print("breakdown (best s):")
        for name, t in row["breakdown_best_s"].items():
            print(f"  {name}: {t:.3f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(row, fh, indent=2)


if __name__ == "__main__":
    main()
