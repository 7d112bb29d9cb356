"""What ``predict`` returns and writes, shared by the torch detector and the ONNX runtime (numpy only).

Both paths turn raw scores into [0, 1] scores and labels here and write the same CSV and heat maps
here, so a model scores and reports the same whichever runtime serves it.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from anotrans.utils.files import atomic_write_bytes

CSV_HEADER = ("path", "score", "raw_score", "label", "pixel_threshold", "anomalous_area")
CSV_FILE = "predictions.csv"
HEATMAP_DIR = "heatmaps"


def normalise_scores(raw: np.ndarray, stats: dict[str, Any]) -> np.ndarray:
    """anomalib-style: (s - threshold) / (val_max - val_min) + 0.5, clipped to [0, 1]."""
    span = max(stats["val_max"] - stats["val_min"], 1e-12)
    return np.clip((np.asarray(raw, dtype=np.float64) - stats["threshold"]) / span + 0.5, 0.0, 1.0)


def anomalous_area(maps: np.ndarray, threshold: float) -> np.ndarray:
    """Share of each [B, H, W] map's pixels above the pixel threshold (the segmentation's area)."""
    return (np.asarray(maps) > threshold).reshape(len(maps), -1).mean(axis=1)


@dataclasses.dataclass
class Prediction:
    """Per-image results: ``scores`` in [0, 1] with 0.5 the decision boundary, ``labels`` 1 = abnormal.

    ``maps`` are the anomaly maps [N, H, W] at the model's resolution; ``areas`` the share of each map
    above the saved pixel threshold (None for runs saved without one); ``sizes`` each input's own
    (height, width) when known; ``reconstructions`` [N, C, H, W] in [-1, 1] only when asked for;
    ``images`` are the model inputs, also only when asked for.
    """

    paths: list[str]
    scores: np.ndarray
    raw_scores: np.ndarray
    labels: np.ndarray
    maps: np.ndarray
    reconstructions: np.ndarray | None = None
    images: np.ndarray | None = None
    areas: np.ndarray | None = None
    sizes: list[tuple[int, int]] = dataclasses.field(default_factory=list)

    @classmethod
    def from_raw(
        cls,
        paths: list[str],
        raw: np.ndarray,
        stats: dict[str, Any],
        maps: np.ndarray,
        reconstructions: np.ndarray | None = None,
        images: np.ndarray | None = None,
        sizes: list[tuple[int, int]] | None = None,
    ) -> Prediction:
        """Normalised scores and labels (raw score above the saved threshold = abnormal) of one batch."""
        raw = np.asarray(raw, dtype=np.float64)
        labels = (raw > stats["threshold"]).astype(np.int64)
        pixel_threshold = stats.get("pixel_threshold")
        areas = None if pixel_threshold is None else anomalous_area(maps, pixel_threshold)
        return cls(
            paths,
            normalise_scores(raw, stats),
            raw,
            labels,
            maps,
            reconstructions,
            images,
            areas,
            sizes or [],
        )

    @classmethod
    def concatenate(cls, parts: Iterable[Prediction]) -> Prediction:
        """One Prediction from batch-wise parts (``None`` fields stay ``None``)."""
        parts = list(parts)
        arrays = {}
        for field in ("scores", "raw_scores", "labels", "maps", "reconstructions", "images", "areas"):
            values = [getattr(part, field) for part in parts]
            arrays[field] = None if values[0] is None else np.concatenate(values)
        return cls(
            paths=[p for part in parts for p in part.paths],
            sizes=[s for part in parts for s in part.sizes],
            **arrays,
        )


class PredictionWriter:
    """``predict``'s outputs: CSV rows and, with ``out_dir``, one heat-map panel per image.

    Heat maps share one colour scale (``map_vmax``, fitted on validation normals), so images compare.
    """

    def __init__(
        self, out_dir: str | Path | None, map_vmax: float, pixel_threshold: float | None = None
    ) -> None:
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.map_vmax = map_vmax
        self.pixel_threshold = pixel_threshold
        self.rows: list[list[str]] = [list(CSV_HEADER)]

    @property
    def needs_images(self) -> bool:
        """Heat maps draw the input and the reconstruction, so the predictor must keep them."""
        return self.out_dir is not None

    def add(self, part: Prediction) -> None:
        from anotrans.scoring.visualize import save_panel  # matplotlib: imported only when drawing

        for i, path in enumerate(part.paths):
            score, raw = f"{part.scores[i]:.6f}", f"{part.raw_scores[i]:.8g}"
            threshold = "" if self.pixel_threshold is None else f"{self.pixel_threshold:.8g}"
            area = "" if part.areas is None else f"{part.areas[i]:.6f}"
            self.rows.append([path, score, raw, str(part.labels[i]), threshold, area])
            if self.out_dir is None or part.images is None or part.reconstructions is None:
                continue
            (self.out_dir / HEATMAP_DIR).mkdir(parents=True, exist_ok=True)
            label = "abnormal" if part.labels[i] else "normal"
            save_panel(
                self.out_dir / HEATMAP_DIR / f"{len(self.rows) - 2:05d}_{Path(path).stem}.png",
                part.images[i],
                part.reconstructions[i],
                part.maps[i],
                self.map_vmax,
                f"{Path(path).name}: score {part.scores[i]:.3f} ({label})",
            )

    def csv_text(self) -> str:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(self.rows)
        return buf.getvalue()

    def finish(self) -> str:
        """Write ``predictions.csv`` into ``out_dir`` (atomically) and return the CSV text."""
        text = self.csv_text()
        if self.out_dir is not None:
            atomic_write_bytes(self.out_dir / CSV_FILE, text.encode())
        return text
