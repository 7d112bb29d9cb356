"""Data: readers of the official formats, split protocols, preprocessing and caching.

Entry point: ``build_splits(DataSpec(...)) -> DataSplits``; ``load_image`` preprocesses one user file
exactly like the training data.
"""

from anotrans.data.build import build_splits
from anotrans.data.dataset import Entry, ImageDataset
from anotrans.data.images import load_image
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
