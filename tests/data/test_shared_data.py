"""Counts and masks on the real data of ../shared/data (skipped when it is absent)."""

from __future__ import annotations

from anotrans.data import DataSpec, build_splits


def test_cifar10_paper_split_counts_from_the_index(shared_data):
    splits = build_splits(DataSpec(data="cifar10", root=str(shared_data / "cifar10"), abnormal_class="cat"))
    info = splits.info  # nothing is decoded: counts come from the file index
    assert info["num_train"] + info["num_val"] == 45_000 and info["num_val"] == 4_500
    assert (info["num_test"], info["num_test_abnormal"]) == (15_000, 6_000)
    assert splits.test.labels[:9_000] == [0] * 9_000
    assert "/train/cat/" in splits.test.entries[9_000].path and "/test/cat/" in splits.test.entries[-1].path


def test_mvtec_bottle_counts_and_aligned_masks(shared_data):
    splits = build_splits(
        DataSpec(data="mvtec", root=str(shared_data / "mvtec_ad"), category="bottle", image_size=64)
    )
    info = splits.info
    assert info["num_train"] + info["num_val"] == 209
    assert (info["num_test"], info["num_test_abnormal"]) == (83, 63)
    good, defect = splits.test[0], splits.test[20]
    assert good["label"] == 0 and good["mask"].sum() == 0
    assert defect["label"] == 1 and defect["mask"].shape == (1, 64, 64) and defect["mask"].sum() > 0
    assert "broken_large/000.png" in defect["path"]
    assert splits.test.entries[20].mask.endswith("ground_truth/broken_large/000_mask.png")
