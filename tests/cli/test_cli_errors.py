"""Every subcommand with missing, empty, garbage and wrong-type arguments and run directories.

Each case must end with exit code 2 and a one-line ``error: ...`` (click's own usage errors say
``Error:``), never a Python traceback; an unexpected internal error prints one line and the path of a
crash log holding the full traceback.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import anotrans
from anotrans.api import Detector
from anotrans.cli import cli
from anotrans.networks import build_model
from anotrans.training import checkpoint as ckpt

TINY = {
    "data": "synthetic",
    "image_size": 16,
    "max_train_images": 32,
    "max_test_images": 16,
    "model": "ganomaly",
    "model_options": {"ngf": 8, "nz": 8, "disc_ndf": 8, "disc_nz": 8},
    "batch_size": 16,
    "epochs": 1,
    "progress": False,
}


@pytest.fixture(scope="module")
def places(tmp_path_factory) -> dict[str, Path]:
    """A finished run and broken variants of it, plus garbage files of every kind."""
    root = tmp_path_factory.mktemp("cli-errors")
    run = root / "run"
    anotrans.train(run, **TINY)
    out = {"run": run, "empty_dir": root / "empty"}
    out["empty_dir"].mkdir()

    def variant(name: str, edit) -> None:
        shutil.copytree(run, root / name)
        edit(root / name)
        out[name] = root / name

    def edit_config(**changes):
        def edit(folder: Path) -> None:
            config = json.loads((folder / ckpt.CONFIG_FILE).read_text())
            config.update(changes)
            (folder / ckpt.CONFIG_FILE).write_text(json.dumps(config))

        return edit

    variant("no_weights", lambda d: (d / ckpt.MODEL_FILE).unlink())
    variant(
        "other_weights",
        lambda d: ckpt.save_weights(d / ckpt.MODEL_FILE, build_model("ganomaly", image_size=16)),
    )
    variant("garbage_weights", lambda d: (d / ckpt.MODEL_FILE).write_bytes(b"\x00garbage" * 10))
    variant("garbage_config", lambda d: (d / ckpt.CONFIG_FILE).write_bytes(b"\xff{not json"))
    variant("newer_format", edit_config(format_version=ckpt.CONFIG_FORMAT + 1))
    variant("newer_keys", edit_config(calibration={"kind": "platt"}))
    variant("no_section", edit_config(training=None))
    variant("unfinished", edit_config(normalisation=None))
    variant("garbage_state", lambda d: (d / ckpt.STATE_FILE).write_bytes(b"junk"))
    for name, data in {"empty.yaml": b"", "garbage.yaml": b"\xff\xfe: [", "list.yaml": b"- 1\n- 2\n"}.items():
        (root / name).write_bytes(data)
        out[name.replace(".", "_")] = root / name
    out["garbage_png"] = root / "garbage.png"
    out["garbage_png"].write_bytes(b"\x89PNG garbage")
    out["image_png"] = root / "image.png"
    Image.fromarray(np.zeros((16, 16, 3), dtype=np.uint8)).save(out["image_png"])
    out["a_file"] = out["image_png"]
    out["missing"] = root / "missing"
    return out


NEW = ["train", "--out", "{empty_dir}/r"]
CASES = {
    "train: no --out": ["train"],
    "train: --epochs not a number": ["train", "--out", "{empty_dir}", "--epochs", "many"],
    "train: --epochs 0": [*NEW, "--epochs", "0"],
    "train: --lr negative": [*NEW, "--lr", "-1"],
    "train: --data unknown": [*NEW, "--data", "imagenet"],
    "train: --model unknown": [*NEW, "--model", "resnet"],
    "train: --anomaly-map unknown": [*NEW, "--anomaly-map", "gradient"],
    "train: --model-option no =": [*NEW, "--model-option", "garbage"],
    "train: --model-option unknown": [*NEW, "--model-option", "colour=3"],
    "train: --data folder, missing root": [*NEW, "--data", "folder", "--root", "{missing}"],
    "train: --data folder, empty root": [*NEW, "--data", "folder", "--root", "{empty_dir}"],
    "train: --data cifar10 without root": [*NEW, "--data", "cifar10"],
    "train: --data mvtec, a file as root": [*NEW, "--data", "mvtec", "--root", "{a_file}"],
    "train: --max-image-pixels 0": [*NEW, "--max-image-pixels", "0"],
    "train: --config missing": [*NEW, "--config", "{missing}.yaml"],
    "train: --config empty": [*NEW, "--config", "{empty_yaml}"],
    "train: --config garbage": [*NEW, "--config", "{garbage_yaml}"],
    "train: --config a list": [*NEW, "--config", "{list_yaml}"],
    "train: --config a folder": [*NEW, "--config", "{empty_dir}"],
    "train: --out a file": ["train", "--out", "{a_file}"],
    "train: --resume missing": ["train", "--resume", "{missing}"],
    "train: --resume empty dir": ["train", "--resume", "{empty_dir}"],
    "train: --resume garbage config": ["train", "--resume", "{garbage_config}"],
    "train: --resume newer format": ["train", "--resume", "{newer_format}"],
    "train: --resume newer keys": ["train", "--resume", "{newer_keys}"],
    "train: --resume garbage state": ["train", "--resume", "{garbage_state}"],
    "train: --resume with --lr": ["train", "--resume", "{run}", "--lr", "0.1"],
    "train: --resume and another --out": ["train", "--resume", "{run}", "--out", "{empty_dir}"],
    "test: no run": ["test"],
    "test: missing run": ["test", "{missing}"],
    "test: empty dir": ["test", "{empty_dir}"],
    "test: missing weights": ["test", "{no_weights}"],
    "test: weights of another model": ["test", "{other_weights}"],
    "test: garbage weights": ["test", "{garbage_weights}"],
    "test: newer format": ["test", "{newer_format}"],
    "test: missing section": ["test", "{no_section}"],
    "test: unfinished run": ["test", "{unfinished}"],
    "test: a file as run": ["test", "{a_file}"],
    "test: missing data root": ["test", "{run}", "--data", "folder", "--root", "{missing}"],
    "test: --precision wrong": ["test", "{run}", "--precision", "fp8"],
    "predict: no images": ["predict", "{run}"],
    "predict: missing image": ["predict", "{run}", "{missing}.png"],
    "predict: garbage image": ["predict", "{run}", "{garbage_png}"],
    "predict: empty folder": ["predict", "{run}", "{empty_dir}"],
    "predict: empty dir as run": ["predict", "{empty_dir}", "{image_png}"],
    "predict: weights of another model": ["predict", "{other_weights}", "{image_png}"],
    "predict: --out a file": ["predict", "{run}", "{image_png}", "--out", "{a_file}"],
    "demo: --epochs 0": ["demo", "--epochs", "0"],
    "demo: --seed garbage": ["demo", "--seed", "x"],
    "demo: --out a file": ["demo", "--out", "{a_file}"],
    "models: unknown option": ["models", "--all"],
    "benchmark: unknown table": ["benchmark", "table9"],
    "benchmark: --option garbage": ["benchmark", "table1", "--option", "garbage", "--out", "{empty_dir}/b"],
    "benchmark: --epochs garbage": ["benchmark", "table1", "--epochs", "x"],
    "unknown command": ["fly"],
}  # fmt: skip


@pytest.mark.parametrize("args", list(CASES.values()), ids=list(CASES))
def test_bad_input_is_one_error_line_and_exit_2(places, args):
    argv = [a.format(**{k: str(v) for k, v in places.items()}) for a in args]
    result = CliRunner().invoke(cli, argv, catch_exceptions=True)
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), (
        result.output,
        result.exception,
    )
    assert "Traceback" not in result.output
    assert re.search(r"^(error|Error): \S", result.output, re.MULTILINE), result.output


def test_an_internal_error_prints_one_line_and_the_crash_log(places, monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("an anotrans bug")

    monkeypatch.setattr(Detector, "load", classmethod(broken))
    result = CliRunner().invoke(cli, ["test", str(places["run"])], catch_exceptions=True)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "error: internal error (ZeroDivisionError: an anotrans bug)"
    )
    log = Path(re.search(r"traceback is in (\S+)", lines[0]).group(1))
    text = log.read_text()
    log.unlink()
    assert (
        "Traceback (most recent call last)" in text and "an anotrans bug" in text and "def broken" not in text
    )
