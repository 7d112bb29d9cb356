"""Lazy package exports, so ``import anotrans`` (and the ONNX predictor under it) never imports torch.

A package lists ``name -> module`` pairs; the module is imported on the first access to the name
(``anotrans.train``, ``from anotrans.data import build_splits``), then the value is cached on the package.
Subpackages load on first access too (``anotrans.data.DataSpec`` after a bare ``import anotrans``).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Callable
from typing import Any


def lazy_exports(
    package: str, exports: dict[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module-level ``__getattr__`` and ``__dir__`` for ``package`` that import ``exports`` on demand."""

    def __getattr__(name: str) -> Any:
        if name in exports:
            value = getattr(importlib.import_module(exports[name]), name)
        elif importlib.util.find_spec(f"{package}.{name}") is not None:
            value = importlib.import_module(f"{package}.{name}")  # a subpackage, e.g. anotrans.data
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *exports})

    class LazyPackage(types.ModuleType):
        def __setattr__(self, name: str, value: Any) -> None:
            # Importing a submodule named like an export (anotrans.demo, the module of anotrans.demo the
            # function) binds the module on the package; keep the export reachable instead.
            if not (name in exports and isinstance(value, types.ModuleType)):
                super().__setattr__(name, value)

    sys.modules[package].__class__ = LazyPackage
    return __getattr__, __dir__
