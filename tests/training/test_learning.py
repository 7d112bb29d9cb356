"""Does training learn? The demo run on the synthetic set, against the same evaluation untrained.

The synthetic defects are off the surface's colour line but no further from its mean colour than a
stripe (anotrans.data.synthetic), so nothing learns them for free: untrained, every score formula is
near chance. The demo (40 epochs, masked input, lr decay; anotrans.demo.DEMO_OPTIONS) reaches the
issue's bar of 0.9 with the `disc` score on its seed and on most others (docs/usage.md, "The demo";
benchmarks/results/demo-seeds.md for seeds that took no part in choosing the configuration). With one
torch thread the run repeats exactly on the same CPU kernels.
"""

from __future__ import annotations

import pytest
import torch

import anotrans
from anotrans.data import DataSpec, build_splits
from anotrans.data.loader import make_loader
from anotrans.demo import DEMO_OPTIONS
from anotrans.networks import build_model
from anotrans.scoring.report import auroc_by_score
from anotrans.scoring.scores import ScoreConfig, score_batches


@pytest.mark.slow
def test_anotrans_learns_the_synthetic_anomalies(tmp_path):
    splits = build_splits(DataSpec(data="synthetic", image_size=32, seed=DEMO_OPTIONS["seed"]))
    torch.manual_seed(DEMO_OPTIONS["seed"])
    untrained_model = build_model("anotrans", image_size=32, **DEMO_OPTIONS["model_options"])
    cpu = torch.device("cpu")
    val, test = (
        score_batches(untrained_model, make_loader(s, 64), 1.0, cpu) for s in (splits.val, splits.test)
    )
    untrained = auroc_by_score(ScoreConfig(), ["disc"], val, test)
    trained = anotrans.train(tmp_path, progress=False, **DEMO_OPTIONS).metrics
    assert untrained["disc"] < 0.6, untrained
    assert trained["image_auroc"] == trained["image_auroc_by_score"]["disc"]  # the default score
    assert trained["image_auroc"] >= 0.9, trained["image_auroc_by_score"]
