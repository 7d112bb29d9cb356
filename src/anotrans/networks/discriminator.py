"""DCGAN discriminator shared by AnoTrans and every baseline, and the DCGAN encoder it is built on."""

from __future__ import annotations

import torch
from torch import nn

from anotrans.networks.init import dcgan_init_

__all__ = ["DcganEncoder", "Discriminator", "dcgan_init_", "pyramid_sizes"]


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
    """

    def __init__(self, image_size: int, channels: int, ndf: int = 64, nz: int = 100) -> None:
        super().__init__()
        self.features = DcganEncoder(image_size, channels, ndf, nz)
        self.classifier = nn.Linear(nz, 1, bias=False)
        dcgan_init_(self)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.features(x).flatten(1)
        return self.classifier(feats).squeeze(1), feats
