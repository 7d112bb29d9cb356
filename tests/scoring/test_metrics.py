"""Metrics against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from anotrans.scoring.metrics import image_auroc, image_metrics


def test_metrics_by_hand():
    labels = np.array([0, 0, 1, 1])
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    m = image_metrics(labels, scores, threshold=0.3)
    # Pairs (abnormal, normal) ranked right: (0.35 > 0.1), (0.8 > 0.1), (0.8 > 0.4); wrong: (0.35 < 0.4).
    assert m["image_auroc"] == pytest.approx(3 / 4)
    # Ranked 0.8(1) 0.4(0) 0.35(1) 0.1(0): AP = (1/1 + 2/3) / 2.
    assert m["image_ap"] == pytest.approx((1 + 2 / 3) / 2)
    # At 0.3: predicted abnormal 0.4, 0.35, 0.8 -> TP 2, FP 1, FN 0 -> F1 = 4 / 5.
    assert m["image_f1"] == pytest.approx(0.8)
    # Best F1: threshold just under 0.35 gives the same 0.8; just under 0.8 gives P 1, R 1/2 -> 2/3.
    assert m["image_f1_max"] == pytest.approx(0.8)


def test_strictly_above_threshold_is_abnormal():
    m = image_metrics(np.array([0, 1]), np.array([0.5, 0.5]), threshold=0.5)
    assert m["image_f1"] == 0.0


def test_one_class_has_no_auroc():
    assert image_auroc(np.zeros(3), np.array([0.1, 0.2, 0.3])) is None
    m = image_metrics(np.zeros(3, int), np.array([0.1, 0.2, 0.3]), threshold=0.15)
    assert m["image_auroc"] is None and m["image_ap"] is None and m["image_f1_max"] is None
