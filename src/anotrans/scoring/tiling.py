"""Patch mode: cut images into overlapping tiles of the model's size and stitch per-tile maps back.

A model trained on random crops of side P (``crop_size``) scores a full working-resolution image by
tiles of side P placed every ``stride`` pixels, the last tile flush with the border so every pixel is
covered. Overlapping tiles are averaged, so one stitched map (and reconstruction) has the image's size.
"""

from __future__ import annotations

import torch
from torch import Tensor

from anotrans.errors import ConfigError


def tile_starts(size: int, tile: int, stride: int) -> list[int]:
    """Offsets of tiles of side ``tile`` every ``stride`` along a side of ``size``, the last flush."""
    if tile > size:
        raise ConfigError(f"tile size {tile} is larger than the image side {size}")
    if stride < 1:
        raise ConfigError(f"tile stride must be >= 1, got {stride}")
    starts = list(range(0, size - tile + 1, stride))
    if starts[-1] != size - tile:
        starts.append(size - tile)
    return starts


def cut(x: Tensor, tile: int, stride: int) -> tuple[Tensor, list[tuple[int, int]]]:
    """``x`` [B, C, H, W] -> tiles [B * T, C, tile, tile] (image-major) and the T (top, left) offsets."""
    positions = [
        (t, s) for t in tile_starts(x.shape[-2], tile, stride) for s in tile_starts(x.shape[-1], tile, stride)
    ]
    tiles = torch.stack([x[..., t : t + tile, s : s + tile] for t, s in positions], dim=1)
    return tiles.flatten(0, 1), positions


def stitch(tiles: Tensor, positions: list[tuple[int, int]], height: int, width: int) -> Tensor:
    """Per-tile maps [B * T, *lead, tile, tile] -> [B, *lead, height, width], overlaps averaged."""
    n = len(positions)
    tiles = tiles.unflatten(0, (-1, n))
    tile = tiles.shape[-1]
    out = tiles.new_zeros(*tiles.shape[:1], *tiles.shape[2:-2], height, width)
    count = tiles.new_zeros(height, width)
    for i, (t, s) in enumerate(positions):
        out[..., t : t + tile, s : s + tile] += tiles[:, i]
        count[t : t + tile, s : s + tile] += 1
    return out / count


def per_image_max(values: Tensor, n_tiles: int) -> Tensor:
    """Per-tile scalars [B * T] -> the max over each image's tiles [B] (its most anomalous tile)."""
    return values.unflatten(0, (-1, n_tiles)).amax(dim=1)
