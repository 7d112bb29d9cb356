"""End to end through the command line: train, test, predict, resume, and user errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner
from PIL import Image
from safetensors.torch import load_file
from scipy.stats import spearmanr

import anotrans
from anotrans.cli import cli
from anotrans.data import make_synthetic
from anotrans.detector import Detector
from anotrans.training.trainer import Trainer

TINY_RUN = {
    "data": "synthetic",
    "image_size": 16,
    "max_train_images": 48,
    "model": "anotrans",
    "model_options": {
        "embed_dim": 8,
        "num_merges": 2,
        "depths": [1, 1, 1],
        "num_heads": 2,
        "skip_depth": 1,
        "disc_ndf": 8,
        "disc_nz": 8,
    },
    "batch_size": 16,
    "epochs": 3,
    "progress": False,
}


def invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY_RUN))
    return path


@pytest.fixture
def run_dir(tmp_path, config_file):
    out = tmp_path / "run"
    result = invoke(
        "train", "--config", config_file, "--eval-every-epoch", "--select-epoch", "val", "--out", out
    )
    assert result.exit_code == 0, result.output
    assert "image_auroc:" in result.output
    return out


def test_train_writes_a_complete_run_directory(run_dir):
    names = {p.name for p in run_dir.iterdir()}
    assert {"model.safetensors", "config.json", "metrics.json", "scores.csv", "epochs.jsonl"} <= names
    assert "map_profile.safetensors" in names
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key in (
        "image_auroc",
        "image_ap",
        "image_f1",
        "image_f1_max",
        "threshold",
        "train_seconds",
        "test_seconds",
        "train_images_per_second",
        "test_images_per_second",
    ):
        assert metrics[key] is not None, key
    assert set(metrics["image_auroc_by_score"]) == {
        "paper", "latent-neg", "disc", "residual-max", "residual-topk", "ssim-topk", "feature-topk", "mix",
        "zmap-topk",  # every run with 3 or more validation normals fits the map profile
    }  # fmt: skip
    assert "optimistic" in metrics["image_auroc_max_over_epochs_note"]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["threshold"] == metrics["threshold"] and config["training"]["d_steps"] == 2
    assert config["model"]["config"]["embed_dim"] == 8
    epochs = [json.loads(line) for line in (run_dir / "epochs.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in epochs] == [1, 2, 3] and "val_recon" in epochs[0]
    # --select-epoch val: the reported weights are those of the epoch with the best synthetic-validation
    # AUROC of the run's score (the first such epoch on a tie).
    best = max(epochs, key=lambda e: e["val_synth_auroc"]["disc"])["epoch"]
    assert metrics["selected_epoch"] == best
    chosen, saved = load_file(run_dir / "model.safetensors"), load_file(run_dir / "best.safetensors")
    assert all(torch.equal(chosen[k], saved[k]) for k in chosen)
    with open(run_dir / "scores.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 200 and {"path", "label", "raw_score", "score"} <= set(rows[0])
    assert all(0.0 <= float(r["score"]) <= 1.0 for r in rows)


def test_test_and_predict_on_the_trained_run(run_dir, tmp_path):
    result = invoke("test", run_dir)
    assert result.exit_code == 0, result.output
    assert "image_auroc:" in result.output
    trained = json.loads((run_dir / "metrics.json").read_text())
    tested = float(result.output.split("image_auroc:")[1].split()[0])
    assert tested == pytest.approx(trained["image_auroc"], abs=1e-4)

    images = tmp_path / "images"
    images.mkdir()
    synthetic = make_synthetic(4, 24, seed=7, anomaly_ratio=0.5)  # another size: predict resizes
    for i, image in enumerate(synthetic.images):
        Image.fromarray(image).save(images / f"img{i}.png")
    out = tmp_path / "pred"
    result = invoke("predict", run_dir, images / "img0.png", images, "--out", out)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(result.output.splitlines()))
    assert len(rows) == 5 and set(rows[0]) == {
        "path", "score", "raw_score", "label", "pixel_threshold", "anomalous_area"
    }  # fmt: skip
    assert rows[0]["score"] == rows[1]["score"]  # img0 given alone and inside its folder
    assert (out / "predictions.csv").exists() and len(list((out / "heatmaps").glob("*.png"))) == 5

    # The Python API gives the same score for a PIL image as the CLI for its file.
    pred = anotrans.load(run_dir, "cpu").predict([Image.open(images / "img0.png")])
    assert pred.scores[0] == pytest.approx(float(rows[0]["score"]), abs=1e-6)
    assert pred.maps.shape == (1, 16, 16) and pred.labels[0] == int(rows[0]["label"])


def test_bf16_inference_scores_like_fp32(run_dir):
    """``--precision bf16`` casts the networks to bf16; scores and maps stay within bf16 rounding of fp32."""
    images = torch.from_numpy(make_synthetic(64, 16, seed=3, anomaly_ratio=0.5).images)
    x = images.permute(0, 3, 1, 2).float() / 127.5 - 1
    fp32, bf16 = anotrans.load(run_dir, "cpu"), Detector.load(run_dir, "cpu", precision="bf16")
    assert {p.dtype for p in fp32.model.parameters()} == {torch.float32}  # the default is unchanged
    assert {p.dtype for p in bf16.model.parameters()} == {torch.bfloat16}
    want, got = fp32.predict(x, keep_images=True), bf16.predict(x, keep_images=True)
    assert got.maps.dtype == np.float32 and np.array_equal(got.images, want.images)
    assert np.abs(got.maps - want.maps).max() < 0.02
    assert spearmanr(got.raw_scores, want.raw_scores).statistic > 0.99
    spread = np.ptp(want.raw_scores)
    assert np.abs(got.raw_scores - want.raw_scores).max() < 0.05 * spread

    result = invoke("test", run_dir, "--precision", "bf16")
    assert result.exit_code == 0, result.output
    trained = json.loads((run_dir / "metrics.json").read_text())["image_auroc"]
    assert float(result.output.split("image_auroc:")[1].split()[0]) == pytest.approx(trained, abs=0.02)


def test_resume_after_interruption_matches_an_uninterrupted_run(tmp_path, monkeypatch):
    """Also on a learning-rate schedule, which must pick up at the resumed epoch."""
    config_file = tmp_path / "decay.yaml"
    config_file.write_text(yaml.safe_dump({**TINY_RUN, "lr_decay_epochs": 2}))
    whole = tmp_path / "whole"
    assert invoke("train", "--config", config_file, "--out", whole).exit_code == 0

    real_run_epoch = Trainer._run_epoch

    def interrupted(self, epoch):
        if epoch == 2:
            raise KeyboardInterrupt
        return real_run_epoch(self, epoch)

    cut = tmp_path / "cut"
    monkeypatch.setattr(Trainer, "_run_epoch", interrupted)
    assert invoke("train", "--config", config_file, "--out", cut).exit_code != 0
    assert not (cut / "model.safetensors").exists()
    monkeypatch.setattr(Trainer, "_run_epoch", real_run_epoch)
    result = invoke("test", cut)
    assert result.exit_code == 2 and "unfinished" in result.output

    result = invoke("train", "--resume", cut)
    assert result.exit_code == 0, result.output
    a, b = load_file(whole / "model.safetensors"), load_file(cut / "model.safetensors")
    for key in a:
        np.testing.assert_allclose(a[key].numpy(), b[key].numpy(), rtol=1e-5, atol=1e-6, err_msg=key)
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (whole, cut))
    assert ma["image_auroc"] == pytest.approx(mb["image_auroc"], abs=1e-6)
    assert len((cut / "epochs.jsonl").read_text().splitlines()) == 3


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["train", "--model", "nope", "--out", "x"], ["unknown model 'nope'", "anotrans"]),
        (["train", "--score", "bogus", "--out", "x"], ["--score", "paper", "residual-max"]),
        (["train", "--lambda", "2", "--out", "x"], ["--lambda", "[0, 1]"]),
        (["train", "--lr-decay-epochs", "99", "--out", "x"], ["--lr-decay-epochs", "between 0 and --epochs"]),
        (["train", "--foreign-texture", "2", "--out", "x"], ["--foreign-texture", "probability"]),
        (["train", "--rotation-loss", "-1", "--out", "x"], ["--rotation-loss", ">= 0"]),
        (["train", "--score", "rotation", "--out", "x"], ["--score rotation", "--rotation-loss"]),
        (["train", "--data", "cifar10", "--out", "x"], ["root"]),
        (["train", "--data", "synthetic"], ["--out"]),
        (["train", "--precision", "fp8", "--out", "x"], ["--precision", "bf16"]),
        (["test", "no-such-run"], ["config.json"]),
    ],
)
def test_user_errors_exit_2_with_a_message_naming_the_option(tmp_path, monkeypatch, args, needles):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output


def test_models_lists_every_registered_model():
    result = invoke("models")
    assert result.exit_code == 0
    for name in ("anotrans", "anotrans-cbam", "ganomaly", "skip-ganomaly", "sagan"):
        assert name in result.output


def test_reference_eval_is_recorded_and_leaves_training_unchanged(tmp_path):
    """The train-mode measurement restores every buffer, so the trained weights are bit-identical."""
    options = {**TINY_RUN, "epochs": 2}
    plain = anotrans.train(tmp_path / "plain", **options)
    with_ref = anotrans.train(tmp_path / "ref", reference_eval=True, **options)
    assert "image_auroc_reference_protocol_max_over_epochs" not in plain.metrics
    assert 0 <= with_ref.metrics["image_auroc_reference_protocol_max_over_epochs"] <= 1
    assert (tmp_path / "plain" / "model.safetensors").read_bytes() == (
        tmp_path / "ref" / "model.safetensors"
    ).read_bytes()
