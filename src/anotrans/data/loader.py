"""The one DataLoader recipe, shared by training, scoring and inference."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset


def make_loader(
    dataset: Dataset,
    batch_size: int,
    workers: int = 0,
    shuffle: bool = False,
    seed: int = 0,
    drop_last: bool = False,
) -> DataLoader:
    """A seeded shuffle order, so epoch e shuffles alike after a resume."""
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    if workers > 0 and hasattr(dataset, "preload"):
        # Decode once here: forked workers inherit the filled memo instead of decoding every epoch.
        dataset.preload()
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=workers,
        generator=generator,
        drop_last=drop_last,
        persistent_workers=False,
    )
