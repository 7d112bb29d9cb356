"""How training and scoring call the networks: one generator pass, one discriminator pass, capabilities.

Every family's generator maps x to a reconstruction; GANomaly-style ones also have a second encoder,
exposed as ``forward_latent(x) -> (recon, z, z_hat)``. :func:`has_latent_encoder` is the one place that
asks, so the training objective, the scores and the generator pass agree on which models have it.
"""

from __future__ import annotations

import dataclasses

from torch import Tensor, nn


@dataclasses.dataclass
class Generated:
    """A generator's output: the reconstruction and, for GANomaly-style models, z and z_hat."""

    recon: Tensor
    z: Tensor | None = None
    z_hat: Tensor | None = None


def has_latent_encoder(generator: nn.Module) -> bool:
    """Whether ``generator`` re-encodes its reconstruction (GANomaly's ``forward_latent``)."""
    return hasattr(generator, "forward_latent")


def generate(generator: nn.Module, x: Tensor) -> Generated:
    """One generator pass, using ``forward_latent`` when the model has a second encoder."""
    if has_latent_encoder(generator):
        recon, z, z_hat = generator.forward_latent(x)
        return Generated(recon, z.flatten(1), z_hat.flatten(1))
    return Generated(generator(x))


def discriminate(discriminator: nn.Module, x: Tensor) -> tuple[Tensor, Tensor]:
    """D's ``(logits[B], features[B, F])``, shapes made explicit whatever the network returns."""
    logits, features = discriminator(x)
    return logits.reshape(x.shape[0]), features.flatten(1)
