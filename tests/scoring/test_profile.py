"""The validation normals' map profile behind ``zmap-topk``: values, leave-one-out, files and guards."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from anotrans.errors import CheckpointError, ConfigError
from anotrans.scoring.maps import topk_mean
from anotrans.scoring.metrics import image_auroc
from anotrans.scoring.profile import PROFILE_FILE, MapProfile, leave_one_out_scores
from anotrans.scoring.scores import available_scores, compute_components, eval_mode


def _maps(n: int = 6, size: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).gamma(2.0, 0.1, (n, size, size))).float()


def test_fit_is_the_per_pixel_mean_and_spread_plus_its_median():
    maps = _maps()
    profile = MapProfile.fit(maps, "ssim", 1.0)
    values = maps.double().numpy()
    std = values.std(axis=0)
    assert np.allclose(profile.mean.numpy(), values.mean(axis=0), atol=1e-6)
    assert np.allclose(profile.scale.numpy(), std + np.median(std), atol=1e-6)
    z = profile.standardise(maps)
    assert np.allclose(z.numpy(), (values - values.mean(axis=0)) / (std + np.median(std)), atol=1e-5)
    assert torch.allclose(profile.score(maps), topk_mean(z))


def test_standardise_resizes_the_profile_to_the_maps():
    profile = MapProfile(torch.full((4, 4), 0.5), torch.full((4, 4), 0.25), "residual", 0.0)
    z = profile.standardise(torch.ones(2, 16, 16))
    assert z.shape == (2, 16, 16) and torch.allclose(z, torch.full_like(z, 2.0))


def test_leave_one_out_scores_each_normal_against_the_others_only():
    maps = _maps(n=7, seed=1)
    scores = leave_one_out_scores(maps)
    for i in range(len(maps)):
        others = torch.cat([maps[:i], maps[i + 1 :]])
        expected = MapProfile.fit(others, "ssim", 1.0).score(maps[i : i + 1])
        assert scores[i].item() == pytest.approx(expected.item(), rel=1e-4)
    # scored in-sample, a normal is pulled towards the profile that holds it: lower than leave-one-out
    assert (MapProfile.fit(maps, "ssim", 1.0).score(maps).double() < scores).all()


def test_zmap_ranks_a_faint_new_defect_above_a_bright_place_every_normal_has():
    """The reason for the score: normal maps share a hot rim (varying in strength) that outshines a
    faint defect; the raw map's top-k ranks by rim brightness, the standardised map finds the defect."""
    rng = np.random.default_rng(2)
    base = rng.gamma(2.0, 0.01, (60, 16, 16))
    base[:, 0, :] += rng.uniform(0.5, 1.0, (60, 1))  # every image's rim, brighter in some
    normals, tests = torch.from_numpy(base[:20]).float(), torch.from_numpy(base[20:]).float()
    labels = np.array([0] * 20 + [1] * 20)
    tests[20:, 8:10, 8:10] += 0.2  # a faint defect, well below the rim
    profile = MapProfile.fit(normals, "residual", 1.0)
    assert image_auroc(labels, profile.score(tests).numpy()) == 1.0
    assert image_auroc(labels, topk_mean(tests).numpy()) < 0.75


def test_save_and_load_round_trip_and_bad_files(tmp_path):
    profile = MapProfile.fit(_maps(), "feature", 2.0)
    assert MapProfile.load(tmp_path) is None  # a run without a profile
    profile.save(tmp_path)
    loaded = MapProfile.load(tmp_path)
    assert (loaded.map_kind, loaded.sigma) == ("feature", 2.0)
    assert torch.equal(loaded.mean, profile.mean) and torch.equal(loaded.scale, profile.scale)
    (tmp_path / PROFILE_FILE).write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match=PROFILE_FILE):
        MapProfile.load(tmp_path)


def test_too_few_normals_are_refused():
    with pytest.raises(ValueError, match="3 or more"):
        MapProfile.fit(_maps(n=2), "ssim", 1.0)
    with pytest.raises(ValueError, match="3 or more"):
        leave_one_out_scores(_maps(n=2))


def test_components_gain_zmap_only_with_a_profile_of_their_own_map(make_tiny):
    model = make_tiny()
    x = torch.rand(3, 3, 16, 16) * 2 - 1
    with eval_mode(model):
        plain = compute_components(model, x, 1.0, map_kind="ssim")
        profile = MapProfile.fit(torch.cat([plain.maps, plain.maps.flip(0) * 0.5]), "ssim", 1.0)
        with_profile = compute_components(model, x, 1.0, map_kind="ssim", profile=profile)
        with pytest.raises(ConfigError, match="'ssim' maps at sigma 1"):
            compute_components(model, x, 1.0, map_kind="residual", profile=profile)
    assert plain.zmap_topk is None and "zmap_topk" not in plain.arrays()
    assert torch.allclose(with_profile.zmap_topk, profile.score(plain.maps))
    assert "zmap-topk" in available_scores(model, profile) and "zmap-topk" not in available_scores(model)
