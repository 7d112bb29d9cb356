"""Table runs: plan the cells (model x target x seed), train each through ``anotrans.train``, collect.

Every cell is an ordinary run directory written by the same code path as ``anotrans train``, with the
test AUROC measured after every epoch. A cell is finished when its metrics.json exists, so an
interrupted table resumes where it stopped (an interrupted cell resumes from its last epoch), and
partial reports are rewritten after every cell.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from anotrans import api
from anotrans.benchmark.presets import Knobs, Preset, resolve
from anotrans.benchmark.tables import Column, Table
from anotrans.config import RESUMABLE_OPTIONS
from anotrans.errors import ConfigError
from anotrans.training import checkpoint as ckpt
from anotrans.utils.files import read_json, write_json

log = logging.getLogger(__name__)

TIME_FILE = "benchmark_time.json"  # wall seconds of the cell, training and per-epoch evaluation together
ERROR_FILE = "benchmark_error.txt"
# The three numbers of a cell, by the metrics.json key they come from.
MEASURES = {
    "honest": "image_auroc",
    "optimistic": "image_auroc_max_over_epochs",
    "reference": "image_auroc_reference_protocol_max_over_epochs",
}
# Where the target of a column goes in the train options, per data kind.
_TARGET_OPTION = {"cifar10": "abnormal_class", "stl10": "abnormal_class", "mvtec": "category"}
_CLASS_SETS = ("cifar10", "stl10")

TrainFn = Callable[..., Any]
# Options that do not change what a cell computes, so they are left out of its run directory's name.
_NOT_IN_NAME = frozenset({"device", "workers", "progress"})


@dataclasses.dataclass
class Roots:
    """Where each data kind lives; None = not on this machine (its columns are reported as not run)."""

    cifar10: str | None = None
    stl10: str | None = None
    mvtec: str | None = None
    folder: str | None = None
    normal_dir: str | None = None
    abnormal_dir: str | None = None

    def missing(self, data: str, target: str | None) -> str | None:
        """Why ``data``/``target`` cannot run here, or None when it can."""
        root = getattr(self, data)
        if data == "folder":
            if root is None or self.normal_dir is None or self.abnormal_dir is None:
                return (
                    "LBOT is private; pass --folder-root, --normal-dir and --abnormal-dir to run a folder set"
                )
            return None if Path(root).is_dir() else f"folder set {root} not found"
        flag = f"--{data}-root"
        if root is None:
            return f"{data} is not on this machine (pass {flag})"
        where = Path(root) / target if data == "mvtec" and target else Path(root)
        return None if where.is_dir() else f"{where} not found (pass {flag})"


@dataclasses.dataclass
class Cell:
    """One training run: a table row's model on one target with one seed."""

    model: str
    column: str
    data: str
    target: str | None
    seed: int
    options: dict[str, Any]

    @property
    def key(self) -> str:
        return f"{self.data}/{self.target or self.data}/{self.model}/seed{self.seed}"

    @property
    def run_name(self) -> str:
        """``key`` plus a digest of the options: other settings never reuse (or clash with) this run."""
        fixed = {k: v for k, v in self.options.items() if k not in _NOT_IN_NAME}
        digest = hashlib.sha256(json.dumps(fixed, sort_keys=True, default=str).encode()).hexdigest()
        return f"{self.key}-{digest[:10]}"


@dataclasses.dataclass
class Outcome:
    """A cell's result: ``values`` maps each of MEASURES to an AUROC (None = not measured)."""

    status: str  # "done" or "failed"
    values: dict[str, float | None] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0
    reason: str = ""


@dataclasses.dataclass
class Plan:
    """The cells of a table run, and the (row, column) pairs that will not run, with the reason."""

    table: Table
    cells: list[Cell]
    not_run: dict[tuple[str, str], str]
    knobs: dict[str, Knobs]


def _selected(column: Column, classes: tuple[str, ...] | None) -> tuple[str | None, ...]:
    """The column's targets chosen by ``classes`` (paper or on-disk names); all when None."""
    if classes is None:
        return column.targets
    if len(column.targets) == 1:
        return column.targets if {column.name, column.targets[0]} & set(classes) else ()
    return tuple(t for t in column.targets if t in classes)


def plan_table(
    table: Table,
    preset: Preset,
    roots: Roots,
    overrides: dict[str, Any],
    classes: tuple[str, ...] | None = None,
    models: tuple[str, ...] | None = None,
    extra: dict[str, Any] | None = None,
) -> Plan:
    """Every cell of ``table`` under ``preset`` (knob ``overrides``, column/row selections, extra options)."""
    unknown = sorted(set(models or ()) - set(table.rows))
    if unknown:
        raise ConfigError(f"{table.name} has no row(s) {', '.join(unknown)}; rows: {', '.join(table.rows)}")
    classes = classes if classes is not None else preset.classes.get(table.name)
    cells: list[Cell] = []
    not_run: dict[tuple[str, str], str] = {}
    knobs = {c.data: resolve(preset, c.data, overrides) for c in table.columns}
    for column in table.columns:
        targets = _selected(column, classes)
        reasons = [r for r in (roots.missing(column.data, t) for t in targets) if r]
        reason = reasons[0] if reasons else None if targets else "not selected (--classes)"
        for model in table.rows:
            if models is not None and model not in models:
                not_run[model, column.name] = "not selected (--models)"
            elif reason:
                not_run[model, column.name] = reason
            else:
                cells += [
                    _cell(model, column, t, seed, knobs[column.data], roots, extra or {})
                    for t in targets
                    for seed in knobs[column.data].seeds
                ]
    return Plan(table, cells, not_run, knobs)


def _cell(
    model: str,
    column: Column,
    target: str | None,
    seed: int,
    knobs: Knobs,
    roots: Roots,
    extra: dict[str, Any],
) -> Cell:
    data = column.data
    options: dict[str, Any] = {
        "data": data,
        "root": getattr(roots, data),
        "model": model,
        "seed": seed,
        "epochs": knobs.epochs,
        "batch_size": knobs.batch_size,
        "image_size": knobs.image_size,
        "max_train_images": knobs.max_train_images,
        "max_test_images": knobs.max_test_images,
        "eval_every_epoch": True,
        "reference_eval": True,
        "progress": False,
        **extra,
    }
    if data in _TARGET_OPTION:
        options[_TARGET_OPTION[data]] = target
    if data == "folder":
        options.update(normal_dir=roots.normal_dir, abnormal_dir=roots.abnormal_dir)
    if data not in _CLASS_SETS:
        options.pop("protocol", None)  # one split only: --protocol applies to leave-one-class-out sets
    return Cell(model, column.name, data, target, seed, options)


def read_outcome(run_dir: Path) -> Outcome:
    """The three numbers of a finished run directory."""
    metrics = read_json(run_dir / ckpt.METRICS_FILE)
    values = {name: metrics.get(key) for name, key in MEASURES.items()}
    timing = run_dir / TIME_FILE
    return Outcome("done", values, read_json(timing)["seconds"] if timing.exists() else 0.0)


def run_cell(cell: Cell, run_dir: Path, train: TrainFn = api.train) -> Outcome:
    """Train ``cell`` into ``run_dir`` (named by ``cell.run_name``) unless it finished there already.

    A run directory with a config.json but no metrics.json was interrupted: it resumes from its last epoch.
    """
    if (run_dir / ckpt.METRICS_FILE).exists():
        return read_outcome(run_dir)
    start = time.perf_counter()
    try:
        if (run_dir / ckpt.CONFIG_FILE).exists():
            resumable = {k: v for k, v in cell.options.items() if k in RESUMABLE_OPTIONS}
            train(run_dir, resume=True, **resumable)
        else:
            train(run_dir, **cell.options)
    except Exception as exc:  # one failed cell must not lose the others: it is reported and retried later
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / ERROR_FILE).write_text(traceback.format_exc())
        log.debug("cell %s failed", cell.key, exc_info=True)
        return Outcome("failed", seconds=time.perf_counter() - start, reason=f"{type(exc).__name__}: {exc}")
    write_json(run_dir / TIME_FILE, {"seconds": time.perf_counter() - start})
    return read_outcome(run_dir)
