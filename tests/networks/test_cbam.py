"""CBAM against a hand computation of the paper's equations, plus shape and range checks."""

from __future__ import annotations

import math

import pytest
import torch

from anotrans.errors import ConfigError
from anotrans.networks.cbam import CBAM


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def test_matches_hand_computation() -> None:
    # C=2, reduction 2 -> hidden 1; 1x1 spatial kernel so every step can be written out by hand.
    m = CBAM(2, reduction=2, kernel_size=1)
    with torch.no_grad():
        m.channel.mlp[0].weight.copy_(torch.tensor([[1.0, -1.0]]))
        m.channel.mlp[0].bias.fill_(0.5)
        m.channel.mlp[2].weight.copy_(torch.tensor([[2.0], [-1.0]]))
        m.channel.mlp[2].bias.copy_(torch.tensor([0.0, 0.25]))
        m.spatial.conv.weight.copy_(torch.tensor([0.5, -2.0]).view(1, 2, 1, 1))
    a = [[1.0, 2.0], [3.0, -4.0]]  # channel 0, 2x2
    b = [[0.0, -1.0], [2.0, 1.0]]  # channel 1
    x = torch.tensor([[a, b]])

    def mlp(v0: float, v1: float) -> tuple[float, float]:
        h = max(0.0, v0 - v1 + 0.5)
        return 2 * h, -h + 0.25

    avg = (sum(map(sum, a)) / 4, sum(map(sum, b)) / 4)
    mx = (max(map(max, a)), max(map(max, b)))
    ma, mm = mlp(*avg), mlp(*mx)
    ca = [_sigmoid(ma[c] + mm[c]) for c in range(2)]
    expected = torch.zeros(1, 2, 2, 2)
    for i in range(2):
        for j in range(2):
            v = (a[i][j] * ca[0], b[i][j] * ca[1])
            s = _sigmoid(0.5 * (v[0] + v[1]) / 2 - 2.0 * max(v))
            expected[0, 0, i, j], expected[0, 1, i, j] = v[0] * s, v[1] * s
    torch.testing.assert_close(m(x), expected)


def test_shape_preserved_and_scales_in_open_unit_interval() -> None:
    m = CBAM(32)
    x = torch.randn(2, 32, 9, 7)
    assert m(x).shape == x.shape
    ca = m.channel(x)
    sa = m.spatial(x * ca)
    assert ca.shape == (2, 32, 1, 1) and sa.shape == (2, 1, 9, 7)
    for scale in (ca, sa):
        assert scale.min() > 0 and scale.max() < 1
    # Each output is its input shrunk by a factor in (0, 1): never larger in magnitude, same sign.
    y = m(x)
    assert (y.abs() <= x.abs()).all() and (torch.sign(y) == torch.sign(x)).all()


def test_narrow_layers_and_gradients() -> None:
    m = CBAM(3)  # 3 // 16 == 0: the hidden width is clamped to 1
    assert m.channel.mlp[0].out_features == 1
    with torch.no_grad():  # a single hidden ReLU may start dead; open it so every weight gets gradient
        m.channel.mlp[0].bias.fill_(1.0)
    x = torch.randn(2, 3, 5, 5, requires_grad=True)
    m(x).pow(2).sum().backward()
    assert x.grad is not None
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters())


def test_even_kernel_is_rejected() -> None:
    with pytest.raises(ConfigError, match="kernel_size"):
        CBAM(8, kernel_size=4)
