"""Budget presets: the knobs every cell of a table run shares (the same for every row), per data kind.

``paper`` is the full protocol (for a GPU); ``cpu`` fits one table into about an hour on 2 CPU cores;
``smoke`` proves the pipeline end to end in minutes. docs/benchmarks.md documents each preset and how
the ``cpu`` budget was estimated. Any knob can be overridden (``resolve(..., overrides)``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from anotrans.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Knobs:
    """Settings of the cells of one data kind; ``None`` image caps mean all images."""

    epochs: int
    batch_size: int
    image_size: int
    max_train_images: int | None = None
    max_test_images: int | None = None
    seeds: tuple[int, ...] = (0,)


@dataclasses.dataclass(frozen=True)
class Preset:
    """Knobs per data kind, plus the columns (paper names) each table runs; absent = every column."""

    name: str
    description: str
    knobs: dict[str, Knobs]
    classes: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)


_CPU_SUBSET = {
    "table1": ("frog", "bird", "cat", "car"),  # frog, bird, cat of CIFAR-10; bird, car, cat of STL-10
    "table3": ("frog", "bird", "cat"),
    "table4": ("bird", "car", "cat"),
    "table5": ("bottle",),
}

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "paper",
            "the full protocol: all images, CIFAR-10 25 epochs at batch 128, 3 seeds (a GPU job)",
            {
                "cifar10": Knobs(epochs=25, batch_size=128, image_size=32, seeds=(0, 1, 2)),
                "stl10": Knobs(epochs=80, batch_size=128, image_size=32, seeds=(0, 1, 2)),
                "mvtec": Knobs(epochs=200, batch_size=32, image_size=64, seeds=(0, 1, 2)),
                "folder": Knobs(epochs=25, batch_size=128, image_size=64, seeds=(0, 1, 2)),
            },
        ),
        Preset(
            "cpu",
            "about 60 minutes per table on 2 CPU cores: fewer images and epochs, a subset of columns",
            {
                "cifar10": Knobs(
                    epochs=3, batch_size=32, image_size=32, max_train_images=500, max_test_images=400
                ),
                "stl10": Knobs(
                    epochs=3, batch_size=32, image_size=32, max_train_images=500, max_test_images=400
                ),
                "mvtec": Knobs(epochs=8, batch_size=16, image_size=64),
                "folder": Knobs(
                    epochs=3, batch_size=32, image_size=64, max_train_images=800, max_test_images=400
                ),
            },
            _CPU_SUBSET,
        ),
        Preset(
            "smoke",
            "a pipeline check in minutes: 1 column, 1 epoch, 200 training and 200 test images, every row",
            {
                kind: Knobs(epochs=1, batch_size=32, image_size=32, max_train_images=200, max_test_images=200)
                for kind in ("cifar10", "stl10", "mvtec", "folder")
            },
            {"table1": ("bird",), "table3": ("frog",), "table4": ("bird",), "table5": ("bottle",)},
        ),
    )
}

KNOB_NAMES = tuple(f.name for f in dataclasses.fields(Knobs))


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return PRESETS[name]


def resolve(preset: Preset, data: str, overrides: dict[str, Any]) -> Knobs:
    """The preset's knobs for ``data`` with the given (non-None) overrides applied."""
    unknown = sorted(set(overrides) - set(KNOB_NAMES))
    if unknown:
        raise ConfigError(f"unknown knob(s) {', '.join(unknown)}; knobs are: {', '.join(KNOB_NAMES)}")
    knobs = dataclasses.replace(preset.knobs[data], **overrides)
    if not knobs.seeds:
        raise ConfigError("--seeds needs at least one seed")
    return knobs
