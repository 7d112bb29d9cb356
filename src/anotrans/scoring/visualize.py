"""Heat maps: ``predict``'s panels (input | reconstruction | map over the input) and the saved map files.

Every heat map uses one fixed colour scale for every image of a run (0 to the saved ``map_vmax``,
twice a validation-normal map peak), so a normal image looks cool and an anomaly hot; a per-image
scale would paint every image's largest map value red.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from anotrans.utils.files import atomic_write_bytes

HEAT_CMAP = "jet"
HEAT_ALPHA = 0.5


def heat_rgb(values: np.ndarray, vmax: float) -> np.ndarray:
    """[H, W] map values -> uint8 [H, W, 3] colours of the fixed scale 0..``vmax``."""
    scaled = np.clip(np.asarray(values, dtype=np.float64) / max(vmax, 1e-12), 0.0, 1.0)
    return (colormaps[HEAT_CMAP](scaled)[..., :3] * 255).round().astype(np.uint8)


def overlay(image: np.ndarray, values: np.ndarray, vmax: float, alpha: float = HEAT_ALPHA) -> np.ndarray:
    """The heat map of ``values`` blended over ``image`` (uint8 [H, W, 3] or [H, W, 1], same H, W)."""
    rgb = np.repeat(image, 3, axis=2) if image.ndim == 3 and image.shape[2] == 1 else image
    mixed = (1 - alpha) * rgb.astype(np.float64) + alpha * heat_rgb(values, vmax)
    return mixed.round().astype(np.uint8)


def map_file_stem(index: int, path: str) -> str:
    """``00012_name``: the image's position and its file stem, safe as a file name (MVTec repeats stems)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(path).stem) or "image"
    return f"{index:05d}_{stem}"


def map_files(stem: str, values: np.ndarray, image: np.ndarray, vmax: float) -> dict[str, bytes]:
    """``stem.npy`` (the raw float32 map) and ``stem.png`` (its overlay on ``image``), as file contents."""
    raw = io.BytesIO()
    np.save(raw, np.asarray(values, dtype=np.float32))
    png = io.BytesIO()
    Image.fromarray(overlay(image, values, vmax)).save(png, format="PNG")
    return {f"{stem}.npy": raw.getvalue(), f"{stem}.png": png.getvalue()}


def _display(image: np.ndarray) -> np.ndarray:
    """[C, H, W] in [-1, 1] -> [H, W, 3] in [0, 1] for imshow (grey images repeated to RGB)."""
    rgb = np.clip((image.transpose(1, 2, 0) + 1.0) / 2.0, 0.0, 1.0)
    return np.repeat(rgb, 3, axis=2) if rgb.shape[2] == 1 else rgb


def save_panel(
    path: str | Path, image: np.ndarray, recon: np.ndarray, anomaly_map: np.ndarray, vmax: float, title: str
) -> None:
    """Write one PNG of three panels (atomically); ``anomaly_map`` is the run's [H, W] map (scoring.maps)."""
    fig = Figure(figsize=(7.5, 2.8), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3)
    axes[0].imshow(_display(image))
    axes[0].set_title("input")
    axes[1].imshow(_display(recon))
    axes[1].set_title("reconstruction")
    axes[2].imshow(_display(image))
    heat = axes[2].imshow(anomaly_map, cmap=HEAT_CMAP, alpha=HEAT_ALPHA, vmin=0.0, vmax=max(vmax, 1e-12))
    axes[2].set_title("anomaly map")
    fig.colorbar(heat, ax=axes[2], fraction=0.046, pad=0.04)
    for ax in axes:
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    png = io.BytesIO()
    fig.savefig(png, format="png")
    atomic_write_bytes(path, png.getvalue())
