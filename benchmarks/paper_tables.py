"""Reproduce one of the paper's Tables 1-5; the same command as ``anotrans benchmark`` (docs/benchmarks.md).

    python benchmarks/paper_tables.py table3 --preset cpu
    python benchmarks/paper_tables.py table5 --preset paper --device cuda

Writes benchmarks/results/<table>-<preset>.md and .csv; run it again to resume an interrupted table.
"""

from __future__ import annotations

import sys

from anotrans.cli import cli

if __name__ == "__main__":
    cli(["benchmark", *sys.argv[1:]], prog_name="anotrans")
