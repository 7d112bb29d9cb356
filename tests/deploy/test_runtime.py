"""The torch-free path: ``anotrans predict model.onnx`` and ``anotrans.load("model.onnx")`` import no torch
and write what the torch path writes."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import textwrap

import numpy as np
from click.testing import CliRunner
from PIL import Image

from anotrans.cli import cli


def _write_images(folder):
    """Files of other sizes and modes than the model's, so the shared resize/convert code is exercised."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)).save(folder / "a.png")
    Image.fromarray(rng.integers(0, 256, (20, 20), dtype=np.uint8)).save(folder / "b.jpg")
    Image.fromarray(rng.integers(0, 256, (16, 16, 4), dtype=np.uint8)).save(folder / "c.png")
    return folder


def _rows(text):
    return list(csv.DictReader(text.splitlines()))


def test_onnx_predict_imports_no_torch_and_writes_the_torch_paths_outputs(exported_run, tmp_path):
    run_dir, onnx_path = exported_run("ganomaly")
    images = _write_images(tmp_path / "images")
    onnx_out, torch_out = tmp_path / "onnx", tmp_path / "torch"
    script = textwrap.dedent(
        f"""
        import sys
        import anotrans
        from anotrans.console import main

        sys.argv = ["anotrans", "predict", {str(onnx_path)!r}, {str(images)!r}, "--out", {str(onnx_out)!r}]
        try:
            main()
        except SystemExit as exc:
            assert exc.code in (0, None), exc.code
        assert len(anotrans.load({str(onnx_path)!r}).predict({str(images)!r}).scores) == 3
        print("torch imported:", "torch" in sys.modules)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=dict(os.environ), timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("torch imported: False")

    result = CliRunner().invoke(cli, ["predict", str(run_dir), str(images), "--out", str(torch_out)])
    assert result.exit_code == 0, result.output
    ours = _rows((onnx_out / "predictions.csv").read_text())
    theirs = _rows((torch_out / "predictions.csv").read_text())
    assert (
        [r["path"] for r in ours]
        == [r["path"] for r in theirs]
        == [str(images / n) for n in ["a.png", "b.jpg", "c.png"]]
    )
    assert [r["label"] for r in ours] == [r["label"] for r in theirs]
    for a, b in zip(ours, theirs, strict=True):
        assert abs(float(a["raw_score"]) - float(b["raw_score"])) < 1e-4
        assert abs(float(a["score"]) - float(b["score"])) < 1e-4
    heatmaps = sorted(p.name for p in (onnx_out / "heatmaps").iterdir())
    assert heatmaps == sorted(p.name for p in (torch_out / "heatmaps").iterdir())
    assert heatmaps == ["00000_a.png", "00001_b.png", "00002_c.png"]


def test_the_cli_exports_routes_onnx_models_and_reports_bad_ones(exported_run, tmp_path):
    run_dir, onnx_path = exported_run("ganomaly")
    images = _write_images(tmp_path / "images")
    result = CliRunner().invoke(cli, ["export", str(run_dir), "--out", str(tmp_path / "m.onnx")])
    assert (
        result.exit_code == 0 and f"wrote {tmp_path / 'm.onnx'} (ganomaly, fp32, opset 17)" in result.output
    )
    differences = result.output.split("max |difference|: ")[1]
    assert all(float(part.split()[1]) < 1e-4 for part in differences.split(", "))
    result = CliRunner().invoke(cli, ["predict", str(onnx_path), str(images / "a.png")])
    header = "path,score,raw_score,label,pixel_threshold,anomalous_area\n"
    assert result.exit_code == 0 and result.output.startswith(header)
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    result = CliRunner().invoke(cli, ["predict", str(tmp_path / "bad.onnx"), str(images)])
    assert result.exit_code == 2 and "onnxruntime cannot load this model" in result.output
