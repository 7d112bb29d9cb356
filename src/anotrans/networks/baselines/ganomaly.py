"""GANomaly (Akcay et al., ACCV 2018): encoder -> decoder -> encoder, so anomalies show in latent space."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from anotrans.networks.baselines.common import check_dcgan_size, check_positive
from anotrans.networks.config import ModelConfig
from anotrans.networks.discriminator import DcganEncoder, Discriminator, pyramid_sizes
from anotrans.networks.init import dcgan_init_


@dataclasses.dataclass
class GanomalyConfig(ModelConfig):
    """``ngf``/``nz``: generator width and bottleneck; ``disc_ndf``/``disc_nz``: D width and features."""

    ngf: int = 64
    nz: int = 100
    disc_ndf: int = 64
    disc_nz: int = 100

    def validate(self) -> None:
        check_positive(self, "ngf", "nz", "disc_ndf", "disc_nz")
        check_dcgan_size("ganomaly", self.image_size)


class DcganDecoder(nn.Sequential):
    """``[B, nz, 1, 1]`` -> image in [-1, 1]: mirrors :class:`DcganEncoder` (ConvT + BN + ReLU, tanh out)."""

    def __init__(self, image_size: int, channels: int, nf: int = 64, nz: int = 100) -> None:
        sizes = pyramid_sizes(image_size)
        width = nf * 2 ** (len(sizes) - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(nz, width, sizes[-1], 1, 0, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        ]
        for _ in sizes[1:]:
            layers += [
                nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width // 2),
                nn.ReLU(inplace=True),
            ]
            width //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), nn.Tanh()]
        super().__init__(*layers)


class GanomalyGenerator(nn.Module):
    """``x -> E1 -> z -> D -> x_hat -> E2 -> z_hat``; the anomaly score is ``||z - z_hat||^2``."""

    def __init__(self, image_size: int, channels: int, ngf: int = 64, nz: int = 100) -> None:
        super().__init__()
        self.encoder1 = DcganEncoder(image_size, channels, ngf, nz)
        self.decoder = DcganDecoder(image_size, channels, ngf, nz)
        self.encoder2 = DcganEncoder(image_size, channels, ngf, nz)
        dcgan_init_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder1(x))

    def forward_latent(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(reconstruction, z[B, nz], z_hat[B, nz])`` for the encoder loss and the latent score."""
        z = self.encoder1(x)
        reconstruction = self.decoder(z)
        return reconstruction, z.flatten(1), self.encoder2(reconstruction).flatten(1)


def build_ganomaly(cfg: GanomalyConfig) -> tuple[nn.Module, nn.Module]:
    generator = GanomalyGenerator(cfg.image_size, cfg.channels, cfg.ngf, cfg.nz)
    return generator, Discriminator.for_config(cfg)
