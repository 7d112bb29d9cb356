"""Does the end-of-run (formula, smoothing) choice follow the model or the draw of the synthetic set?

    python benchmarks/selection_stability.py RUN_DIR [RUN_DIR ...] [--draws 5]

For each finished run, the saved (selected) weights score fresh synthetic-validation draws (other
seeds, same validation normals) and the choice is made on each draw twice: by a plain argmax over
(formula, sigma), and by the rule anotrans uses (scoring.selection.choose_score: the configured sigma
unless another beats it by more than one standard error). Validation data only: no test image is
read. Writes benchmarks/results/selection-stability.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import torch

from anotrans.benchmark import provenance
from anotrans.config import read_run_config
from anotrans.data.anomalies import SyntheticValidation
from anotrans.data.build import build_splits
from anotrans.data.loader import make_loader
from anotrans.detector import Detector
from anotrans.scoring.scores import AUTO_SCORE, ScoreConfig, available_scores, score_batches
from anotrans.scoring.selection import choose_score

RESULTS = Path(__file__).resolve().parent / "results"


def draws(run_dir: Path, count: int) -> list[str]:
    """One table row per draw: the argmax choice and the rule's choice, with their AUROCs."""
    run = read_run_config(run_dir)
    model = Detector.load(run_dir, "cpu").model
    splits = build_splits(run.data)
    config = dataclasses.replace(run.score, score=AUTO_SCORE, smoothing_sigma=ScoreConfig.smoothing_sigma)
    rows = []
    for draw in range(count):
        val = SyntheticValidation(splits.val, seed=1000 + draw)  # not the run's own draw (seed 0..)
        choice = choose_score(
            config,
            available_scores(model),
            lambda sigma, val=val: score_batches(model, make_loader(val, 32, 0), sigma, torch.device("cpu")),
        )
        value, sigma, name = max(
            (v, float(k.split("=")[1]), f) for k, d in choice.candidates.items() for f, v in d.items() if v
        )
        rows.append(
            f"| {run_dir.name} | {draw} | `{name}`, σ {sigma:g} ({value:.3f}) | "
            f"`{choice.score}`, σ {choice.smoothing_sigma:g} ({choice.val_synth_auroc:.3f}) |"
        )
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    lines = provenance.header("Stability of the end-of-run score choice over synthetic-validation draws")
    lines += [
        f"- runs: {', '.join(str(r) for r in args.runs)}; draws: synthetic seeds 1000-{999 + args.draws}",
        "- argmax = the best (formula, sigma) of the 8 formulas x 4 sigmas; rule = anotrans' choice "
        "(the configured sigma 1 unless another beats it by more than one standard error)",
        "",
        "| run | draw | argmax (synthetic AUROC) | rule (synthetic AUROC) |",
        "|---|---|---|---|",
    ]
    for run_dir in args.runs:
        lines += draws(run_dir, args.draws)
    lines += ["", f"- wall time: {(time.perf_counter() - start) / 60:.1f} min"]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "selection-stability.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
