"""SAGAN, Skip-Attention GAN (Liu et al., ICIP 2021): a U-Net with CBAM on every encoder output.

Reimplemented from the paper's description (the authors' repository has no licence). Differences from
the authors' code, all documented in :class:`SaganConfig`: SoftPool is computed in plain PyTorch instead
of the CUDA extension, CBAM follows the paper (no BatchNorm in spatial attention), and the output has
tanh by default.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn
from torch.nn import functional as F

from anotrans.errors import ConfigError
from anotrans.networks.baselines.common import check_choice, check_positive
from anotrans.networks.cbam import CBAM
from anotrans.networks.config import ModelConfig
from anotrans.networks.discriminator import Discriminator
from anotrans.networks.init import dcgan_init_

POOLS = ("soft", "max", "avg")
OUTPUT_ACTIVATIONS = ("tanh", "none")
DEPTH = 4  # downsamplings, as in the original (64-128-256-512-512)


@dataclasses.dataclass
class SaganConfig(ModelConfig):
    """SAGAN options.

    ``pool``: "soft" is SoftPool (Stergiou et al., 2021), the original's choice, written here in plain
    PyTorch (the original needs a CUDA extension); "max"/"avg" are the usual substitutes.
    ``output_activation``: the original had none; "tanh" (default) matches inputs scaled to [-1, 1].
    """

    ngf: int = 64
    disc_ndf: int = 64
    disc_nz: int = 100
    pool: str = "soft"
    output_activation: str = "tanh"

    def validate(self) -> None:
        check_positive(self, "ngf", "disc_ndf", "disc_nz")
        check_choice(self, "pool", POOLS)
        check_choice(self, "output_activation", OUTPUT_ACTIVATIONS)
        if self.image_size % 2**DEPTH:
            raise ConfigError(
                f"sagan: image_size={self.image_size} is not supported; its {DEPTH} 2x poolings need a "
                f"multiple of {2**DEPTH} (e.g. 32, 64, 96, 128, 256)"
            )


class SoftPool2d(nn.Module):
    """2x2 SoftPool: each window's softmax-weighted mean, ``sum(e^x * x) / sum(e^x)``.

    It sits between average pooling (every input gets gradient) and max pooling (strong activations
    dominate). Subtracting the window max first keeps ``exp`` in (0, 1], so it cannot overflow.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shift = F.interpolate(F.max_pool2d(x, 2), scale_factor=2.0, mode="nearest").detach()
        weights = torch.exp(x - shift)
        return F.avg_pool2d(weights * x, 2) / F.avg_pool2d(weights, 2)


def make_pool(kind: str) -> nn.Module:
    """The 2x downsampling named by :attr:`SaganConfig.pool`."""
    return {"soft": SoftPool2d, "max": lambda: nn.MaxPool2d(2), "avg": lambda: nn.AvgPool2d(2)}[kind]()


def double_conv(c_in: int, c_out: int, c_mid: int | None = None) -> nn.Sequential:
    """(conv3x3 -> BN -> ReLU) x 2, the U-Net block at every level."""
    c_mid = c_mid or c_out
    return nn.Sequential(
        nn.Conv2d(c_in, c_mid, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_mid),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_mid, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class SaganGenerator(nn.Module):
    """U-Net whose skips (and bottleneck) pass through CBAM, so the decoder gets attended features.

    The encoder chain itself runs on the un-attended maps; ``image_size`` must be a multiple of 16.

    Widths ``ngf * (1, 2, 4, 8, 8)``; decoder: bilinear x2, concat ``[skip, up]``, DoubleConv with a
    half-width middle, giving ``ngf * (4, 2, 1, 1)``; then a 1x1 conv head.
    """

    def __init__(
        self,
        image_size: int,
        channels: int,
        ngf: int = 64,
        pool: str = "soft",
        output_activation: str = "tanh",
    ) -> None:
        super().__init__()
        widths = [ngf * min(2**i, 8) for i in range(DEPTH + 1)]
        self.pool = make_pool(pool)
        self.encoders = nn.ModuleList(
            double_conv(c_in, c_out) for c_in, c_out in zip([channels, *widths[:-1]], widths, strict=True)
        )
        self.attention = nn.ModuleList([CBAM(w) for w in widths])
        # Level i concatenates the skip (widths[i]) with the upsampled map, which also has widths[i] channels.
        self.decoders = nn.ModuleList(
            [double_conv(2 * widths[i], widths[max(i - 1, 0)], widths[i]) for i in reversed(range(DEPTH))]
        )
        self.head = nn.Conv2d(widths[0], channels, 1)
        self.output = nn.Tanh() if output_activation == "tanh" else nn.Identity()
        dcgan_init_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, (encode, attend) in enumerate(zip(self.encoders, self.attention, strict=True)):
            x = encode(x if i == 0 else self.pool(x))
            skips.append(attend(x))
        x = skips.pop()
        for decode in self.decoders:
            up = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=True)
            x = decode(torch.cat([skips.pop(), up], dim=1))
        return self.output(self.head(x))


def build_sagan(cfg: SaganConfig) -> tuple[nn.Module, nn.Module]:
    generator = SaganGenerator(cfg.image_size, cfg.channels, cfg.ngf, cfg.pool, cfg.output_activation)
    return generator, Discriminator.for_config(cfg)
