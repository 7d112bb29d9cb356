"""Transformer pieces of the AnoTrans generator (paper sec. 2.2-2.3, Eq. 1-4), after Swin / Swin-Unet.

Read top-down, this file is the paper's path written plainly: windows (``window_partition``), attention
inside a window with Swin's relative position bias and shifted-window mask (:class:`WindowAttention`),
the block of Eq. 1-4 (:class:`SwinBlock`), then the patch layers. Faster kernels for the same maths live
in :mod:`anotrans.networks.fast_attention`, behind its one switch ``fast_attention.ENABLED`` (on by
default; tests/networks/test_fast_paths.py checks them against this path).

Tokens are ``[B, L, C]`` with ``L = H * W`` in row-major order. Every module that needs the token grid is
built for one resolution, so the relative position index and the shifted-window mask are computed once at
construction (non-persistent buffers: they follow ``.to(device)`` but stay out of checkpoints).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from anotrans.errors import ConfigError
from anotrans.networks import fast_attention

__all__ = [
    "MASK_VALUE",
    "AttentionBlock",
    "GlobalAttentionBlock",
    "MultiHeadSelfAttention",
    "PatchEmbed",
    "PatchExpand",
    "PatchMerging",
    "SwinBlock",
    "TransformerBlock",
    "WindowAttention",
    "attention",
    "effective_window",
    "relative_position_index",
    "shifted_window_mask",
    "tokens_to_image",
    "unpatchify",
    "window_partition",
    "window_reverse",
]

# Added to the logits of token pairs from different regions of a shifted window. Every query always sees
# its own region (at least itself), so a finite value only has to make exp() vanish: e^-100 ~ 4e-44. It is
# the released code's value and, unlike -inf, cannot produce NaN in any precision or export runtime.
MASK_VALUE = -100.0


def window_partition(x: Tensor, window: int) -> Tensor:
    """``[B, H, W, C] -> [B * nW, window * window, C]``: non-overlapping windows, batch-major, row-major."""
    b, h, w, c = x.shape
    x = x.view(b, h // window, window, w // window, window, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, window * window, c)


def window_reverse(windows: Tensor, window: int, h: int, w: int) -> Tensor:
    """Inverse of :func:`window_partition`: ``[B * nW, window * window, C] -> [B, H, W, C]``."""
    c = windows.shape[-1]
    x = windows.view(-1, h // window, w // window, window, window, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, h, w, c)


def relative_position_index(window: int) -> Tensor:
    """``[N, N]`` index into the ``(2w-1)^2`` bias table for every (query, key) pair of one window."""
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
    rel = coords[:, :, None] - coords[:, None, :] + (window - 1)  # [2, N, N], each in [0, 2w-2]
    return rel[0] * (2 * window - 1) + rel[1]


def shifted_window_mask(h: int, w: int, window: int, shift: int) -> Tensor:
    """``[nW, N, N]`` additive mask (0 or :data:`MASK_VALUE`) for attention on a map rolled by ``-shift``.

    After the roll, windows on the bottom/right edge hold tokens that were not neighbours in the image;
    tokens are labelled by region (3 bands per axis) and only same-region pairs may attend.
    """
    regions = torch.zeros(1, h, w, 1)
    bands = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    for i, rows in enumerate(bands):
        for j, cols in enumerate(bands):
            regions[:, rows, cols, :] = 3 * i + j
    ids = window_partition(regions, window).squeeze(-1)  # [nW, N]
    different = ids[:, :, None] != ids[:, None, :]
    return torch.zeros(different.shape).masked_fill_(different, MASK_VALUE)


def effective_window(resolution: int, window: int, shift: int) -> tuple[int, int]:
    """Swin's rule: a window that covers the whole map shrinks to it and stops shifting.

    Shifting a single window that spans the map would only roll the image around, so the shift is dropped.
    """
    if resolution <= window:
        return resolution, 0
    return window, shift


def attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None) -> Tensor:
    """``softmax(q k^T / sqrt(d) + mask) v`` per head, on ``[B, heads, N, d]`` (Swin's attention).

    ``mask`` is additive and broadcastable to ``[B, heads, N, N]``: the relative position bias, plus the
    shifted-window mask in SW-MSA. With ``fast_attention.ENABLED`` the same values come from SDPA or a
    faster CPU kernel.
    """
    if fast_attention.ENABLED:
        return fast_attention.attention(q, k, v, mask)
    logits = q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5
    if mask is not None:
        logits = logits + mask
    return logits.softmax(-1) @ v


class MultiHeadSelfAttention(nn.Module):
    """ViT multi-head self-attention over all tokens of each sequence (scale ``head_dim ** -0.5``)."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True) -> None:
        super().__init__()
        if dim % num_heads:
            raise ConfigError(f"attention width {dim} is not divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """``[B, N, C] -> [B, N, C]``; ``mask`` as in :func:`attention`."""
        b, n, c = x.shape
        # Unbinding dim 2 (not a permuted dim 0) makes backward stack the q/k/v grads straight into the
        # qkv output's [B, N, 3, heads, d] layout: one copy fewer than stacking then re-laying them out.
        qkv = self.qkv(x).view(b, n, 3, self.num_heads, c // self.num_heads).unbind(2)
        q, k, v = (t.transpose(1, 2) for t in qkv)  # [B, heads, N, d] views
        return self.proj(attention(q, k, v, mask).transpose(1, 2).reshape(b, n, c))


class WindowAttention(MultiHeadSelfAttention):
    """W-MSA / SW-MSA inside ``window x window`` windows with Swin's learned relative position bias.

    Input ``[B * nW, N, C]`` from :func:`window_partition`; ``mask`` is the ``[nW, N, N]`` shifted-window
    mask (SW-MSA) or None (W-MSA). The bias ``B`` of ``softmax(q k^T / sqrt(d) + B) v`` is looked up in a
    ``(2w-1)^2 x heads`` table by the (row, column) offset of each (query, key) pair.
    """

    def __init__(self, dim: int, window_size: int, num_heads: int, qkv_bias: bool = True) -> None:
        super().__init__(dim, num_heads, qkv_bias)
        self.window_size = window_size
        self.relative_position_bias_table = nn.Parameter(torch.empty((2 * window_size - 1) ** 2, num_heads))
        nn.init.normal_(self.relative_position_bias_table, std=0.02)
        self.register_buffer(
            "relative_position_index", relative_position_index(window_size).flatten(), persistent=False
        )

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        n = self.window_size**2
        bias = self.relative_position_bias_table[self.relative_position_index]
        bias = bias.view(n, n, self.num_heads).permute(2, 0, 1).unsqueeze(0)  # [1, heads, N, N]
        if mask is not None:
            # Windows are batch-major, so tiling the per-window masks B times lines them up with x.
            # (A 4-D mask also keeps SDPA on its fused CPU kernel; a 3-D one falls back to its math path.)
            bias = (bias + mask.unsqueeze(1)).repeat(x.shape[0] // mask.shape[0], 1, 1, 1)
        return super().forward(x, bias)


def _mlp(dim: int, mlp_ratio: float) -> nn.Sequential:
    hidden = int(dim * mlp_ratio)
    return nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))


class TransformerBlock(nn.Module):
    """Pre-norm block ``x + attn(LN(x))`` then ``x + MLP(LN(x))`` (Eq. 1-2), with two separate LayerNorms.

    Subclasses choose the attention; :meth:`attend` maps normalised tokens to the attention output.
    ``checkpoint = True`` (set by the generator's ``checkpoint_blocks``) keeps only the block's input for
    backward and recomputes the rest then: far less training memory for one more forward pass.
    """

    def __init__(self, dim: int, attn: nn.Module, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = attn
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = _mlp(dim, mlp_ratio)
        self.checkpoint = False

    def attend(self, x: Tensor) -> Tensor:
        return self.attn(x)

    def forward(self, x: Tensor) -> Tensor:
        if self.checkpoint and self.training and torch.is_grad_enabled():
            return checkpoint(self._forward, x, use_reentrant=False)
        return self._forward(x)

    def _forward(self, x: Tensor) -> Tensor:
        x = x + self.attend(self.norm1(x))  # Eq. 1 (W-MSA) or Eq. 3 (SW-MSA)
        return x + self.mlp(self.norm2(x))  # Eq. 2 or Eq. 4


class SwinBlock(TransformerBlock):
    """Swin Transformer block on a fixed ``resolution x resolution`` grid: W-MSA, or SW-MSA when shifted.

    If the map is no larger than the window, the window shrinks to the map and the shift is dropped.
    """

    def __init__(
        self,
        dim: int,
        resolution: int,
        num_heads: int,
        window_size: int = 2,
        shift_size: int = 0,
        mlp_ratio: float = 4.0,
    ) -> None:
        window, shift = effective_window(resolution, window_size, shift_size)
        if resolution % window:
            raise ConfigError(f"window_size={window} does not divide the {resolution}x{resolution} grid")
        if not 0 <= shift < window:
            raise ConfigError(f"shift_size must be in [0, window_size={window}), got {shift}")
        super().__init__(dim, WindowAttention(dim, window, num_heads), mlp_ratio)
        self.resolution = resolution
        self.window_size = window
        self.shift_size = shift
        mask = shifted_window_mask(resolution, resolution, window, shift) if shift else None
        self.register_buffer("attn_mask", mask, persistent=False)

    def attend(self, x: Tensor) -> Tensor:
        """W-MSA / SW-MSA on ``[B, L, C]`` tokens: roll by -shift, attend per window, put back, roll back."""
        b, length, c = x.shape
        r = self.resolution
        if length != r * r:
            raise ValueError(f"SwinBlock built for {r}x{r} tokens got {length} tokens")
        if fast_attention.ENABLED:
            return fast_attention.swin_attend(self, x)
        windows = self.attn(self.to_windows(x), self.attn_mask)
        grid = window_reverse(windows, self.window_size, r, r)
        if self.shift_size:
            grid = torch.roll(grid, shifts=(self.shift_size, self.shift_size), dims=(1, 2))
        return grid.reshape(b, length, c)

    def to_windows(self, x: Tensor) -> Tensor:
        """``[B, L, ...] -> [B * nW, N, ...]``: the token grid rolled by -shift, cut into windows."""
        grid = x.view(x.shape[0], self.resolution, self.resolution, -1)
        if self.shift_size:
            grid = torch.roll(grid, shifts=(-self.shift_size, -self.shift_size), dims=(1, 2))
        return window_partition(grid, self.window_size)


class GlobalAttentionBlock(TransformerBlock):
    """ViT encoder block: full MHSA over every token (the paper's Table 1 alternative to windows).

    Unlike the released ``'tf'`` option, the two sub-layers have their own LayerNorms.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__(dim, MultiHeadSelfAttention(dim, num_heads), mlp_ratio)


class AttentionBlock(nn.Module):
    """The generator's unit (Fig. 1 "attention block", released ``AttBlock``): blocks, then LayerNorm, GELU.

    ``attention="window"`` alternates W-MSA and SW-MSA Swin blocks (Eq. 1-4); ``"global"`` stacks ViT
    blocks. The closing LayerNorm + GELU has no residual, as in the released code.
    """

    def __init__(
        self,
        dim: int,
        resolution: int,
        depth: int = 2,
        num_heads: int = 4,
        window_size: int = 2,
        shift_size: int = 1,
        mlp_ratio: float = 4.0,
        attention: str = "window",
    ) -> None:
        super().__init__()
        if attention == "window":
            blocks: list[nn.Module] = [
                SwinBlock(dim, resolution, num_heads, window_size, shift_size if i % 2 else 0, mlp_ratio)
                for i in range(depth)
            ]
        elif attention == "global":
            blocks = [GlobalAttentionBlock(dim, num_heads, mlp_ratio) for _ in range(depth)]
        else:
            raise ConfigError(f"attention must be 'window' or 'global', got {attention!r}")
        self.blocks = nn.Sequential(*blocks)
        self.norm = nn.LayerNorm(dim)
        self.act = nn.GELU()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.norm(self.blocks(x)))


class PatchEmbed(nn.Module):
    """Image ``[B, C, S, S]`` -> tokens ``[B, (S/p)^2, dim]``: patch conv, LayerNorm, + learned positions."""

    def __init__(self, image_size: int, patch_size: int, in_channels: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, embed_dim, kernel_size=patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(embed_dim)
        self.pos_embed = nn.Parameter(torch.empty(1, (image_size // patch_size) ** 2, embed_dim))
        nn.init.normal_(self.pos_embed, std=0.02)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.proj(x).flatten(2).transpose(1, 2)) + self.pos_embed


class PatchMerging(nn.Module):
    """Halve the grid, double the width: concat 2x2 neighbours to 4C, LayerNorm(4C), Linear 4C->2C (sec. 2.2).

    Neighbours are concatenated in Swin's order (0,0), (1,0), (0,1), (1,1) as (row, column) offsets.
    """

    def __init__(self, dim: int, resolution: int) -> None:
        super().__init__()
        if resolution % 2:
            raise ConfigError(f"PatchMerging needs an even token grid, got {resolution}x{resolution}")
        self.resolution = resolution
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        b, _, c = x.shape
        h = self.resolution // 2
        x = x.view(b, h, 2, h, 2, c).permute(0, 1, 3, 4, 2, 5).reshape(b, h * h, 4 * c)
        return self.reduction(self.norm(x))


class PatchExpand(nn.Module):
    """Grow the grid ``scale`` times (Swin-Unet): Linear dim -> scale^2 * out_dim, pixel shuffle, LayerNorm.

    ``scale=2, out_dim=dim // 2`` is the decoder's up-step (Linear C->2C); the generator's last expand uses
    ``scale=patch_size`` to return to pixel resolution for any patch size.
    """

    def __init__(self, dim: int, resolution: int, scale: int = 2, out_dim: int | None = None) -> None:
        super().__init__()
        self.resolution = resolution
        self.scale = scale
        out_dim = dim // 2 if out_dim is None else out_dim
        self.expand = nn.Linear(dim, scale * scale * out_dim, bias=False)
        self.norm = nn.LayerNorm(out_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(unpatchify(self.expand(x), self.resolution, self.resolution, self.scale))


def unpatchify(x: Tensor, h: int, w: int, patch: int) -> Tensor:
    """Pixel shuffle on tokens: ``[B, h*w, patch*patch*C] -> [B, (h*patch) * (w*patch), C]``.

    A token's features are read as ``(row offset, column offset, channel)``, so each token paints its own
    ``patch x patch`` square. Correct for any patch size, unlike the released code's plain ``view``, which
    scrambles pixels whenever patch != 2 (reference notes 2.4).
    """
    b = x.shape[0]
    c = x.shape[-1] // (patch * patch)
    x = x.view(b, h, w, patch, patch, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h * patch * w * patch, c)


def tokens_to_image(x: Tensor, h: int, w: int) -> Tensor:
    """``[B, h*w, C] -> [B, C, h, w]`` (the token grid is row-major)."""
    return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], h, w)
