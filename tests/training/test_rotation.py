"""``--rotation-loss``: D's quarter-turn head, its loss, the ``rotation`` score and the novelty preset."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import anotrans
from anotrans.config import build_configs, read_config_file
from anotrans.errors import ConfigError
from anotrans.networks import build_model
from anotrans.networks.discriminator import quarter_turns
from anotrans.scoring.metrics import image_auroc
from anotrans.scoring.scores import ScoreConfig, Scorer, available_scores, eval_mode, rotation_surprise
from anotrans.training.config import TrainConfig
from anotrans.training.steps import GanUpdater

from .tiny import TINY_RUN

SIZE = 16
TINY_GANOMALY = {"ngf": 8, "nz": 8, "disc_ndf": 8, "disc_nz": 8}


def test_the_option_is_checked_and_adds_the_head():
    with pytest.raises(ConfigError, match="--rotation-loss must be >= 0"):
        TrainConfig(rotation_loss=-0.5)
    with pytest.raises(ConfigError, match="--rotation-loss W"):
        TrainConfig(model_options={"rotation_head": True})
    assert TrainConfig(rotation_loss=0.5, model_options={"ngf": 8}).network_options() == {
        "ngf": 8,
        "rotation_head": True,
    }
    assert TrainConfig(model_options={"ngf": 8}).network_options() == {"ngf": 8}


def test_the_score_is_the_mean_cross_entropy_over_the_four_turns():
    torch.manual_seed(0)
    model = build_model("ganomaly", image_size=SIZE, rotation_head=True, **TINY_GANOMALY)
    x = torch.randn(3, 3, SIZE, SIZE)
    with eval_mode(model):
        got = rotation_surprise(model.discriminator, x)
        expected = [
            np.mean(
                [
                    F.cross_entropy(
                        model.discriminator.rotation(
                            model.discriminator(torch.rot90(x[i : i + 1], k, (2, 3)))[1]
                        ),
                        torch.tensor([k]),
                    ).item()
                    for k in range(4)
                ]
            )
            for i in range(3)
        ]
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5)
    assert "rotation" in available_scores(model)
    plain = build_model("ganomaly", image_size=SIZE, **TINY_GANOMALY)
    assert rotation_surprise(plain.discriminator, x) is None and "rotation" not in available_scores(plain)
    with pytest.raises(ConfigError, match="--score rotation needs a model trained with --rotation-loss"):
        Scorer(ScoreConfig(score="rotation")).raw({"disc": np.zeros(2)})


def _oriented(n: int, rng: np.random.Generator) -> torch.Tensor:
    """Normal images: a bright top fading down, a dark bar at the bottom, noise (which way up is clear)."""
    ramp = np.linspace(1, -1, SIZE)[None, None, :, None] * np.ones((n, 3, SIZE, SIZE))
    ramp[:, :, -3:] = -1
    return torch.tensor(ramp + rng.normal(0, 0.2, ramp.shape), dtype=torch.float32).clamp(-1, 1)


def _symmetric(n: int, rng: np.random.Generator) -> torch.Tensor:
    """Novel images: a centred bright disc on dark (the same under every quarter turn), noise."""
    yy, xx = np.mgrid[:SIZE, :SIZE] - (SIZE - 1) / 2
    disc = np.where(yy**2 + xx**2 < (SIZE / 3) ** 2, 1.0, -1.0) * np.ones((n, 3, SIZE, SIZE))
    return torch.tensor(disc + rng.normal(0, 0.2, disc.shape), dtype=torch.float32).clamp(-1, 1)


def test_d_learns_the_turns_of_normal_images_and_the_score_flags_novel_ones():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = build_model("ganomaly", image_size=SIZE, rotation_head=True, **TINY_GANOMALY)
    updater = GanUpdater(model, TrainConfig(rotation_loss=1.0, d_steps=1, lr=1e-3), torch.device("cpu"))
    before = model.discriminator.rotation.weight.detach().clone()
    for _ in range(40):
        updater.step(_oriented(16, rng))
    assert not torch.equal(before, model.discriminator.rotation.weight)
    normal, novel = _oriented(32, rng), _symmetric(32, rng)
    with eval_mode(model):
        turned, turns = quarter_turns(normal)
        accuracy = (
            (model.discriminator.rotation(model.discriminator(turned)[1]).argmax(1) == turns).float().mean()
        )
        scores = rotation_surprise(model.discriminator, torch.cat([normal, novel])).numpy()
    assert accuracy > 0.9  # chance: 0.25
    assert image_auroc(np.r_[np.zeros(32), np.ones(32)], scores) > 0.95


def test_a_run_with_the_novelty_preset_saves_the_head_and_scores_with_it(tmp_path):
    options = read_config_file("novelty")
    assert options == {"rotation_loss": 1.0, "score": "rotation", "select_epoch": "last"}
    _, train_cfg, score_cfg = build_configs(options)
    assert (train_cfg.rotation_loss, score_cfg.score) == (1.0, "rotation")
    result = anotrans.train(tmp_path, config="novelty", **TINY_RUN)
    assert result.metrics["score"] == "rotation"
    detector = anotrans.load(tmp_path, device="cpu")
    assert detector.model.discriminator.rotation is not None
    assert result.metrics["image_auroc"] == pytest.approx(result.metrics["image_auroc_by_score"]["rotation"])
