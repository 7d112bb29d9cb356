"""Choices made without test labels: the epoch, the score formula, the map smoothing and the map kind.

Every choice maximises the image AUROC (the map kind: the pixel AUROC against the synthetic masks) on
the run's synthetic validation set (validation normals and their synthetic-anomaly copies,
:mod:`anotrans.data.anomalies`), with one guard against the draw of that small set: a formula or a
smoothing other than the default is taken only when it beats the default by more than one standard
error (the one-standard-error rule). Nothing here takes a test set or test
labels as an argument, so no choice can depend on them. Each formula's normalisation is fitted on the
validation normals only, as at deployment.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from anotrans.scoring.maps import MAP_KINDS, MapCollector
from anotrans.scoring.metrics import image_auroc, pixel_auroc
from anotrans.scoring.scores import (
    AUTO_SCORE,
    PROFILE_SCORES,
    SCORE_FORMULAS,
    ScoreConfig,
    Scorer,
    ScoreTable,
)

SMOOTHING_GRID = (0.0, 1.0, 2.0, 4.0)  # Gaussian sigmas (pixels) tried for the maps under --score auto
# What --score auto keeps unless another formula is clearly better: the z-scored sum of four scores, so
# no single score's luck on the synthetic draw decides.
DEFAULT_FORMULA = "mix"


def normals_only(table: ScoreTable) -> ScoreTable:
    """The label-0 rows of a synthetic validation table (the held-out normals themselves)."""
    keep = table.labels == 0
    return ScoreTable(
        {k: v[keep] for k, v in table.components.items()},
        table.labels[keep],
        [p for p, k in zip(table.paths, keep, strict=True) if k],
        [d for d, k in zip(table.defects, keep, strict=True) if k] if table.defects else [],
        table.maps,
    )


class NormalMaps(MapCollector):
    """Keeps the maps of label-0 images only: synthetic anomalies must not move the pixel threshold.

    Besides the pixel sample, every normal map is kept whole (``normal_maps``): the validation normals are
    few, and their map profile (:mod:`anotrans.scoring.profile`) is fitted on them.
    """

    def __init__(self, with_masks: bool, threshold: float | None = None, seed: int = 0) -> None:
        super().__init__(with_masks, threshold, seed)
        self._normal_maps: list[Tensor] = []

    def add(self, maps: Tensor, batch: dict[str, Any]) -> None:
        keep = torch.as_tensor(batch["label"]).reshape(-1) == 0
        if keep.any():
            rows = {k: _rows(v, keep) for k, v in batch.items()}
            kept = maps[keep.to(maps.device)]
            self._normal_maps.append(kept.detach().float().cpu())
            super().add(kept, rows)

    @property
    def normal_maps(self) -> Tensor:
        """Every kept normal map, [N, H, W] in scoring order."""
        return torch.cat(self._normal_maps) if self._normal_maps else torch.zeros(0, 0, 0)


def _rows(values: Any, keep: Tensor) -> Any:
    """The kept rows of one batch field (tensors and lists of one entry per image)."""
    if isinstance(values, Tensor) and len(values) == len(keep):
        return values[keep.to(values.device)]
    if isinstance(values, list) and len(values) == len(keep):
        return [v for v, k in zip(values, keep.tolist(), strict=True) if k]
    return values


def synthetic_aurocs(config: ScoreConfig, formulas: list[str], table: ScoreTable) -> dict[str, float | None]:
    """AUROC of each formula on the synthetic validation set, normalised on its normals only."""
    normals = normals_only(table).components
    return {
        name: image_auroc(
            table.labels, Scorer(dataclasses.replace(config, score=name)).fit(normals).raw(table.components)
        )
        for name in formulas
    }


def epoch_criterion(record: dict[str, Any], score: str, n_normal: int, n_anomalous: int) -> float:
    """An epoch's selection value: its synthetic AUROC for ``score`` (for ``auto``, that of the formula
    :func:`preferred` takes, on ``n_normal`` normals and ``n_anomalous`` synthetic anomalies). A profile
    score (``zmap-topk``) has no per-epoch value, its profile being fitted on the final weights only, so
    its epochs are compared as ``auto``'s."""
    aurocs = {k: v for k, v in record["val_synth_auroc"].items() if v is not None}
    if score == AUTO_SCORE or score in PROFILE_SCORES:
        return preferred(aurocs, n_normal, n_anomalous)[1] if aurocs else float("-inf")
    return aurocs.get(score, float("-inf"))


def epoch_update(
    rule: str, criterion: float, best: float | None, n_normal: int, n_anomalous: int
) -> tuple[bool, float]:
    """One epoch's step of an epoch-selection rule: (whether it becomes the selected epoch, the best
    criterion so far). ``val`` takes the argmax. ``val-1se`` takes the latest epoch within one standard
    error of the best so far: once the synthetic AUROC plateaus, epochs differ by less than its error
    (about 0.03 with bottle's 21 validation normals) and the argmax follows the draw's noise, so the
    tie goes to the most trained model. Run epoch by epoch, the selected epoch is at every point the
    latest one within the error of the current best (a new best selects itself)."""
    if best is None:
        return True, criterion
    if rule == "val":
        return criterion > best, max(best, criterion)  # ties keep the earlier epoch
    best = max(best, criterion)
    return criterion == best or criterion >= best - auroc_standard_error(best, n_normal, n_anomalous), best


def selected_epoch(rule: str, criteria: Iterable[float], n_normal: int, n_anomalous: int) -> int:
    """The epoch index (0-based) that ``rule`` leaves selected after a whole run's criteria, as the
    trainer's epoch-by-epoch calls of :func:`epoch_update` leave it (re-reads a run's epoch log)."""
    best, chosen = None, -1
    for epoch, value in enumerate(criteria):
        selected, best = epoch_update(rule, value, best, n_normal, n_anomalous)
        chosen = epoch if selected else chosen
    return chosen


def best_of(aurocs: dict[str, float | None], order: Iterable[str]) -> tuple[str, float]:
    """The candidate with the highest AUROC; ties go to the one earlier in ``order``."""
    rank = {name: i for i, name in enumerate(order)}
    value, _, name = max((v, -rank[k], k) for k, v in aurocs.items() if v is not None)
    return name, value


def preferred(aurocs: dict[str, float | None], n_normal: int, n_anomalous: int) -> tuple[str, float]:
    """The formula ``--score auto`` takes: DEFAULT_FORMULA unless another beats its synthetic AUROC by
    more than one standard error. On MVTec bottle (21 validation normals) the formulas' AUROCs differed
    by less than that (0.93-0.95), and a plain argmax took whichever score the draw favoured."""
    default = aurocs.get(DEFAULT_FORMULA)
    if default is None:
        return best_of(aurocs, SCORE_FORMULAS)
    bar = default + auroc_standard_error(default, n_normal, n_anomalous)
    clearly_better = {k: v for k, v in aurocs.items() if v is not None and v > bar}
    return best_of(clearly_better, SCORE_FORMULAS) if clearly_better else (DEFAULT_FORMULA, default)


@dataclasses.dataclass
class Choice:
    """What ``--score auto`` chose, and the synthetic AUROC of every candidate (for the run's record)."""

    score: str
    smoothing_sigma: float
    val_synth_auroc: float
    candidates: dict[str, dict[str, float | None]]


def auroc_standard_error(auroc: float, n_normal: int, n_anomalous: int) -> float:
    """Standard error of an AUROC measured on ``n_normal`` and ``n_anomalous`` images (Hanley and
    McNeil, Radiology 1982): how far another draw of the same size would typically move it."""
    q1, q2 = auroc / (2 - auroc), 2 * auroc**2 / (1 + auroc)
    variance = (
        auroc * (1 - auroc) + (n_anomalous - 1) * (q1 - auroc**2) + (n_normal - 1) * (q2 - auroc**2)
    ) / (n_normal * n_anomalous)
    return math.sqrt(max(variance, 0.0))


def choose_score(config: ScoreConfig, formulas: list[str], score_at: Callable[[float], ScoreTable]) -> Choice:
    """The :func:`preferred` formula at the chosen smoothing; ``score_at(sigma)`` scores the synthetic
    validation set.

    The smoothing stays the configured one unless another sigma of the grid beats it by more than one
    standard error of the configured sigma's best AUROC (the one-standard-error rule): on a small
    validation set the sigmas' AUROCs differ by less than that, and an argmax among them followed the
    draw of the synthetic set, not the model (MVTec bottle, 21 validation normals: five draws chose
    sigma 1, 2, 0, 2, 0 for the same weights; docs/usage.md).
    """
    candidates: dict[str, dict[str, float | None]] = {}
    best: dict[float, tuple[str, float]] = {}
    base = config.smoothing_sigma
    for sigma in dict.fromkeys((base, *SMOOTHING_GRID)):
        table = score_at(sigma)
        n_anomalous = int(table.labels.sum())
        n_normal = len(table.labels) - n_anomalous
        aurocs = synthetic_aurocs(config, formulas, table)
        candidates[f"sigma={sigma:g}"] = aurocs
        best[sigma] = preferred(aurocs, n_normal, n_anomalous)
    sigma = smoothing_by_rule(best, base, n_normal, n_anomalous)
    name, value = best[sigma]
    return Choice(name, sigma, float(value), candidates)


def smoothing_by_rule(
    best: dict[float, tuple[str, float]], base: float, n_normal: int, n_anomalous: int
) -> float:
    """Of ``best`` (sigma -> the (formula, AUROC) taken there), the configured sigma ``base`` unless
    another sigma's AUROC beats it by more than one standard error (then the best of those)."""
    bar = best[base][1] + auroc_standard_error(best[base][1], n_normal, n_anomalous)
    clearly_better = [s for s in best if best[s][1] > bar]
    return max(clearly_better, key=lambda s: best[s][1]) if clearly_better else base


@dataclasses.dataclass
class MapChoice:
    """What ``--anomaly-map auto`` chose, and every kind's synthetic-validation pixel AUROC."""

    anomaly_map: str
    val_synth_pixel_auroc: float
    candidates: dict[str, float | None]


def choose_map(kinds: list[str], score_with_masks: Callable[[str], ScoreTable]) -> MapChoice:
    """The map kind whose pixels best rank the synthetic defects' masks; ties go to the earlier kind of
    MAP_KINDS. ``score_with_masks(kind)`` scores the synthetic validation set with a masked collector."""
    candidates = {kind: pixel_auroc(score_with_masks(kind).maps.sample) for kind in kinds}
    kind, value = best_of(candidates, MAP_KINDS)
    return MapChoice(kind, float(value), candidates)
