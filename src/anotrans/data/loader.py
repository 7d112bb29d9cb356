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
    sampler: Sampler[int] | None = None,
    pin_memory: bool = False,
) -> DataLoader:
    """A seeded shuffle order, so epoch e shuffles alike after a resume.

    ``skip``: leave out the first ``skip`` samples of that order (a resume in the middle of an epoch).
    ``sampler`` (several processes: this process's share of the order) replaces the shuffle; the seeded
    generator still feeds the workers' base seed, as in one process. ``pin_memory`` for CUDA copies.
    """
    generator = torch.Generator().manual_seed(seed) if shuffle or sampler is not None else None
    if workers > 0 and hasattr(dataset, "preload"):
        # Decode once here: forked workers inherit the filled memo instead of decoding every epoch.
        dataset.preload()
    # The sampler DataLoader(shuffle=True) would build, drawing from the same generator in the same order.
    if sampler is None and shuffle:
        sampler = RandomSampler(dataset, generator=generator)
    if sampler is not None:
        sampler = _Skipping(sampler, skip)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        generator=generator,
        drop_last=drop_last,
        pin_memory=pin_memory,
        persistent_workers=False,
    )


class _Skipping(Sampler[int]):
    def __init__(self, sampler: Sampler[int], skip: int) -> None:
        self.sampler, self.skip = sampler, skip

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(iter(self.sampler), self.skip, None)

    def __len__(self) -> int:
        return max(len(self.sampler) - self.skip, 0)
