"""ONNX export: every model traces, the graph matches torch on a trained run's test images, metadata."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from tests.conftest import TINY_ANOTRANS, TINY_IMAGE
from tests.deploy.conftest import FAMILY_OPTIONS

import anotrans
from anotrans.data import build_splits
from anotrans.errors import CheckpointError, ConfigError
from anotrans.export.metadata import ModelInfo
from anotrans.export.onnx_export import ScoringGraph, export_run, max_differences, to_onnx
from anotrans.export.runtime import load_onnx
from anotrans.networks import build_model, list_models
from anotrans.scoring.scores import ScoreConfig, Scorer

TOLERANCE = 1e-4


@pytest.mark.parametrize("model", list(FAMILY_OPTIONS))
def test_onnxruntime_matches_torch_on_the_runs_test_images(exported_run, model):
    run_dir, onnx_path = exported_run(model)
    torch_detector = anotrans.load(run_dir, device="cpu")
    onnx_detector = load_onnx(onnx_path)
    test = build_splits(torch_detector.spec).test
    images = torch.stack([test[i]["image"] for i in range(len(test))])
    ours, theirs = onnx_detector.predict(images.numpy()), torch_detector.predict(images)

    assert len(ours.scores) == len(test) == 24
    np.testing.assert_allclose(ours.raw_scores, theirs.raw_scores, rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(ours.scores, theirs.scores, rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(ours.maps, theirs.maps, rtol=0, atol=TOLERANCE)
    assert ours.maps.shape == (24, TINY_IMAGE, TINY_IMAGE)
    # Same decisions, except for a score within float rounding of the threshold (none in practice).
    clear = np.abs(theirs.raw_scores - onnx_detector.threshold) > 1e-6
    np.testing.assert_array_equal(ours.labels[clear], theirs.labels[clear])
    assert clear.mean() > 0.9
    assert ours.scores.std() > 0  # the check means something: the images do not all score alike


def test_metadata_alone_is_enough_to_predict(exported_run):
    run_dir, onnx_path = exported_run("ganomaly")
    saved = json.loads((run_dir / "config.json").read_text())
    proto = onnx.load(onnx_path)
    onnx.checker.check_model(proto, full_check=True)
    props = {p.key: p.value for p in proto.metadata_props}
    info = ModelInfo.from_props(props, str(onnx_path))

    assert (info.model_name, info.image_size, info.channels) == ("ganomaly", TINY_IMAGE, 3)
    assert info.stats == saved["normalisation"] and info.threshold == saved["normalisation"]["threshold"]
    assert info.score == saved["score"]["score"] and info.score_config == saved["score"]
    assert info.anotrans_version == anotrans.__version__ and info.precision == "fp32"
    assert "127.5" in props["preprocessing"] and "val_max - val_min" in props["normalisation"]
    # one input with a dynamic batch axis; the map at the model's resolution
    (image,) = proto.graph.input
    assert [d.dim_param or d.dim_value for d in image.type.tensor_type.shape.dim] == ["batch", 3, 16, 16]
    outputs = {
        o.name: [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim] for o in proto.graph.output
    }
    assert outputs["raw_score"] == ["batch"] and outputs["map"] == ["batch", 16, 16]


@pytest.mark.parametrize("name", [name for name in list_models() if name not in FAMILY_OPTIONS])
def test_every_other_registered_model_exports_and_matches_torch(name):
    """The variants of the families above (CBAM and identity skips, global attention), untrained."""
    torch.manual_seed(0)
    model = build_model(name, image_size=TINY_IMAGE, **FAMILY_OPTIONS.get(name, TINY_ANOTRANS))
    scorer = Scorer(
        ScoreConfig(score="paper", score_norm="zscore"),
        {"component_stats": {"recon": [0.1, 0.2], "latent": [0.3, 0.4]}},
    )
    graph = ScoringGraph(model, scorer)
    info = ModelInfo(name, TINY_IMAGE, 3, "paper", "", {}, {"threshold": 0.0}, "fp32", "0", {})
    data = to_onnx(graph, info).SerializeToString()
    images = np.random.default_rng(0).uniform(-1, 1, (3, 3, TINY_IMAGE, TINY_IMAGE)).astype(np.float32)
    assert max(max_differences(graph, data, images).values()) < TOLERANCE


def test_fp16_export_runs_on_the_cpu_provider(exported_run, tmp_path):
    run_dir, _ = exported_run("ganomaly")
    result = export_run(run_dir, tmp_path / "half.onnx", precision="fp16")
    assert result.info.precision == "fp16"
    assert max(result.differences.values()) < 0.05  # half-precision networks, fp32 score and map
    assert load_onnx(result.path).predict(np.zeros((1, 3, 16, 16), np.float32)).maps.dtype == np.float32


def test_bad_exports_fail_with_a_clear_error(exported_run, tmp_path):
    run_dir, _ = exported_run("ganomaly")
    with pytest.raises(ConfigError, match="--opset must be >= 14"):
        export_run(run_dir, tmp_path / "x.onnx", opset=11)
    with pytest.raises(CheckpointError, match=r"config\.json does not exist"):
        export_run(tmp_path)
    foreign = tmp_path / "foreign.onnx"
    tensor = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
    identity = onnx.helper.make_node("Identity", ["x"], ["y"])
    graph = onnx.helper.make_graph(
        [identity], "g", [tensor], [onnx.helper.make_tensor_value_info("y", 1, [1])]
    )
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)]), foreign)
    with pytest.raises(CheckpointError, match="not an anotrans export"):
        anotrans.load(foreign)
    with pytest.raises(CheckpointError, match="file not found"):
        anotrans.load(tmp_path / "missing.onnx")
