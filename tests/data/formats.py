"""Writers of small files in each official format, shared by the data tests."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def write_cifar_pickles(
    root: Path, per_class_batch: int = 2, per_class_test: int = 3
) -> dict[str, np.ndarray]:
    """The official cifar-10-batches-py layout; returns the images [N, 32, 32, 3] written per batch file."""
    directory = root / "cifar-10-batches-py"
    directory.mkdir(parents=True)
    rng = np.random.default_rng(0)
    written = {}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        per_class = per_class_test if name == "test_batch" else per_class_batch
        labels = [c for c in range(10) for _ in range(per_class)]
        images = rng.integers(0, 256, (len(labels), 32, 32, 3), dtype=np.uint8)
        rows = images.transpose(0, 3, 1, 2).reshape(len(labels), 3072)  # R plane, G plane, B plane
        with open(directory / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"labels": labels, b"data": rows}, f)
        written[name] = images
    with open(directory / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [c.encode() for c in CLASSES], b"num_vis": 3072}, f)
    return written


def write_stl10(root: Path, per_class_train: int = 5, per_class_test: int = 8) -> dict[str, np.ndarray]:
    """The official stl10_binary layout (column-major planes, labels 1..10); returns images [N, 96, 96, 3]."""
    directory = root / "stl10_binary"
    directory.mkdir(parents=True)
    rng = np.random.default_rng(1)
    written = {}
    for split, per_class in (("train", per_class_train), ("test", per_class_test)):
        labels = np.array([c for c in range(10) for _ in range(per_class)], dtype=np.uint8) + 1
        images = rng.integers(0, 256, (len(labels), 96, 96, 3), dtype=np.uint8)
        images.transpose(0, 3, 2, 1).tofile(directory / f"{split}_X.bin")  # [N, C, W, H]: column-major
        labels.tofile(directory / f"{split}_y.bin")
        written[split] = images
    (directory / "class_names.txt").write_text(
        "\n".join(["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"])
        + "\n"
    )
    return written


def write_png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def write_class_tree(root: Path, per_train: int = 5, per_test: int = 2, size: int = 8) -> Path:
    """``train/<class>/*.png`` and ``test/<class>/*.png`` for the ten CIFAR class names."""
    for c, name in enumerate(CLASSES):
        for split, count in (("train", per_train), ("test", per_test)):
            for i in range(count):
                write_png(
                    root / split / name / f"{i:04d}.png", np.full((size, size, 3), c * 20 + i, dtype=np.uint8)
                )
    return root
