"""Every probe on a CUDA device gives what it gives on the CPU (skipped without CUDA).

The same float64 model and inputs are probed on both devices; the results must
agree to rounding (different BLAS/cuSOLVER kernels sum in different orders), and
every result must stay on the device it was computed on.
"""

from __future__ import annotations

import copy

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

import rnnprobe
from rnnprobe.cli import main

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

F64 = torch.float64
RECURRENT = ["vanilla-tanh", "vanilla-relu", "vanilla-sigmoid", "gru", "gru-torch", "lstm", "residual", "dense"]
FEEDFORWARD = ["mlp", "resmlp", "densemlp"]


def _pair(name, hidden=40, **options):
    cpu = rnnprobe.build(name, hidden_size=hidden, seed=3, **options)
    return cpu, copy.deepcopy(cpu).to("cuda")


def _inputs(model, length=80, batch=None):
    g = torch.Generator().manual_seed(7)
    if model.kind == "feedforward":
        return torch.randn(model.width, generator=g, dtype=F64)
    shape = (length, model.input_size) if batch is None else (length, batch, model.input_size)
    return torch.randn(*shape, generator=g, dtype=F64)


def _close(cuda_value, cpu_value, rtol=1e-9, atol=1e-12):
    assert cuda_value.device.type == "cuda"
    torch.testing.assert_close(cuda_value.cpu(), cpu_value, rtol=rtol, atol=atol, equal_nan=True)


@pytest.mark.parametrize("name", RECURRENT + FEEDFORWARD)
def test_trajectories_and_jacobian_norms_agree_across_devices(name):
    cpu, gpu = _pair(name)
    x = _inputs(cpu)
    t_cpu, t_gpu = rnnprobe.record(cpu, x), rnnprobe.record(gpu, x)
    _close(t_gpu.states, t_cpu.states, rtol=1e-12)
    _close(t_gpu.step_jacobians(), t_cpu.step_jacobians(), rtol=1e-11)
    for method in ("power", "svd"):
        _close(rnnprobe.jacobian_norms(t_gpu, method=method, log=True),
               rnnprobe.jacobian_norms(t_cpu, method=method, log=True), rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", ["vanilla-tanh", "lstm", "dense"])
def test_singular_values_gradients_and_bounds_agree_across_devices(name):
    cpu, gpu = _pair(name, hidden=24)
    x = _inputs(cpu, length=120, batch=2)
    t_cpu, t_gpu = rnnprobe.record(cpu, x), rnnprobe.record(gpu, x)
    sv_cpu = rnnprobe.jacobian_singular_values(t_cpu, log=True)
    sv_gpu = rnnprobe.jacobian_singular_values(t_gpu, log=True)
    # the largest values come from SVDs of the products (rounding-level agreement); the tail
    # below float64 resolution from the QR sweep, documented accurate to ~1e-5 in log
    _close(sv_gpu[..., 0], sv_cpu[..., 0], rtol=0, atol=1e-9)
    _close(sv_gpu, sv_cpu, rtol=0, atol=2e-4)
    _close(rnnprobe.gradient_norms(t_gpu, log=True), rnnprobe.gradient_norms(t_cpu, log=True), rtol=0, atol=1e-9)
    b_cpu, b_gpu = rnnprobe.gradient_bounds(t_cpu, log=True), rnnprobe.gradient_bounds(t_gpu, log=True)
    for field in ("gradient", "jacobian", "product"):
        _close(getattr(b_gpu, field), getattr(b_cpu, field), rtol=0, atol=1e-9)


def test_spectrum_memory_lyapunov_and_capacity_agree_across_devices():
    cpu, gpu = _pair("vanilla-tanh", hidden=32, gain=0.9, init="orthogonal")
    x = _inputs(cpu, length=300)
    s_cpu, s_gpu = rnnprobe.weight_spectrum(cpu), rnnprobe.weight_spectrum(gpu)
    assert s_gpu.sigma_max == pytest.approx(s_cpu.sigma_max, rel=1e-12)
    assert s_gpu.pascanu == s_cpu.pascanu
    m_cpu, m_gpu = rnnprobe.memory_length(rnnprobe.record(cpu, x)), rnnprobe.memory_length(rnnprobe.record(gpu, x))
    assert m_gpu.threshold == m_cpu.threshold
    assert m_gpu.efold == pytest.approx(m_cpu.efold, rel=1e-8)
    _close(rnnprobe.lyapunov_spectrum(gpu, x, k=5, burn_in=50), rnnprobe.lyapunov_spectrum(cpu, x, k=5, burn_in=50),
           rtol=0, atol=1e-9)
    c_cpu = rnnprobe.memory_capacity(cpu, max_lag=40, n_samples=2000, seed=1)
    c_gpu = rnnprobe.memory_capacity(gpu, max_lag=40, n_samples=2000, seed=1)
    assert c_gpu.total == pytest.approx(c_cpu.total, rel=1e-8)


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("bias", [True, False])
def test_adapted_torch_modules_on_cuda_give_the_modules_own_states(kind, bias):
    torch.manual_seed(0)
    module = getattr(torch.nn, kind)(3, 16, num_layers=2, bias=bias).to(device="cuda", dtype=F64)
    x = torch.randn(25, 2, 3, dtype=F64, device="cuda")
    with torch.no_grad():
        out = module(x)[0]
    traj = rnnprobe.record(rnnprobe.adapt(module, 1), x)
    assert traj.states.device.type == "cuda"
    torch.testing.assert_close(traj.hidden_states()[1:], out, rtol=1e-10, atol=1e-12)
    assert bool(torch.isfinite(rnnprobe.jacobian_norms(traj, log=True)).all())


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_quick_vanishing_study_on_cuda_matches_the_cpu_run(tmp_path, dtype):
    runner = CliRunner()
    common = ["study", "vanishing", "--quick", "--jobs", "1", "--no-report", "--dtype", dtype]
    cpu = runner.invoke(main, common + ["--out", str(tmp_path / "cpu")])
    gpu = runner.invoke(main, common + ["--out", str(tmp_path / "gpu"), "--device", "cuda"])
    assert cpu.exit_code == 0, cpu.output
    assert gpu.exit_code == 0, gpu.output

    a = pd.read_csv(tmp_path / "cpu" / "results.csv")
    b = pd.read_csv(tmp_path / "gpu" / "results.csv")
    assert list(a.columns) == list(b.columns) and len(a) == len(b) > 0
    keys = [c for c in a.columns if c != "value"]
    pd.testing.assert_frame_equal(a[keys], b[keys])
    tol = 1e-6 if dtype == "float64" else 1e-2
    finite = a["value"].abs() < 1e300
    rel = ((a["value"] - b["value"]).abs() / a["value"].abs().clip(lower=1e-30))[finite & (a["value"] != 0)]
    assert float(rel.quantile(0.99)) < tol
