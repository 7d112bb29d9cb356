"""benchmarks/quality.py: a finished cell's row, the validation-only rule ablation, and the report."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

QUALITY = Path(__file__).resolve().parents[2] / "benchmarks" / "quality.py"


@pytest.fixture
def quality(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("quality_benchmark", QUALITY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "RESULTS", tmp_path / "results")
    return module


def _run(folder: Path) -> None:
    folder.mkdir(parents=True)
    # epoch 2 wins on validation with `residual-max`; the last epoch's best is `disc`
    val = [
        {"disc": 0.6, "residual-max": 0.5},
        {"disc": 0.6, "residual-max": 0.9},
        {"disc": 0.7, "residual-max": 0.6},
    ]
    test = [
        {"disc": 0.7, "residual-max": 0.2},
        {"disc": 0.8, "residual-max": 0.4},
        {"disc": 0.3, "residual-max": 0.9},
    ]
    epochs = [{"val_synth_auroc": v, "test_image_auroc_by_score": t} for v, t in zip(val, test, strict=True)]
    (folder / "epochs.jsonl").write_text("".join(json.dumps(e) + "\n" for e in epochs))
    metrics = {"image_auroc": 0.4, "score": "residual-max", "selected_epoch": 2, "epochs": 3,
               "selection": "rule", "train_seconds": 120.0, "image_auroc_max_over_epochs": 0.9,
               "val_synth_auroc": {"disc": 0.6, "residual-max": 0.9, "paper": None},
               "anomaly_map": "ssim", "pixel_auroc": 0.8, "aupro": None, "n_val": 4}  # fmt: skip
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "config.json").write_text(
        json.dumps({"model": {"name": "anotrans"}, "training": {"select_epoch": "val"}})
    )


def test_a_cell_row_and_the_report(quality, tmp_path):
    _run(tmp_path / "paper-s1")
    row = quality.summarise("paper", 1, tmp_path / "paper-s1")
    assert (row["auroc"], row["train_minutes"], row["max_over_epochs"]) == (0.4, 2.0, 0.9)
    assert (row["last_disc"], row["last_auto"], row["val_epoch_config"]) == (0.3, 0.3, 0.4)
    assert row["val_epoch_rule"] == 0.4  # no `mix` among the formulas: the rule is the argmax
    metrics = tmp_path / "paper-s1" / "metrics.json"
    metrics.write_text(metrics.read_text().replace('"n_val": 4', '"n_val": 0'))
    assert quality.summarise("paper", 1, tmp_path / "paper-s1")["val_epoch_rule"] is None  # no counts
    dev = [{**row, "cell": "dev-x", "seed": seed} for seed in (20, 21)]  # across two blocks of seeds
    # one set of runs on seeds 40-42 (not a multiple of 3 first), then a fresh one from 43
    later = [{**row, "cell": "later", "seed": seed} for seed in (40, 41, 42, 43, 44)]
    quality.write_report(
        [row, {**row, "seed": 2, "auroc": 0.6}, {**row, "seed": 4, "auroc": 0.7}, *dev, *later], 60.0
    )
    text = (tmp_path / "results" / "quality.md").read_text()
    assert row["val_synth"] == 0.9
    same = "0.900 ± 0.000 (n=2)"
    mean = f"| paper | 1-2 | 0.500 ± 0.141 (n=2) | {same} | {same} | 0.800 ± 0.000 (n=2) |"
    assert mean + " - |" in text
    assert "| 0.900 | ssim | 0.800 | - |" in text  # a row's localisation: map kind, pixel AUROC, AUPRO (none)
    assert "| paper | 1 | 0.300 | 0.300 | 0.400 | 0.400 |" in text
    assert "| paper | 4 | 0.700 ± nan (n=1) |" in text  # a later block of seeds has its own line
    assert "| dev-x | 20-21 | 0.400 ± 0.000 (n=2) |" in text  # a development cell: one line
    assert "| later | 40-42 | 0.400 ± 0.000 (n=3) |" in text
    assert "| later | 43-44 | 0.400 ± 0.000 (n=2) |" in text
    assert (tmp_path / "results" / "quality.csv").read_text().count("\n") == 11


def test_the_cifar10_summary_averages_classes_per_seed_then_seeds(quality):
    rows = [
        {"cell": f"cifar10-{c}-recommended", "seed": s, "auroc": a}
        for s, values in ((0, (0.6, 0.7, 0.8)), (1, (0.5, 0.6, 0.7)))
        for c, a in zip(("frog", "bird", "cat"), values, strict=True)
    ]
    rows.append({"cell": "cifar10-frog-recommended", "seed": 2, "auroc": 0.9})  # seed 2 not complete
    lines = quality.cifar10_summary(rows)
    frog = "0.667 ± 0.208 (n=3)"
    assert (
        f"| recommended | {frog} | 0.650 ± 0.071 (n=2) | 0.750 ± 0.071 (n=2) | 0.650 ± 0.071 (n=2) |" in lines
    )
    assert not any(line.startswith("| paper") for line in lines)  # configurations without runs are left out
    assert quality.cifar10_summary(rows[:0]) == []


def test_every_preset_cell_pins_the_lines_the_preset_gained(quality):
    """A cell measured with `--config recommended` must re-run as measured after the shipped preset gains
    a line: each such cell sets every line added since the first preset itself (or the runner does)."""
    from anotrans.api import read_config_file

    first = {"masked_input", "freeze_d_stats", "anomaly_map"}  # `score` changed value at stop 28
    gained = set(read_config_file("recommended")) - first
    assert {"foreign_texture", "ema_decay", "g_lr_scale", "score"} <= gained
    assert "epochs" in gained
    runner = {*quality.DATA, *quality.BASE, "epochs"}  # options() passes these to every cell (--epochs)
    for name, (_, options) in quality.CELLS.items():
        if options.get("config") == "recommended":
            assert gained <= set(options) | runner, (name, gained - set(options) - runner)


def test_anotrans_is_compared_with_each_baseline_seed_by_seed(quality):
    def row(cell, model, seed, auroc):
        return {"cell": cell, "model": model, "seed": seed, "auroc": auroc}

    rows = [
        *(row("x-20", "anotrans", s, a) for s, a in ((1, 0.90), (2, 0.80), (3, 0.70), (7, 0.60))),
        *(row("skip-ganomaly-x-20", "skip-ganomaly", s, a) for s, a in ((1, 0.85), (2, 0.90), (7, 0.50))),
        row("ganomaly-x-20", "ganomaly", 1, 0.5),  # one common seed: no line
        *(row("gpu-y", "anotrans", s, 0.9) for s in (1, 2)),
        *(row("gpu-sagan-y", "sagan", s, 0.8) for s in (1, 2)),
    ]
    lines = quality.model_comparison(rows)
    # differences +0.05, -0.10, +0.10 on seeds 1, 2, 7: mean +0.0167, s.e. 0.1041 / sqrt(3)
    assert "| x-20 | Skip-GANomaly | 1-2, 7 | +0.0167 ± 0.0601 | 2 of 3 |" in lines
    assert "| gpu-y | SAGAN | 1-2 | +0.1000 ± 0.0000 | 2 of 2 |" in lines  # GPU cells keep `gpu-` first
    assert not any("| GANomaly |" in line for line in lines)
    assert quality.model_comparison(rows[-4:-2]) == []  # no baseline: no section
