"""The char-RNN: corpus, model over every core, maximum-likelihood training, sampling, checkpoints, resuming."""

from __future__ import annotations

import hashlib
import math
import sysconfig
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import rnnprobe
from rnnprobe.errors import InvalidArgument
from rnnprobe.sequence import (CharRNN, CharRNNSpec, Corpus, TrainConfig, core_names, evaluate, load_checkpoint,
                               load_corpus, read_checkpoint, read_rows, sample, save_checkpoint, train)
from rnnprobe.sequence.charrnn import TiedTorchLayer
from rnnprobe.sequence.corpus import DEFAULT_MODULES, FILE_SEPARATOR, default_corpus_files

F64 = torch.float64
FOX = "the quick brown fox jumps over the lazy dog\n" * 30
TINY = dict(hidden_size=8, embedding_size=4, batch_size=4, bptt=8, probe_length=20, lyapunov_k=2, lr=1e-2)


def tiny_config(**changes) -> TrainConfig:
    settings = {"core": "gru", "steps": 6, "eval_every": 2, "probe_every": 2, "checkpoint_every": 2, **TINY}
    settings.update(changes)
    return TrainConfig(**settings)


# ------------------------------------------------------------------ corpus
def test_default_corpus_is_the_stdlib_sources_in_a_fixed_order():
    corpus = load_corpus()
    files = default_corpus_files()
    root = Path(sysconfig.get_paths()["stdlib"])
    present = [m for m in DEFAULT_MODULES if (root / m).is_file()]
    assert [f.name for f in files][: len(present)] == present
    text = FILE_SEPARATOR.join(f.read_text(encoding="utf-8") for f in files)
    assert corpus.source["kind"] == "stdlib" and corpus.source["files"] == [f.name for f in files]
    assert corpus.source["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert corpus.source["chars"] == len(text) >= 300_000 and corpus.source["bytes"] == len(text.encode())
    assert corpus.decode(torch.cat([corpus.train, corpus.val])) == text
    assert load_corpus().source == corpus.source              # deterministic


def test_default_corpus_tops_up_deterministically_when_modules_are_missing(tmp_path):
    for name in ("zeta.py", "alpha.py", "bisect.py", "mid.py"):
        (tmp_path / name).write_text(name * 10, encoding="utf-8")
    files = default_corpus_files(tmp_path, min_chars=200)
    # bisect.py is the only DEFAULT_MODULES member present; then the others by sorted name (90 + 80 + 60 bytes) until 200
    assert [f.name for f in files] == ["bisect.py", "alpha.py", "mid.py"]
    assert [f.name for f in default_corpus_files(tmp_path, min_chars=10_000)] == ["bisect.py", "alpha.py",
                                                                                  "mid.py", "zeta.py"]
    with pytest.raises(InvalidArgument, match="holds no Python sources"):
        default_corpus_files(tmp_path / "empty-dir-that-does-not-exist")


def test_corpus_from_a_file_splits_and_round_trips(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("héllo wörld ✓\n" * 20, encoding="utf-8")
    c = load_corpus(path, val_fraction=0.25)
    text = path.read_text(encoding="utf-8")
    assert c.vocab == "".join(sorted(set(text))) and c.vocab_size == len(set(text))
    assert len(c.val) == round(len(text) * 0.25) and c.decode(c.train) + c.decode(c.val) == text
    assert c.source["kind"] == "file" and c.source["path"] == str(path)
    assert c.source["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert load_corpus(path, max_chars=10).source["chars"] == 10


# ------------------------------------------------------------------ the model
@pytest.mark.parametrize("core", core_names())
@pytest.mark.parametrize("layers", [1, 2])
def test_every_core_runs_and_its_probe_copy_is_the_same_network(core, layers):
    model = CharRNN(CharRNNSpec(core, vocab_size=7, hidden_size=5, embedding_size=3, num_layers=layers, seed=1))
    ids = torch.randint(0, 7, (9, 2), generator=torch.Generator().manual_seed(0))
    logits, _ = model(ids)
    assert logits.shape == (9, 2, 7) and torch.isfinite(logits).all()
    top, _ = model.core_outputs(model.embedding(ids))
    # the float64 copy the probes read, fed the inputs probe_core gives, retraces the top layer's hidden vectors
    copy, x = model.probe_core(ids, layers - 1)
    traj = rnnprobe.record(copy, x)
    assert copy.dtype == F64 and torch.allclose(traj.hidden_states()[1:].float(), top, atol=1e-5)
    # the live (tied) layer, fed core_layer_inputs, does too, with gradients into the model's parameters
    live = model.core_layer(layers - 1)
    s, outs = live.initial_state(2), []
    inputs = model.core_layer_inputs(ids, layers - 1)
    for t in range(9):
        s = live.step(inputs[t], s)
        outs.append(live.hidden(s))
    assert torch.allclose(torch.stack(outs), top, atol=1e-5)
    torch.stack(outs).sum().backward()
    unused = set(getattr(live, "readout_only_parameters", ()))
    assert all(p.grad is not None for name, p in live.named_parameters() if name not in unused) or model.fused
    assert all(p.grad is None for name, p in live.named_parameters() if name in unused)
    if model.fused:
        assert getattr(model.core, f"weight_hh_l{layers - 1}").grad is not None


@pytest.mark.parametrize("kind", ["nn.RNN", "nn.GRU", "nn.LSTM"])
def test_tied_torch_layer_jacobian_is_autograds_and_adapts(kind):
    module = getattr(torch.nn, kind[3:])(3, 4, num_layers=2, dtype=F64)
    for layer in (0, 1):
        tied = TiedTorchLayer(module, layer)
        x = torch.randn(5, tied.input_size, dtype=F64)
        s = torch.randn(5, tied.state_size, dtype=F64)
        assert torch.allclose(tied.step_jacobian(x, s), tied.autograd_step_jacobian(x, s), atol=1e-12)
        copy = rnnprobe.adapt(module, layer)
        assert torch.allclose(tied.step(x, s), copy.step(x, s), atol=1e-12)
        names = {"nn.RNN": ["W_h"], "nn.GRU": ["W_hr", "W_hz", "W_hn"], "nn.LSTM": ["W_hi", "W_hf", "W_hg", "W_ho"]}
        assert list(tied.recurrent_weights()) == names[kind]
        assert tied.family == copy.family and tied.name == copy.name
    # a vanilla layer is in the lecture's form: the bound chain uses its D_s, and holds
    tied = TiedTorchLayer(torch.nn.RNN(3, 4, dtype=F64))
    if kind == "nn.RNN":
        assert rnnprobe.gradient_bounds(rnnprobe.record(tied, torch.randn(20, 3, dtype=F64))).holds()


def test_models_are_seeded_and_leave_the_global_rng_alone():
    state = torch.random.get_rng_state()
    a = CharRNN(CharRNNSpec("nn.LSTM", vocab_size=5, hidden_size=4, embedding_size=2, num_layers=2, seed=3))
    assert torch.equal(torch.random.get_rng_state(), state)
    b = CharRNN(CharRNNSpec("nn.LSTM", vocab_size=5, hidden_size=4, embedding_size=2, num_layers=2, seed=3))
    c = CharRNN(CharRNNSpec("nn.LSTM", vocab_size=5, hidden_size=4, embedding_size=2, num_layers=2, seed=4))
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.readout.weight, c.readout.weight)
    a.probe_core(torch.tensor([0, 1, 2]), 1)
    assert torch.equal(torch.random.get_rng_state(), state)


# ------------------------------------------------------------------ evaluation and training
def test_evaluate_is_the_mean_cross_entropy_in_bits():
    model = CharRNN(CharRNNSpec("lstm", vocab_size=6, hidden_size=5, embedding_size=3, seed=2))
    ids = torch.randint(0, 6, (50,), generator=torch.Generator().manual_seed(1))
    # one stream read at once: the reference is a single forward pass
    logits, _ = model(ids[:-1].unsqueeze(1))
    reference = F.cross_entropy(logits[:, 0].double(), ids[1:]).item() / math.log(2)
    assert evaluate(model, ids, batch_size=1, bptt=100) == pytest.approx(reference, rel=1e-6)
    # the state is carried across chunks: chunking does not change the number
    assert evaluate(model, ids, batch_size=1, bptt=7) == pytest.approx(reference, rel=1e-6)


@pytest.mark.parametrize("core", ["lstm", "nn.LSTM", "vanilla-tanh"])
def test_a_tiny_corpus_is_overfitted(core):
    corpus = Corpus.from_text(FOX)
    config = TrainConfig(core=core, hidden_size=32, embedding_size=16, batch_size=8, bptt=32, steps=60, lr=1e-2,
                         eval_every=60, probe_every=60, probe_length=50)
    result = train(config, corpus=corpus)
    bpc = [r["value"] for r in result.rows if r["metric"] == "val_bits_per_char"]
    assert bpc[0] > 4.0            # at initialisation: about log2(28 characters) = 4.8 bits
    assert result.val_bits_per_char < 0.25     # measured 0.07-0.09 after 60 steps
    assert result.val_bits_per_char == bpc[-1]


def test_training_rows_are_tidy_and_complete():
    corpus = Corpus.from_text(FOX)
    result = train(tiny_config(steps=5, eval_every=2, probe_every=2), corpus=corpus)
    rows = result.rows
    assert all(list(r) == ["step", "metric", "lag", "layer", "index", "block", "value"] for r in rows)
    steps = {m: sorted({r["step"] for r in rows if r["metric"] == m}) for m in {r["metric"] for r in rows}}
    assert steps["val_bits_per_char"] == [0, 2, 4, 5] and steps["train_loss"] == [2, 4, 5]
    assert steps["jacobian_norm"] == [0, 2, 4, 5] and steps["parameter_gradient_norm"] == [0, 2, 4, 5]
    G = [r for r in rows if r["metric"] == "jacobian_norm" and r["step"] == 0]
    assert [r["lag"] for r in G] == list(range(1, 21))
    groups = {r["block"] for r in rows if r["metric"] == "parameter_gradient_norm"}
    assert groups == {"embedding", "core.0", "readout", "total"}


def test_context_columns_survive_a_resume(tmp_path):
    corpus = Corpus.from_text(FOX)
    context = {"study": "training", "arch": "gru", "hidden": 8, "seed": 0}
    whole = train(tiny_config(steps=4), corpus=corpus, context=context)
    assert all(list(r)[:4] == list(context) and r["arch"] == "gru" for r in whole.rows)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(steps=4), tmp_path, corpus=corpus, context=context, progress=kill_after(3))
    assert train(tiny_config(steps=4), tmp_path, corpus=corpus, context=context).rows == whole.rows


def kill_after(n):
    def progress(step, loss):
        if step == n:
            raise KeyboardInterrupt
    return progress


@pytest.mark.parametrize("core, floss", [("gru", 0), ("nn.LSTM", 2)])
def test_a_killed_run_resumes_to_the_uninterrupted_result(tmp_path, core, floss):
    corpus = Corpus.from_text(FOX)
    config = tiny_config(core=core, steps=7, checkpoint_every=3, eval_every=2, probe_every=2, floss=floss)
    whole = train(config, tmp_path / "whole", corpus=corpus)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "killed", corpus=corpus, progress=kill_after(5))
    _, _, saved = load_checkpoint(tmp_path / "killed" / "model.pt")
    assert saved["step"] == 3                # the steps since the last checkpoint (4 and 5) are lost, no more
    resumed = train(config, tmp_path / "killed", corpus=corpus)
    assert resumed.resumed_from == 3
    assert resumed.rows == whole.rows
    for (name, p), q in zip(whole.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(p, q), name
    assert read_rows(tmp_path / "killed" / "monitor.csv") == whole.rows
    # a finished run is not trained again; a longer one continues from its end
    again = train(config, tmp_path / "killed", corpus=corpus)
    assert again.resumed_from == 7 and again.rows == whole.rows
    longer = train(tiny_config(core=core, steps=9, checkpoint_every=3, eval_every=2, probe_every=2, floss=floss),
                   tmp_path / "killed", corpus=corpus)
    assert longer.resumed_from == 7 and longer.step == 9
    straight = train(tiny_config(core=core, steps=9, checkpoint_every=3, eval_every=2, probe_every=2, floss=floss),
                     corpus=corpus)
    assert longer.rows == straight.rows


def test_resuming_refuses_other_settings_texts_and_vocabularies(tmp_path):
    corpus = Corpus.from_text(FOX)
    train(tiny_config(steps=2), tmp_path, corpus=corpus)
    with pytest.raises(InvalidArgument, match=r"holds a run with other settings \(differs in: hidden_size\)"):
        train(tiny_config(steps=2, hidden_size=9), tmp_path, corpus=corpus)
    other = Corpus.from_text(FOX.replace("dog", "cat"))
    with pytest.raises(InvalidArgument, match=r"vocabulary of the run's checkpoint .* does not match the text's"):
        train(tiny_config(steps=2), tmp_path, corpus=other)
    same_vocab = Corpus.from_text(FOX[::-1])
    with pytest.raises(InvalidArgument, match=r"holds a run on another text \(sha256"):
        train(tiny_config(steps=2), tmp_path, corpus=same_vocab)
    with pytest.raises(InvalidArgument, match=r"steps must be >= 2, the steps the run .* has already done; got 1"):
        train(tiny_config(steps=1), tmp_path, corpus=corpus)


# ------------------------------------------------------------------ sampling and checkpoints
def trained(tmp_path, core="lstm"):
    result = train(tiny_config(core=core, steps=20), tmp_path, corpus=Corpus.from_text(FOX))
    return result, tmp_path / "model.pt"


def test_sampling_is_reproducible_from_the_seed(tmp_path):
    result, _ = trained(tmp_path)
    a = sample(result.model, result.vocab, 200, temperature=0.8, seed=0)
    assert a == sample(result.model, result.vocab, 200, temperature=0.8, seed=0)
    assert a != sample(result.model, result.vocab, 200, temperature=0.8, seed=1)
    assert len(a) == 200 and set(a) <= set(result.vocab)


def test_low_temperature_is_greedy_decoding(tmp_path):
    result, _ = trained(tmp_path)
    model, vocab = result.model, result.vocab
    greedy, ids = [], torch.tensor([[vocab.index("\n")]])
    with torch.no_grad():
        logits, state = model(ids)
        for _ in range(40):
            nxt = int(logits[-1, 0].argmax())
            greedy.append(vocab[nxt])
            logits, state = model(torch.tensor([[nxt]]), state)
    for seed in (0, 1):
        assert sample(model, vocab, 40, temperature=1e-6, seed=seed) == "".join(greedy)


def test_sampling_draws_from_the_models_distribution():
    # a model with zero readout weights predicts softmax(b): the sample frequencies follow it
    model = CharRNN(CharRNNSpec("gru", vocab_size=3, hidden_size=4, embedding_size=2))
    with torch.no_grad():
        model.readout.weight.zero_()
        model.readout.bias.copy_(torch.log(torch.tensor([0.6, 0.3, 0.1])))
    text = sample(model, "abc", 4000, temperature=1.0, seed=0)
    freq = [text.count(ch) / 4000 for ch in "abc"]
    assert freq == pytest.approx([0.6, 0.3, 0.1], abs=0.03)      # 4 binomial standard errors
    sharp = sample(model, "abc", 4000, temperature=0.5, seed=0)    # p^2 normalised: 0.78, 0.20, 0.02
    assert sharp.count("a") / 4000 == pytest.approx(0.36 / 0.46, abs=0.03)


@pytest.mark.parametrize("core", ["lstm", "nn.GRU"])
def test_checkpoint_round_trip(tmp_path, core):
    result, path = trained(tmp_path, core)
    blob = torch.load(path, weights_only=True)            # plain tensors and values: no pickled code
    assert {"spec", "state_dict", "vocab", "training"} <= set(blob) and blob["vocab"] == result.vocab
    model, vocab, training = load_checkpoint(path, vocab=result.vocab)
    assert training["step"] == 20 and training["finished"]
    ids = torch.randint(0, len(vocab), (15, 3), generator=torch.Generator().manual_seed(0))
    assert torch.equal(model(ids)[0], result.model(ids)[0])
    assert sample(model, vocab, 50, seed=2) == sample(result.model, vocab, 50, seed=2)
    # a checkpoint without training state, saved by hand
    save_checkpoint(tmp_path / "bare.pt", model, vocab)
    again, _, none = load_checkpoint(tmp_path / "bare.pt")
    assert none is None and torch.equal(again(ids)[0], model(ids)[0])


# ------------------------------------------------------------------ bad input
def bad_checkpoints(tmp_path):
    model = CharRNN(CharRNNSpec("gru", vocab_size=3, hidden_size=4, embedding_size=2))
    save_checkpoint(tmp_path / "ok.pt", model, "abc")
    torch.save({"spec": {"arch": "gru"}, "state_dict": {}}, tmp_path / "other.pt")
    torch.save(torch.nn.Linear(2, 2), tmp_path / "pickled.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    blob = torch.load(tmp_path / "ok.pt", weights_only=True)
    blob["vocab"] = "abcd"
    torch.save(blob, tmp_path / "mismatch.pt")
    tampered = {                                   # hand-edited files, or saved by another version of rnnprobe
        "future.pt": lambda b: b["spec"]["charrnn"].update(version=2),
        "unknown_core.pt": lambda b: b["spec"]["charrnn"].update(core="transformer"),
        "hidden_str.pt": lambda b: b["spec"]["charrnn"].update(hidden_size="4"),
        "nan_weights.pt": lambda b: b["state_dict"]["readout.weight"].fill_(math.nan),
        "wrong_shape.pt": lambda b: b["state_dict"].update({"readout.weight": torch.zeros(2, 2)}),
        "no_state.pt": lambda b: b.update(state_dict=[1, 2]),
    }
    for name, edit in tampered.items():
        blob = torch.load(tmp_path / "ok.pt", weights_only=True)
        edit(blob)
        torch.save(blob, tmp_path / name)
    return tmp_path


BAD_CALLS = [
    ("empty file", lambda p: load_corpus(p / "empty.txt"), r"text must not be empty; got '.*empty.txt' \(0 bytes\)"),
    ("not utf-8", lambda p: load_corpus(p / "latin1.txt"), r"text must be UTF-8 text; got '.*latin1.txt', whose byte 0 \(b'\\xe9'\) is not UTF-8"),
    ("missing file", lambda p: load_corpus(p / "nope.txt"), r"text must be a readable file; got '.*nope.txt'"),
    ("one character", lambda p: Corpus.from_text("a"), r"text must hold at least 2 characters.*got 1 character"),
    ("one distinct character", lambda p: Corpus.from_text("aaaa"),
     r"text must hold at least 2 distinct characters .*; got only 'a', 4 times"),
    ("val_fraction", lambda p: Corpus.from_text("abc", val_fraction=1.0), r"val_fraction must lie in \(0, 1\); got 1.0"),
    ("max_chars", lambda p: load_corpus(max_chars=1), r"max_chars must be >= 2; got 1"),
    ("shorter than a batch", lambda p: train(tiny_config(batch_size=8, bptt=40), corpus=Corpus.from_text("ab" * 100)),
     r"at least one batch, batch_size x \(bptt \+ 1\) = 8 x 41 = 328 characters; got 180"),
    ("steps 0", lambda p: tiny_config(steps=0), r"steps must be >= 1; got 0"),
    ("steps -3", lambda p: tiny_config(steps=-3), r"steps must be >= 1; got -3"),
    ("batch 0", lambda p: tiny_config(batch_size=0), r"batch_size must be >= 1; got 0"),
    ("bptt 0", lambda p: tiny_config(bptt=0), r"bptt must be >= 1; got 0"),
    ("eval_every 0", lambda p: tiny_config(eval_every=0), r"eval_every must be >= 1; got 0"),
    ("hidden 0", lambda p: tiny_config(hidden_size=0), r"hidden_size must be >= 1; got 0"),
    ("lr 0", lambda p: tiny_config(lr=0.0), r"lr must lie in \(0, inf\); got 0.0"),
    ("lr nan", lambda p: tiny_config(lr=math.nan), r"lr must be a finite real number; got nan"),
    ("clip", lambda p: tiny_config(clip=-1.0), r"clip must lie in \(0, inf\); got -1.0"),
    ("floss -1", lambda p: tiny_config(floss=-1), r"floss must be >= 0; got -1"),
    ("floss_before alone", lambda p: tiny_config(floss_before=2), r"floss_before needs floss >= 1.*floss_before=2"),
    ("unknown core", lambda p: tiny_config(core="lsmt"), r"core must be one of .*; got 'lsmt' \(did you mean 'lstm'\?\)"),
    ("feed-forward core", lambda p: tiny_config(core="mlp"), r"core must be one of .*; got 'mlp'"),
    ("unknown option", lambda p: tiny_config(core="lstm", options={"forgetbias": 1}),
     r"option 'forgetbias' is not accepted by architecture 'lstm'.*did you mean 'forget_bias'"),
    ("bad option value", lambda p: tiny_config(core="lstm", options={"forget_bias": "x"}),
     r"forget_bias must be a finite real number; got 'x'"),
    ("reserved option", lambda p: tiny_config(options={"seed": 1}), r"option 'seed' is set by the char-RNN itself"),
    ("torch option", lambda p: tiny_config(core="nn.GRU", options={"dropout": 0.1}),
     r"option 'dropout' is not accepted by core 'nn.GRU'; allowed: bias"),
    ("temperature 0", lambda p: sample(*load_checkpoint(p / "ok.pt")[:2], 5, temperature=0.0),
     r"temperature must lie in \(0, inf\); got 0.0"),
    ("temperature -1", lambda p: sample(*load_checkpoint(p / "ok.pt")[:2], 5, temperature=-1.0),
     r"temperature must lie in \(0, inf\); got -1.0"),
    ("length 0", lambda p: sample(*load_checkpoint(p / "ok.pt")[:2], 0), r"length must be >= 1; got 0"),
    ("prime outside vocab", lambda p: sample(*load_checkpoint(p / "ok.pt")[:2], 5, prime="abz"),
     r"prime has characters outside the model's vocabulary: 'z'; got 'abz'"),
    ("vocab mismatch", lambda p: load_checkpoint(p / "ok.pt", vocab="abd"),
     r"vocabulary of checkpoint .* \(3 characters\) does not match the text's \(3 characters\): only in the "
     r"checkpoint 'c', only in the text 'd'; got vocab='abd'"),
    ("vocab size mismatch", lambda p: load_checkpoint(p / "mismatch.pt"), r"vocab has 4 characters but its spec says "
                                                                            r"vocab_size=3"),
    ("not a char-RNN", lambda p: load_checkpoint(p / "other.pt"), r"must be a char-RNN checkpoint"),
    ("pickled", lambda p: read_checkpoint(p / "pickled.pt"), r"holds pickled Python objects"),
    ("another version's spec", lambda p: load_checkpoint(p / "future.pt"),
     r"checkpoint spec is not a char-RNN spec this rnnprobe can build \(a char-RNN spec .*accepts only .*'version': 2"),
    ("unknown core in the spec", lambda p: load_checkpoint(p / "unknown_core.pt"),
     r"checkpoint spec is not a char-RNN spec .*core must be one of .*; got 'transformer'"),
    ("tampered spec value", lambda p: load_checkpoint(p / "hidden_str.pt"),
     r"checkpoint spec is not a char-RNN spec .*hidden_size must be an integer; got '4'"),
    ("non-finite weights", lambda p: load_checkpoint(p / "nan_weights.pt"),
     r"checkpoint state_dict must hold finite values; got NaN/Inf in 'readout.weight'"),
    ("weights of another shape", lambda p: load_checkpoint(p / "wrong_shape.pt"),
     r"checkpoint state_dict does not fit its spec .*size mismatch for readout.weight"),
    ("state_dict not a dict", lambda p: load_checkpoint(p / "no_state.pt"),
     r"checkpoint state_dict must be a dict of tensors; got list"),
    ("junk", lambda p: read_checkpoint(p / "junk.pt"), r"must be a file torch.load can read"),
    ("no file", lambda p: read_checkpoint(p / "none.pt"), r"must be an existing checkpoint file; got '.*none.pt'"),
    ("ids out of range", lambda p: load_checkpoint(p / "ok.pt")[0](torch.tensor([[3]])),
     r"ids must lie in \[0, 3\) \(the vocabulary\); got values in \[3, 3\]"),
    ("float ids", lambda p: load_checkpoint(p / "ok.pt")[0](torch.zeros(2, 1)), r"ids must be an int64 tensor"),
]


@pytest.mark.parametrize("what, call, pattern", BAD_CALLS, ids=[b[0] for b in BAD_CALLS])
def test_bad_input_is_refused_by_name(tmp_path, what, call, pattern):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "latin1.txt").write_bytes("é and more".encode("latin-1"))
    bad_checkpoints(tmp_path)
    with pytest.raises(InvalidArgument, match=pattern):
        call(tmp_path)


def _damage_optimizer(blob):
    blob["training"]["optimizer"]["param_groups"][0]["params"] = [0]     # one parameter where the model has more


@pytest.mark.parametrize("edit, pattern", [
    (lambda b: b["training"].update(step="x"), r"step must be an integer >= 0; got 'x'"),
    (lambda b: b["training"].update(step=-5), r"step must be an integer >= 0; got -5"),
    (lambda b: b["training"].update(loss_sum=math.inf), r"loss_sum must be a finite number; got inf"),
    (lambda b: b["training"].update(loss_count=None), r"loss_count must be an integer >= 0; got None"),
    (lambda b: b["training"].update(optimizer={"state": 5}), r"optimizer must be an optimizer state_dict"),
    (lambda b: b["training"]["carry"][0].fill_(math.nan), r"carry must be finite; got NaN/Inf"),
    (lambda b: b["training"].update(carry="h"), r"carry must be None or the carried states \(tensors\); got str"),
    (_damage_optimizer, r"holds an optimizer state that does not fit the model \(ValueError"),
    (lambda b: b.update(training={"step": 2}), r"'.*model.pt' has no training state"),
], ids=["step str", "step negative", "loss_sum inf", "loss_count None", "optimizer", "carry nan", "carry str",
        "optimizer of another model", "no config"])
def test_a_damaged_training_state_is_refused_when_resuming(tmp_path, edit, pattern):
    config, corpus = tiny_config(steps=2), Corpus.from_text(FOX)
    train(config, tmp_path, corpus=corpus)
    blob = torch.load(tmp_path / "model.pt", weights_only=True)
    edit(blob)
    torch.save(blob, tmp_path / "model.pt")
    with pytest.raises(InvalidArgument, match=r"the run's checkpoint .*" + pattern):
        train(tiny_config(steps=4), tmp_path, corpus=corpus)


def test_a_diverging_run_stops_with_a_hint():
    config = tiny_config(core="vanilla-relu", lr=1e30, clip=None, eval_every=100, probe_every=100)
    with pytest.raises(InvalidArgument, match=r"the training loss is not finite at step 1 \(nan\): lower lr "
                                              r"\(got 1e\+30\) or clip the gradients \(clip=None\)"):
        train(config, corpus=Corpus.from_text(FOX))


def test_a_diverging_model_is_not_sampled_silently():
    model = CharRNN(CharRNNSpec("gru", vocab_size=3, hidden_size=4, embedding_size=2))
    with torch.no_grad():
        model.readout.bias[0] = math.nan
    with pytest.raises(InvalidArgument, match="model must give finite logits; got NaN/Inf"):
        sample(model, "abc", 5)
    with pytest.raises(InvalidArgument, match="validation loss is not finite"):
        evaluate(model, torch.tensor([0, 1, 2, 1]))
