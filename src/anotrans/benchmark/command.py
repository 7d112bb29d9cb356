"""``anotrans benchmark TABLE``: run one of the paper's tables and write its markdown and CSV report.

The same click command backs ``anotrans benchmark`` and ``python benchmarks/paper_tables.py``.
"""

from __future__ import annotations

import datetime
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import torch

from anotrans import api
from anotrans.benchmark import provenance, report
from anotrans.benchmark.presets import PRESETS, get_preset
from anotrans.benchmark.runner import MEASURES, Outcome, Plan, Roots, TrainFn, plan_table, run_cell
from anotrans.benchmark.tables import ROW_LABELS, TABLES, get_table
from anotrans.config import parse_key_values
from anotrans.data.spec import PROTOCOLS
from anotrans.utils.files import atomic_write_bytes

DEFAULT_OUT = Path("benchmarks") / "results"
# Environment variable naming a folder of data sets; its DATA_FOLDERS are the default roots when present.
DATA_ROOT_ENV = "ANOTRANS_DATA_ROOT"
DATA_FOLDERS = {"cifar10": "cifar10", "mvtec": "mvtec_ad"}
# The data kind that ``--root`` sets for each table.
MAIN_DATA = {
    "table1": "cifar10",
    "table2": "folder",
    "table3": "cifar10",
    "table4": "stl10",
    "table5": "mvtec",
}


def default_root(data: str) -> str | None:
    """``$ANOTRANS_DATA_ROOT/<folder>`` of ``data`` when the variable is set and that folder exists.

    An installed package knows no data location of its own; without a root the table's cells show as
    "not run", naming the option to pass.
    """
    base, folder = os.environ.get(DATA_ROOT_ENV), DATA_FOLDERS.get(data)
    if not base or folder is None:
        return None
    path = Path(base).expanduser() / folder
    return str(path.resolve()) if path.is_dir() else None


def run_benchmark(
    plan: Plan,
    out: Path,
    name: str,
    meta: dict[str, str],
    train: TrainFn = api.train,
    echo: Callable[[str], None] = click.echo,
) -> dict[str, Outcome]:
    """Run every cell of ``plan`` (finished ones are read back), rewriting the report after each cell."""
    runs = out / "runs"
    outcomes: dict[str, Outcome] = {}
    start = time.perf_counter()
    _write(plan, outcomes, out, name, meta, start)
    for i, cell in enumerate(plan.cells, 1):
        outcome = run_cell(cell, runs / cell.run_name, train)
        outcomes[cell.key] = outcome
        numbers = " ".join(f"{m} {report.fmt(outcome.values.get(m), None)}" for m in MEASURES)
        detail = numbers if outcome.status == "done" else outcome.reason
        echo(
            f"[{i}/{len(plan.cells)}] {plan.table.name} {ROW_LABELS.get(cell.model, cell.model)} "
            f"{cell.target or cell.data} seed {cell.seed}: {outcome.status}, {detail} "
            f"({outcome.seconds:.0f} s)"
        )
        _write(plan, outcomes, out, name, meta, start)
    return outcomes


def _write(
    plan: Plan, outcomes: dict[str, Outcome], out: Path, name: str, meta: dict[str, str], start: float
) -> None:
    done = sum(o.status == "done" for o in outcomes.values())
    status = "complete" if done == len(plan.cells) else f"partial: {done} of {len(plan.cells)} cells finished"
    cell_seconds = sum(o.seconds for o in outcomes.values())
    meta = {
        **meta,
        "status": status,
        "wall time": f"{(time.perf_counter() - start) / 60:.1f} min this invocation; "
        f"{cell_seconds / 60:.1f} min of cell time in all invocations",
    }
    summaries = report.summarise(plan, outcomes)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{plan.table.name}-{name}"
    atomic_write_bytes(stem.with_suffix(".md"), report.markdown(plan, summaries, meta).encode())
    atomic_write_bytes(stem.with_suffix(".csv"), report.csv_text(plan, summaries, meta).encode())


def describe(plan: Plan, preset: str, extra: dict[str, Any]) -> dict[str, str]:
    """Report metadata: how the numbers were made (the wall time and status are added while running)."""
    meta = {
        "command": provenance.command(),
        "code": provenance.commit(),
        "machine": f"{provenance.machine()}; torch {torch.__version__}, {torch.get_num_threads()} threads",
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "preset": f"`{preset}`: {PRESETS[preset].description}",
    }
    for data, knobs in plan.knobs.items():
        meta[f"{data} knobs"] = (
            f"epochs {knobs.epochs}, batch {knobs.batch_size}, {knobs.image_size} px, "
            f"training images {knobs.max_train_images or 'all'}, "
            f"test images {knobs.max_test_images or 'all'} (seeded, stratified, order kept), "
            f"seeds {', '.join(map(str, knobs.seeds))}"
        )
    meta["options"] = ", ".join(f"{k}={v}" for k, v in extra.items()) or "anotrans defaults"
    meta["measures"] = (
        "honest = AUROC of the model the run reports (its last epoch; with select_epoch=val the epoch with "
        "the best synthetic-validation AUROC), eval mode, the run's score (with score=auto chosen on "
        "validation data); optimistic = max over epochs "
        "of that test AUROC (selected on test labels, as the paper's numbers were); reference protocol = "
        "max over epochs with the networks in train mode (BatchNorm on each test batch), the test set "
        "unshuffled normal-then-abnormal in batches of 128, score 0.9*R + 0.1*L (the released code)"
    )
    return meta


def _cap(value: str) -> int | None:
    return None if value.lower() in ("all", "none") else int(value)


def _names(value: str | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(v.strip() for v in value.split(",") if v.strip())


@click.command("benchmark")
@click.argument("table", type=click.Choice(list(TABLES)))
@click.option(
    "--preset",
    type=click.Choice(list(PRESETS)),
    default="cpu",
    show_default=True,
    help="Budget preset (docs/benchmarks.md).",
)
@click.option("--classes", help="Comma-separated columns to run (paper or on-disk names).")
@click.option("--models", help="Comma-separated rows to run (model names).")
@click.option("--epochs", type=int, help="Training epochs of every cell.")
@click.option("--batch-size", type=int, help="Training batch size.")
@click.option("--image-size", type=int, help="Model input side in pixels.")
@click.option("--max-train-images", type=_cap, help="Cap on training images, or 'all'.")
@click.option("--max-test-images", type=_cap, help="Stratified test subsample, or 'all'.")
@click.option("--seeds", help="Comma-separated seeds, e.g. 0,1,2.")
@click.option("--protocol", type=click.Choice(PROTOCOLS), help="Leave-one-class-out split [default: paper].")
@click.option("--root", help="Data root of the table's own data kind (table1: CIFAR-10).")
@click.option("--cifar10-root", help="CIFAR-10 root [default: $ANOTRANS_DATA_ROOT/cifar10 if present].")
@click.option("--stl10-root", help="STL-10 root (absent: its columns are 'not run').")
@click.option("--mvtec-root", help="MVTec AD root [default: $ANOTRANS_DATA_ROOT/mvtec_ad if present].")
@click.option("--folder-root", help="Table 2 folder set root (absent: 'not run').")
@click.option("--normal-dir", help="Table 2: normal images, relative to --folder-root.")
@click.option("--abnormal-dir", help="Table 2: abnormal images, relative to --folder-root.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), help="Where to train.")
@click.option("--option", "options", multiple=True, help="Any other train option, KEY=VALUE (repeatable).")
@click.option(
    "--out",
    type=click.Path(),
    default=str(DEFAULT_OUT),
    show_default=True,
    help="Folder of the reports; cells go to OUT/runs.",
)
@click.option("--name", help="Report name: OUT/TABLE-NAME.md [default: the preset].")
def benchmark_command(table: str, preset: str, **kw: Any) -> None:
    """Reproduce one of the paper's tables (table1..table5) through the same code path as `train`."""
    knob_names = ("epochs", "batch_size", "image_size", "max_train_images", "max_test_images")
    overrides = {k: kw[k] for k in knob_names if kw[k] is not None}
    if kw["seeds"] is not None:
        overrides["seeds"] = tuple(int(s) for s in _names(kw["seeds"]) or ())
    roots = _roots(table, kw)
    given = {k: kw[k] for k in ("protocol", "device") if kw[k] is not None}
    extra = {**parse_key_values(kw["options"], "--option"), **given}
    plan = plan_table(
        get_table(table),
        get_preset(preset),
        roots,
        overrides,
        _names(kw["classes"]),
        _names(kw["models"]),
        extra,
    )
    out, name = Path(kw["out"]), kw["name"] or preset
    outcomes = run_benchmark(plan, out, name, describe(plan, preset, extra))
    done = sum(o.status == "done" for o in outcomes.values())
    click.echo(f"{done} of {len(plan.cells)} cells finished; wrote {out / f'{table}-{name}.md'} and .csv")


def _roots(table: str, kw: dict[str, Any]) -> Roots:
    """Absolute data roots, so that a resumed run matches whatever the working directory."""
    given = {data: kw[f"{data}_root"] for data in ("cifar10", "stl10", "mvtec", "folder")}
    if kw["root"] is not None:
        given[MAIN_DATA[table]] = kw["root"]
    paths = {k: str(Path(v).resolve()) if v else default_root(k) for k, v in given.items()}
    return Roots(**paths, normal_dir=kw["normal_dir"], abnormal_dir=kw["abnormal_dir"])
