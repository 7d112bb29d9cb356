"""The package's imports point one way, and no module reaches into another's private names.

Parses every module of src/anotrans (nothing is imported), so an import added anywhere, also inside a
function or as a relative import, is seen. Layers, lowest first (a module imports only its own layer or
lower ones, and no two top-level parts import each other, directly or in a loop):

    errors, utils  <-  networks  <-  data, scoring  <-  training
                   <-  api, config, demo, detector, export, serving, report  <-  cli, cli_deploy, benchmark
                   <-  console, __main__ (the entry points)
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import anotrans

PACKAGE = Path(anotrans.__file__).parent
ROOT = "anotrans"  # the package's __init__: the public facade, above every layer

LAYERS: dict[str, int] = {
    **dict.fromkeys(("errors", "utils", "allocator", "flops"), 0),
    "networks": 1,
    **dict.fromkeys(("data", "scoring"), 2),
    "training": 3,
    **dict.fromkeys(("api", "config", "demo", "detector", "export", "serving", "report"), 4),
    **dict.fromkeys(("cli", "cli_deploy", "benchmark", ROOT), 5),
    **dict.fromkeys(
        ("console", "__main__"), 6
    ),  # the entry point: picks the torch-free ONNX commands or the full CLI
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(dotted: str) -> bool:
    """Whether ``anotrans.x.y`` names a module or package (not a function or class in one)."""
    path = PACKAGE.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def top(dotted: str) -> str:
    """``anotrans.training.steps`` -> ``training``; the package itself -> ROOT."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else ROOT


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(name: str) -> Iterator[tuple[str, str | None, int]]:
    """``(imported module, imported name or None, line)`` for every anotrans import of module ``name``."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == ROOT:
                    yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] != ROOT:
                continue
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                yield (sub, None, node.lineno) if is_module(sub) else (source, alias.name, node.lineno)


def where(name: str, line: int) -> str:
    return f"{MODULES[name].relative_to(PACKAGE.parent)}:{line}"


def edges() -> list[tuple[str, str, str]]:
    """``(importer part, imported part, file:line)`` between different top-level parts."""
    out = []
    for name in MODULES:
        for target, _, line in imports(name):
            if top(name) != top(target):
                out.append((top(name), top(target), where(name, line)))
    return out


def test_every_part_has_a_layer() -> None:
    parts = {top(name) for name in MODULES}
    missing = sorted(parts - set(LAYERS))
    assert not missing, f"add these top-level parts of anotrans to LAYERS in {__file__}: {missing}"


def test_lower_layers_never_import_higher_ones() -> None:
    bad = [
        f"{site}: {src} (layer {LAYERS[src]}) imports {dst} (layer {LAYERS[dst]})"
        for src, dst, site in edges()
        if src in LAYERS and dst in LAYERS and LAYERS[dst] > LAYERS[src]
    ]
    assert not bad, "imports against the layer order:\n" + "\n".join(bad)


def test_no_cycle_between_parts() -> None:
    graph: dict[str, set[str]] = {}
    for src, dst, _ in edges():
        graph.setdefault(src, set()).add(dst)

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            node = todo.pop()
            if node == goal:
                return True
            if node not in seen:
                seen.add(node)
                todo.extend(graph.get(node, ()))
        return False

    bad = [
        f"{site}: {src} imports {dst}, which imports {src} back (directly or through others)"
        for src, dst, site in edges()
        if reaches(dst, src)
    ]
    assert not bad, "import cycles between parts of anotrans:\n" + "\n".join(sorted(set(bad)))


def private_uses(name: str) -> Iterator[str]:
    """Underscore names taken from another anotrans module: imported, or read off an imported module."""
    modules: dict[str, str] = {}  # local alias -> anotrans module it names
    for target, imported, line in imports(name):
        if imported is None:
            modules[target.rpartition(".")[2]] = target
        elif target != name and imported.startswith("_") and not imported.startswith("__"):
            yield f"{where(name, line)}: imports {imported} from {target}"
    tree = ast.parse(MODULES[name].read_text())
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.asname and alias.name.rpartition(".")[2] in modules:
                    modules[alias.asname] = modules[alias.name.rpartition(".")[2]]
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            yield f"{where(name, node.lineno)}: reads {node.attr} of {modules[node.value.id]}"


def test_no_module_uses_another_modules_private_names() -> None:
    bad = [use for name in MODULES for use in private_uses(name)]
    assert not bad, "private (underscore) names used across modules:\n" + "\n".join(bad)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from ..errors import ConfigError\n", ("anotrans.errors", "ConfigError")),
        ("from . import checkpoint\n", ("anotrans.training.checkpoint", None)),
        ("def f():\n    from anotrans.api import train\n", ("anotrans.api", "train")),
        ("import anotrans.scoring.scores as s\n", ("anotrans.scoring.scores", None)),
    ],
)
def test_imports_are_resolved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, expected: tuple
) -> None:
    """Relative and function-local imports map to the module they name (so the checks above see them)."""
    fake = tmp_path / "steps.py"
    fake.write_text(source)
    monkeypatch.setitem(MODULES, "anotrans.training.fake", fake)
    assert [(t, n) for t, n, _ in imports("anotrans.training.fake")] == [expected]
