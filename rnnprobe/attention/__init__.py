"""Attention: the lecture's encoder–decoder with attention, causal self-attention, copy/reverse tasks.

* :class:`EncoderDecoder`: any recurrent encoder and decoder, with the lecture's dot-product
  attention (optionally bilinear) or without attention; returns the weights α_{t,s};
* :class:`CausalSelfAttention` (``x -> y``) and :class:`CausalTransformer` (over symbols):
  torch's ``TransformerEncoderLayer`` with a causal mask, to compare with;
* :class:`SequenceTask`: copy and reverse of random symbol sequences, drawn from a seed;
* :func:`train_seq2seq`, :func:`evaluate_seq2seq`, :func:`alignment_accuracy`: brief training
  and measurement;
* :func:`attention_path_split`: the gradient reaching each encoder state, split into the part
  that crossed the attention and the part that crossed the recurrence.

The input-gradient probes for any sequence model are in :mod:`rnnprobe.input_gradients`.

Examples
--------
>>> from rnnprobe import attention
>>> sorted(attention.ATTENTION_KINDS), sorted(attention.TASKS)
(['bilinear', 'dot', 'none'], ['copy', 'reverse'])
"""

from rnnprobe.attention.dot import dot_attention
from rnnprobe.attention.paths import PathSplit, attention_path_split
from rnnprobe.attention.selfattention import CausalSelfAttention, CausalTransformer, causal_mask
from rnnprobe.attention.seq2seq import ATTENTION_KINDS, EncoderDecoder, Seq2SeqOutput
from rnnprobe.attention.tasks import TASKS, SequenceTask, TaskBatch
from rnnprobe.attention.training import Accuracy, TrainingLog, alignment_accuracy, evaluate_seq2seq, train_seq2seq

__all__ = [
    "dot_attention", "EncoderDecoder", "Seq2SeqOutput", "ATTENTION_KINDS",
    "CausalSelfAttention", "CausalTransformer", "causal_mask",
    "SequenceTask", "TaskBatch", "TASKS",
    "train_seq2seq", "TrainingLog", "evaluate_seq2seq", "Accuracy", "alignment_accuracy",
    "attention_path_split", "PathSplit",
]
