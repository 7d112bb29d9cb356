"""The one Dataset class every reader produces: an index of entries plus how to decode them."""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from anotrans.data.cache import MEMORY_CACHE_BYTES, DiskCache
from anotrans.data.images import conform, read_image, read_mask
from anotrans.data.transforms import augment, mask_to_tensor, random_crop, to_tensor
from anotrans.errors import DataError

NORMAL_KIND = "good"  # MVTec AD's name for normal test images, used for every data set
UNKNOWN_DEFECT = "abnormal"  # an abnormal image whose reader knows no defect kind


class BadFiles:
    """Where bad-file problems go: raised at once, or (``skip_bad_files``) warned about and counted."""

    def __init__(self, skip: bool):
        self.skip = skip
        self.skipped: list[str] = []

    def report(self, problem: str) -> None:
        """``problem`` names the path and what is wrong."""
        if not self.skip:
            raise DataError(problem)
        warnings.warn(f"skipping bad file: {problem}", stacklevel=3)
        self.skipped.append(problem)


@dataclasses.dataclass(frozen=True)
class Entry:
    """One sample before decoding.

    ``path`` is the file, or a stable id such as ``cifar10/test_batch#12`` when ``row`` points into the
    dataset's in-memory arrays (array formats and the synthetic set).
    """

    path: str
    label: int = 0
    mask: str | None = None  # mask file; None: all-zero mask (or the row of ``mask_arrays``)
    row: int = -1  # row of ``arrays``; -1: decode ``path``
    defect: str | None = None  # defect kind (MVTec folder, folder sub-folder, synthetic kind); None: unknown

    @property
    def kind(self) -> str:
        """``defect``, or ``good`` / ``abnormal`` by label when the reader knows no kind."""
        return self.defect or (NORMAL_KIND if self.label == 0 else UNKNOWN_DEFECT)


class ImageDataset(Dataset):
    """Samples in the contract's dict format (see ``anotrans.data.spec``).

    Decoded files are memoised as uint8 when the whole set fits ``MEMORY_CACHE_BYTES`` and, with
    ``cache_dir``, stored on disk. Only plain lists and arrays are held, so the dataset pickles for
    spawn workers; the memo is dropped when pickling and refilled per process (call ``preload`` before
    forking workers to share one copy).
    """

    def __init__(
        self,
        entries: list[Entry],
        image_size: int,
        channels: int,
        augment: bool = False,
        crop_size: int = 0,
        arrays: np.ndarray | None = None,
        mask_arrays: np.ndarray | None = None,
        cache_dir: str | None = None,
    ):
        self.entries = list(entries)
        self.image_size = image_size
        self.channels = channels
        self.augment = augment
        self.crop_size = crop_size
        self.arrays = arrays
        self.mask_arrays = mask_arrays
        self.cache_dir = cache_dir
        self._memo: dict[tuple[str, str], np.ndarray] = {}
        self._memo_enabled = len(self.entries) * image_size * image_size * channels <= MEMORY_CACHE_BYTES

    def __len__(self) -> int:
        return len(self.entries)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_memo": {}}

    @property
    def labels(self) -> list[int]:
        """Labels without decoding anything (metrics and tests need them cheaply)."""
        return [e.label for e in self.entries]

    def _cached(self, path: str, kind: str, decode) -> np.ndarray:
        """Decode ``path`` once per process (memo) and once per machine (disk cache)."""
        tag = f"{kind}-{self.image_size}-{self.channels}"
        key = (path, tag)
        if key in self._memo:
            return self._memo[key]
        disk = DiskCache(self.cache_dir) if self.cache_dir else None
        array = disk.get(path, tag) if disk else None
        if array is None:
            array = decode()
            if disk:
                disk.put(path, tag, array)
        if self._memo_enabled:
            self._memo[key] = array
        return array

    def image_array(self, entry: Entry) -> np.ndarray:
        """uint8 [H, W, C] of the model's size."""
        if entry.row >= 0:
            return conform(Image.fromarray(self.arrays[entry.row]), self.image_size, self.channels)
        return self._cached(
            entry.path, "image", lambda: read_image(entry.path, self.image_size, self.channels)
        )

    def mask_array(self, entry: Entry) -> np.ndarray:
        """uint8 [H, W] in {0, 1}; zeros for images without a mask."""
        if entry.mask is not None:
            return self._cached(entry.mask, "mask", lambda: read_mask(entry.mask, self.image_size))
        if entry.row >= 0 and self.mask_arrays is not None:
            mask = Image.fromarray(self.mask_arrays[entry.row])
            return np.asarray(mask.resize((self.image_size,) * 2, Image.Resampling.NEAREST), dtype=np.uint8)
        return np.zeros((self.image_size, self.image_size), dtype=np.uint8)

    def __getitem__(self, index: int) -> dict[str, Any]:
        entry = self.entries[index]
        image, mask = self.image_array(entry), self.mask_array(entry)
        if self.augment:
            image, mask = augment(image, mask)
        if self.crop_size:
            image, mask = random_crop(image, mask, self.crop_size)
        return {
            "image": to_tensor(image),
            "label": entry.label,
            "mask": mask_to_tensor(mask),
            "path": entry.path,
            "defect": entry.kind,
        }

    def preload(self) -> None:
        """Decode every file now (filling the memo and disk cache), e.g. before forking workers."""
        for entry in self.entries:
            self.image_array(entry)
            self.mask_array(entry)

    def drop_unreadable(self, bad: BadFiles) -> None:
        """Decode everything now and drop (reporting to ``bad``) entries whose image or mask fails."""
        kept = []
        for entry in self.entries:
            try:
                self.image_array(entry)
                self.mask_array(entry)
            except DataError as exc:
                bad.report(str(exc))
            else:
                kept.append(entry)
        self.entries = kept
