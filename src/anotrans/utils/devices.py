"""Device names as the options spell them ("auto", "cpu", "cuda") to torch devices."""

from __future__ import annotations

import torch

from anotrans.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """The torch device for ``--device``; asking for CUDA where this torch has none is a ConfigError
    naming the option, not torch's bare AssertionError from deep inside ``Module.to``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"--device {name}: this torch ({torch.__version__}) sees no CUDA GPU; use --device cpu or auto"
        )
    return device
