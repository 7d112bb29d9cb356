"""Seeding and RNG snapshots: the one place that touches every random number generator.

A resumed run restores these snapshots so that it continues exactly where an uninterrupted run would be.
"""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import torch

# cuBLAS is deterministic only with a fixed workspace; torch refuses CUDA matmuls in deterministic mode
# without this setting (read when cuBLAS starts, so set before the first CUDA matmul of the process).
CUBLAS_WORKSPACE = ":4096:8"


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed python, numpy and torch (all devices); ``deterministic`` also forbids non-deterministic kernels.

    Deterministic: torch raises an error at any op without a deterministic kernel (on CUDA, e.g. the
    backward of bilinear upsampling) instead of running it, cuDNN picks fixed algorithms, and cuBLAS gets
    the fixed workspace it needs. Otherwise cuDNN benchmark mode is on: training feeds the same shapes
    every batch, so timing the convolution algorithms once and keeping the fastest pays off, at the cost
    of run-to-run differences in the last bits.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.use_deterministic_algorithms(deterministic)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic


def rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Every RNG state, split into tensors (for safetensors) and JSON-ready values."""
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    tensors = {
        "rng.torch": torch.get_rng_state(),
        "rng.numpy_keys": torch.from_numpy(np_keys.astype(np.int64)),
    }
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = state
    py_version, py_state, py_gauss = random.getstate()
    meta = {
        "numpy": [np_kind, int(np_pos), int(np_has_gauss), float(np_gauss)],
        "python": [py_version, list(py_state), py_gauss],
    }
    return tensors, meta


def restore_rng_state(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Inverse of :func:`rng_state`."""
    torch.set_rng_state(tensors["rng.torch"])
    cuda_keys = sorted(
        (k for k in tensors if k.startswith("rng.cuda.")), key=lambda k: int(k.rsplit(".", 1)[1])
    )
    cuda_states = [tensors[k] for k in cuda_keys]
    if cuda_states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda_states)
    np_kind, np_pos, np_has_gauss, np_gauss = meta["numpy"]
    np.random.set_state(
        (np_kind, tensors["rng.numpy_keys"].numpy().astype(np.uint32), np_pos, np_has_gauss, np_gauss)
    )
    py_version, py_state, py_gauss = meta["python"]
    random.setstate((py_version, tuple(py_state), py_gauss))
