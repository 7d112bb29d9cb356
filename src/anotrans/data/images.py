"""Decoding one image or mask file into a uint8 array of the model's size and channel count.

Every reader and ``predict`` go through these functions, so every image in the project is converted
the same way and every bad file fails with the same kind of message (a DataError naming the path).

Two decisions apply to every file:
- A pixel cap (``max_image_pixels``, default 64 Mpx): the header's width x height is checked before
  any pixel is decoded, so a small file claiming a huge image (a decompression bomb) is refused
  instead of filling memory. Pillow's own bomb check is set to the same cap; its error is a DataError.
- EXIF orientation is applied (``ImageOps.exif_transpose``): a camera JPEG is read the way viewers
  show it and masks are drawn on, not sideways.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from anotrans.data.transforms import to_tensor
from anotrans.errors import ConfigError, DataError

IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif"}
)
# Bilinear with Pillow's antialiasing on downscaling: the filter of the reference's Resize.
IMAGE_FILTER = Image.Resampling.BILINEAR
# Nearest keeps masks binary; any other filter would invent fractional defect pixels.
MASK_FILTER = Image.Resampling.NEAREST
_SIXTEEN_BIT_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})
DEFAULT_MAX_IMAGE_PIXELS = 64_000_000
_TRANSPOSING_ORIENTATIONS = frozenset({5, 6, 7, 8})  # EXIF orientations that swap width and height
_EXIF_ORIENTATION = 0x0112
_max_pixels = DEFAULT_MAX_IMAGE_PIXELS
Image.MAX_IMAGE_PIXELS = _max_pixels


def set_max_image_pixels(limit: int) -> None:
    """The pixel cap of every later decode in this process (and of forked loader workers)."""
    global _max_pixels
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ConfigError(f"max_image_pixels must be a positive integer, got {limit!r}")
    _max_pixels = limit
    Image.MAX_IMAGE_PIXELS = limit


def check_geometry(image_size: int, channels: int) -> None:
    """Reject sizes and channel counts that no model accepts, before any file is read."""
    if not isinstance(image_size, int) or image_size < 4:
        raise ConfigError(f"image_size must be an integer >= 4, got {image_size!r}")
    if channels not in (1, 3):
        raise ConfigError(f"channels must be 1 or 3, got {channels!r}")


def is_image_file(path: str | os.PathLike) -> bool:
    """Files are indexed by extension so stray files (README, .DS_Store) never reach the decoder."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def list_images(folder: str | os.PathLike, exclude: tuple[str, ...] = ()) -> list[str]:
    """All image files below ``folder`` (nested folders allowed), sorted so every run sees one order."""
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"{root}: folder not found")
    excluded = {os.path.abspath(p) for p in exclude}
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if os.path.abspath(os.path.join(dirpath, d)) not in excluded)
        found.extend(os.path.join(dirpath, f) for f in filenames if is_image_file(f))
    return sorted(found)


def _bomb(path: str | os.PathLike, problem: str) -> DataError:
    return DataError(
        f"{path}: {problem} (max_image_pixels / --max-image-pixels; refused undecoded as a possible "
        "decompression bomb, raise the cap if the file is real)"
    )


@contextlib.contextmanager
def _opened(path: str | os.PathLike) -> Iterator[Image.Image]:
    """``Image.open`` with the pixel cap checked on the header; every failure a DataError naming ``path``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the check below refuses it
            with Image.open(path) as img:
                width, height = img.size
                if width * height > _max_pixels:
                    raise _bomb(
                        path, f"{width}x{height} = {width * height} pixels is over the cap of {_max_pixels}"
                    )
                yield img
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, expected an image file") from None
    except UnidentifiedImageError:
        raise DataError(f"{path}: not an image file Pillow can read") from None
    except Image.DecompressionBombError as exc:  # Pillow's own check, at twice the cap (some plugins)
        raise _bomb(path, f"{exc} (over the cap of {_max_pixels})") from None
    except (OSError, SyntaxError, ValueError, TypeError, IndexError, KeyError, EOFError) as exc:
        # Pillow's plugins raise any of these on malformed headers or data (found by fuzzing).
        raise DataError(f"{path}: truncated or corrupt image ({type(exc).__name__}: {exc})") from None


def open_image(path: str | os.PathLike) -> Image.Image:
    """Open and fully decode a file (EXIF orientation applied), or raise a DataError naming the path."""
    with _opened(path) as img:
        img.load()  # decode now: a truncated file fails here, not later inside a worker
        return ImageOps.exif_transpose(img)  # a copy, detached from the file handle


def image_size_of(path: str | os.PathLike) -> tuple[int, int]:
    """Width and height as :func:`open_image` returns them, from the header only (no decoding)."""
    with _opened(path) as img:
        width, height = img.size
        orientation = img.getexif().get(_EXIF_ORIENTATION)
    return (height, width) if orientation in _TRANSPOSING_ORIENTATIONS else (width, height)


def to_channels(img: Image.Image, channels: int) -> Image.Image:
    """Convert any Pillow mode explicitly to 8-bit L (channels=1) or RGB (channels=3).

    16-bit greyscale is scaled by 1/257 (Pillow's own convert would clip it), palette images are
    expanded through their palette, and alpha is dropped (colour kept as stored, not composited).
    """
    if img.mode in _SIXTEEN_BIT_MODES:
        arr = np.asarray(img, dtype=np.float64)
        img = Image.fromarray(np.clip(np.rint(arr / 257.0), 0, 255).astype(np.uint8), mode="L")
    elif img.mode == "F":
        img = Image.fromarray(np.clip(np.rint(np.asarray(img)), 0, 255).astype(np.uint8), mode="L")
    elif img.mode == "P":
        img = img.convert("RGBA")
    if channels == 1:
        return img if img.mode == "L" else img.convert("RGB").convert("L")
    return img if img.mode == "RGB" else img.convert("RGB")


def conform(img: Image.Image, image_size: int, channels: int) -> np.ndarray:
    """Resize (squashing, so no defect near a border is cropped away) to uint8 [H, W, C]."""
    img = to_channels(img, channels)
    if img.size != (image_size, image_size):
        img = img.resize((image_size, image_size), IMAGE_FILTER)
    return np.asarray(img, dtype=np.uint8).reshape(image_size, image_size, channels)


def read_image(path: str | os.PathLike, image_size: int, channels: int) -> np.ndarray:
    """Decode a file to uint8 [H, W, C] of the model's size."""
    return conform(open_image(path), image_size, channels)


def binarize_mask(mask: np.ndarray) -> np.ndarray:
    """0/255 masks (MVTec) and 0/1 masks (many user tools) both become {0, 1}."""
    threshold = 0 if mask.max(initial=0) <= 1 else 127
    return (mask > threshold).astype(np.uint8)


def read_mask(path: str | os.PathLike, image_size: int) -> np.ndarray:
    """Decode a mask file to uint8 [H, W] in {0, 1}, resized with nearest neighbour."""
    img = to_channels(open_image(path), 1)
    if img.size != (image_size, image_size):
        img = img.resize((image_size, image_size), MASK_FILTER)
    return binarize_mask(np.asarray(img, dtype=np.uint8))


def load_image(path: str | os.PathLike, image_size: int, channels: int = 3) -> torch.Tensor:
    """One user file as float32 [C, H, W] in [-1, 1], preprocessed exactly like the training data."""
    check_geometry(image_size, channels)
    if Path(path).is_dir():
        raise DataError(f"{path}: is a folder, expected an image file")
    return to_tensor(read_image(path, image_size, channels))
