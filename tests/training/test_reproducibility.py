"""``seed_everything``: what ``--deterministic`` promises (non-deterministic kernels are refused)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch

from anotrans.training.reproducibility import CUBLAS_WORKSPACE, seed_everything


@pytest.fixture(autouse=True)
def _restore_torch_flags() -> Iterator[None]:
    """These are process-wide switches: put them back for the tests that run after."""
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
    )
    yield
    torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[2:]


def _non_deterministic_op() -> None:
    """``put_`` onto one index twice has no deterministic kernel, on CPU too."""
    torch.zeros(4).put_(torch.tensor([0, 0]), torch.tensor([1.0, 2.0]))


def test_deterministic_refuses_non_deterministic_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    seed_everything(0, deterministic=True)
    with pytest.raises(RuntimeError, match="does not have a deterministic implementation"):
        _non_deterministic_op()
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == CUBLAS_WORKSPACE


def test_default_allows_them_and_lets_cudnn_pick_the_fastest_algorithm() -> None:
    seed_everything(0, deterministic=True)
    seed_everything(0)
    _non_deterministic_op()
    assert torch.backends.cudnn.benchmark and not torch.backends.cudnn.deterministic


def test_same_seed_same_random_numbers() -> None:
    seed_everything(3)
    first = torch.rand(3)
    seed_everything(3)
    torch.testing.assert_close(torch.rand(3), first, atol=0, rtol=0)
