"""anotrans: unsupervised visual anomaly detection with AnoTrans and its GAN baselines.

Names load lazily: ``import anotrans`` imports no torch, so ``anotrans.load("model.onnx")`` runs on
onnxruntime alone; ``anotrans.train`` and the other torch entry points import torch on first use.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from anotrans.errors import AnotransError, CheckpointError, ConfigError, DataError
from anotrans.utils.lazy import lazy_exports

if TYPE_CHECKING:
    from anotrans.api import TrainResult, train
    from anotrans.demo import demo
    from anotrans.detector import Detector
    from anotrans.export.runtime import OnnxDetector
    from anotrans.networks import build_model, build_model_from_config, list_models
    from anotrans.scoring.predictions import Prediction

__version__ = "0.1.0"

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        **dict.fromkeys(("TrainResult", "train"), "anotrans.api"),
        "Detector": "anotrans.detector",
        "demo": "anotrans.demo",
        "Prediction": "anotrans.scoring.predictions",
        **dict.fromkeys(("build_model", "build_model_from_config", "list_models"), "anotrans.networks"),
    },
)


def load(path: str | Path, device: str = "auto", precision: str = "fp32") -> Detector | OnnxDetector:
    """A detector from a run directory (torch) or an exported ``.onnx`` file (onnxruntime, no torch).

    Both answer ``predict`` / ``iter_predict`` / ``score`` with the same :class:`Prediction` fields;
    ``device`` and ``precision`` apply to run directories.
    """
    from anotrans.export.metadata import is_onnx_file

    if is_onnx_file(path):
        from anotrans.export.runtime import load_onnx

        return load_onnx(path)
    from anotrans.detector import load as load_run

    return load_run(path, device, precision)


__all__ = [
    "AnotransError",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "Detector",
    "Prediction",
    "TrainResult",
    "__version__",
    "build_model",
    "build_model_from_config",
    "demo",
    "list_models",
    "load",
    "train",
]
