"""Corrupted-input training: the generator must rebuild each clean image from a corrupted copy.

Not in the paper (an option, off by default). A skip-connected generator copies whatever it is
shown, so the fakes its discriminator learns to reject differ from the real images only by faint
artifacts. When G instead sees the image with a few random squares replaced by noise and is asked for
the clean image, its imperfect in-fills become fakes with locally wrong texture, and D learns to
reject that too. On the built-in synthetic set this lifts the `disc` score on flat "missing" patches
from 0.70 to 0.94 over 9 seeds (with an lr decay; benchmarks/results/demo-seeds*.md).

``foreign_texture`` pastes a blob of another training image's texture instead (as DRAEM trains its
reconstructive network, with the other images standing in for an external texture set), so G learns to
replace foreign texture with what belongs there rather than copy it through the skips.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as nn_functional

NOISE_PATCHES = 2  # candidate squares per image, each kept with the configured probability
SIDE_FRACTIONS = (1 / 6, 1 / 3)  # a square's side, as a fraction of the image side
NOISE_STD = 0.5  # of the Gaussian noise in the squares, on the [-1, 1] input scale
BLOB_RADII = (1 / 12, 1 / 5)  # a texture blob's half-axes, as a fraction of the image side
COLOUR_SHIFT = 0.45  # at most this offset per channel on the pasted texture (input scale [-1, 1])


def noise_patches(x: Tensor, probability: float) -> Tensor:
    """``x`` [B, C, H, W] with up to NOISE_PATCHES random squares per image replaced by noise.

    Each square (side drawn from SIDE_FRACTIONS of H, placed uniformly inside the image) is kept with
    ``probability``; squares may overlap. Draws from torch's global RNG, which the trainer seeds and
    saves with every checkpoint, so a run and its resumption corrupt alike.
    """
    b, _, h, w = x.shape
    low, high = int(h * SIDE_FRACTIONS[0]), int(h * SIDE_FRACTIONS[1])
    rows = torch.arange(h).view(1, h, 1)  # the squares are drawn on the CPU, then moved to x's device
    cols = torch.arange(w).view(1, 1, w)
    out = x
    for _ in range(NOISE_PATCHES):
        side = torch.randint(low, high + 1, (b,)).view(-1, 1, 1)
        top = (torch.rand(b).view(-1, 1, 1) * (h - side)).long()
        left = (torch.rand(b).view(-1, 1, 1) * (w - side)).long()
        inside = (rows >= top) & (rows < top + side) & (cols >= left) & (cols < left + side)
        keep = torch.rand(b, 1, 1, 1) < probability
        mask = (inside.unsqueeze(1) & keep).to(x.device)
        out = torch.where(mask, torch.randn_like(x) * NOISE_STD, out)
    return out


def foreign_texture(x: Tensor, donor: Tensor, probability: float) -> Tensor:
    """``x`` [B, C, H, W] with, per image and with ``probability``, one blob of ``donor``'s texture.

    The blob is an ellipse (half-axes from BLOB_RADII of the side, centre inside the image) whose
    outline smooth noise makes irregular; it is filled with the donor image (same index of ``donor``)
    turned by a multiple of 90 degrees, shifted by a random offset and recoloured by up to
    COLOUR_SHIFT per channel, then clipped to [-1, 1]. Draws from torch's global RNG (see
    :func:`noise_patches`).
    """
    b, c, h, w = x.shape
    rows = torch.linspace(0, 1, h).view(1, h, 1)
    cols = torch.linspace(0, 1, w).view(1, 1, w)
    centre = torch.rand(b, 2, 1, 1)
    radii = BLOB_RADII[0] + torch.rand(b, 2, 1, 1) * (BLOB_RADII[1] - BLOB_RADII[0])
    ellipse = ((rows - centre[:, 0]) / radii[:, 0]) ** 2 + ((cols - centre[:, 1]) / radii[:, 1]) ** 2
    outline = nn_functional.interpolate(torch.randn(b, 1, 4, 4), (h, w), mode="bicubic").squeeze(1)
    keep = torch.rand(b, 1, 1) < probability
    mask = ((ellipse * torch.exp(0.5 * outline) < 1) & keep).unsqueeze(1).to(x.device)  # [B, 1, H, W]
    turns = int(torch.randint(0, 4, ())) * (1 if h == w else 2)  # quarter turns only keep a square's shape
    shift = [int(v) for v in torch.randint(0, h, (2,))]
    texture = torch.rot90(donor, turns, (2, 3)).roll(shift, (2, 3))
    colour = (torch.rand(b, c, 1, 1) * 2 - 1) * COLOUR_SHIFT
    texture = (texture + colour.to(x.device)).clamp(-1, 1)
    return torch.where(mask, texture, x)
