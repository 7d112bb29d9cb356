"""Pairing defect images with their ground-truth masks by relative path and file stem."""

from __future__ import annotations

import os
from pathlib import Path

from anotrans.data.dataset import BadFiles
from anotrans.data.images import image_size_of, list_images
from anotrans.errors import DataError

MASK_SUFFIX = "_mask"


def _key(path: str, root: str, strip_suffix: bool) -> str:
    """Relative path without extension (and, for masks, without a trailing ``_mask``)."""
    rel = Path(os.path.relpath(path, root)).with_suffix("").as_posix()
    return rel[: -len(MASK_SUFFIX)] if strip_suffix and rel.endswith(MASK_SUFFIX) else rel


def match_masks(images: list[str], image_root: str, mask_root: str, bad: BadFiles) -> dict[str, str]:
    """Map each image to its mask: ``<dir>/x.png`` <-> ``<mask_root>/<dir>/x_mask.*`` or ``<dir>/x.*``.

    Every image needs exactly one mask of its own pixel size and every mask needs an image, because a
    silently missing or misnamed mask would turn into an all-normal mask and corrupt pixel metrics.
    Images whose mask problem is skipped (``skip_bad_files``) are left out of the returned map and
    must be dropped by the caller.
    """
    masks: dict[str, str] = {}
    for mask in list_images(mask_root):
        key = _key(mask, mask_root, strip_suffix=True)
        if key in masks:
            bad.report(f"{mask}: ambiguous mask, {masks[key]} already matches the same image")
            continue
        masks[key] = mask
    image_keys = {_key(image, image_root, strip_suffix=False) for image in images}
    for key, mask in masks.items():
        if key not in image_keys:
            bad.report(f"{mask}: mask name matches no image (expected an image {key}.* below {image_root})")
    matched = {}
    for image in images:
        key = _key(image, image_root, strip_suffix=False)
        mask = masks.get(key)
        if mask is None:
            bad.report(
                f"{image}: no mask found (expected {Path(mask_root) / key}{MASK_SUFFIX}.png or similar)"
            )
            continue
        try:
            mask_size, size = image_size_of(mask), image_size_of(image)
        except DataError as exc:
            bad.report(str(exc))
            continue
        if mask_size != size:
            bad.report(f"{mask}: mask size {mask_size} does not match the size {size} of its image {image}")
        else:
            matched[image] = mask
    return matched
