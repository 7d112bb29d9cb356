"""Config checks shared by the baselines, so every family words its errors the same way."""

from __future__ import annotations

from anotrans.errors import ConfigError
from anotrans.networks.config import ModelConfig

#: Sizes whose stride-2 pyramid halves exactly down to a 4x4/3x3 (DCGAN) or 1x1/3x3 (U-Net) map.
DCGAN_SIZES_HINT = "2^k >= 8 or 3*2^k >= 12, e.g. 32, 64, 96, 128, 256"


def exact_halvings(image_size: int) -> tuple[int, int]:
    """``(n, m)`` with ``image_size = m * 2**n`` and ``m`` odd: how far a map halves without rounding."""
    n = 0
    while image_size % 2 == 0:
        image_size //= 2
        n += 1
    return n, image_size


def check_dcgan_size(model: str, image_size: int) -> None:
    """Nets that mirror a stride-2 pyramid on the way up need every halving to be exact."""
    _, odd = exact_halvings(image_size)
    if odd not in (1, 3) or image_size < (12 if odd == 3 else 8):
        raise ConfigError(
            f"{model}: image_size={image_size} is not supported; its decoder can only undo exact halvings, "
            f"so image_size must be {DCGAN_SIZES_HINT}"
        )


def check_positive(config: ModelConfig, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"{type(config).__name__}.{name} must be a positive integer, got {value!r}")


def check_choice(config: ModelConfig, name: str, choices: tuple[str, ...]) -> None:
    value = getattr(config, name)
    if value not in choices:
        owner = type(config).__name__
        raise ConfigError(f"{owner}.{name} must be one of {', '.join(choices)}; got {value!r}")
