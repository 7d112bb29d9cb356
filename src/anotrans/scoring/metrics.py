"""Image-level metrics (scikit-learn): AUROC, average precision, F1 at a saved threshold and F1-max.

Abnormal (label 1) is the positive class and a higher score means more abnormal. A set with one class
only has no AUROC/AP: those are reported as None instead of raising, so a folder of normals still tests.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, f1_score, precision_recall_curve, roc_auc_score


def image_auroc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve, or None when only one class is present."""
    return float(roc_auc_score(labels, scores)) if len(np.unique(labels)) == 2 else None


def image_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float | None]:
    """AUROC, AP, F1 with ``score > threshold`` as abnormal, and the best F1 over all thresholds."""
    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, dtype=np.float64)
    both = len(np.unique(labels)) == 2
    f1_max = None
    if labels.any():
        precision, recall, _ = precision_recall_curve(labels, scores)
        f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
        f1_max = float(f1.max())
    return {
        "image_auroc": image_auroc(labels, scores),
        "image_ap": float(average_precision_score(labels, scores)) if both else None,
        "image_f1": float(f1_score(labels, scores > threshold, zero_division=0)),
        "image_f1_max": f1_max,
    }
