"""The attention instruments on a CUDA device give what they give on the CPU (skipped without CUDA).

The same float64 models (deep copies) run on both devices; results agree to rounding and stay on the device.
"""

from __future__ import annotations

import copy

import pytest
import torch

import rnnprobe
from rnnprobe.attention import (CausalSelfAttention, CausalTransformer, EncoderDecoder, SequenceTask,
                                attention_path_split, evaluate_seq2seq, train_seq2seq)
from rnnprobe.input_gradients import input_gradient_norms, input_jacobian_norms

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

F64 = torch.float64


def _close(cuda_value, cpu_value, rtol=1e-9, atol=1e-12):
    assert cuda_value.device.type == "cuda"
    torch.testing.assert_close(cuda_value.cpu(), cpu_value, rtol=rtol, atol=atol)


@pytest.mark.parametrize("cores", ["rnnprobe-gru", "torch-lstm"])
def test_encoder_decoder_forward_generate_and_path_split_agree_across_devices(cores):
    torch.manual_seed(0)
    if cores == "rnnprobe-gru":
        enc, dec = (rnnprobe.build("gru", hidden_size=8, input_size=4, seed=s) for s in (0, 1))
    else:
        enc, dec = torch.nn.LSTM(4, 8, num_layers=2, dtype=F64), torch.nn.LSTM(4, 8, num_layers=2, dtype=F64)
    cpu = EncoderDecoder(enc, dec, 5, seed=0)
    gpu = copy.deepcopy(cpu).to("cuda")
    batch = SequenceTask("reverse", 5, 6).batch(3, seed=0)
    a, b = cpu(batch.source, batch.decoder_inputs), gpu(batch.source, batch.decoder_inputs)
    _close(b.logits, a.logits)
    _close(b.attention, a.attention)
    _close(gpu.generate(batch.source, 6).logits, cpu.generate(batch.source, 6).logits)
    s_cpu = attention_path_split(cpu, batch.source, batch.decoder_inputs, targets=batch.targets, at=2)
    s_gpu = attention_path_split(gpu, batch.source, batch.decoder_inputs, targets=batch.targets, at=2)
    for name in ("total", "attention", "recurrence"):
        _close(getattr(s_gpu, name), getattr(s_cpu, name), atol=1e-11)


def test_input_probes_and_self_attention_agree_across_devices():
    cpu = CausalSelfAttention(3, d_model=8, nhead=2, num_layers=2, seed=0)
    gpu = copy.deepcopy(cpu).to("cuda")
    x = torch.randn(7, 2, 3, generator=torch.Generator().manual_seed(1), dtype=F64)
    _close(gpu(x), cpu(x))
    _close(gpu.attention_weights(x)[1], cpu.attention_weights(x)[1])
    _close(input_jacobian_norms(gpu, x, at=5), input_jacobian_norms(cpu, x, at=5))
    _close(input_gradient_norms(gpu, x), input_gradient_norms(cpu, x))


def test_training_runs_on_the_device():
    task = SequenceTask("copy", 3, 4)
    for model in (EncoderDecoder(*(rnnprobe.build("gru", hidden_size=8, input_size=4, seed=s) for s in (0, 1)), 3),
                  CausalTransformer(3, d_model=8, nhead=2, seed=0)):
        cpu, gpu = copy.deepcopy(model), copy.deepcopy(model).to("cuda")
        log_cpu = train_seq2seq(cpu, task, steps=5, seed=0, batch_size=8)
        log_gpu = train_seq2seq(gpu, task, steps=5, seed=0, batch_size=8)
        torch.testing.assert_close(log_gpu.losses, log_cpu.losses, rtol=1e-7, atol=1e-9)
        assert 0.0 <= evaluate_seq2seq(gpu, task, samples=16).token_accuracy <= 1.0
