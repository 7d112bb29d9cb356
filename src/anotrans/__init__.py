"""anotrans: unsupervised visual anomaly detection with AnoTrans and its GAN baselines."""

from anotrans.api import Detector, Prediction, TrainResult, load, train
from anotrans.demo import demo
from anotrans.errors import AnotransError, CheckpointError, ConfigError, DataError
from anotrans.networks import build_model, build_model_from_config, list_models

__version__ = "0.1.0"

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
