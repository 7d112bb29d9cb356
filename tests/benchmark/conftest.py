"""Fixtures of the benchmark tests: a fake ``train`` that writes metrics.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from anotrans.training import checkpoint as ckpt
from anotrans.utils.files import write_json


class FakeTrain:
    """Stands in for ``anotrans.train``: records its calls and writes the metrics a finished run has."""

    def __init__(self, fail: set[str] | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail = fail or set()

    def __call__(self, out: Path, resume: bool = False, **options: Any) -> None:
        self.calls.append({"out": Path(out), "resume": resume, **options})
        if options.get("model") in self.fail:
            raise RuntimeError("boom")
        seed = options.get("seed", 0)
        write_json(Path(out) / ckpt.CONFIG_FILE, options)
        write_json(
            Path(out) / ckpt.METRICS_FILE,
            {
                "image_auroc": 0.5 + 0.1 * seed,
                "image_auroc_max_over_epochs": 0.7 + 0.1 * seed,
                "image_auroc_reference_protocol_max_over_epochs": 0.8,
            },
        )


@pytest.fixture
def fake_train():
    return FakeTrain
