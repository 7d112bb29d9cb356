"""Files written whole go through the atomic helper: a crash mid-write leaves the previous file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from anotrans.demo import DEMO_SAMPLES, write_samples
from anotrans.scoring.visualize import save_panel


def _crash(*args: object) -> None:
    raise OSError("disk gone")


def _demo_kinds(folder: Path) -> dict[str, str]:
    """File name -> kind ("good" or a defect) of the demo samples written to ``folder``."""
    write_samples(folder)
    return {p.name: p.stem.split("_", 1)[1] for p in sorted(folder.iterdir())}


def test_demo_samples_are_pngs_of_normal_and_defective_images(tmp_path: Path) -> None:
    kinds = _demo_kinds(tmp_path)
    assert len(kinds) == 2 * DEMO_SAMPLES
    assert list(kinds.values()).count("good") == DEMO_SAMPLES
    assert all((tmp_path / name).read_bytes().startswith(b"\x89PNG") for name in kinds)


@pytest.mark.parametrize("what", ["heat-map", "demo-sample"])
def test_a_crash_mid_write_keeps_the_old_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, what: str
) -> None:
    name = "panel.png" if what == "heat-map" else next(iter(_demo_kinds(tmp_path / "reference")))
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / name).write_bytes(b"old")
    monkeypatch.setattr(os, "fsync", _crash)
    with pytest.raises(OSError, match="disk gone"):
        if what == "heat-map":
            image = np.zeros((3, 8, 8), dtype=np.float32)
            save_panel(folder / name, image, image, np.zeros((8, 8)), 1.0, "title")
        else:
            write_samples(folder)
    assert (folder / name).read_bytes() == b"old"
    assert [p.name for p in folder.iterdir()] == [name]  # no temporary file left behind
