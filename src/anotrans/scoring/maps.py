"""Anomaly maps: the one definition of *where* an image is abnormal, for test, predict, the API,
the report and export.

Two steps, kept apart on purpose:

1. The per-pixel map of the configured kind (``--anomaly-map``, one of :data:`MAP_KINDS`), pure torch
   at the model's resolution (traceable by ``torch.onnx``: no numpy, no data-dependent branches),
   smoothed by a Gaussian of ``smoothing_sigma`` px (:func:`smooth`). The kinds:

   - ``residual``: ``|x - G(x)|`` averaged over channels (the paper's Fig. 5 heat maps);
   - ``ssim``: the structural residual (1 - SSIM) / 2 per pixel (Gaussian window, sigma 1.5 as in
     Wang et al. 2004), averaged over channels; it sees a wrong texture or edge even when the mean
     intensity matches;
   - ``feature``: the per-location squared difference of the discriminator's mid-level feature maps
     of x and G(x), upsampled to the input size; it sees what D has learnt to find unreal, per place
     (a DCGAN-style discriminator only).

   ``auto`` picks the kind with the best pixel AUROC on the synthetic validation anomalies
   (:mod:`anotrans.scoring.selection`), never on test masks. Pixel metrics are measured on the map,
   against the masks resized (nearest) to the model's size; :func:`topk_mean` turns a map into a
   robust image score.
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


TOPK_SHARE = 0.01  # share of a map's pixels averaged into the image score
SSIM_SIGMA = 1.5
SSIM_C1, SSIM_C2 = (0.01 * 2) ** 2, (0.03 * 2) ** 2  # Wang et al.'s constants for a data range of 2 ([-1, 1])
FEATURE_STAGES = 2  # stride-2 stages of D kept for the feature residual (1/4 of the input side)


def residual_map(model: nn.Module, x: Tensor, recon: Tensor) -> Tensor:
    """``|x - G(x)|`` averaged over channels: [B, C, H, W] images -> [B, H, W]."""
    return (x.float() - recon.float()).abs().mean(dim=1)


def ssim_residual(x: Tensor, y: Tensor) -> Tensor:
    """(1 - SSIM(x, y)) / 2 per pixel, [B, H, W] in [0, 1], for images in [-1, 1]."""
    b, c, h, w = x.shape
    a, r = x.float().reshape(b * c, 1, h, w), y.float().reshape(b * c, 1, h, w)
    mu_a, mu_r = gaussian_blur(a, SSIM_SIGMA), gaussian_blur(r, SSIM_SIGMA)
    var_a = gaussian_blur(a * a, SSIM_SIGMA) - mu_a**2
    var_r = gaussian_blur(r * r, SSIM_SIGMA) - mu_r**2
    cov = gaussian_blur(a * r, SSIM_SIGMA) - mu_a * mu_r
    ssim = ((2 * mu_a * mu_r + SSIM_C1) * (2 * cov + SSIM_C2)) / (
        (mu_a**2 + mu_r**2 + SSIM_C1) * (var_a + var_r + SSIM_C2)
    )
    return ((1 - ssim) / 2).clamp(0, 1).reshape(b, c, h, w).mean(dim=1)


def feature_extractor(discriminator: nn.Module) -> nn.Module | None:
    """D's first FEATURE_STAGES stride-2 stages (a DCGAN ``features`` Sequential), or None if D has none."""
    features = getattr(discriminator, "features", None)
    if not isinstance(features, nn.Sequential):
        return None
    convs = [i for i, m in enumerate(features) if isinstance(m, nn.Conv2d)]
    if len(convs) <= FEATURE_STAGES:
        return None
    return nn.Sequential(*list(features)[: convs[FEATURE_STAGES]])


def feature_residual(discriminator: nn.Module, x: Tensor, recon: Tensor) -> Tensor | None:
    """Per-location mean squared difference of D's mid-level features, [B, H, W]; None if D has none."""
    extractor = feature_extractor(discriminator)
    if extractor is None:
        return None
    diff = (extractor(x).float() - extractor(recon.to(x.dtype)).float()) ** 2
    return F.interpolate(diff.mean(dim=1, keepdim=True), size=x.shape[-2:], mode="bilinear")[:, 0]


def topk_mean(maps: Tensor, share: float = TOPK_SHARE) -> Tensor:
    """Mean of each map's highest ``share`` of pixels (at least one): [B, H, W] -> [B]."""
    flat = maps.flatten(1)
    k = max(1, round(int(flat.shape[1]) * share))  # int(): a traced (ONNX) shape is a tensor
    return flat.topk(k, dim=1).values.mean(dim=1)


# Map kind -> per-pixel map [B, H, W] at the model's resolution, before smoothing (None: this model has
# no such map). Every kind gets the networks, the input and G's reconstruction, computed once.
MAP_KINDS: dict[str, Callable[[nn.Module, Tensor, Tensor], Tensor | None]] = {
    "residual": residual_map,
    "ssim": lambda model, x, recon: ssim_residual(x, recon),
    "feature": lambda model, x, recon: feature_residual(model.discriminator, x, recon),
}
DEFAULT_MAP = "residual"
AUTO_MAP = "auto"  # chosen per run on synthetic validation anomalies (anotrans.scoring.selection)


def available_maps(model: nn.Module) -> list[str]:
    """The map kinds this model has (``feature`` needs a DCGAN-style discriminator)."""
    has_features = feature_extractor(model.discriminator) is not None
    return [kind for kind in MAP_KINDS if kind != "feature" or has_features]


def smooth(maps: Tensor, sigma: float) -> Tensor:
    """[B, H, W] maps Gaussian-smoothed by ``sigma`` px (the last step of every map kind)."""
    return gaussian_blur(maps[:, None], sigma)[:, 0]


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
