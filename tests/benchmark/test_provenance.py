"""No developer paths in the installed package: data roots come from options or $ANOTRANS_DATA_ROOT,
and a results file names the code by the package version (plus git only for a checkout of it)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import anotrans
from anotrans.benchmark import provenance
from anotrans.benchmark.command import DATA_ROOT_ENV, default_root

PACKAGE = Path(anotrans.__file__).resolve().parent


def test_default_roots_come_from_the_environment_variable(monkeypatch, tmp_path):
    (tmp_path / "cifar10").mkdir()
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path))
    assert default_root("cifar10") == str(tmp_path / "cifar10")
    assert default_root("mvtec") is None  # set, but no mvtec_ad folder there
    assert default_root("folder") is None
    monkeypatch.delenv(DATA_ROOT_ENV)
    monkeypatch.chdir(tmp_path)  # a data folder in the working directory is not picked up either
    assert default_root("cifar10") is None


def test_package_source_names_no_developer_path():
    offenders = [p.name for p in PACKAGE.rglob("*.py") if "shared/data" in p.read_text()]
    assert offenders == []


def test_outside_a_checkout_the_code_is_the_package_version(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert provenance.commit() == f"anotrans {anotrans.__version__}"


def test_in_the_packages_own_checkout_the_commit_is_added(monkeypatch):
    monkeypatch.chdir(PACKAGE)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if head.returncode:
        pytest.skip("the package is not in a git checkout here")
    assert provenance.commit().startswith(f"anotrans {anotrans.__version__}, git {head.stdout.strip()}")
