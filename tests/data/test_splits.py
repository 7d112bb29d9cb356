"""Validation hold-out, seeded subsampling, options, augmentation, caching and worker loading."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from anotrans.data import DataSpec, build_splits, write_synthetic
from anotrans.errors import ConfigError


def _paths(dataset):
    return [e.path for e in dataset.entries]


def test_val_split_and_nested_subsamples():
    full = build_splits(DataSpec(val_split=0.25))
    assert (len(full.train), len(full.val)) == (450, 150) and set(full.val.labels) == {0}
    small = build_splits(DataSpec(max_train_images=100))
    large = build_splits(DataSpec(max_train_images=300))
    assert (len(small.train), len(small.val)) == (90, 10)
    assert set(_paths(small.train) + _paths(small.val)) <= set(_paths(large.train) + _paths(large.val))
    again = build_splits(DataSpec(max_train_images=100))
    assert _paths(again.train) == _paths(small.train) and _paths(again.val) == _paths(small.val)
    other = build_splits(DataSpec(max_train_images=100, seed=5))
    assert _paths(other.train) != _paths(small.train)
    assert build_splits(DataSpec(val_split=0)).info["num_val"] == 0


@pytest.mark.parametrize(
    ("options", "word"),
    [
        ({"data": "imagenet"}, "data"),
        ({"protocol": "fair"}, "protocol"),
        ({"val_split": 1.0}, "val_split"),
        ({"max_train_images": 0}, "max_train_images"),
        ({"max_test_images": 0}, "max_test_images"),
        ({"data": "mvtec"}, "root"),
        ({"channels": 4}, "channels"),
    ],
)
def test_bad_options_are_config_errors(options, word):
    with pytest.raises(ConfigError, match=word):
        build_splits(DataSpec(**options))


def test_augment_is_off_by_default_and_switchable():
    plain = build_splits(DataSpec(max_train_images=20))
    assert not plain.info["augment"] and torch.equal(plain.train[0]["image"], plain.train[0]["image"])
    augmented = build_splits(DataSpec(max_train_images=20, augment=True))
    torch.manual_seed(0)
    views = [augmented.train[0]["image"] for _ in range(8)]
    assert any(not torch.equal(views[0], v) for v in views[1:])
    assert views[0].shape == (3, 32, 32) and not augmented.test.augment


def test_disk_cache_and_invalidation(tmp_path):
    category = write_synthetic(tmp_path / "data", n_train=6, n_test=3, image_size=16)
    spec = DataSpec(
        data="mvtec", root=str(category), image_size=16, cache_dir=str(tmp_path / "cache"), val_split=0
    )
    first = build_splits(spec)
    reference = [first.train[i]["image"] for i in range(6)]
    cached = sorted((tmp_path / "cache").rglob("*.npy"))
    assert len(cached) == 6
    again = build_splits(spec)
    assert all(torch.equal(again.train[i]["image"], reference[i]) for i in range(6))
    assert sorted((tmp_path / "cache").rglob("*.npy")) == cached  # served from the cache
    path = first.train.entries[0].path
    Image.fromarray(np.zeros((16, 16, 3), dtype=np.uint8)).save(path)  # a changed file gets a new key
    assert (
        build_splits(spec).train[0]["image"].min() == -1
        and len(list((tmp_path / "cache").rglob("*.npy"))) == 7
    )


def test_pickle_and_multi_worker_loading(tmp_path):
    category = write_synthetic(tmp_path, n_train=16, n_test=8, image_size=16)
    splits = build_splits(DataSpec(data="mvtec", root=str(category), image_size=16))
    splits.test.preload()
    clone = pickle.loads(pickle.dumps(splits.test))
    assert clone._memo == {} and torch.equal(clone[5]["image"], splits.test[5]["image"])
    loader = DataLoader(splits.test, batch_size=4, num_workers=2)
    batches = list(loader)
    assert sum(len(b["label"]) for b in batches) == 8
    assert batches[0]["image"].shape == (4, 3, 16, 16) and batches[0]["mask"].shape == (4, 1, 16, 16)
    assert torch.equal(torch.cat([b["label"] for b in batches]), torch.tensor(splits.test.labels))
