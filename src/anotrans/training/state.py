"""What a resume checkpoint holds beyond weights and optimisers, and where inside an epoch it was taken.

A checkpoint (``state.safetensors``) is written at every epoch end and, with ``checkpoint_every`` N,
after every N-th update. It holds the weights, both Adam states (with their learning rates), the
generator's moving average when ``ema_decay`` > 0, every RNG state (python, numpy, torch, CUDA), the
epoch log so far, the non-finite-loss counter and, mid-epoch,
the position in the epoch: the shuffle order is a pure function of (seed, epoch), so the resumed epoch
replays the same permutation and skips the batches already done, with their loss sums carried over.
Resuming therefore continues the very same trajectory: bitwise on the same machine with a fixed
thread count and ``workers`` 0 (loader workers would hand out batches, and augmentation draws, in
another order after a mid-epoch resume).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from anotrans.errors import CheckpointError
from anotrans.training import checkpoint as ckpt
from anotrans.training.reproducibility import restore_rng_state, rng_state
from anotrans.training.steps import GanUpdater, StepResult


@dataclasses.dataclass
class EpochState:
    """The run so far, at the last completed epoch."""

    epoch: int = 0  # completed epochs
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    best_val: float | None = None
    best_epoch: int | None = None
    train_seconds: float = 0.0
    images_seen: int = 0


@dataclasses.dataclass
class EpochProgress:
    """The epoch in progress: updates done and the running sums its log record is made of."""

    epoch: int
    batches: int = 0
    images: int = 0
    seconds: float = 0.0
    sums: dict[str, float] = dataclasses.field(default_factory=dict)

    def add(self, result: StepResult, images: int) -> None:
        for key, value in result.losses.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
        self.sums["skipped_updates"] = self.sums.get("skipped_updates", 0) + result.skipped
        self.sums["d_reinits"] = self.sums.get("d_reinits", 0) + result.d_reinit
        self.batches += 1
        self.images += images

    def record(self) -> dict[str, Any]:
        """Mean losses and counters of the epoch, as logged in epochs.jsonl."""
        counters = ("skipped_updates", "d_reinits")
        means = {f"loss_{k}": v / max(self.batches, 1) for k, v in self.sums.items() if k not in counters}
        return {**means, **{k: int(self.sums.get(k, 0)) for k in counters}}


def save_state(
    path: str | Path, updater: GanUpdater, run: EpochState, progress: EpochProgress | None = None
) -> None:
    """One atomic checkpoint of everything listed in the module docstring."""
    rng_tensors, rng_meta = rng_state()
    meta = {
        "rng": rng_meta,
        "epoch_state": dataclasses.asdict(run),
        "progress": None if progress is None else dataclasses.asdict(progress),
        "consecutive_nonfinite": updater.consecutive_nonfinite,
    }
    average = {} if updater.average is None else updater.average.state_tensors()
    ckpt.save_training_state(path, updater.model, updater.optimizers, {**rng_tensors, **average}, meta)


def load_state(path: str | Path, updater: GanUpdater) -> tuple[EpochState, EpochProgress | None]:
    """Restore weights, optimisers and RNGs in place; returns the run state and the epoch position."""
    tensors, meta = ckpt.load_training_state(path, updater.model, updater.optimizers)
    try:
        restore_rng_state(tensors, meta["rng"])
        if updater.average is not None:
            updater.average.load_state_tensors(tensors)
        run = EpochState(**meta["epoch_state"])
        progress = None if meta.get("progress") is None else EpochProgress(**meta["progress"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: resume state is incomplete or from another version ({exc})") from exc
    updater.consecutive_nonfinite = int(meta.get("consecutive_nonfinite", 0))
    return run, progress
