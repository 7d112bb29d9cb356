"""Skip-GANomaly (Akcay et al., IJCNN 2019): a pix2pix U-Net generator with the shared discriminator."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from anotrans.networks.baselines.common import check_dcgan_size, check_positive, exact_halvings
from anotrans.networks.config import ModelConfig
from anotrans.networks.discriminator import Discriminator
from anotrans.networks.init import dcgan_init_


@dataclasses.dataclass
class SkipGanomalyConfig(ModelConfig):
    """``ngf``: U-Net width (64-128-256-512-512...); ``disc_ndf``/``disc_nz``: D width and features."""

    ngf: int = 64
    disc_ndf: int = 64
    disc_nz: int = 100

    def validate(self) -> None:
        check_positive(self, "ngf", "disc_ndf", "disc_nz")
        check_dcgan_size("skip-ganomaly", self.image_size)


class UnetGenerator(nn.Module):
    """pix2pix U-Net: down LReLU(0.2) -> Conv4x4 s2 -> BN; up ReLU -> ConvT4x4 s2 -> BN; skips concatenated.

    It halves while the map is even (``num_downs`` = exact halvings): 32 px -> 5 downs to 1x1, as in the
    original (log2 isize); 96 px -> 5 downs to a 3x3 bottleneck, where the original's log2 depth cannot
    run. Width at depth i is ``ngf * min(2**i, 8)``. The outermost down has no activation or BN, the
    innermost no BN, and the outermost up ends in tanh (inputs are in [-1, 1]).
    """

    def __init__(self, image_size: int, channels: int, ngf: int = 64) -> None:
        super().__init__()
        num_downs, _ = exact_halvings(image_size)
        widths = [channels] + [ngf * min(2**i, 8) for i in range(num_downs)]
        self.downs = nn.ModuleList()
        self.ups = nn.ModuleList()
        for i in range(num_downs):
            c_in, c_out = widths[i], widths[i + 1]
            outer, inner = i == 0, i == num_downs - 1
            down: list[nn.Module] = [] if outer else [nn.LeakyReLU(0.2)]
            down.append(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False))
            if not (outer or inner):
                down.append(nn.BatchNorm2d(c_out))
            self.downs.append(nn.Sequential(*down))
            up_in = c_out if inner else 2 * c_out
            self.ups.append(
                nn.Sequential(
                    nn.ReLU(),
                    nn.ConvTranspose2d(up_in, c_in, 4, 2, 1, bias=outer),
                    nn.Tanh() if outer else nn.BatchNorm2d(c_in),
                )
            )
        dcgan_init_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for down in self.downs:
            x = down(x)
            skips.append(x)
        x = self.ups[-1](skips[-1])
        for skip, up in zip(reversed(skips[:-1]), reversed(self.ups[:-1]), strict=True):
            x = up(torch.cat([skip, x], dim=1))
        return x


def build_skip_ganomaly(cfg: SkipGanomalyConfig) -> tuple[nn.Module, nn.Module]:
    generator = UnetGenerator(cfg.image_size, cfg.channels, cfg.ngf)
    return generator, Discriminator.for_config(cfg)
