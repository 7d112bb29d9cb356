"""Training-side wiring of the honest choices: no test labels read, --val-split 0, frozen D statistics."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

import anotrans
from anotrans.errors import ConfigError
from anotrans.networks.discriminator import Discriminator
from anotrans.scoring.profile import MapProfile
from anotrans.training.steps import frozen_bn_stats

from .tiny import TINY_RUN


def test_shuffled_test_labels_give_the_same_choices(tmp_path, monkeypatch):
    from anotrans.data import build as build_module

    real_build = build_module.build_splits

    def shuffled(spec):
        splits = real_build(spec)
        labels = np.random.default_rng(0).permutation(splits.test.labels)
        splits.test.entries = [
            type(e)(e.path, int(lab), e.mask, e.row)
            for e, lab in zip(splits.test.entries, labels, strict=True)
        ]
        return splits

    options = {
        **TINY_RUN,
        "epochs": 2,
        "select_epoch": "val",
        "score": "auto",
        "anomaly_map": "auto",
        "threads": 1,
    }
    honest = anotrans.train(tmp_path / "a", **options).metrics
    monkeypatch.setattr(anotrans.api, "build_splits", shuffled)
    other = anotrans.train(tmp_path / "b", **options).metrics
    keys = (
        "selected_epoch",
        "score",
        "threshold",
        "val_synth_auroc",
        "score_choice",
        "anomaly_map",
        "map_choice",
    )
    assert {k: honest[k] for k in keys} == {k: other[k] for k in keys}
    choice = honest["map_choice"]  # the map kind with the best synthetic-validation pixel AUROC
    assert honest["anomaly_map"] == choice["anomaly_map"] != "auto"
    assert choice["val_synth_pixel_auroc"] == max(v for v in choice["candidates"].values() if v is not None)
    saved = json.loads((tmp_path / "a" / "config.json").read_text())["score"]
    assert saved["anomaly_map"] == honest["anomaly_map"]
    a, b = (MapProfile.load(tmp_path / run) for run in ("a", "b"))  # zmap-topk's: validation normals only
    assert (a.map_kind, a.sigma) == (b.map_kind, b.sigma)
    assert torch.equal(a.mean, b.mean) and torch.equal(a.scale, b.scale)
    assert honest["image_auroc"] != pytest.approx(other["image_auroc"])  # the test labels did change


def test_val_split_zero_is_the_papers_protocol_and_refuses_choices(tmp_path):
    metrics = anotrans.train(tmp_path / "p", **{**TINY_RUN, "val_split": 0}).metrics
    assert (
        metrics["n_val"] == 32 and "no validation split" in metrics["selection"]
    )  # fitted on training normals
    assert metrics["val_synth_auroc"] is None and metrics["image_auroc"] is not None
    with pytest.raises(ConfigError, match=r"--score auto .*raise --val-split"):
        anotrans.train(tmp_path / "q", **{**TINY_RUN, "val_split": 0, "score": "auto"})
    with pytest.raises(ConfigError, match=r"--anomaly-map auto .*raise --val-split"):
        anotrans.train(tmp_path / "r", **{**TINY_RUN, "val_split": 0, "anomaly_map": "auto"})


def test_frozen_bn_stats_keep_running_statistics_but_normalise_by_the_batch():
    d = Discriminator(16, 3, 8, 8).train()
    before = [b.clone() for b in d.buffers() if b.dtype.is_floating_point]
    x = torch.randn(4, 3, 16, 16) * 3 + 2
    with frozen_bn_stats(d):
        logits, _ = d(x)
    after = [b for b in d.buffers() if b.dtype.is_floating_point]
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
    moved, _ = d(x)  # outside the context the statistics move again, and the output was the same
    assert torch.allclose(logits, moved)
    assert not all(torch.equal(a, b) for a, b in zip(before, d.buffers(), strict=False))
    assert all(m.momentum == 0.1 for m in d.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_the_recommended_preset_is_shipped_and_valid():
    from anotrans.api import build_configs, read_config_file

    options = read_config_file("recommended")
    _, train, score = build_configs(options)
    assert (train.select_epoch, score.score, train.freeze_d_stats) == ("val-1se", "zmap-topk", True)
    assert score.smoothing_sigma == 1.0  # what zmap-topk was kept with (no smoothing choice without auto)
    assert score.anomaly_map == "auto"
    assert train.masked_input == 0.25
    assert (train.ema_decay, train.lr_decay_share, train.g_lr_scale, train.epochs) == (0.98, 0.5, 3.0, 20)
    assert [dataclasses.replace(train, epochs=e).decay_epochs for e in (1, 20)] == [0, 10]  # any --epochs


def test_val_1se_reports_the_latest_epoch_within_one_standard_error(tmp_path):
    from anotrans.data.anomalies import COPIES
    from anotrans.scoring.selection import auroc_standard_error, epoch_criterion

    options = {**TINY_RUN, "epochs": 4, "select_epoch": "val-1se", "score": "auto", "threads": 1}
    metrics = anotrans.train(tmp_path / "r", **options).metrics
    history = [json.loads(line) for line in (tmp_path / "r" / "epochs.jsonl").read_text().splitlines()]
    counts = metrics["n_val"], COPIES * metrics["n_val"]
    criteria = [epoch_criterion(r, "auto", *counts) for r in history]
    best = max(criteria)
    within = [i + 1 for i, c in enumerate(criteria) if c >= best - auroc_standard_error(best, *counts)]
    assert metrics["selected_epoch"] == max(within)
    assert metrics["selection"].startswith("latest epoch within one standard error")
