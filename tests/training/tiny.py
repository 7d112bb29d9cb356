"""A training run small enough for option tests: GANomaly on 32 synthetic 16 px images."""

from __future__ import annotations

TINY_RUN = {
    "data": "synthetic",
    "image_size": 16,
    "max_train_images": 32,
    "model": "ganomaly",
    "batch_size": 16,
    "epochs": 1,
    "progress": False,
}
