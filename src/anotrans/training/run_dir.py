"""Reading a finished run directory back: the model with its weights, the fitted scorer and the data spec.

One reader for every caller above training (the Detector, the report), so a run is loaded one way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from anotrans.data.spec import DataSpec
from anotrans.errors import CheckpointError
from anotrans.networks.registry import AnomalyGAN, build_model_from_config
from anotrans.scoring.scores import ScoreConfig, Scorer
from anotrans.training import checkpoint as ckpt


def load_finished_run(run_dir: str | Path) -> tuple[AnomalyGAN, Scorer, DataSpec, dict[str, Any]]:
    """(model with the run's final weights, scorer, data spec, the whole config.json) of a finished run."""
    run_dir = Path(run_dir)
    saved = ckpt.read_json(run_dir / ckpt.CONFIG_FILE)
    if saved.get("normalisation") is None:
        raise CheckpointError(
            f"{run_dir} holds an unfinished run: finish it with `anotrans train --resume {run_dir}`"
        )
    model = build_model_from_config(saved["model"])
    ckpt.load_weights(run_dir / ckpt.MODEL_FILE, model)
    scorer = Scorer(ScoreConfig.from_dict(saved["score"]), saved["normalisation"])
    return model, scorer, DataSpec.from_dict(saved["data"]), saved
