"""``anotrans`` CLI plus a test-only model, for the distributed tests (run as a script or under torchrun).

"ganomaly-nobn" is GANomaly with its BatchNorms removed: SyncBatchNorm, which keeps BatchNorm models
equal over processes, has no CPU kernels, so without BatchNorm is how N gloo processes can be checked
against one process. ``ANOTRANS_TEST_EXIT_AT_STEP=S`` makes rank 1 exit hard at its S-th step.
"""

from __future__ import annotations

import os

from torch import nn

from anotrans.cli import main
from anotrans.networks import registry
from anotrans.networks.baselines.ganomaly import GanomalyConfig, build_ganomaly
from anotrans.training.steps import GanUpdater


def _without_batchnorm(module: nn.Module) -> nn.Module:
    for name, child in module.named_children():
        replaced = nn.Identity() if isinstance(child, nn.BatchNorm2d) else _without_batchnorm(child)
        setattr(module, name, replaced)
    return module


def _build(cfg: GanomalyConfig) -> tuple[nn.Module, nn.Module]:
    generator, discriminator = build_ganomaly(cfg)
    return _without_batchnorm(generator), _without_batchnorm(discriminator)


# The registry has no public way to add a model (one list of models); this test process adds one.
registry._REGISTRY["ganomaly-nobn"] = registry.ModelSpec(
    "ganomaly-nobn", GanomalyConfig, _build, {}, "GANomaly without BatchNorm (distributed tests only)"
)


def _exit_at(step: int) -> None:
    original, count = GanUpdater.step, [0]

    def step_then_exit(self: GanUpdater, x: object) -> object:
        count[0] += 1
        if count[0] >= step:
            os._exit(3)
        return original(self, x)

    GanUpdater.step = step_then_exit


if __name__ == "__main__":
    if os.environ.get("ANOTRANS_TEST_EXIT_AT_STEP") and os.environ.get("RANK") == "1":
        _exit_at(int(os.environ["ANOTRANS_TEST_EXIT_AT_STEP"]))
    main()
