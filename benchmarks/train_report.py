"""Run one ``anotrans train`` command and write its figures to benchmarks/results/train-<name>.md.

    python benchmarks/train_report.py bottle64 -- anotrans train --data mvtec ... --out runs/bottle64

The command must pass ``--out RUN_DIR`` and should pass ``--eval-every-epoch`` (for the optimistic
number). The report gives the command, commit, machine, date, wall time, seconds per epoch, the honest
AUROC (last epoch, eval mode), the optimistic one (max over epochs, selected on test labels), the
reference-protocol one when ``--reference-eval`` was given, and every score formula's AUROC.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

from anotrans.benchmark import provenance

RESULTS = Path(__file__).resolve().parent / "results"


def summary(run_dir: Path) -> list[str]:
    """Markdown lines with the run's per-epoch times and AUROCs."""
    metrics = json.loads((run_dir / "metrics.json").read_text())
    epochs = [json.loads(line) for line in (run_dir / "epochs.jsonl").read_text().splitlines()]
    seconds = [e["seconds"] for e in epochs]
    m = metrics
    lines = [
        f"- seconds per epoch (training only): median {statistics.median(seconds):.1f}, "
        f"{metrics['train_images_per_second']:.1f} training images/s; {metrics['n_train']} training, "
        f"{m['n_val']} validation images; test scoring {m['test_images_per_second']:.0f} images/s",
        "",
        "| measure | image AUROC |",
        "|---|---|",
        f"| **honest**: last epoch, eval mode, default score | **{metrics['image_auroc']:.3f}** |",
    ]
    if "image_auroc_max_over_epochs" in metrics:
        value = metrics["image_auroc_max_over_epochs"]
        lines.append(f"| optimistic: max over epochs (selected on test labels) | {value:.3f} |")
    if "image_auroc_reference_protocol_max_over_epochs" in metrics:
        value = metrics["image_auroc_reference_protocol_max_over_epochs"]
        lines.append(
            f"| reference protocol of the released code (train mode, max over epochs) | {value:.3f} |"
        )
    lines += [
        "",
        f"Image AP {metrics['image_ap']:.3f}, F1 at the validation threshold {metrics['image_f1']:.3f}, "
        f"F1-max {metrics['image_f1_max']:.3f}.",
        "",
        "| score formula (last epoch) | AUROC |",
        "|---|---|",
        *(f"| `{name}` | {value:.3f} |" for name, value in metrics["image_auroc_by_score"].items()),
        "",
        "| epoch | seconds | "
        + " | ".join(f"`{k}`" for k in epochs[0].get("test_image_auroc_by_score", {}))
        + " |",
        "|---|---|" + "---|" * len(epochs[0].get("test_image_auroc_by_score", {})),
    ]
    for e in epochs:
        cells = " | ".join(f"{v:.3f}" for v in e.get("test_image_auroc_by_score", {}).values())
        lines.append(f"| {e['epoch']} | {e['seconds']:.0f} | {cells} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = [a for a in args.command if a != "--"]
    run_dir = Path(command[command.index("--out") + 1])
    start = time.perf_counter()
    subprocess.run(command, check=True)
    wall = time.perf_counter() - start
    lines = [
        *provenance.header(f"anotrans train: {args.name}", cmd=shlex.join(command)),
        f"- wall time: {wall / 60:.1f} min (including per-epoch test evaluation)",
        *summary(run_dir),
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"train-{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
