"""Loss values on hand-sized tensors."""

from __future__ import annotations

import math

import torch

from anotrans.training import losses


def test_discriminator_loss_is_bce_on_logits():
    # logit 0 is probability 0.5 for both: each BCE term is log 2.
    zero = torch.zeros(3)
    assert math.isclose(losses.discriminator_loss(zero, zero).item(), 2 * math.log(2), rel_tol=1e-6)
    # sure and right: near 0; sure and wrong: large.
    assert losses.discriminator_loss(torch.full((2,), 20.0), torch.full((2,), -20.0)).item() < 1e-8
    assert losses.discriminator_loss(torch.full((2,), -20.0), torch.full((2,), 20.0)).item() > 39


def test_generator_adversarial_loss_is_non_saturating():
    logits = torch.tensor([0.0, math.log(3.0)])  # D(G(x)) = 0.5 and 0.75
    expected = (-math.log(0.5) - math.log(0.75)) / 2
    assert math.isclose(losses.generator_adversarial_loss(logits).item(), expected, rel_tol=1e-6)


def test_contextual_and_latent_losses():
    x = torch.zeros(1, 1, 2, 2)
    recon = torch.tensor([[[[1.0, -1.0], [2.0, 0.0]]]])
    assert losses.contextual_loss(x, recon).item() == 1.0  # (1 + 1 + 2 + 0) / 4
    assert losses.latent_loss(torch.zeros(1, 2), torch.tensor([[3.0, 1.0]])).item() == 5.0  # (9 + 1) / 2


def test_default_weights_follow_the_paper():
    w = losses.LossWeights()
    assert (w.adv, w.con, w.lat) == (1.0, 50.0, 1.0)
