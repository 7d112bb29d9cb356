"""Loss values on hand-sized tensors."""

from __future__ import annotations

import math

import pytest
import torch

from anotrans.training import losses
from anotrans.training.config import TrainConfig
from anotrans.training.steps import GanUpdater


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


def test_training_defaults_are_the_papers_weights():
    """Eq. 8 with lambda_adv = 1, lambda_con = 50, lambda_lat = 1 (paper sec. 3.2)."""
    config = TrainConfig()
    assert (config.w_adv, config.w_con, config.w_lat) == (1.0, 50.0, 1.0)


@pytest.mark.parametrize(
    ("name", "weights"),
    [("anotrans", ("w_adv", "w_con", "w_lat")), ("ganomaly", ("w_adv", "w_con", "w_enc"))],
)
def test_configured_weights_reach_the_generator_loss(make_tiny, batch, name, weights):
    """The real GanUpdater step from the same start: each G term scales with its TrainConfig weight."""
    factors = dict(zip(weights, (3.0, 0.1, 7.0), strict=True))
    base, scaled = (
        GanUpdater(make_tiny(name), TrainConfig(d_steps=1, **overrides), torch.device("cpu"))
        .step(batch)
        .losses
        for overrides in ({}, {k: getattr(TrainConfig, k) * f for k, f in factors.items()})
    )
    for key, factor in factors.items():
        term = "g_" + key.removeprefix("w_")
        assert math.isclose(scaled[term], factor * base[term], rel_tol=1e-5), term
    terms = [scaled["g_" + key.removeprefix("w_")] for key in weights]
    assert math.isclose(scaled["g"], sum(terms), rel_tol=1e-5)
