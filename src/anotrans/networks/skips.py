"""Skip connections of the U-shaped generator: SAC (paper sec. 2.4), CBAM (SAGAN's choice) or identity.

Each skip maps the tokens entering an encoder stage, ``[B, r*r, C]``, to tokens of the same shape that the
decoder concatenates at that level.
"""

from __future__ import annotations

from torch import Tensor, nn

from anotrans.errors import ConfigError
from anotrans.networks.cbam import CBAM
from anotrans.networks.swin import AttentionBlock, tokens_to_image

__all__ = ["SKIP_KINDS", "CBAMSkip", "SkipAttentionConnection", "make_skip"]

SKIP_KINDS = ("sac", "cbam", "plain")


class SkipAttentionConnection(AttentionBlock):
    """SAC: Swin blocks (W-MSA, then SW-MSA), then LayerNorm, then GELU; no residual around the whole.

    The paper says each self-attention block's output "will be sent to an MLP followed by a layer
    normalization ... then a GELU". A Swin block already ends in its own MLP sub-layer (Eq. 2, 4), so the
    text and the released ``AttBlock`` agree on this structure; we add no second MLP, which keeps the
    released parameter count (reference notes 2.2).
    """

    def __init__(
        self,
        dim: int,
        resolution: int,
        num_heads: int = 4,
        window_size: int = 2,
        shift_size: int = 1,
        depth: int = 2,
        mlp_ratio: float = 4.0,
    ) -> None:
        super().__init__(dim, resolution, depth, num_heads, window_size, shift_size, mlp_ratio, "window")


class CBAMSkip(nn.Module):
    """CBAM on the token grid: tokens -> ``[B, C, r, r]`` map -> CBAM -> tokens (the paper's CBAM variant)."""

    def __init__(self, dim: int, resolution: int, reduction: int = 16) -> None:
        super().__init__()
        self.resolution = resolution
        self.cbam = CBAM(dim, reduction)

    def forward(self, x: Tensor) -> Tensor:
        y = self.cbam(tokens_to_image(x, self.resolution, self.resolution))
        return y.flatten(2).transpose(1, 2)


def make_skip(
    kind: str,
    dim: int,
    resolution: int,
    *,
    num_heads: int = 4,
    window_size: int = 2,
    shift_size: int = 1,
    depth: int = 2,
    mlp_ratio: float = 4.0,
) -> nn.Module:
    """The skip module for one level: ``"sac"``, ``"cbam"`` or ``"plain"`` (identity)."""
    if kind == "sac":
        return SkipAttentionConnection(dim, resolution, num_heads, window_size, shift_size, depth, mlp_ratio)
    if kind == "cbam":
        return CBAMSkip(dim, resolution)
    if kind == "plain":
        return nn.Identity()
    raise ConfigError(f"skip must be one of {', '.join(SKIP_KINDS)}; got {kind!r}")
