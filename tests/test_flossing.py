"""Gradient flossing: differentiable Lyapunov exponents against rnnprobe's and finite differences; its effect."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import rnnprobe
import rnnprobe.strategies as rs
from rnnprobe.errors import InvalidArgument
from rnnprobe.flossing import floss, flossing_loss, lyapunov_exponents
from rnnprobe.sequence import Corpus, TrainConfig, train
from rnnprobe.sequence.charrnn import TiedTorchLayer

F64 = torch.float64
ARCHS = ["vanilla-tanh", "vanilla-relu", "gru", "gru-torch", "lstm", "residual", "dense"]


def inputs(T, d, batch=None, seed=0):
    shape = (T, d) if batch is None else (T, batch, d)
    return torch.randn(*shape, dtype=F64, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("batch", [None, 3])
def test_the_exponents_are_rnnprobes(arch, batch):
    model = rnnprobe.build(arch, 6, 2, gain=1.3, seed=1)
    x = inputs(80, 2, batch)
    for k, burn_in in [(1, 0), (3, 10), (model.state_size, 20)]:
        ours = lyapunov_exponents(model, x, k, burn_in=burn_in, seed=4)
        reference = rnnprobe.lyapunov_spectrum(model, x, k, burn_in=burn_in, seed=4)
        assert ours.shape == reference.shape
        assert torch.allclose(ours, reference, atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("arch", ["vanilla-tanh", "lstm"])
def test_qr_every_few_steps_gives_the_same_exponents(arch):
    # the QR of a product of J's is the product of the per-step triangular factors: the same sums of log|R_ii|
    model = rnnprobe.build(arch, 5, 1, gain=1.0, seed=2)
    x = inputs(60, 1)
    every = lyapunov_exponents(model, x, 3, burn_in=10, qr_every=1)
    for q in (2, 5, 7):
        assert torch.allclose(lyapunov_exponents(model, x, 3, burn_in=10, qr_every=q), every, atol=1e-10)


def directional_check(loss_fn, params, *, h=1e-6, seed=0):
    """autograd's derivative of ``loss_fn()`` along a random direction against a central finite difference."""
    g = torch.Generator().manual_seed(seed)
    directions = [torch.randn(p.shape, dtype=p.dtype, generator=g) for p in params]
    grads = torch.autograd.grad(loss_fn(), params)
    analytic = sum(float((gr * d).sum()) for gr, d in zip(grads, directions))

    def shifted(eps):
        with torch.no_grad():
            for p, d in zip(params, directions):
                p.add_(eps * d)
        value = float(loss_fn().detach())
        with torch.no_grad():
            for p, d in zip(params, directions):
                p.sub_(eps * d)
        return value

    return analytic, (shifted(h) - shifted(-h)) / (2 * h)


@pytest.mark.parametrize("arch", ["vanilla-tanh", "gru", "gru-torch", "lstm", "residual", "dense"])
def test_flossing_gradients_match_finite_differences(arch):
    model = rnnprobe.build(arch, 5, 2, gain=1.1, seed=3)
    x = inputs(40, 2, batch=2)
    analytic, numeric = directional_check(lambda: flossing_loss(model, x, 2, burn_in=5), list(model.parameters()))
    # central differences with h = 1e-6 in float64: truncation O(h²) and rounding O(1e-16/h) ≈ 1e-10
    assert analytic == pytest.approx(numeric, rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
def test_flossing_gradients_reach_a_torch_modules_own_parameters(kind):
    module = getattr(torch.nn, kind)(2, 4, num_layers=2, dtype=F64)
    tied = TiedTorchLayer(module, 1)
    x = inputs(30, 4, batch=2)
    loss = flossing_loss(tied, x, 2, burn_in=3)
    loss.backward()
    assert module.weight_hh_l1.grad is not None and float(module.weight_hh_l1.grad.abs().sum()) > 0
    assert module.weight_hh_l0.grad is None            # layer 0 is not part of this chain
    params = [module.weight_hh_l1, module.weight_ih_l1, module.bias_hh_l1]
    analytic, numeric = directional_check(lambda: flossing_loss(tied, x, 2, burn_in=3), params, seed=1)
    assert analytic == pytest.approx(numeric, rel=1e-6, abs=1e-8)


@settings(max_examples=10)
@given(model=rs.models(architectures=["vanilla-tanh", "gru", "lstm"], max_hidden=4, max_input=2, min_gain=0.5,
                       max_gain=1.5), seed=st.integers(0, 100))
def test_flossing_gradients_match_finite_differences_for_drawn_models(model, seed):
    x = inputs(25, model.input_size, batch=1, seed=seed)
    k = min(2, model.state_size)
    analytic, numeric = directional_check(lambda: flossing_loss(model, x, k, burn_in=3), list(model.parameters()),
                                          seed=seed)
    assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-7)


def test_flossing_alone_drives_the_exponents_to_zero():
    model = rnnprobe.build("vanilla-tanh", 12, 1, gain=0.5, init="orthogonal", seed=0)
    x = inputs(100, 1)
    history = floss(model, x, 2, steps=60, lr=1e-2, burn_in=10)
    assert history[0][0] < -0.6                     # gain 0.5: measured lambda_1 = -1.00 (tanh' < 1 lowers it)
    assert max(abs(v) for v in history[-1]) < 0.05 < min(abs(v) for v in history[0])
    G_before = rnnprobe.jacobian_norms(rnnprobe.record(rnnprobe.build("vanilla-tanh", 12, 1, gain=0.5,
                                                                      init="orthogonal", seed=0), x))
    G_after = rnnprobe.jacobian_norms(rnnprobe.record(model, x))
    assert G_after[0] > 1e6 * G_before[0]           # lag 100: measured 1.8e-44 before, 0.62 after


def test_flossing_keeps_long_lag_gradients_orders_of_magnitude_larger_during_training():
    corpus = Corpus.from_text("the quick brown fox jumps over the lazy dog\n" * 30)
    common = dict(core="vanilla-tanh", hidden_size=16, embedding_size=8, batch_size=8, bptt=32, steps=60, lr=1e-2,
                  eval_every=60, probe_every=60, probe_length=100, options={"init": "orthogonal"})
    plain = train(TrainConfig(**common), corpus=corpus)
    flossed = train(TrainConfig(**common, floss=2, floss_weight=1.0), corpus=corpus)

    def at_end(result, metric, key):
        return next(r["value"] for r in result.rows if r["metric"] == metric and r["step"] == 60
                    and (r["lag"], r["index"]) == key)

    G_plain, G_flossed = at_end(plain, "jacobian_norm", (60, None)), at_end(flossed, "jacobian_norm", (60, None))
    # measured: G(60) = 4e-16 trained plainly, 6e-2 flossed (14 orders of magnitude)
    assert G_flossed > 1e6 * G_plain
    assert abs(at_end(flossed, "lyapunov_exponent", (None, 0))) < abs(at_end(plain, "lyapunov_exponent", (None, 0))) / 3
    assert flossed.val_bits_per_char < 1.0               # and it still learns the text (plain: 0.33)


BAD = [
    (lambda m, x: lyapunov_exponents(m, x, 0), r"k must be >= 1; got 0"),
    (lambda m, x: lyapunov_exponents(m, x, 5), r"k must be <= 4; got 5"),
    (lambda m, x: lyapunov_exponents(m, x, 1, burn_in=10), r"burn_in must be <= 9; got 10"),
    (lambda m, x: lyapunov_exponents(m, x, 1, qr_every=0), r"qr_every must be >= 1; got 0"),
    (lambda m, x: lyapunov_exponents(m, x[:, :1].repeat(1, 3), 1), r"inputs must have shape \(T, 2\).*got \(10, 3\)"),
    (lambda m, x: lyapunov_exponents(m, x * math.nan, 1), r"inputs must be finite"),
    (lambda m, x: lyapunov_exponents(torch.nn.GRU(2, 4), x, 1), r"model must be an rnnprobe StepModel.*got GRU"),
    (lambda m, x: lyapunov_exponents(rnnprobe.build("mlp", 4), x, 1), r"model must be recurrent; got a 'feedforward'"),
    (lambda m, x: lyapunov_exponents(m, x, 1, h0=torch.zeros(3, dtype=F64)), r"h0 must have shape \(4,\) or \(1, 4\)"),
    (lambda m, x: floss(m, x, 1, steps=0), r"steps must be >= 1; got 0"),
    (lambda m, x: flossing_loss(rnnprobe.build("vanilla-relu", 4, 2, gain=0.3, bias_std=0.0, seed=0), -x.abs() * 0, 4),
     r"the top 4 exponents include -inf"),
    (lambda m, x: floss(m, x, 1, lr=-1.0), r"lr must lie in \(0, inf\); got -1.0"),
    (lambda m, x: floss(m, [x], 1, steps=2), r"inputs gave 1 sequences; steps=2 needs one per step"),
]


@pytest.mark.parametrize("call, pattern", BAD, ids=[b[1][:30] for b in BAD])
def test_bad_flossing_calls(call, pattern):
    model = rnnprobe.build("vanilla-tanh", 4, 2, seed=0)
    with pytest.raises(InvalidArgument, match=pattern):
        call(model, inputs(10, 2))


def test_overflowing_qr_intervals_are_refused():
    model = rnnprobe.build("vanilla-linear", 3, 1, gain=50.0, init="orthogonal", seed=0)
    with pytest.raises(InvalidArgument, match=r"not finite .* use qr_every=1"):
        lyapunov_exponents(model, inputs(400, 1), 1, qr_every=400)
    small = rnnprobe.build("vanilla-linear", 3, 1, gain=0.01, init="orthogonal", seed=0)
    with pytest.raises(InvalidArgument, match=r"not finite .* under- or overflowed; use qr_every=1"):
        lyapunov_exponents(small, inputs(400, 1), 1, qr_every=400)
    assert torch.isfinite(lyapunov_exponents(small, inputs(400, 1), 1)).all()     # log space at every step
