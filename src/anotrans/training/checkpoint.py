"""Run-directory files: weights as safetensors (never pickles), JSON config, resumable training state.

Every file is written atomically (temporary file in the same folder, fsync, ``os.replace``), so a crash
mid-write leaves the previous version intact. The resume state is ONE safetensors file whose metadata
holds the JSON part, so weights, optimiser moments, epoch and RNG states can never disagree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open
from safetensors.torch import save as safetensors_bytes
from torch import nn

from anotrans.errors import CheckpointError
from anotrans.utils.files import atomic_write_bytes, read_json, write_json  # noqa: F401 (callers use ckpt.*)

MODEL_FILE = "model.safetensors"
BEST_FILE = "best.safetensors"
STATE_FILE = "state.safetensors"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
SCORES_FILE = "scores.csv"
EPOCH_LOG = "epochs.jsonl"


def _cpu(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}


def save_weights(path: str | Path, model: nn.Module) -> None:
    atomic_write_bytes(path, safetensors_bytes(_cpu(model.state_dict())))


def load_weights(path: str | Path, model: nn.Module) -> None:
    """Load safetensors weights into ``model`` (strict: a mismatch means the wrong config)."""
    try:
        tensors = load_file(str(path))
    except (FileNotFoundError, SafetensorError, OSError) as exc:
        raise CheckpointError(f"cannot read weights {path}: {exc}") from exc
    try:
        model.load_state_dict(tensors)
    except RuntimeError as exc:
        raise CheckpointError(f"weights in {path} do not fit the model in its config.json: {exc}") from exc


def _flatten_optimizer(prefix: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], Any]:
    state = optimizer.state_dict()
    tensors = {
        f"{prefix}.{idx}.{key}": value
        for idx, slots in state["state"].items()
        for key, value in slots.items()
        if isinstance(value, torch.Tensor)
    }
    return tensors, state["param_groups"]


def _unflatten_optimizer(prefix: str, tensors: dict[str, torch.Tensor], param_groups: Any) -> dict[str, Any]:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "."):
            idx, key = name[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(idx), {})[key] = value
    for group in param_groups:
        if "betas" in group:
            group["betas"] = tuple(group["betas"])
    return {"state": state, "param_groups": param_groups}


def save_training_state(
    path: str | Path,
    model: nn.Module,
    optimizers: dict[str, torch.optim.Optimizer],
    extra_tensors: dict[str, torch.Tensor],
    meta: dict[str, Any],
) -> None:
    """Everything needed to resume after the last completed epoch, in one atomic file."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    groups = {}
    for name, optimizer in optimizers.items():
        opt_tensors, groups[name] = _flatten_optimizer(f"optim.{name}", optimizer)
        tensors.update(opt_tensors)
    tensors.update(extra_tensors)
    metadata = {"anotrans": json.dumps({**meta, "param_groups": groups})}
    atomic_write_bytes(path, safetensors_bytes(_cpu(tensors), metadata=metadata))


def load_training_state(
    path: str | Path, model: nn.Module, optimizers: dict[str, torch.optim.Optimizer]
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Restore model and optimisers in place; returns the other tensors and the JSON metadata."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads(f.metadata()["anotrans"])
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    except (FileNotFoundError, SafetensorError, OSError, KeyError) as exc:
        raise CheckpointError(f"cannot resume from {path}: {exc}") from exc
    model.load_state_dict({k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")})
    for name, optimizer in optimizers.items():
        optimizer.load_state_dict(_unflatten_optimizer(f"optim.{name}", tensors, meta["param_groups"][name]))
    rest = {k: v for k, v in tensors.items() if not k.startswith(("model.", "optim."))}
    return rest, meta
