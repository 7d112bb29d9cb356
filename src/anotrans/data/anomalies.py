"""Synthetic anomalies made from held-out validation normals only, so choices need no test labels.

The validation set of a run is its validation normals plus ``copies`` defective copies of each. Every
defect is painted into one validation image, with texture borrowed (when a kind needs it) from another
validation image: no test image is ever read. Each copy comes with its mask and a ``path`` naming its
kind, its source and its donor, so provenance can be checked. Kinds, and the real defects they stand in
for:

- ``cutpaste``: a rectangle of another validation image pasted elsewhere (misplaced parts, CutPaste);
- ``noise``: a rectangle of uniform noise (contamination, sensor faults);
- ``blob``: a smooth-noise-shaped region filled with a rotated, recoloured patch of another image
  (foreign texture with an irregular outline, like stains and cracks);
- ``blur``: a blob region blurred (out-of-focus or smeared areas);
- ``colour``: a blob region with its colour shifted (discolouration).

Draws come from numpy generators seeded by ``(seed, copy index)``, so the set is the same every epoch
and after a resume, and does not touch torch's training RNG.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image, ImageFilter
from torch.utils.data import Dataset

from anotrans.data.dataset import ImageDataset
from anotrans.data.transforms import mask_to_tensor, to_tensor

KINDS = ("cutpaste", "noise", "blob", "blur", "colour")
COPIES = 2  # synthetic-anomaly copies of each validation normal
SIDE_FRACTIONS = (0.08, 0.25)  # a defect's extent, as a fraction of the image side
SYNTHETIC_PREFIX = "synthetic-anomaly:"


def _box(rng: np.random.Generator, size: int) -> tuple[int, int, int, int]:
    """(top, left, height, width) of a random rectangle inside a ``size`` square."""
    lo, hi = max(2, round(size * SIDE_FRACTIONS[0])), max(3, round(size * SIDE_FRACTIONS[1]))
    h, w = (int(v) for v in rng.integers(lo, hi + 1, 2))
    top, left = (int(v) for v in rng.integers(0, size - np.array([h, w]) + 1))
    return top, left, h, w


def _blob(rng: np.random.Generator, size: int) -> np.ndarray:
    """A bool [size, size] region: smoothed noise thresholded inside a random box (irregular outline)."""
    top, left, h, w = _box(rng, size)
    coarse = Image.fromarray(rng.standard_normal((4, 4)).astype(np.float32), mode="F")
    field = np.asarray(coarse.resize((w, h), Image.Resampling.BICUBIC), dtype=np.float64)  # smooth noise
    yy, xx = np.mgrid[0:h, 0:w]
    # an elliptic fall-off keeps the blob inside its box, so the outline is not the box's
    ellipse = ((yy - (h - 1) / 2) / (h / 2)) ** 2 + ((xx - (w - 1) / 2) / (w / 2)) ** 2
    shaped = field / (field.std() + 1e-12) - 2.5 * ellipse
    region = shaped > np.quantile(shaped, 0.5)
    mask = np.zeros((size, size), dtype=bool)
    mask[top : top + h, left : left + w] = region
    return mask


def paint(
    image: np.ndarray, donor: np.ndarray, kind: str, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``image`` (uint8 [H, W, C], square) with one ``kind`` defect; returns (image, uint8 mask {0, 1})."""
    size = image.shape[0]
    out = image.astype(np.float32)
    if kind in ("cutpaste", "noise"):
        top, left, h, w = _box(rng, size)
        mask = np.zeros((size, size), dtype=bool)
        mask[top : top + h, left : left + w] = True
        if kind == "cutpaste":
            st, sl = (int(v) for v in rng.integers(0, size - np.array([h, w]) + 1))
            out[mask] = donor[st : st + h, sl : sl + w].astype(np.float32).reshape(-1, image.shape[2])
        else:
            out[mask] = rng.uniform(0, 255, (h * w, image.shape[2]))
    elif kind in ("blob", "blur", "colour"):
        mask = _blob(rng, size)
        if kind == "blob":
            texture = np.rot90(donor, k=int(rng.integers(1, 4))).astype(np.float32)
            texture = texture + rng.uniform(-60, 60, image.shape[2])
            shift = (int(v) for v in rng.integers(0, size, 2))
            out[mask] = np.roll(texture, tuple(shift), axis=(0, 1))[mask]
        elif kind == "blur":
            radius = max(1.5, size / 40)
            blurred = [
                np.asarray(
                    Image.fromarray(image[..., c]).filter(ImageFilter.GaussianBlur(radius)), np.float32
                )
                for c in range(image.shape[2])
            ]
            out[mask] = np.stack(blurred, axis=-1)[mask]
        else:
            offset = rng.uniform(40, 90, image.shape[2]) * rng.choice([-1, 1], image.shape[2])
            out[mask] += offset
    else:
        raise ValueError(f"unknown synthetic anomaly kind {kind!r}; known: {', '.join(KINDS)}")
    return np.clip(out, 0, 255).round().astype(np.uint8), mask.astype(np.uint8)


class SyntheticValidation(Dataset):
    """Validation normals (label 0) followed by ``copies`` synthetic-anomaly copies of each (label 1).

    Built on the run's validation :class:`ImageDataset`; samples follow the data contract, with a
    ``path`` of ``synthetic-anomaly:KIND:SOURCE+DONOR`` for the copies.
    """

    def __init__(self, normals: ImageDataset, copies: int = COPIES, seed: int = 0) -> None:
        if len(normals) < 2:
            raise ValueError(
                "synthetic validation needs at least two validation normals (a source and a donor)"
            )
        self.normals = normals
        self.copies = copies
        self.seed = seed

    def __len__(self) -> int:
        return len(self.normals) * (1 + self.copies)

    @property
    def labels(self) -> list[int]:
        return [0] * len(self.normals) + [1] * (len(self.normals) * self.copies)

    def recipe(self, index: int) -> tuple[int, int, str, np.random.Generator]:
        """(source index, donor index, kind, generator) of the anomalous copy ``index`` (>= len(normals))."""
        n = len(self.normals)
        k = index - n
        rng = np.random.default_rng([self.seed, k])
        source = k % n
        donor = (source + 1 + int(rng.integers(0, n - 1))) % n
        return source, donor, KINDS[k % len(KINDS)], rng

    def sources(self, index: int) -> list[str]:
        """The validation files sample ``index`` is made from (provenance)."""
        if index < len(self.normals):
            return [self.normals.entries[index].path]
        source, donor, _, _ = self.recipe(index)
        return [self.normals.entries[source].path, self.normals.entries[donor].path]

    def __getitem__(self, index: int) -> dict[str, Any]:
        if index < len(self.normals):
            sample = self.normals[index]
            return {**sample, "label": 0}
        source, donor, kind, rng = self.recipe(index)
        entries = self.normals.entries
        image, mask = paint(
            self.normals.image_array(entries[source]), self.normals.image_array(entries[donor]), kind, rng
        )
        return {
            "image": to_tensor(image),
            "label": 1,
            "mask": mask_to_tensor(mask),
            "path": f"{SYNTHETIC_PREFIX}{kind}:{entries[source].path}+{entries[donor].path}",
            "defect": f"synthetic-{kind}",
        }
