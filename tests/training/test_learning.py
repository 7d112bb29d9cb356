"""Does training learn? The demo run on the synthetic set, against the same evaluation untrained.

The synthetic defects are off the surface's colour line but no further from its mean colour than a
stripe (anotrans.data.synthetic), so nothing learns them for free: untrained, every score formula is
near chance. The demo run (25 epochs, seed 0) reaches 0.915 with the default ``disc`` score on this
machine with one torch thread; seeds 1 and 2 reach 0.774 and 0.860 (0.82/0.78/0.66 after 10 epochs),
so 0.9 is not a level the method holds across seeds here. The bar is 0.8: the same seed, perturbed
only in float summation order (two threads, or bf16 training), ended at 0.835, and another CPU's
kernels could perturb it likewise; 0.8 is still far above what an untrained or a mean-colour model
scores (0.5-0.6). Spots and scratches are found at 0.96-0.99; flat "missing"
patches, which a skip-connected generator copies, at 0.77.
"""

from __future__ import annotations

import pytest
import torch

import anotrans
from anotrans.api import DEMO_OPTIONS
from anotrans.data import DataSpec, build_splits
from anotrans.networks import build_model
from anotrans.scoring.report import auroc_by_score
from anotrans.scoring.scores import ScoreConfig, score_batches
from anotrans.training.trainer import make_loader


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
    assert trained["image_auroc"] >= 0.8, trained["image_auroc_by_score"]
