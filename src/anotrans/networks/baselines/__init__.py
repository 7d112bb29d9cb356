"""The GAN baselines AnoTrans is compared with (registered in :mod:`anotrans.networks.registry`).

``ganomaly`` (Akcay et al., ACCV 2018), ``skip-ganomaly`` (Akcay et al., IJCNN 2019) and ``sagan``
(Liu et al., ICIP 2021). All share :class:`~anotrans.networks.discriminator.Discriminator`.
"""

from anotrans.networks.baselines.ganomaly import GanomalyConfig, GanomalyGenerator
from anotrans.networks.baselines.sagan import SaganConfig, SaganGenerator
from anotrans.networks.baselines.skip_ganomaly import SkipGanomalyConfig, UnetGenerator

__all__ = [
    "GanomalyConfig",
    "GanomalyGenerator",
    "SaganConfig",
    "SaganGenerator",
    "SkipGanomalyConfig",
    "UnetGenerator",
]
