"""``build_splits``: from a DataSpec to train / validation / test datasets and an ``info`` dict.

Defaults, and why:
- ``protocol``: ``paper`` for CIFAR-10 and STL-10 (the reference code's split, needed to compare
  with published numbers), ``clean`` for a user's class folders (no training image of the abnormal
  class leaks into the test set). Sets with no abnormal training images (MVTec, folder pairs,
  synthetic) have a single split that both names denote.
- ``augment``: off for every set. The released code applies none, and the paper does not say which
  augmentation it used, so off is the only reproducible default; ``augment=True`` turns on a
  horizontal flip and shifts of up to 1/16 of the side for the training set only.
- ``val_split`` 0.1: a seeded share of the normal training images, held out after ``max_train_images``
  subsampling (see ``protocols.split_normals``); validation holds normals only.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from anotrans.data.cifar10 import read_cifar10
from anotrans.data.dataset import BadFiles, ImageDataset
from anotrans.data.folder import read_class_folders, read_normal_abnormal
from anotrans.data.images import check_geometry, set_max_image_pixels
from anotrans.data.mvtec import read_mvtec
from anotrans.data.protocols import Found, leave_one_class_out, split_normals, subsample_test
from anotrans.data.spec import DATA_KINDS, PROTOCOLS, DataSpec, DataSplits
from anotrans.data.stl10 import read_stl10
from anotrans.data.synthetic import read_synthetic
from anotrans.errors import ConfigError, DataError

CLASS_READERS = {"cifar10": read_cifar10, "stl10": read_stl10, "folder": read_class_folders}
DEFAULT_PROTOCOL = {"cifar10": "paper", "stl10": "paper", "folder": "clean"}


def check_spec(spec: DataSpec) -> None:
    """Reject impossible options before touching any file."""
    if spec.data not in DATA_KINDS:
        raise ConfigError(f"data must be one of {', '.join(DATA_KINDS)}, got {spec.data!r}")
    if spec.protocol is not None and spec.protocol not in PROTOCOLS:
        raise ConfigError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {spec.protocol!r}")
    check_geometry(spec.image_size, spec.channels)
    if not 0 <= spec.val_split < 1:
        raise ConfigError(f"val_split must be in [0, 1), got {spec.val_split!r}")
    if not 0 < spec.test_split < 1:
        raise ConfigError(f"test_split must be in (0, 1), got {spec.test_split!r}")
    for name in ("max_train_images", "max_test_images"):
        value = getattr(spec, name)
        if value is not None and value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    if spec.root is None and spec.data != "synthetic":
        raise ConfigError(f"data={spec.data!r} needs root, the folder that holds the data set")


def find(spec: DataSpec, bad: BadFiles) -> tuple[Found, str]:
    """Run the reader of ``spec.data`` and its protocol; returns what was found and the protocol name."""
    protocol = spec.protocol or DEFAULT_PROTOCOL.get(spec.data, "paper")
    if spec.data in ("cifar10", "stl10") or (spec.data == "folder" and spec.abnormal_class is not None):
        classes = CLASS_READERS[spec.data](spec.root)
        return leave_one_class_out(
            classes, spec.abnormal_class, protocol, f"{spec.data} at {spec.root}"
        ), protocol
    readers = {
        "mvtec": lambda: read_mvtec(spec.root, spec.category, bad),
        "folder": lambda: read_normal_abnormal(spec, bad),
        "synthetic": lambda: read_synthetic(spec, bad),
    }
    return readers[spec.data](), protocol


def build_splits(spec: DataSpec) -> DataSplits:
    """Train (normals), validation (held-out normals) and test (labelled, or None) datasets plus ``info``."""
    check_spec(spec)
    set_max_image_pixels(spec.max_image_pixels)
    bad = BadFiles(spec.skip_bad_files)
    found, protocol = find(spec, bad)
    train, val = split_normals(found.train, spec.val_split, spec.max_train_images, spec.seed)
    make = partial(
        ImageDataset,
        image_size=spec.image_size,
        channels=spec.channels,
        arrays=found.arrays,
        mask_arrays=found.mask_arrays,
        cache_dir=spec.cache_dir,
    )
    test = None if found.test is None else subsample_test(found.test, spec.max_test_images, spec.seed)
    splits = DataSplits(
        train=make(train, augment=bool(spec.augment)),
        val=make(val),
        test=make(test) if test is not None else None,
    )
    datasets = [d for d in (splits.train, splits.val, splits.test) if d is not None]
    if spec.skip_bad_files:
        for dataset in datasets:
            dataset.drop_unreadable(bad)
    if len(splits.train) == 0:
        raise DataError(f"{spec.root}: no readable training images")
    splits.info = _info(spec, found, protocol, splits, bad)
    return splits


def _info(spec: DataSpec, found: Found, protocol: str, splits: DataSplits, bad: BadFiles) -> dict[str, Any]:
    test_labels = splits.test.labels if splits.test is not None else []
    return {
        "data": spec.data,
        "root": spec.root,
        "protocol": protocol,
        "class_names": None,
        "abnormal_class": None,
        "has_masks": False,
        **found.info,
        "image_size": spec.image_size,
        "channels": spec.channels,
        "augment": bool(spec.augment),
        "seed": spec.seed,
        "val_split": spec.val_split,
        "max_train_images": spec.max_train_images,
        "normal_pool": len(found.train),
        "max_test_images": spec.max_test_images,
        "test_pool": len(found.test) if found.test is not None else 0,
        "num_train": len(splits.train),
        "num_val": len(splits.val),
        "num_test": len(test_labels),
        "num_test_normal": test_labels.count(0),
        "num_test_abnormal": test_labels.count(1),
        "skipped_files": list(bad.skipped),
        "num_skipped": len(bad.skipped),
    }
