"""MVTec AD (and any folder in its layout): per category, ``train/good`` against everything in ``test/``.

Layout: ``<cat>/train/good/*.png``, ``<cat>/test/<defect or good>/*.png`` and
``<cat>/ground_truth/<defect>/NNN_mask.png``. Test images are ordered good first, then defect
folders by name. ``category`` names one category below ``root``, or ``"all"`` for every
category found (a single multi-category set); ``root`` may also be a category folder itself.
"""

from __future__ import annotations

import os
from pathlib import Path

from anotrans.data.dataset import BadFiles, Entry
from anotrans.data.folder import nonempty_images
from anotrans.data.masks import match_masks
from anotrans.data.protocols import Found
from anotrans.errors import DataError

MVTEC_CATEGORIES = (
    "bottle", "cable", "capsule", "carpet", "grid", "hazelnut", "leather", "metal_nut",
    "pill", "screw", "tile", "toothbrush", "transistor", "wood", "zipper",
)  # fmt: skip
ALL_CATEGORIES = "all"
GOOD = "good"


def is_category_dir(path: str | os.PathLike) -> bool:
    """True for a folder in the MVTec layout (it has ``train/good``)."""
    return (Path(path) / "train" / GOOD).is_dir()


def list_categories(root: str | os.PathLike) -> list[str]:
    """Category folders found directly below ``root``."""
    return sorted(p.name for p in Path(root).iterdir() if is_category_dir(p))


def category_dirs(root: str | os.PathLike, category: str | None) -> list[Path]:
    """Resolve ``category`` against ``root`` with errors that list what exists."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: MVTec AD folder not found")
    if is_category_dir(root) and category in (None, root.name):
        return [root]
    found = list_categories(root)
    if category == ALL_CATEGORIES:
        if not found:
            raise DataError(f"{root}: no MVTec-style category folders (<category>/train/good)")
        return [root / name for name in found]
    if category is None or category not in found:
        known = f"found here: {', '.join(found) or 'none'}; official names: {', '.join(MVTEC_CATEGORIES)}"
        if category is None:
            raise DataError(f"{root}: not a category folder and no category given ({known}, or 'all')")
        what = "MVTec AD category" if category in MVTEC_CATEGORIES else "category name"
        raise DataError(f"{root / category}: unknown or missing {what} {category!r} ({known})")
    return [root / category]


def read_category(directory: Path, bad: BadFiles) -> tuple[list[Entry], list[Entry], bool]:
    """Training normals, labelled test entries with masks, and whether ground truth exists."""
    train = [Entry(p) for p in nonempty_images(directory / "train" / GOOD, "train/good")]
    test_dir, truth_dir = directory / "test", directory / "ground_truth"
    if not test_dir.is_dir():
        raise DataError(f"{test_dir}: folder not found")
    test = (
        [Entry(p) for p in nonempty_images(test_dir / GOOD, "test/good")]
        if (test_dir / GOOD).is_dir()
        else []
    )
    defects = sorted(p.name for p in test_dir.iterdir() if p.is_dir() and p.name != GOOD)
    kinds = {p: d for d in defects for p in nonempty_images(test_dir / d, f"test/{d}")}
    images = list(kinds)
    masks: dict[str, str] = {}
    if truth_dir.is_dir():
        masks = match_masks(images, str(test_dir), str(truth_dir), bad)
        images = [p for p in images if p in masks]
    test += [Entry(p, label=1, mask=masks.get(p), defect=kinds[p]) for p in images]
    return train, test, truth_dir.is_dir()


def read_mvtec(root: str | os.PathLike, category: str | None, bad: BadFiles) -> Found:
    """One category, or all of them concatenated (category ``"all"``)."""
    dirs = category_dirs(root, category)
    train, test, has_masks = [], [], True
    for directory in dirs:
        cat_train, cat_test, cat_masks = read_category(directory, bad)
        train, test, has_masks = train + cat_train, test + cat_test, has_masks and cat_masks
    names = [d.name for d in dirs]
    info = {
        "format": "mvtec",
        "category": names[0] if len(names) == 1 else ALL_CATEGORIES,
        "categories": names,
    }
    return Found(train=train, test=test, info={**info, "has_masks": has_masks})
