"""The paper's Tables 1-5 as data: which models (rows), which columns, and what each column trains on.

A column averages one or more *targets* (a class held out as the anomaly, an MVTec category, or the
single folder set): Table 3's "frog" has one target, Table 1's "cifar10" averages the classes of
Table 3. Row and column names are those of :mod:`anotrans.benchmark.published`, so the published values
line up cell by cell; ``COLUMN_ALIASES`` maps the paper's names to names on disk.
"""

from __future__ import annotations

import dataclasses

from anotrans.benchmark.published import (
    CIFAR10_CLASSES,
    COLUMN_ALIASES,
    MVTEC_COLUMNS,
    PUBLISHED,
    STL10_CLASSES,
)
from anotrans.errors import ConfigError

AVERAGE = "average"


@dataclasses.dataclass(frozen=True)
class Column:
    """A table column: its name, the data kind it trains on, and the targets (on-disk names) it averages."""

    name: str
    data: str
    targets: tuple[str | None, ...]


@dataclasses.dataclass(frozen=True)
class Table:
    """One of the paper's tables; ``average`` adds a column averaging the per-target columns."""

    name: str
    title: str
    rows: tuple[str, ...]
    columns: tuple[Column, ...]
    average: bool

    @property
    def published(self) -> dict[str, dict[str, float]]:
        return PUBLISHED[self.name]


def _per_target(data: str, names: tuple[str, ...]) -> tuple[Column, ...]:
    return tuple(Column(name, data, (COLUMN_ALIASES.get(name, name),)) for name in names)


def _all_targets(data: str, names: tuple[str, ...]) -> Column:
    return Column(data, data, tuple(COLUMN_ALIASES.get(name, name) for name in names))


# Models in the paper's row order; the row names are registry model names.
CLASS_ROWS = ("ganomaly", "skip-ganomaly", "sagan", "anotrans-cbam", "anotrans")

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "table1",
            "Window vs. global attention encoder: average AUROC over the leave-one-class-out classes",
            ("anotrans-vit", "anotrans"),
            (_all_targets("cifar10", CIFAR10_CLASSES), _all_targets("stl10", STL10_CLASSES)),
            average=False,
        ),
        Table(
            "table2",
            "A folder data set of normal and abnormal images (the paper's private LBOT bolts)",
            ("ganomaly", "skip-ganomaly", "sagan", "anotrans"),
            (Column("folder", "folder", (None,)),),
            average=False,
        ),
        Table(
            "table3",
            "CIFAR-10, one class held out as the anomaly",
            CLASS_ROWS,
            _per_target("cifar10", CIFAR10_CLASSES),
            average=True,
        ),
        Table(
            "table4",
            "STL-10, one class held out as the anomaly",
            CLASS_ROWS,
            _per_target("stl10", STL10_CLASSES),
            average=True,
        ),
        Table(
            "table5",
            "MVTec AD, one model per category",
            ("sagan", "skip-ganomaly", "anotrans-plain", "anotrans"),
            _per_target("mvtec", MVTEC_COLUMNS),
            average=True,
        ),
    )
}

# How the rows are labelled in reports: the paper's wording.
ROW_LABELS = {
    "ganomaly": "GANomaly",
    "skip-ganomaly": "Skip-GANomaly",
    "sagan": "SAGAN",
    "anotrans-cbam": "AnoTrans-CBAM",
    "anotrans": "AnoTrans-SAC",
    "anotrans-plain": "AnoTrans-plain",
    "anotrans-vit": "AnoTrans-ViT",
}


def get_table(name: str) -> Table:
    if name not in TABLES:
        raise ConfigError(f"unknown table {name!r}; choose one of: {', '.join(TABLES)}")
    return TABLES[name]
