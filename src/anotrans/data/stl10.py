"""STL-10 in the official ``stl10_binary`` files (or as class folders).

``*_X.bin`` holds 96x96 images as 3 channel planes, each plane COLUMN-major (the format was written
from MATLAB), so every image is read as [C, W, H] and transposed to [H, W, C]. ``*_y.bin`` holds
labels 1..10 as uint8. The unlabelled split is not used by any protocol.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from anotrans.data.folder import read_class_folders
from anotrans.data.protocols import ClassSet, class_set_from_arrays
from anotrans.errors import DataError

STL10_CLASSES = ("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck")
STL10_SIZE = 96
BINARY_DIR = "stl10_binary"


def _read_split(directory: Path, split: str, num_classes: int) -> tuple[np.ndarray, list[int]]:
    """uint8 [N, 96, 96, 3] images and 0-based labels of one split."""
    x_path, y_path = directory / f"{split}_X.bin", directory / f"{split}_y.bin"
    for path in (x_path, y_path):
        if not path.is_file():
            raise DataError(
                f"{path}: file not found (the official STL-10 set has train/test _X.bin and _y.bin)"
            )
    raw = np.fromfile(x_path, dtype=np.uint8)
    per_image = 3 * STL10_SIZE * STL10_SIZE
    labels = np.fromfile(y_path, dtype=np.uint8).astype(np.int64) - 1
    if raw.size % per_image or raw.size // per_image != labels.size:
        raise DataError(
            f"{x_path}: {raw.size} bytes is not {labels.size} images of {per_image} bytes (see {y_path})"
        )
    if labels.size and not 0 <= labels.min() <= labels.max() < num_classes:
        raise DataError(f"{y_path}: labels outside 1..{num_classes}")
    images = raw.reshape(-1, 3, STL10_SIZE, STL10_SIZE).transpose(0, 3, 2, 1)
    return np.ascontiguousarray(images), labels.tolist()


def _class_names(path: Path) -> list[str]:
    try:
        names = path.read_text(encoding="utf-8").split()
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not names:
        raise DataError(f"{path}: no class names")
    return names


def binary_dir(root: str | os.PathLike) -> Path | None:
    """``root`` itself or ``root/stl10_binary`` when it holds the binaries, else None."""
    for candidate in (Path(root), Path(root) / BINARY_DIR):
        if (candidate / "train_X.bin").is_file():
            return candidate
    return None


def read_stl10(root: str | os.PathLike) -> ClassSet:
    """The binaries when present, otherwise ``train/<class>`` and ``test/<class>`` folders."""
    directory = binary_dir(root)
    if directory is None:
        if not (Path(root) / "train").is_dir():
            raise DataError(f"{root}: neither {BINARY_DIR}/train_X.bin nor train/<class>/ folders found")
        return read_class_folders(root)
    names_file = directory / "class_names.txt"
    classes = _class_names(names_file) if names_file.is_file() else list(STL10_CLASSES)
    parts = [
        (split, f"stl10/{split}_X.bin", *_read_split(directory, split, len(classes)))
        for split in ("train", "test")
    ]
    return class_set_from_arrays(classes, parts, {"format": BINARY_DIR})
