"""The table definitions line up with the published values, the registry and the data sets' names."""

from __future__ import annotations

import pytest

from anotrans.benchmark.published import PUBLISHED
from anotrans.benchmark.tables import AVERAGE, ROW_LABELS, TABLES, get_table
from anotrans.data.cifar10 import CIFAR10_CLASSES
from anotrans.data.mvtec import MVTEC_CATEGORIES
from anotrans.data.stl10 import STL10_CLASSES
from anotrans.errors import ConfigError
from anotrans.networks.registry import list_models

NAMES_ON_DISK = {"cifar10": CIFAR10_CLASSES, "stl10": STL10_CLASSES, "mvtec": MVTEC_CATEGORIES}


@pytest.mark.parametrize("name", sorted(TABLES))
def test_table_matches_published(name):
    table = get_table(name)
    assert set(PUBLISHED[name]) <= set(table.rows) <= set(list_models()) and set(table.rows) <= set(
        ROW_LABELS
    )
    columns = [c.name for c in table.columns] + ([AVERAGE] if table.average else [])
    for values in PUBLISHED[name].values():
        assert list(values) == columns
    for column in table.columns:
        if column.data in NAMES_ON_DISK:
            assert set(column.targets) <= set(NAMES_ON_DISK[column.data])


def test_paper_rows_and_aliases():
    assert get_table("table3").rows == ("ganomaly", "skip-ganomaly", "sagan", "anotrans-cbam", "anotrans")
    assert get_table("table4").rows == get_table("table3").rows  # GANomaly has no published STL-10 row
    columns = {c.name: c.targets for c in get_table("table5").columns}
    assert columns["nut"] == ("metal_nut",) and columns["brush"] == ("toothbrush",)
    assert get_table("table1").columns[0].targets == tuple(
        t for c in get_table("table3").columns for t in c.targets
    )
    with pytest.raises(ConfigError, match="table6"):
        get_table("table6")
