"""``skip_bad_files``: the run directory lists every file it skipped and why."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import anotrans
from anotrans.errors import DataError

from .tiny import TINY_RUN


def test_skipped_files_are_listed_in_the_run_directory(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(24):
        Image.fromarray(np.full((16, 16, 3), 10 * i, dtype=np.uint8)).save(data / f"{i:02d}.png")
    (data / "broken.png").write_bytes(b"\x89PNG cut")
    options = {**TINY_RUN, "data": "folder", "root": str(data), "batch_size": 8}
    with pytest.raises(DataError, match=r"broken\.png: not an image"):
        anotrans.train(tmp_path / "strict", **options)
    result = anotrans.train(tmp_path / "run", skip_bad_files=True, **options)
    listed = (tmp_path / "run" / "skipped_files.txt").read_text().splitlines()
    assert listed == [f"{data / 'broken.png'}: not an image file Pillow can read"]
    assert result.metrics["num_skipped_files"] == 1
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["num_skipped_files"] == 1
