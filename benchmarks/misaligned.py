"""Does the recommended configuration carry over to objects that are not aligned?

    python benchmarks/misaligned.py --root ../shared/data/mvtec_ad --work /tmp/misaligned --seeds 72 73 74

``zmap-topk`` (the preset's score since stop 28) standardises each pixel of the anomaly map against the
validation normals' maps at that pixel: it assumes an object seen at the same place in every image, as
MVTec bottle is. This benchmark makes a misaligned copy of an MVTec category (every train and test image,
with its mask, moved by a seeded random shift of up to ``--max-shift`` of the side, reflected borders, at
the data's own resolution), trains the recommended configuration on it, and reports, on the same weights,
the test AUROC of every image score (reported once; nothing is chosen from it) and each score's
synthetic-validation AUROC with leave-one-out references (benchmarks/deviation_score.py's rule figure),
which is all a label-free choice between them could see.

The copy goes to ``--work/<category>`` (never into the repository); runs to ``--work/runs``, resumable
cell by cell (benchmarks/quality.py's ``run_cell``). Writes benchmarks/results/misaligned.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from anotrans.benchmark import provenance
from anotrans.data.images import IMAGE_EXTENSIONS
from deviation_score import paired, validation_figures
from quality import _fmt, run_cell

RESULTS = Path(__file__).resolve().parent / "results"
# quality.py's recommended cells: 64 px, batch 16, one torch thread per run
OPTIONS = {"data": "mvtec", "config": "recommended", "image_size": 64, "batch_size": 16}
OPTIONS |= {"threads": 1, "progress": False}
SHOWN = ("zmap-topk", "mix", "disc", "ssim-topk", "residual-topk", "feature-topk")


def shift(array: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``array`` [H, W(, C)] moved by (dy, dx) pixels, the uncovered border filled by reflection."""
    pad = max(abs(dy), abs(dx))
    widths = ((pad, pad), (pad, pad)) + ((0, 0),) * (array.ndim - 2)
    padded = np.pad(array, widths, mode="reflect")
    h, w = array.shape[:2]
    return padded[pad - dy : pad - dy + h, pad - dx : pad - dx + w]


def misaligned_copy(source: Path, target: Path, max_shift: float, seed: int) -> int:
    """Copy an MVTec category folder with every image (and its ground-truth mask) shifted at random;
    returns how many images were written. A finished copy (``target/DONE``) is left as it is."""
    if (target / "DONE").exists():
        return 0
    rng = np.random.default_rng(seed)
    images = sorted(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
    images = [p for p in images if p.relative_to(source).parts[0] != "ground_truth"]
    for path in images:
        with Image.open(path) as image:
            array = np.asarray(image)
        limit = int(max_shift * array.shape[0])
        dy, dx = (int(v) for v in rng.integers(-limit, limit + 1, size=2))
        rel = path.relative_to(source)
        out = target / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(shift(array, dy, dx)).save(out)
        mask = source / "ground_truth" / rel.parts[1] / f"{path.stem}_mask.png"
        if rel.parts[0] == "test" and mask.exists():
            with Image.open(mask) as image:
                moved = shift(np.asarray(image), dy, dx)
            out = target / mask.relative_to(source)
            out.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(moved).save(out)
    (target / "DONE").write_text(f"max_shift={max_shift} seed={seed}\n")
    return len(images)


def run_figures(run_dir: Path, copies: int) -> dict[str, Any]:
    """Test AUROC of every score on the run's weights, and the leave-one-out validation figures."""
    from anotrans.detector import Detector

    metrics = json.loads((run_dir / "metrics.json").read_text())
    cache = run_dir / "misaligned-val.json"
    if not cache.exists():
        figures = validation_figures(Detector.load(run_dir, "cpu"), run_dir, copies)
        cache.write_text(json.dumps(figures))
    return {
        "run": run_dir.name,
        "test": metrics["image_auroc_by_score"],
        "val_loo": json.loads(cache.read_text()),
        "pixel_auroc": metrics.get("pixel_auroc"),
        "anomaly_map": metrics.get("anomaly_map"),
        "epoch": metrics.get("selected_epoch"),
        "minutes": metrics.get("train_seconds", 0) / 60,
    }


def report(rows: list[dict[str, Any]], args: argparse.Namespace, seconds: float) -> list[str]:
    lines = provenance.header("The recommended configuration on a misaligned copy of MVTec bottle")
    lines += [
        f"- data: MVTec AD {args.category} at 512 px, every image and mask shifted by a seeded random "
        f"offset of up to {args.max_shift:.0%} of the side in each direction (seed {args.shift_seed}, "
        f"reflected borders); then the recommended configuration as in quality.md: 64 px, batch 16, one "
        f"thread per run, {args.jobs} runs at a time",
        "- test AUROC of every score on the same weights, reported once; `val LOO` = synthetic-validation "
        "AUROC with leave-one-out references and z-scoring (benchmarks/deviation_score.py), the only "
        "figure a label-free choice could use",
        f"- wall time of this call: {seconds / 60:.1f} min",
        "",
        "| run | map | epoch | train min | pixel AUROC | "
        + " | ".join(f"test `{s}`" for s in SHOWN)
        + " | val LOO `mix` | val LOO `zmap-topk` |",
        "|---" * (7 + len(SHOWN)) + "|",
    ]
    for r in rows:
        tests = " | ".join(_fmt(r["test"].get(s)) for s in SHOWN)
        lines.append(
            f"| {r['run']} | {r['anomaly_map']} | {r['epoch']} | {r['minutes']:.1f} | "
            f"{_fmt(r['pixel_auroc'])} | {tests} | {_fmt(r['val_loo']['mix'])} | "
            f"{_fmt(r['val_loo']['zmap-topk'])} |"
        )
    if len(rows) > 1:
        lines += ["", "Mean ± std over the runs:", ""]
        for name in SHOWN:
            values = [r["test"][name] for r in rows if r["test"].get(name) is not None]
            if len(values) > 1:
                lines.append(
                    f"- test `{name}`: {statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"
                )
        for part in ("test", "val_loo"):
            mean, se, ahead, n = paired(rows, part, "zmap-topk")
            lines.append(
                f"- {part} `zmap-topk` minus `mix`: {mean:+.4f} ± {se:.4f} (ahead on {ahead} of {n})"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=Path("../shared/data/mvtec_ad"), help="MVTec AD folder")
    parser.add_argument("--category", default="bottle")
    parser.add_argument("--work", type=Path, default=Path("/tmp/misaligned"), help="copy and runs go here")
    parser.add_argument("--max-shift", type=float, default=0.125, help="largest shift, share of the side")
    parser.add_argument("--shift-seed", type=int, default=0)
    parser.add_argument("--seeds", nargs="+", type=int, default=[72, 73, 74])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--copies", type=int, default=10, help="synthetic copies per validation normal")
    args = parser.parse_args()

    start = time.perf_counter()
    source = args.root / args.category
    if not source.is_dir():
        raise SystemExit(f"--root: no MVTec category folder {source}")
    written = misaligned_copy(source, args.work / "data" / args.category, args.max_shift, args.shift_seed)
    print(f"misaligned copy: {written} images written", flush=True)
    options = {**OPTIONS, "root": str(args.work / "data"), "category": args.category, "epochs": args.epochs}
    runs = [args.work / "runs" / f"recommended-s{seed}" for seed in args.seeds]
    with ProcessPoolExecutor(args.jobs) as pool:
        calls = [
            pool.submit(run_cell, str(d), {**options, "seed": s})
            for d, s in zip(runs, args.seeds, strict=True)
        ]
        finished = [Path(call.result()) for call in calls]
        rows = list(pool.map(run_figures, finished, [args.copies] * len(finished)))
    RESULTS.mkdir(exist_ok=True)
    text = "\n".join(report(rows, args, time.perf_counter() - start)) + "\n"
    (RESULTS / "misaligned.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
