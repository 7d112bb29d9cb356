"""CBAM (Woo et al., ECCV 2018): channel then spatial attention, written from the paper's equations."""

from __future__ import annotations

import torch
from torch import nn

from anotrans.errors import ConfigError

__all__ = ["CBAM", "ChannelAttention", "SpatialAttention"]


class ChannelAttention(nn.Module):
    """``M_c = sigmoid(MLP(avgpool(x)) + MLP(maxpool(x)))`` of shape ``[B, C, 1, 1]`` (paper eq. 2).

    Both poolings share one MLP so the two descriptors are judged by the same weights; the hidden width
    is ``max(1, C // reduction)`` so narrow layers still work.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.mlp = nn.Sequential(
            nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.mlp(x.mean(dim=(2, 3))) + self.mlp(x.amax(dim=(2, 3)))
        return torch.sigmoid(logits)[:, :, None, None]


class SpatialAttention(nn.Module):
    """``M_s = sigmoid(conv_kxk([mean_c(x); max_c(x)]))`` of shape ``[B, 1, H, W]`` (paper eq. 3).

    Same-padded so the map keeps the input's size. The paper has no norm here (the SAGAN code added
    a BatchNorm(1); we follow the paper).
    """

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ConfigError(f"CBAM kernel_size must be odd to keep the map size, got {kernel_size}")
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(pooled))


class CBAM(nn.Module):
    """Refines a ``[B, C, H, W]`` feature map: ``x' = M_c(x) * x``, then ``x'' = M_s(x') * x'``.

    Channel attention comes first, as in the paper (it found that order best). Output shape = input shape.
    """

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 7) -> None:
        super().__init__()
        self.channel = ChannelAttention(channels, reduction)
        self.spatial = SpatialAttention(kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.channel(x)
        return x * self.spatial(x)
