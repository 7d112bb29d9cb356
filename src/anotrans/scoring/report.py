"""From score tables to the files a run reports: metrics for every formula, scores.csv, pixel curves."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from typing import Any

import numpy as np

from anotrans.scoring.maps import MapCollector
from anotrans.scoring.metrics import curves, image_auroc, image_metrics, per_defect_auroc, pixel_metrics
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


METRICS_FILE = "metrics.json"
SCORES_FILE = "scores.csv"
CURVES_FILE = "pixel_curves.json"  # pixel ROC, PR and PRO points for the report (null without masks)


def _masked_sample(table: ScoreTable) -> MapCollector | None:
    return table.maps if table.maps is not None and table.maps.with_masks else None


def evaluate(scorer: Scorer, formulas: list[str], val: ScoreTable, test: ScoreTable) -> dict[str, Any]:
    """The headline metrics of ``scorer`` on ``test`` (thresholds saved from validation) plus all formulas.

    Pixel metrics are None unless ``test`` was scored with its masks (a data set with ground truth).
    """
    raw = scorer.raw(test.components)
    metrics: dict[str, Any] = image_metrics(test.labels, raw, scorer.threshold)
    masked = _masked_sample(test)
    metrics.update(
        pixel_metrics(None if masked is None else masked.sample),
        score=scorer.config.score,
        anomaly_map=scorer.config.anomaly_map,
        threshold=scorer.threshold,
        pixel_threshold=scorer.pixel_threshold,
        n_test=len(test),
        n_test_abnormal=int(test.labels.sum()),
        image_auroc_by_score=auroc_by_score(scorer.config, formulas, val, test),
        per_defect=per_defect_auroc(test.labels, raw, test.defects) if test.defects else {},
    )
    return metrics


def run_files(scorer: Scorer, test: ScoreTable) -> dict[str, bytes]:
    """What a test writes beside metrics.json, by file name: per-image scores and pixel curves."""
    masked = _masked_sample(test)
    pixel = None
    if masked is not None:
        sample = masked.sample
        pixel = curves(sample.labels, sample.scores, sample.weights)
    return {
        SCORES_FILE: scores_csv(scorer, test).encode(),
        CURVES_FILE: (json.dumps(pixel) + "\n").encode(),
    }


def scores_csv(scorer: Scorer, table: ScoreTable) -> str:
    """One row per image: path, label, defect kind, raw score, deployment score in [0, 1], Eq. 10 min-max
    score, decision, and the pixel threshold with the share of the image's map above it (empty when the
    run has no pixel threshold)."""
    raw = scorer.raw(table.components)
    n = len(table)
    areas = table.maps.areas if table.maps is not None else None
    pixel_threshold = "" if scorer.pixel_threshold is None else f"{scorer.pixel_threshold:.8g}"
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(
        ["path", "label", "defect", "raw_score", "score", "minmax_score", "predicted", "pixel_threshold",
         "anomalous_area"]
    )  # fmt: skip
    for row in zip(
        table.paths,
        table.labels,
        table.defects or [""] * n,
        raw,
        scorer.normalise(raw),
        minmax(raw),
        raw > scorer.threshold,
        [None] * n if areas is None else areas,
        strict=True,
    ):
        path, label, defect, r, s, m, pred, area = row
        writer.writerow(
            [path, int(label), defect, f"{r:.8g}", f"{s:.6f}", f"{m:.6f}", int(pred), pixel_threshold,
             "" if area is None else f"{area:.6f}"]
        )  # fmt: skip
    return buf.getvalue()


def mean_components(table: ScoreTable) -> dict[str, float]:
    """Per-component means, e.g. the validation reconstruction error logged every epoch."""
    return {f"val_{name}": float(np.mean(values)) for name, values in table.components.items()}
