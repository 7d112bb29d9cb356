"""benchmarks/tolerant_profile.py: the pooled references, and radius 0 equals the library's zmap-topk."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest
import torch

from anotrans.scoring.profile import MapProfile

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def tolerant(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # it imports its sibling deviation_score
    return importlib.import_module("tolerant_profile")


def test_pool_takes_the_window_maximum(tolerant):
    values = np.zeros((2, 9, 9))
    values[1, 4, 4] = 3.0
    pooled = tolerant.pool(values, 2)
    assert (pooled[0] == 0).all()
    assert (pooled[1, 2:7, 2:7] == 3.0).all() and pooled[1].sum() == 3.0 * 25
    np.testing.assert_array_equal(tolerant.pool(values, 0), values)


def test_radius_zero_is_the_library_score(tolerant):
    rng = np.random.default_rng(0)
    normals, maps = rng.random((6, 16, 16)), rng.random((4, 16, 16))
    mu, s = normals.mean(axis=0), normals.std(axis=0)
    profile = MapProfile.fit(torch.from_numpy(normals), "ssim", 1.0)
    expected = profile.score(torch.from_numpy(maps)).numpy()
    np.testing.assert_allclose(tolerant.zmap(maps, mu, s, 0), expected, rtol=1e-5)


def test_tolerance_forgives_a_shifted_bright_place(tolerant):
    normals = np.full((5, 32, 32), 0.1) + np.random.default_rng(1).random((5, 32, 32)) * 0.01
    normals[:, 10, 10] = 1.0  # every normal is bright at one place
    moved = np.full((1, 32, 32), 0.1)
    moved[0, 12, 12] = 1.0  # the same bright place, two pixels off
    mu, s = normals.mean(axis=0), normals.std(axis=0)
    assert tolerant.zmap(moved, mu, s, 2)[0] < tolerant.zmap(moved, mu, s, 0)[0] / 10
