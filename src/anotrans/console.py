"""The ``anotrans`` console entry point: ONNX ``predict``/``serve`` without torch, else the full CLI.

Kept apart from :mod:`anotrans.cli` (which imports torch) and :mod:`anotrans.cli_deploy` (whose
commands the full CLI also registers), so the torch-free path imports neither torch nor the full CLI.
"""

from __future__ import annotations

import sys

from anotrans.cli_deploy import ErrorGroup, predict, serve
from anotrans.export.metadata import is_onnx_file

TORCH_FREE_COMMANDS = {"predict": predict, "serve": serve}


def main() -> None:
    """Dispatch on the command line: a torch-free group when ``predict``/``serve`` name an .onnx file."""
    args = sys.argv[1:]
    if args and args[0] in TORCH_FREE_COMMANDS and any(is_onnx_file(a) for a in args[1:]):
        ErrorGroup("anotrans", commands=TORCH_FREE_COMMANDS)(prog_name="anotrans")
    else:
        from anotrans.cli import main as full_cli

        full_cli()
