"""Testing an LSTM's gradient flow with rnnprobe, as a user would: no training, no data.

The model is a plain ``torch.nn.LSTM`` with an initialisation recipe (orthogonal recurrent
blocks, forget-gate bias 1). The tests pin down what the recipe is for: gradients that
neither explode nor die out over 50+ steps, for any input sequence and any size.

Run with ``pytest examples/test_my_lstm.py`` (from a source checkout: ``PYTHONPATH=.``).
"""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import rnnprobe
from rnnprobe import strategies as rs
from rnnprobe.testing import (
    assert_gradients_do_not_explode,
    assert_gradients_vanish,
    assert_jacobian_close,
    assert_memory_at_least,
)

INPUT_SIZE, HIDDEN = 3, 16


def init_lstm(lstm: nn.LSTM, forget_bias: float = 1.0) -> nn.LSTM:
    """My recipe: orthogonal recurrent block per gate, zero biases except the forget gate's."""
    n = lstm.hidden_size
    with torch.no_grad():
        for gate in range(4):  # torch's gate order: input, forget, cell, output
            nn.init.orthogonal_(lstm.weight_hh_l0[gate * n : (gate + 1) * n])
        lstm.bias_ih_l0.zero_()
        lstm.bias_hh_l0.zero_()
        lstm.bias_ih_l0[n : 2 * n] = forget_bias
    return lstm


@pytest.fixture
def lstm():
    torch.manual_seed(0)
    return init_lstm(nn.LSTM(INPUT_SIZE, HIDDEN))


@pytest.fixture
def inputs():
    # time-major inputs (T, B, d), as this module takes them (a batch_first=True module takes (B, T, d))
    return torch.randn(60, 2, INPUT_SIZE, generator=torch.Generator().manual_seed(0))


def test_gradients_do_not_explode(lstm, inputs):
    assert_gradients_do_not_explode(lstm, inputs, max_norm=10)


def test_remembers_at_least_50_steps(lstm, inputs):
    assert_memory_at_least(lstm, 50, inputs)


def test_without_the_forget_bias_it_forgets_within_30_steps(lstm, inputs):
    init_lstm(lstm, forget_bias=0.0)
    assert_gradients_vanish(lstm, inputs, within=30)


def test_a_forget_bias_of_3_makes_gradients_explode(lstm, inputs):
    init_lstm(lstm, forget_bias=3.0)
    with pytest.raises(AssertionError, match=r"gradients explode \(criterion max_norm = 10\): G\(k\) = .* > max_norm at lag k = "):
        assert_gradients_do_not_explode(lstm, inputs, max_norm=10)


def test_my_inference_cell_matches_the_module(lstm, inputs):
    """The step-by-step LSTMCell used at inference time has the module's Jacobians."""
    cell = nn.LSTMCell(INPUT_SIZE, HIDDEN)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(lstm, f"{name}_l0"))
    assert_jacobian_close(lstm, rnnprobe.CellAdapter(cell), inputs[:10], rtol=1e-4, atol=1e-6)


@settings(max_examples=10, deadline=None)
@given(x=rs.sequences(min_length=10, max_length=40, input_size=INPUT_SIZE, batch=st.integers(1, 3),
                      min_scale=0.0, max_scale=3.0))
def test_no_input_sequence_makes_gradients_explode(x):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        lstm = init_lstm(nn.LSTM(INPUT_SIZE, HIDDEN))
    assert_gradients_do_not_explode(lstm, x, max_norm=10)


@settings(max_examples=10, deadline=None)
@given(st.data())
def test_the_recipe_works_at_every_size(data):
    lstm = data.draw(rs.torch_rnns(kinds="lstm", max_input=4, min_hidden=8, max_hidden=24), label="lstm")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        init_lstm(lstm)
    x = data.draw(rs.sequences_for(lstm, min_length=20, max_length=40), label="inputs")
    assert_gradients_do_not_explode(lstm, x, max_norm=10)
    assert_memory_at_least(lstm, 10, x)
