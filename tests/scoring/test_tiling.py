"""Patch mode: tiles cover the image, stitching averages overlaps, an identity G is rebuilt exactly."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from anotrans.errors import ConfigError
from anotrans.networks.discriminator import Discriminator
from anotrans.networks.registry import AnomalyGAN
from anotrans.scoring import tiling
from anotrans.scoring.scores import compute_components, eval_mode


def test_tile_starts_cover_the_side_with_the_last_tile_flush():
    assert tiling.tile_starts(128, 64, 32) == [0, 32, 64]
    assert tiling.tile_starts(100, 64, 30) == [0, 30, 36]
    assert tiling.tile_starts(64, 64, 16) == [0]
    with pytest.raises(ConfigError, match="larger than the image"):
        tiling.tile_starts(32, 64, 16)


def test_stitching_averages_overlaps_like_brute_force():
    x = torch.randn(2, 3, 40, 40)
    tiles, positions = tiling.cut(x, 16, 12)
    assert tiles.shape == (2 * len(positions), 3, 16, 16)
    assert torch.allclose(tiling.stitch(tiles, positions, 40, 40), x)  # cut then stitch: the image itself
    values = torch.arange(tiles.shape[0], dtype=torch.float32).view(-1, 1, 1).expand(-1, 16, 16)
    stitched = tiling.stitch(values, positions, 40, 40)
    brute = torch.zeros(2, 40, 40)
    for b in range(2):
        for y in range(40):
            for x_ in range(40):
                covering = [
                    b * len(positions) + i
                    for i, (t, s) in enumerate(positions)
                    if t <= y < t + 16 and s <= x_ < s + 16
                ]
                brute[b, y, x_] = sum(covering) / len(covering)
    assert torch.allclose(stitched, brute)
    assert torch.equal(tiling.per_image_max(torch.arange(6.0), 3), torch.tensor([2.0, 5.0]))


class _Config:
    image_size = 16


def test_an_identity_generator_is_rebuilt_exactly_from_tiles():
    model = AnomalyGAN("identity", _Config(), nn.Identity(), Discriminator(16, 3, 8, 8))
    x = torch.rand(2, 3, 48, 48) * 2 - 1
    with eval_mode(model):
        comp = compute_components(model, x, sigma=1.0, tile_stride=8)
        whole_tiles, _ = tiling.cut(x, 16, 8)
        logits, _ = model.discriminator(whole_tiles)
    assert torch.equal(comp.reconstructions, x) and comp.maps.shape == (2, 48, 48)
    assert comp.maps.abs().max() == 0 and comp.residual_topk.abs().max() == 0
    assert comp.ssim_topk.abs().max() < 1e-5 and comp.feature_topk.abs().max() == 0
    assert torch.allclose(comp.disc, (-logits).view(2, -1).amax(dim=1))  # most anomalous tile


def test_patch_mode_trains_on_crops_and_keeps_validation_whole():
    from anotrans.data import DataSpec, build_splits
    from anotrans.data.build import augments

    splits = build_splits(DataSpec(image_size=16, crop_size=8, max_train_images=20))
    crop, whole = splits.train[0], splits.val[0]
    assert crop["image"].shape == (3, 8, 8) and crop["mask"].shape == (1, 8, 8)
    assert whole["image"].shape == (3, 16, 16) and splits.info["crop_size"] == 8
    with pytest.raises(ConfigError, match="crop_size"):
        build_splits(DataSpec(image_size=16, crop_size=20))
    assert augments(DataSpec(data="cifar10")) and not augments(DataSpec(data="mvtec"))
    assert not augments(DataSpec(data="cifar10", augment=False))
