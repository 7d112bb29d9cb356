"""Anomaly maps beyond the L1 residual, and the robust top-k aggregate of a map into one image score.

- structural residual: (1 - SSIM) / 2 per pixel (Gaussian window, sigma 1.5 as in Wang et al. 2004),
  averaged over channels; it sees a wrong texture or edge even when the mean intensity matches;
- feature residual: per-location squared difference of the discriminator's mid-level feature maps of
  x and G(x), upsampled to the input size; it sees what D has learnt to find unreal, per place;
- top-k mean: the mean of the highest ``TOPK_SHARE`` of a map's pixels, less noisy than the max.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from anotrans.scoring.maps import gaussian_blur

TOPK_SHARE = 0.01  # share of a map's pixels averaged into the image score
SSIM_SIGMA = 1.5
SSIM_C1, SSIM_C2 = (0.01 * 2) ** 2, (0.03 * 2) ** 2  # Wang et al.'s constants for a data range of 2 ([-1, 1])
FEATURE_STAGES = 2  # stride-2 stages of D kept for the feature residual (1/4 of the input side)


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
