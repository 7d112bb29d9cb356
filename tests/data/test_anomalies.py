"""Synthetic validation anomalies: painted inside their masks, seeded, made from validation normals only."""

from __future__ import annotations

import numpy as np
import pytest

from anotrans.data import DataSpec, build_splits
from anotrans.data.anomalies import KINDS, SYNTHETIC_PREFIX, SyntheticValidation, paint


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_changes_pixels_inside_its_mask_only(kind):
    image = np.random.default_rng(1).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    donor = np.random.default_rng(2).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    out, mask = paint(image, donor, kind, np.random.default_rng(3))
    changed = (out != image).any(axis=-1)
    assert out.shape == image.shape and out.dtype == np.uint8 and set(np.unique(mask)) == {0, 1}
    assert 4 <= mask.sum() <= (0.25 * 48 + 1) ** 2  # a defect of the configured extent
    assert not (changed & (mask == 0)).any()  # nothing outside the mask moves
    assert changed[mask == 1].mean() > 0.5  # most of the region does
    again, _ = paint(image, donor, kind, np.random.default_rng(3))
    assert np.array_equal(out, again)  # seeded


def test_the_validation_set_is_built_from_validation_normals_only():
    splits = build_splits(DataSpec(image_size=16, max_train_images=40, val_split=0.25))
    val_set = SyntheticValidation(splits.val, copies=2, seed=7)
    val_paths = {e.path for e in splits.val.entries}
    others = {e.path for e in splits.train.entries} | {e.path for e in splits.test.entries}
    assert len(val_set) == 3 * len(splits.val) and val_set.labels == [0] * 10 + [1] * 20
    sources = [p for i in range(len(val_set)) for p in val_set.sources(i)]
    assert set(sources) <= val_paths and not set(sources) & others
    for i in range(len(val_set)):
        sample = val_set[i]
        assert sample["label"] == val_set.labels[i]
        if sample["label"]:  # the path names its kind, source and donor: all validation files
            kind, rest = sample["path"].removeprefix(SYNTHETIC_PREFIX).split(":", 1)
            assert kind in KINDS and set(rest.split("+")) == set(val_set.sources(i))
            assert sample["mask"].sum() > 0 and sample["defect"] == f"synthetic-{kind}"
        else:
            assert sample["path"] in val_paths and sample["mask"].sum() == 0
    first, second = val_set[15]["image"], SyntheticValidation(splits.val, copies=2, seed=7)[15]["image"]
    assert (first == second).all() and not (
        first == SyntheticValidation(splits.val, seed=8)[15]["image"]
    ).all()
