"""``anotrans report RUN_DIR``: one self-contained HTML page (every picture a base64 PNG; nothing fetched).

Sections (their ``id``): ``summary`` (headline metrics and data), ``curves`` (ROC / precision-recall,
PRO), ``scores`` (histograms with the threshold), ``training`` (per-epoch losses and validation, like
the paper's Fig. 4), ``defects`` (per defect type), ``gallery`` (like Fig. 5) and ``config``.
"""

from __future__ import annotations

import base64
import csv
import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from anotrans.data import build_splits
from anotrans.data.spec import DataSpec
from anotrans.detector import Detector
from anotrans.errors import CheckpointError
from anotrans.report.figures import curve_panels, score_histogram, training_curves
from anotrans.report.gallery import COLUMNS, GALLERY_SIZE, Row, pick, render
from anotrans.scoring.metrics import curves
from anotrans.scoring.report import CURVES_FILE, METRICS_FILE, SCORES_FILE
from anotrans.training import checkpoint as ckpt
from anotrans.utils.files import atomic_write_bytes, read_json

REPORT_FILE = "report.html"
SECTIONS = ("summary", "curves", "scores", "training", "defects", "gallery", "config")
HEADLINE = (
    ("image_auroc", "Image AUROC"),
    ("pixel_auroc", "Pixel AUROC"),
    ("aupro", "AUPRO (FPR <= 0.3)"),
    ("image_ap", "Image average precision"),
    ("image_f1", "Image F1 at the threshold"),
    ("image_f1_max", "Image F1-max (optimistic)"),
    ("threshold", "Image threshold (raw score)"),
    ("pixel_threshold", "Pixel threshold (map value)"),
)
_STYLE = """
body{font-family:sans-serif;max-width:1100px;margin:1em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
img{max-width:100%;display:block;margin:.5em 0}
pre{background:#f6f6f6;padding:.6em;overflow:auto;font-size:85%}
nav a{margin-right:1em}.note{color:#666;font-size:90%}.row{display:flex;gap:2em;flex-wrap:wrap}
"""


def _read_rows(path: Path) -> list[Row]:
    with path.open(newline="") as f:
        return [
            Row(r["path"], int(r["label"]), float(r["raw_score"]), r.get("defect") or "")
            for r in csv.DictReader(f)
        ]


def _img(png: bytes | None, alt: str) -> str:
    if png is None:
        return f'<p class="note">{html.escape(alt)}: nothing to draw.</p>'
    data = base64.b64encode(png).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4f}" if isinstance(value, float) else html.escape(str(value))


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table>{f'<tr>{head}</tr>' if head else ''}{body}</table>"


def _section(ident: str, title: str, body: str) -> str:
    return f'<section id="{ident}"><h2>{html.escape(title)}</h2>{body}</section>'


def _gallery(strips: list[tuple[Row, bytes]], has_masks: bool) -> str:
    if not strips:
        return "<p>none</p>"
    columns = " | ".join(COLUMNS if has_masks else (*COLUMNS[:3], "no ground truth"))
    body = "".join(
        f"<tr><td>{html.escape(Path(row.path).name)}<br>{html.escape(row.defect)}<br>"
        f"raw score {row.raw_score:.4g}</td><td>{_img(png, row.path)}</td></tr>"
        for row, png in strips
    )
    return f"<table><tr><th>image</th><th>{html.escape(columns)}</th></tr>{body}</table>"


def _epochs(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / ckpt.EPOCH_LOG
    return (
        [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    )


def build_report(run_dir: str | Path, results_dir: str | Path | None = None) -> str:
    """The report page of ``run_dir``'s model on the test in ``results_dir`` (default: the run's own)."""
    run_dir = Path(run_dir)
    results = Path(results_dir) if results_dir is not None else run_dir
    detector = Detector.load(run_dir, device="cpu")
    model, scorer = detector.model, detector.scorer
    saved = read_json(run_dir / ckpt.CONFIG_FILE)
    metrics = read_json(results / METRICS_FILE)
    if not (results / SCORES_FILE).exists():
        raise CheckpointError(f"{results / SCORES_FILE} not found: the run has no test results to report")
    rows = _read_rows(results / SCORES_FILE)
    labels = np.array([r.label for r in rows])
    raw = np.array([r.raw_score for r in rows])
    pixel = json.loads((results / CURVES_FILE).read_text()) if (results / CURVES_FILE).exists() else None
    spec = DataSpec.from_dict(metrics.get("data") or detector.spec.to_dict())
    splits = build_splits(spec)
    has_masks = bool(splits.info.get("has_masks"))

    summary = _table(("metric", "value"), [(name, metrics.get(key)) for key, name in HEADLINE])
    info = splits.info
    data_rows = [
        (key, info.get(key))
        for key in ("data", "root", "category", "abnormal_class", "protocol", "image_size", "channels",
                    "num_train", "num_val", "num_test", "num_test_normal", "num_test_abnormal", "has_masks")
    ]  # fmt: skip
    config = scorer.config
    model_rows = [("model", saved["model"].get("name")), ("score", config.score)]
    model_rows += [("anomaly map", config.anomaly_map), ("smoothing sigma", config.smoothing_sigma)]
    model_rows += [(k, metrics.get(k)) for k in ("epochs", "selected_epoch", "train_seconds")]
    per_defect = metrics.get("per_defect") or {}
    defect_rows = [(k, v["n"], v["image_auroc"], v["mean_score"]) for k, v in per_defect.items()]
    galleries = "".join(
        f"<h3>{html.escape(title)}</h3>" + _gallery(render(model, scorer, splits.test, chosen), has_masks)
        for title, chosen in pick(rows, scorer.threshold, GALLERY_SIZE).items()
    )
    body = [
        _section(
            "summary",
            "Summary",
            '<div class="row">'
            + "".join(
                f"<div><h3>{name}</h3>{table}</div>"
                for name, table in (
                    ("Metrics", summary),
                    ("Model", _table((), model_rows)),
                    ("Data", _table((), data_rows)),
                )
            )
            + "</div>",
        ),
        _section(
            "curves",
            "ROC, precision-recall and PRO curves",
            _img(curve_panels(curves(labels, raw), pixel), "curves")
            + ("" if pixel else '<p class="note">No ground-truth masks: pixel curves not measured.</p>'),
        ),
        _section(
            "scores", "Score histograms", _img(score_histogram(raw, labels, scorer.threshold), "histogram")
        ),
        _section(
            "training",
            "Training (paper Fig. 4)",
            _img(training_curves(_epochs(run_dir), scorer.config.score), "training curves")
            + '<p class="note">Test AUROC per epoch is logged for monitoring; it never chose the epoch.</p>',
        ),
        _section(
            "defects",
            "Per defect type",
            _table(("defect", "images", "image AUROC vs normals", "mean raw score"), defect_rows)
            if defect_rows
            else "<p>No abnormal test images.</p>",
        ),
        _section("gallery", "Galleries (paper Fig. 5)", galleries),
        _section("config", "Configuration", f"<pre>{html.escape(json.dumps(saved, indent=2))}</pre>"),
    ]
    nav = "".join(f'<a href="#{s}">{s}</a>' for s in SECTIONS)
    title = f"anotrans report: {run_dir.name}"
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1><nav>{nav}</nav>"
        + "".join(body)
        + "</body></html>\n"
    )


def write_report(run_dir: str | Path, results_dir: str | Path | None = None) -> Path:
    """Write ``report.html`` into ``results_dir`` (default ``run_dir``) and return its path."""
    out = Path(results_dir if results_dir is not None else run_dir) / REPORT_FILE
    atomic_write_bytes(out, build_report(run_dir, results_dir).encode())
    return out
