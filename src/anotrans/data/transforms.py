"""Scaling to the model's range and the optional training augmentation."""

from __future__ import annotations

import os

import numpy as np
import torch

from anotrans.data.images import read_model_input, to_model_range


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 [H, W, C] -> float32 [C, H, W] in [-1, 1] (:func:`to_model_range`, shared with ONNX predict)."""
    # numpy, not torch, does the arithmetic: torch's intra-op threads oversubscribe busy loader processes
    return torch.from_numpy(to_model_range(image))


def load_image(path: str | os.PathLike, image_size: int, channels: int = 3) -> torch.Tensor:
    """One user file as float32 [C, H, W] in [-1, 1], preprocessed exactly like the training data."""
    return torch.from_numpy(read_model_input(path, image_size, channels))


def mask_to_tensor(mask: np.ndarray) -> torch.Tensor:
    """uint8 [H, W] in {0, 1} -> float32 [1, H, W]."""
    return torch.from_numpy(np.array(mask, dtype=np.float32)).unsqueeze(0)


def max_shift(image_size: int) -> int:
    """Shifts of about 6 % of the side (2 px at 32, 16 px at 256): small enough to keep objects whole."""
    return max(1, image_size // 16)


def augment(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Random horizontal flip and a random shift with reflected borders, applied to image and mask alike.

    The randomness comes from torch, which PyTorch reseeds in every DataLoader worker; numpy's global
    generator would be copied by fork and give every worker the same "random" augmentations.
    """
    if torch.rand(()) < 0.5:
        image, mask = image[:, ::-1], mask[:, ::-1]
    size = image.shape[0]
    pad = max_shift(size)
    dy, dx = (int(v) for v in torch.randint(0, 2 * pad + 1, (2,)))
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
    padded_mask = np.pad(mask, ((pad, pad), (pad, pad)), mode="reflect")
    return padded[dy : dy + size, dx : dx + size], padded_mask[dy : dy + size, dx : dx + size]


def random_crop(image: np.ndarray, mask: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A random ``size`` square of image and mask (patch mode's training samples); torch RNG, as above."""
    top, left = (int(v) for v in torch.randint(0, image.shape[0] - size + 1, (2,)))
    return image[top : top + size, left : left + size], mask[top : top + size, left : left + size]
