"""CIFAR-10 pickles, STL-10 binaries and class folders under both leave-one-class-out protocols."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from anotrans.data import DataSpec, build_splits
from anotrans.errors import ConfigError, DataError

from .formats import CLASSES, write_cifar_pickles, write_class_tree, write_stl10


def _pixels(dataset, index):
    return np.rint((dataset[index]["image"].numpy() + 1) * 127.5).astype(np.uint8).transpose(1, 2, 0)


def test_cifar_pickles_paper_split_and_pixels(tmp_path):
    written = write_cifar_pickles(tmp_path)  # 2 per class per train batch (10 per class), 3 per class in test
    splits = build_splits(DataSpec(data="cifar10", root=str(tmp_path), abnormal_class="cat", val_split=0.2))
    info = splits.info
    assert info["protocol"] == "paper" and info["class_names"] == CLASSES and info["abnormal_class"] == "cat"
    assert (info["num_train"], info["num_val"]) == (72, 18)  # 9 classes x 10, 20 % held out
    assert (info["num_test_normal"], info["num_test_abnormal"]) == (27, 13)  # 9 x 3; 10 train + 3 test
    paths = [e.path for e in splits.test.entries]
    assert paths[27].startswith("cifar10/data_batch_1#") and paths[-1].startswith("cifar10/test_batch#")
    assert splits.test.labels == [0] * 27 + [1] * 13
    assert set(splits.val.labels) == {0}
    # the first abnormal test image is the first cat of data_batch_1: row 3*2=6 of that batch
    assert paths[27] == "cifar10/data_batch_1#6"
    assert np.array_equal(_pixels(splits.test, 27), written["data_batch_1"][6])
    clean = build_splits(
        DataSpec(
            data="cifar10", root=str(tmp_path / "cifar-10-batches-py"), abnormal_class="cat", protocol="clean"
        )
    )
    assert (clean.info["num_test_normal"], clean.info["num_test_abnormal"]) == (27, 3)


def test_cifar_pickle_channel_planes(tmp_path):
    written = write_cifar_pickles(tmp_path)
    with open(tmp_path / "cifar-10-batches-py" / "test_batch", "rb") as f:
        row = pickle.load(f, encoding="bytes")[b"data"][0]
    image = written["test_batch"][0]
    assert (row[0], row[1024], row[2048], row[32 + 1]) == (
        image[0, 0, 0],
        image[0, 0, 1],
        image[0, 0, 2],
        image[1, 1, 0],
    )
    splits = build_splits(
        DataSpec(data="cifar10", root=str(tmp_path), abnormal_class="truck", protocol="clean")
    )
    assert np.array_equal(_pixels(splits.test, 0), image)  # airplane test image 0 comes first


def test_a_meta_file_without_ten_class_names_is_named_as_the_fault(tmp_path):
    write_cifar_pickles(tmp_path)
    meta = tmp_path / "cifar-10-batches-py" / "batches.meta"
    meta.write_bytes(pickle.dumps({b"label_names": [b"cat"]}))  # a fuzz-test find
    with pytest.raises(DataError, match=r"batches\.meta: b'label_names' lists 1 classes; CIFAR-10 has 10"):
        build_splits(DataSpec(data="cifar10", root=str(tmp_path), abnormal_class="cat"))


def test_stl10_binaries_transpose_and_paper_split(tmp_path):
    written = write_stl10(tmp_path)  # 5 train / 8 test per class: 1/100 of the real set
    splits = build_splits(DataSpec(data="stl10", root=str(tmp_path), abnormal_class="monkey", image_size=96))
    info = splits.info
    assert info["protocol"] == "paper" and info["class_names"][7] == "monkey"
    assert info["num_train"] + info["num_val"] == 45
    assert (info["num_test_normal"], info["num_test_abnormal"]) == (72, 13)  # 7,200 + 1,300 scaled down
    assert np.array_equal(_pixels(splits.test, 0), written["test"][0])
    first_monkey_train = 72
    assert splits.test.entries[first_monkey_train].path == "stl10/train_X.bin#35"
    assert np.array_equal(_pixels(splits.test, first_monkey_train), written["train"][35])


def test_class_folders_paper_and_clean(tmp_path):
    write_class_tree(tmp_path)  # 10 classes x 5 train / 2 test
    paper = build_splits(DataSpec(data="cifar10", root=str(tmp_path), abnormal_class="cat"))
    assert paper.info["num_train"] + paper.info["num_val"] == 45
    assert (paper.info["num_test_normal"], paper.info["num_test_abnormal"]) == (18, 7)
    tail = [e.path.split("/")[-3:] for e in paper.test.entries[18:]]
    assert tail[0] == ["train", "cat", "0000.png"] and tail[-1] == ["test", "cat", "0001.png"]
    folder = build_splits(DataSpec(data="folder", root=str(tmp_path), abnormal_class="cat"))
    assert folder.info["protocol"] == "clean" and folder.info["num_test_abnormal"] == 2
    assert paper.test[18]["image"][0, 0, 0].item() == pytest.approx(60 / 127.5 - 1)  # class 3, image 0


def test_class_set_errors(tmp_path):
    write_class_tree(tmp_path)
    with pytest.raises(DataError, match="unknown class 'kat'"):
        build_splits(DataSpec(data="cifar10", root=str(tmp_path), abnormal_class="kat"))
    with pytest.raises(ConfigError, match="abnormal_class is required"):
        build_splits(DataSpec(data="cifar10", root=str(tmp_path)))
    for f in (tmp_path / "test" / "dog").iterdir():
        f.unlink()
    with pytest.raises(DataError, match=r"dog.*no image files"):
        build_splits(DataSpec(data="cifar10", root=str(tmp_path), abnormal_class="cat"))
    with pytest.raises(DataError, match="not found"):
        build_splits(DataSpec(data="cifar10", root=str(tmp_path / "nope"), abnormal_class="cat"))


def test_broken_official_files(tmp_path):
    write_cifar_pickles(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"garbage")
    with pytest.raises(DataError, match="data_batch_3"):
        build_splits(DataSpec(data="cifar10", root=str(tmp_path), abnormal_class="cat"))
    write_stl10(tmp_path / "stl")
    with open(tmp_path / "stl" / "stl10_binary" / "test_X.bin", "ab") as f:
        f.write(b"x")
    with pytest.raises(DataError, match=r"test_X\.bin"):
        build_splits(DataSpec(data="stl10", root=str(tmp_path / "stl"), abnormal_class="cat"))


def test_max_test_images_keeps_order_and_label_shares(tmp_path):
    write_cifar_pickles(tmp_path)  # paper split: 27 normal then 13 abnormal test images
    spec = DataSpec(data="cifar10", root=str(tmp_path), abnormal_class="cat")
    full = [(e.path, e.label) for e in build_splits(spec).test.entries]
    small = build_splits(DataSpec(**{**spec.to_dict(), "max_test_images": 20}))
    sub = [(e.path, e.label) for e in small.test.entries]
    assert len(sub) == 20 and [x for x in full if x in sub] == sub  # a subsequence: order kept
    assert small.test.labels == [0] * 14 + [1] * 6  # 27:13 of 20 rounds to 14:6, normals first
    assert small.info["test_pool"] == 40 and small.info["num_test"] == 20
    larger = build_splits(DataSpec(**{**spec.to_dict(), "max_test_images": 30})).test.entries
    assert {p for p, _ in sub} <= {e.path for e in larger}  # nested across budgets
    assert [(e.path, e.label) for e in build_splits(spec).test.entries] == full
