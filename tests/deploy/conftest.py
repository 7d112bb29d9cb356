"""Tiny trained runs (1 epoch, 16 px, narrow networks) of each model family, exported once per session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import TINY_ANOTRANS, TINY_GANOMALY, TINY_IMAGE

import anotrans
from anotrans.export.onnx_export import export_run

NARROW = {"ngf": 8, "disc_ndf": 8, "disc_nz": 8}
FAMILY_OPTIONS: dict[str, dict[str, Any]] = {
    "ganomaly": TINY_GANOMALY,
    "skip-ganomaly": NARROW,
    "sagan": NARROW,
    "anotrans": TINY_ANOTRANS,
}


@pytest.fixture(scope="session")
def exported_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], tuple[Path, Path]]:
    """``exported_run(model)``: (run directory, model.onnx) of a 1-epoch run, trained once per session."""
    cache: dict[str, tuple[Path, Path]] = {}

    def make(model: str) -> tuple[Path, Path]:
        if model not in cache:
            run_dir = tmp_path_factory.mktemp(f"run-{model}")
            anotrans.train(
                run_dir,
                data="synthetic",
                model=model,
                image_size=TINY_IMAGE,
                model_options=FAMILY_OPTIONS[model],
                max_train_images=32,
                max_test_images=24,
                batch_size=16,
                epochs=1,
                threads=1,
                progress=False,
            )
            cache[model] = (run_dir, export_run(run_dir).path)
        return cache[model]

    return make
