"""The AnoTrans generator: a U-shaped Swin Transformer with attention in the skips (paper sec. 2.1-2.4).

Registers ``anotrans`` (SAC skips, window attention: the paper's architecture), ``anotrans-cbam``,
``anotrans-plain`` and ``anotrans-vit`` (global attention, Table 1).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor, nn

from anotrans.errors import ConfigError
from anotrans.networks.config import ModelConfig
from anotrans.networks.discriminator import Discriminator
from anotrans.networks.init import dcgan_init_
from anotrans.networks.skips import SKIP_KINDS, make_skip
from anotrans.networks.swin import (
    AttentionBlock,
    PatchEmbed,
    PatchExpand,
    PatchMerging,
    TransformerBlock,
    effective_window,
    tokens_to_image,
)

__all__ = ["ATTENTION_KINDS", "OUTPUT_ACTIVATIONS", "AnoTransConfig", "AnoTransGenerator"]

ATTENTION_KINDS = ("window", "global")
OUTPUT_ACTIVATIONS = ("tanh", "none")


@dataclasses.dataclass
class AnoTransConfig(ModelConfig):
    """Options of the AnoTrans generator (and its discriminator); the defaults are the paper's architecture.

    Level ``i`` (0 = finest) has width ``embed_dim * 2**i`` on an ``(image_size / patch_size) / 2**i`` grid;
    level ``num_merges`` is the bottleneck. ``depths`` gives the blocks per level (encoder levels, then the
    bottleneck; decoder level ``i`` mirrors encoder level ``i``). ``skip_levels`` are the levels whose skip
    gets ``skip`` attention; the others (by default the deepest) pass tokens through unchanged.
    ``attention`` picks the blocks of the encoder, bottleneck and decoder; SAC keeps W-MSA/SW-MSA, as
    sec. 2.4 defines it. ``input_norm=False`` and ``output_activation="none"`` reproduce the released code.
    ``checkpoint_blocks`` recomputes each transformer block's activations in backward instead of keeping
    them (activation checkpointing): same results, much less training memory, about one G forward more.
    """

    patch_size: int = 2
    embed_dim: int = 64
    num_merges: int = 3
    depths: tuple[int, ...] = (2, 2, 2, 2)
    num_heads: int = 4
    window_size: int = 2
    shift_size: int = 1
    mlp_ratio: float = 4.0
    skip: str = "sac"
    skip_levels: tuple[int, ...] = (0, 1)
    skip_depth: int = 2
    attention: str = "window"
    input_norm: bool = True
    output_activation: str = "tanh"
    disc_ndf: int = 64
    disc_nz: int = 100
    checkpoint_blocks: bool = False

    def __post_init__(self) -> None:
        # Lists from Python callers become tuples, as JSON round-trips produce them, so configs compare equal.
        self.depths = tuple(self.depths)
        self.skip_levels = tuple(self.skip_levels)
        super().__post_init__()

    def validate(self) -> None:
        positive = ("patch_size", "embed_dim", "num_merges", "num_heads", "window_size", "skip_depth")
        for name in (*positive, "disc_ndf", "disc_nz"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        choices = {"skip": SKIP_KINDS, "attention": ATTENTION_KINDS, "output_activation": OUTPUT_ACTIVATIONS}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {', '.join(allowed)}; got {getattr(self, name)!r}")
        if self.mlp_ratio <= 0:
            raise ConfigError(f"mlp_ratio must be > 0, got {self.mlp_ratio}")
        if not 0 <= self.shift_size < self.window_size:
            raise ConfigError(
                f"shift_size must be in [0, window_size={self.window_size}), got {self.shift_size}"
            )
        if self.embed_dim % self.num_heads or self.embed_dim % 2:
            raise ConfigError(
                f"embed_dim={self.embed_dim} must be even and divisible by num_heads={self.num_heads}"
            )
        if len(self.depths) != self.num_merges + 1 or min(self.depths) < 1:
            raise ConfigError(
                f"depths needs num_merges + 1 = {self.num_merges + 1} entries >= 1 (encoder levels, then the "
                f"bottleneck), got {self.depths}"
            )
        levels = range(self.num_merges)
        if len(set(self.skip_levels)) != len(self.skip_levels) or not set(self.skip_levels) <= set(levels):
            raise ConfigError(
                f"skip_levels must be distinct levels in 0..{self.num_merges - 1} (0 = finest), "
                f"got {self.skip_levels}"
            )
        problem = self.geometry_problem(self.image_size)
        if problem:
            raise ConfigError(f"{problem}; image sizes that work here: {self._sizes_that_work()}")

    def windowed_levels(self) -> list[int]:
        """Levels whose grid is cut into windows (backbone in window mode, SAC skips)."""
        levels = set(range(self.num_merges + 1)) if self.attention == "window" else set()
        if self.skip == "sac":
            levels |= set(self.skip_levels)
        return sorted(levels)

    def geometry_problem(self, image_size: int) -> str | None:
        """Why ``image_size`` cannot work with the other options, or None if it does."""
        p, m = self.patch_size, self.num_merges
        if image_size % p:
            return f"image_size={image_size} is not a multiple of patch_size={p}"
        grid = image_size // p
        if grid % 2**m:
            return (
                f"image_size={image_size} / patch_size={p} gives a {grid}x{grid} token grid that cannot be "
                f"halved num_merges={m} times"
            )
        for level in self.windowed_levels():
            res = grid >> level
            window, _ = effective_window(res, self.window_size, self.shift_size)
            if res % window:
                return f"window_size={self.window_size} does not divide the {res}x{res} grid of level {level}"
        return None

    def _sizes_that_work(self, count: int = 8) -> str:
        good = [s for s in range(8, 2049) if self.geometry_problem(s) is None]
        nearest = sorted(sorted(good, key=lambda s: abs(s - self.image_size))[:count])
        return ", ".join(map(str, nearest)) if nearest else "none up to 2048 px"


class AnoTransGenerator(nn.Module):
    """Image ``[B, C, S, S]`` -> reconstruction of the same shape (tanh-bounded by default).

    Input BatchNorm (sec. 2.1) -> PatchEmbed -> per level: skip(x) in parallel with AttentionBlock +
    PatchMerging -> bottleneck AttentionBlock + PatchExpand -> per level, deepest first: concat
    [decoder, skip] -> Linear 2C->C -> AttentionBlock -> PatchExpand (the last by ``patch_size``, back to
    pixels) -> Linear to ``channels`` per pixel.

    Init: every conv/linear weight N(0, 0.02) with zero bias, BatchNorm N(1, 0.02), LayerNorm 1/0, and the
    position embedding and relative bias tables N(0, 0.02). That is what the released code ends up with (its
    trunc-normal Linear init is overwritten by DCGAN's, and its "trunc-normal 0.02" cuts at +-2 absolute, i.e.
    never), it is the Swin/ViT scale, and it is the rule the discriminator and baselines share.
    """

    def __init__(self, config: AnoTransConfig) -> None:
        super().__init__()
        cfg = self.config = config
        levels = range(cfg.num_merges)
        dims = [cfg.embed_dim * 2**i for i in range(cfg.num_merges + 1)]
        res = [(cfg.image_size // cfg.patch_size) >> i for i in range(cfg.num_merges + 1)]
        geometry = {
            "num_heads": cfg.num_heads,
            "window_size": cfg.window_size,
            "shift_size": cfg.shift_size,
            "mlp_ratio": cfg.mlp_ratio,
        }

        def block(level: int) -> AttentionBlock:
            depth = cfg.depths[level]
            return AttentionBlock(dims[level], res[level], depth, attention=cfg.attention, **geometry)

        self.input_norm = nn.BatchNorm2d(cfg.channels) if cfg.input_norm else nn.Identity()
        self.patch_embed = PatchEmbed(cfg.image_size, cfg.patch_size, cfg.channels, cfg.embed_dim)
        kinds = [cfg.skip if i in cfg.skip_levels else "plain" for i in levels]
        self.skips = nn.ModuleList(
            make_skip(kinds[i], dims[i], res[i], depth=cfg.skip_depth, **geometry) for i in levels
        )
        self.encoder = nn.ModuleList(nn.Sequential(block(i), PatchMerging(dims[i], res[i])) for i in levels)
        m = cfg.num_merges
        self.bottleneck = nn.Sequential(block(m), PatchExpand(dims[m], res[m]))
        self.decoder = nn.ModuleList(
            nn.Sequential(
                nn.Linear(2 * dims[i], dims[i]),
                block(i),
                PatchExpand(dims[i], res[i], scale=cfg.patch_size if i == 0 else 2),
            )
            for i in levels
        )
        self.head = nn.Linear(dims[0] // 2, cfg.channels)
        self.output_activation = nn.Tanh() if cfg.output_activation == "tanh" else nn.Identity()
        for module in self.modules():
            if isinstance(module, TransformerBlock):
                module.checkpoint = cfg.checkpoint_blocks
        dcgan_init_(self)

    def forward(self, x: Tensor) -> Tensor:
        cfg = self.config
        expected = (cfg.channels, cfg.image_size, cfg.image_size)
        if tuple(x.shape[1:]) != expected:
            raise ValueError(f"generator expects [B, {', '.join(map(str, expected))}], got {[*x.shape]}")
        x = self.patch_embed(self.input_norm(x))
        skips = []
        for skip, stage in zip(self.skips, self.encoder, strict=True):
            skips.append(skip(x))  # on the stage input, in parallel with the stage (reference notes 2.3)
            x = stage(x)
        x = self.bottleneck(x)
        for stage, skip_x in zip(reversed(self.decoder), reversed(skips), strict=True):
            x = stage(torch.cat([x, skip_x], dim=-1))
        x = tokens_to_image(self.head(x), cfg.image_size, cfg.image_size)
        return self.output_activation(x)


def build_anotrans(config: AnoTransConfig) -> tuple[nn.Module, nn.Module]:
    """Generator and DCGAN discriminator for one AnoTrans config."""
    discriminator = Discriminator.for_config(config)
    return AnoTransGenerator(config), discriminator
