"""DCGAN discriminator shared by AnoTrans and every baseline, and the DCGAN encoder it is built on."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from anotrans.networks.init import dcgan_init_

__all__ = ["QUARTER_TURNS", "DcganEncoder", "Discriminator", "dcgan_init_", "pyramid_sizes", "quarter_turns"]

QUARTER_TURNS = 4  # 0, 90, 180 and 270 degrees: the classes of the rotation head


def quarter_turns(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` turned by each quarter turn, ``[4B, C, H, W]`` (all of turn 0, then turn 1, ...), and the
    turn of each row: the rotation head's inputs and targets."""
    # torch.rot90's turns, spelt with flips and transposes: those export to ONNX, aten::rot90 does not
    turned = torch.cat([x, x.flip(3).transpose(2, 3), x.flip((2, 3)), x.transpose(2, 3).flip(3)])
    turns = torch.arange(QUARTER_TURNS, device=x.device).repeat_interleave(x.shape[0])
    return turned, turns


def pyramid_sizes(image_size: int) -> list[int]:
    """Spatial sizes after each stride-2 conv: halve once, then keep halving while the map is > 4.

    32 -> [16, 8, 4]; 96 -> [48, 24, 12, 6, 3]. The released code always ends with a 4x4 conv and so
    fails at 96 px; using the last size here as the final kernel makes every size >= 8 work.
    """
    sizes = [(image_size - 2) // 2 + 1]  # Conv2d(k4, s2, p1) output size
    while sizes[-1] > 4:
        sizes.append((sizes[-1] - 2) // 2 + 1)
    return sizes


class DcganEncoder(nn.Sequential):
    """Image -> ``[B, nz, 1, 1]``: strided convs (BN from the second on), then a conv over the whole last map.

    Serves as the discriminator's feature extractor and as GANomaly's two encoders.
    """

    def __init__(self, image_size: int, channels: int, nf: int = 64, nz: int = 100) -> None:
        sizes = pyramid_sizes(image_size)
        layers: list[nn.Module] = [
            nn.Conv2d(channels, nf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        width = nf
        for _ in sizes[1:]:
            layers += [
                nn.Conv2d(width, width * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width * 2),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            width *= 2
        layers.append(nn.Conv2d(width, nz, sizes[-1], 1, 0, bias=False))
        super().__init__(*layers)


class Discriminator(nn.Module):
    """Real/fake critic whose ``nz``-d last-layer features also feed the latent loss and anomaly score.

    ``forward(x)`` returns ``(logits[B], features[B, nz])``. Logits, not probabilities, so training can use
    BCE-with-logits (numerically safe where the original's sigmoid + BCE saturates). The classifier has no
    bias, like the original's 3x3 conv on a 1x1 map (which reduces to a bias-free Linear).

    ``rotation_head`` (not in the paper): a second linear head on the same features that tells which
    quarter turn an input was given, trained beside the real/fake task as in SS-GAN (Chen et al.,
    CVPR 2019). Knowing which way up a normal image stands takes knowledge of its content, so a high
    rotation loss marks an image unlike the training images as a whole (Golan and El-Yaniv, NeurIPS
    2018), where reconstruction scores see local errors only.
    """

    def __init__(
        self, image_size: int, channels: int, ndf: int = 64, nz: int = 100, rotation_head: bool = False
    ) -> None:
        super().__init__()
        self.features = DcganEncoder(image_size, channels, ndf, nz)
        self.classifier = nn.Linear(nz, 1, bias=False)
        self.rotation = nn.Linear(nz, QUARTER_TURNS) if rotation_head else None
        dcgan_init_(self)

    @classmethod
    def for_config(cls, config: Any) -> Discriminator:
        """The discriminator a family's config asks for (fields image_size, channels, disc_ndf, disc_nz,
        rotation_head): every family builds its D here."""
        return cls(config.image_size, config.channels, config.disc_ndf, config.disc_nz, config.rotation_head)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.features(x).flatten(1)
        return self.classifier(feats).squeeze(1), feats
