"""Checks of the token (or embedding) sequences the sequence-to-sequence models read."""

from __future__ import annotations

import torch

from rnnprobe._validation import check_finite_tensor
from rnnprobe.errors import InvalidArgument

__all__ = ["sequence_input"]


def sequence_input(name: str, seq, embedding: torch.nn.Embedding, *, symbols: int, dtype) -> tuple[torch.Tensor, bool]:
    """Embed a token sequence or accept an embedded one; return ``((T, B, E), batched)``.

    Integer tensors are symbols, ``(T,)`` or ``(T, B)``, each in ``[0, symbols)``; floating
    tensors are embeddings ``(T, E)`` or ``(T, B, E)`` (to probe gradients at the inputs).
    """
    if not isinstance(seq, torch.Tensor):
        raise InvalidArgument(f"{name} must be a torch.Tensor; got {type(seq).__name__}")
    E = embedding.embedding_dim
    if seq.is_floating_point():
        if seq.ndim not in (2, 3) or seq.shape[-1] != E:
            raise InvalidArgument(
                f"{name} as embeddings must have shape (T, {E}) or (T, B, {E}); got shape {tuple(seq.shape)}")
        check_finite_tensor(name, seq)
        batched = seq.ndim == 3
        x = (seq if batched else seq.unsqueeze(1)).to(dtype=dtype, device=embedding.weight.device)
    else:
        if seq.dtype == torch.bool or seq.is_complex() or seq.ndim not in (1, 2):
            raise InvalidArgument(
                f"{name} must be integer symbols (T,) or (T, B), or float embeddings (T, B, {E}); "
                f"got {seq.dtype} of shape {tuple(seq.shape)}")
        batched = seq.ndim == 2
        if seq.numel() and (int(seq.min()) < 0 or int(seq.max()) >= symbols):
            bad = int(seq.min()) if int(seq.min()) < 0 else int(seq.max())
            raise InvalidArgument(f"{name} symbols must lie in [0, {symbols}); got {bad!r}")
        x = None
    if seq.shape[0] == 0:
        raise InvalidArgument(f"{name} must hold at least one time step (T >= 1); got shape {tuple(seq.shape)}")
    if x is None:
        x = embedding((seq if batched else seq.unsqueeze(1)).to(embedding.weight.device))
    return x, batched
