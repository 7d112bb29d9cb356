"""``threads``: training runs with the asked thread count and gives the caller's setting back."""

from __future__ import annotations

import pytest
import torch

import anotrans
from anotrans.errors import ConfigError
from anotrans.training.config import TrainConfig
from anotrans.training.steps import GanUpdater

from .tiny import TINY_RUN


def test_training_uses_the_thread_count_and_restores_it(tmp_path, monkeypatch):
    seen: list[int] = []
    step = GanUpdater.step

    def recording_step(self, x):
        seen.append(torch.get_num_threads())
        return step(self, x)

    monkeypatch.setattr(GanUpdater, "step", recording_step)
    before = torch.get_num_threads()
    asked = before + 1
    try:
        anotrans.train(tmp_path, threads=asked, **TINY_RUN)
    finally:
        after = torch.get_num_threads()
        torch.set_num_threads(before)
    assert seen and set(seen) == {asked}
    assert after == before


def test_negative_threads_is_refused():
    with pytest.raises(ConfigError, match="--threads must be >= 0"):
        TrainConfig(threads=-1)
