"""Run-directory files: weights as safetensors (never pickles), JSON config, resumable training state.

Every file is written atomically (temporary file in the same folder, fsync, ``os.replace``, fsync of
the folder), so a crash or power cut mid-write leaves the previous version intact, and a failed write
(disk full, read-only folder) is a WriteError naming the path. The resume state is ONE safetensors
file whose metadata holds the JSON part, so weights, optimiser moments, epoch and RNG states can never
disagree.
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
from anotrans.utils.files import atomic_write_bytes

MODEL_FILE = "model.safetensors"
BEST_FILE = "best.safetensors"
STATE_FILE = "state.safetensors"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
SCORES_FILE = "scores.csv"
EPOCH_LOG = "epochs.jsonl"
SKIPPED_FILE = "skipped_files.txt"  # with skip_bad_files: each skipped file and why, one per line
# The layout of config.json. A later anotrans that changes it raises the number, so this version
# refuses such a file by name instead of misreading it.
CONFIG_FORMAT = 1
CONFIG_SECTIONS = ("model", "data", "training", "score")
CONFIG_KEYS = frozenset({"format_version", *CONFIG_SECTIONS, "normalisation", "threshold"})


def _cpu(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}


def save_weights(path: str | Path, model: nn.Module) -> None:
    atomic_write_bytes(path, safetensors_bytes(_cpu(model.state_dict())))


def check_tensors(path: str | Path, tensors: dict[str, torch.Tensor], model: nn.Module) -> None:
    """Every tensor's name, shape and dtype must be the model's; the first mismatch is named.

    Checked before ``load_state_dict`` so a file from another model or a doctored file is refused with
    what differs, not half-loaded or cast silently.
    """
    expected = model.state_dict()
    missing = [k for k in expected if k not in tensors]
    extra = [k for k in tensors if k not in expected]
    problem = None
    if missing:
        problem = f"tensor {missing[0]} is missing ({len(missing)} missing)"
    elif extra:
        problem = f"tensor {extra[0]} is not in the model ({len(extra)} unexpected)"
    else:
        for name, want in expected.items():
            got = tensors[name]
            if got.shape != want.shape:
                problem = f"tensor {name} has shape {list(got.shape)}, the model needs {list(want.shape)}"
            elif got.dtype != want.dtype:
                problem = f"tensor {name} has dtype {got.dtype}, the model needs {want.dtype}"
            if problem:
                break
    if problem:
        raise CheckpointError(f"weights in {path} do not fit the model in its config.json: {problem}")


def load_weights(path: str | Path, model: nn.Module) -> None:
    """Load safetensors weights into ``model`` after :func:`check_tensors` (a mismatch: the wrong config)."""
    try:
        tensors = load_file(str(path))
    except (FileNotFoundError, SafetensorError, OSError) as exc:
        raise CheckpointError(f"cannot read weights {path}: {exc}") from exc
    check_tensors(path, tensors, model)
    model.load_state_dict(tensors)


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
    except (FileNotFoundError, SafetensorError, OSError, KeyError, ValueError) as exc:
        raise CheckpointError(f"cannot resume from {path}: {exc}") from exc
    weights = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    check_tensors(path, weights, model)
    model.load_state_dict(weights)
    for name, optimizer in optimizers.items():
        optimizer.load_state_dict(_unflatten_optimizer(f"optim.{name}", tensors, meta["param_groups"][name]))
    rest = {k: v for k, v in tensors.items() if not k.startswith(("model.", "optim."))}
    return rest, meta
