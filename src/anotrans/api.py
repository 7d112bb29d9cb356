"""Python API: ``train(...)`` a run directory and ``load(run_dir)`` a :class:`Detector` from it.

The CLI is a thin layer over these functions, so both accept the same option names. Option parsing lives
in :mod:`anotrans.config`, inference in :mod:`anotrans.detector`, the demo recipe in :mod:`anotrans.demo`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from anotrans.config import (
    RESUMABLE_OPTIONS,
    build_configs,
    check_validation,
    option_names,
    parse_key_values,
    read_config_file,
    resume_config,
)
from anotrans.data import build_splits
from anotrans.detector import Detector, Prediction, load
from anotrans.networks.registry import build_model, build_model_from_config
from anotrans.training import distributed
from anotrans.training.reproducibility import seed_everything
from anotrans.training.trainer import Trainer
from anotrans.utils.devices import resolve_device

__all__ = [
    "RESUMABLE_OPTIONS",
    "Detector",
    "Prediction",
    "TrainResult",
    "build_configs",
    "load",
    "option_names",
    "parse_key_values",
    "read_config_file",
    "train",
]


@dataclasses.dataclass
class TrainResult:
    """What ``train`` returns: the run directory and the metrics it wrote to metrics.json."""

    run_dir: Path
    metrics: dict[str, Any]


def train(
    out: str | Path = "runs/latest", *, config: str | Path | None = None, resume: bool = False, **options: Any
) -> TrainResult:
    """Train a model and write a run directory (see docs/usage.md for every option).

    ``config``: a YAML file of options; keyword options override it. ``resume=True`` continues the
    interrupted run in ``out`` with the settings saved there (only epochs/device/workers/progress may change).
    """
    merged = {**(read_config_file(config) if config else {}), **options}
    run_dir = Path(out)
    if resume:
        run = resume_config(run_dir, merged)
        spec, train_cfg, score_cfg = run.data, run.training, run.score
        # Seeded as a fresh run is: a run killed before its first checkpoint restarts with the same weights.
        seed_everything(train_cfg.seed, train_cfg.deterministic)
        model = build_model_from_config(run.model, run.source)
    else:
        spec, train_cfg, score_cfg = build_configs(merged)
        seed_everything(train_cfg.seed, train_cfg.deterministic)
        model = build_model(
            train_cfg.model,
            image_size=spec.crop_size or spec.image_size,
            channels=spec.channels,
            **train_cfg.network_options(),
        )
    splits = build_splits(spec)
    check_validation(splits, train_cfg, score_cfg)
    # Under torchrun: one of several processes (training.distributed); otherwise a plain run.
    device = resolve_device(train_cfg.device)
    with distributed.launch(device, train_cfg.sync_bn, train_cfg.dist_timeout) as replicas:
        trainer = Trainer(model, splits, spec, train_cfg, score_cfg, run_dir, replicas)
        return TrainResult(run_dir, trainer.fit(resume=resume))
