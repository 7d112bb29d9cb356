"""The built-in synthetic set: seeded, exact masks, not solvable by mean colour, learnable."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score

from anotrans.data import (
    DEFECT_KINDS,
    SYNTHETIC_TEST,
    SYNTHETIC_TRAIN,
    DataSpec,
    build_splits,
    make_synthetic,
    write_synthetic,
)


@pytest.fixture(scope="module")
def sets():
    return make_synthetic(SYNTHETIC_TRAIN, 32, 3, (0, 0)), make_synthetic(SYNTHETIC_TEST, 32, 3, (0, 1), 0.5)


def test_seeded_and_varied(sets):
    train, test = sets
    assert np.array_equal(make_synthetic(20, 32, 3, (0, 0)).images, train.images[:20])
    assert not np.array_equal(make_synthetic(20, 32, 3, (1, 0)).images, train.images[:20])
    assert len({image.tobytes() for image in train.images}) == len(train.images)
    assert test.labels.sum() == 100 and set(test.kinds) == {"good", *DEFECT_KINDS}


def test_defects_are_visible_and_masks_exact(sets):
    _, test = sets
    abnormal = test.labels == 1
    share = test.masks[abnormal].reshape(abnormal.sum(), -1).mean(axis=1)
    assert share.min() >= 0.02 and share.max() <= 0.1
    assert test.masks[~abnormal].sum() == 0 and set(np.unique(test.masks)) == {0, 1}


def test_mean_colour_cannot_detect_defects(sets):
    train, test = sets
    colour = lambda s: s.images.reshape(len(s.images), -1, 3).mean(axis=1)  # noqa: E731
    colour_auc = roc_auc_score(test.labels, np.linalg.norm(colour(test) - colour(train).mean(0), axis=1))
    intensity = test.images.reshape(len(test.images), -1).mean(axis=1)
    intensity_auc = roc_auc_score(test.labels, np.abs(intensity - train.images.mean()))
    assert colour_auc < 0.7 and intensity_auc < 0.7


@pytest.mark.parametrize("per_image", [False, True])
def test_mean_colour_model_fails_under_residual_scores(sets, per_image):
    """A 'reconstruction' that is just a mean colour must not score well by residual peak or MSE."""
    train, test = sets
    images = test.images.astype(np.float64) / 255
    mean = images.mean(axis=(1, 2), keepdims=True) if per_image else train.images.mean((0, 1, 2)) / 255
    residual = np.abs(images - mean).mean(axis=3)
    # 3x3 box smoothing, then the peak: the shape of the residual-max score.
    padded = np.pad(residual, ((0, 0), (1, 1), (1, 1)), mode="edge")
    smooth = sum(padded[:, i : i + 32, j : j + 32] for i in range(3) for j in range(3)) / 9
    assert roc_auc_score(test.labels, smooth.max(axis=(1, 2))) < 0.65
    assert roc_auc_score(test.labels, (residual**2).mean(axis=(1, 2))) < 0.65


def test_learnable_by_a_simple_reconstruction_model(sets):
    train, test = sets
    pca = PCA(32, random_state=0).fit(train.images.reshape(len(train.images), -1) / 255)
    flat = test.images.reshape(len(test.images), -1) / 255
    error = ((pca.inverse_transform(pca.transform(flat)) - flat) ** 2).sum(axis=1)
    assert roc_auc_score(test.labels, error) >= 0.9


def test_default_splits_and_grey(sets):
    splits = build_splits(DataSpec())
    assert (len(splits.train), len(splits.val), len(splits.test)) == (540, 60, 200)
    sample = splits.test[199]
    assert sample["label"] == 1 and sample["mask"].sum() > 0 and sample["path"] == "synthetic/test#199"
    grey = build_splits(DataSpec(channels=1, image_size=24))
    assert grey.test[0]["image"].shape == (1, 24, 24)


def test_written_tree_reads_back_identical(tmp_path):
    write_synthetic(tmp_path, n_train=12, n_test=6, image_size=32)
    from_disk = build_splits(DataSpec(data="synthetic", root=str(tmp_path), val_split=0))
    in_memory = make_synthetic(6, 32, 3, (0, 1), 0.5)
    # disk order is good first, then defect folders by name; each kind has one file here except good
    order = [0, 1, 2] + [in_memory.kinds.index(kind) for kind in ("missing", "scratch", "spot")]
    for i, j in enumerate(order):
        sample = from_disk.test[i]
        assert np.array_equal(
            np.rint((sample["image"].numpy() + 1) * 127.5).transpose(1, 2, 0), in_memory.images[j]
        )
        assert np.array_equal(sample["mask"][0].numpy(), in_memory.masks[j])
