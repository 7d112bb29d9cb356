"""MVTec-style trees and the user's normal / abnormal folders: counts, masks and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from anotrans.data import MVTEC_CATEGORIES, DataSpec, build_splits, write_synthetic
from anotrans.errors import DataError

from .formats import write_png


@pytest.fixture
def mvtec_root(tmp_path):
    write_synthetic(tmp_path, n_train=10, n_test=9, image_size=16, category="bottle")
    write_synthetic(tmp_path, n_train=6, n_test=6, image_size=16, category="my_part", seed=1)
    return tmp_path


def test_mvtec_category_counts_and_masks(mvtec_root):
    splits = build_splits(DataSpec(data="mvtec", root=str(mvtec_root), category="bottle", image_size=16))
    info = splits.info
    assert (info["num_train"], info["num_val"], info["num_test_normal"], info["num_test_abnormal"]) == (
        9,
        1,
        5,
        4,
    )
    assert info["has_masks"] and info["category"] == "bottle"
    for sample in splits.test:
        assert sample["mask"].shape == (1, 16, 16)
        assert (sample["mask"].sum() > 0) == (sample["label"] == 1)
    assert splits.test[0]["path"].endswith("test/good/000.png")
    # the defect kind is the test folder's name (per-defect metrics)
    assert [s["defect"] for s in splits.test] == ["good"] * 5 + ["missing", "scratch", "spot", "spot"]


def test_mvtec_root_is_category_and_all(mvtec_root):
    alone = build_splits(DataSpec(data="mvtec", root=str(mvtec_root / "my_part"), image_size=16))
    assert alone.info["num_test"] == 6 and alone.info["category"] == "my_part"
    both = build_splits(DataSpec(data="mvtec", root=str(mvtec_root), category="all", image_size=16))
    assert both.info["categories"] == ["bottle", "my_part"] and both.info["num_test"] == 15
    assert len(MVTEC_CATEGORIES) == 15


@pytest.mark.parametrize(
    ("category", "message"),
    [("bottel", "unknown or missing category name 'bottel'"), ("cable", "MVTec AD category")],
)
def test_mvtec_unknown_or_missing_category(mvtec_root, category, message):
    with pytest.raises(DataError, match=message):
        build_splits(DataSpec(data="mvtec", root=str(mvtec_root), category=category))


def test_mvtec_bad_masks(mvtec_root):
    spec = DataSpec(data="mvtec", root=str(mvtec_root), category="bottle", image_size=16)
    truth = mvtec_root / "bottle" / "ground_truth" / "spot"
    write_png(truth / "000_mask.png", np.zeros((20, 20), dtype=np.uint8))
    with pytest.raises(DataError, match=r"000_mask.png: mask size \(20, 20\) does not match"):
        build_splits(spec)
    (truth / "000_mask.png").rename(truth / "000_msk.png")
    with pytest.raises(DataError, match=r"000_msk\.png: mask name matches no image"):
        build_splits(spec)
    with pytest.warns(UserWarning, match="skipping bad file"):
        skipped = build_splits(DataSpec(**{**spec.to_dict(), "skip_bad_files": True}))
    assert skipped.info["num_skipped"] == 2  # the stray mask, and the image left without a mask
    assert skipped.info["num_test_abnormal"] == 3


def test_skip_bad_files_drops_unreadable_images(mvtec_root):
    bad = mvtec_root / "bottle" / "train" / "good" / "003.png"
    bad.write_bytes(bad.read_bytes()[:50])
    spec = DataSpec(data="mvtec", root=str(mvtec_root), category="bottle", image_size=16, val_split=0)
    splits = build_splits(spec)
    with pytest.raises(DataError, match=r"003\.png: truncated"):
        [splits.train[i] for i in range(len(splits.train))]
    with pytest.warns(UserWarning, match=r"003\.png"):
        skipped = build_splits(DataSpec(**{**spec.to_dict(), "skip_bad_files": True}))
    assert skipped.info["num_train"] == 9 and skipped.info["num_skipped"] == 1
    assert "003.png" in skipped.info["skipped_files"][0]


def _write_folder_set(root, normals=10, abnormal=4, mask_style="_mask"):
    for i in range(normals):
        write_png(root / "ok" / f"batch{i % 2}" / f"n{i}.jpg", np.full((12, 12, 3), 100, dtype=np.uint8))
    for i in range(abnormal):
        write_png(root / "defects" / "sub" / f"d{i}.png", np.full((12, 12, 3), 200, dtype=np.uint8))
        mask = np.zeros((12, 12), dtype=np.uint8)
        mask[2:4, 2:4] = 1  # 0/1 masks are accepted as well as 0/255
        write_png(root / "masks" / "sub" / f"d{i}{mask_style}.png", mask)


@pytest.mark.parametrize("mask_style", ["_mask", ""])
def test_folder_normal_abnormal_masks(tmp_path, mask_style):
    _write_folder_set(tmp_path, mask_style=mask_style)
    spec = DataSpec(
        data="folder",
        root=str(tmp_path),
        normal_dir="ok",
        abnormal_dir="defects",
        mask_dir="masks",
        image_size=8,
    )
    splits = build_splits(spec)
    info = splits.info
    assert (info["num_train"] + info["num_val"], info["num_test_normal"], info["num_test_abnormal"]) == (
        8,
        2,
        4,
    )
    sample = splits.test[2]
    assert sample["label"] == 1 and sample["mask"].sum() > 0
    assert splits.test[0]["mask"].sum() == 0
    # the defect kind is the abnormal folder's sub-folder
    assert [s["defect"] for s in splits.test] == ["good", "good", "sub", "sub", "sub", "sub"]


def test_folder_train_only_and_nested_exclusion(tmp_path):
    _write_folder_set(tmp_path)
    alone = build_splits(DataSpec(data="folder", root=str(tmp_path / "ok"), val_split=0.2))
    assert alone.test is None and (alone.info["num_train"], alone.info["num_val"]) == (8, 2)
    whole = build_splits(
        DataSpec(data="folder", root=str(tmp_path), abnormal_dir="defects", mask_dir="masks")
    )
    assert whole.info["normal_pool"] == 8  # 10 normals minus the 2 test normals; defects and masks excluded


def test_folder_bad_input(tmp_path):
    _write_folder_set(tmp_path)
    base = {"data": "folder", "root": str(tmp_path), "normal_dir": "ok", "abnormal_dir": "defects"}
    with pytest.raises(DataError, match="nowhere: folder not found"):
        build_splits(DataSpec(**{**base, "normal_dir": "nowhere"}))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty: no image files"):
        build_splits(DataSpec(**{**base, "abnormal_dir": "empty"}))
    (tmp_path / "masks" / "sub" / "d3_mask.png").unlink()
    with pytest.raises(DataError, match=r"d3\.png: no mask found"):
        build_splits(DataSpec(**base, mask_dir="masks"))
