"""CIFAR-10 in the official ``cifar-10-batches-py`` pickles, or as class folders.

Each batch is a pickled dict with ``b'data'`` (uint8 rows of 3072 = R(1024) G(1024) B(1024), each
plane row-major 32x32) and ``b'labels'``; ``batches.meta`` holds ``b'label_names'``. The pickles are
read by a restricted unpickler (``safe_pickle``) that admits plain data only, so a crafted file cannot
run code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from anotrans.data.folder import read_class_folders
from anotrans.data.protocols import ClassSet, class_set_from_arrays
from anotrans.data.safe_pickle import load_data_pickle
from anotrans.errors import DataError

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
BATCHES_DIR = "cifar-10-batches-py"


def _unpickle(path: Path) -> dict[Any, Any]:
    try:
        content = load_data_pickle(path)
    except FileNotFoundError:
        raise DataError(
            f"{path}: file not found (the official CIFAR-10 set has {TRAIN_BATCHES} and {TEST_BATCH})"
        ) from None
    if not isinstance(content, dict):
        raise DataError(f"{path}: not a CIFAR-10 batch (expected a dict)")
    return content


def _read_batch(path: Path, num_classes: int) -> tuple[np.ndarray, list[int]]:
    """uint8 [N, 32, 32, 3] and labels of one batch file."""
    batch = _unpickle(path)
    if b"data" not in batch or b"labels" not in batch:
        raise DataError(f"{path}: not a CIFAR-10 batch (keys b'data' and b'labels' missing)")
    try:
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = [int(v) for v in batch[b"labels"]]
    except (TypeError, ValueError, OverflowError) as exc:
        raise DataError(f"{path}: b'data' must be uint8 rows and b'labels' integers ({exc})") from None
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != data.shape[0]:
        raise DataError(
            f"{path}: expected data [N, 3072] and N labels, got {data.shape} and {len(labels)} labels"
        )
    if labels and not 0 <= min(labels) <= max(labels) < num_classes:
        raise DataError(f"{path}: labels outside 0..{num_classes - 1}")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def _label_names(meta: Path) -> list[str]:
    names = _unpickle(meta).get(b"label_names")
    if not isinstance(names, list) or not all(isinstance(n, bytes) for n in names):
        raise DataError(f"{meta}: b'label_names' must be a list of byte strings")
    if len(names) != len(CIFAR10_CLASSES):
        count = len(CIFAR10_CLASSES)
        raise DataError(f"{meta}: b'label_names' lists {len(names)} classes; CIFAR-10 has {count}")
    return [n.decode("utf-8", "replace") for n in names]


def batches_dir(root: str | os.PathLike) -> Path | None:
    """``root`` itself or ``root/cifar-10-batches-py`` when it holds the pickles, else None."""
    for candidate in (Path(root), Path(root) / BATCHES_DIR):
        if (candidate / TRAIN_BATCHES[0]).is_file():
            return candidate
    return None


def read_cifar10(root: str | os.PathLike) -> ClassSet:
    """The pickles when present, otherwise ``train/<class>`` and ``test/<class>`` folders."""
    directory = batches_dir(root)
    if directory is None:
        if not Path(root).is_dir():
            raise DataError(f"{root}: CIFAR-10 folder not found")
        if not (Path(root) / "train").is_dir():
            raise DataError(f"{root}: neither {BATCHES_DIR} pickles nor train/<class>/ folders found")
        return read_class_folders(root)
    meta = directory / "batches.meta"
    classes = _label_names(meta) if meta.is_file() else list(CIFAR10_CLASSES)
    parts = [
        (split, f"cifar10/{name}", *_read_batch(directory / name, len(classes)))
        for split, names in (("train", TRAIN_BATCHES), ("test", (TEST_BATCH,)))
        for name in names
    ]
    return class_set_from_arrays(classes, parts, {"format": BATCHES_DIR})
