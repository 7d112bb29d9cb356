"""Pixel AUROC, AUPRO and per-defect AUROC against brute force and hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from anotrans.scoring.metrics import (
    PixelSample,
    aupro,
    per_defect_auroc,
    pixel_auroc,
    pixel_metrics,
)


def _sample(maps, masks, capacity: int = 1 << 20) -> PixelSample:
    sample = PixelSample(capacity=capacity)
    sample.add(np.asarray(maps, dtype=np.float32), np.asarray(masks))
    return sample


def _brute_auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Share of (defect, normal) pixel pairs ranked right, ties counting one half."""
    pos, neg = scores[labels], scores[~labels]
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


def _brute_aupro(maps: np.ndarray, masks: np.ndarray, max_fpr: float = 0.3) -> float:
    """The PRO definition evaluated threshold by threshold, integrated on a dense grid."""
    regions = []
    for image, mask in zip(maps, masks, strict=True):
        labelled, n = ndimage.label(mask, structure=np.ones((3, 3)))
        regions += [image[labelled == k] for k in range(1, n + 1)]
    normal = maps[masks == 0]
    points = [(0.0, 0.0)]
    for t in np.unique(maps)[::-1]:  # every distinct score, highest first: score >= t is flagged
        points.append(((normal >= t).mean(), np.mean([(r >= t).mean() for r in regions])))
    points.append((1.0, 1.0))
    fpr, pro = np.array(points).T
    grid = np.linspace(0, max_fpr, 300_001)
    return float(np.trapezoid(np.interp(grid, fpr, pro), grid) / max_fpr)


def test_aupro_by_hand_small_regions_count_as_much_as_large():
    # One row: region A = pixel 0 (size 1), region B = pixels 2-4 (size 3); four normal pixels.
    mask = np.array([[1, 0, 1, 1, 1, 0, 0, 0]])
    scores = np.array([[0.9, 0.7, 0.8, 0.5, 0.1, 0.6, 0.2, 0.0]])
    # Points (FPR, PRO): (0, 1/2) A found, (0, 2/3) a third of B, (1/4, 2/3) first normal,
    # (1/2, 2/3) ... so the area up to 0.3 is 0.3 * 2/3 and AUPRO = 2/3.
    assert aupro(_sample(scores[None], mask[None])) == pytest.approx(2 / 3)


def test_tied_scores_enter_the_curve_together():
    # A defect pixel tied with a normal one: one diagonal step to (1/3, 1), whatever the pixel order.
    mask = np.array([[[1, 0, 0, 0]]])
    for scores in ([[[0.5, 0.5, 0.1, 0.0]]], [[[0.5, 0.0, 0.1, 0.5]]]):
        # PRO reaches 0.9 at FPR 0.3 along the diagonal: area 0.3 * 0.9 / 2, divided by 0.3.
        assert aupro(_sample(scores, mask)) == pytest.approx(0.45)
        assert pixel_auroc(_sample(scores, mask)) == pytest.approx((2 + 0.5) / 3)


def test_against_brute_force_several_regions_an_all_normal_image_and_ties():
    rng = np.random.default_rng(3)
    masks = np.zeros((3, 12, 12), dtype=np.uint8)
    masks[0, 1:4, 1:5] = 1  # two regions in image 0
    masks[0, 8:11, 7:9] = 1
    masks[1, 5, 5] = masks[1, 6, 6] = 1  # diagonal neighbours: one region (8-connectivity)
    masks[1, 0:2, 10:12] = 1
    # image 2 is all normal: it only adds normal pixels
    maps = np.round(rng.random(masks.shape) + 0.6 * masks, 1)  # rounded: many ties
    sample = _sample(maps, masks)
    assert sample.n_regions == 4
    assert pixel_auroc(sample) == pytest.approx(_brute_auroc(maps.ravel(), masks.ravel() > 0))
    assert aupro(sample) == pytest.approx(_brute_aupro(maps, masks), abs=1e-4)
    assert 0.0 < aupro(sample) < 1.0


def test_no_defect_pixels_means_no_pixel_metric():
    sample = _sample(np.random.default_rng(0).random((2, 4, 4)), np.zeros((2, 4, 4)))
    assert pixel_auroc(sample) is None and aupro(sample) is None
    assert pixel_metrics(None) == {"pixel_auroc": None, "aupro": None}


def test_pixel_sample_is_bounded_seeded_uniform_and_batch_independent():
    rng = np.random.default_rng(1)
    masks = (rng.random((40, 16, 16)) < 0.1).astype(np.uint8)
    maps = rng.random(masks.shape) + masks
    exact = _sample(maps, masks)
    one, two = PixelSample(capacity=2000, seed=5), PixelSample(capacity=2000, seed=5)
    one.add(maps, masks)
    for start in range(0, 40, 7):  # same pixels in other batches: the same sample
        two.add(maps[start : start + 7], masks[start : start + 7])
    assert len(one.scores) == 2000 and one.n_seen == maps.size
    np.testing.assert_array_equal(one.scores, two.scores)
    np.testing.assert_array_equal(one.weights, two.weights)
    other = PixelSample(capacity=2000, seed=6)
    other.add(maps, masks)
    assert not np.array_equal(one.scores, other.scores)
    assert pixel_auroc(one) == pytest.approx(pixel_auroc(exact), abs=0.03)
    assert aupro(one) == pytest.approx(aupro(exact), abs=0.05)


def test_per_defect_auroc_uses_every_normal_and_one_kind():
    labels = np.array([0, 0, 1, 1, 1])
    scores = np.array([0.1, 0.5, 0.9, 0.3, 0.7])
    result = per_defect_auroc(labels, scores, ["good", "good", "scratch", "spot", "scratch"])
    assert result["scratch"] == {"image_auroc": 1.0, "n": 2, "mean_score": pytest.approx(0.8)}
    assert result["spot"]["image_auroc"] == pytest.approx(0.5)  # 0.3 beats 0.1, loses to 0.5
    assert set(result) == {"scratch", "spot"}
