"""Seeded splits and the leave-one-class-out protocols.

All randomness here comes from ``seeded_permutation``, so a (seed, purpose) pair always selects the
same files whatever else changes, and subsamples are nested: the N images chosen for a small budget
are among those chosen for any larger one.
"""

from __future__ import annotations

import dataclasses
import zlib
from typing import Any, TypeVar

import numpy as np

from anotrans.data.dataset import Entry
from anotrans.errors import ConfigError, DataError

T = TypeVar("T")


@dataclasses.dataclass
class Found:
    """What a reader found: the normal training pool, the labelled test set and reader facts for ``info``."""

    train: list[Entry]
    test: list[Entry] | None
    info: dict[str, Any]
    arrays: np.ndarray | None = None  # uint8 [N, H, W, 3] rows referenced by entries with row >= 0
    mask_arrays: np.ndarray | None = None


@dataclasses.dataclass
class ClassSet:
    """A class-labelled set (CIFAR-10, STL-10, class folders) before a class is chosen as abnormal."""

    classes: list[str]
    train: list[tuple[Entry, int]]  # (entry, class index), in the format's own order
    test: list[tuple[Entry, int]]
    info: dict[str, Any]
    arrays: np.ndarray | None = None


def seeded_permutation(n: int, seed: int, purpose: str) -> np.ndarray:
    """A permutation of range(n) fixed by the seed and what it is used for."""
    return np.random.default_rng([seed, zlib.crc32(purpose.encode())]).permutation(n)


def hold_out(items: list[T], share: float, seed: int, purpose: str) -> tuple[list[T], list[T]]:
    """Split off round(share * n) items (at least one, never all when n >= 2); both parts keep input order."""
    n = len(items)
    held = 0 if share <= 0 or n < 2 else min(n - 1, max(1, round(n * share)))
    chosen = set(seeded_permutation(n, seed, purpose)[:held].tolist())
    return [x for i, x in enumerate(items) if i not in chosen], [
        x for i, x in enumerate(items) if i in chosen
    ]


def split_normals(
    items: list[T], val_split: float, max_images: int | None, seed: int
) -> tuple[list[T], list[T]]:
    """Subsample the normal training pool to ``max_images`` first, then hold out ``val_split`` of it.

    So train + validation == min(max_images, pool), and the validation share is the same at every budget.
    """
    if max_images is not None and max_images < len(items):
        keep = set(seeded_permutation(len(items), seed, "subsample")[:max_images].tolist())
        items = [x for i, x in enumerate(items) if i in keep]
    return hold_out(items, val_split, seed, "validation")


def subsample_test(items: list[Entry], max_images: int | None, seed: int) -> list[Entry]:
    """At most ``max_images`` test items, stratified by label and kept in their original order.

    Order matters: the reference protocol scores the unshuffled, normal-then-abnormal test set in fixed
    batches, so a subsample must keep that order. Each label keeps its share (rounded, at least one),
    chosen by a seeded permutation per label, so the subsample is nested across budgets.
    """
    if max_images is None or max_images >= len(items):
        return items
    keep: set[int] = set()
    classes = sorted({e.label for e in items})
    for label in classes:
        members = [i for i, e in enumerate(items) if e.label == label]
        share = max(1, round(max_images * len(members) / len(items)))
        if label == classes[-1]:
            share = max(1, max_images - len(keep))
        order = seeded_permutation(len(members), seed, f"test-subsample-{label}")
        keep.update(members[j] for j in order[: min(share, len(members))])
    return [x for i, x in enumerate(items) if i in keep]


def resolve_class(classes: list[str], name: str | None, what: str) -> int:
    """Index of an abnormal class name, with the list of valid names in the error."""
    if name is None:
        raise ConfigError(f"abnormal_class is required for {what}; choose one of: {', '.join(classes)}")
    if name not in classes:
        raise DataError(f"unknown class {name!r} in {what}; classes are: {', '.join(classes)}")
    return classes.index(name)


def leave_one_class_out(data: ClassSet, abnormal_class: str | None, protocol: str, what: str) -> Found:
    """One class abnormal, the others normal.

    ``paper`` (the reference code's split): train on the normal classes' training images; test on the
    normal classes' test images, then ALL abnormal training images, then the abnormal test images.
    ``clean``: the abnormal training images are left out of the test set.
    """
    abnormal = resolve_class(data.classes, abnormal_class, what)
    train = [e for e, c in data.train if c != abnormal]
    test = [e for e, c in data.test if c != abnormal]
    abnormal_sources = (data.train, data.test) if protocol == "paper" else (data.test,)
    for source in abnormal_sources:
        test += [dataclasses.replace(e, label=1) for e, c in source if c == abnormal]
    info = {**data.info, "class_names": list(data.classes), "abnormal_class": data.classes[abnormal]}
    return Found(train=train, test=test, info=info, arrays=data.arrays)


def class_set_from_arrays(
    classes: list[str], parts: list[tuple[str, str, np.ndarray, list[int]]], info: dict[str, Any]
) -> ClassSet:
    """A ClassSet over in-memory images; ``parts`` are (split, id prefix, uint8 [N, H, W, 3], labels)."""
    splits: dict[str, list[tuple[Entry, int]]] = {"train": [], "test": []}
    row = 0
    for split, prefix, _, labels in parts:
        splits[split] += [(Entry(f"{prefix}#{i}", row=row + i), int(c)) for i, c in enumerate(labels)]
        row += len(labels)
    arrays = np.concatenate([images for _, _, images, _ in parts])
    return ClassSet(classes=classes, train=splits["train"], test=splits["test"], info=info, arrays=arrays)
