"""Planning cells, resuming finished and interrupted cells, failures, and the rendered reports."""

from __future__ import annotations

import csv
import io

import pytest

from anotrans.benchmark import report
from anotrans.benchmark.command import run_benchmark
from anotrans.benchmark.presets import get_preset
from anotrans.benchmark.runner import Outcome, Roots, plan_table, run_cell
from anotrans.benchmark.tables import get_table
from anotrans.errors import ConfigError
from anotrans.training import checkpoint as ckpt
from anotrans.utils.files import write_json

META = {"command": "anotrans benchmark table3 --preset smoke"}


def _plan(tmp_path, table="table3", **kw):
    roots = Roots(cifar10=str(tmp_path / "cifar"), mvtec=str(tmp_path / "mvtec"))
    (tmp_path / "cifar").mkdir(exist_ok=True)
    (tmp_path / "mvtec" / "bottle").mkdir(parents=True, exist_ok=True)
    return plan_table(get_table(table), get_preset("smoke"), roots, kw.pop("overrides", {}), **kw)


def test_plan_selects_columns_rows_and_reports_missing_data(tmp_path):
    plan = _plan(tmp_path, classes=("frog", "cat"), models=("sagan", "anotrans"), overrides={"seeds": (0, 1)})
    assert sorted({(c.model, c.target, c.seed) for c in plan.cells}) == [
        (m, t, s) for m in ("anotrans", "sagan") for t in ("cat", "frog") for s in (0, 1)
    ]
    cell = plan.cells[0]
    assert cell.options["eval_every_epoch"] and cell.options["abnormal_class"] in ("frog", "cat")
    assert (cell.options["epochs"], cell.options["max_train_images"], cell.options["max_test_images"]) == (
        1,
        200,
        200,
    )
    assert plan.not_run["ganomaly", "frog"] == "not selected (--models)"
    assert plan.not_run["sagan", "bird"] == "not selected (--classes)"
    table5 = _plan(tmp_path, "table5", classes=("bottle", "capsule"))
    assert {c.target for c in table5.cells} == {"bottle"} and "not found" in table5.not_run[
        "sagan", "capsule"
    ]
    table4 = _plan(tmp_path, "table4")
    assert not table4.cells and "--stl10-root" in table4.not_run["anotrans", "bird"]
    assert "LBOT" in _plan(tmp_path, "table2").not_run["anotrans", "folder"]
    with pytest.raises(ConfigError, match="no row"):
        _plan(tmp_path, models=("anotrans-vit",))


def test_protocol_only_for_class_sets_and_run_names_follow_settings(tmp_path):
    cifar = _plan(tmp_path, extra={"protocol": "clean"}).cells[0]
    mvtec = _plan(tmp_path, "table5", extra={"protocol": "clean"}).cells[0]
    assert cifar.options["protocol"] == "clean" and "protocol" not in mvtec.options
    other = _plan(tmp_path, overrides={"epochs": 2}, extra={"protocol": "clean"}).cells[0]
    assert cifar.key == other.key and cifar.run_name != other.run_name
    same = _plan(tmp_path, extra={"protocol": "clean", "progress": True, "device": "cpu"}).cells[0]
    assert same.run_name == cifar.run_name


def test_resume_skips_finished_cells_and_retries_failed_ones(tmp_path, fake_train):
    plan = _plan(tmp_path, overrides={"seeds": (0, 1)})
    out = tmp_path / "results"
    first = fake_train(fail={"sagan"})
    lines: list[str] = []
    outcomes = run_benchmark(plan, out, "smoke", META, first, lines.append)
    assert len(first.calls) == len(plan.cells) == 10 and len(lines) == 10
    assert outcomes[plan.cells[0].key].status == "done" and "honest 0.500" in lines[0]
    assert any("sagan" in line.lower() and "failed" in line and "boom" in line for line in lines)
    md = (out / "table3-smoke.md").read_text()
    assert "status: partial: 8 of 10 cells finished" in md and "RuntimeError: boom" in md

    second = fake_train()
    run_benchmark(plan, out, "smoke", META, second, lines.append)
    assert [c["model"] for c in second.calls] == ["sagan", "sagan"]  # only the failed cells run again
    assert "status: complete" in (out / "table3-smoke.md").read_text()


def test_interrupted_cell_resumes(tmp_path, fake_train):
    cell = _plan(tmp_path).cells[0]
    run_dir = tmp_path / cell.run_name
    write_json(run_dir / ckpt.CONFIG_FILE, {})  # started, no metrics.json: interrupted
    train = fake_train()
    outcome = run_cell(cell, run_dir, train)
    assert train.calls[0]["resume"] and set(train.calls[0]) == {"out", "resume", "progress", "epochs"}
    assert outcome.status == "done" and outcome.values["reference"] == 0.8


def test_report_mean_std_published_and_not_run(tmp_path):
    plan = _plan(
        tmp_path, classes=("frog", "bird"), models=("anotrans", "sagan"), overrides={"seeds": (0, 1)}
    )
    values = {0: (0.5, 0.7, 0.8), 1: (0.7, 0.9, None)}
    outcomes = {
        c.key: Outcome("done", dict(zip(("honest", "optimistic", "reference"), values[c.seed], strict=True)))
        for c in plan.cells
    }
    summaries = report.summarise(plan, outcomes)
    md = report.markdown(plan, summaries, META)
    honest = "| AnoTrans-SAC | honest (the run's own epoch, eval mode) |"
    assert honest + " 0.600 ± 0.141 | 0.600 ± 0.141 | not run" in md
    assert "|  | optimistic (max over epochs) | 0.800 ± 0.141 |" in md
    assert "|  | reference protocol | n/a | n/a | not run" in md  # one seed without it: no mean
    assert "|  | published | 1.000 | 0.944 | 0.960 |" in md  # the paper's values, even where not run
    assert "0.600 ± 0.141 (of 2)" in md  # the average column says how many columns it averages
    assert "- cat, deer, dog, horse, ship, truck (sagan, anotrans): not selected (--classes)" in md
    assert "- frog, bird, cat, deer, dog, horse, ship, truck (ganomaly, skip-ganomaly, anotrans-cbam)" in md
    rows = list(csv.DictReader(line for line in io.StringIO(report.csv_text(plan, summaries, META))
                               if not line.startswith("#")))  # fmt: skip
    frog = next(r for r in rows if r["model"] == "anotrans" and r["column"] == "frog")
    assert (frog["status"], frog["seeds"], frog["honest_mean"], frog["honest_std"]) == (
        "done",
        "2",
        "0.6000",
        "0.1414",
    )
    assert (frog["reference_mean"], frog["published"]) == ("", "1.0")
    cat = next(r for r in rows if r["model"] == "sagan" and r["column"] == "cat")
    assert (cat["status"], cat["reason"], cat["published"]) == (
        "not run",
        "not selected (--classes)",
        "0.951",
    )
    assert report.fmt(0.81234, None) == "0.812"


def test_table5_reports_pixel_auroc_and_aupro_beside_the_image_auroc(tmp_path):
    plan = _plan(tmp_path, "table5", classes=("bottle",))
    metrics = {"honest": 0.9, "optimistic": 0.95, "reference": None, "pixel_auroc": 0.8, "aupro": 0.6}
    summaries = report.summarise(plan, {c.key: Outcome("done", metrics) for c in plan.cells})
    md = report.markdown(plan, summaries, META)
    assert "|  | pixel AUROC (honest) | 0.800 |" in md and "|  | AUPRO (honest) | 0.600 |" in md
    rows = list(csv.DictReader(line for line in io.StringIO(report.csv_text(plan, summaries, META))
                               if not line.startswith("#")))  # fmt: skip
    bottle = next(r for r in rows if r["model"] == plan.cells[0].model and r["column"] == "bottle")
    assert (bottle["pixel_auroc_mean"], bottle["aupro_mean"]) == ("0.8000", "0.6000")
    cifar = _plan(tmp_path, classes=("frog",))
    assert "pixel AUROC" not in report.markdown(cifar, report.summarise(cifar, {}), META)  # no masks
