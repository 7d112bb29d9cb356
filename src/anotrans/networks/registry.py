"""Model registry: ``build_model(name, ...)`` and ``list_models()``, the stable public entry points."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from torch import nn

from anotrans.errors import ConfigError
from anotrans.networks.baselines.ganomaly import GanomalyConfig, build_ganomaly
from anotrans.networks.baselines.sagan import SaganConfig, build_sagan
from anotrans.networks.baselines.skip_ganomaly import SkipGanomalyConfig, build_skip_ganomaly
from anotrans.networks.config import ModelConfig
from anotrans.networks.generator import AnoTransConfig, build_anotrans


class AnomalyGAN(nn.Module):
    """A generator and a discriminator with the config that built them.

    ``generator(x)`` returns a reconstruction of ``x``'s shape; ``discriminator(x)`` returns
    ``(logits[B], features[B, F])``. Training logic lives in ``anotrans.training``, not here.
    """

    def __init__(
        self, name: str, config: ModelConfig, generator: nn.Module, discriminator: nn.Module
    ) -> None:
        super().__init__()
        self.name = name
        self.config = config
        self.generator = generator
        self.discriminator = discriminator

    def config_dict(self) -> dict[str, Any]:
        """JSON-ready description that :func:`build_model_from_config` turns back into this model."""
        return {"name": self.name, "config": self.config.to_dict()}


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    name: str
    config_cls: type[ModelConfig]
    builder: Callable[[ModelConfig], tuple[nn.Module, nn.Module]]
    defaults: dict[str, Any]
    description: str


_FAMILY = "AnoTrans (ICANN 2022): U-shaped Swin Transformer GAN"

# The one place models are registered: families define configs and builders and never import this
# module, so the import graph points one way (registry -> families).
_REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "ganomaly",
            GanomalyConfig,
            build_ganomaly,
            {},
            "GANomaly: DCGAN encoder-decoder-encoder, latent-distance score",
        ),
        ModelSpec(
            "sagan",
            SaganConfig,
            build_sagan,
            {},
            "SAGAN: skip-attention U-Net with CBAM on every encoder level",
        ),
        ModelSpec(
            "skip-ganomaly",
            SkipGanomalyConfig,
            build_skip_ganomaly,
            {},
            "Skip-GANomaly: pix2pix U-Net generator",
        ),
        ModelSpec(
            "anotrans",
            AnoTransConfig,
            build_anotrans,
            {},
            f"{_FAMILY}, Skip Attention Connections (the paper's architecture)",
        ),
        ModelSpec(
            "anotrans-cbam", AnoTransConfig, build_anotrans, {"skip": "cbam"}, f"{_FAMILY}, CBAM skips"
        ),
        ModelSpec(
            "anotrans-plain", AnoTransConfig, build_anotrans, {"skip": "plain"}, f"{_FAMILY}, identity skips"
        ),
        ModelSpec(
            "anotrans-vit",
            AnoTransConfig,
            build_anotrans,
            {"attention": "global"},
            f"{_FAMILY}, ViT attention (Tab. 1)",
        ),
    )
}


def _spec(name: str) -> ModelSpec:
    if name not in _REGISTRY:
        raise ConfigError(f"unknown model {name!r}; choose one of: {', '.join(list_models())}")
    return _REGISTRY[name]


def list_models() -> list[str]:
    """Names accepted by :func:`build_model`, in registration order."""
    return list(_REGISTRY)


def model_description(name: str) -> str:
    return _spec(name).description


def make_config(name: str, image_size: int = 32, channels: int = 3, **overrides: Any) -> ModelConfig:
    """The validated config that ``build_model`` would use (no weights are allocated)."""
    spec = _spec(name)
    fields = set(spec.config_cls.field_names())
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ConfigError(
            f"model {name!r} has no option(s) {', '.join(unknown)}; "
            f"its options are: {', '.join(sorted(fields))}"
        )
    values = {**spec.defaults, **overrides, "image_size": image_size, "channels": channels}
    return spec.config_cls.from_dict(values)


def build_model(name: str, image_size: int = 32, channels: int = 3, **overrides: Any) -> AnomalyGAN:
    """Build a registered model, e.g. ``build_model("anotrans", image_size=64, skip="cbam")``."""
    return _build(name, make_config(name, image_size, channels, **overrides))


def build_model_from_config(data: dict[str, Any], source: str | None = None) -> AnomalyGAN:
    """Rebuild a model from :meth:`AnomalyGAN.config_dict` output (e.g. read from ``source``, a file)."""
    try:
        name, cfg = data["name"], data["config"]
    except (KeyError, TypeError) as exc:
        where = f"{source}: " if source else ""
        raise ConfigError(f"{where}model config must have 'name' and 'config' keys, got {data!r}") from exc
    return _build(name, _spec(name).config_cls.from_dict(cfg, source))


def _build(name: str, config: ModelConfig) -> AnomalyGAN:
    generator, discriminator = _spec(name).builder(config)
    return AnomalyGAN(name, config, generator, discriminator)
