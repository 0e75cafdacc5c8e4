"""Input gradients ‖∂L/∂x_t‖ and input–output Jacobians ‖∂y_s/∂x_t‖₂ of any sequence model, against
per-position autograd and a closed form."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import rnnprobe
from rnnprobe.attention import CausalSelfAttention, EncoderDecoder
from rnnprobe.errors import InvalidArgument
from rnnprobe.input_gradients import input_gradient_norms, input_jacobian_norms
from rnnprobe.linalg import start_vectors

F64 = torch.float64


# --------------------------------------------------------------------------- models
def torch_rnn(kind, d, n, seed, layers=1):
    torch.manual_seed(seed)
    module = getattr(torch.nn, kind)(d, n, num_layers=layers, dtype=F64)
    return lambda x: module(x)[0]


def rnnprobe_core(name, d, n, seed):
    core = rnnprobe.build(name, hidden_size=n, input_size=d, seed=seed, bias_std=0.3)

    def run(x):
        s = core.initial_state(x.shape[1])
        out = []
        for t in range(x.shape[0]):
            s = core.step(x[t], s)
            out.append(core.hidden(s))
        return torch.stack(out)
    return run


def self_attention(d, n, seed):
    return CausalSelfAttention(d, d_model=2 * n, nhead=2, num_layers=2, seed=seed)


def encoder_decoder(d, n, seed):
    """The source embeddings as input; the decoder reads 3 fixed symbols: y (3, B, V) from x (T, B, d)."""
    core = lambda s: rnnprobe.build("gru", hidden_size=n, input_size=d, seed=s)
    model = EncoderDecoder(core(seed), core(seed + 1), vocab_size=3, seed=seed)
    return lambda x: model(x, torch.tensor([[3, 0, 2]]).T.expand(3, x.shape[1]))[0]


def batch_mixing(d, n, seed):
    """Not a sequence model a batch would keep apart: every row reads the batch mean."""
    W = torch.randn(d, n, generator=torch.Generator().manual_seed(seed), dtype=F64)
    return lambda x: torch.tanh(torch.cumsum(x, 0) @ W + x.mean(1, keepdim=True) @ W)


MODELS = {
    "rnn": lambda d, n, s: torch_rnn("RNN", d, n, s),
    "gru-2layers": lambda d, n, s: torch_rnn("GRU", d, n, s, layers=2),
    "lstm": lambda d, n, s: torch_rnn("LSTM", d, n, s),
    "rnnprobe-lstm": lambda d, n, s: rnnprobe_core("lstm", d, n, s),
    "rnnprobe-dense": lambda d, n, s: rnnprobe_core("dense", d, n, s),
    "self-attention": self_attention,
    "encoder-decoder": encoder_decoder,
    "batch-mixing": batch_mixing,
}
CAUSAL = {"rnn", "gru-2layers", "lstm", "rnnprobe-lstm", "rnnprobe-dense", "self-attention"}


# --------------------------------------------------------------------------- references
def per_position_jacobian_norms(model, x, at):
    """‖∂y_at[b]/∂x_t[b]‖₂ one position and one sequence at a time, with torch.autograd.functional.jacobian."""
    T, B = x.shape[:2]
    out = torch.zeros(B, T, dtype=F64)
    for b in range(B):
        for t in range(T):
            def f(xt):
                z = x.clone()
                z[t, b] = xt
                return model(z)[at, b]
            J = torch.autograd.functional.jacobian(f, x[t, b].clone())
            out[b, t] = torch.linalg.matrix_norm(J.reshape(-1, x.shape[-1]), ord=2)
    return out


def per_position_gradient_norms(model, x, loss):
    T, B = x.shape[:2]
    out = torch.zeros(B, T, dtype=F64)
    for b in range(B):
        for t in range(T):
            xt = x[t, b].clone().requires_grad_(True)
            z = x.clone()
            z[t, b] = xt
            (g,) = torch.autograd.grad(loss(model(z)), xt)
            out[b, t] = torch.linalg.vector_norm(g)
    return out


@given(name=st.sampled_from(sorted(MODELS)), T=st.integers(1, 5), B=st.integers(1, 3), seed=st.integers(0, 50),
       scale=st.sampled_from([0.1, 1.0, 3.0]), data=st.data())
def test_input_jacobian_norms_equal_per_position_autograd(name, T, B, seed, scale, data):
    d, n = 2, 3
    model = MODELS[name](d, n, seed)
    x = scale * torch.randn(T, B, d, generator=torch.Generator().manual_seed(seed), dtype=F64)
    T_out = model(x).shape[0]
    at = data.draw(st.integers(0, T_out - 1), label="at")
    G = input_jacobian_norms(model, x, at)
    assert G.shape == (B, T) and bool(torch.isfinite(G).all())
    torch.testing.assert_close(G, per_position_jacobian_norms(model, x, at), rtol=1e-9, atol=1e-12)
    if name in CAUSAL:
        assert bool((G[:, at + 1:] == 0).all())


@given(name=st.sampled_from(sorted(MODELS)), T=st.integers(1, 5), B=st.integers(1, 3), seed=st.integers(0, 50),
       loss=st.sampled_from(["default", "squares", "first-logsumexp"]))
def test_input_gradient_norms_equal_per_position_autograd(name, T, B, seed, loss):
    d, n = 2, 3
    model = MODELS[name](d, n, seed)
    x = torch.randn(T, B, d, generator=torch.Generator().manual_seed(seed + 1), dtype=F64)
    losses = {
        "squares": lambda y: 0.5 * (y**2).sum(),
        "first-logsumexp": lambda y: torch.logsumexp(2 * y[0].flatten(), 0),
    }
    if loss == "default":          # the documented default: a fixed unit readout u of the last output
        u = start_vectors(1, model(x).shape[-1], dtype=F64, device="cpu", seed=0)[0]
        reference_loss = lambda y: (y[-1] @ u).sum()
        g = input_gradient_norms(model, x)
    else:
        reference_loss = losses[loss]
        g = input_gradient_norms(model, x, losses[loss])
    assert g.shape == (B, T)
    torch.testing.assert_close(g, per_position_gradient_norms(model, x, reference_loss), rtol=1e-9, atol=1e-12)


@given(T=st.integers(1, 8), s=st.data(), seed=st.integers(0, 100), rho=st.floats(0.3, 1.5))
def test_linear_recurrence_jacobians_are_matrix_powers(T, s, seed, rho):
    """y_t = Σ_{u<=t} A^{t−u} B x_u (a linear RNN): ∂y_s/∂x_t = A^{s−t} B, a closed form."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(3, 3, generator=g, dtype=F64)
    A = rho * A / torch.linalg.matrix_norm(A, ord=2)
    Bm = torch.randn(3, 2, generator=g, dtype=F64)

    def model(x):                                  # (T, B, 2) -> (T, B, 3), or (T, 2) -> (T, 3)
        h, out = torch.zeros(*x.shape[1:-1], 3, dtype=F64), []
        for t in range(x.shape[0]):
            h = h @ A.T + x[t] @ Bm.T
            out.append(h)
        return torch.stack(out)

    at = s.draw(st.integers(0, T - 1), label="at")
    x = torch.randn(T, 1, 2, generator=g, dtype=F64)
    expected = torch.stack([torch.linalg.matrix_norm(torch.linalg.matrix_power(A, at - t) @ Bm, ord=2)
                            if t <= at else torch.zeros((), dtype=F64) for t in range(T)])
    torch.testing.assert_close(input_jacobian_norms(model, x, at)[0], expected, rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(input_jacobian_norms(model, x[:, 0], at), expected, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("name", ["lstm", "self-attention", "batch-mixing"])
def test_options_do_not_change_the_numbers(name):
    """Batched or one-at-a-time products, any chunk size, unbatched input: the same norms."""
    model = MODELS[name](2, 3, 0)
    x = torch.randn(4, 3, 2, generator=torch.Generator().manual_seed(5), dtype=F64)
    ref = input_jacobian_norms(model, x, 2)
    for kwargs in (dict(vectorize=False), dict(chunk_size=1), dict(chunk_size=4)):
        torch.testing.assert_close(input_jacobian_norms(model, x, 2, **kwargs), ref, rtol=1e-12, atol=1e-14)
    if name != "batch-mixing":
        torch.testing.assert_close(input_jacobian_norms(model, x[:, 1:2], 2)[0], ref[1], rtol=1e-12, atol=1e-14)


def test_float32_module_inputs_are_cast_and_tuple_outputs_accepted():
    rnn = torch.nn.GRU(2, 3)                                    # float32 module, tuple output
    x = torch.randn(5, 2, dtype=F64)
    G = input_jacobian_norms(rnn, x, 4)
    assert G.dtype == torch.float32 and G.shape == (5,)
    assert input_gradient_norms(rnn, x).shape == (5,)


def test_a_model_that_ignores_its_input_has_zero_gradients():
    const = torch.ones(3, 2, dtype=F64, requires_grad=True)
    assert bool((input_jacobian_norms(lambda x: const * 2, torch.randn(3, 4, dtype=F64), 1) == 0).all())
    assert bool((input_gradient_norms(lambda x: const * 2, torch.randn(3, 4, dtype=F64)) == 0).all())
    assert bool((input_gradient_norms(lambda x: x, torch.randn(3, 4, dtype=F64), lambda y: torch.ones(())) == 0).all())


X = torch.randn(4, 2, 3, dtype=F64)
X_ZERO = X.clone().index_fill_(0, torch.tensor([0]), 0.0)      # |y|^0.5 has an infinite slope at 0
IDENTITY = lambda x: x  # noqa: E731


@pytest.mark.parametrize("call, pattern", [
    (lambda: input_jacobian_norms(IDENTITY, X, at=4), r"at must be <= 3; got 4"),
    (lambda: input_jacobian_norms(IDENTITY, X, at=-1), r"at must be >= 0; got -1"),
    (lambda: input_jacobian_norms(IDENTITY, X, at=1.5), r"at must be an integer; got 1.5"),
    (lambda: input_jacobian_norms(IDENTITY, X, at=1, chunk_size=0), r"chunk_size must be >= 1; got 0"),
    (lambda: input_jacobian_norms(IDENTITY, X[:0], at=0), r"x must hold at least one time step \(T >= 1\); got shape \(0, 2, 3\)"),
    (lambda: input_gradient_norms(IDENTITY, X[:0]), r"x must hold at least one time step"),
    (lambda: input_gradient_norms(IDENTITY, X[0, 0]), r"x must have shape \(T, d\) or \(T, B, d\).*got shape \(3,\)"),
    (lambda: input_gradient_norms(IDENTITY, torch.ones(3, 2, dtype=torch.long)), r"x must be a floating tensor.*got torch.int64 tensor"),
    (lambda: input_gradient_norms(IDENTITY, [[1.0]]), r"x must be a floating tensor.*got list"),
    (lambda: input_gradient_norms(IDENTITY, X.clone().index_fill_(0, torch.tensor([1]), float("nan"))), r"x must be finite"),
    (lambda: input_gradient_norms("model", X), r"model must be callable as model\(x\) -> y; got str"),
    (lambda: input_gradient_norms(IDENTITY, X, loss=3), r"loss must be a callable y -> scalar or None; got int"),
    (lambda: input_gradient_norms(IDENTITY, X, loss=lambda y: y), r"loss must return a scalar tensor for y of shape \(4, 2, 3\); got Tensor of shape \(4, 2, 3\)"),
    (lambda: input_gradient_norms(IDENTITY, X, seed=-1), r"seed must be >= 0; got -1"),
    (lambda: input_gradient_norms(lambda x: x * float("inf"), X), r"model\(x\) must be finite; got NaN/Inf"),
    (lambda: input_gradient_norms(lambda x: x.sum(), X), r"model must return a time-major tensor y.*got shape \(\)"),
    (lambda: input_gradient_norms(lambda x: x[:, 0], X), r"model must keep the batch dimension.*B = 2.*got shape \(4, 3\)"),
    (lambda: input_gradient_norms(lambda x: "y", X), r"model must return a time-major tensor y.*got str"),
    (lambda: input_gradient_norms(IDENTITY, X_ZERO, loss=lambda y: (y.abs() ** 0.5).sum()), r"loss must have a finite gradient at x; got NaN/Inf"),
])
def test_bad_calls(call, pattern):
    with pytest.raises(InvalidArgument, match=pattern):
        call()
