"""Typed model configs that round-trip through JSON, so a checkpoint can rebuild its model."""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any, TypeVar

from anotrans.errors import ConfigError

C = TypeVar("C", bound="ModelConfig")


@dataclasses.dataclass
class ModelConfig:
    """Base of every family's config: image geometry plus the family's own fields.

    Subclasses validate themselves in ``validate`` and raise :class:`ConfigError` naming the option.
    """

    image_size: int = 32
    channels: int = 3

    def __post_init__(self) -> None:
        if self.channels < 1:
            raise ConfigError(f"channels must be >= 1, got {self.channels}")
        if self.image_size < 8:
            raise ConfigError(f"image_size must be >= 8, got {self.image_size}")
        self.validate()

    def validate(self) -> None:
        """Check the combination of options; overridden by families with constraints."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        """Rebuild a config, turning JSON lists back into tuples where the field is a tuple."""
        known = set(cls.field_names())
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"unknown option(s) for {cls.__name__}: {', '.join(unknown)}; known: {sorted(known)}"
            )
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for key, value in data.items():
            if isinstance(value, list) and "tuple" in str(hints.get(key, "")).lower():
                value = tuple(value)
            kwargs[key] = value
        return cls(**kwargs)
