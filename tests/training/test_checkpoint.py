"""Atomic writes, weight round trips and the resumable training state."""

from __future__ import annotations

import os
import re

import pytest
import torch

from anotrans.errors import CheckpointError
from anotrans.training import checkpoint as ckpt
from anotrans.training.config import TrainConfig
from anotrans.training.steps import GanUpdater
from anotrans.utils.files import atomic_write_bytes


def test_failed_write_leaves_previous_file_intact(tmp_path, monkeypatch):
    target = tmp_path / "model.safetensors"
    atomic_write_bytes(target, b"old complete file")

    def crash(fd):  # the new bytes are written, then the disk "fails" before the rename
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(target, b"new half")
    assert target.read_bytes() == b"old complete file"
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]  # no temporary file left


def test_weights_round_trip(tmp_path, make_tiny):
    model, other = make_tiny(seed=0), make_tiny(seed=1)
    ckpt.save_weights(tmp_path / "w.safetensors", model)
    ckpt.load_weights(tmp_path / "w.safetensors", other)
    for (k, a), b in zip(model.state_dict().items(), other.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


def test_weights_of_another_model_are_refused(tmp_path, make_tiny):
    ckpt.save_weights(tmp_path / "w.safetensors", make_tiny("ganomaly"))
    with pytest.raises(CheckpointError, match="do not fit"):
        ckpt.load_weights(tmp_path / "w.safetensors", make_tiny())
    with pytest.raises(CheckpointError, match="cannot read"):
        ckpt.load_weights(tmp_path / "missing.safetensors", make_tiny())


def test_training_state_round_trip(tmp_path, make_tiny, batch):
    model = make_tiny()
    updater = GanUpdater(model, TrainConfig(), torch.device("cpu"))
    updater.step(batch)
    extra = {"rng.torch": torch.get_rng_state()}
    ckpt.save_training_state(tmp_path / "s.safetensors", model, updater.optimizers, extra, {"epoch": 3})

    fresh = make_tiny(seed=5)
    fresh_updater = GanUpdater(fresh, TrainConfig(), torch.device("cpu"))
    rest, meta = ckpt.load_training_state(tmp_path / "s.safetensors", fresh, fresh_updater.optimizers)
    assert meta["epoch"] == 3 and torch.equal(rest["rng.torch"], extra["rng.torch"])
    # The same next update from both: weights, BN statistics and Adam moments all came back.
    updater.step(batch)
    fresh_updater.step(batch)
    for (k, a), b in zip(model.state_dict().items(), fresh.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-6), k


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t, k: t.pop(k), "tensor {k} is missing"),
        (lambda t, k: t.update({"extra.weight": torch.zeros(1)}), "tensor extra.weight is not in the model"),
        (lambda t, k: t.update({k: torch.zeros(3, 1)}), r"tensor {k} has shape \[3, 1\]"),
        (lambda t, k: t.update({k: t[k].double()}), "tensor {k} has dtype torch.float64"),
    ],
    ids=["missing", "unexpected", "shape", "dtype"],
)
def test_weights_are_checked_tensor_by_tensor(tmp_path, make_tiny, edit, message):
    from safetensors.torch import save_file

    model = make_tiny()
    tensors = {k: v.clone() for k, v in model.state_dict().items()}
    key = next(k for k, v in tensors.items() if v.is_floating_point() and v.dim() == 4)
    edit(tensors, key)
    save_file(tensors, tmp_path / "w.safetensors")
    expected = r"w.safetensors do not fit .*: " + message.format(k=re.escape(key))
    with pytest.raises(CheckpointError, match=expected):
        ckpt.load_weights(tmp_path / "w.safetensors", make_tiny())
