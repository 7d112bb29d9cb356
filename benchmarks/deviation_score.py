"""Reference-normalised map scores: does scoring an image by how far its anomaly map departs from the
validation normals' maps, pixel by pixel, beat the recommended `mix` without test labels?

    python benchmarks/deviation_score.py RUN_DIR [RUN_DIR ...] [--copies 10] [--test] [--cache DIR]

On an aligned object such as MVTec bottle, every normal image has the same high-residual places (the
bottle's rim, highlights): a top-k score of the raw map counts them in every image alike. Subtracting the
normals' mean map at each pixel leaves what is new in this image.

Declared (stop 28) before the rule's figures were computed (one earlier call on seed 66's validation only
timed the script), for finished runs' saved weights (no retraining):
- Candidates, on each run's own anomaly map and smoothing (config.json):
  ``deviation-topk``: the top-1% mean of (map - mu), mu the per-pixel mean of the validation normals' maps;
  ``zmap-topk``: the top-1% mean of (map - mu) / (s + median(s)), s the per-pixel standard deviation of
  those maps (the median floor keeps pixels where the few normals happened to agree from dominating).
- Rule (validation only): a fresh synthetic draw (seed 2000, ``--copies`` copies of each validation normal,
  every kind). Each image is scored against the *other* validation normals (leave-one-out: mu, s and, for
  `mix`, the z-scoring of its four components never hold the normal the image was made from), so a
  candidate cannot win by fitting its own validation images. Per run, each candidate's AUROC minus the
  run's own score's (`mix`); paired over the recommended AnoTrans runs given. A candidate is kept if its
  mean difference exceeds one standard error (if both are, the larger mean).
- ``--test``: each formula's test AUROC, with mu and s from all validation normals (what a deployed model
  would hold) and the run's saved normalisation for `mix` (reproduces metrics.json), for every run given,
  reported once whatever the rule said.
Writes benchmarks/results/deviation-score.md; per-run figures are cached as JSON in ``--cache`` so
several processes can share the runs and a last call (all runs) assembles the report.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from anotrans.benchmark import provenance
from anotrans.config import read_run_config
from anotrans.data.anomalies import SyntheticValidation
from anotrans.data.build import build_splits
from anotrans.data.loader import make_loader
from anotrans.detector import Detector
from anotrans.scoring.maps import topk_mean
from anotrans.scoring.metrics import image_auroc
from anotrans.scoring.scores import MIXED, compute_components, eval_mode

RESULTS = Path(__file__).resolve().parent / "results"
DRAW_SEED = 2000  # not a training-time draw (those use the run's seed)
CANDIDATES = ("deviation-topk", "zmap-topk")


def score_pass(detector: Detector, dataset: Dataset) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Per-image components, anomaly maps [N, H, W] and labels, with the run's map and smoothing."""
    config = detector.scorer.config
    parts: dict[str, list[np.ndarray]] = {}
    maps, labels = [], []
    with eval_mode(detector.model):
        for batch in make_loader(dataset, 32, 0):
            comp = compute_components(
                detector.model, batch["image"], config.smoothing_sigma, config.tile_stride, config.anomaly_map
            )
            for name, values in comp.arrays().items():
                parts.setdefault(name, []).append(values)
            maps.append(comp.maps.float().numpy())
            labels.append(np.asarray(batch["label"]).reshape(-1))
    return {k: np.concatenate(v) for k, v in parts.items()}, np.concatenate(maps), np.concatenate(labels)


def reference_scores(maps: np.ndarray, mu: np.ndarray, s: np.ndarray) -> dict[str, np.ndarray]:
    """The two candidates for maps [N, H, W] against references mu, s ([N, H, W] or [H, W])."""
    deviation = torch.from_numpy(maps - mu)
    floor = np.median(s.reshape(*s.shape[:-2], -1), axis=-1)[..., None, None]
    return {
        "deviation-topk": topk_mean(deviation).numpy(),
        "zmap-topk": topk_mean(deviation / torch.from_numpy(s + floor)).numpy(),
    }


def leave_one_out(values: np.ndarray, sources: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation over the first ``n`` rows (the normals) without row ``sources[j]``,
    one pair for every row j."""
    normals = values[:n].astype(np.float64)
    total, squares = normals.sum(axis=0), (normals**2).sum(axis=0)
    own = normals[sources]
    mean = (total - own) / (n - 1)
    var = (squares - own**2) / (n - 1) - mean**2
    return mean, np.sqrt(np.maximum(var, 0.0))


def leave_one_out_draw(
    detector: Detector, run_dir: Path, copies: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The rule's synthetic draw scored: labels, `mix` with leave-one-out z-scoring, the maps, and the
    leave-one-out per-pixel mean and spread of the validation normals' maps for every image."""
    normals = build_splits(read_run_config(run_dir).data).val
    draw = SyntheticValidation(normals, copies, DRAW_SEED)
    components, maps, labels = score_pass(detector, draw)
    n = len(normals)
    sources = np.array([j if j < n else draw.recipe(j)[0] for j in range(len(draw))])
    mix = np.zeros(len(labels))
    for name in MIXED:
        if name in components:
            mean, std = leave_one_out(components[name], sources, n)
            mix += (components[name] - mean) / np.maximum(std, 1e-12)
    mu, s = leave_one_out(maps, sources, n)
    return labels, mix, maps, mu, s


def validation_figures(detector: Detector, run_dir: Path, copies: int) -> dict[str, float]:
    """Synthetic-validation AUROC of `mix` and of each candidate, everything left-one-out."""
    labels, mix, maps, mu, s = leave_one_out_draw(detector, run_dir, copies)
    scores = {"mix": mix, **reference_scores(maps, mu, s)}
    return {name: float(image_auroc(labels, values)) for name, values in scores.items()}


def test_figures(detector: Detector, run_dir: Path) -> dict[str, float]:
    """Test AUROC of the run's own score and of each candidate (references from all validation normals)."""
    splits = build_splits(read_run_config(run_dir).data)
    _, normal_maps, _ = score_pass(detector, splits.val)
    components, maps, labels = score_pass(detector, splits.test)
    scores = {
        "mix": detector.scorer.raw(components),
        **reference_scores(maps, normal_maps.mean(axis=0), normal_maps.std(axis=0)),
    }
    return {name: float(image_auroc(labels, values)) for name, values in scores.items()}


def run_figures(run_dir: Path, copies: int, test: bool, cache: Path) -> dict[str, Any]:
    """One run's figures, from the cache when already computed."""
    path = cache / f"{run_dir.name}.json"
    saved = json.loads(path.read_text()) if path.exists() else {}
    if "val" not in saved or (test and "test" not in saved):
        run = read_run_config(run_dir)
        detector = Detector.load(run_dir, "cpu")
        if detector.scorer.config.score != "mix":
            raise SystemExit(f"{run_dir}: its score is {detector.scorer.config.score!r}, not mix")
        saved.update(
            run=str(run_dir),
            model=run.training.model,
            seed=run.training.seed,
            anomaly_map=detector.scorer.config.anomaly_map,
            sigma=detector.scorer.config.smoothing_sigma,
        )
        if "val" not in saved:
            saved["val"] = validation_figures(detector, run_dir, copies)
        if test:
            saved["test"] = test_figures(detector, run_dir)
            saved["test_recorded"] = json.loads((run_dir / "metrics.json").read_text())["image_auroc"]
        cache.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(saved, indent=1))
    return saved


def paired(
    rows: list[dict[str, Any]], part: str, name: str, other: str = "mix"
) -> tuple[float, float, int, int]:
    """Mean and standard error of ``name`` minus ``other`` over ``rows``, how many ahead, how many rows."""
    diffs = [r[part][name] - r[part][other] for r in rows]
    se = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else float("nan")
    return statistics.mean(diffs), se, sum(d > 0 for d in diffs), len(diffs)


def report(rows: list[dict[str, Any]], copies: int, seconds: float) -> list[str]:
    """The markdown report: per-run figures, the rule's verdict on the AnoTrans runs, test per model."""
    lines = provenance.header("Reference-normalised map scores against `mix` (stop 28)")
    lines += [
        f"- draw: synthetic seed {DRAW_SEED}, {copies} copies of each validation normal, every kind; "
        "leave-one-out references and z-scoring (see the script's docstring for the declared rule)",
        "",
        "| run | model | seed | map, σ | val mix | val deviation-topk | val zmap-topk | test mix "
        "(recorded) | test deviation-topk | test zmap-topk |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        val, test = r["val"], r.get("test")
        tests = (
            f"{test['mix']:.3f} ({r['test_recorded']:.3f}) | {test['deviation-topk']:.3f} | "
            f"{test['zmap-topk']:.3f}"
            if test
            else "- | - | -"
        )
        lines.append(
            f"| {Path(r['run']).name} | {r['model']} | {r['seed']} | {r['anomaly_map']}, {r['sigma']:g} | "
            f"{val['mix']:.3f} | {val['deviation-topk']:.3f} | {val['zmap-topk']:.3f} | {tests} |"
        )
    lines += ["", "## The rule (AnoTrans runs, validation only)", ""]
    anotrans = [r for r in rows if r["model"] == "anotrans"]
    if not anotrans:
        raise SystemExit("the rule is decided on AnoTrans runs: give at least one")
    kept: list[tuple[float, str]] = []
    for name in CANDIDATES:
        mean, se, ahead, n = paired(anotrans, "val", name)
        verdict = "kept" if mean > se else "not kept"
        if mean > se:
            kept.append((mean, name))
        lines.append(f"- `{name}` minus `mix`: {mean:+.4f} ± {se:.4f} (ahead on {ahead} of {n}): {verdict}")
    decision = max(kept)[1] if kept else None
    lines.append(f"- decision: {f'`{decision}` kept' if decision else 'neither candidate kept; `mix` stays'}")
    lines += [
        "",
        "The same paired validation figure for the baselines (reported, never used for a choice):",
        "",
    ]
    for model in dict.fromkeys(r["model"] for r in rows if r["model"] != "anotrans"):
        group = [r for r in rows if r["model"] == model]
        for name in CANDIDATES:
            mean, se, ahead, n = paired(group, "val", name)
            lines.append(f"- {model}, `{name}` minus `mix`: {mean:+.4f} ± {se:.4f} (ahead on {ahead} of {n})")
    with_test = [r for r in rows if "test" in r]
    if with_test:
        lines += ["", "## Test AUROC, reported once (mean ± std over the runs given)", ""]
        lines += ["| model | runs | mix | deviation-topk | zmap-topk |", "|---|---|---|---|---|"]
        for model in dict.fromkeys(r["model"] for r in with_test):
            group = [r["test"] for r in with_test if r["model"] == model]
            cells = [
                f"{statistics.mean(g[k] for g in group):.3f} ± "
                f"{statistics.stdev(g[k] for g in group) if len(group) > 1 else 0:.3f}"
                for k in ("mix", *CANDIDATES)
            ]
            lines.append(f"| {model} | {len(group)} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "AnoTrans minus each baseline on test, seed by seed (reported, never used for a choice):",
            "",
        ]
        own = {r["seed"]: r["test"] for r in with_test if r["model"] == "anotrans"}
        for model in dict.fromkeys(r["model"] for r in with_test if r["model"] != "anotrans"):
            theirs = {r["seed"]: r["test"] for r in with_test if r["model"] == model}
            seeds = sorted(own.keys() & theirs.keys())
            for name in ("mix", *CANDIDATES):
                diffs = [own[s][name] - theirs[s][name] for s in seeds]
                if len(diffs) > 1:
                    se = statistics.stdev(diffs) / len(diffs) ** 0.5
                    lines.append(
                        f"- {model}, `{name}`: {statistics.mean(diffs):+.4f} ± {se:.4f} "
                        f"(AnoTrans ahead on {sum(d > 0 for d in diffs)} of {len(diffs)} seeds)"
                    )
    lines += [
        "",
        f"- wall time of this call: {seconds / 60:.1f} min (runs read from the cache cost nothing here)",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--test", action="store_true", help="also each formula's test AUROC (reported once)")
    parser.add_argument("--cache", type=Path, default=RESULTS.parent / "cache" / "deviation-score")
    parser.add_argument("--no-report", action="store_true", help="only fill the cache (parallel calls)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    rows = []
    for run_dir in sorted(args.runs, key=lambda p: p.name):
        rows.append(run_figures(run_dir, args.copies, args.test, args.cache))
        print(run_dir.name, rows[-1]["val"], rows[-1].get("test"), flush=True)
    if not args.no_report:
        RESULTS.mkdir(exist_ok=True)
        text = "\n".join(report(rows, args.copies, time.perf_counter() - start)) + "\n"
        (RESULTS / "deviation-score.md").write_text(text)
        print(text)


if __name__ == "__main__":
    main()
