"""The CLI's malloc settings: applied on glibc, a harmless no-op elsewhere, and never on import."""

from __future__ import annotations

import subprocess
import sys

import pytest

from anotrans import allocator


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")
def test_settings_are_accepted_by_glibc():
    assert allocator.keep_freed_memory() is True
    assert allocator.keep_freed_memory() is True  # idempotent


def test_no_op_off_linux(monkeypatch):
    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    assert allocator.keep_freed_memory() is False


def test_importing_the_library_leaves_the_allocator_alone():
    code = "import anotrans, anotrans.cli, anotrans.allocator as a, sys; sys.exit(0)"
    # keep_freed_memory is only called by cli.main(); patch it to fail loudly if an import calls it.
    guard = (
        "import anotrans.allocator as a\n"
        "def boom():\n    raise SystemExit(3)\n"
        "a.keep_freed_memory = boom\n" + code
    )
    assert subprocess.run([sys.executable, "-c", guard], check=False).returncode == 0
