"""The studies: discovery, grids, and one probed grid point against independent references."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import rnnprobe
from rnnprobe import studies
from rnnprobe.linalg import start_vectors
from rnnprobe.studies._probes import sequence

ROOT = Path(__file__).resolve().parents[1]
NAMES = ["attention", "depth", "memory", "theory", "training", "vanishing"]


def rows_of(record, metric, **where):
    """(lag|layer|index, value) pairs of one metric in a run_point record."""
    out = []
    for m, lag, layer, index, block, value in record["rows"]:
        if m == metric and all({"block": block}.get(k) == v for k, v in where.items()):
            out.append((next(x for x in (lag, layer, index) if x is not None), value))
    return out


# ------------------------------------------------------------------ discovery and contract
def test_available_lists_studies_with_their_question():
    found = studies.available()
    assert sorted(found) == NAMES
    for name, question in found.items():
        module = studies.load(name).module
        assert question == module.__doc__.strip().splitlines()[0]
        assert question.endswith("?")


def test_listing_does_not_import_torch():
    code = ("import sys; from rnnprobe import studies, schema, _validation; studies.available(); "
            "print(sorted(m for m in ('torch', 'pandas', 'numpy') if m in sys.modules) == [])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin"}, check=True)
    assert out.stdout.strip() == "True"


def test_adding_a_study_is_adding_a_file(tmp_path, monkeypatch):
    pkg = tmp_path / "studies"
    pkg.mkdir()
    for f in (ROOT / "studies").glob("*.py"):
        (pkg / f.name).write_text(f.read_text())
    (pkg / "toy.py").write_text('"""Does a toy study show up?"""\nARCHS = ("vanilla-linear",)\n'
                                'GRID = {"arch": ["vanilla-linear"], "seed": [0]}\nQUICK = GRID\n'
                                'def probe(point, *, dtype, device):\n    return [], {}\n')
    monkeypatch.setattr(studies, "_package_dir", lambda: pkg)
    assert studies.available()["toy"] == "Does a toy study show up?"


def test_malformed_study_module_is_reported():
    import types

    module = types.ModuleType("bad")
    module.__doc__ = "Bad?"
    module.ARCHS, module.GRID, module.QUICK = ("gru",), {"arch": ["gru"], "colour": ["red"]}, {"arch": ["gru"]}
    with pytest.raises(studies.RnnProbeStudyError, match="must equal GRID's and be core or EXTRA_AXES"):
        studies.Study.from_module("bad", module)


def test_unknown_study_suggests_nearest():
    with pytest.raises(rnnprobe.InvalidArgument, match="unknown study 'vanishng'.*did you mean 'vanishing'"):
        studies.load("vanishng")


@pytest.mark.parametrize("name", NAMES)
def test_study_contract(name):
    study = studies.load(name)
    assert set(study.grid) == set(study.quick) == set(study.axes)
    known = set(rnnprobe.architectures) | {"stacked-rnn"}
    assert set(study.archs) <= known
    for quick in (False, True):
        points = study.points(study.resolve(quick=quick))
        ids = [study.point_id(p) for p in points]
        assert len(set(ids)) == len(ids) > 0
        assert all(set(p) == set(studies.CORE_AXES) | set(study.extra_columns) for p in points)
    assert set(study.column_docs()["results.csv"]) == set(study.result_columns())
    assert set(study.column_docs()["summary.csv"]) == set(study.summary_columns())


def test_default_grid_sizes():
    counts = {name: len(studies.load(name).points(studies.load(name).resolve())) for name in NAMES}
    assert counts == {"vanishing": 9 * 5 * 3 * 2, "depth": 4 * 7 * 3 * 2 * 2, "memory": (1 + 4 + 4 + 5 + 1 + 1) * 2 * 2,
                      "theory": 92 * 5,       # 92 checks (prediction x setting x quantity) x 5 seeds
                      "training": 3 + 1,      # vanilla-tanh, gru, lstm, and vanilla-tanh flossed
                      "attention": 4 * 2 * 4 * 2}     # model x task x length x seed


def test_depth_length_only_for_stacked_rnn():
    study = studies.load("depth")
    for p in study.points(study.resolve(quick=True)):
        assert (p["length"] is not None) == (p["arch"] == "stacked-rnn")


def test_memory_bias_axes_follow_the_architecture():
    study = studies.load("memory")
    points = study.points(study.resolve())
    for p in points:
        assert (p["forget_bias"] is not None or p["chrono"] is not None) == (p["arch"] == "lstm")
        assert not (p["forget_bias"] is not None and p["chrono"] is not None)
        assert (p["update_bias"] is not None) == (p["arch"] in ("gru", "gru-torch"))
    # the min-gated cells take the axis of their option's name; the other new architectures none
    grid = study.resolve({"arch": ["mingru", "minlstm", "lru", "s6"]})
    points = study.points(grid)
    assert {p["update_bias"] for p in points if p["arch"] == "mingru"} == set(grid["update_bias"])
    assert {p["forget_bias"] for p in points if p["arch"] == "minlstm"} == set(grid["forget_bias"])
    assert all(p["update_bias"] is None and p["forget_bias"] is None for p in points if p["arch"] in ("lru", "s6"))


def test_vanishing_default_grid_has_the_diagonal_recurrences():
    grid = studies.load("vanishing").resolve()
    assert {"lru", "mingru"} <= set(grid["arch"])
    assert set(grid["arch"]) <= set(studies.load("vanishing").module.ARCHS)


@pytest.mark.parametrize("arch", ["lru", "mingru", "s6", "unitary"])
def test_vanishing_point_of_a_new_architecture_matches_autograd_and_theory(arch):
    point = dict(arch=arch, hidden=4, length=30, depth=None, gain=0.9, seed=3, init="orthogonal")
    record = studies.run_point(point, study="vanishing")
    model = studies.load("vanishing").module.build_model(point)
    xs = sequence(3, 30, 1)
    G = dict(rows_of(record, "jacobian_norm"))
    for k in (1, 7, 30):
        assert G[k] == pytest.approx(float(torch.linalg.matrix_norm(_unrolled_product(model, xs, k), ord=2)), rel=1e-9)
    s = record["summary"]
    assert s["bound_holds"] is True
    if arch == "lru":                  # G(k) = ρ^k exactly, ρ = 0.9·max|λ| the spectral radius of Λ
        rho = 0.9 * float(rnnprobe.build("lru", hidden_size=4, seed=3).eigenvalues().abs().max())
        assert s["spectral_radius"] == pytest.approx(rho, rel=1e-12)
        assert all(G[k] == pytest.approx(rho**k, rel=1e-10) for k in G)
        assert s["memory_efold"] == pytest.approx(-1 / math.log(rho), rel=1e-9)


def test_resolve_overrides_and_rejects_bad_values():
    study = studies.load("vanishing")
    grid = study.resolve({"gain": [2], "seed": [0, 3]})
    assert grid["gain"] == [2.0] and isinstance(grid["gain"][0], float) and grid["seed"] == [0, 3]
    bad = [({"depth": [3]}, "depth", "does not apply"), ({"length": [-5]}, "length", ">= 1"),
           ({"arch": ["gru", "lstmm"]}, "arch", "did you mean 'lstm'"), ({"arch": []}, "arch", "at least one"),
           ({"gain": [1.0, 1.0]}, "gain", "twice"), ({"gain": [math.inf]}, "gain", "finite"),
           ({"seed": [1.5]}, "seed", "integers"), ({"init": ["uniform"]}, "init", "one of")]
    for overrides, axis, message in bad:
        with pytest.raises(studies.GridError, match=message) as info:
            study.resolve(overrides)
        assert info.value.axis == axis


def test_point_id_is_stable_and_readable():
    study = studies.load("memory")
    p = dict(arch="lstm", hidden=8, length=50, depth=None, gain=1.0, seed=0, init="orthogonal",
             forget_bias=None, update_bias=None, chrono=50)
    assert study.point_id(p) == "memory:arch=lstm,hidden=8,length=50,gain=1.0,seed=0,init=orthogonal,chrono=50"


# ------------------------------------------------------------------ vanishing: one point against autograd
def _unrolled_product(model, xs, k):
    """d h_T / d h_{T-k} of the unrolled model, by torch.autograd (the reference)."""
    with torch.no_grad():
        h = model.initial_state(1)
        states = [h]
        for t in range(xs.shape[0]):
            h = model.step(xs[t : t + 1], h, t)
            states.append(h)
    T = xs.shape[0]

    def tail(s):
        s = s.unsqueeze(0)
        for t in range(T - k, T):
            s = model.step(xs[t : t + 1], s, t)
        return s.squeeze(0)

    return torch.autograd.functional.jacobian(tail, states[T - k].squeeze(0))


@pytest.mark.parametrize("arch", ["vanilla-tanh", "lstm", "dense"])
def test_vanishing_point_matches_autograd(arch):
    point = dict(arch=arch, hidden=5, length=12, depth=None, gain=1.3, seed=4, init="orthogonal")
    record = studies.run_point(point, study="vanishing")
    model = studies.load("vanishing").module.build_model(point)
    xs = sequence(4, 12, 1)
    u = start_vectors(1, 5, dtype=torch.float64, device="cpu", seed=4)[0]
    G = dict(rows_of(record, "jacobian_norm"))
    g = dict(rows_of(record, "gradient_norm"))
    assert sorted(G) == list(range(1, 13))
    for k in (1, 4, 12):
        P = _unrolled_product(model, xs, k)
        assert G[k] == pytest.approx(float(torch.linalg.matrix_norm(P, ord=2)), rel=1e-9)
        # L = u.h_T: dL/ds_{T-k} = u^T (dh_T/ds_{T-k}), h_T the first n entries of the state
        assert g[k] == pytest.approx(float(torch.linalg.vector_norm(u @ P[:5])), rel=1e-9)
    chain = ["gradient_norm", "bound_jacobian", "bound_product"] + (["bound_weight"] if arch == "vanilla-tanh" else [])
    series = [dict(rows_of(record, m)) for m in chain]
    for lo, hi in zip(series, series[1:]):
        assert all(lo[k] <= hi[k] * (1 + 1e-9) for k in lo)
    assert record["summary"]["bound_holds"] is True
    assert ("bound_weight" in {r[0] for r in record["rows"]}) == (arch == "vanilla-tanh")


def test_vanishing_point_spectrum_and_memory_summary():
    point = dict(arch="vanilla-tanh", hidden=6, length=40, depth=None, gain=0.5, seed=1, init="orthogonal")
    record = studies.run_point(point, study="vanishing")
    s = record["summary"]
    # orthogonal init: every singular value and the spectral radius equal the gain
    assert [v for _, v in rows_of(record, "weight_singular_value", block="W_h")] == pytest.approx([0.5] * 6, rel=1e-12)
    assert s["sigma_max"] == pytest.approx(0.5) and s["spectral_radius"] == pytest.approx(0.5)
    assert s["pascanu"] == "vanishing" and s["gamma"] == 1.0
    # tanh: G(k) <= 0.5^k, so the threshold at eps = 0.01 is below log(0.01)/log(0.5) = 6.6
    G = dict(rows_of(record, "jacobian_norm"))
    assert all(G[k] <= 0.5**k * (1 + 1e-12) for k in G)
    assert s["memory_threshold"] == max(k for k, v in G.items() if v >= 0.01) <= 6
    assert s["memory_threshold_censored"] is False and s["eps"] == 0.01
    lam = [v for _, v in rows_of(record, "lyapunov_exponent")]
    assert len(lam) == 6 and lam == sorted(lam, reverse=True) and lam[0] <= math.log(0.5) + 1e-9
    assert s["lyapunov_exponent"] <= math.log(0.5) + 1e-9 and s["lyapunov_time"] == pytest.approx(-1 / s["lyapunov_exponent"])


def test_run_point_is_deterministic_and_float32_works():
    point = dict(arch="gru", hidden=4, length=15, depth=None, gain=1.0, seed=2, init="orthogonal")
    a = studies.run_point(point, study="vanishing")
    b = studies.run_point(point, study="vanishing")
    assert a.pop("elapsed_s") > 0 and b.pop("elapsed_s") > 0
    assert a == b and "elapsed_s" not in a["summary"] and (a["dtype"], a["device"]) == ("float64", "cpu")
    c = studies.run_point(point, study="vanishing", dtype="float32")
    G64, G32 = dict(rows_of(a, "jacobian_norm")), dict(rows_of(c, "jacobian_norm"))
    assert all(G32[k] == pytest.approx(G64[k], rel=1e-4) for k in G64)
    assert c["summary"]["bound_holds"] is True


# ------------------------------------------------------------------ depth
def test_stacked_rnn_slice_is_the_unrolled_stack_jacobian():
    depth_study = studies.load("depth").module
    model, x_T, unrolled, xs = depth_study.stacked_rnn_slice(4, 3, 6, gain=1.2, init="gaussian", seed=5)

    def top(x_last):
        return unrolled(torch.cat([xs[:-1], x_last.unsqueeze(0)]))

    reference = torch.autograd.functional.jacobian(top, x_T)
    traj = rnnprobe.record(model, x_T)
    assert torch.allclose(rnnprobe.jacobian_product(traj), reference, atol=1e-13)
    assert torch.allclose(traj.states[-1, 0], unrolled(xs), atol=1e-14)


@pytest.mark.parametrize("arch", ["mlp", "resmlp", "densemlp", "stacked-rnn"])
def test_depth_point_matches_autograd(arch):
    point = dict(arch=arch, hidden=4, depth=5, length=6 if arch == "stacked-rnn" else None, gain=1.1, seed=3,
                 init="orthogonal")
    record = studies.run_point(point, study="depth")
    model, x = studies.load("depth").module.build_chain(point)

    def forward(v):
        s = model.input_state(v.unsqueeze(0))
        for l in range(model.depth):
            s = model.step(None, s, l)
        return s.squeeze(0)

    J = torch.autograd.functional.jacobian(forward, x)           # ds_L/dx, (state, n)
    sv = torch.linalg.svdvals(J)
    got = [v for _, v in rows_of(record, "jacobian_singular_value")]
    assert got == pytest.approx(sv.tolist(), rel=1e-9)
    s = record["summary"]
    assert s["log_sv_mean"] == pytest.approx(float(torch.log(sv).mean()), rel=1e-9, abs=1e-12)
    assert s["log_sv_std"] == pytest.approx(float(torch.log(sv).std(unbiased=False)), rel=1e-9, abs=1e-12)
    assert s["max_singular_value"] == pytest.approx(float(sv[0])) and s["min_singular_value"] == pytest.approx(float(sv[-1]))
    assert [l for l, _ in rows_of(record, "jacobian_norm")] == list(range(5))
    assert dict(rows_of(record, "jacobian_norm"))[0] == pytest.approx(float(torch.linalg.matrix_norm(
        rnnprobe.jacobian_product(rnnprobe.record(model, x)), ord=2)), rel=1e-9)
    assert s["bound_holds"] is True
    if arch == "densemlp":   # the output contains the input: all singular values >= 1
        assert min(got) >= 1 - 1e-12


def test_orthogonal_linear_regime_is_an_isometry():
    # tanh at tiny inputs is linear; orthogonal weights with gain 1 make an exact isometry in the limit
    depth_study = studies.load("depth").module
    point = dict(arch="mlp", hidden=6, depth=8, length=None, gain=1.0, seed=0, init="orthogonal")
    model, _ = depth_study.build_chain(point)
    traj = rnnprobe.record(model, torch.full((6,), 1e-9, dtype=torch.float64))
    sv = rnnprobe.jacobian_singular_values(traj)[0]
    assert torch.allclose(sv, torch.ones(6, dtype=torch.float64), atol=1e-12)


# ------------------------------------------------------------------ memory
def test_memory_point_capacity_and_biases():
    study = studies.load("memory")
    point = dict(arch="lstm", hidden=4, length=30, depth=None, gain=1.0, seed=0, init="orthogonal",
                 forget_bias=None, update_bias=None, chrono=30)
    record = studies.run_point(point, study="memory")
    mc = rows_of(record, "memory_capacity_lag")
    assert [k for k, _ in mc] == list(range(1, 9))            # Jaeger's delays k >= 1: u(t - k)
    n_test = 400                                                # 20% of mc_settings(4)'s 2000 samples held out
    assert all(-1 / (n_test - 2) <= v <= 1 for _, v in mc)
    summary = record["summary"]
    assert summary["memory_capacity"] == pytest.approx(sum(v for _, v in mc), rel=1e-12)
    assert 0 < summary["memory_capacity"] <= 4 and 0 < summary["memory_capacity_same_step"] <= 1
    assert summary["memory_capacity_rank"] == 4
    direct = rnnprobe.memory_capacity(study.module.build_model(point), max_lag=8, n_samples=2000, washout=200, seed=0)
    assert direct.n_test == n_test and summary["memory_capacity_same_step"] == direct.same_step
    # chrono: b_f = log U(1, T_max - 1) and b_i = -b_f
    model = study.module.build_model(point)
    b_f, b_i = model.bias_ih[4:8], model.bias_ih[:4]
    assert bool(((b_f >= 0) & (b_f <= math.log(29))).all()) and torch.equal(b_i, -b_f)
    gru = study.module.build_model(dict(point, arch="gru", chrono=None, update_bias=3.0))
    assert torch.allclose(gru.bias_ih[4:8], torch.full((4,), 3.0, dtype=torch.float64))


def test_memory_longer_with_larger_forget_bias():
    study = studies.load("memory")
    base = dict(arch="lstm", hidden=4, length=100, depth=None, gain=0.5, seed=0, init="orthogonal",
                update_bias=None, chrono=None)
    short = studies.run_point(dict(base, forget_bias=0.0), study="memory")["summary"]
    long = studies.run_point(dict(base, forget_bias=4.0), study="memory")["summary"]
    assert long["memory_efold"] > 3 * short["memory_efold"]
    assert long["memory_threshold"] > short["memory_threshold"]


def test_result_rows_quote_awkward_names(tmp_path):
    import csv

    from rnnprobe.studies._runner import write_csv

    study = studies.load("vanishing")
    point = dict(arch="gru", hidden=2, length=3, depth=None, gain=1.0, seed=0, init="orthogonal")
    pid = study.point_id(point)
    records = {pid: {"rows": [["weight_singular_value", None, None, 0, "W,odd\"block", 0.5],
                              ["jacobian_norm", 1, None, None, None, 1e-300]]}}
    write_csv(tmp_path / "r.csv", study.result_columns(), study.result_rows([point], records))
    with open(tmp_path / "r.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["block"] for r in rows] == ['W,odd"block', ""]
    assert [float(r["value"]) for r in rows] == [0.5, 1e-300] and rows[0]["point_id"] == pid
    assert rows[1]["lag"] == "1" and rows[1]["index"] == "" and rows[0]["depth"] == ""


def test_docs_describe_every_column_and_metric():
    text = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    documented = set(__import__("re").findall(r"`([a-z_]+)`", text))
    names = set(studies.METRICS) | set(studies.RESULT_COLUMNS) | set(studies.SUMMARY_COLUMNS)
    for name in NAMES:
        study = studies.load(name)
        names |= set(study.extra_columns) | set(study.metrics) | set(study.summary_scalars) | set(study.extra_rows)
    assert names - documented == set()
