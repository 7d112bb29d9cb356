"""`anotrans demo`: options reach the run, and its run directory works with `predict`."""

from __future__ import annotations

import csv
import io
import json

from click.testing import CliRunner

from anotrans.cli import cli
from anotrans.demo import DEMO_OPTIONS, DEMO_SAMPLES
from anotrans.training.config import TrainConfig


def test_demo_writes_a_run_that_predict_reads(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--out", str(out), "--epochs", "3", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "image_auroc[disc]:" in result.output
    assert "pixel_auroc:" in result.output and (out / "report.html").exists()  # the synthetic set has masks
    assert f"anotrans predict {out}" in result.output
    config = json.loads((out / "config.json").read_text())
    assert config["training"]["epochs"] == 3 and config["training"]["seed"] == 3
    assert TrainConfig.from_dict(config["training"]).decay_epochs == 1  # the demo's 16 of 40, in proportion
    assert config["training"]["masked_input"] == DEMO_OPTIONS["masked_input"]
    assert config["model"]["config"]["embed_dim"] == DEMO_OPTIONS["model_options"]["embed_dim"]
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 3
    samples = sorted((out / "samples").glob("*.png"))
    assert len(samples) == 2 * DEMO_SAMPLES

    predicted = CliRunner().invoke(cli, ["predict", str(out), str(out / "samples")])
    assert predicted.exit_code == 0, predicted.output
    rows = list(csv.DictReader(io.StringIO(predicted.output)))
    assert sorted(r["path"].rsplit("/", 1)[-1] for r in rows) == [s.name for s in samples]
    assert all(0.0 <= float(r["score"]) <= 1.0 for r in rows)


def test_demo_rejects_a_bad_epoch_count(tmp_path):
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path / "d"), "--epochs", "0"])
    assert result.exit_code == 2
    assert "--epochs" in result.output
