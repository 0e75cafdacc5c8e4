"""The probe monitor: its numbers are the direct probes' on the same weights; TensorBoard and Lightning wrap it."""

from __future__ import annotations

import copy
import math

import pytest
import torch

import rnnprobe
from rnnprobe.errors import InvalidArgument
from rnnprobe.monitor import MONITOR_COLUMNS, MONITOR_METRICS, ProbeMonitor, gradient_norms_by_group, write_scalars
from rnnprobe.sequence import CharRNN, CharRNNSpec

F64 = torch.float64


def ids(T=60, V=9, seed=0):
    return torch.randint(0, V, (T,), generator=torch.Generator().manual_seed(seed))


def by(rows, metric, **where):
    return [r for r in rows if r["metric"] == metric and all(r[k] == v for k, v in where.items())]


def direct_core(model: CharRNN, probe_ids, layer):
    """The core layer and its inputs, rebuilt independently of probe_core."""
    spec = model.spec
    with torch.no_grad():
        x = model.embedding(probe_ids).double()
        if model.fused:
            return rnnprobe.adapt(model.core, layer), x                # adapt runs the lower layers itself
        for i in range(layer + 1):
            core = rnnprobe.build(spec.core, spec.hidden_size, x.shape[-1], dtype=F64, seed=99, **spec.options)
            core.load_state_dict({k: v.double() for k, v in model.core[i].state_dict().items()})
            if i < layer:
                x = rnnprobe.record(core, x).hidden_states()[1:]
    return core, x


@pytest.mark.parametrize("core, layers", [("lstm", 1), ("vanilla-tanh", 2), ("nn.GRU", 2), ("dense", 1)])
def test_the_monitors_numbers_are_the_direct_probes(core, layers):
    model = CharRNN(CharRNNSpec(core, vocab_size=9, hidden_size=6, embedding_size=3, num_layers=layers, seed=5))
    probe = ids()
    logits, _ = model(probe[:-1].unsqueeze(1))
    loss = torch.nn.functional.cross_entropy(logits[:, 0], probe[1:])
    loss.backward()
    before = copy.deepcopy(model.state_dict())
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    monitor = ProbeMonitor(probe, every=5, eps=0.05, lyapunov_k=3, burn_in=6, layers=range(layers))
    rows = monitor(10, model, loss=loss)
    assert rows == monitor.rows and all(r["step"] == 10 for r in rows)
    # the monitor changes nothing
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(torch.equal(grads[n], p.grad) for n, p in model.named_parameters())
    for layer in range(layers):
        ref_model, x = direct_core(model, probe, layer)
        traj = rnnprobe.record(ref_model, x)
        G = rnnprobe.jacobian_norms(traj)
        got = by(rows, "jacobian_norm", layer=layer)
        assert [r["lag"] for r in got] == list(range(1, 61))
        assert torch.allclose(torch.tensor([r["value"] for r in got], dtype=F64), G.flip(0), rtol=1e-9, atol=0)
        mem = rnnprobe.memory_length(traj, eps=0.05, burn_in=6)
        assert by(rows, "memory_threshold", layer=layer)[0]["value"] == mem.threshold
        assert by(rows, "memory_efold", layer=layer)[0]["value"] == pytest.approx(mem.efold, rel=1e-9)
        lam = rnnprobe.trajectory_lyapunov_spectrum(traj, 3, burn_in=6)
        got_lam = [r["value"] for r in by(rows, "lyapunov_exponent", layer=layer)]
        assert got_lam == pytest.approx(lam.tolist(), rel=1e-9, abs=1e-12)
        spectrum = rnnprobe.weight_spectrum(ref_model)
        got_sigma = {r["block"]: r["value"] for r in by(rows, "sigma_max", layer=layer)}
        assert got_sigma == pytest.approx({k: b.spectral_norm for k, b in spectrum.blocks.items()}, rel=1e-9)
    assert by(rows, "loss")[0]["value"] == pytest.approx(float(loss.detach()))
    norms = {r["block"]: r["value"] for r in by(rows, "parameter_gradient_norm")}
    groups = {}
    for name, p in model.named_parameters():
        groups.setdefault(name.rsplit(".", 1)[0], []).append(p.grad.double().flatten())
    expected = {g: float(torch.cat(v).norm()) for g, v in groups.items()}
    expected["total"] = float(torch.cat([p.grad.double().flatten() for p in model.parameters()]).norm())
    assert norms == pytest.approx(expected, rel=1e-12)


def test_a_plain_loop_over_a_torch_module():
    torch.manual_seed(0)
    rnn, readout = torch.nn.LSTM(2, 5), torch.nn.Linear(5, 1)
    net = torch.nn.ModuleDict({"rnn": rnn, "readout": readout})
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    probe = torch.randn(30, 2, generator=torch.Generator().manual_seed(1))
    monitor = ProbeMonitor(probe, every=2, lyapunov_k=2, context={"arch": "nn.LSTM", "seed": 0})
    for step in range(5):
        x = torch.randn(20, 4, 2)
        loss = readout(rnn(x)[0][-1]).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        monitor(step, rnn, loss=loss, parameters=net)
        opt.step()
    assert sorted({r["step"] for r in monitor.rows}) == [0, 2, 4]
    assert monitor.columns == ["arch", "seed", *MONITOR_COLUMNS]
    assert all(list(r) == monitor.columns and r["arch"] == "nn.LSTM" for r in monitor.rows)
    assert {r["metric"] for r in monitor.rows} <= set(MONITOR_METRICS)
    assert {r["block"] for r in by(monitor.rows, "parameter_gradient_norm")} == {"rnn", "readout", "total"}
    # the rows at the last step are the probes of the module's current weights (it was last updated after step 4)
    opt_free = rnnprobe.adapt(rnn)
    assert by(monitor.rows, "sigma_max", step=4)[0]["block"] == "W_hi"
    G = rnnprobe.jacobian_norms(rnnprobe.record(opt_free, probe))
    last = by(monitor.rows, "jacobian_norm", step=4)
    assert last[0]["value"] != pytest.approx(float(G[-1]), rel=1e-12)      # weights changed after step 4's probe
    assert monitor.measure(4, rnn)[0]["value"] == pytest.approx(float(G[-1]), rel=1e-9)


def test_step_models_are_probed_in_float64_copies():
    model = rnnprobe.build("gru", 4, 2, dtype="float32", seed=0)
    x = torch.randn(20, 2, generator=torch.Generator().manual_seed(0))
    rows = ProbeMonitor(x, every=1, lyapunov_k=1).measure(0, model)
    reference = rnnprobe.jacobian_norms(rnnprobe.record(rnnprobe.build("gru", 4, 2, seed=0), x.double()))
    G = [r["value"] for r in by(rows, "jacobian_norm")]
    assert G == pytest.approx(reference.flip(0).tolist(), rel=1e-5)     # float32 weights, float64 probes
    assert model.dtype == torch.float32


def test_gradient_norms_by_group_skips_parameters_without_gradients():
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    assert gradient_norms_by_group(net) == {}
    net[1](torch.ones(1, 2)).sum().backward()
    norms = gradient_norms_by_group(net)
    assert set(norms) == {"1", "total"} and norms["1"] == pytest.approx(math.sqrt(2 + 1))


def test_scalars_reach_tensorboard(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter

    model = CharRNN(CharRNNSpec("gru", vocab_size=9, hidden_size=4, embedding_size=2))
    monitor = ProbeMonitor(ids(T=120), every=1, lyapunov_k=2)
    rows = monitor(0, model) + monitor(3, model)
    writer = SummaryWriter(tmp_path)
    n = write_scalars(writer, rows)
    writer.close()
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    tags = events.Tags()["scalars"]
    assert n == len(tags) * 2
    assert set(tags) == {"rnnprobe/jacobian_norm/layer_0/lag_1", "rnnprobe/jacobian_norm/layer_0/lag_10",
                         "rnnprobe/jacobian_norm/layer_0/lag_100", "rnnprobe/memory_threshold/layer_0",
                         "rnnprobe/memory_efold/layer_0", "rnnprobe/sigma_max/layer_0/U_r",
                         "rnnprobe/sigma_max/layer_0/U_z", "rnnprobe/sigma_max/layer_0/U",
                         "rnnprobe/lyapunov_exponent/layer_0/lambda_1", "rnnprobe/lyapunov_exponent/layer_0/lambda_2"}
    lag10 = events.Scalars("rnnprobe/jacobian_norm/layer_0/lag_10")
    assert [e.step for e in lag10] == [0, 3]
    assert lag10[0].value == pytest.approx(by(rows, "jacobian_norm", lag=10)[0]["value"], rel=1e-6)


@pytest.mark.filterwarnings("ignore:.*treespec", "ignore:The number of training batches")
def test_a_lightning_trainer_runs_the_monitor(tmp_path):
    lightning = pytest.importorskip("lightning")
    from rnnprobe.callbacks import ProbeCallback

    class Module(lightning.pytorch.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = CharRNN(CharRNNSpec("nn.LSTM", vocab_size=9, hidden_size=6, embedding_size=3, seed=0))
            self.losses = []

        def training_step(self, batch, batch_idx):
            (x,) = batch
            logits, _ = self.net(x[:-1].T)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 9), x[1:].T.reshape(-1))
            self.losses.append(float(loss.detach()))
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.5)

    data = torch.utils.data.TensorDataset(torch.randint(0, 9, (12, 16), generator=torch.Generator().manual_seed(0)))
    module = Module()
    initial = copy.deepcopy(module.net)
    monitor = ProbeMonitor(ids(T=40), every=1, lyapunov_k=2)
    logger = lightning.pytorch.loggers.TensorBoardLogger(tmp_path, name="tb")
    trainer = lightning.pytorch.Trainer(max_steps=3, logger=logger, callbacks=[ProbeCallback(monitor, model="net")],
                                        enable_checkpointing=False, enable_progress_bar=False,
                                        enable_model_summary=False, accelerator="cpu", default_root_dir=tmp_path)
    trainer.fit(module, torch.utils.data.DataLoader(data, batch_size=4))
    rows = monitor.rows
    assert sorted({r["step"] for r in rows}) == [0, 1, 2]
    assert [r["value"] for r in by(rows, "loss")] == pytest.approx(module.losses)
    # step 0 is measured before the first update: the initial weights
    G0 = [r["value"] for r in by(rows, "jacobian_norm", step=0)]
    core, x = initial.probe_core(ids(T=40))
    assert G0 == pytest.approx(rnnprobe.jacobian_norms(rnnprobe.record(core, x)).flip(0).tolist(), rel=1e-9)
    assert G0 != pytest.approx([r["value"] for r in by(rows, "jacobian_norm", step=2)], rel=1e-6)
    assert {r["block"] for r in by(rows, "parameter_gradient_norm")} == {"net.embedding", "net.core", "net.readout",
                                                                          "total"}
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(logger.log_dir))
    events.Reload()
    assert "rnnprobe/loss" in events.Tags()["scalars"]
    assert [e.step for e in events.Scalars("rnnprobe/memory_threshold/layer_0")] == [0, 1, 2]


BAD = [
    (lambda: ProbeMonitor([1, 2, 3]), r"inputs must be a torch.Tensor \(the probe sequence\); got list"),
    (lambda: ProbeMonitor(torch.zeros(1, 2)), r"inputs must be a probe sequence .* T >= 2; got shape \(1, 2\)"),
    (lambda: ProbeMonitor(torch.zeros(5, 2, 1)), r"got shape \(5, 2, 1\)"),
    (lambda: ProbeMonitor(ids(), every=0), r"every must be >= 1; got 0"),
    (lambda: ProbeMonitor(ids(), eps=1.0), r"eps must lie in \(0, 1\); got 1.0"),
    (lambda: ProbeMonitor(ids(), lyapunov_k=0), r"lyapunov_k must be >= 1; got 0"),
    (lambda: ProbeMonitor(ids(T=10), burn_in=10), r"burn_in must be <= 9; got 10"),
    (lambda: ProbeMonitor(ids(), layers=[]), r"layers must name at least one core layer"),
    (lambda: ProbeMonitor(ids(), layers=[-1]), r"layers must be >= 0; got -1"),
    (lambda: ProbeMonitor(ids(), context={"step": 1}), r"context columns must not be monitor columns.*\['step'\]"),
    (lambda: ProbeMonitor(ids())(-1, None), r"step must be >= 0; got -1"),
    (lambda: ProbeMonitor(ids()).log(0, "accuracy", 1.0), r"metric must be one of .*; got 'accuracy'"),
    (lambda: ProbeMonitor(ids()).log(0, "loss", math.nan), r"value of 'loss' at step 0 must not be NaN"),
    (lambda: ProbeMonitor(ids())(0, torch.nn.GRU(1, 2)), r"inputs must be float inputs .* got dtype torch.int64"),
    (lambda: ProbeMonitor(torch.zeros(5, 1))(0, torch.nn.Linear(1, 1)), r"model must be a char-RNN .* got Linear"),
    (lambda: ProbeMonitor(torch.zeros(5, 1), layers=[1])(0, rnnprobe.build("gru", 2)), r"layers must be \(0,\)"),
    (lambda: ProbeMonitor(ids(V=3), layers=[1])(0, CharRNN(CharRNNSpec("gru", vocab_size=3, hidden_size=2,
                                                                       embedding_size=2))),
     r"layer must be <= 0; got 1"),
    (lambda: ProbeMonitor(torch.zeros(5, 1))(0, rnnprobe.build("mlp", 2)), r"core must be recurrent"),
]


@pytest.mark.parametrize("call, pattern", BAD, ids=[b[1][:30] for b in BAD])
def test_bad_monitor_calls(call, pattern):
    with pytest.raises(InvalidArgument, match=pattern):
        call()


def test_the_lightning_callback_checks_its_arguments():
    pytest.importorskip("lightning")
    from rnnprobe.callbacks import ProbeCallback

    with pytest.raises(InvalidArgument, match=r"monitor must be a ProbeMonitor; got dict"):
        ProbeCallback({})
    with pytest.raises(InvalidArgument, match=r"model must be an attribute name, a callable or None; got 3"):
        ProbeCallback(ProbeMonitor(ids()), model=3)
