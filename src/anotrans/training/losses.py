"""Loss terms of the paper (Eq. 5-8) and of GANomaly, as small pure functions of tensors.

The adversarial terms take the discriminator's *logits* and use BCE-with-logits: mathematically the
sigmoid + BCELoss of the released code, without its saturation to log(0) when D is confident.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclasses.dataclass(frozen=True)
class LossWeights:
    """lambda_adv, lambda_con, lambda_lat of Eq. 8 and GANomaly's encoder weight.

    No defaults here: the values come from ``TrainConfig`` (``w_adv``, ``w_con``, ``w_lat``, ``w_enc``;
    the paper's 1, 50, 1), the one place a run's settings are kept.
    """

    adv: float
    con: float
    lat: float
    enc: float


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Eq. 5 from D's side: classify real as 1 and reconstructions as 0 (sum of the two BCE terms)."""
    return F.binary_cross_entropy_with_logits(
        real_logits, torch.ones_like(real_logits)
    ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))


def generator_adversarial_loss(fake_logits: Tensor) -> Tensor:
    """Eq. 5 from G's side, non-saturating form (-log D(G(x))), as the reference code trains it."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def contextual_loss(x: Tensor, recon: Tensor) -> Tensor:
    """Eq. 6: mean absolute error between the input and its reconstruction."""
    return F.l1_loss(recon, x)


def latent_loss(real_features: Tensor, fake_features: Tensor) -> Tensor:
    """Eq. 7: mean squared distance of D's last-layer features (the reference code's ``l2_loss``).

    Also GANomaly's feature-matching adversarial loss and, on (z, z_hat), its encoder loss (where,
    as in GANomaly, both sides are trained). For D's features the caller passes ``real_features``
    detached: it is a target, and D is not trained by the generator's loss.
    """
    return F.mse_loss(fake_features, real_features)


def rotation_loss(rotation_logits: Tensor, turns: Tensor) -> Tensor:
    """SS-GAN's auxiliary loss for D (Chen et al., CVPR 2019): cross-entropy of the quarter turn each
    real image was given (``turns`` in 0-3), so D's features must know which way up normal images stand."""
    return F.cross_entropy(rotation_logits, turns)
