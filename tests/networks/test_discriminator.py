"""The shared DCGAN discriminator: shapes at every supported size, logits/features, init."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from anotrans.networks.discriminator import (
    QUARTER_TURNS,
    Discriminator,
    dcgan_init_,
    pyramid_sizes,
    quarter_turns,
)

SIZES = (32, 64, 96, 128, 256)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", SIZES)
def test_shapes_at_every_size(size: int, channels: int) -> None:
    d = Discriminator(size, channels, ndf=8, nz=16)
    logits, feats = d(torch.randn(2, channels, size, size))
    assert logits.shape == (2,)
    assert feats.shape == (2, 16)


def test_pyramid_ends_at_4_or_3_so_96px_works() -> None:
    assert pyramid_sizes(32) == [16, 8, 4]
    assert pyramid_sizes(96) == [48, 24, 12, 6, 3]  # the released 4x4 final conv fails here
    final = [m for m in Discriminator(96, 3).features if isinstance(m, nn.Conv2d)][-1]
    assert final.kernel_size == (3, 3)


def test_odd_sizes_still_work() -> None:
    logits, feats = Discriminator(20, 3, ndf=8, nz=4)(torch.randn(2, 3, 20, 20))
    assert logits.shape == (2,) and feats.shape == (2, 4)


def test_default_architecture_at_32px() -> None:
    d = Discriminator(32, 3)
    # convs 3->64->128->256 (k4) + 256->100 (k4) + BN(128, 256) + bias-free Linear(100 -> 1)
    expected = 3 * 64 * 16 + 64 * 128 * 16 + 128 * 256 * 16 + 256 * 100 * 16 + 2 * (128 + 256) + 100
    assert sum(p.numel() for p in d.parameters()) == expected
    assert [type(m) for m in d.features][:2] == [nn.Conv2d, nn.LeakyReLU]  # no BN on the first layer
    assert isinstance(d.features[-1], nn.Conv2d)  # features: no norm, no activation


def test_returns_logits_not_probabilities() -> None:
    d = Discriminator(32, 3, ndf=8, nz=8)
    with torch.no_grad():
        d.classifier.weight.fill_(10.0)
    logits, _ = d(torch.randn(4, 3, 32, 32))
    assert (logits.abs() > 1).any()


def test_gradient_reaches_every_parameter() -> None:
    d = Discriminator(32, 3, ndf=8, nz=8)
    logits, feats = d(torch.randn(2, 3, 32, 32))
    (logits.sum() + feats.pow(2).sum()).backward()
    missing = [n for n, p in d.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


def test_dcgan_init_can_reinitialise() -> None:
    d = Discriminator(64, 3)
    conv = d.features[0]
    bn = next(m for m in d.modules() if isinstance(m, nn.BatchNorm2d))
    assert conv.weight.std().item() == pytest.approx(0.02, rel=0.1)
    assert bn.weight.mean().item() == pytest.approx(1.0, abs=0.01)
    assert bn.bias.abs().sum() == 0
    before = conv.weight.clone()
    assert dcgan_init_(d) is d
    assert not torch.equal(before, conv.weight)


def test_quarter_turns_are_torch_rot90_in_turn_order() -> None:
    x = torch.randn(3, 2, 5, 5)
    turned, turns = quarter_turns(x)
    assert turned.shape == (12, 2, 5, 5) and turns.tolist() == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3
    for row in range(12):
        assert torch.equal(turned[row], torch.rot90(x[row % 3], int(turns[row]), (1, 2)))


def test_the_rotation_head_is_optional_and_trains_the_shared_features() -> None:
    torch.manual_seed(0)
    plain, headed = Discriminator(32, 3, ndf=8, nz=16), Discriminator(32, 3, ndf=8, nz=16, rotation_head=True)
    assert plain.rotation is None and not any(k.startswith("rotation") for k in plain.state_dict())
    extra = sum(p.numel() for p in headed.parameters()) - sum(p.numel() for p in plain.parameters())
    assert extra == 16 * QUARTER_TURNS + QUARTER_TURNS
    turned, turns = quarter_turns(torch.randn(2, 3, 32, 32))
    _, feats = headed(turned)
    logits = headed.rotation(feats)
    assert logits.shape == (8, QUARTER_TURNS)
    nn.functional.cross_entropy(logits, turns).backward()
    assert headed.features[0].weight.grad.abs().sum() > 0 and headed.classifier.weight.grad is None
