"""The DCGAN weight init that every network here shares (skip-ganomaly's ``weights_init``)."""

from __future__ import annotations

from torch import nn

_WEIGHTED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def dcgan_init_(module: nn.Module) -> nn.Module:
    """Re-initialise ``module`` in place: conv/linear N(0, 0.02), bias 0; BatchNorm N(1, 0.02), bias 0.

    The baselines were tuned with this init; it is also how a collapsed discriminator is reset
    (``reinit_d``), so it must be callable again on a trained model. Returns ``module`` for chaining.
    """
    for m in module.modules():
        if isinstance(m, _WEIGHTED):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, _BATCHNORMS):
            nn.init.normal_(m.weight, 1.0, 0.02)
        else:
            continue
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    return module
