"""A built-in, seeded anomaly set: striped surfaces with spots, scratches and missing parts.

Normal images are one texture family (sinusoidal stripes) whose colour, orientation, period and
phase vary per image, so no two are identical. Defects are binary-painted (so masks are exact),
clearly visible at 32 px, and never further from the image's mean colour than the stripes
themselves are. So neither the mean colour nor the largest deviation from it tells a defect apart
(a model that only learns mean colour scores near chance, whatever the score formula); only a
model of the surface (its stripe pattern and its colour line) does.

- ``spot``: a flat disc in a hue the surface never shows (about 5-10 % of the pixels);
- ``scratch``: a thin straight line in such a hue, across the stripes (about 3-5 %);
- ``missing``: a rectangle where the stripes are gone and the flat base colour shows (about 5-9 %).

Generation needs no download and takes well under a second for the default sizes.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
from PIL import Image

from anotrans.data.dataset import BadFiles, Entry
from anotrans.data.images import to_channels
from anotrans.data.mvtec import GOOD, is_category_dir, read_mvtec
from anotrans.data.protocols import Found
from anotrans.data.spec import DataSpec

SYNTHETIC_TRAIN = 600  # normal training images (train + validation) when generated in memory
SYNTHETIC_TEST = 200  # test images, SYNTHETIC_ANOMALY_RATIO of them defective
SYNTHETIC_ANOMALY_RATIO = 0.5
SYNTHETIC_CATEGORY = "synthetic"
DEFECT_KINDS = ("spot", "scratch", "missing")
# A spot's or scratch's deviation from the base colour, as a fraction of a stripe peak's (see _defect_colour).
DEFECT_SHADE = (0.8, 1.0)


@dataclasses.dataclass
class SyntheticSet:
    """Generated images uint8 [N, H, W, C], labels [N], masks uint8 [N, H, W] in {0, 1}, defect kinds."""

    images: np.ndarray
    labels: np.ndarray
    masks: np.ndarray
    kinds: list[str]


def _surface(
    rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One normal striped surface in [0, 1] (H, W, 3), its base colour and its stripe amplitude."""
    size = yy.shape[0]
    base = np.array([0.3, 0.5, 0.55]) + rng.uniform(-0.15, 0.15, 3)
    tint = np.array([0.2, 0.2, 0.12]) * rng.uniform(0.8, 1.2)
    angle = np.deg2rad(35 + rng.uniform(-15, 15))
    period = size / rng.uniform(4.5, 6.5)
    wave = np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / period + rng.uniform(0, 2 * np.pi))
    image = base + wave[..., None] * tint + rng.normal(0, 0.015, (size, size, 3))
    return image, base, tint


def _defect_colour(rng: np.random.Generator, kind: str, base: np.ndarray, tint: np.ndarray) -> np.ndarray:
    """The defect's colour: off the stripes' colour line, but no further from the base than a stripe.

    Stripes only take colours ``base + t * tint`` with |t| <= 1. A spot or scratch is shifted from
    ``base`` along a random direction orthogonal to ``tint`` (a hue the surface never shows), by
    DEFECT_SHADE times a stripe peak's mean absolute deviation, so its deviation is no larger.
    """
    if kind == "missing":
        return base
    direction = rng.normal(size=3)
    direction -= direction.dot(tint) / tint.dot(tint) * tint
    scale = rng.uniform(*DEFECT_SHADE) * np.abs(tint).mean() / np.abs(direction).mean()
    return base + direction * scale


def _defect(rng: np.random.Generator, kind: str, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """A boolean defect region of the given kind."""
    size = yy.shape[0]
    cy, cx = rng.uniform(0.2, 0.8, 2) * size
    if kind == "spot":
        return (yy - cy) ** 2 + (xx - cx) ** 2 <= (rng.uniform(0.13, 0.18) * size) ** 2
    if kind == "scratch":
        angle, half = rng.uniform(0, np.pi), rng.uniform(0.22, 0.35) * size
        dy, dx = np.sin(angle), np.cos(angle)
        along = np.clip((yy - cy) * dy + (xx - cx) * dx, -half, half)
        dist = np.hypot(yy - cy - along * dy, xx - cx - along * dx)
        return dist <= max(0.75, rng.uniform(0.025, 0.035) * size)
    h, w = rng.uniform(0.22, 0.3, 2) * size
    return (np.abs(yy - cy) <= h / 2) & (np.abs(xx - cx) <= w / 2)


def make_synthetic(
    n: int,
    image_size: int = 32,
    channels: int = 3,
    seed: int | tuple[int, ...] = 0,
    anomaly_ratio: float = 0.0,
) -> SyntheticSet:
    """``n`` images: the normal ones first, then round(n * anomaly_ratio) defective ones (kinds in turn)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:image_size, 0:image_size].astype(np.float64) + 0.5
    n_abnormal = round(n * anomaly_ratio)
    kinds = [GOOD] * (n - n_abnormal) + [DEFECT_KINDS[i % len(DEFECT_KINDS)] for i in range(n_abnormal)]
    images = np.empty((n, image_size, image_size, channels), dtype=np.uint8)
    masks = np.zeros((n, image_size, image_size), dtype=np.uint8)
    for i, kind in enumerate(kinds):
        image, base, tint = _surface(rng, yy, xx)
        if kind != GOOD:
            region = _defect(rng, kind, yy, xx)
            image[region] = _defect_colour(rng, kind, base, tint)
            masks[i] = region
        rgb = Image.fromarray(np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8))
        images[i] = np.asarray(to_channels(rgb, channels)).reshape(image_size, image_size, channels)
    labels = np.array([kind != GOOD for kind in kinds], dtype=np.int64)
    return SyntheticSet(images=images, labels=labels, masks=masks, kinds=kinds)


def write_synthetic(
    root: str | os.PathLike,
    n_train: int = SYNTHETIC_TRAIN,
    n_test: int = SYNTHETIC_TEST,
    image_size: int = 32,
    seed: int = 0,
    anomaly_ratio: float = SYNTHETIC_ANOMALY_RATIO,
    category: str = SYNTHETIC_CATEGORY,
) -> Path:
    """Write the synthetic set as an MVTec-style category folder (for tests of the file readers and CLI)."""
    directory = Path(root) / category
    train = make_synthetic(n_train, image_size, 3, (seed, 0), 0.0)
    test = make_synthetic(n_test, image_size, 3, (seed, 1), anomaly_ratio)
    for split, data in (("train", train), ("test", test)):
        counters: dict[str, int] = {}
        for image, mask, kind in zip(data.images, data.masks, data.kinds, strict=True):
            number = counters[kind] = counters.get(kind, -1) + 1
            (directory / split / kind).mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(directory / split / kind / f"{number:03d}.png")
            if kind != GOOD:
                (directory / "ground_truth" / kind).mkdir(parents=True, exist_ok=True)
                Image.fromarray(mask * 255).save(directory / "ground_truth" / kind / f"{number:03d}_mask.png")
    return directory


def read_synthetic(spec: DataSpec, bad: BadFiles) -> Found:
    """Generated in memory (root None: default sizes above, at the spec's image size) or read from disk."""
    if spec.root is not None:
        category = spec.category if spec.category or is_category_dir(spec.root) else SYNTHETIC_CATEGORY
        return read_mvtec(spec.root, category, bad)
    train = make_synthetic(SYNTHETIC_TRAIN, spec.image_size, 3, (spec.seed, 0), 0.0)
    test = make_synthetic(SYNTHETIC_TEST, spec.image_size, 3, (spec.seed, 1), SYNTHETIC_ANOMALY_RATIO)
    offset = len(train.kinds)
    return Found(
        train=[Entry(f"synthetic/train#{i}", row=i) for i in range(offset)],
        test=[
            Entry(f"synthetic/test#{i}", label=int(label), row=offset + i, defect=kind)
            for i, (label, kind) in enumerate(zip(test.labels, test.kinds, strict=True))
        ],
        info={"format": "synthetic", "category": SYNTHETIC_CATEGORY, "has_masks": True},
        arrays=np.concatenate([train.images, test.images]),
        mask_arrays=np.concatenate([train.masks, test.masks]),
    )
