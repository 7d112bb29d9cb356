"""benchmarks/misaligned.py: the shift, and a misaligned MVTec copy whose masks move with their images."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def misaligned(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # it imports its siblings quality and deviation_score
    return importlib.import_module("misaligned")


def test_shift_moves_content_and_reflects_the_border(misaligned):
    a = np.arange(25).reshape(5, 5)
    moved = misaligned.shift(a, 1, -2)
    np.testing.assert_array_equal(moved[1:, :3], a[:4, 2:])  # down 1, left 2
    np.testing.assert_array_equal(moved[0], moved[2])  # reflected, not zero-filled
    assert misaligned.shift(a, 0, 0) is not a and (misaligned.shift(a, 0, 0) == a).all()


def _category(root: Path) -> None:
    """A 32 px MVTec-layout category: 3 train normals, one good and one defective test image."""
    rng = np.random.default_rng(0)
    (root / "train" / "good").mkdir(parents=True)
    for i in range(3):
        noise = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(noise).save(root / "train" / "good" / f"{i:03d}.png")
    (root / "test" / "good").mkdir(parents=True)
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(root / "test" / "good" / "000.png")
    (root / "test" / "crack").mkdir(parents=True)
    (root / "ground_truth" / "crack").mkdir(parents=True)
    image, mask = np.zeros((32, 32, 3), np.uint8), np.zeros((32, 32), np.uint8)
    image[10:14, 10:14], mask[10:14, 10:14] = 255, 255  # the defect is the only bright square
    Image.fromarray(image).save(root / "test" / "crack" / "000.png")
    Image.fromarray(mask).save(root / "ground_truth" / "crack" / "000_mask.png")


def test_copy_moves_each_mask_with_its_image(misaligned, tmp_path):
    source, target = tmp_path / "src" / "bottle", tmp_path / "dst" / "bottle"
    _category(source)
    assert misaligned.misaligned_copy(source, target, 0.25, seed=3) == 5
    image = np.asarray(Image.open(target / "test" / "crack" / "000.png"))
    mask = np.asarray(Image.open(target / "ground_truth" / "crack" / "000_mask.png"))
    bright = image[..., 0] == 255
    np.testing.assert_array_equal(bright, mask == 255)
    ys, xs = np.nonzero(bright)
    assert bright.sum() == 16 and (ys.min(), xs.min()) != (10, 10)  # whole, and moved
    train = [np.asarray(Image.open(p)) for p in sorted((target / "train" / "good").iterdir())]
    originals = [np.asarray(Image.open(p)) for p in sorted((source / "train" / "good").iterdir())]
    assert any((t != o).any() for t, o in zip(train, originals, strict=True))
    assert misaligned.misaligned_copy(source, target, 0.25, seed=3) == 0  # a finished copy is kept


def test_copy_is_read_by_the_mvtec_reader(misaligned, tmp_path):
    from anotrans.data.build import build_splits
    from anotrans.data.spec import DataSpec

    _category(tmp_path / "src" / "bottle")
    misaligned.misaligned_copy(tmp_path / "src" / "bottle", tmp_path / "dst" / "bottle", 0.25, seed=0)
    spec = DataSpec(data="mvtec", root=str(tmp_path / "dst"), category="bottle", image_size=32, val_split=0)
    test = build_splits(spec).test
    samples = [test[i] for i in range(len(test))]
    assert sorted(int(s["label"]) for s in samples) == [0, 1]
    assert [float(s["mask"].sum()) for s in samples if int(s["label"]) == 1] == [16.0]
