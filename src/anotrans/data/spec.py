"""The data contract shared by readers, protocols, the trainer and the CLI.

Every dataset yields samples as dicts:
    ``image``: float32 tensor [C, H, W] scaled to [-1, 1]
    ``label``: int, 0 normal, 1 abnormal
    ``mask``:  float32 tensor [1, H, W] in {0, 1} (all zeros when the image has no mask)
    ``path``:  str, the file path, or a stable id such as ``cifar10/test_batch#123`` for array formats
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from torch.utils.data import Dataset

from anotrans.utils.sections import Section

DATA_KINDS = ("cifar10", "stl10", "mvtec", "folder", "synthetic")
PROTOCOLS = ("paper", "clean")


@dataclasses.dataclass
class DataSpec(Section):
    """Everything needed to turn files on disk into train / validation / test sets."""

    SECTION: ClassVar[str] = "data"

    data: str = "synthetic"
    root: str | None = None
    category: str | None = None  # MVTec category
    abnormal_class: str | None = None  # leave-one-class-out sets
    normal_dir: str | None = None  # folder sets, relative to root
    abnormal_dir: str | None = None
    mask_dir: str | None = None
    protocol: str | None = None  # None: the data set's default ("paper" for CIFAR-10 / STL-10)
    image_size: int = 32
    channels: int = 3
    val_split: float = 0.1
    max_train_images: int | None = None
    max_test_images: int | None = None  # seeded, stratified test subsample that keeps the test order
    seed: int = 0
    augment: bool | None = None  # None: the data set's default (off for MVTec and folders)
    cache_dir: str | None = None
    skip_bad_files: bool = False
    test_split: float = 0.2  # folder sets with abnormal_dir: seeded share of the normal images put in test
    max_image_pixels: int = 64_000_000  # larger image headers are refused undecoded (see data.images)


@dataclasses.dataclass
class DataSplits:
    """Train (normals only), validation (held-out normals) and test (labelled) sets."""

    train: Dataset
    val: Dataset
    test: Dataset | None
    info: dict[str, Any] = dataclasses.field(default_factory=dict)
