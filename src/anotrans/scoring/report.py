"""From score tables to the figures and files a run reports: metrics for every formula and scores.csv."""

from __future__ import annotations

import csv
import dataclasses
import io
from typing import Any

import numpy as np

from anotrans.scoring.metrics import image_auroc, image_metrics
from anotrans.scoring.scores import ScoreConfig, Scorer, ScoreTable, minmax


def auroc_by_score(
    config: ScoreConfig, formulas: list[str], val: ScoreTable, test: ScoreTable
) -> dict[str, Any]:
    """Test AUROC of each formula, each normalised with its own validation-fitted statistics."""
    out = {}
    for name in formulas:
        scorer = Scorer(dataclasses.replace(config, score=name)).fit(val.components)
        out[name] = image_auroc(test.labels, scorer.raw(test.components))
    return out


def evaluate(scorer: Scorer, formulas: list[str], val: ScoreTable, test: ScoreTable) -> dict[str, Any]:
    """The headline metrics of ``scorer`` on ``test`` (threshold saved from validation) plus all formulas."""
    metrics: dict[str, Any] = image_metrics(test.labels, scorer.raw(test.components), scorer.threshold)
    metrics.update(
        score=scorer.config.score,
        threshold=scorer.threshold,
        n_test=len(test),
        n_test_abnormal=int(test.labels.sum()),
        image_auroc_by_score=auroc_by_score(scorer.config, formulas, val, test),
    )
    return metrics


def scores_csv(scorer: Scorer, table: ScoreTable) -> str:
    """One row per image: path, label, raw score, deployment score in [0, 1] and Eq. 10 min-max score."""
    raw = scorer.raw(table.components)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["path", "label", "raw_score", "score", "minmax_score", "predicted"])
    for row in zip(
        table.paths,
        table.labels,
        raw,
        scorer.normalise(raw),
        minmax(raw),
        raw > scorer.threshold,
        strict=True,
    ):
        path, label, r, n, m, pred = row
        writer.writerow([path, int(label), f"{r:.8g}", f"{n:.6f}", f"{m:.6f}", int(pred)])
    return buf.getvalue()


def mean_components(table: ScoreTable) -> dict[str, float]:
    """Per-component means, e.g. the validation reconstruction error logged every epoch."""
    return {f"val_{name}": float(np.mean(values)) for name, values in table.components.items()}
