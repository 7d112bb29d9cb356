"""Shared fixtures of the training, scoring and CLI tests: tiny models and tiny synthetic data.

Tiny (16 px, a few thousand weights) so the whole set runs in CPU seconds; the learning test
uses the real AnoTrans at a small width instead.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from anotrans.data import DataSpec, build_splits
from anotrans.networks import build_model
from anotrans.networks.registry import AnomalyGAN

TINY_IMAGE = 16
# Options of a small AnoTrans that still has every part (Swin stages, SAC skips, D).
TINY_ANOTRANS: dict[str, Any] = {
    "embed_dim": 8,
    "num_merges": 2,
    "depths": (1, 1, 1),
    "num_heads": 2,
    "skip_depth": 1,
    "disc_ndf": 8,
    "disc_nz": 8,
}
TINY_GANOMALY: dict[str, Any] = {"ngf": 8, "nz": 8, "disc_ndf": 8, "disc_nz": 8}


def tiny_model(name: str = "anotrans", seed: int = 0) -> AnomalyGAN:
    torch.manual_seed(seed)
    options = TINY_GANOMALY if name == "ganomaly" else TINY_ANOTRANS
    return build_model(name, image_size=TINY_IMAGE, **options)


@pytest.fixture(autouse=True)
def _one_thread():
    """Every test on one torch thread: the tests' small ops run many times faster without OpenMP
    threads spinning on each other (and results do not depend on the core count)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def make_tiny():
    """``make_tiny(name="anotrans", seed=0)``: a fresh tiny model."""
    return tiny_model


@pytest.fixture
def tiny_splits():
    return build_splits(DataSpec(data="synthetic", image_size=TINY_IMAGE, max_train_images=48))


@pytest.fixture
def batch() -> torch.Tensor:
    torch.manual_seed(0)
    return torch.rand(4, 3, TINY_IMAGE, TINY_IMAGE) * 2 - 1
