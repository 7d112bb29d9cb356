"""Data: readers of the official formats, split protocols, preprocessing and caching.

Entry point: ``build_splits(DataSpec(...)) -> DataSplits``; ``load_image`` preprocesses one user file
exactly like the training data. Names load lazily: :mod:`anotrans.data.images` stays torch-free.
"""

from typing import TYPE_CHECKING

from anotrans.utils.lazy import lazy_exports

if TYPE_CHECKING:
    from anotrans.data.build import build_splits
    from anotrans.data.dataset import Entry, ImageDataset
    from anotrans.data.mvtec import MVTEC_CATEGORIES
    from anotrans.data.spec import DataSpec, DataSplits
    from anotrans.data.synthetic import (
        DEFECT_KINDS,
        SYNTHETIC_ANOMALY_RATIO,
        SYNTHETIC_TEST,
        SYNTHETIC_TRAIN,
        SyntheticSet,
        make_synthetic,
        write_synthetic,
    )
    from anotrans.data.transforms import load_image

_SYNTHETIC = (
    "DEFECT_KINDS",
    "SYNTHETIC_ANOMALY_RATIO",
    "SYNTHETIC_TEST",
    "SYNTHETIC_TRAIN",
    "SyntheticSet",
    "make_synthetic",
    "write_synthetic",
)
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "build_splits": "anotrans.data.build",
        "Entry": "anotrans.data.dataset",
        "ImageDataset": "anotrans.data.dataset",
        "MVTEC_CATEGORIES": "anotrans.data.mvtec",
        "DataSpec": "anotrans.data.spec",
        "DataSplits": "anotrans.data.spec",
        "load_image": "anotrans.data.transforms",
        **dict.fromkeys(_SYNTHETIC, "anotrans.data.synthetic"),
    },
)

__all__ = [
    "DEFECT_KINDS",
    "MVTEC_CATEGORIES",
    "SYNTHETIC_ANOMALY_RATIO",
    "SYNTHETIC_TEST",
    "SYNTHETIC_TRAIN",
    "DataSpec",
    "DataSplits",
    "Entry",
    "ImageDataset",
    "SyntheticSet",
    "build_splits",
    "load_image",
    "make_synthetic",
    "write_synthetic",
]
