"""``lr_decay_epochs``: a linear fall of both learning rates over the last epochs (resume: tests/cli)."""

from __future__ import annotations

import json

import pytest

import anotrans
from anotrans.errors import ConfigError
from anotrans.training.config import TrainConfig
from anotrans.training.steps import GanUpdater

from .tiny import TINY_RUN

TINY = {**TINY_RUN, "epochs": 3, "lr": 3e-4}


def test_the_rate_is_constant_then_falls_linearly():
    assert [TrainConfig(epochs=5, lr=3.0).lr_at(e) for e in range(5)] == [3.0] * 5
    rates = [TrainConfig(epochs=5, lr=3.0, lr_decay_epochs=2).lr_at(e) for e in range(5)]
    assert rates == pytest.approx([3.0, 3.0, 3.0, 2.0, 1.0])
    whole = [TrainConfig(epochs=3, lr=4.0, lr_decay_epochs=3).lr_at(e) for e in range(3)]
    assert whole == pytest.approx([3.0, 2.0, 1.0])


@pytest.mark.parametrize("bad", [-1, 6])
def test_a_decay_longer_than_the_run_is_refused(bad):
    with pytest.raises(ConfigError, match="--lr-decay-epochs must be between 0 and --epochs"):
        TrainConfig(epochs=5, lr_decay_epochs=bad)


def test_a_share_of_the_epochs_keeps_its_proportion_and_a_count_wins_over_it():
    assert [TrainConfig(epochs=e, lr_decay_share=0.5).decay_epochs for e in (1, 4, 20, 25)] == [0, 2, 10, 12]
    shared = [TrainConfig(epochs=5, lr=3.0, lr_decay_share=0.4).lr_at(e) for e in range(5)]
    assert shared == [TrainConfig(epochs=5, lr=3.0, lr_decay_epochs=2).lr_at(e) for e in range(5)]
    assert TrainConfig(epochs=20, lr_decay_epochs=3, lr_decay_share=0.5).decay_epochs == 3


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_a_share_outside_0_1_is_refused(bad):
    with pytest.raises(ConfigError, match=r"--lr-decay-share must be a share of the epochs in \[0, 1\]"):
        TrainConfig(lr_decay_share=bad)


def _record_rates(monkeypatch) -> list[tuple[float, float]]:
    """(G's, D's) learning rate at every update of the runs that follow."""
    seen: list[tuple[float, float]] = []
    step = GanUpdater.step

    def recording_step(self, x):
        seen.append((self.opt_g.param_groups[0]["lr"], self.opt_d.param_groups[0]["lr"]))
        return step(self, x)

    monkeypatch.setattr(GanUpdater, "step", recording_step)
    return seen


def test_training_steps_at_the_scheduled_rate_and_logs_it(tmp_path, monkeypatch):
    seen = _record_rates(monkeypatch)
    anotrans.train(tmp_path, lr_decay_epochs=2, **TINY)
    expected = [3e-4, 2e-4, 1e-4]
    per_epoch = len(seen) // 3
    assert [seen[i * per_epoch][0] for i in range(3)] == pytest.approx(expected)
    assert all(g == d for g, d in seen)
    log = [json.loads(line) for line in (tmp_path / "epochs.jsonl").read_text().splitlines()]
    assert [row["lr"] for row in log] == pytest.approx(expected)


def test_the_generator_can_step_at_a_multiple_of_the_rate(tmp_path, monkeypatch):
    seen = _record_rates(monkeypatch)
    anotrans.train(tmp_path, lr_decay_epochs=2, g_lr_scale=5.0, **TINY)
    per_epoch = len(seen) // 3
    firsts = [seen[i * per_epoch] for i in range(3)]
    assert [d for _, d in firsts] == pytest.approx([3e-4, 2e-4, 1e-4])  # D: the schedule itself
    assert [g for g, _ in firsts] == pytest.approx([1.5e-3, 1e-3, 5e-4])  # G: five times it
    log = [json.loads(line) for line in (tmp_path / "epochs.jsonl").read_text().splitlines()]
    assert [(row["lr_g"], row["lr"]) for row in log] == pytest.approx([(g, d) for g, d in firsts])


@pytest.mark.parametrize("bad", [0.0, -2.0])
def test_a_generator_rate_scale_that_is_not_positive_is_refused(bad):
    with pytest.raises(ConfigError, match="--g-lr-scale must be > 0"):
        TrainConfig(g_lr_scale=bad)
