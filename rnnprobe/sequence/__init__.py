"""Sequence modelling, as in the lecture: a char-RNN trained by maximum likelihood, and sampled.

p(x_{1:T}) = ∏_t p(x_t | x_{1:t−1}): the model reads a text one character at a
time and predicts the next one.

* :mod:`~rnnprobe.sequence.corpus`: a character corpus from any UTF-8 file, or
  the standard library's own sources (:func:`load_corpus`, :class:`Corpus`);
* :mod:`~rnnprobe.sequence.charrnn`: embedding → any recurrent core → readout
  (:class:`CharRNN`, :class:`CharRNNSpec`);
* :mod:`~rnnprobe.sequence.training`: maximum likelihood with truncated BPTT,
  Adam, clipping, gradient flossing, validation bits/char, probes, resumable
  checkpoints (:func:`train`, :class:`TrainConfig`, :func:`evaluate`);
* :mod:`~rnnprobe.sequence.sampling`: :func:`sample` with temperature and a seed;
* :mod:`~rnnprobe.sequence.checkpoint`: ``{"spec", "state_dict", "vocab"}``
  files read with ``weights_only=True`` (:func:`save_checkpoint`, :func:`load_checkpoint`).

Examples
--------
>>> from rnnprobe import sequence
>>> corpus = sequence.Corpus.from_text("to be or not to be " * 20)
>>> config = sequence.TrainConfig(core="lstm", hidden_size=16, embedding_size=8, batch_size=4, bptt=16,
...                               steps=5, eval_every=5, probe_every=5, probe_length=20, lr=1e-2)
>>> result = sequence.train(config, corpus=corpus)
>>> len(sequence.sample(result.model, result.vocab, 30, temperature=0.8, seed=0))
30
"""

from rnnprobe.sequence.charrnn import TORCH_CORES, CharRNN, CharRNNSpec, core_names
from rnnprobe.sequence.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from rnnprobe.sequence.corpus import Corpus, load_corpus
from rnnprobe.sequence.sampling import sample
from rnnprobe.sequence.training import TrainConfig, TrainResult, evaluate, read_rows, train

__all__ = [
    "Corpus", "load_corpus",
    "CharRNN", "CharRNNSpec", "core_names", "TORCH_CORES",
    "TrainConfig", "TrainResult", "train", "evaluate", "read_rows",
    "sample",
    "save_checkpoint", "load_checkpoint", "read_checkpoint",
]
