"""Image and pixel metrics (scikit-learn, scipy): AUROC, AP, F1 at a saved threshold and F1-max.

Abnormal (label 1) is the positive class and a higher score means more abnormal. A set with one class
only has no AUROC/AP: those are reported as None instead of raising, so a folder of normals still tests.

Pixel metrics (when the test set has ground-truth masks), on a bounded sample (:class:`PixelSample`):
``pixel_auroc``, the ROC AUC over all test pixels, and ``aupro``, MVTec AD's per-region overlap
integrated up to a false-positive rate of 0.3 and divided by 0.3. This is the one metric module: the
trainer, ``test``, the report and the benchmarks all call it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from scipy import ndimage
from sklearn.metrics import (
    average_precision_score,
    f1_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)


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


def per_defect_auroc(labels: np.ndarray, scores: np.ndarray, defects: list[str]) -> dict[str, dict[str, Any]]:
    """Image AUROC of each defect kind against all test normals (MVTec's per-defect breakdown).

    ``defects`` names each image's kind (an MVTec defect folder, a folder sub-folder, a synthetic
    kind); normals (label 0) are shared by every kind. Each entry: AUROC, image count, mean score.
    """
    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, dtype=np.float64)
    kinds = np.asarray(defects, dtype=object)
    normal = labels == 0
    out: dict[str, dict[str, Any]] = {}
    for kind in sorted({d for d, lab in zip(defects, labels, strict=True) if lab == 1}):
        chosen = kinds == kind
        both = normal | chosen
        out[kind] = {
            "image_auroc": image_auroc(labels[both], scores[both]),
            "n": int(chosen.sum()),
            "mean_score": float(scores[chosen].mean()),
        }
    return out


# Pixel sample: at most this many pixels are kept (17 bytes each with the key: about 71 MB, twice that
# while a batch is merged).
PIXEL_SAMPLE_CAPACITY = 1 << 22
# MVTec AD's PRO is integrated up to this false-positive rate and divided by it.
AUPRO_MAX_FPR = 0.3
# 8-connectivity, as MVTec AD's evaluation labels ground-truth regions.
_REGION_STRUCTURE = np.ones((3, 3), dtype=int)


@dataclasses.dataclass
class PixelSample:
    """A bounded, seeded, uniform sample of map pixels with their ground truth, filled batch by batch.

    Every pixel draws a key from a generator seeded with ``seed``; the ``capacity`` pixels with the
    smallest keys are kept (bottom-k sampling), which is a uniform sample without replacement of the
    whole stream, the same for the same images in the same order. Below ``capacity`` pixels nothing is
    dropped, so the metrics are exact. Each defect pixel carries ``1 / |its region|`` (regions:
    8-connected components of its own image's mask, found before sampling), the PRO weight.
    """

    capacity: int = PIXEL_SAMPLE_CAPACITY
    seed: int = 0
    scores: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.float32))
    labels: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, bool))
    weights: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.float32))
    n_seen: int = 0
    n_regions: int = 0

    def __post_init__(self) -> None:
        self._keys = np.zeros(0, np.float64)
        self._rng = np.random.default_rng(self.seed)

    def add(self, maps: np.ndarray, masks: np.ndarray | None = None) -> None:
        """Add [B, H, W] maps and their [B, H, W] binary masks (None: all pixels normal)."""
        maps = np.asarray(maps, dtype=np.float32)
        labels = np.zeros(maps.shape, bool) if masks is None else np.asarray(masks) > 0.5
        weights = np.zeros(maps.shape, np.float32)
        for i in np.flatnonzero(labels.reshape(len(labels), -1).any(axis=1)):
            regions, count = ndimage.label(labels[i], structure=_REGION_STRUCTURE)
            sizes = np.bincount(regions.ravel())
            weights[i] = np.where(regions > 0, 1.0 / sizes[regions], 0.0)
            self.n_regions += count
        self.n_seen += maps.size
        keys = np.concatenate([self._keys, self._rng.random(maps.size)])
        scores = np.concatenate([self.scores, maps.ravel()])
        labels_flat = np.concatenate([self.labels, labels.ravel()])
        weights_flat = np.concatenate([self.weights, weights.ravel()])
        if len(keys) > self.capacity:
            keep = np.argpartition(keys, self.capacity - 1)[: self.capacity]
            keep.sort()
            keys, scores, labels_flat, weights_flat = (
                a[keep] for a in (keys, scores, labels_flat, weights_flat)
            )
        self._keys, self.scores, self.labels, self.weights = keys, scores, labels_flat, weights_flat

    @property
    def has_both(self) -> bool:
        """True when the sample holds normal and defect pixels (otherwise no pixel metric exists)."""
        return bool(self.labels.any()) and not bool(self.labels.all())


def pixel_auroc(sample: PixelSample) -> float | None:
    """ROC AUC over all (sampled) test pixels, defect pixels positive; None without both kinds."""
    return float(roc_auc_score(sample.labels, sample.scores)) if sample.has_both else None


def pro_curve(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MVTec AD's PRO curve: (false-positive rate on normal pixels, mean overlap of defect regions).

    At a threshold t, a region's overlap is the share of its pixels scoring above t; PRO is the mean
    over all regions of all images, so a small region counts as much as a large one. Pixels are swept
    from the highest score down; pixels with equal scores enter together (one curve point per distinct
    score). The curve runs from (0, 0) to (1, 1).
    """
    order = np.argsort(-scores, kind="stable")
    ranked = scores[order]
    fpr = np.cumsum(~labels[order]) / max(int((~labels).sum()), 1)
    pro = np.cumsum(weights[order], dtype=np.float64) / max(float(weights.sum(dtype=np.float64)), 1e-300)
    last_of_tie = np.append(ranked[1:] != ranked[:-1], True)
    fpr = np.concatenate([[0.0], np.minimum(fpr[last_of_tie], 1.0), [1.0]])
    pro = np.concatenate([[0.0], np.minimum(pro[last_of_tie], 1.0), [1.0]])
    return fpr, pro


def area_up_to(x: np.ndarray, y: np.ndarray, x_max: float) -> float:
    """Trapezoid area under y(x) from x[0] to ``x_max``, with y interpolated linearly at ``x_max``."""
    cut = int(np.searchsorted(x, x_max, side="right"))
    xs, ys = x[:cut], y[:cut]
    if cut < len(x) and xs[-1] < x_max:
        y_max = ys[-1] + (y[cut] - ys[-1]) * (x_max - xs[-1]) / (x[cut] - xs[-1])
        xs, ys = np.append(xs, x_max), np.append(ys, y_max)
    return float(np.sum((xs[1:] - xs[:-1]) * (ys[1:] + ys[:-1]) / 2))


def aupro(sample: PixelSample, max_fpr: float = AUPRO_MAX_FPR) -> float | None:
    """Area under the PRO curve up to ``max_fpr``, divided by ``max_fpr`` (1.0 = perfect)."""
    if not sample.has_both:
        return None
    fpr, pro = pro_curve(sample.scores, sample.labels, sample.weights)
    return area_up_to(fpr, pro, max_fpr) / max_fpr


def pixel_metrics(sample: PixelSample | None) -> dict[str, Any]:
    """``pixel_auroc`` and ``aupro`` (None without masks), and how many pixels they were measured on."""
    if sample is None:
        return {"pixel_auroc": None, "aupro": None}
    return {
        "pixel_auroc": pixel_auroc(sample),
        "aupro": aupro(sample),
        "pixel_count": sample.n_seen,
        "pixel_sampled": len(sample.scores),
        "defect_regions": sample.n_regions,
    }


def thin(points: dict[str, np.ndarray], max_points: int = 400) -> dict[str, list[float]]:
    """At most ``max_points`` evenly spaced points of a curve (first and last kept), as JSON lists."""
    n = len(next(iter(points.values())))
    idx = np.unique(np.linspace(0, n - 1, min(n, max_points)).round().astype(int)) if n else np.zeros(0, int)
    return {name: [float(v) for v in values[idx]] for name, values in points.items()}


def curves(
    labels: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None
) -> dict[str, Any] | None:
    """ROC and precision-recall points (and the PRO curve, given PRO ``weights``) for plots.

    None with one class only (no curve exists).
    """
    labels = np.asarray(labels).astype(bool)
    if labels.all() or not labels.any():
        return None
    fpr, tpr, _ = roc_curve(labels, scores)
    precision, recall, _ = precision_recall_curve(labels, scores)
    out = {"roc": thin({"fpr": fpr, "tpr": tpr}), "pr": thin({"recall": recall, "precision": precision})}
    if weights is not None:
        pro_fpr, pro = pro_curve(np.asarray(scores), labels, np.asarray(weights))
        out["pro"] = thin({"fpr": pro_fpr, "pro": pro})
    return out
