"""The attention instruments: the lecture's attention formulas, recurrent cores as encoders and decoders,
the encoder–decoder, causal self-attention, and the copy/reverse tasks."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import rnnprobe
from rnnprobe.attention import (CausalSelfAttention, CausalTransformer, EncoderDecoder, SequenceTask, causal_mask,
                                dot_attention)
from rnnprobe.attention.cores import CoreSpec, run_core
from rnnprobe.errors import InvalidArgument

F64 = torch.float64


def seeded(seed):
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------- the lecture's formulas
def lecture_attention(E, D, W=None):
    """α_{t,s} = exp(e_tᵀd_s) / Σ_u exp(e_uᵀd_s), c_s = Σ_t α_{t,s} e_t, with Python loops and math.exp."""
    T, B, _ = E.shape
    S = D.shape[0]
    alpha = torch.zeros(B, S, T, dtype=F64)
    context = torch.zeros(S, B, E.shape[-1], dtype=F64)
    for b in range(B):
        for s in range(S):
            d = D[s, b] if W is None else W @ D[s, b]
            scores = [float(E[t, b] @ d) for t in range(T)]
            top = max(scores)                          # shift for exp; cancels in the ratio
            z = sum(math.exp(v - top) for v in scores)
            for t in range(T):
                alpha[b, s, t] = math.exp(scores[t] - top) / z
                context[s, b] += alpha[b, s, t] * E[t, b]
    return context, alpha


@given(T=st.integers(1, 6), S=st.integers(1, 5), B=st.integers(1, 3), n=st.integers(1, 4), m=st.integers(1, 4),
       scale=st.sampled_from([0.1, 1.0, 5.0, 30.0]), bilinear=st.booleans(), seed=st.integers(0, 1000))
def test_dot_attention_is_the_lectures_formula(T, S, B, n, m, scale, bilinear, seed):
    g = seeded(seed)
    E = scale * torch.randn(T, B, n, generator=g, dtype=F64)
    D = torch.randn(S, B, n if not bilinear else m, generator=g, dtype=F64)
    W = torch.randn(n, m, generator=g, dtype=F64) if bilinear else None
    context, alpha = dot_attention(E, D, W)
    ref_context, ref_alpha = lecture_attention(E, D, W)
    assert alpha.shape == (B, S, T) and context.shape == (S, B, n)
    assert bool((alpha >= 0).all())
    torch.testing.assert_close(alpha.sum(-1), torch.ones(B, S, dtype=F64), rtol=0, atol=1e-12)
    torch.testing.assert_close(alpha, ref_alpha, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(context, ref_context, rtol=1e-9, atol=1e-9 * scale)


# --------------------------------------------------------------------------- cores
def make_core(kind, d, n, seed, dtype=F64):
    torch.manual_seed(seed)
    return {
        "rnnprobe-gru": lambda: rnnprobe.build("gru", hidden_size=n, input_size=d, seed=seed),
        "rnnprobe-lstm": lambda: rnnprobe.build("lstm", hidden_size=n, input_size=d, seed=seed),
        "rnnprobe-vanilla": lambda: rnnprobe.build("vanilla-tanh", hidden_size=n, input_size=d, seed=seed),
        "torch-gru": lambda: torch.nn.GRU(d, n, dtype=dtype),
        "torch-lstm-2layers": lambda: torch.nn.LSTM(d, n, num_layers=2, dtype=dtype),
        "torch-rnn-2layers": lambda: torch.nn.RNN(d, n, num_layers=2, dtype=dtype),
        "torch-lstmcell": lambda: torch.nn.LSTMCell(d, n, dtype=dtype),
        "torch-grucell": lambda: torch.nn.GRUCell(d, n, dtype=dtype),
    }[kind]()


CORES = ["rnnprobe-gru", "rnnprobe-lstm", "rnnprobe-vanilla", "torch-gru", "torch-lstm-2layers", "torch-rnn-2layers",
         "torch-lstmcell", "torch-grucell"]
# pairs whose flat states have the same size (the decoder starts from the encoder's last state)
STATE_SIZE_FACTOR = {"rnnprobe-gru": 1, "rnnprobe-vanilla": 1, "torch-gru": 1, "torch-grucell": 1,
                     "rnnprobe-lstm": 2, "torch-lstmcell": 2, "torch-lstm-2layers": 4, "torch-rnn-2layers": 2}


def pairs():
    return [(a, b) for a in CORES for b in CORES if STATE_SIZE_FACTOR[a] == STATE_SIZE_FACTOR[b]]


@pytest.mark.parametrize("kind", ["torch-gru", "torch-lstm-2layers", "torch-rnn-2layers"])
def test_stepwise_and_fused_torch_runs_agree_and_flat_states_round_trip(kind):
    core = make_core(kind, 2, 3, 0)
    spec = CoreSpec.of(core, "encoder")
    x = torch.randn(6, 2, 2, generator=seeded(1), dtype=F64)
    s0 = torch.randn(2, spec.state_size, generator=seeded(2), dtype=F64)
    fused, none, last = run_core(core, spec, x, s0)
    stepped, states, last2 = run_core(core, spec, x, s0, stepwise=True)
    assert none is None and len(states) == 6
    torch.testing.assert_close(fused, stepped, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(last, last2, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(spec.flat(spec.native(s0)), s0, rtol=0, atol=0)
    # the module's own outputs are the top layer's h read from the flat states
    out, _ = core(x, spec.native(s0))
    torch.testing.assert_close(torch.stack([spec.hidden(core, s) for s in states]), out, rtol=1e-12, atol=1e-13)


def test_rnnprobe_and_torch_lstm_share_the_flat_state_convention():
    """adapt() copies an nn.LSTM into rnnprobe's LSTM (state [h; c]): both give the same flat states."""
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(2, 3, dtype=F64)
    ours = rnnprobe.adapt(lstm)
    x = torch.randn(5, 2, 2, generator=seeded(3), dtype=F64)
    s0 = torch.randn(2, 6, generator=seeded(4), dtype=F64)
    a = run_core(lstm, CoreSpec.of(lstm, "encoder"), x, s0, stepwise=True)
    b = run_core(ours, CoreSpec.of(ours, "encoder"), x, s0)
    torch.testing.assert_close(a[0], b[0], rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(torch.stack(a[1]), torch.stack(b[1]), rtol=1e-12, atol=1e-13)


# --------------------------------------------------------------------------- the encoder–decoder
def model_of(enc, dec, attention="dot", n=3, d=2, V=4, seed=0, **kw):
    return EncoderDecoder(make_core(enc, d, n, seed), make_core(dec, d, n, seed + 1), V, attention=attention,
                          seed=seed, **kw)


@given(pair=st.sampled_from(pairs()), attention=st.sampled_from(["dot", "bilinear"]), T=st.integers(1, 6),
       S=st.integers(1, 5), B=st.integers(1, 3), seed=st.integers(0, 100))
def test_attention_weights_are_a_distribution_over_the_source(pair, attention, T, S, B, seed):
    model = model_of(*pair, attention=attention, seed=seed)
    g = seeded(seed)
    source = torch.randint(0, 4, (T, B), generator=g)
    decoder_inputs = torch.randint(0, 5, (S, B), generator=g)
    logits, alpha = model(source, decoder_inputs)
    assert logits.shape == (S, B, 4) and alpha.shape == (B, S, T)
    assert bool((alpha >= 0).all()) and bool(torch.isfinite(logits).all())
    torch.testing.assert_close(alpha.sum(-1), torch.ones(B, S, dtype=F64), rtol=0, atol=1e-12)
    # the weights are the lecture's formula applied to the model's own encoder and decoder states
    out = model.unrolled(source, decoder_inputs)
    _, ref = lecture_attention(out["keys"].detach(), out["decoder_states"].detach(),
                               None if model.bilinear is None else model.bilinear.detach())
    torch.testing.assert_close(alpha.detach(), ref, rtol=1e-9, atol=1e-12)


def test_without_attention_the_decoder_sees_the_source_only_through_the_last_state():
    """Without attention the logits are the readout of the decoder run from the encoder's last state alone."""
    model = model_of("rnnprobe-gru", "rnnprobe-gru", attention="none")
    source = torch.tensor([[0, 1, 2, 3]]).T
    decoder_inputs = torch.tensor([[4, 3, 2]]).T
    out = model.unrolled(source, decoder_inputs)
    assert out["attention"] is None and model.readout.in_features == 3
    # feeding the decoder the encoder's last state directly reproduces the logits
    d, _, _ = run_core(model.decoder, model.decoder_spec, model.target_embedding(decoder_inputs), out["states"][-1])
    torch.testing.assert_close(out["logits"], model.readout(d), rtol=0, atol=0)


def test_unbatched_and_batched_calls_agree_and_embeddings_equal_symbols():
    model = model_of("torch-gru", "rnnprobe-gru", attention="bilinear")
    source = torch.tensor([[0, 1, 2], [3, 3, 1]]).T                  # (3, 2)
    decoder_inputs = torch.tensor([[4, 1], [4, 0]]).T                # (2, 2)
    logits, alpha = model(source, decoder_inputs)
    l1, a1 = model(source[:, 1], decoder_inputs[:, 1])
    torch.testing.assert_close(l1, logits[:, 1], rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(a1, alpha[1], rtol=1e-12, atol=1e-13)
    embedded = model.source_embedding(source)
    torch.testing.assert_close(model(embedded, decoder_inputs).logits, logits, rtol=0, atol=0)


@pytest.mark.parametrize("attention", ["dot", "none"])
@pytest.mark.parametrize("feedback", [True, False])
def test_greedy_decoding_equals_teacher_forcing_on_its_own_outputs(attention, feedback):
    model = model_of("rnnprobe-lstm", "torch-lstmcell", attention=attention, feedback=feedback, V=3)
    source = torch.randint(0, 3, (5, 4), generator=seeded(0))
    gen = model.generate(source, 4)
    emitted = gen.logits.argmax(-1)
    fed = torch.cat([torch.full((1, 4), model.bos), emitted[:-1]])
    forced = model(source, fed)
    torch.testing.assert_close(gen.logits, forced.logits, rtol=1e-12, atol=1e-12)
    if attention == "none":
        assert gen.attention is None
    else:
        torch.testing.assert_close(gen.attention, forced.attention, rtol=1e-12, atol=1e-12)
    single = model.generate(source[:, 0], 4)
    torch.testing.assert_close(single.logits, gen.logits[:, 0], rtol=1e-12, atol=1e-12)


def test_without_feedback_the_decoder_inputs_only_give_the_length():
    model = model_of("rnnprobe-gru", "rnnprobe-gru", feedback=False)
    source = torch.tensor([0, 1, 2, 3])
    a = model(source, torch.tensor([4, 0, 1]))
    b = model(source, torch.tensor([2, 2, 3]))
    torch.testing.assert_close(a.logits, b.logits, rtol=0, atol=0)
    assert "feedback=False" in repr(model)


def test_seeded_construction_is_deterministic():
    a, b = model_of("torch-gru", "torch-gru", seed=3), model_of("torch-gru", "torch-gru", seed=3)
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert na == nb and torch.equal(pa, pb)


# --------------------------------------------------------------------------- causal self-attention
def test_causal_self_attention_is_torchs_layer_with_a_causal_mask():
    net = CausalSelfAttention(3, d_model=8, nhead=2, num_layers=2, seed=1)
    x = torch.randn(5, 2, 3, generator=seeded(0), dtype=F64)
    h = net.input(x) + net.positions.weight[:5].unsqueeze(1)
    mask = causal_mask(5)
    for layer in net.layers:                    # torch's own layer, with the mask given explicitly
        h = layer(h, src_mask=mask)
    torch.testing.assert_close(net(x), h, rtol=1e-12, atol=1e-12)
    assert mask[0, 1] == -math.inf and mask[1, 0] == 0
    for w in net.attention_weights(x):
        assert w.shape == (2, 5, 5) and bool((w >= 0).all()) and bool((w.triu(1) == 0).all())
        torch.testing.assert_close(w.sum(-1), torch.ones(2, 5, dtype=F64), rtol=0, atol=1e-12)
    assert net.attention_weights(x[:, 0])[0].shape == (5, 5)


def test_causal_transformer_reads_source_then_decoder_inputs():
    model = CausalTransformer(3, d_model=8, nhead=2, seed=0)
    source, decoder_inputs = torch.tensor([[0, 1, 2]]).T, torch.tensor([[3, 2, 1]]).T
    logits = model(source, decoder_inputs).logits
    z = model.embedding(torch.cat([source, decoder_inputs]))
    torch.testing.assert_close(logits, model.readout(model.stack(z)[3:]), rtol=0, atol=0)
    # decoder position s sees the whole source and decoder inputs up to s only
    changed = decoder_inputs.clone()
    changed[2] = 0
    torch.testing.assert_close(model(source, changed).logits[:2], logits[:2], rtol=1e-12, atol=1e-12)
    assert [w.shape for w in model.attention_weights(source, decoder_inputs)] == [(1, 6, 6)]
    gen = model.generate(source, 3)
    fed = torch.cat([torch.full((1, 1), 3), gen.logits.argmax(-1)[:-1]])
    torch.testing.assert_close(gen.logits, model(source, fed).logits, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- tasks
@given(name=st.sampled_from(["copy", "reverse"]), V=st.integers(2, 9), T=st.integers(1, 8), B=st.integers(1, 4),
       seed=st.integers(0, 2**31))
def test_tasks_are_seeded_and_aligned(name, V, T, B, seed):
    task = SequenceTask(name, V, T)
    a, b = task.batch(B, seed=seed), task.batch(B, seed=seed)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert a.source.shape == (T, B) and int(a.source.min()) >= 0 and int(a.source.max()) < V
    assert bool((a.decoder_inputs[0] == V).all()) and torch.equal(a.decoder_inputs[1:], a.targets[:-1])
    # the target symbol at position s is the source symbol at the aligned position
    assert torch.equal(a.targets, a.source[task.alignment()])


def test_generator_batches_follow_each_other():
    task = SequenceTask("copy", 4, 5)
    g = torch.Generator().manual_seed(0)
    first, second = task.batch(3, generator=g), task.batch(3, generator=g)
    both = task.batch(6, seed=0)
    assert not torch.equal(first.source, second.source)
    assert torch.equal(torch.randint(0, 4, (5, 3), generator=torch.Generator().manual_seed(0)), first.source)
    assert both.source.shape == (5, 6)


# --------------------------------------------------------------------------- bad input
GRU3 = lambda: make_core("rnnprobe-gru", 2, 3, 0)  # noqa: E731


@pytest.mark.parametrize("call, pattern", [
    (lambda: EncoderDecoder(GRU3(), make_core("rnnprobe-gru", 2, 4, 1), 4),
     r"decoder must have the encoder's state size 3 .*got a decoder \(GRU\) of state size 4"),
    (lambda: EncoderDecoder(GRU3(), make_core("rnnprobe-lstm", 2, 3, 1), 4),
     r"decoder must have the encoder's state size 3 .*got a decoder \(LSTM\) of state size 6"),
    (lambda: EncoderDecoder(make_core("rnnprobe-lstm", 2, 2, 0), make_core("rnnprobe-gru", 2, 4, 1), 4),
     r"decoder must have the encoder's hidden size 2 for dot-product attention .*got 4"),
    (lambda: EncoderDecoder(GRU3(), GRU3(), 1), r"vocab_size must be >= 2; got 1"),
    (lambda: EncoderDecoder(GRU3(), GRU3(), 4, attention="dott"),
     r"attention must be one of 'dot', 'bilinear', 'none'; got 'dott' \(did you mean 'dot'\?\)"),
    (lambda: EncoderDecoder(GRU3(), GRU3(), 4, feedback="yes"), r"feedback must be True or False; got 'yes'"),
    (lambda: EncoderDecoder(GRU3(), GRU3(), 4, seed=-2), r"seed must be >= 0; got -2"),
    (lambda: EncoderDecoder(torch.nn.GRU(2, 3, bidirectional=True), GRU3(), 4),
     r"encoder must be unidirectional.*got GRU\(bidirectional=True\)"),
    (lambda: EncoderDecoder(rnnprobe.build("mlp", hidden_size=3), GRU3(), 4),
     r"encoder must be a recurrent core; got the feed-forward stack 'mlp'"),
    (lambda: EncoderDecoder(GRU3(), torch.nn.Linear(2, 3), 4), r"decoder must be an rnnprobe recurrent model .*got Linear"),
    (lambda: EncoderDecoder(rnnprobe.adapt(torch.nn.GRU(2, 3, num_layers=2), layer=1), GRU3(), 4),
     r"encoder must be one layer that reads its inputs directly; got 'GRU layer 1'"),
    (lambda: EncoderDecoder(GRU3(), torch.nn.GRU(2, 3), 4),
     r"decoder must have the encoder's dtype and device \(torch.float64, cpu\); got \(torch.float32, cpu\)"),
    (lambda: EncoderDecoder(rnnprobe.build("gru", hidden_size=3, input_size=0), GRU3(), 4),
     r"encoder must read inputs \(input_size >= 1\) to embed symbols; got input_size=0"),
    (lambda: model_of("rnnprobe-gru", "rnnprobe-gru")(torch.zeros(0, 2, dtype=torch.long), torch.zeros(3, 2, dtype=torch.long)),
     r"source must hold at least one time step \(T >= 1\); got shape \(0, 2\)"),
    (lambda: model_of("rnnprobe-gru", "rnnprobe-gru")(torch.zeros(3, dtype=torch.long), torch.zeros(0, dtype=torch.long)),
     r"decoder_inputs must hold at least one time step \(T >= 1\); got shape \(0,\)"),
    (lambda: model_of("rnnprobe-gru", "rnnprobe-gru")(torch.tensor([0, 4]), torch.tensor([4])),
     r"source symbols must lie in \[0, 4\); got 4"),
    (lambda: model_of("rnnprobe-gru", "rnnprobe-gru")(torch.tensor([0, 1]), torch.tensor([5])),
     r"decoder_inputs symbols must lie in \[0, 5\); got 5"),
    (lambda: model_of("rnnprobe-gru", "rnnprobe-gru")(torch.tensor([0, -1]), torch.tensor([4])),
     r"source symbols must lie in \[0, 4\); got -1"),
    (lambda: model_of("rnnprobe-gru", "rnnprobe-gru")(torch.zeros(3, 2, dtype=torch.long), torch.zeros(3, 3, dtype=torch.long)),
     r"decoder_inputs must have the source's batch size 2; got shape \(3, 3\)"),
    (lambda: model_of("rnnprobe-gru", "rnnprobe-gru")(torch.zeros(3, 2, 5), torch.zeros(3, 2, dtype=torch.long)),
     r"source as embeddings must have shape \(T, 2\) or \(T, B, 2\); got shape \(3, 2, 5\)"),
    (lambda: model_of("rnnprobe-gru", "rnnprobe-gru")(torch.full((3, 1, 2), math.nan), torch.zeros(3, 1, dtype=torch.long)),
     r"source must be finite"),
    (lambda: model_of("rnnprobe-gru", "rnnprobe-gru")([0, 1], torch.zeros(3, dtype=torch.long)), r"source must be a torch.Tensor; got list"),
    (lambda: model_of("rnnprobe-gru", "rnnprobe-gru").unrolled(torch.tensor([0]), torch.tensor([4]), cut="both"),
     r"cut must be one of 'attention', 'recurrence'; got 'both'"),
    (lambda: model_of("rnnprobe-gru", "rnnprobe-gru").generate(torch.tensor([0]), 0), r"steps must be >= 1; got 0"),
    (lambda: dot_attention(torch.zeros(3, 1, 2), torch.zeros(2, 1, 4)), r"decoder_states must have the encoder states' size n = 2.*got m = 4"),
    (lambda: dot_attention(torch.zeros(3, 1, 2), torch.zeros(2, 2, 2)), r"encoder_states and decoder_states must have shapes"),
    (lambda: dot_attention(torch.zeros(3, 1, 2), torch.zeros(2, 1, 4), torch.zeros(4, 2)), r"weight must have shape \(n, m\) = \(2, 4\); got \(4, 2\)"),
    (lambda: SequenceTask("copy", 1, 5), r"vocab_size must be >= 2; got 1"),
    (lambda: SequenceTask("copy", 3, 0), r"length must be >= 1; got 0"),
    (lambda: SequenceTask("revers", 3, 4), r"task must be one of 'copy', 'reverse'; got 'revers' \(did you mean 'reverse'\?\)"),
    (lambda: SequenceTask("copy", 3, 4).batch(0, seed=0), r"batch_size must be >= 1; got 0"),
    (lambda: SequenceTask("copy", 3, 4).batch(2), r"give exactly one of seed and generator; got seed=None and generator=None"),
    (lambda: SequenceTask("copy", 3, 4).batch(2, generator=5), r"generator must be a torch.Generator; got int"),
    (lambda: CausalTransformer(1), r"vocab_size must be >= 2; got 1"),
    (lambda: CausalSelfAttention(3, d_model=6, nhead=4), r"d_model must be divisible by nhead = 4; got 6"),
    (lambda: CausalSelfAttention(0), r"input_size must be >= 1; got 0"),
    (lambda: CausalSelfAttention(2, d_model=4, nhead=2, max_positions=3)(torch.zeros(4, 2, dtype=F64)),
     r"x must be at most max_positions = 3 steps long; got T = 4"),
    (lambda: CausalSelfAttention(2, d_model=4, nhead=2)(torch.zeros(0, 2, dtype=F64)), r"x must hold at least one time step"),
    (lambda: CausalSelfAttention(2, d_model=4, nhead=2)(torch.zeros(3, 1, 5, dtype=F64)), r"x must have last dimension input_size = 2; got shape \(3, 1, 5\)"),
    (lambda: CausalTransformer(3, d_model=4, nhead=2)(torch.tensor([0, 3]), torch.tensor([3])), r"source symbols must lie in \[0, 3\); got 3"),
    (lambda: CausalTransformer(3, d_model=4, nhead=2).generate(torch.zeros(2, 3), 2), r"source must be integer symbols"),
])
def test_bad_calls(call, pattern):
    with pytest.raises(InvalidArgument, match=pattern):
        call()
