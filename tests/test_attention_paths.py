"""The gradient reaching each encoder state, split into its attention and recurrence parts: the parts sum to the
total, each equals the gradient of a forward pass with the other bridge cut, and the total agrees with the
input-gradient probe through the encoder's input map."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import rnnprobe
from rnnprobe.attention import EncoderDecoder, PathSplit, attention_path_split
from rnnprobe.errors import InvalidArgument
from rnnprobe.input_gradients import input_gradient_norms
from rnnprobe.linalg import start_vectors

F64 = torch.float64

CORES = {
    "gru": lambda d, n, s: rnnprobe.build("gru", hidden_size=n, input_size=d, seed=s, bias_std=0.3),
    "lstm": lambda d, n, s: rnnprobe.build("lstm", hidden_size=n, input_size=d, seed=s),
    "vanilla": lambda d, n, s: rnnprobe.build("vanilla-tanh", hidden_size=n, input_size=d, gain=1.2, seed=s),
    "torch-lstm-2layers": lambda d, n, s: (torch.manual_seed(s), torch.nn.LSTM(d, n, num_layers=2, dtype=F64))[1],
    "torch-gru": lambda d, n, s: (torch.manual_seed(s), torch.nn.GRU(d, n, dtype=F64))[1],
}
PAIRS = [("gru", "gru"), ("gru", "torch-gru"), ("lstm", "lstm"), ("vanilla", "gru"),
         ("torch-lstm-2layers", "torch-lstm-2layers"), ("torch-gru", "vanilla")]


def make(pair, attention, seed, d=2, n=3, V=4):
    enc, dec = pair
    return EncoderDecoder(CORES[enc](d, n, seed), CORES[dec](d, n, seed + 1), V, attention=attention, seed=seed)


def cut_reference(model, source, decoder_inputs, loss, cut):
    """∂L/∂s_t from a separate forward pass in which one bridge is detached (the torch modules run stepwise)."""
    out = model.unrolled(source, decoder_inputs, stepwise=True, cut=cut)
    grads = torch.autograd.grad(loss(out["logits"]), out["states"], allow_unused=True)
    return torch.stack([torch.zeros_like(s) if g is None else g for s, g in zip(out["states"], grads)], dim=1)


@given(pair=st.sampled_from(PAIRS), attention=st.sampled_from(["dot", "bilinear", "none"]), T=st.integers(1, 6),
       S=st.integers(1, 4), B=st.integers(1, 2), seed=st.integers(0, 100), data=st.data())
def test_the_parts_sum_to_the_total_and_each_is_the_gradient_with_the_other_bridge_cut(pair, attention, T, S, B, seed, data):
    model = make(pair, attention, seed)
    g = torch.Generator().manual_seed(seed)
    source, decoder_inputs = torch.randint(0, 4, (T, B), generator=g), torch.randint(0, 5, (S, B), generator=g)
    at = data.draw(st.none() | st.integers(0, S - 1), label="at")
    split = attention_path_split(model, source, decoder_inputs, at=at, seed=seed)
    assert isinstance(split, PathSplit) and split.at == at
    assert split.total.shape == (B, T, model.encoder_spec.state_size)
    scale = float(split.total.abs().max()) + 1e-300
    torch.testing.assert_close(split.attention + split.recurrence, split.total, rtol=0, atol=1e-12 * scale)

    u = start_vectors(1, 4, dtype=F64, device="cpu", seed=seed)[0]    # the documented default readout
    loss = (lambda y: (y @ u).sum()) if at is None else (lambda y: (y[at] @ u).sum())
    # the gradient that crossed the attention is what is left when the decoder's start is detached, and vice versa
    torch.testing.assert_close(split.attention, cut_reference(model, source, decoder_inputs, loss, "recurrence"),
                               rtol=1e-10, atol=1e-13 * scale)
    torch.testing.assert_close(split.recurrence, cut_reference(model, source, decoder_inputs, loss, "attention"),
                               rtol=1e-10, atol=1e-13 * scale)
    if attention == "none":
        assert bool((split.attention == 0).all())
    norms = split.norms()
    assert set(norms) == {"total", "attention", "recurrence"} and norms["total"].shape == (B, T)


@given(T=st.integers(1, 6), S=st.integers(1, 4), seed=st.integers(0, 100), attention=st.sampled_from(["dot", "none"]))
def test_the_total_matches_the_input_gradient_through_a_vanilla_encoders_input_map(T, S, seed, attention):
    """For s_t = tanh(W_h s_{t−1} + W_x x_t + b): ∂L/∂x_t = W_xᵀ diag(1 − s_t²) ∂L/∂s_t, so the split's total
    predicts rnnprobe.input_gradient_norms at the source embeddings (an independent backward pass)."""
    model = make(("vanilla", "gru"), attention, seed)
    g = torch.Generator().manual_seed(seed)
    source, decoder_inputs = torch.randint(0, 4, (T,), generator=g), torch.randint(0, 5, (S,), generator=g)
    targets = torch.randint(0, 4, (S,), generator=g)
    split = attention_path_split(model, source, decoder_inputs, targets=targets)
    states = torch.stack(model.unrolled(source, decoder_inputs)["states"])[:, 0].detach()   # (T, n)
    predicted = ((1 - states**2) * split.total) @ model.encoder.W_x                        # (T, d)

    def ce(logits):
        return torch.nn.functional.cross_entropy(logits, targets, reduction="sum")
    measured = input_gradient_norms(lambda x: model(x, decoder_inputs).logits, model.source_embedding(source).detach(), ce)
    torch.testing.assert_close(torch.linalg.vector_norm(predicted, dim=-1), measured, rtol=1e-9, atol=1e-13)


def test_a_custom_loss_and_targets_and_the_distance():
    model = make(("gru", "gru"), "dot", 0)
    source, decoder_inputs = torch.tensor([0, 1, 2, 3, 1]), torch.tensor([4, 1, 3])
    targets = torch.tensor([1, 3, 2])
    a = attention_path_split(model, source, decoder_inputs, targets=targets, at=1)
    b = attention_path_split(model, source, decoder_inputs,
                             lambda y: torch.nn.functional.cross_entropy(y, targets[1]), at=1)
    torch.testing.assert_close(a.total, b.total, rtol=1e-12, atol=1e-15)
    assert a.total.shape == (5, 3) and a.recurrent_steps.tolist() == [6, 5, 4, 3, 2]
    assert attention_path_split(model, source, decoder_inputs).recurrent_steps is None
    # later target positions are further from the source through the recurrence
    assert attention_path_split(model, source, decoder_inputs, at=2).recurrent_steps.tolist() == [7, 6, 5, 4, 3]


MODEL = make(("gru", "gru"), "dot", 0)
SRC, DEC = torch.tensor([0, 1, 2]), torch.tensor([4, 1])


@pytest.mark.parametrize("call, pattern", [
    (lambda: attention_path_split(MODEL, SRC, DEC, at=2), r"at must be <= 1; got 2"),
    (lambda: attention_path_split(MODEL, SRC, DEC, at=-1), r"at must be >= 0; got -1"),
    (lambda: attention_path_split(MODEL, SRC[:0], DEC), r"source must hold at least one time step \(T >= 1\); got shape \(0,\)"),
    (lambda: attention_path_split(MODEL, SRC, DEC[:0]), r"decoder_inputs must hold at least one time step"),
    (lambda: attention_path_split(torch.nn.GRU(2, 3), SRC, DEC), r"model must be an EncoderDecoder; got GRU"),
    (lambda: attention_path_split(MODEL, SRC, DEC, loss=lambda y: y.sum(), targets=DEC), r"give at most one of loss and targets; got both"),
    (lambda: attention_path_split(MODEL, SRC, DEC, loss="ce"), r"loss must be a callable logits -> scalar or None; got str"),
    (lambda: attention_path_split(MODEL, SRC, DEC, loss=lambda y: y), r"loss must return a scalar tensor for logits of shape \(2, 4\); got Tensor"),
    (lambda: attention_path_split(MODEL, SRC, DEC, targets=torch.tensor([1])), r"targets must be integer symbols of shape \(2,\).*got \(1,\)"),
    (lambda: attention_path_split(MODEL, SRC, DEC, targets=torch.tensor([1, 4])), r"targets symbols must lie in \[0, 4\); got 1..4"),
    (lambda: attention_path_split(MODEL, SRC, DEC, seed=-1), r"seed must be >= 0; got -1"),
    (lambda: attention_path_split(MODEL, SRC, DEC, loss=lambda y: (y[0, 0] - y[0, 0].detach()).abs() ** 0.5),
     r"loss must have finite gradients; the total gradient has NaN/Inf entries"),
])
def test_bad_calls(call, pattern):
    with pytest.raises(InvalidArgument, match=pattern):
        call()
