"""Synthetic-validation AUROC per anomaly kind, on a fresh and larger draw than training used.

    python benchmarks/kind_auroc.py RUN_DIR [RUN_DIR ...] [--copies 10] [--held-out noise blur colour]

A training option that paints anomalies into G's input (``--foreign-texture``) makes the synthetic
kinds that look like its own paint easy, so the ordinary synthetic-validation AUROC cannot judge it
fairly. This scores each finished run's saved weights, with its own chosen score, smoothing and
normalisation, on a new synthetic draw (seed 2000, ``--copies`` copies of each validation normal) and
reports the AUROC of each kind against the same validation normals, plus the mean over ``--held-out``:
the kinds that neither compared configuration trains on. Validation data only: no test image is read.
Writes benchmarks/results/kind-auroc.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from anotrans.benchmark import provenance
from anotrans.config import read_run_config
from anotrans.data.anomalies import KINDS, SYNTHETIC_PREFIX, SyntheticValidation
from anotrans.data.build import build_splits
from anotrans.data.loader import make_loader
from anotrans.detector import Detector
from anotrans.scoring.metrics import image_auroc
from anotrans.scoring.scores import score_batches

RESULTS = Path(__file__).resolve().parent / "results"
DRAW_SEED = 2000  # not a training-time draw (those use the run's seed)


def kind_aurocs(run_dir: Path, copies: int) -> dict[str, float]:
    """Image AUROC of each synthetic kind against the validation normals, with the run's own scorer."""
    detector = Detector.load(run_dir, "cpu")
    config = detector.scorer.config
    val = SyntheticValidation(build_splits(read_run_config(run_dir).data).val, copies, DRAW_SEED)
    table = score_batches(
        detector.model,
        make_loader(val, 32, 0),
        config.smoothing_sigma,
        torch.device("cpu"),
        tile_stride=config.tile_stride,
        map_kind=config.anomaly_map,
        profile=detector.profile,
    )
    scores = detector.scorer.raw(table.components)
    kinds = np.array([p.split(":")[1] if p.startswith(SYNTHETIC_PREFIX) else "" for p in table.paths])
    out = {}
    for kind in KINDS:
        chosen = (kinds == "") | (kinds == kind)
        out[kind] = image_auroc(table.labels[chosen], scores[chosen])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--held-out", nargs="+", default=["noise", "blur", "colour"], choices=KINDS)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    lines = provenance.header("Synthetic-validation AUROC per anomaly kind (fresh draw, validation only)")
    lines += [
        f"- runs: {', '.join(str(r) for r in args.runs)}",
        f"- draw: synthetic seed {DRAW_SEED}, {args.copies} copies of each validation normal; each run's "
        "own score, smoothing, map and normalisation; held-out kinds (neither compared configuration "
        f"trains on them): {', '.join(args.held_out)}",
        "",
        "| run | score | " + " | ".join(KINDS) + " | mean over held-out kinds |",
        "|---|---|" + "---|" * (len(KINDS) + 1),
    ]
    for run_dir in args.runs:
        aurocs = kind_aurocs(run_dir, args.copies)
        held_out = statistics.mean(aurocs[k] for k in args.held_out)
        score = read_run_config(run_dir).score
        lines.append(
            f"| {run_dir.name} | `{score.score}`, σ {score.smoothing_sigma:g} | "
            + " | ".join(f"{aurocs[k]:.3f}" for k in KINDS)
            + f" | **{held_out:.3f}** |"
        )
        print(lines[-1], flush=True)
    lines += ["", f"- wall time: {(time.perf_counter() - start) / 60:.1f} min"]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "kind-auroc.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
