"""The one config rule: every section (data, training, score, model) reads a dict the same strict way.

A key the section does not know and a value of the wrong type are errors naming the key, the section and
what would work, whether the dict came from the command line, a YAML file or a saved config.json; so a
typo is never silently dropped. JSON has no tuples and no int/float distinction: lists are read back as
tuples and ints as floats where the field says so, so ``from_dict(to_dict())`` gives an equal config.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from typing import Any, ClassVar, TypeVar

from anotrans.errors import ConfigError

S = TypeVar("S", bound="Section")


class Section:
    """Mixin of the config dataclasses: ``to_dict`` / strict ``from_dict``; ``SECTION`` names it in errors."""

    SECTION: ClassVar[str] = "config"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls: type[S], data: dict[str, Any], source: str | None = None) -> S:
        """Build the section from ``data``; ``source`` (a file) is named in errors about saved configs."""
        return cls(**checked_values(cls, data, source))


def checked_values(cls: type, data: Any, source: str | None = None) -> dict[str, Any]:
    """``data`` as constructor arguments of dataclass ``cls``, checked and converted to its type hints."""
    section = getattr(cls, "SECTION", cls.__name__)
    where = f"{source}: " if source else ""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}the {section} section must be a mapping of option: value, got {data!r}")
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        written_by = " (written by another version of anotrans?)" if source else ""
        raise ConfigError(
            f"{where}unknown option(s) {', '.join(map(str, unknown))} in the {section} section{written_by}; "
            f"known: {', '.join(sorted(names))}"
        )
    hints = typing.get_type_hints(cls)
    out = {}
    for key, value in data.items():
        try:
            out[key] = convert(hints[key], value)
        except TypeError:
            raise ConfigError(
                f"{where}{section} option {key} must be {type_name(hints[key])}, got {value!r}"
                + _hint(hints[key], value)
            ) from None
    return out


def convert(hint: Any, value: Any) -> Any:
    """``value`` as type ``hint`` (int -> float, list -> tuple, path -> str); TypeError if it is not one."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is not type(None):
                try:
                    return convert(arg, value)
                except TypeError:
                    continue
        raise TypeError
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, (str, os.PathLike)):
            return os.fspath(value)
    elif origin is tuple:
        if isinstance(value, (list, tuple)):
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(convert(args[0], v) for v in value)
            if len(args) == len(value):
                return tuple(convert(a, v) for a, v in zip(args, value, strict=True))
    elif origin is dict:
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return dict(value)
    elif isinstance(hint, type) and isinstance(value, hint):
        return value
    raise TypeError


def type_name(hint: Any) -> str:
    """``int | None`` -> "int or null": the expected type as a user reads it."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else type_name(a) for a in args)
    if origin is tuple:
        return f"a list of {type_name(args[0])}" if args[-1] is Ellipsis else f"a list of {len(args)} values"
    if origin is dict:
        return "a mapping"
    if hint is float:
        return "a number"
    if hint is bool:
        return "true or false"
    return getattr(hint, "__name__", str(hint))


def _hint(hint: Any, value: Any) -> str:
    """YAML 1.1 reads ``1e-4`` (no dot) as text: say how to write the number."""
    if isinstance(value, str) and "float" in str(hint):
        try:
            float(value)
        except ValueError:
            return ""
        return " (YAML reads a number without a dot as text: write e.g. 1.0e-4)"
    return ""
