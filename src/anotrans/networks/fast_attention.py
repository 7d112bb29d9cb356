"""Faster kernels for the attention of :mod:`anotrans.networks.swin`: the same maths, other memory traffic.

:mod:`~anotrans.networks.swin` states the paper's path plainly (roll, ``window_partition``,
``softmax(q k^T / sqrt(d) + B) v``, ``window_reverse``, roll back). This module computes the same values
faster, and :data:`ENABLED` is the one switch between the two::

    import anotrans.networks.fast_attention as fast_attention
    fast_attention.ENABLED = False  # every model runs the plain path (slower, same results to ~1e-6)

What it changes (tests/networks/test_fast_paths.py checks each against the plain path, forward and
backward):

- attention runs as fused SDPA on CUDA and for sequences longer than :data:`EXPLICIT_MAX_TOKENS`;
- on CPU, Swin's short windows take :func:`explicit_attention` (transposed logits, one ``baddbmm`` for
  scale and mask, fp32 heads zero-padded past torch's small-bmm loop);
- a Swin block's roll + ``window_partition`` (and its inverse) is one precomputed token gather.

The numbers behind each choice are in benchmarks/results/speed-notes.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

if TYPE_CHECKING:  # for type hints only: swin.py imports this module
    from anotrans.networks.swin import SwinBlock

__all__ = ["ENABLED", "EXPLICIT_MAX_TOKENS", "attention", "explicit_attention", "swin_attend"]

#: The switch: True runs every model on these kernels, False on the plain path of ``swin.py``. Read at
#: each call, so it can be flipped at any time (parameters and checkpoints are the same either way).
ENABLED = True

# Longest sequence for which CPU attention takes :func:`explicit_attention`: on Swin's 4-token windows it
# beats SDPA in bf16 (~1.5-1.9x) and, with fp32 heads padded past torch's small-bmm loop, in fp32 too.
EXPLICIT_MAX_TOKENS = 16

# torch's CPU bmm runs a scalar loop when contraction * rows * cols < 400. In fp32 that loop takes ~4x
# longer than the BLAS path on 4-token windows with 16-wide heads (4 * 4 * 16 = 256), for the output bmm
# and three of the four backward ones; in bf16 it is as fast, so only fp32 heads are zero-padded past it.
_SMALL_BMM = 400


def attention(q: Tensor, k: Tensor, v: Tensor, bias: Tensor | None) -> Tensor:
    """``softmax(q k^T / sqrt(d) + bias) v`` on ``[B, heads, N, d]``: SDPA, or the explicit CPU kernel.

    In training SDPA would leave its fused CPU kernel for its unfused math path anyway, since the bias
    (Swin's relative position bias) needs a gradient; for short CPU windows the explicit kernel is faster.
    """
    if q.is_cuda or q.shape[-2] > EXPLICIT_MAX_TOKENS:
        if bias is not None:
            bias = bias.to(q.dtype)  # autocast runs q in bf16; SDPA needs the same dtype
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    return explicit_attention(q, k, v, bias)


def _padded_head_dim(dtype: torch.dtype, n: int, d: int) -> int:
    """Head width for :func:`explicit_attention`'s bmm: ``d``, or just enough to leave torch's scalar loop."""
    want = -(-_SMALL_BMM // (n * n))
    return want if dtype == torch.float32 and d < want <= 2 * d else d


def explicit_attention(q: Tensor, k: Tensor, v: Tensor, attn_mask: Tensor | None) -> Tensor:
    """``softmax(q k^T / sqrt(d) + mask) v`` as two batched matmuls over ``[..., N, d]`` inputs.

    The logits are built transposed (keys on dim -2) because CPU softmax over a last dim as short as a
    window (4) is ~20x slower than over dim -2; the matmuls read the transposes without a copy. With a
    mask, one ``baddbmm`` applies the scale and adds the mask in the matmul's own output pass. Under bf16
    autocast the matmuls run in bf16 and the softmax in fp32 (autocast's rule, as in SDPA's math path).
    Zero columns added to the heads (:func:`_padded_head_dim`) change no logit and no output column.
    """
    *batch, n, d = q.shape
    pad = _padded_head_dim(q.dtype, n, d) - d
    # bmm's 3-D operands copy the strided heads anyway; when padding, F.pad makes that one copy.
    q3, k3, v3 = ((F.pad(t, (0, pad)) if pad else t).reshape(-1, n, d + pad) for t in (q, k, v))
    if attn_mask is None:
        logits_t = torch.bmm(k3, q3.transpose(-2, -1)).mul_(d**-0.5)
    else:
        mask_t = attn_mask.transpose(-2, -1).expand(*batch, n, n).reshape(-1, n, n)
        logits_t = torch.baddbmm(mask_t.to(k3.dtype), k3, q3.transpose(-2, -1), alpha=d**-0.5)
    probs = logits_t.softmax(-2).transpose(-2, -1).to(v.dtype)
    return torch.bmm(probs, v3).view(*batch, n, d + pad)[..., :d]


# (resolution, window, shift, device) -> (window order, its inverse); a few hundred indices per key.
_ORDERS: dict[tuple[int, int, int, torch.device], tuple[Tensor, Tensor]] = {}


def _orders(block: SwinBlock, device: torch.device) -> tuple[Tensor, Tensor]:
    """The token order of ``block.to_windows`` (roll by -shift, then partition) and its inverse.

    Found by sending token indices down the plain path itself, so the gather cannot disagree with it.
    Built outside inference mode (index_select saves its index for backward), and kept only if real:
    a tracer's fake tensor (torch.export, ONNX) serves the call that made it.
    """
    key = (block.resolution, block.window_size, block.shift_size, device)
    if key in _ORDERS:
        return _ORDERS[key]
    with torch.inference_mode(False):
        order = block.to_windows(torch.arange(block.resolution**2, device=device).view(1, -1, 1)).flatten()
        orders = order, torch.argsort(order)
    if type(order) is Tensor:
        _ORDERS[key] = orders
    return orders


def swin_attend(block: SwinBlock, x: Tensor) -> Tensor:
    """``block``'s W-MSA / SW-MSA on ``[B, L, C]`` tokens, roll + partition done as one gather each way.

    A single ``index_select`` each way instead of roll + permute copies: several times faster fwd and bwd.
    """
    b, length, c = x.shape
    window_order, token_order = _orders(block, x.device)
    windows = x.index_select(1, window_order).view(-1, block.window_size**2, c)
    return block.attn(windows, block.attn_mask).view(b, length, c).index_select(1, token_order)
