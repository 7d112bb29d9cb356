"""Heat-map panels for ``predict``: input | reconstruction | residual heat map over the input.

The heat map uses one fixed colour scale for every image (0 to ``vmax``), so a normal image looks
cool and an anomaly hot; a per-image scale would paint every image's largest residual red.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from anotrans.utils.files import atomic_write_bytes


def _display(image: np.ndarray) -> np.ndarray:
    """[C, H, W] in [-1, 1] -> [H, W, 3] in [0, 1] for imshow (grey images repeated to RGB)."""
    rgb = np.clip((image.transpose(1, 2, 0) + 1.0) / 2.0, 0.0, 1.0)
    return np.repeat(rgb, 3, axis=2) if rgb.shape[2] == 1 else rgb


def save_panel(
    path: str | Path, image: np.ndarray, recon: np.ndarray, residual: np.ndarray, vmax: float, title: str
) -> None:
    """Write one PNG of three panels (atomically); ``residual`` is the [H, W] map ``residual-max`` scores."""
    fig = Figure(figsize=(7.5, 2.8), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3)
    axes[0].imshow(_display(image))
    axes[0].set_title("input")
    axes[1].imshow(_display(recon))
    axes[1].set_title("reconstruction")
    axes[2].imshow(_display(image))
    heat = axes[2].imshow(residual, cmap="jet", alpha=0.5, vmin=0.0, vmax=max(vmax, 1e-12))
    axes[2].set_title("residual")
    fig.colorbar(heat, ax=axes[2], fraction=0.046, pad=0.04)
    for ax in axes:
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    png = io.BytesIO()
    fig.savefig(png, format="png")
    atomic_write_bytes(path, png.getvalue())
