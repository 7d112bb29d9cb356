"""Corrupted-input training: noise squares or another image's texture in G's input only; the losses and
D still see the clean image."""

from __future__ import annotations

import pytest
import torch

from anotrans.errors import ConfigError
from anotrans.networks import build_model
from anotrans.training import corruption, distributed, steps
from anotrans.training.config import TrainConfig
from anotrans.training.corruption import NOISE_PATCHES, SIDE_FRACTIONS, foreign_texture, noise_patches
from anotrans.training.steps import GanUpdater


def _changed(x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    return (out != x).any(1)  # [B, H, W]


def test_squares_of_noise_replace_parts_of_each_image_and_nothing_else():
    torch.manual_seed(0)
    x = torch.zeros(256, 3, 32, 32).uniform_(-1, 1)
    out = noise_patches(x, probability=1.0)
    changed = _changed(x, out)
    low, high = int(32 * SIDE_FRACTIONS[0]), int(32 * SIDE_FRACTIONS[1])
    area = changed.flatten(1).sum(1)
    assert area.min() >= low**2 and area.max() <= NOISE_PATCHES * high**2
    noise = out[changed.unsqueeze(1).expand_as(x)]
    assert noise.std().item() == pytest.approx(0.5, abs=0.02)  # N(0, 0.5^2), not a flat fill
    assert torch.equal(out[~changed.unsqueeze(1).expand_as(x)], x[~changed.unsqueeze(1).expand_as(x)])


def test_each_noise_patch_is_a_filled_square_inside_the_image(monkeypatch):
    monkeypatch.setattr(corruption, "NOISE_PATCHES", 1)
    torch.manual_seed(1)
    x = torch.zeros(64, 1, 32, 32)
    low, high = int(32 * SIDE_FRACTIONS[0]), int(32 * SIDE_FRACTIONS[1])
    for image in _changed(x, noise_patches(x, probability=1.0)):
        cells = image.nonzero()
        side = cells[:, 0].max() - cells[:, 0].min() + 1
        assert low <= side <= high
        assert cells[:, 1].max() - cells[:, 1].min() + 1 == side and len(cells) == side * side


def test_probability_sets_how_often_a_square_appears():
    torch.manual_seed(2)
    x = torch.zeros(4000, 1, 16, 16)
    untouched = (~_changed(x, noise_patches(x, probability=0.25)).flatten(1).any(1)).float().mean()
    assert untouched.item() == pytest.approx(0.75**NOISE_PATCHES, abs=0.03)
    assert torch.equal(noise_patches(x[:8], probability=0.0), x[:8])


def test_a_texture_blob_is_one_irregular_region_of_the_donor_and_nothing_else(monkeypatch):
    monkeypatch.setattr(corruption, "COLOUR_SHIFT", 0.0)
    torch.manual_seed(3)
    x = torch.full((64, 3, 32, 32), -1.0)
    donor = torch.linspace(-0.9, 0.9, 64).view(64, 1, 1, 1).expand(64, 3, 32, 32)  # one value per image
    out = foreign_texture(x, donor, probability=1.0)
    changed = _changed(x, out)
    area = changed.flatten(1).float().mean(1)
    assert area.min() > 0 and area.max() < 0.5  # every image gets one blob, never most of the image
    for i in range(64):  # the blob holds its own donor's texture, and the rest of the image is untouched
        assert torch.equal(out[i][:, changed[i]], donor[i][:, changed[i]])
        assert torch.equal(out[i][:, ~changed[i]], x[i][:, ~changed[i]])


def test_texture_is_recoloured_within_the_shift():
    torch.manual_seed(4)
    x = torch.full((256, 3, 16, 16), -1.0)
    out = foreign_texture(x, torch.zeros_like(x), probability=1.0)
    blob = out[_changed(x, out).unsqueeze(1).expand_as(x)]
    assert blob.abs().max() <= corruption.COLOUR_SHIFT and blob.std() > corruption.COLOUR_SHIFT / 4


def test_texture_probability_sets_how_often_a_blob_appears():
    torch.manual_seed(5)
    x = torch.full((4000, 1, 16, 16), -1.0)
    touched = _changed(x, foreign_texture(x, torch.ones_like(x), probability=0.3)).flatten(1).any(1)
    assert touched.float().mean().item() == pytest.approx(0.3, abs=0.03)


@pytest.mark.parametrize("option", ["masked_input", "foreign_texture"])
def test_the_generator_sees_the_corrupted_image_and_the_losses_the_clean_one(monkeypatch, option):
    torch.manual_seed(0)
    model = build_model("ganomaly", image_size=16)
    seen: dict[str, torch.Tensor] = {}
    # G's pass runs through training.distributed.GeneratorPass (DDP-wrappable), which calls generate.
    generate, terms, discriminate = distributed.generate, steps.GanomalyObjective.terms, steps.discriminate

    def recording_generate(generator, x):
        seen["g"] = x
        return generate(generator, x)

    def recording_terms(self, x, *args):
        seen["target"] = x
        return terms(self, x, *args)

    def recording_discriminate(discriminator, x):
        seen.setdefault("d", []).append(x)
        return discriminate(discriminator, x)

    monkeypatch.setattr(distributed, "generate", recording_generate)
    monkeypatch.setattr(steps, "discriminate", recording_discriminate)
    monkeypatch.setattr(steps.GanomalyObjective, "terms", recording_terms)
    x = torch.zeros(8, 3, 16, 16).uniform_(-1, 1)
    GanUpdater(model, TrainConfig(**{option: 1.0}), torch.device("cpu")).step(x)
    assert seen["target"] is x and not torch.equal(seen["g"], x)
    assert any(d is x for d in seen["d"])  # D's real batch is the clean image
    GanUpdater(model, TrainConfig(), torch.device("cpu")).step(x)
    assert seen["g"] is x


@pytest.mark.parametrize("option", ["masked_input", "foreign_texture"])
@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_corruption_options_must_be_probabilities(option, bad):
    flag = "--" + option.replace("_", "-")
    with pytest.raises(ConfigError, match=f"{flag} must be a probability"):
        TrainConfig(**{option: bad})
