"""Does attention cure "asking the network too much": accuracy, gradient paths and alignments of encoder–decoders with and without attention and of a causal transformer, on copy and reversal against length?

For every model x task x source length T x seed, a model is trained briefly from scratch and measured
(the instruments are :mod:`rnnprobe.attention`):

``task``
    ``copy`` or ``reverse`` (:class:`~rnnprobe.attention.SequenceTask`): sources of T symbols drawn
    uniformly from ``vocab`` = V symbols, the target is the source (copy) or the source reversed;
    target position s is aligned with source position s (copy) or T − 1 − s (reverse: the
    anti-diagonal).
``model``
    ``none``, ``dot``, ``bilinear``: the lecture's encoder–decoder
    (:class:`~rnnprobe.attention.EncoderDecoder`) over two recurrent cores of architecture ``arch``
    (hidden size ``hidden``, input size 16), without attention (the decoder starts from the encoder's
    last state and sees nothing else: the bottleneck), with dot-product attention α_{t,s} =
    softmax_t(e_tᵀd_s), or with bilinear attention; the decoder reads its previous output symbol
    (teacher forcing in training). With the suffix ``-nofeedback`` the decoder reads the start symbol
    at every step instead (``feedback=False``), so its queries can encode the target position but
    no symbol. ``transformer``: one causal transformer layer (:class:`~rnnprobe.attention.CausalTransformer`,
    d_model = ``hidden``, 4 heads, learned positions) over [source; target] (``arch`` empty).

Training (:func:`~rnnprobe.attention.train_seq2seq`): ``train_steps`` Adam steps (learning rate 1e-2,
transformer 3e-3), each on 32 fresh teacher-forced sequences drawn from the seed, gradient norm clipped
at 1. The weights come from the seed too (encoder core ``2·seed``, decoder core ``2·seed + 1``).

Measured on fresh evaluation sequences (seed 12345, never a training seed's stream):

* summary.csv: greedy-decoding ``token_accuracy`` and ``sequence_accuracy`` and the
  ``teacher_forced_accuracy`` on 256 sequences; the ``final_loss`` (training cross-entropy over the
  last 20 steps); ``alignment_accuracy``, the share of target positions whose largest attention weight
  (teacher-forced) falls on the aligned source position, and ``alignment_shifted``, on the position
  one after it (reverse: t = T − s; a decoder that reads its previous output symbol can find the next
  one by content there, since e_{T−s} has just read it);
* ``attention_weight`` rows: α_{t,s} for the first 3 evaluation sequences (``example`` 0, 1, 2),
  indexed by ``target_position`` s and ``source_position`` t; for the transformer, the head-averaged
  weights from the decoder position that predicts s onto the source positions (the rest of each row
  falls on the decoder's own positions);
* for every target position s, the gradient of L_s = uᵀy_s (a fixed random unit readout u of the logits
  at s, drawn from the seed), on the first 16 evaluation sequences, mean of the norms over them:
  ``source_gradient_norm`` ‖∂L_s/∂x_t‖ at the source embeddings (every model), and for the
  encoder–decoders ``path_gradient_total`` ‖∂L_s/∂s_t‖ at the encoder states with its two parts
  (:func:`~rnnprobe.attention.attention_path_split`): ``path_gradient_attention``, the part that crossed
  the attention, and ``path_gradient_recurrence``, the part that crossed the decoder's start state and
  travelled back the whole encoder (T − t + s recurrent steps from s_t to d_s).

Examples
--------
>>> from rnnprobe import studies
>>> study = studies.load("attention")
>>> len(study.points(study.resolve()))       # 4 models x 2 tasks x 4 lengths x 2 seeds
64
>>> point = dict(arch="gru", hidden=8, length=4, depth=None, gain=None, seed=0, model="dot", task="reverse",
...              vocab=4, train_steps=5)
>>> rows, summary = study.module.probe(point)
>>> sorted({r[0] for r in rows})
['attention_weight', 'path_gradient_attention', 'path_gradient_recurrence', 'path_gradient_total', 'source_gradient_norm']
>>> 0.0 <= summary["token_accuracy"] <= 1.0
True
"""

from __future__ import annotations

from rnnprobe.schema import ATTENTION_METRICS, ATTENTION_SUMMARY_FIELDS, EXTRA_GRID_COLUMNS, EXTRA_ROW_COLUMNS
from rnnprobe.studies import Axis, GridError

# torch and the instruments are imported inside the functions: loading a study to read its grid stays light


def __getattr__(name):
    """``ARCHS``, the cores the study accepts: every recurrent architecture in ``rnnprobe.architectures``
    (read when asked, so that architectures registered later are accepted too)."""
    if name == "ARCHS":
        from rnnprobe.models.registry import architectures

        return tuple(architectures.recurrent())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: the encoder–decoder's attention kinds, as the model axis names them
ATTENTION_MODELS = ("none", "dot", "bilinear")
#: every value of the model axis
MODELS = (*ATTENTION_MODELS, *(f"{k}-nofeedback" for k in ATTENTION_MODELS), "transformer")
TASKS = ("copy", "reverse")

#: input (embedding) size of the recurrent cores
EMBEDDING_SIZE = 16
#: sequences per training step, and Adam's learning rate per kind of model
BATCH_SIZE = 32
LEARNING_RATE = {"encoder-decoder": 1e-2, "transformer": 3e-3}
#: transformer: attention heads (d_model = hidden must be divisible by it) and layers
NHEAD = 4
LAYERS = 1
#: evaluation: sequences, their seed, those whose gradients are measured, those whose weights are stored
EVAL_SAMPLES = 256
EVAL_SEED = 12345
GRADIENT_SAMPLES = 16
EXAMPLES = 3
#: training steps whose losses are averaged into final_loss
LOSS_WINDOW = 20

EXTRA_AXES = {
    "model": Axis(str, EXTRA_GRID_COLUMNS["model"], choices=MODELS),
    "task": Axis(str, EXTRA_GRID_COLUMNS["task"], choices=TASKS),
    "vocab": Axis(int, EXTRA_GRID_COLUMNS["vocab"], min_value=2),
    "train_steps": Axis(int, EXTRA_GRID_COLUMNS["train_steps"], min_value=1),
}
EXTRA_ROW_COLUMNS = {k: EXTRA_ROW_COLUMNS[k] for k in ("target_position", "source_position", "example")}
EXTRA_METRICS = dict(ATTENTION_METRICS)
EXTRA_SUMMARY = dict(ATTENTION_SUMMARY_FIELDS)

GRID = {
    "arch": ["gru"],
    "hidden": [32],
    "length": [5, 10, 20, 40],
    "seed": [0, 1],
    "model": ["none", "dot", "dot-nofeedback", "transformer"],
    "task": ["copy", "reverse"],
    "vocab": [8],
    "train_steps": [600],
}

QUICK = {
    "arch": ["gru"],
    "hidden": [8],
    "length": [4, 8],
    "seed": [0],
    "model": ["none", "dot", "transformer"],
    "task": ["reverse"],
    "vocab": [4],
    "train_steps": [40],
}


def points(grid):
    """Every combination; the transformer has no recurrent core, so its points have no ``arch`` (one per
    remaining combination). Raises GridError for a transformer width that its heads do not divide."""
    if "transformer" in grid["model"]:
        bad = [h for h in grid["hidden"] if h % NHEAD]
        if bad:
            raise GridError("hidden", f"hidden must be divisible by the transformer's {NHEAD} heads (it is its "
                                      f"d_model); got {bad[0]!r}")
    out = []
    for model in grid["model"]:
        archs = [None] if model == "transformer" else grid["arch"]
        for arch in archs:
            for hidden in grid["hidden"]:
                for length in grid["length"]:
                    for seed in grid["seed"]:
                        for task in grid["task"]:
                            for vocab in grid["vocab"]:
                                for steps in grid["train_steps"]:
                                    out.append(dict(arch=arch, hidden=hidden, length=length, seed=seed, model=model,
                                                    task=task, vocab=vocab, train_steps=steps))
    return out


def cost(point) -> float:
    """Relative cost: training steps times the length (the transformer's greedy decoding is quadratic in it)."""
    T = point["length"]
    return point["train_steps"] * T * (1.0 + (T / 100 if point["model"] == "transformer" else 0.0))


def build_model(point, *, dtype="float64", device="cpu"):
    """The untrained model of one grid point (seeded by the point's seed)."""
    import rnnprobe
    from rnnprobe.attention import CausalTransformer, EncoderDecoder
    from rnnprobe.studies._probes import dtype_of, to_device

    dt, seed = dtype_of(dtype), point["seed"]
    if point["model"] == "transformer":
        model = CausalTransformer(point["vocab"], d_model=point["hidden"], nhead=NHEAD, num_layers=LAYERS,
                                  max_positions=2 * point["length"], seed=seed, dtype=dt)
    else:
        kind, _, suffix = point["model"].partition("-")

        def core(s):
            return rnnprobe.build(point["arch"], point["hidden"], EMBEDDING_SIZE, seed=s, dtype=dt)

        model = EncoderDecoder(core(2 * seed), core(2 * seed + 1), point["vocab"], attention=kind,
                               feedback=suffix != "nofeedback", seed=seed)
    return to_device(model, device)


def _attention(model, batch, task):
    """Teacher-forced weights ``(B, S, T)`` on the source positions, or None without attention."""
    import torch

    with torch.no_grad():
        if hasattr(model, "attention_weights"):            # the transformer: decoder rows, source columns
            T = task.length
            return model.attention_weights(batch.source, batch.decoder_inputs)[0][:, T:, :T]
        return model(batch.source, batch.decoder_inputs).attention


def _gradient_rows(point, model, batch, task):
    """Per target position s: the source-embedding gradient and, for encoder–decoders, the path split."""
    import torch

    from rnnprobe.attention import EncoderDecoder, attention_path_split
    from rnnprobe.input_gradients import input_gradient_norms
    from rnnprobe.linalg import start_vectors

    source, inputs = batch.source[:, :GRADIENT_SAMPLES], batch.decoder_inputs[:, :GRADIENT_SAMPLES]
    u = start_vectors(1, task.vocab_size, dtype=model.readout.weight.dtype, device=source.device,
                      seed=point["seed"])[0]
    embed = model.source_embedding if isinstance(model, EncoderDecoder) else model.embedding
    with torch.no_grad():
        x = embed(source)
    T = task.length
    by_metric: dict[str, list] = {"source_gradient_norm": []}
    for s in range(T):
        g = input_gradient_norms(lambda e: model(e, inputs), x, lambda y, s=s: (y[s] @ u).sum()).mean(0)
        by_metric["source_gradient_norm"] += [(s, t, float(g[t])) for t in range(T)]
        if isinstance(model, EncoderDecoder):
            norms = attention_path_split(model, source, inputs, lambda y: (y @ u).sum(), at=s).norms()
            parts = ("total", "recurrence") if model.attention == "none" else ("total", "attention", "recurrence")
            for part in parts:
                v = norms[part].mean(0)
                by_metric.setdefault(f"path_gradient_{part}", []).extend((s, t, float(v[t])) for t in range(T))
    return [(metric, None, None, None, None, s, t, None, value)
            for metric, values in by_metric.items() for s, t, value in values]


def probe(point, *, dtype="float64", device="cpu"):
    """Train the point's model briefly, then measure accuracy, attention weights and gradient paths."""
    import math

    from rnnprobe.errors import RnnProbeError
    from rnnprobe.attention import SequenceTask, evaluate_seq2seq, train_seq2seq

    task = SequenceTask(point["task"], point["vocab"], point["length"])
    model = build_model(point, dtype=dtype, device=device)
    lr = LEARNING_RATE["transformer" if point["model"] == "transformer" else "encoder-decoder"]
    log = train_seq2seq(model, task, point["train_steps"], seed=point["seed"], batch_size=BATCH_SIZE, lr=lr)
    greedy = evaluate_seq2seq(model, task, samples=EVAL_SAMPLES, seed=EVAL_SEED)
    forced = evaluate_seq2seq(model, task, samples=EVAL_SAMPLES, seed=EVAL_SEED, greedy=False)
    summary = {"token_accuracy": greedy.token_accuracy, "sequence_accuracy": greedy.sequence_accuracy,
               "teacher_forced_accuracy": forced.token_accuracy,
               "final_loss": float(log.losses[-LOSS_WINDOW:].mean())}
    batch = task.batch(EVAL_SAMPLES, seed=EVAL_SEED, device=next(model.parameters()).device)
    alpha = _attention(model, batch, task)
    rows = []
    if alpha is not None:
        top = alpha.argmax(-1)
        aligned = task.alignment().to(top.device)
        summary["alignment_accuracy"] = float((top == aligned).double().mean())
        summary["alignment_shifted"] = float((top == aligned + 1).double().mean())
        T = task.length
        rows += [("attention_weight", None, None, None, None, s, t, b, float(alpha[b, s, t]))
                 for b in range(min(EXAMPLES, alpha.shape[0])) for s in range(T) for t in range(T)]
    rows += _gradient_rows(point, model, batch, task)
    bad = next((r for r in rows if not math.isfinite(r[-1])), None)
    if bad is not None or not all(math.isfinite(v) for v in summary.values()):
        raise RnnProbeError(f"attention study: a non-finite measurement at {point} ({bad or summary})")
    return rows, summary
