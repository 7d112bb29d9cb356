"""The released code's test protocol, measured for comparison only (never used to select or deploy).

The reference code never calls ``eval()``: at test time BatchNorm normalises with each test batch's own
statistics, and its test set is unshuffled, normal images first, in batches of 128. Nearly every batch
is then all-normal or all-abnormal, so an image's score depends on its batch-mates, which leaks labels
into the scores. ``reference_protocol_auroc`` reproduces that measurement without changing the model.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import nn

from anotrans.scoring.metrics import image_auroc
from anotrans.scoring.scores import ScoreConfig, Scorer, score_batches

REFERENCE_BATCH_SIZE = 128
# The released code's score: 0.9 * R + 0.1 * L (the paper's Eq. 9 has the weights the other way round).
REFERENCE_SCORE = ScoreConfig(score="paper", score_lambda=0.9)


@contextlib.contextmanager
def train_mode_unchanged(module: nn.Module) -> Iterator[None]:
    """Train mode without autograd, then every buffer restored (BatchNorm running stats and counters).

    Train-mode BatchNorm updates its running statistics on every forward pass; restoring them keeps
    this measurement from changing the model that training continues with.
    """
    saved = {name: buffer.clone() for name, buffer in module.named_buffers()}
    was_training = module.training
    module.train()
    try:
        with torch.no_grad():
            yield
    finally:
        with torch.no_grad():
            for name, buffer in module.named_buffers():
                buffer.copy_(saved[name])
        module.train(was_training)


def reference_protocol_auroc(
    model: nn.Module, batches: Iterable[dict[str, Any]], sigma: float, device: torch.device
) -> float | None:
    """Test AUROC as the released code measures it; ``batches``: the unshuffled test set in batches of 128."""
    table = score_batches(model, batches, sigma, device, mode=train_mode_unchanged)
    return image_auroc(table.labels, Scorer(REFERENCE_SCORE).raw(table.components))
