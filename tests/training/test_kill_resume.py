"""kill -9 at random moments, including inside a checkpoint write: the resumed run ends bit-identical.

The harness (anotrans.benchmark.crash) forks each ``anotrans train`` from one pre-imported process, so
a run costs its training only; benchmarks/reliability.py repeats this 20 times.
"""

from __future__ import annotations

import random
import sys

import pytest

from anotrans.benchmark.crash import (
    Launcher,
    crash_trial,
    random_kills,
    train_args,
    training_seconds,
    unloadable_files,
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and fork are POSIX")


def test_three_kills_resume_to_the_uninterrupted_result(tmp_path):
    with Launcher(tmp_path) as launcher:
        launcher.run(train_args(tmp_path / "reference"))
        assert unloadable_files(tmp_path / "reference") == []
        duration = training_seconds(tmp_path / "reference")
        delays, in_write = random_kills(random.Random(16), 3, 0.6 * duration)
        trial = crash_trial(launcher, tmp_path / "killed", tmp_path / "reference", delays, in_write)
    assert trial.kills >= 2 and trial.kills_in_write == 1 and trial.resumes >= 2, trial
    assert trial.unloadable == [] and trial.differences == [], trial
    assert not list((tmp_path / "killed").glob(".*.tmp"))  # the resumed run removed the killed writes
