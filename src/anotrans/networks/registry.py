"""Model registry: ``build_model(name, ...)`` and ``list_models()``, the stable public entry points."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from torch import nn

from anotrans.errors import ConfigError
from anotrans.networks.config import ModelConfig


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


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(
    name: str, config_cls: type[ModelConfig], description: str, **defaults: Any
) -> Callable[[Callable[[Any], tuple[nn.Module, nn.Module]]], Callable[[Any], tuple[nn.Module, nn.Module]]]:
    """Register ``builder(config) -> (generator, discriminator)`` under ``name`` with default overrides."""

    def decorator(
        builder: Callable[[Any], tuple[nn.Module, nn.Module]],
    ) -> Callable[[Any], tuple[nn.Module, nn.Module]]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = ModelSpec(name, config_cls, builder, dict(defaults), description)
        return builder

    return decorator


def _spec(name: str) -> ModelSpec:
    _ensure_loaded()
    if name not in _REGISTRY:
        raise ConfigError(f"unknown model {name!r}; choose one of: {', '.join(list_models())}")
    return _REGISTRY[name]


def _ensure_loaded() -> None:
    # Importing the family modules runs their @register_model decorators.
    from anotrans.networks import baselines, generator  # noqa: F401


def list_models() -> list[str]:
    """Names accepted by :func:`build_model`, in registration order."""
    _ensure_loaded()
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
    return spec.config_cls(**values)


def build_model(name: str, image_size: int = 32, channels: int = 3, **overrides: Any) -> AnomalyGAN:
    """Build a registered model, e.g. ``build_model("anotrans", image_size=64, skip="cbam")``."""
    return _build(name, make_config(name, image_size, channels, **overrides))


def build_model_from_config(data: dict[str, Any]) -> AnomalyGAN:
    """Rebuild a model from :meth:`AnomalyGAN.config_dict` output (e.g. read from a checkpoint)."""
    try:
        name, cfg = data["name"], data["config"]
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"model config must have 'name' and 'config' keys, got {data!r}") from exc
    return _build(name, _spec(name).config_cls.from_dict(cfg))


def _build(name: str, config: ModelConfig) -> AnomalyGAN:
    generator, discriminator = _spec(name).builder(config)
    return AnomalyGAN(name, config, generator, discriminator)
