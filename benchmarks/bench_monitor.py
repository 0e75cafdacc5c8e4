"""The probe monitor's cost as a ratio to a training step, and the time of a small char-RNN run.

For each core, in the same run and process:

* ``step``: one training step of the char-RNN on the default corpus (forward over
  ``bptt`` characters of ``batch`` streams, cross-entropy, backward, Adam update);
* ``monitor``: one :class:`rnnprobe.ProbeMonitor` call on the same model (record
  the probe sequence, G(k) at every lag, memory length, σ_max per block, the top-k
  Lyapunov exponents, gradient norms), float64;
* ``ratio``: monitor / step — how many training steps one probe costs; with
  ``--probe-every N`` the monitor adds ratio / N to the training time.

Every time is the median of ``--repeat`` calls after a warm-up.

Usage::

    python benchmarks/bench_monitor.py                       # the README table
    python benchmarks/bench_monitor.py --cores lstm --hidden 64 --threads 2
    python benchmarks/bench_monitor.py --run 200             # also time `train` for 200 steps per core
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

from rnnprobe.monitor import ProbeMonitor
from rnnprobe.sequence import CharRNN, TrainConfig, load_corpus, train


def median_time(fn, repeat):
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", default="vanilla-tanh,gru,lstm,nn.LSTM")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--bptt", type=int, default=64)
    parser.add_argument("--probe-length", type=int, default=200)
    parser.add_argument("--lyapunov-k", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--run", type=int, default=0, help="also time a training run of this many steps per core")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    corpus = load_corpus()
    out = []
    for core in args.cores.split(","):
        config = TrainConfig(core=core, hidden_size=args.hidden, batch_size=args.batch, bptt=args.bptt,
                             probe_length=args.probe_length, lyapunov_k=args.lyapunov_k)
        model = CharRNN(config.spec(corpus.vocab_size))
        opt = torch.optim.Adam(model.parameters(), lr=config.lr)
        L = corpus.train.numel() // args.batch
        streams = corpus.train[: L * args.batch].reshape(args.batch, L).T
        x, y = streams[: args.bptt], streams[1 : args.bptt + 1]

        def step():
            logits, _ = model(x)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()

        monitor = ProbeMonitor(corpus.val[: args.probe_length], every=1, lyapunov_k=args.lyapunov_k)
        t_step = median_time(step, args.repeat)
        t_monitor = median_time(lambda: monitor.measure(0, model, parameters=model), args.repeat)
        row = {"core": core, "hidden": args.hidden, "state": model.core_model().state_size,
               "step_s": t_step, "monitor_s": t_monitor, "ratio": t_monitor / t_step}
        if args.run:
            run = TrainConfig(core=core, hidden_size=args.hidden, batch_size=args.batch, bptt=args.bptt,
                              steps=args.run, probe_length=args.probe_length, lyapunov_k=args.lyapunov_k)
            started = time.perf_counter()
            result = train(run, corpus=corpus)
            row.update(run_steps=args.run, run_s=time.perf_counter() - started, val_bpc=result.val_bits_per_char)
        out.append(row)
        if not args.json:
            extra = (f"  train {args.run} steps: {row['run_s']:.1f} s, val {row['val_bpc']:.3f} bits/char"
                     if args.run else "")
            print(f"{core:>13}  state {row['state']:>3}  step {t_step * 1e3:7.1f} ms  monitor {t_monitor * 1e3:8.1f} ms"
                  f"  ratio {row['ratio']:6.1f}{extra}", flush=True)
    if args.json:
        print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
