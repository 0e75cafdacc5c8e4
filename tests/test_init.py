"""Weight initialisation by name and gain: Gaussian N(0, g²/n), orthogonal × g, spectral radius g."""

import math

import numpy as np
import pytest
import scipy.stats
import torch

import rnnprobe
from rnnprobe.errors import InvalidArgument
from rnnprobe.init import init_matrix

F64 = torch.float64


def _gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("rows, cols, gain", [(200, 200, 1.0), (50, 400, 2.5), (400, 50, 0.3)])
def test_gaussian_entries_have_variance_g_squared_over_fan_in(rows, cols, gain):
    W = init_matrix(rows, cols, scheme="gaussian", gain=gain, generator=_gen(0))
    N, sd = rows * cols, gain / math.sqrt(cols)
    # sample variance of N normal draws: relative standard error sqrt(2/N); the mean: sd/sqrt(N)
    assert float(W.var()) / sd**2 == pytest.approx(1.0, abs=5 * math.sqrt(2 / N))
    assert abs(float(W.mean())) < 5 * sd / math.sqrt(N)
    # and they are Gaussian (fixed seed: a deterministic Kolmogorov–Smirnov check)
    assert scipy.stats.kstest((W / sd).flatten().numpy(), "norm").pvalue > 1e-3


@pytest.mark.parametrize("rows, cols", [(6, 6), (8, 3), (3, 8)])
@pytest.mark.parametrize("gain", [0.5, 1.0, 2.0])
def test_orthogonal_matrices_have_every_singular_value_g(rows, cols, gain):
    W = init_matrix(rows, cols, scheme="orthogonal", gain=gain, generator=_gen(1))
    torch.testing.assert_close(torch.linalg.svdvals(W), torch.full((min(rows, cols),), gain, dtype=F64), rtol=1e-13, atol=0)
    small = W.T @ W if rows >= cols else W @ W.T
    torch.testing.assert_close(small, gain**2 * torch.eye(min(rows, cols), dtype=F64), rtol=0, atol=1e-13)


def test_orthogonal_matrices_are_haar_distributed():
    # For Haar O(n): E[tr Q] = 0 and E[Q_11²] = 1/n. A QR without the sign fix gives a
    # positive-diagonal bias: E[tr Q] would be far from 0.
    n, draws = 3, 3000
    g = _gen(2)
    Q = torch.stack([init_matrix(n, n, scheme="orthogonal", generator=g) for _ in range(draws)])
    trace = torch.diagonal(Q, dim1=-2, dim2=-1).sum(-1)
    assert abs(float(trace.mean())) < 5 / math.sqrt(draws)          # Var(tr Q) = 1 for Haar O(n), n >= 2
    # Q_11² ~ Beta(1/2, (n-1)/2): variance 2(n-1)/(n²(n+2))
    assert float((Q[:, 0, 0] ** 2).mean()) == pytest.approx(1 / n, abs=5 * math.sqrt(2 * (n - 1) / (n**2 * (n + 2)) / draws))


@pytest.mark.parametrize("n, gain", [(1, 0.7), (5, 1.0), (30, 1.4)])
def test_spectral_scheme_has_spectral_radius_exactly_g(n, gain):
    for seed in range(3):
        W = init_matrix(n, n, scheme="spectral", gain=gain, generator=_gen(seed))
        assert float(np.abs(np.linalg.eigvals(W.numpy())).max()) == pytest.approx(gain, rel=1e-12)


def test_same_seed_same_weights_and_dtype():
    for scheme in rnnprobe.INIT_SCHEMES:
        a = init_matrix(5, 5, scheme=scheme, gain=1.2, generator=_gen(3))
        b = init_matrix(5, 5, scheme=scheme, gain=1.2, generator=_gen(3))
        c = init_matrix(5, 5, scheme=scheme, gain=1.2, generator=_gen(4))
        f = init_matrix(5, 5, scheme=scheme, gain=1.2, generator=_gen(3), dtype=torch.float32)
        assert torch.equal(a, b) and not torch.equal(a, c)
        assert f.dtype == torch.float32 and torch.equal(a.to(torch.float32), f)
        assert bool((init_matrix(5, 5, scheme=scheme, gain=0.0, generator=_gen(3)) == 0).all())


@pytest.mark.parametrize("name", ["vanilla-tanh", "gru", "lstm", "residual", "dense", "mlp"])
def test_built_models_use_the_scheme_for_every_recurrent_matrix(name):
    kw = {"window": 2} if name == "dense" else {}
    for W in rnnprobe.build(name, hidden_size=6, init="orthogonal", gain=0.8, seed=5, **kw).recurrent_weights().values():
        expected = 0.8 / math.sqrt(2) if name == "dense" else 0.8      # dense splits the gain over its window
        torch.testing.assert_close(torch.linalg.svdvals(W), torch.full((6,), expected, dtype=F64), rtol=1e-12, atol=0)
    for W in rnnprobe.build(name, hidden_size=6, init="spectral", gain=0.8, seed=5, **kw).recurrent_weights().values():
        expected = 0.8 / math.sqrt(2) if name == "dense" else 0.8
        assert float(torch.linalg.eigvals(W).abs().max()) == pytest.approx(expected, rel=1e-12)


def test_init_matrix_rejects_bad_arguments():
    with pytest.raises(InvalidArgument, match=r"scheme must be one of 'gaussian', 'orthogonal', 'spectral'; got 'xavier'"):
        init_matrix(3, 3, scheme="xavier")
    with pytest.raises(InvalidArgument, match=r"got 'orthogonl' \(did you mean 'orthogonal'\?\)"):
        init_matrix(3, 3, scheme="orthogonl")
    with pytest.raises(InvalidArgument, match=r"gain must lie in \[0, inf\); got -1.0"):
        init_matrix(3, 3, gain=-1)
    with pytest.raises(InvalidArgument, match=r"gain must be a finite real number; got nan"):
        init_matrix(3, 3, gain=math.nan)
    with pytest.raises(InvalidArgument, match=r"rows must be >= 1; got 0"):
        init_matrix(0, 3)
    with pytest.raises(InvalidArgument, match=r"cols must be an integer; got 2.0"):
        init_matrix(3, 2.0)
    with pytest.raises(InvalidArgument, match=r"scheme='spectral' needs a square matrix.*got 3x4"):
        init_matrix(3, 4, scheme="spectral")
    with pytest.raises(InvalidArgument, match=r"init must be one of .*got 'he'"):
        rnnprobe.build("gru", init="he")
