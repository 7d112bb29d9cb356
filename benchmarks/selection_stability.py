"""Does the end-of-run (formula, smoothing) choice follow the model or the draw of the synthetic set?

    python benchmarks/selection_stability.py RUN_DIR [RUN_DIR ...] [--draws 5]

For each finished run, the saved (selected) weights score fresh synthetic-validation draws (other
seeds, same validation normals) and the choice is made on each draw twice: by a plain argmax over
(formula, sigma), and by the rule anotrans uses (scoring.selection.choose_score: the configured sigma
unless another beats it by more than one standard error). Validation data only: no test image is
read. Writes benchmarks/results/selection-stability.md.

Each choice is also scored on the next draw, where it was not made: a rule whose choices follow the
draw pays for it there. This decided the rule's formula default (`mix` unless clearly beaten), fixed
before its run: kept if its mean next-draw AUROC over the runs of seeds 6-8 (recommended-20,
recommended-texture-20, skip-ganomaly-recommended-20) is at least the previous rule's (the argmax
formula).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path

import torch

from anotrans.benchmark import provenance
from anotrans.config import read_run_config
from anotrans.data.anomalies import COPIES, SyntheticValidation
from anotrans.data.build import build_splits
from anotrans.data.loader import make_loader
from anotrans.detector import Detector
from anotrans.scoring.scores import (
    AUTO_SCORE,
    SCORE_FORMULAS,
    ScoreConfig,
    available_scores,
    score_batches,
)
from anotrans.scoring.selection import best_of, choose_score, smoothing_by_rule

RESULTS = Path(__file__).resolve().parent / "results"
CPU = torch.device("cpu")


def _auroc(candidates: dict[str, dict[str, float | None]], name: str, sigma: float) -> float:
    return candidates[f"sigma={sigma:g}"][name] or float("nan")


def previous_rule(candidates: dict[str, dict[str, float | None]], n_normal: int, n_anomalous: int) -> tuple:
    """(AUROC, sigma, formula) by the rule before the formula default: the argmax formula, at sigma 1
    unless another sigma's best beats it by more than one standard error."""
    best = {float(k.split("=")[1]): best_of(d, SCORE_FORMULAS) for k, d in candidates.items()}
    sigma = smoothing_by_rule(best, ScoreConfig.smoothing_sigma, n_normal, n_anomalous)
    return best[sigma][1], sigma, best[sigma][0]


def draws(run_dir: Path, count: int) -> tuple[list[str], list[tuple[float, ...]]]:
    """One table row per draw: the argmax choice, the previous rule's and the rule's, with their AUROCs
    on that draw and on the next draw (out of sample: what the choice is worth on synthetic data it was
    not made on), and the next-draw AUROCs of the three."""
    run = read_run_config(run_dir)
    model = Detector.load(run_dir, "cpu").model
    splits = build_splits(run.data)
    config = dataclasses.replace(run.score, score=AUTO_SCORE, smoothing_sigma=ScoreConfig.smoothing_sigma)
    choices = []
    counts = len(splits.val), COPIES * len(splits.val)
    for draw in range(count):
        val = SyntheticValidation(splits.val, seed=1000 + draw)  # not the run's own draw (seed 0..)
        choices.append(
            choose_score(
                config,
                available_scores(model),
                lambda sigma, val=val: score_batches(model, make_loader(val, 32, 0), sigma, CPU),
            )
        )
    rows, pairs = [], []
    for draw, choice in enumerate(choices):
        argmax = max(
            (v, float(k.split("=")[1]), f) for k, d in choice.candidates.items() for f, v in d.items() if v
        )
        picks = [argmax, previous_rule(choice.candidates, *counts)]
        picks.append((choice.val_synth_auroc, choice.smoothing_sigma, choice.score))
        following = choices[(draw + 1) % count].candidates
        pairs.append(tuple(_auroc(following, name, sigma) for _, sigma, name in picks))
        cells = [
            f"`{name}`, σ {sigma:g} ({value:.3f}; next {after:.3f})"
            for (value, sigma, name), after in zip(picks, pairs[-1], strict=True)
        ]
        rows.append(f"| {run_dir.name} | {draw} | {' | '.join(cells)} |")
        print(rows[-1], flush=True)
    return rows, pairs


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
        "- argmax = the best (formula, sigma) of the 8 formulas x 4 sigmas; previous rule = the argmax "
        "formula at sigma 1 unless another sigma beats it by more than one standard error; rule = "
        "anotrans' choice (scoring.selection.choose_score: `mix` and sigma 1 unless another beats them by "
        "more than one standard error); next = the chosen (formula, sigma)'s AUROC on the next draw "
        "(the last draw's on the first), where it was not chosen",
        "",
        "| run | draw | argmax (synthetic AUROC; next draw) | previous rule | rule |",
        "|---|---|---|---|---|",
    ]
    pairs = []
    for run_dir in args.runs:
        rows, run_pairs = draws(run_dir, args.draws)
        lines += rows
        pairs += run_pairs
    argmax, previous, rule = (statistics.mean(column) for column in zip(*pairs, strict=True))
    lines += [
        "",
        f"- mean next-draw AUROC over {len(pairs)} choices: argmax {argmax:.4f}, previous rule "
        f"{previous:.4f}, rule {rule:.4f}",
        f"- wall time: {(time.perf_counter() - start) / 60:.1f} min",
    ]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "selection-stability.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
