"""The scores and map kinds added for choosing without test labels (top-k, SSIM, D-feature maps, mix)
and D's quarter-turn score export to ONNX and match torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tests.conftest import TINY_IMAGE
from tests.deploy.conftest import FAMILY_OPTIONS

from anotrans.export.metadata import ModelInfo
from anotrans.export.onnx_export import ScoringGraph, max_differences, to_onnx
from anotrans.networks import build_model
from anotrans.scoring.scores import MIXED, ScoreConfig, Scorer

TOLERANCE = 1e-4


@pytest.mark.parametrize(
    ("score", "anomaly_map"), [("mix", "feature"), ("ssim-topk", "ssim"), ("rotation", "residual")]
)
def test_new_scores_export_and_match_torch(score, anomaly_map):
    torch.manual_seed(0)
    head = {"rotation_head": True} if score == "rotation" else {}
    model = build_model("skip-ganomaly", image_size=TINY_IMAGE, **FAMILY_OPTIONS["skip-ganomaly"], **head)
    stats = {"component_stats": {name: [0.1 * i, 1.0 + i] for i, name in enumerate(MIXED)}}
    graph = ScoringGraph(model, Scorer(ScoreConfig(score=score, anomaly_map=anomaly_map), stats))
    info = ModelInfo("skip-ganomaly", TINY_IMAGE, 3, score, "", {}, {"threshold": 0.0}, "fp32", "0", {})
    data = to_onnx(graph, info).SerializeToString()
    images = np.random.default_rng(0).uniform(-1, 1, (3, 3, TINY_IMAGE, TINY_IMAGE)).astype(np.float32)
    assert max(max_differences(graph, data, images).values()) < TOLERANCE
