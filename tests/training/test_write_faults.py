"""Write faults and concurrent runs: a failed save names the path and leaves the last checkpoint usable."""

from __future__ import annotations

import errno
import json
import os
import tempfile

import pytest
import torch
from click.testing import CliRunner

import anotrans
from anotrans.cli import cli
from anotrans.config import read_run_config
from anotrans.errors import CheckpointError, WriteError
from anotrans.networks.registry import build_model_from_config
from anotrans.training import checkpoint as ckpt
from anotrans.training.config import TrainConfig
from anotrans.training.runlock import run_lock
from anotrans.training.state import load_state
from anotrans.training.steps import GanUpdater

from .tiny import TINY_RUN


def _saved_epoch(run_dir) -> int:
    model = build_model_from_config(read_run_config(run_dir).model)
    updater = GanUpdater(model, TrainConfig(), torch.device("cpu"))
    return load_state(run_dir / ckpt.STATE_FILE, updater)[0].epoch


def _no_space(fd):
    raise OSError(errno.ENOSPC, "No space left on device")


def _read_only(*args, **kwargs):
    raise OSError(errno.EROFS, "Read-only file system")


@pytest.mark.parametrize(
    ("target", "fault", "words"),
    [
        ((os, "fsync"), _no_space, r"No space left on device \[ENOSPC\]"),
        ((tempfile, "mkstemp"), _read_only, r"Read-only file system \[EROFS\]"),
    ],
    ids=["disk-full", "read-only"],
)
def test_a_failed_save_names_the_path_and_keeps_the_last_checkpoint(
    tmp_path, monkeypatch, target, fault, words
):
    anotrans.train(tmp_path, **{**TINY_RUN, "epochs": 2})
    before = (tmp_path / ckpt.STATE_FILE).read_bytes()
    monkeypatch.setattr(*target, fault)
    with pytest.raises(WriteError, match=rf"cannot write {tmp_path}/\S+: {words}; any previous"):
        anotrans.train(tmp_path, resume=True, epochs=3)
    monkeypatch.undo()
    assert (tmp_path / ckpt.STATE_FILE).read_bytes() == before and _saved_epoch(tmp_path) == 2
    assert not list(tmp_path.glob(".*.tmp"))
    assert anotrans.train(tmp_path, resume=True, epochs=3).metrics["epochs"] == 3  # the disk is back


def test_a_second_train_on_the_same_run_directory_refuses(tmp_path):
    with run_lock(tmp_path):  # a first run holds the directory
        busy = rf"{tmp_path} is in use by another `anotrans train` \(pid {os.getpid()}\)"
        with pytest.raises(CheckpointError, match=busy):
            anotrans.train(tmp_path, **TINY_RUN)
        result = CliRunner().invoke(cli, ["train", "--data", "synthetic", "--out", str(tmp_path)])
        assert result.exit_code == 2 and "error: " in result.output and "in use by another" in result.output
        assert not (tmp_path / ckpt.CONFIG_FILE).exists()
    anotrans.train(tmp_path, **TINY_RUN)  # released: the lock dies with its holder


def test_resume_in_the_middle_of_an_epoch_is_bitwise(tmp_path, monkeypatch):
    """A crash after a mid-epoch checkpoint (here an exception at update 10 of 3 x 6) resumes exactly."""
    options = {**TINY_RUN, "epochs": 3, "max_train_images": 64, "batch_size": 8, "checkpoint_every": 4,
               "masked_input": 0.5, "threads": 1}  # fmt: skip
    whole = anotrans.train(tmp_path / "whole", **options)
    calls, step = [0], GanUpdater.step

    def crashing_step(self, x):
        calls[0] += 1
        if calls[0] == 10:
            raise KeyboardInterrupt
        return step(self, x)

    monkeypatch.setattr(GanUpdater, "step", crashing_step)
    with pytest.raises(KeyboardInterrupt):
        anotrans.train(tmp_path / "cut", **options)
    monkeypatch.undo()
    # The last checkpoint was taken inside epoch 2, after update 8 (7 per epoch, one every 4).
    model = build_model_from_config(read_run_config(tmp_path / "cut").model)
    run, progress = load_state(
        tmp_path / "cut" / ckpt.STATE_FILE, GanUpdater(model, TrainConfig(), torch.device("cpu"))
    )
    assert run.epoch == 1 and progress is not None and progress.batches == 1
    resumed = anotrans.train(tmp_path / "cut", resume=True)
    for name in ("model.safetensors", "epochs.jsonl"):
        a, b = ((d / name).read_bytes() for d in (tmp_path / "whole", tmp_path / "cut"))
        if name == "epochs.jsonl":  # timings differ
            a, b = (_untimed(x) for x in (a, b))
        assert a == b, name
    assert resumed.metrics["image_auroc"] == whole.metrics["image_auroc"]


def _untimed(raw: bytes) -> list[dict]:
    return [
        {k: v for k, v in json.loads(line).items() if k not in ("seconds", "images_per_second")}
        for line in raw.decode().splitlines()
    ]


def test_a_fresh_run_never_resumes_an_older_runs_checkpoint(tmp_path, monkeypatch):
    anotrans.train(tmp_path, **{**TINY_RUN, "epochs": 2})

    def killed(self, epoch):
        raise KeyboardInterrupt  # the new run dies before its first checkpoint

    monkeypatch.setattr("anotrans.training.trainer.Trainer._run_epoch", killed)
    with pytest.raises(KeyboardInterrupt):
        anotrans.train(tmp_path, **{**TINY_RUN, "epochs": 3, "seed": 1})
    assert not (tmp_path / ckpt.STATE_FILE).exists()
    assert read_run_config(tmp_path).training.seed == 1
