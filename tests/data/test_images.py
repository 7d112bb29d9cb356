"""Decoding, channel conversion, scaling and bad-file errors of single images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from anotrans.data import load_image
from anotrans.errors import ConfigError, DataError

from .formats import write_png


def test_known_pixels_survive_read_and_scaling(tmp_path):
    array = np.zeros((16, 16, 3), dtype=np.uint8)
    array[3, 5] = (255, 51, 0)
    image = load_image(write_png(tmp_path / "x.png", array), 16, 3)
    assert image.shape == (3, 16, 16) and image.dtype == torch.float32
    assert image[:, 3, 5].tolist() == pytest.approx([1.0, 51 / 127.5 - 1, -1.0])
    assert image[:, 0, 0].tolist() == [-1.0, -1.0, -1.0]


@pytest.mark.parametrize(
    ("mode", "value", "expected"),
    [
        ("L", 200, 200),
        ("RGBA", (200, 200, 200, 7), 200),
        ("P", None, 200),
        ("I;16", 51400, 200),
        ("1", 1, 255),
    ],
)
def test_modes_are_converted_explicitly(tmp_path, mode, value, expected):
    if mode == "P":
        img = Image.new("P", (8, 8), 3)
        img.putpalette([0, 0, 0] * 3 + [200, 200, 200])
    elif mode == "I;16":
        img = Image.fromarray(np.full((8, 8), value, dtype=np.uint16))
    else:
        img = Image.new(mode, (8, 8), value)
    img.save(tmp_path / "x.png")
    for channels in (1, 3):
        image = load_image(tmp_path / "x.png", 8, channels)
        assert image.shape == (channels, 8, 8)
        assert torch.allclose(image, torch.tensor(expected / 127.5 - 1.0))


def test_rgb_to_grey_and_resizing(tmp_path):
    path = write_png(tmp_path / "x.png", np.full((40, 60, 3), (255, 0, 0), dtype=np.uint8))
    grey = load_image(path, 32, 1)
    assert grey.shape == (1, 32, 32)
    assert torch.allclose(grey, torch.tensor(76 / 127.5 - 1))  # ITU-R 601 luma of pure red


def test_bad_files_raise_data_error_naming_the_path(tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    good = write_png(tmp_path / "good.png", np.zeros((64, 64, 3), dtype=np.uint8))
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(good.read_bytes()[:60])
    for path, words in [
        (tmp_path / "notes.png", "not an image"),
        (truncated, "truncated"),
        (tmp_path / "missing.png", "not found"),
        (tmp_path, "folder"),
    ]:
        with pytest.raises(DataError, match=words) as info:
            load_image(path, 8, 3)
        assert str(path) in str(info.value)


def test_bad_geometry_is_a_config_error(tmp_path):
    path = write_png(tmp_path / "x.png", np.zeros((8, 8, 3), dtype=np.uint8))
    with pytest.raises(ConfigError, match="channels"):
        load_image(path, 8, 2)
    with pytest.raises(ConfigError, match="image_size"):
        load_image(path, 0, 3)
