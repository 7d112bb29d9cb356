"""Choices on synthetic validation data: values, tie rule, structural maps, and no test labels read."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from anotrans.scoring.maps import SSIM_C1, MapCollector, ssim_residual, topk_mean
from anotrans.scoring.metrics import image_auroc
from anotrans.scoring.scores import SCORE_FORMULAS, ScoreConfig, ScoreTable
from anotrans.scoring.selection import (
    NormalMaps,
    auroc_standard_error,
    best_of,
    choose_map,
    choose_score,
    epoch_criterion,
    normals_only,
    preferred,
    selected_epoch,
    synthetic_aurocs,
)


def _table(disc, residual, labels):
    n = len(labels)
    components = {
        "recon": np.zeros(n), "latent": np.zeros(n), "disc": np.asarray(disc, float),
        "residual_max": np.asarray(residual, float), "residual_topk": np.asarray(residual, float),
        "map_max": np.asarray(residual, float),
        "ssim_topk": np.zeros(n),
    }  # fmt: skip
    return ScoreTable(components, np.asarray(labels), [f"#{i}" for i in range(n)])


def test_synthetic_aurocs_and_the_best_formula():
    table = _table([0, 1, 2, 3], [3, 2, 1, 0], [0, 0, 1, 1])
    aurocs = synthetic_aurocs(ScoreConfig(), ["disc", "residual-max", "latent-neg"], table)
    assert aurocs == {"disc": 1.0, "residual-max": 0.0, "latent-neg": 0.5}
    assert best_of(aurocs, SCORE_FORMULAS) == ("disc", 1.0)
    tie = {"residual-max": 0.7, "disc": 0.7}
    assert best_of(tie, SCORE_FORMULAS) == ("disc", 0.7)  # ties: SCORE_FORMULAS order
    record = {"val_synth_auroc": {"disc": 0.6, "residual-max": 0.8, "paper": None}}
    assert epoch_criterion(record, "disc", 21, 42) == 0.6
    assert epoch_criterion(record, "auto", 21, 42) == 0.8  # no `mix`: the best formula


def test_mix_is_kept_unless_another_formula_beats_it_by_more_than_one_standard_error():
    se = auroc_standard_error(0.93, 21, 42)
    assert 0.02 < se < 0.05
    close = {"mix": 0.93, "feature-topk": 0.93 + 0.9 * se, "disc": 0.8, "paper": None}
    assert preferred(close, 21, 42) == ("mix", 0.93)
    clear = {**close, "ssim-topk": 0.93 + 1.1 * se}
    assert preferred(clear, 21, 42) == ("ssim-topk", 0.93 + 1.1 * se)
    assert preferred(close, 2100, 4200)[0] == "feature-topk"  # a large set: a small margin is real
    assert epoch_criterion({"val_synth_auroc": close}, "auto", 21, 42) == 0.93
    assert epoch_criterion({"val_synth_auroc": clear}, "auto", 21, 42) == 0.93 + 1.1 * se


def test_choose_score_takes_the_best_smoothing():
    def score_at(sigma):  # residual separates the classes only at sigma 2
        good = [0, 0, 1, 1] if sigma == 2.0 else [1, 0, 1, 0]
        return _table([0, 1, 0, 1], good, [0, 0, 1, 1])

    choice = choose_score(ScoreConfig(), ["disc", "residual-max"], score_at)
    assert (choice.score, choice.smoothing_sigma, choice.val_synth_auroc) == ("residual-max", 2.0, 1.0)


def test_a_smoothing_within_one_standard_error_of_the_configured_one_is_not_taken():
    labels = [0] * 10 + [1] * 10
    ranked = list(range(20))  # separates the classes perfectly
    one_swap = [*range(9), 10, 9, *range(11, 20)]  # one normal above one anomaly: AUROC 0.99

    def score_at(sigma):
        return _table(ranked if sigma == 0.0 else one_swap, one_swap, labels)

    choice = choose_score(ScoreConfig(smoothing_sigma=1.0), ["disc", "residual-max"], score_at)
    assert (choice.smoothing_sigma, choice.val_synth_auroc) == (1.0, 0.99)  # 1.00 at sigma 0: within noise
    assert choice.candidates["sigma=0"]["disc"] == 1.0


def test_the_auroc_standard_error_matches_the_spread_over_draws():
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(21), np.ones(42)]
    draws = [image_auroc(labels, np.r_[rng.normal(0, 1, 21), rng.normal(1.8, 1, 42)]) for _ in range(3000)]
    predicted = auroc_standard_error(float(np.mean(draws)), 21, 42)
    assert 0.85 < predicted / np.std(draws) < 1.15
    assert auroc_standard_error(0.9, 210, 420) < auroc_standard_error(0.9, 21, 42) / 3  # shrinks with n


def test_choose_map_takes_the_kind_whose_pixels_rank_the_synthetic_masks():
    mask = np.zeros((2, 4, 4), bool)
    mask[1, :2, :2] = True  # one synthetic defect in the second image
    maps = {
        "residual": np.where(mask, 0.0, 1.0),
        "ssim": np.where(mask, 1.0, 0.0),
        "feature": np.full(mask.shape, 0.5),
    }

    def score_with_masks(kind):
        collector = MapCollector(with_masks=True)
        collector.add(torch.as_tensor(maps[kind]), {"mask": torch.as_tensor(mask[:, None])})
        return ScoreTable({}, np.array([0, 1]), ["a", "b"], maps=collector)

    choice = choose_map(["residual", "ssim", "feature"], score_with_masks)
    assert (choice.anomaly_map, choice.val_synth_pixel_auroc) == ("ssim", 1.0)
    assert choice.candidates == {"residual": 0.0, "ssim": 1.0, "feature": 0.5}
    maps["ssim"] = maps["feature"]  # a tie at 0.5 goes to the earlier kind of MAP_KINDS
    assert choose_map(["feature", "ssim"], score_with_masks).anomaly_map == "ssim"


def test_structural_residual_and_topk():
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    assert ssim_residual(x, x).abs().max() < 1e-5
    a, b = torch.full((1, 3, 8, 8), 0.5), torch.full((1, 3, 8, 8), -0.3)  # flat: only the luminance term
    lum = (2 * 0.5 * -0.3 + SSIM_C1) / (0.5**2 + 0.3**2 + SSIM_C1)
    assert torch.allclose(ssim_residual(a, b), torch.full((1, 8, 8), (1 - lum) / 2))
    maps = torch.zeros(1, 10, 10)
    maps[0, 0, :3] = torch.tensor([5.0, 3.0, 1.0])
    assert topk_mean(maps, 0.02).item() == 4.0 and topk_mean(maps, 0.001).item() == 5.0


def test_synthetic_anomalies_never_enter_the_pixel_threshold():
    maps = torch.stack([torch.full((4, 4), 1.0), torch.full((4, 4), 9.0), torch.full((4, 4), 2.0)])
    batch = {"label": torch.tensor([0, 1, 0]), "path": ["a", "synthetic-anomaly:noise:a+b", "b"]}
    collector = NormalMaps(False, seed=0)
    collector.add(maps, batch)
    assert sorted(set(collector.sample.scores.tolist())) == [1.0, 2.0]
    table = ScoreTable({"disc": np.array([0.1, 0.9, 0.2])}, np.array([0, 1, 0]), batch["path"], [], collector)
    normals = normals_only(table)
    assert normals.paths == ["a", "b"] and normals.maps is collector


def _selected(rule: str, criteria: list[float]) -> int:
    return selected_epoch(rule, criteria, 21, 105)


def test_val_1se_takes_the_latest_epoch_within_one_standard_error_of_the_best():
    # the best is 0.95 at epoch 1 (standard error 0.018 on 21 + 105 images): 0.935 (epoch 3) is within
    # it, 0.92 (epoch 5) is not, so the rule takes epoch 3 where the argmax keeps epoch 1
    assert auroc_standard_error(0.95, 21, 105) == pytest.approx(0.0184, abs=1e-4)
    criteria = [0.70, 0.95, 0.90, 0.935, 0.85, 0.92]
    assert _selected("val-1se", criteria) == 3
    assert _selected("val", criteria) == 1
    assert _selected("val", [0.9, 0.9]) == 0  # the argmax keeps the earlier of tied epochs
    assert _selected("val-1se", [0.9, 0.9]) == 1
    assert _selected("val-1se", [float("-inf")] * 3) == 2  # no synthetic AUROC: still an epoch


def test_val_1se_online_equals_its_definition_over_the_whole_run():
    rng = np.random.default_rng(0)
    for _ in range(200):
        criteria = list(rng.uniform(0.6, 1.0, size=int(rng.integers(1, 25))))
        best = max(criteria)
        within = [i for i, c in enumerate(criteria) if c >= best - auroc_standard_error(best, 21, 105)]
        assert _selected("val-1se", criteria) == max(within)
        assert _selected("val", criteria) == int(np.argmax(criteria))
