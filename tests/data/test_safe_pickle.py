"""The CIFAR-10 reader unpickles data only: a crafted batch is refused before any code runs."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from anotrans.data.cifar10 import read_cifar10
from anotrans.data.safe_pickle import load_data_pickle
from anotrans.errors import DataError

from .formats import write_cifar_pickles


class _Payload:
    """Unpickling this calls ``open(target, "w")``: a file appears if the reader executes it."""

    def __init__(self, target: str):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_a_reduce_payload_is_refused_and_never_runs(tmp_path):
    target = tmp_path / "pwned"
    crafted = tmp_path / "crafted"
    crafted.write_bytes(pickle.dumps({b"data": _Payload(str(target)), b"labels": []}))
    with open(crafted, "rb") as f:  # the payload works: plain pickle creates the file
        pickle.load(f)
    assert target.exists()
    target.unlink()
    with pytest.raises(DataError, match=r"crafted: refused to unpickle global (builtins|io)\.open"):
        load_data_pickle(crafted)
    assert not target.exists()


def test_a_payload_inside_a_batch_file_fails_the_reader_by_name(tmp_path):
    write_cifar_pickles(tmp_path)
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    target = tmp_path / "pwned"
    batch.write_bytes(pickle.dumps({b"data": _Payload(str(target)), b"labels": [0]}, protocol=2))
    with pytest.raises(DataError, match="data_batch_3: refused to unpickle global"):
        read_cifar10(tmp_path)
    assert not target.exists()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_official_layout_reads_under_every_protocol(tmp_path, protocol):
    rows = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072)
    path = tmp_path / "batch"
    path.write_bytes(pickle.dumps({b"data": rows, b"labels": [3, 7], b"batch_label": b"x"}, protocol))
    content = load_data_pickle(path)
    assert content[b"labels"] == [3, 7] and np.array_equal(content[b"data"], rows)
    assert content[b"data"].dtype == np.uint8


def test_python2_style_pickle_of_numpy_1x_loads(tmp_path):
    """The official files name ``numpy.core.multiarray._reconstruct`` (numpy 1.x module path)."""
    rows = np.arange(3072, dtype=np.uint8).reshape(1, 3072)
    blob = pickle.dumps({b"data": rows, b"labels": [1]}, protocol=2)
    blob = blob.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    path = tmp_path / "old"
    path.write_bytes(blob)
    assert np.array_equal(load_data_pickle(path)[b"data"], rows)


@pytest.mark.parametrize(
    "value",
    [
        np.array([object()], dtype=object),
        np.zeros(2, dtype=[("a", "u1"), ("b", "f4")]),
        np.ma.masked_array([1, 2]),
        {1, 2},
    ],
    ids=["object-array", "structured-array", "array-subclass", "set"],
)
def test_anything_but_plain_data_is_refused(tmp_path, value):
    path = tmp_path / "batch"
    path.write_bytes(pickle.dumps({b"data": value}))
    with pytest.raises(DataError, match="batch: "):
        load_data_pickle(path)
