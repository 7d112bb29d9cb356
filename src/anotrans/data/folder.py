"""A user's own images: class folders (leave-one-class-out) or a normal / abnormal folder pair.

Normal/abnormal layout: ``normal_dir`` (default: ``root`` itself, minus any abnormal or mask folder
inside it), ``abnormal_dir`` and optional ``mask_dir``, all relative to ``root``, nested folders
allowed. Without ``abnormal_dir`` the set is train-only (``test`` None). With it, a seeded
``test_split`` share of the normal images (default 0.2) goes to the test set, ahead of the
abnormal images, because a test set without normals cannot measure false alarms.
"""

from __future__ import annotations

import os
from pathlib import Path

from anotrans.data.dataset import BadFiles, Entry
from anotrans.data.images import list_images
from anotrans.data.masks import match_masks
from anotrans.data.protocols import ClassSet, Found, hold_out
from anotrans.data.spec import DataSpec
from anotrans.errors import DataError


def nonempty_images(folder: str | os.PathLike, what: str, exclude: tuple[str, ...] = ()) -> list[str]:
    images = list_images(folder, exclude)
    if not images:
        raise DataError(f"{folder}: no image files in {what}")
    return images


def _sub_folder(path: str, folder: Path) -> str | None:
    """The first sub-folder of ``folder`` that holds ``path`` (its defect kind), None when directly in it."""
    parts = Path(os.path.relpath(path, folder)).parts
    return parts[0] if len(parts) > 1 else None


def read_class_folders(root: str | os.PathLike) -> ClassSet:
    """``root/train/<class>/*`` and ``root/test/<class>/*``; classes in sorted name order."""
    root = Path(root)
    for split in ("train", "test"):
        if not (root / split).is_dir():
            raise DataError(
                f"{root / split}: folder not found (class-folder sets need train/<class>/ and test/<class>/)"
            )
    classes = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
    if not classes:
        raise DataError(f"{root / 'train'}: no class folders")
    extra = sorted(p.name for p in (root / "test").iterdir() if p.is_dir() and p.name not in classes)
    if extra:
        raise DataError(f"{root / 'test'}: classes {extra} have no training folder in {root / 'train'}")
    found = {}
    for split in ("train", "test"):
        found[split] = [
            (Entry(path), c)
            for c, name in enumerate(classes)
            for path in nonempty_images(root / split / name, f"class {name!r} ({split})")
        ]
    return ClassSet(
        classes=classes, train=found["train"], test=found["test"], info={"format": "class-folders"}
    )


def read_normal_abnormal(spec: DataSpec, bad: BadFiles) -> Found:
    """The normal / abnormal folder pair described in the module docstring."""
    root = Path(spec.root)
    abnormal_dir = root / spec.abnormal_dir if spec.abnormal_dir else None
    mask_dir = root / spec.mask_dir if spec.mask_dir else None
    if mask_dir is not None and abnormal_dir is None:
        raise DataError(f"{mask_dir}: masks given without abnormal_dir (masks belong to abnormal images)")
    inner = tuple(str(d) for d in (abnormal_dir, mask_dir) if d is not None)
    normals = [Entry(p) for p in nonempty_images(root / (spec.normal_dir or ""), "the normal folder", inner)]
    info = {
        "format": "folder",
        "normal_dir": str(root / (spec.normal_dir or "")),
        "has_masks": mask_dir is not None,
    }
    if abnormal_dir is None:
        return Found(train=normals, test=None, info=info)
    train, test_normals = hold_out(normals, spec.test_split, spec.seed, "test")
    abnormal = nonempty_images(abnormal_dir, "the abnormal folder")
    masks = {}
    if mask_dir is not None:
        if not mask_dir.is_dir():
            raise DataError(f"{mask_dir}: mask folder not found")
        masks = match_masks(abnormal, str(abnormal_dir), str(mask_dir), bad)
        abnormal = [p for p in abnormal if p in masks]
    test = test_normals + [
        Entry(p, label=1, mask=masks.get(p), defect=_sub_folder(p, abnormal_dir)) for p in abnormal
    ]
    return Found(train=train, test=test, info={**info, "abnormal_dir": str(abnormal_dir)})
