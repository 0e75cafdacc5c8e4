"""The lecture's attention layer: dot-product weights over the encoder states and their context.

With encoder states ``e_t`` (t = 1 … T) and decoder states ``d_s`` (s = 1 … S),
the lecture writes::

    α_{t,s} = exp(e_tᵀ d_s) / Σ_u exp(e_uᵀ d_s)        (a softmax over the source positions t)
    c_s     = Σ_t α_{t,s} e_t                          (the context vector of target position s)

(the lecture's slide prints ``e_tᵀd_s`` in the denominator too; the sum runs over
the source index, as here). The optional bilinear form replaces ``e_tᵀ d_s`` by
``e_tᵀ W d_s`` (Luong et al. 2015, "general"); ``W = I`` is the lecture's dot product.

Shapes: time-major ``E`` ``(T, B, n)``, ``D`` ``(S, B, m)``; the weights are returned
as ``(B, S, T)``, row ``s`` holding ``α_{·,s}`` (each row sums to 1 over the source),
as ``torch.nn.MultiheadAttention`` returns them (target rows, source columns).

Examples
--------
>>> import torch
>>> from rnnprobe.attention.dot import dot_attention
>>> E = torch.eye(3, dtype=torch.float64).unsqueeze(1) * 20     # e_t = 20·u_t, T = 3, B = 1
>>> D = E.flip(0)                                                # d_s = e_{T-1-s}
>>> context, alpha = dot_attention(E, D)
>>> alpha[0].argmax(-1).tolist(), alpha.sum(-1).tolist()
([2, 1, 0], [[1.0, 1.0, 1.0]])
>>> torch.allclose(context, D)
True
"""

from __future__ import annotations

import torch

from rnnprobe.errors import InvalidArgument

__all__ = ["dot_attention"]


def dot_attention(encoder_states: torch.Tensor, decoder_states: torch.Tensor,
                  weight: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention weights ``α_{t,s}`` and contexts ``c_s`` (the lecture's formulas).

    Parameters
    ----------
    encoder_states : torch.Tensor
        ``E`` ``(T, B, n)``: e_t.
    decoder_states : torch.Tensor
        ``D`` ``(S, B, m)``: d_s.
    weight : torch.Tensor, optional
        ``W`` ``(n, m)`` of the bilinear score ``e_tᵀ W d_s``; None for the dot product (then m = n).

    Returns
    -------
    context : torch.Tensor
        ``(S, B, n)``: c_s.
    weights : torch.Tensor
        ``(B, S, T)``: ``weights[b, s, t] = α_{t,s}``, non-negative, summing to 1 over t.
    """
    if encoder_states.ndim != 3 or decoder_states.ndim != 3 or encoder_states.shape[1] != decoder_states.shape[1]:
        raise InvalidArgument(
            f"encoder_states and decoder_states must have shapes (T, B, n) and (S, B, m); got "
            f"{tuple(encoder_states.shape)} and {tuple(decoder_states.shape)}")
    n, m = encoder_states.shape[-1], decoder_states.shape[-1]
    if weight is None and n != m:
        raise InvalidArgument(
            f"decoder_states must have the encoder states' size n = {n} for the dot product e_tᵀd_s "
            f"(or give a bilinear weight (n, m)); got m = {m}")
    if weight is not None and tuple(weight.shape) != (n, m):
        raise InvalidArgument(f"weight must have shape (n, m) = {(n, m)}; got {tuple(weight.shape)}")
    E = encoder_states.transpose(0, 1)                            # (B, T, n)
    D = decoder_states.transpose(0, 1)                            # (B, S, m)
    if weight is not None:
        D = D @ weight.T                                          # W d_s, (B, S, n)
    scores = D @ E.transpose(1, 2)                                # (B, S, T): e_tᵀ (W) d_s
    alpha = torch.softmax(scores, dim=-1)                         # over the source positions t
    context = (alpha @ E).transpose(0, 1)                         # (S, B, n)
    return context, alpha
