"""Score formulas, validation-only normalisation and threshold, and batch independence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from anotrans.data import DataSpec
from anotrans.data.loader import make_loader
from anotrans.detector import Detector
from anotrans.errors import ConfigError
from anotrans.scoring.maps import gaussian_blur
from anotrans.scoring.scores import (
    ScoreConfig,
    Scorer,
    available_scores,
    minmax,
    score_batches,
)
from anotrans.training.config import TrainConfig
from anotrans.training.steps import GanUpdater


def _components(rng: np.random.Generator, n: int, shift: float = 0.0) -> dict[str, np.ndarray]:
    names = ("recon", "latent", "disc", "residual_max", "map_max")
    return {name: rng.normal(1.0 + shift, 0.2, n) for name in names}


def test_formulas_pick_and_mix_components():
    comp = {
        name: np.array([1.0, 2.0]) * k
        for k, name in enumerate(("recon", "latent", "disc", "residual_max", "map_max"), 1)
    }

    def raw(**kw):
        return Scorer(ScoreConfig(**kw)).raw(comp)

    np.testing.assert_allclose(
        raw(score="paper", score_lambda=0.1), 0.1 * comp["recon"] + 0.9 * comp["latent"]
    )
    np.testing.assert_allclose(raw(score="latent-neg"), -comp["latent"])
    np.testing.assert_allclose(raw(score="disc"), comp["disc"])
    np.testing.assert_allclose(raw(score="residual-max"), comp["residual_max"])
    with pytest.raises(ConfigError, match="second encoder"):
        raw(score="encoder")


def test_threshold_and_normalisation_come_from_validation_only():
    rng = np.random.default_rng(0)
    val = _components(rng, 200)
    scorer = Scorer(ScoreConfig(score="residual-max", threshold_quantile=0.9)).fit(val)
    assert scorer.threshold == pytest.approx(np.quantile(val["residual_max"], 0.9))
    assert scorer.stats["val_min"] == pytest.approx(val["residual_max"].min())
    # The saved threshold maps to 0.5; normalised scores stay in [0, 1] and keep the order.
    assert scorer.normalise(np.array([scorer.threshold]))[0] == pytest.approx(0.5)
    test_raw = np.array([-100.0, 0.9, 1.1, 100.0])
    norm = scorer.normalise(test_raw)
    assert norm[0] == 0.0 and norm[-1] == 1.0 and np.all(np.diff(norm) >= 0)
    # A round trip through JSON-ready dicts gives the same scores.
    again = Scorer.from_dict(scorer.to_dict())
    np.testing.assert_allclose(again.normalise(test_raw), norm)


def test_zscore_standardises_each_component_with_validation_statistics():
    rng = np.random.default_rng(1)
    val = _components(rng, 500)
    val["latent"] = val["latent"] * 1000  # a component on a much larger scale
    scorer = Scorer(ScoreConfig(score="paper", score_norm="zscore", score_lambda=0.5)).fit(val)
    mixed = scorer.raw(val)
    r = (val["recon"] - val["recon"].mean()) / val["recon"].std()
    lat = (val["latent"] - val["latent"].mean()) / val["latent"].std()
    np.testing.assert_allclose(mixed, 0.5 * r + 0.5 * lat)


def test_gaussian_blur_and_minmax():
    flat = torch.full((1, 1, 8, 8), 3.0)
    torch.testing.assert_close(gaussian_blur(flat, 1.5), flat)
    spike = torch.zeros(1, 1, 9, 9)
    spike[0, 0, 4, 4] = 1.0
    blurred = gaussian_blur(spike, 1.0)
    assert blurred.sum().item() == pytest.approx(1.0, abs=1e-5) and blurred.max() < 0.2
    assert torch.equal(gaussian_blur(spike, 0.0), spike)
    np.testing.assert_allclose(minmax(np.array([2.0, 4.0, 3.0])), [0.0, 1.0, 0.5])


def test_available_scores(make_tiny):
    assert "encoder" not in available_scores(make_tiny())
    assert "encoder" in available_scores(make_tiny("ganomaly"))


@pytest.mark.parametrize("name", ["anotrans", "ganomaly"])
def test_score_alone_equals_score_in_a_batch(make_tiny, tiny_splits, name):
    model = make_tiny(name)
    updater = GanUpdater(model, TrainConfig(d_steps=1), torch.device("cpu"))
    for batch in make_loader(tiny_splits.train, 16, shuffle=True):  # BN statistics that are not the init's
        updater.step(batch["image"])
    val = score_batches(model, make_loader(tiny_splits.val, 8), 1.0, torch.device("cpu"))
    assert model.training  # scoring mid-training puts the model back in train mode
    scorer = Scorer(ScoreConfig(score="paper")).fit(val.components)
    detector = Detector(model, scorer, DataSpec(image_size=16), torch.device("cpu"), batch_size=8)
    images = torch.stack([tiny_splits.test[i]["image"] for i in range(0, 100, 10)])
    together = detector.predict(images)
    for i in (0, 5, 9):
        alone = detector.predict(images[i])
        assert alone.raw_scores[0] == pytest.approx(together.raw_scores[i], rel=1e-5, abs=1e-6)
        np.testing.assert_allclose(alone.maps[0], together.maps[i], rtol=1e-5, atol=1e-6)
