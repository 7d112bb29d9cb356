"""Pure ``nn.Module`` networks: the AnoTrans generator, its skips, the discriminator and the baselines."""

from anotrans.networks.config import ModelConfig
from anotrans.networks.registry import (
    AnomalyGAN,
    build_model,
    build_model_from_config,
    list_models,
    make_config,
    model_description,
)

__all__ = [
    "AnomalyGAN",
    "ModelConfig",
    "build_model",
    "build_model_from_config",
    "list_models",
    "make_config",
    "model_description",
]
