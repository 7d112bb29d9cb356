"""A run scored by ``zmap-topk``: the profile it saves, its leave-one-out threshold, its epoch rule,
and the same scores from every way of loading it."""

from __future__ import annotations

import csv
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from tests.training.tiny import TINY_RUN

import anotrans
from anotrans.config import check_validation, read_run_config
from anotrans.data.anomalies import COPIES
from anotrans.data.build import build_splits
from anotrans.detector import Detector
from anotrans.errors import ConfigError
from anotrans.scoring.profile import PROFILE_FILE, leave_one_out_scores
from anotrans.scoring.scores import ScoreConfig, compute_components, eval_mode
from anotrans.scoring.selection import epoch_criterion, selected_epoch
from anotrans.training.config import TrainConfig


def test_a_zmap_run_fits_saves_and_uses_its_profile(tmp_path):
    run = tmp_path / "r"
    options = {
        **TINY_RUN,
        "epochs": 3,
        "score": "zmap-topk",
        "anomaly_map": "auto",
        "select_epoch": "val-1se",
    }
    metrics = anotrans.train(run, **options, threads=1).metrics
    assert (run / PROFILE_FILE).exists() and metrics["score"] == "zmap-topk"
    assert metrics["image_auroc"] == metrics["image_auroc_by_score"]["zmap-topk"]
    assert "leave-one-out" in metrics["selection"]
    detector = Detector.load(run, "cpu")
    assert (detector.profile.map_kind, detector.profile.sigma) == (metrics["anomaly_map"], 1.0)

    # the threshold: the 95 % quantile of the validation normals' scores, each against the other normals
    splits = build_splits(read_run_config(run).data)
    normals = torch.stack([splits.val[i]["image"] for i in range(len(splits.val))])
    with eval_mode(detector.model):
        maps = compute_components(detector.model, normals, 1.0, map_kind=metrics["anomaly_map"]).maps
    expected = np.quantile(leave_one_out_scores(maps).numpy(), 0.95)
    assert detector.scorer.threshold == pytest.approx(expected, rel=1e-5)

    # the epoch: compared by --score auto's per-epoch value (a profile exists only for the final weights)
    history = [json.loads(line) for line in (run / "epochs.jsonl").read_text().splitlines()]
    counts = metrics["n_val"], COPIES * metrics["n_val"]
    criteria = [epoch_criterion(r, "zmap-topk", *counts) for r in history]
    assert criteria == [epoch_criterion(r, "auto", *counts) for r in history]
    assert metrics["selected_epoch"] == selected_epoch("val-1se", criteria, *counts) + 1

    # predict on the test images gives the raw scores the run wrote
    rows = list(csv.DictReader((run / "scores.csv").read_text().splitlines()))
    images = torch.stack([splits.test[i]["image"] for i in range(len(rows))])
    raw = detector.predict(images).raw_scores
    assert np.allclose(raw, [float(r["raw_score"]) for r in rows], atol=1e-5)


def test_zmap_needs_three_validation_normals():
    with pytest.raises(ConfigError, match=r"--score zmap-topk .* needs 3 or more; this run holds out 2"):
        check_validation(SimpleNamespace(val=[0, 1]), TrainConfig(), ScoreConfig(score="zmap-topk"))
    check_validation(SimpleNamespace(val=[0, 1, 2]), TrainConfig(), ScoreConfig(score="zmap-topk"))
