"""Brief training on the copy/reverse tasks: determinism, learning, the alignment the trained attention finds."""

import pytest
import torch

import rnnprobe
from rnnprobe.attention import (CausalTransformer, EncoderDecoder, SequenceTask, alignment_accuracy, evaluate_seq2seq,
                                train_seq2seq)
from rnnprobe.errors import InvalidArgument

F64 = torch.float64


def vanilla_pair(seed, V, feedback=True, attention="dot", n=16, d=8):
    core = lambda s: rnnprobe.build("vanilla-tanh", hidden_size=n, input_size=d, seed=s)  # noqa: E731
    return EncoderDecoder(core(2 * seed), core(2 * seed + 1), V, attention=attention, feedback=feedback, seed=seed)


def test_trained_attention_on_a_short_reversal_is_anti_diagonal():
    """The lecture's encoder–decoder (vanilla tanh cores, dot-product attention) trained for 250 steps on reversal
    of length 5: the largest weight of target position s lies on source position T − 1 − s.

    The decoder reads no previous symbol (``feedback=False``), so its queries can encode the position only. With
    feedback the decoder, having just read its previous output x_{T−s}, can find that symbol by content at e_{T−s}
    and read x_{T−1−s} from that state's memory of the previous input: some trained seeds then align on the
    anti-diagonal shifted by one (measured; see the report of the attention study).
    Measured over seeds 0–11 with this configuration: alignment 0.938–0.996 (seed 6: 0.996), ~1 s of training.
    """
    task = SequenceTask("reverse", vocab_size=5, length=5)
    model = vanilla_pair(6, 5, feedback=False)
    log = train_seq2seq(model, task, steps=250, seed=6, lr=0.03)
    batch = task.batch(100, seed=12345)
    with torch.no_grad():
        alpha = model(batch.source, batch.decoder_inputs).attention
    assert alignment_accuracy(alpha, task) >= 0.9
    assert evaluate_seq2seq(model, task).token_accuracy >= 0.9
    assert log.losses[-10:].mean() < 0.1 * log.losses[:10].mean()


def test_training_is_deterministic_and_learns():
    task = SequenceTask("copy", vocab_size=3, length=4)
    logs = [train_seq2seq(vanilla_pair(0, 3, n=8, d=4), task, steps=30, seed=1, batch_size=16) for _ in range(2)]
    assert torch.equal(logs[0].losses, logs[1].losses) and logs[0].losses.dtype == F64
    assert logs[0].losses[-5:].mean() < logs[0].losses[:5].mean()
    other = train_seq2seq(vanilla_pair(0, 3, n=8, d=4), task, steps=30, seed=2, batch_size=16)
    assert not torch.equal(other.losses, logs[0].losses)
    assert (logs[0].task, logs[0].seed, logs[0].batch_size) == (task, 1, 16)


def test_a_causal_transformer_trains_with_the_same_utilities():
    task = SequenceTask("copy", vocab_size=3, length=4)
    model = CausalTransformer(3, d_model=16, nhead=2, seed=0)
    log = train_seq2seq(model, task, steps=40, seed=0, batch_size=16, lr=3e-3)
    assert log.losses[-5:].mean() < log.losses[:5].mean()
    acc = evaluate_seq2seq(model, task, samples=32, greedy=False)
    assert 0.0 <= acc.sequence_accuracy <= acc.token_accuracy <= 1.0 and not acc.greedy and acc.samples == 32


def test_evaluation_counts_tokens_and_sequences():
    """A model that is right exactly where the source symbol is 0: token accuracy is the share of zeros."""
    task = SequenceTask("copy", vocab_size=2, length=3)

    class Zeros(torch.nn.Module):
        vocab_size = 2

        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(()))

        def forward(self, source, decoder_inputs):
            logits = torch.zeros(*source.shape, 2, dtype=F64)
            logits[..., 0] = 1.0
            return logits, None

        def generate(self, source, steps):
            return self(source, None)

    batch = task.batch(50, seed=7)
    for greedy in (True, False):
        acc = evaluate_seq2seq(Zeros(), task, samples=50, seed=7, greedy=greedy)
        assert acc.token_accuracy == pytest.approx(float((batch.targets == 0).double().mean()))
        assert acc.sequence_accuracy == pytest.approx(float((batch.targets == 0).all(0).double().mean()))


def test_alignment_accuracy_counts_argmax_hits():
    task = SequenceTask("reverse", vocab_size=3, length=4)
    perfect = torch.eye(4).flip(1)
    assert alignment_accuracy(perfect, task) == 1.0
    assert alignment_accuracy(torch.eye(4), task) == 0.0                        # the diagonal: copy's alignment
    assert alignment_accuracy(torch.eye(4), SequenceTask("copy", 3, 4)) == 1.0
    half = torch.stack([perfect, torch.eye(4)])
    assert alignment_accuracy(half, task) == 0.5


TASK = SequenceTask("copy", 3, 4)


def nan_model():
    model = vanilla_pair(0, 3, n=4, d=2)
    with torch.no_grad():
        model.readout.bias.fill_(float("nan"))
    return model


@pytest.mark.parametrize("call, pattern", [
    (lambda: train_seq2seq(vanilla_pair(0, 3, n=4, d=2), TASK, steps=0), r"steps must be >= 1; got 0"),
    (lambda: train_seq2seq(vanilla_pair(0, 3, n=4, d=2), TASK, steps=1, lr=0.0), r"lr must lie in \(0, inf\); got 0.0"),
    (lambda: train_seq2seq(vanilla_pair(0, 3, n=4, d=2), TASK, steps=1, clip=-1.0), r"clip must lie in \(0, inf\); got -1.0"),
    (lambda: train_seq2seq(vanilla_pair(0, 3, n=4, d=2), TASK, steps=1, batch_size=0), r"batch_size must be >= 1; got 0"),
    (lambda: train_seq2seq(vanilla_pair(0, 3, n=4, d=2), TASK, steps=1, seed=-1), r"seed must be >= 0; got -1"),
    (lambda: train_seq2seq(vanilla_pair(0, 4, n=4, d=2), TASK, steps=1), r"task.vocab_size must equal the model's vocab_size = 4; got 3"),
    (lambda: train_seq2seq(torch.nn.GRU(2, 3), TASK, steps=1), r"model must be a sequence-to-sequence module .*got GRU"),
    (lambda: train_seq2seq(vanilla_pair(0, 3, n=4, d=2), "copy", steps=1), r"task must be a SequenceTask; got str"),
    (lambda: train_seq2seq(vanilla_pair(0, 3, n=4, d=2), TASK, steps=3, lr=1e300), r"training diverged: the loss is nan at step 1"),
    (lambda: evaluate_seq2seq(vanilla_pair(0, 3, n=4, d=2), TASK, samples=0), r"samples must be >= 1; got 0"),
    (lambda: evaluate_seq2seq(nan_model(), TASK), r"model must give finite logits to be evaluated; got NaN/Inf"),
    (lambda: alignment_accuracy(torch.ones(3, 3), TASK), r"attention must have shape \(B, 4, 4\) or \(4, 4\) for a task of length 4; got \(3, 3\)"),
    (lambda: alignment_accuracy(torch.full((4, 4), float("nan")), TASK), r"attention must be finite"),
    (lambda: alignment_accuracy(torch.ones(4, 4), "copy"), r"task must be a SequenceTask; got str"),
])
def test_bad_calls(call, pattern):
    with pytest.raises(InvalidArgument, match=pattern):
        call()
