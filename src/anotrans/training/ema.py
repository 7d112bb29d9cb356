"""An exponential moving average (EMA) of the generator's weights, evaluated instead of the live ones.

A GAN's generator never settles: the adversarial game moves it from update to update, so the weights
at one epoch end are a noisy draw and the test AUROC swings from epoch to epoch. Their moving average
changes slowly. With ``ema_decay`` > 0 every evaluation (validation, epoch selection, the test scores,
the saved model) uses the averaged generator; training itself, and D, see only the live one. The
averaging is torch's ``AveragedModel`` with its EMA function; buffers are averaged with the weights.
BatchNorm statistics are then measured again for the averaged weights before they are evaluated
(:meth:`GeneratorAverage.refresh_batch_norm`): an average of the live statistics does not describe the
averaged weights' activations: Skip-GANomaly's averaged G (decay 0.98, bottle, seed 50, epoch 5) had a
validation reconstruction error of 0.43 with averaged statistics (on a GPU) and 0.20 with measured ones
(on the CPU; the live G's: 0.05, the rest is the average's lag).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn, update_bn

PREFIX = "ema."


class GeneratorAverage:
    """``average = decay * average + (1 - decay) * live`` after every generator update."""

    def __init__(self, generator: nn.Module, decay: float) -> None:
        self.generator = generator
        self.average = AveragedModel(generator, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)

    def update(self) -> None:
        self.average.update_parameters(self.generator)

    def refresh_batch_norm(self, inputs: Iterable[Tensor]) -> None:
        """The averaged G's BatchNorm running statistics, measured afresh on ``inputs`` (batches of G's
        input) as torch's SWA recipe does; leaves every random number generator as it was, so that a
        run with and without evaluations draws alike. Nothing to do for a G without BatchNorm."""
        module = self.average.module
        if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules()):
            return
        device = next(module.parameters()).device
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            update_bn(inputs, module)

    def load_into_generator(self) -> None:
        """Replace the live weights by the average for good (training is over)."""
        self.generator.load_state_dict(self.average.module.state_dict())

    @contextlib.contextmanager
    def swapped_in(self) -> Iterator[None]:
        """The averaged weights in the generator for the block, the live ones back afterwards."""
        live = {k: v.detach().clone() for k, v in self.generator.state_dict().items()}
        self.load_into_generator()
        try:
            yield
        finally:
            self.generator.load_state_dict(live)

    def state_tensors(self) -> dict[str, Tensor]:
        """The average and its update count, for the resume checkpoint."""
        return {PREFIX + k: v for k, v in self.average.state_dict().items()}

    def load_state_tensors(self, tensors: dict[str, Tensor]) -> None:
        mine = {k[len(PREFIX) :]: v for k, v in tensors.items() if k.startswith(PREFIX)}
        with torch.no_grad():
            self.average.load_state_dict(mine)
