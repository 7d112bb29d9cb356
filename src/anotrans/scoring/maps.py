"""Anomaly maps: the one definition of *where* an image is abnormal, for test, predict, the API,
the report and export.

Two steps, kept apart on purpose:

1. :func:`anomaly_map`, pure torch at the model's resolution (traceable by ``torch.onnx``: no numpy,
   no data-dependent branches): the per-pixel map of the configured kind (:data:`MAP_KINDS`; today the
   residual ``|x - G(x)|`` averaged over channels), smoothed by a Gaussian of ``smoothing_sigma`` px.
   The ``residual-max`` score is its maximum; pixel metrics are measured on it, against the masks
   resized (nearest) to the model's size.
2. :func:`upsample`, bilinear to the input image's own height and width, for the saved ``.npy`` maps,
   overlays and segmentations that a user lays over the original picture.

The pixel threshold (:func:`pixel_threshold`) is a high quantile (``pixel_quantile``, 0.99 by default)
of the validation normals' map pixels, so about 1 % of a normal image's pixels are flagged; it is fitted
with the image threshold, never on test images, and saved with the model.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from anotrans.scoring.metrics import PixelSample
from anotrans.scoring.predictions import anomalous_area


def residual_map(model: nn.Module, x: Tensor, recon: Tensor) -> Tensor:
    """``|x - G(x)|`` averaged over channels: [B, C, H, W] images -> [B, 1, H, W]."""
    return (x.float() - recon.float()).abs().mean(dim=1, keepdim=True)


# Map kind -> per-pixel map [B, 1, H, W] at the model's resolution, before smoothing. Every kind gets
# the networks, the input and G's reconstruction, so a kind that reads D's features fits the same slot.
MAP_KINDS: dict[str, Callable[[nn.Module, Tensor, Tensor], Tensor]] = {"residual": residual_map}
DEFAULT_MAP = "residual"


def gaussian_blur(maps: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian smoothing of [B, 1, H, W] maps with reflect padding (sigma 0 = unchanged)."""
    if sigma <= 0:
        return maps
    radius = max(1, math.ceil(3 * sigma))
    radius = min(radius, maps.shape[-1] - 1, maps.shape[-2] - 1)
    coords = torch.arange(-radius, radius + 1, dtype=maps.dtype, device=maps.device)
    kernel = torch.exp(-(coords**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    padded = F.pad(maps, (radius, radius, radius, radius), mode="reflect")
    out = F.conv2d(padded, kernel.view(1, 1, 1, -1))
    return F.conv2d(out, kernel.view(1, 1, -1, 1))


def anomaly_map(model: nn.Module, x: Tensor, recon: Tensor, sigma: float, kind: str = DEFAULT_MAP) -> Tensor:
    """The smoothed anomaly map [B, H, W] (fp32) at the model's resolution; higher = more abnormal.

    ``model`` holds the generator and discriminator; ``recon`` is G(x), computed once by the caller.
    """
    return gaussian_blur(MAP_KINDS[kind](model, x, recon), sigma)[:, 0]


def upsample(maps: Tensor, size: tuple[int, int]) -> Tensor:
    """[B, H, W] maps -> [B, *size] by bilinear interpolation (corners aligned as images are resized)."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


def pixel_threshold(val_pixels: PixelSample, quantile: float) -> float:
    """The ``quantile`` of the validation normals' map pixels (a seeded sample when very many)."""
    return float(np.quantile(val_pixels.scores, quantile))


class MapCollector:
    """What scoring keeps of a data set's anomaly maps, batch by batch, in bounded memory.

    A :class:`PixelSample` of map pixels (with their masks when ``with_masks``: pixel metrics; without:
    the validation normals for the pixel threshold) and, given the pixel ``threshold``, each image's
    anomalous area.
    """

    def __init__(
        self,
        with_masks: bool,
        threshold: float | None = None,
        seed: int = 0,
        each_batch: Callable[[Tensor, dict[str, Any]], None] | None = None,
    ) -> None:
        self.with_masks = with_masks
        self.threshold = threshold
        self.sample = PixelSample(seed=seed)
        self.each_batch = each_batch  # e.g. writes each image's map file
        self._areas: list[np.ndarray] = []

    def add(self, maps: Tensor, batch: dict[str, Any]) -> None:
        """``maps`` [B, H, W] of ``batch`` (its ``mask`` [B, 1, H, W] is read only when ``with_masks``)."""
        values = maps.float().cpu().numpy()
        masks = batch.get("mask") if self.with_masks else None
        self.sample.add(values, None if masks is None else masks[:, 0].cpu().numpy())
        if self.threshold is not None:
            self._areas.append(anomalous_area(values, self.threshold))
        if self.each_batch is not None:
            self.each_batch(maps, batch)

    @property
    def areas(self) -> np.ndarray | None:
        """Per-image share of pixels above the threshold, in scoring order (None without a threshold)."""
        return None if self.threshold is None else np.concatenate(self._areas or [np.zeros(0)])
