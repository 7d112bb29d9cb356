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
from anotrans.scoring.profile import MapProfile
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


def test_zmap_exports_with_its_profile_as_constants_and_matches_torch():
    torch.manual_seed(0)
    model = build_model("skip-ganomaly", image_size=TINY_IMAGE, **FAMILY_OPTIONS["skip-ganomaly"])
    rng = np.random.default_rng(1)
    mean = torch.from_numpy(rng.uniform(0, 0.2, (TINY_IMAGE, TINY_IMAGE))).float()
    scale = torch.from_numpy(rng.uniform(0.05, 0.3, (TINY_IMAGE, TINY_IMAGE))).float()
    profile = MapProfile(mean, scale, "ssim", 1.0)
    scorer = Scorer(ScoreConfig(score="zmap-topk", anomaly_map="ssim"), {})
    graph = ScoringGraph(model, scorer, profile=profile)
    info = ModelInfo("skip-ganomaly", TINY_IMAGE, 3, "zmap-topk", "", {}, {"threshold": 0.0}, "fp32", "0", {})
    data = to_onnx(graph, info).SerializeToString()
    images = np.random.default_rng(0).uniform(-1, 1, (3, 3, TINY_IMAGE, TINY_IMAGE)).astype(np.float32)
    assert max(max_differences(graph, data, images).values()) < TOLERANCE
    with torch.no_grad():
        raw, maps, _ = graph(torch.from_numpy(images))
    assert torch.allclose(raw, profile.score(maps), atol=1e-6)  # the graph's score is the profile's
