"""The demo's image AUROC over seeds: how much of one demo figure is the method and how much the draw.

    python benchmarks/demo_seeds.py                        # the demo's options, seeds 0-9, 2 at a time
    python benchmarks/demo_seeds.py --paper                # paper schedule: no lr decay, no masked input
    python benchmarks/demo_seeds.py --seeds 0 1 2 --set epochs=40 --name e40

Each seed trains `anotrans.demo.DEMO_OPTIONS` (with ``--set`` overrides) in its own process with one
torch thread, as the demo does; the seed also draws the synthetic data. Writes
benchmarks/results/demo-seeds[-NAME].md: per seed, every score formula's test AUROC and the default
score's AUROC per defect kind (each kind's images against all normal ones), then mean, sample std and
min over the seeds. Nothing is selected on test labels: every figure is the last epoch's.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from sklearn.metrics import roc_auc_score

from anotrans.benchmark import provenance

RESULTS = Path(__file__).resolve().parent / "results"
PAPER_SCHEDULE = {"lr_decay_share": 0.0, "masked_input": 0.0}


def run_seed(seed: int, overrides: dict[str, Any]) -> dict[str, Any]:
    """Train one seed in a temporary run directory; its AUROCs by score and by defect kind."""
    import anotrans
    from anotrans.data.synthetic import SYNTHETIC_ANOMALY_RATIO, SYNTHETIC_TEST, make_synthetic
    from anotrans.demo import DEMO_OPTIONS

    options = {**DEMO_OPTIONS, "progress": False, **overrides, "seed": seed}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as run_dir:
        metrics = anotrans.train(run_dir, **options).metrics
        with open(Path(run_dir) / "scores.csv", newline="") as f:
            rows = list(csv.DictReader(f))
    kinds = make_synthetic(SYNTHETIC_TEST, options["image_size"], 3, (seed, 1), SYNTHETIC_ANOMALY_RATIO).kinds
    kind_of = [kinds[int(row["path"].rsplit("#", 1)[1])] for row in rows]
    by_kind = {}
    for kind in sorted(set(kind_of) - {"good"}):
        chosen = [i for i, k in enumerate(kind_of) if k in ("good", kind)]
        by_kind[kind] = roc_auc_score(
            [int(rows[i]["label"]) for i in chosen], [float(rows[i]["raw_score"]) for i in chosen]
        )
    return {
        "seed": seed,
        "auroc": metrics["image_auroc"],
        "by_score": metrics["image_auroc_by_score"],
        "by_kind": by_kind,
        "seconds": time.perf_counter() - start,
    }


def parse_set(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` pairs, values read as JSON when they parse (numbers, true/false), else as text."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"error: --set takes key=value, got {pair!r}")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return overrides


def report(results: list[dict[str, Any]], overrides: dict[str, Any]) -> list[str]:
    """Markdown table: one row per seed, then mean / std / min."""
    from anotrans.demo import DEMO_OPTIONS

    scores = list(results[0]["by_score"])
    kinds = list(results[0]["by_kind"])
    lines = [
        f"- options: `anotrans.demo.DEMO_OPTIONS` with overrides `{json.dumps(overrides)}`",
        f"- DEMO_OPTIONS: `{json.dumps(DEMO_OPTIONS)}`",
        "",
        "| seed | image AUROC (default score) | "
        + " | ".join(scores)
        + " | "
        + " | ".join(f"{k} vs normals" for k in kinds)
        + " | seconds |",
        "|" + "---|" * (3 + len(scores) + len(kinds)),
    ]
    for r in results:
        cells = [f"{r['by_score'][s]:.3f}" for s in scores] + [f"{r['by_kind'][k]:.3f}" for k in kinds]
        lines.append(
            f"| {r['seed']} | **{r['auroc']:.3f}** | " + " | ".join(cells) + f" | {r['seconds']:.0f} |"
        )
    columns = [[r["auroc"] for r in results]]
    columns += [[r["by_score"][s] for r in results] for s in scores]
    columns += [[r["by_kind"][k] for r in results] for k in kinds]
    spread = " | ".join(
        f"{statistics.mean(c):.3f} ± {statistics.stdev(c) if len(c) > 1 else 0.0:.3f}" for c in columns
    )
    lines.append(f"| mean ± std | {spread} | |")
    lines.append("| min | " + " | ".join(f"{min(c):.3f}" for c in columns) + " | |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=list(range(10)))
    parser.add_argument("--jobs", type=int, default=2, help="seeds trained at once (one thread each)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override a demo option")
    parser.add_argument(
        "--paper", action="store_true", help="the paper's schedule: " + json.dumps(PAPER_SCHEDULE)
    )
    parser.add_argument("--name", default="", help="results/demo-seeds-NAME.md (default: paper with --paper)")
    args = parser.parse_args()
    overrides = {**(PAPER_SCHEDULE if args.paper else {}), **parse_set(args.set)}
    name = args.name or ("paper" if args.paper else "")
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=context) as pool:
        futures = [pool.submit(run_seed, seed, overrides) for seed in args.seeds]
        results = []
        for future in futures:
            results.append(future.result())
            print(json.dumps(results[-1]), flush=True)
    out = RESULTS / (f"demo-seeds-{name}.md" if name else "demo-seeds.md")
    title = "Demo image AUROC over seeds" + (f" ({name})" if name else "")
    out.write_text("\n".join([*provenance.header(title), *report(results, overrides)]) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
