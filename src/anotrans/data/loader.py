"""The one DataLoader recipe, shared by training, scoring and inference."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, Sampler


def make_loader(
    dataset: Dataset,
    batch_size: int,
    workers: int = 0,
    shuffle: bool = False,
    seed: int = 0,
    drop_last: bool = False,
    skip: int = 0,
) -> DataLoader:
    """A seeded shuffle order, so epoch e shuffles alike after a resume.

    ``skip``: leave out the first ``skip`` samples of that order (a resume in the middle of an epoch).
    """
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    if workers > 0 and hasattr(dataset, "preload"):
        # Decode once here: forked workers inherit the filled memo instead of decoding every epoch.
        dataset.preload()
    # The sampler DataLoader(shuffle=True) would build, drawing from the same generator in the same order.
    sampler = _Skipping(RandomSampler(dataset, generator=generator), skip) if shuffle else None
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        generator=generator,
        drop_last=drop_last,
        persistent_workers=False,
    )


class _Skipping(Sampler[int]):
    def __init__(self, sampler: RandomSampler, skip: int) -> None:
        self.sampler, self.skip = sampler, skip

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(iter(self.sampler), self.skip, None)

    def __len__(self) -> int:
        return max(len(self.sampler) - self.skip, 0)
