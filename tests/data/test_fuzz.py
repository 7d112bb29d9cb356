"""Hostile and odd input to every reader: each case works as documented or is a DataError naming the file.

Hypothesis feeds random bytes, truncated and empty files to the image, CIFAR-10, STL-10, MVTec and
folder readers; fixed cases cover every Pillow mode, EXIF orientation, the pixel cap and masks of the
wrong size, not binary, or named after no image. Any other exception (a bare traceback) fails.
"""

from __future__ import annotations

import io
import pickle
import struct
import tempfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from anotrans.data import DataSpec, build_splits, load_image
from anotrans.data.cifar10 import read_cifar10
from anotrans.data.images import (
    DEFAULT_MAX_IMAGE_PIXELS,
    image_size_of,
    open_image,
    read_mask,
    set_max_image_pixels,
)
from anotrans.data.stl10 import read_stl10
from anotrans.errors import DataError

from .formats import write_cifar_pickles, write_png, write_stl10

FUZZ = settings(max_examples=25, deadline=None, derandomize=True)  # the same examples on every CI run
FORMATS = ("png", "jpeg", "bmp", "tiff", "webp", "gif", "ppm")


def _encoded(fmt: str, size: tuple[int, int] = (12, 9)) -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(buf, fmt)
    return buf.getvalue()


VALID = {fmt: _encoded(fmt) for fmt in FORMATS}


@pytest.fixture(autouse=True)
def _default_pixel_cap() -> Iterator[None]:
    yield
    set_max_image_pixels(DEFAULT_MAX_IMAGE_PIXELS)


def works_or_names(path: Path, read: Callable[[], object]) -> object | None:
    """``read()``'s result, or None after a DataError that names ``path``; anything else fails the test."""
    try:
        return read()
    except DataError as exc:
        assert str(path) in str(exc), exc
        return None


def _file(data: bytes, suffix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"fuzzed.{suffix}"
        path.write_bytes(data)
        yield path


def _check_image_file(path: Path) -> None:
    """Every image entry point on one file: all fail alike or the decoded array is well formed."""
    for read in (
        lambda: load_image(path, 8, 3),
        lambda: load_image(path, 8, 1),
        lambda: read_mask(path, 8),
        lambda: image_size_of(path),
    ):
        result = works_or_names(path, read)
        if result is not None and not isinstance(result, tuple):
            array = np.asarray(result)
            assert np.isfinite(array).all() and array.shape[-1] == 8


@FUZZ
@given(data=st.binary(max_size=512), fmt=st.sampled_from(FORMATS))
def test_random_bytes_under_every_image_extension(data, fmt):
    for path in _file(data, fmt):
        _check_image_file(path)


@FUZZ
@given(fmt=st.sampled_from(FORMATS), cut=st.floats(0.0, 1.0), flip=st.integers(0, 10_000))
def test_truncated_and_bit_flipped_images(fmt, cut, flip):
    valid = VALID[fmt]
    truncated = valid[: int(len(valid) * cut)]
    flipped = bytearray(valid)
    flipped[flip % len(flipped)] ^= 0xFF
    for data in (truncated, bytes(flipped)):
        for path in _file(data, fmt):
            _check_image_file(path)


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels but holds almost no data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunks = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def test_empty_files_and_huge_headers_are_refused_by_name(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "bomb.png").write_bytes(_png_header(100_000, 100_000))
    for name, words in (("empty.png", "not an image"), ("bomb.png", "over the cap of 64000000")):
        for read in (lambda p: load_image(p, 8), image_size_of):
            with pytest.raises(DataError, match=words) as info:
                read(tmp_path / name)
            assert str(tmp_path / name) in str(info.value)
    one = write_png(tmp_path / "one.png", np.full((1, 1, 3), 255, dtype=np.uint8))
    assert np.array_equal(load_image(one, 4).numpy(), np.ones((3, 4, 4), dtype=np.float32))


def test_the_pixel_cap_is_configurable(tmp_path):
    path = write_png(tmp_path / "x.png", np.zeros((4, 5, 3), dtype=np.uint8))
    set_max_image_pixels(20)
    assert load_image(path, 4).shape == (3, 4, 4)
    set_max_image_pixels(19)
    with pytest.raises(DataError, match=r"x.png: 5x4 = 20 pixels is over the cap of 19"):
        load_image(path, 4)
    write_png(tmp_path / "y.png", np.zeros((4, 5, 3), dtype=np.uint8))
    splits = build_splits(DataSpec(data="folder", root=str(tmp_path), max_image_pixels=19, val_split=0.5))
    with pytest.raises(DataError, match="over the cap of 19"):  # the DataSpec option sets the cap
        splits.train[0]


# Every Pillow mode as TIFF (the one format that stores them all) and what anotrans reads: 8-bit grey
# 200 in each case. Alpha is dropped (colour kept as stored), 16/32-bit integers are scaled by 1/257,
# floats are clipped to 0..255, CMYK and palettes convert through Pillow.
MODES = {
    "1": 1,
    "L": 200,
    "LA": (200, 7),
    "P": 3,
    "RGB": (200, 200, 200),
    "RGBA": (200, 200, 200, 7),
    "CMYK": (0, 0, 0, 55),
    "I;16": 51400,
    "I": 51400,
    "F": 200.4,
}


@pytest.mark.parametrize("mode", list(MODES))
def test_every_pillow_mode_reads_as_documented(tmp_path, mode):
    img = Image.new(mode, (6, 6), MODES[mode])
    if mode == "P":
        img.putpalette([0, 0, 0] * 3 + [200, 200, 200])
    img.save(tmp_path / "x.tiff")
    expected = 255 if mode == "1" else 200
    for channels in (1, 3):
        image = load_image(tmp_path / "x.tiff", 6, channels)
        assert image.shape == (channels, 6, 6)
        assert np.allclose(image.numpy(), expected / 127.5 - 1), (mode, channels, image.unique())


@pytest.mark.parametrize(("orientation", "corner"), [(1, (0, 0)), (3, (-1, -1)), (6, (0, -1)), (8, (-1, 0))])
def test_exif_orientation_is_applied(tmp_path, orientation, corner):
    """Stored 16 wide x 8 high with a white block top-left; shown (and read) the way viewers show it."""
    stored = np.zeros((8, 16, 3), dtype=np.uint8)
    stored[:4, :4] = 255
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored).save(tmp_path / "x.jpg", exif=exif.tobytes(), quality=95)
    upright = np.asarray(open_image(tmp_path / "x.jpg").convert("L"))
    assert upright.shape == ((16, 8) if orientation in (6, 8) else (8, 16))
    assert image_size_of(tmp_path / "x.jpg") == upright.shape[::-1]
    assert upright[corner] > 200 and upright.mean() < 80


@FUZZ
@given(data=st.binary(max_size=300), cut=st.floats(0.0, 1.0))
def test_cifar10_batches_random_and_truncated(data, cut):
    with tempfile.TemporaryDirectory() as tmp:
        write_cifar_pickles(Path(tmp), per_class_batch=1, per_class_test=1)
        batch = Path(tmp) / "cifar-10-batches-py" / "data_batch_2"
        valid = batch.read_bytes()
        for content in (data, valid[: int(len(valid) * cut)]):
            batch.write_bytes(content)
            works_or_names(batch, lambda: read_cifar10(tmp))


@FUZZ
@given(
    value=st.recursive(
        st.none() | st.booleans() | st.integers() | st.binary(max_size=8) | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.binary(max_size=6), inner, max_size=4),
        max_leaves=12,
    ),
    key=st.sampled_from([b"data", b"labels", b"label_names"]),
)
def test_cifar10_batches_of_the_wrong_shape(value, key):
    with tempfile.TemporaryDirectory() as tmp:
        write_cifar_pickles(Path(tmp), per_class_batch=1, per_class_test=1)
        name = "batches.meta" if key == b"label_names" else "test_batch"
        path = Path(tmp) / "cifar-10-batches-py" / name
        content = pickle.loads(path.read_bytes())
        content[key] = value
        path.write_bytes(pickle.dumps(content))
        works_or_names(path, lambda: read_cifar10(tmp))


@FUZZ
@given(
    x_bytes=st.integers(0, 3 * 96 * 96 * 3),
    labels=st.binary(max_size=6),
    names=st.binary(max_size=40),
)
def test_stl10_binaries_of_any_size_labels_and_names(x_bytes, labels, names):
    with tempfile.TemporaryDirectory() as tmp:
        write_stl10(Path(tmp), per_class_train=1, per_class_test=1)
        directory = Path(tmp) / "stl10_binary"
        (directory / "test_X.bin").write_bytes(bytes(x_bytes))
        (directory / "test_y.bin").write_bytes(labels)
        (directory / "class_names.txt").write_bytes(names)
        try:
            read_stl10(tmp)
        except DataError as exc:
            assert str(directory) in str(exc), exc


def _mvtec(root: Path, mask: np.ndarray | bytes, mask_name: str = "000_mask.png") -> Path:
    cat = root / "bottle"
    for i in range(4):
        write_png(cat / "train" / "good" / f"{i:03d}.png", np.full((8, 8, 3), 40 * i, dtype=np.uint8))
    write_png(cat / "test" / "good" / "000.png", np.zeros((8, 8, 3), dtype=np.uint8))
    write_png(cat / "test" / "broken" / "000.png", np.full((8, 8, 3), 255, dtype=np.uint8))
    mask_path = cat / "ground_truth" / "broken" / mask_name
    if isinstance(mask, bytes):
        mask_path.parent.mkdir(parents=True, exist_ok=True)
        mask_path.write_bytes(mask)
    else:
        write_png(mask_path, mask)
    return mask_path


def _read_all(spec: DataSpec) -> list[np.ndarray]:
    splits = build_splits(spec)
    return [splits.test[i]["mask"].numpy() for i in range(len(splits.test))]


@FUZZ
@given(
    side=st.integers(1, 12),
    values=st.lists(st.integers(0, 255), min_size=1, max_size=4),
    name=st.sampled_from(["000_mask.png", "000.png", "001_mask.png", "000_mask_mask.png"]),
)
def test_mvtec_masks_of_any_size_value_and_name(side, values, name):
    with tempfile.TemporaryDirectory() as tmp:
        mask = np.resize(np.array(values, dtype=np.uint8), (side, side))
        mask_path = _mvtec(Path(tmp), mask, name)
        spec = DataSpec(data="mvtec", root=tmp, category="bottle", image_size=8, val_split=0.25)
        masks = works_or_names(mask_path.parent, lambda: _read_all(spec))
        if masks is not None:  # documented: same size, matching name; 0/1 or 0/255 (> 127) binarised
            assert side == 8 and name in ("000_mask.png", "000.png")
            threshold = 0 if max(values) <= 1 else 127
            want = (np.resize(np.array(values), (8, 8)) > threshold).astype(np.float32)
            assert np.array_equal(masks[-1][0], want) and not masks[0].any()


@FUZZ
@given(data=st.binary(max_size=200), skip=st.booleans())
def test_mvtec_and_folder_layouts_with_a_garbage_file(data, skip):
    with tempfile.TemporaryDirectory() as tmp:
        mask_path = _mvtec(Path(tmp), np.zeros((8, 8), dtype=np.uint8))
        garbage = Path(tmp) / "bottle" / "train" / "good" / "zzz.png"
        garbage.write_bytes(data)
        for spec in (
            DataSpec(data="mvtec", root=tmp, category="bottle", image_size=8, val_split=0.25),
            DataSpec(data="folder", root=str(Path(tmp) / "bottle" / "train"), image_size=8, val_split=0.25),
        ):
            spec.skip_bad_files = skip
            try:
                splits = build_splits(spec)
                [splits.train[i] for i in range(len(splits.train))]
            except DataError as exc:
                assert str(garbage) in str(exc) or str(mask_path) in str(exc), exc
            else:
                assert skip or len(splits.train) + len(splits.val) == 5
