"""Typed model configs that round-trip through JSON, so a checkpoint can rebuild its model."""

from __future__ import annotations

import dataclasses
import json
from typing import ClassVar

from anotrans.errors import ConfigError
from anotrans.utils.sections import Section


@dataclasses.dataclass
class ModelConfig(Section):
    """Base of every family's config: image geometry plus the family's own fields.

    Subclasses validate themselves in ``validate`` and raise :class:`ConfigError` naming the option.
    ``from_dict`` follows the one config rule (:mod:`anotrans.utils.sections`).
    """

    SECTION: ClassVar[str] = "model"

    image_size: int = 32
    channels: int = 3
    rotation_head: bool = False  # D's quarter-turn head (networks.discriminator); set by --rotation-loss

    def __post_init__(self) -> None:
        if self.channels < 1:
            raise ConfigError(f"channels must be >= 1, got {self.channels}")
        if self.image_size < 8:
            raise ConfigError(f"image_size must be >= 8, got {self.image_size}")
        self.validate()

    def validate(self) -> None:
        """Check the combination of options; overridden by families with constraints."""

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)
