"""Sample text from a char-RNN, one character at a time, with temperature and a seed.

Each character is drawn from softmax(logits / temperature) given everything
before it: temperature 1 samples the model's own distribution, lower
temperatures sharpen it towards the most likely character. The draws come
from a ``torch.Generator`` seeded with ``seed``: the same model, prime,
temperature and seed give the same text.

Examples
--------
>>> from rnnprobe.sequence.charrnn import CharRNN, CharRNNSpec
>>> model = CharRNN(CharRNNSpec("gru", vocab_size=4, hidden_size=8, embedding_size=4))
>>> a = sample(model, "abc\\n", 20, temperature=0.8, seed=1)
>>> len(a), a == sample(model, "abc\\n", 20, temperature=0.8, seed=1), set(a) <= set("abc\\n")
(20, True, True)
"""

from __future__ import annotations

import torch

from rnnprobe._validation import check_int, check_real
from rnnprobe.errors import InvalidArgument
from rnnprobe.sequence.charrnn import CharRNN

__all__ = ["sample", "default_prime"]


def default_prime(vocab: str) -> str:
    """The character sampling starts from when no prime is given: a newline if the vocabulary has one."""
    return "\n" if "\n" in vocab else vocab[0]


def sample(model: CharRNN, vocab: str, length: int, *, temperature: float = 1.0, seed: int = 0,
           prime: str | None = None) -> str:
    """Generate ``length`` characters after ``prime``.

    Parameters
    ----------
    model : CharRNN
    vocab : str
        The model's vocabulary (character ``vocab[i]`` has id ``i``).
    length : int
        Characters to generate, >= 1.
    temperature : float
        > 0; the logits are divided by it.
    seed : int
        Seed of the draws, >= 0.
    prime : str, optional
        Text the model reads first (default :func:`default_prime`); every
        character must be in ``vocab``.

    Returns
    -------
    str
        The ``length`` generated characters (without the prime).
    """
    if not isinstance(model, CharRNN):
        raise InvalidArgument(f"model must be a CharRNN; got {type(model).__name__}")
    if not isinstance(vocab, str) or len(vocab) != model.spec.vocab_size:
        raise InvalidArgument(f"vocab must be a str of {model.spec.vocab_size} characters (the model's vocab_size); "
                              f"got {vocab!r}")
    length = check_int("length", length, min_value=1)
    temperature = check_real("temperature", temperature, low=0.0, low_open=True,
                             hint="temperature divides the logits; 1 samples the model's distribution")
    seed = check_int("seed", seed, min_value=0)
    prime = default_prime(vocab) if prime is None else prime
    if not isinstance(prime, str) or not prime:
        raise InvalidArgument(f"prime must be a non-empty str; got {prime!r}")
    lookup = {ch: i for i, ch in enumerate(vocab)}
    missing = "".join(sorted({ch for ch in prime if ch not in lookup}))
    if missing:
        raise InvalidArgument(f"prime has characters outside the model's vocabulary: {missing!r}; got {prime!r}")
    device = model.readout.weight.device
    generator = torch.Generator(device="cpu").manual_seed(seed)
    ids = torch.tensor([lookup[ch] for ch in prime], dtype=torch.int64, device=device).unsqueeze(1)
    out = []
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits, state = model(ids)
            for _ in range(length):
                if not bool(torch.isfinite(logits[-1, 0]).all()):
                    raise InvalidArgument(f"model must give finite logits; got NaN/Inf after {len(out)} sampled "
                                          "characters (are its parameters finite?)")
                probs = torch.softmax(logits[-1, 0].double().cpu() / temperature, dim=-1)
                if bool(torch.isfinite(probs).all()):
                    nxt = int(torch.multinomial(probs, 1, generator=generator))
                else:                       # a temperature so small that logits / temperature overflows
                    nxt = int(torch.argmax(logits[-1, 0]))
                out.append(vocab[nxt])
                logits, state = model(torch.tensor([[nxt]], dtype=torch.int64, device=device), state)
    finally:
        model.train(was_training)
    return "".join(out)
