"""The reference-protocol evaluation: batch-composition dependent, and it leaves the model unchanged."""

from __future__ import annotations

import numpy as np
import torch

from anotrans.scoring.reference import reference_protocol_auroc, train_mode_unchanged
from anotrans.scoring.scores import score_batches

CPU = torch.device("cpu")


def _batches(*parts: tuple[torch.Tensor, int]) -> list[dict]:
    return [
        {"image": x, "label": [y] * len(x), "path": [f"{y}#{i}" for i in range(len(x))]} for x, y in parts
    ]


def test_train_mode_scores_depend_on_batch_mates_and_restore_buffers(make_tiny):
    model = make_tiny("anotrans")
    torch.manual_seed(0)
    normal, abnormal = torch.rand(8, 3, 16, 16) * 0.2 - 0.1, torch.rand(8, 3, 16, 16) * 2 - 1
    with torch.no_grad():  # non-trivial running statistics
        model.discriminator(torch.rand(8, 3, 16, 16) * 2 - 1)
    model.eval()
    before = {name: b.clone() for name, b in model.named_buffers()}
    pure = _batches((normal, 0), (abnormal, 1))
    mixed = _batches((torch.cat([normal[:4], abnormal[:4]]), 0))
    latent = {}
    for mode_name, mode in (("train", train_mode_unchanged), ("eval", None)):
        kwargs = {} if mode is None else {"mode": mode}
        latent[mode_name] = [
            score_batches(model, b, 1.0, CPU, **kwargs).components["latent"][:4] for b in (pure, mixed)
        ]
    assert not np.allclose(*latent["train"])  # the same images, other batch-mates: other scores
    np.testing.assert_allclose(*latent["eval"], rtol=1e-5, atol=1e-7)
    auroc = reference_protocol_auroc(model, pure, 1.0, CPU)
    assert auroc is not None and 0 <= auroc <= 1
    assert not model.training
    for name, buffer in model.named_buffers():
        assert torch.equal(buffer, before[name]), name
