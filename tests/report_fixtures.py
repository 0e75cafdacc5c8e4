"""Realistic study output for the analysis and report tests.

Writes ``results.csv``, ``summary.csv`` and ``meta.json`` in the columns of
:mod:`rnnprobe.schema` (docs/results.md) by running rnnprobe's real probes on
tiny grids, so the analysis and the reports are exercised on measured numbers,
not invented ones. Three kinds mirror the three studies: ``vanishing``,
``depth`` and ``memory``, with grids of their own (e.g. the memory kind also
records the gradient bounds) so that every figure of the report is drawn.

``rnnprobe.studies.run`` writes the real thing (tested in test_studies_run.py
and, with its report, in test_cli.py and test_study_theory.py).

Examples
--------
>>> import tempfile, pathlib
>>> d = make_study("memory", pathlib.Path(tempfile.mkdtemp()), quick=True)
>>> sorted(p.name for p in d.iterdir())
['meta.json', 'results.csv', 'summary.csv']
"""

from __future__ import annotations

import json
import math
import platform
import tempfile
import time
from datetime import datetime, timezone
from itertools import product
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import rnnprobe
from rnnprobe import schema

__all__ = ["make_study", "study_dir", "GRIDS"]

BASE_GRID = list(schema.GRID_COLUMNS)
LOCATORS = list(schema.ROW_COLUMNS)

GRIDS = {
    "vanishing": dict(arch=["vanilla-tanh", "vanilla-relu", "gru", "lstm", "residual", "dense"],
                      hidden=[8], length=[20, 50], gain=[0.5, 1.0, 2.0], seed=[0, 1]),
    "depth": dict(arch=["mlp", "resmlp", "densemlp"], hidden=[16], depth=[2, 8, 32],
                  gain=[0.8, 1.0, 1.5], seed=[0, 1]),
    "memory": dict(arch=["vanilla-tanh", "gru", "lstm"], hidden=[8], length=[60], gain=[0.9, 1.0], seed=[0],
                   forget_bias=[0.0, 1.0, 3.0], update_bias=[0.0, 2.0]),
}

QUICK = {
    "vanishing": dict(arch=["vanilla-tanh", "lstm"], hidden=[6], length=[15], gain=[0.5, 1.5], seed=[0]),
    "depth": dict(arch=["mlp", "resmlp"], hidden=[8], depth=[2, 6], gain=[1.0], seed=[0]),
    "memory": dict(arch=["vanilla-tanh", "lstm"], hidden=[6], length=[30], gain=[1.0], seed=[0],
                   forget_bias=[0.0, 2.0], update_bias=[0.0]),
}


def _points(study: str, grid: dict) -> list[dict]:
    """Expand a grid; extra options apply only to the architectures that take them."""
    points = []
    for arch, hidden, gain, seed in product(grid["arch"], grid["hidden"], grid["gain"], grid["seed"]):
        sizes = [dict(length=L, depth=np.nan) for L in grid.get("length", [])] or \
                [dict(length=np.nan, depth=L) for L in grid["depth"]]
        extras = [{}]
        if study == "memory":
            if arch == "lstm":
                extras = [dict(forget_bias=b, update_bias=np.nan) for b in grid["forget_bias"]]
            elif arch in ("gru", "gru-torch"):
                extras = [dict(forget_bias=np.nan, update_bias=b) for b in grid["update_bias"]]
            else:
                extras = [dict(forget_bias=np.nan, update_bias=np.nan)]
        for size, extra in product(sizes, extras):
            points.append(dict(study=study, arch=arch, hidden=hidden, gain=gain, seed=seed, **size, **extra))
    return points


def _point_id(point: dict) -> str:
    keys = [k for k in point if k != "study"]
    return "|".join(f"{k}={point[k]}" for k in keys if not (isinstance(point[k], float) and math.isnan(point[k])))


def _rows(point, metric, values, key, *, block=""):
    return [dict(point, metric=metric, **{key: int(k)}, block=block, value=float(v)) for k, v in values]


def _probe_time(point: dict, *, capacity: bool) -> tuple[list[dict], dict]:
    options = dict(gain=point["gain"], seed=point["seed"])
    if not math.isnan(point.get("forget_bias", math.nan)):
        options["forget_bias"] = point["forget_bias"]
    if not math.isnan(point.get("update_bias", math.nan)):
        options["update_bias"] = point["update_bias"]
    model = rnnprobe.build(point["arch"], hidden_size=point["hidden"], **options)
    T = int(point["length"])
    x = torch.randn(T, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(1000 + point["seed"]))
    traj = rnnprobe.record(model, x)
    lags = traj.lags.tolist()
    G = rnnprobe.jacobian_norms(traj)
    b = rnnprobe.gradient_bounds(traj)
    rows = _rows(point, "jacobian_norm", zip(lags, G.tolist()), "lag")
    rows += _rows(point, "gradient_norm", zip(lags, b.gradient.tolist()), "lag")
    rows += _rows(point, "bound_jacobian", zip(lags, b.jacobian.tolist()), "lag")
    rows += _rows(point, "bound_product", zip(lags, b.product.tolist()), "lag")
    if b.weight is not None:
        rows += _rows(point, "bound_weight", zip(lags, b.weight.tolist()), "lag")
    spec = rnnprobe.weight_spectrum(model)
    for name, block in spec.blocks.items():
        rows += _rows(point, "weight_singular_value", enumerate(block.singular_values.tolist()), "index", block=name)
    lam = rnnprobe.trajectory_lyapunov_spectrum(traj)
    rows += _rows(point, "lyapunov_exponent", enumerate(lam.tolist()), "index")
    mem = rnnprobe.memory_length(traj)
    largest = max(spec.blocks.values(), key=lambda s: s.spectral_norm)
    summary = dict(
        memory_threshold=mem.threshold, memory_threshold_censored=mem.threshold_censored,
        memory_efold=mem.efold, efold_slope=mem.slope, efold_slope_low=mem.slope_low,
        efold_slope_high=mem.slope_high, lyapunov_exponent=mem.lyapunov_exponent,
        lyapunov_time=mem.lyapunov_time, sigma_max=spec.sigma_max, spectral_radius=largest.spectral_radius,
        gamma=spec.gamma, pascanu=spec.pascanu, bound_holds=b.holds(), eps=mem.eps,
    )
    if point["study"] == "vanishing":
        # the angle between the unstable and the stable covariant Lyapunov directions, over time
        from rnnprobe.studies._probes import clv_angle_rows

        angle_rows, angle_summary = clv_angle_rows(traj, seed=point["seed"])
        rows += _rows(point, "clv_angle", [(r[1], r[-1]) for r in angle_rows], "lag")
        summary.update(angle_summary)
    if capacity:
        mc = rnnprobe.memory_capacity(model, max_lag=3 * point["hidden"], n_samples=1500, washout=100,
                                      seed=point["seed"])
        rows += _rows(point, "memory_capacity_lag", zip(mc.delays.tolist()[1:], mc.per_lag.tolist()[1:]), "lag")
        summary.update(memory_capacity=mc.total, memory_capacity_same_step=mc.same_step,
                       memory_capacity_rank=mc.effective_rank)
    return rows, summary


def _probe_depth(point: dict) -> tuple[list[dict], dict]:
    L, n = int(point["depth"]), point["hidden"]
    model = rnnprobe.build(point["arch"], hidden_size=n, depth=L, gain=point["gain"], seed=point["seed"])
    x = torch.randn(n, dtype=torch.float64, generator=torch.Generator().manual_seed(1000 + point["seed"]))
    traj = rnnprobe.record(model, x)
    layers = list(range(L))
    G = rnnprobe.jacobian_norms(traj)
    g = rnnprobe.gradient_norms(traj)
    rows = _rows(point, "jacobian_norm", zip(layers, G.tolist()), "layer")
    rows += _rows(point, "gradient_norm", zip(layers, g.tolist()), "layer")
    # input-output Jacobian w.r.t. the network input (the first `width` state entries)
    J = rnnprobe.jacobian_product(traj, 0, L)[:, :n]
    sv = torch.linalg.svdvals(J)
    rows += _rows(point, "jacobian_singular_value", enumerate(sv.tolist()), "index")
    spec = rnnprobe.weight_spectrum(model)
    log_sv = torch.log(sv)
    summary = dict(
        sigma_max=spec.sigma_max, spectral_radius=max(b.spectral_radius or 0.0 for b in spec.blocks.values()),
        gamma=spec.gamma, pascanu=spec.pascanu, bound_holds=rnnprobe.gradient_bounds(traj).holds(),
        log_sv_mean=float(log_sv.mean()), log_sv_std=float(log_sv.std(unbiased=False)),
        max_singular_value=float(sv.max()), min_singular_value=float(sv.min()),
    )
    return rows, summary


def make_study(study: str, directory: Path, *, quick: bool = False, grid: dict | None = None) -> Path:
    """Run the probes on a tiny grid and write the study's three files into ``directory``.

    Parameters
    ----------
    study : {'vanishing', 'depth', 'memory'}
    directory : pathlib.Path
        Created if missing.
    quick : bool
        An even smaller grid (a second or two).
    grid : dict, optional
        Override the grid.

    Returns
    -------
    pathlib.Path
        ``directory``.
    """
    grid = grid or (QUICK if quick else GRIDS)[study]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: threads only contend (10x slower on a busy 2-core machine)
    try:
        return _make_study(study, Path(directory), quick=quick, grid=grid)
    finally:
        torch.set_num_threads(threads)


def _make_study(study: str, directory: Path, *, quick: bool, grid: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    extras = ["forget_bias", "update_bias"] if study == "memory" else []
    start = time.perf_counter()
    all_rows, summaries, seconds = [], [], {}
    for point in _points(study, grid):
        t0 = time.perf_counter()
        pid = _point_id(point)
        if study == "depth":
            rows, summary = _probe_depth(point)
        else:
            rows, summary = _probe_time(point, capacity=study == "memory")
        for r in rows:
            r["point_id"] = pid
        all_rows += rows
        summaries.append(dict(point, point_id=pid, **summary))
        seconds[pid] = time.perf_counter() - t0
    grid_cols = BASE_GRID + extras
    results = pd.DataFrame(all_rows)
    for col in ["lag", "layer", "index"]:
        if col not in results:
            results[col] = np.nan
        results[col] = results[col].astype("Int64")
    results = results[grid_cols + ["point_id"] + LOCATORS]
    results.to_csv(directory / "results.csv", index=False)
    summary = pd.DataFrame(summaries)
    summary = summary[grid_cols + ["point_id"] + [c for c in summary.columns if c not in grid_cols + ["point_id"]]]
    summary.to_csv(directory / "summary.csv", index=False)
    meta = {
        "study": study,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "grid": grid,
        "config": {"quick": quick, "eps": 0.01, "dtype": "float64", "device": "cpu", "jobs": 1,
                   "input_distribution": "N(0, 1)", "input_gain": 1.0, "input_variance": 1.0,
                   "bias_std": 0.0},
        "seeds": grid["seed"],
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
                     "pandas": pd.__version__, "rnnprobe": rnnprobe.__version__},
        "host": {"hostname": "fixture", "platform": platform.platform(), "cpu_count": 2},
        "timings": {"total_s": time.perf_counter() - start, "points": seconds},
        "n_points": len(summaries),
        "columns": {"value": "natural units", "lag": "k = T - t"},
    }
    (directory / "meta.json").write_text(json.dumps(meta, indent=2))
    return directory


_CACHE: dict[tuple[str, bool], Path] = {}


def study_dir(study: str, *, quick: bool = False) -> Path:
    """A fixture study directory, generated once per process (in a temporary directory).

    Treat it as read-only; tests that write should copy it first.
    """
    key = (study, quick)
    if key not in _CACHE:
        _CACHE[key] = make_study(study, Path(tempfile.mkdtemp(prefix=f"rnnprobe-{study}-")), quick=quick)
    return _CACHE[key]


def layout_problems_of_the_report(result, directory) -> dict:
    """The layout checks of tests/test_reports_layout.py over every page and figure of a study's report
    (``result``: a ``rnnprobe.studies.StudyResult``): ``{page or figure: problems}`` for those that have any."""
    from matplotlib.figure import Figure

    from rnnprobe import reports
    from rnnprobe.reports.layout import layout_problems
    from rnnprobe.reports.palette import report_style

    data = reports.StudyData(directory, result.results, result.summary, result.meta, tables=result.tables)
    with report_style():
        built = reports.report.build_report(data)
        problems = {f"page {n}": layout_problems(page) for n, page in enumerate(built.pages, start=1)}
        assert built.figures
        for item in built.figures:
            fig = Figure(figsize=item.size, layout="constrained")
            item.draw(fig)
            problems[item.name] = layout_problems(fig)
    return {k: v for k, v in problems.items() if v}
