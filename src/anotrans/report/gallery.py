"""Galleries like the paper's Fig. 5: image | reconstruction | anomaly map | ground truth, for the most
confident true positives, the worst false positives and the worst misses of a test.

Only the chosen images are scored again (a few forward passes), so a report never re-runs the test set.
Each image's row is one PNG of four tiles assembled with Pillow (no plotting library: fast).
"""

from __future__ import annotations

import dataclasses
import io
from typing import Any

import numpy as np
import torch
from PIL import Image

from anotrans.data.dataset import ImageDataset
from anotrans.networks.registry import AnomalyGAN
from anotrans.scoring.scores import Scorer, compute_components, eval_mode
from anotrans.scoring.visualize import overlay

GALLERY_SIZE = 4  # images per gallery
TILE = 128  # pixels per side of each panel
GAP = 4
COLUMNS = ("image", "reconstruction", "anomaly map (fixed scale)", "ground truth")


@dataclasses.dataclass(frozen=True)
class Row:
    """One test image as scores.csv lists it."""

    path: str
    label: int
    raw_score: float
    defect: str


def pick(rows: list[Row], threshold: float, k: int = GALLERY_SIZE) -> dict[str, list[Row]]:
    """The ``k`` highest-scoring detected defects, highest-scoring false alarms and lowest-scoring misses."""
    flagged = [r for r in rows if r.raw_score > threshold]
    passed = [r for r in rows if r.raw_score <= threshold]
    by_score = sorted(flagged, key=lambda r: -r.raw_score)
    return {
        "Most confident true positives": [r for r in by_score if r.label == 1][:k],
        "Worst false positives": [r for r in by_score if r.label == 0][:k],
        "Worst misses (false negatives)": sorted(
            (r for r in passed if r.label == 1), key=lambda r: r.raw_score
        )[:k],
    }


def _uint8(image: np.ndarray) -> np.ndarray:
    """[C, H, W] in [-1, 1] -> uint8 [H, W, 3]."""
    rgb = ((image.transpose(1, 2, 0) + 1.0) * 127.5).round().clip(0, 255).astype(np.uint8)
    return np.repeat(rgb, 3, axis=2) if rgb.shape[2] == 1 else rgb


def _strip(panels: list[np.ndarray]) -> bytes:
    """Panels (uint8 [H, W, 3] or [H, W]) scaled to TILE px and laid side by side, as PNG bytes."""
    strip = Image.new("RGB", (len(panels) * (TILE + GAP) - GAP, TILE), "white")
    for j, panel in enumerate(panels):
        tile = Image.fromarray(panel).convert("RGB")
        smaller = tile.width < TILE
        tile = tile.resize((TILE, TILE), Image.Resampling.NEAREST if smaller else Image.Resampling.BILINEAR)
        strip.paste(tile, (j * (TILE + GAP), 0))
    buf = io.BytesIO()
    strip.save(buf, format="PNG")
    return buf.getvalue()


def render(
    model: AnomalyGAN, scorer: Scorer, dataset: ImageDataset, rows: list[Row]
) -> list[tuple[Row, bytes]]:
    """Per chosen image (those found in ``dataset``): its row and a PNG of its four panels."""
    index = {entry.path: i for i, entry in enumerate(dataset.entries)}
    rows = [r for r in rows if r.path in index]
    if not rows:
        return []
    samples: list[dict[str, Any]] = [dataset[index[r.path]] for r in rows]
    x = torch.stack([s["image"] for s in samples])
    weight = next(model.parameters())  # the model may sit on a GPU: inputs go there, results come back
    with eval_mode(model):
        config = scorer.config  # the run's own map kind: the colour scale (map_vmax) was fitted on it
        comp = compute_components(
            model,
            x.to(weight.device, weight.dtype),
            config.smoothing_sigma,
            config.tile_stride,
            config.anomaly_map,
        )
    maps, recons = comp.maps.float().cpu().numpy(), comp.reconstructions.float().cpu().numpy()
    vmax = scorer.stats["map_vmax"]
    out = []
    for i, (row, sample) in enumerate(zip(rows, samples, strict=True)):
        image = _uint8(sample["image"].numpy())
        mask = (sample["mask"][0].numpy() * 255).astype(np.uint8)
        out.append((row, _strip([image, _uint8(recons[i]), overlay(image, maps[i], vmax), mask])))
    return out
