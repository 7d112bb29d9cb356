"""GPU speed of the paper's AnoTrans: training and scoring images/s, the largest batch, the Table 3 wall time.

Why: Table 3 is 10 CIFAR-10 classes x 25 epochs x 3 seeds over 45,000 training images, days on a CPU;
this measures what one GPU makes of it. Run by ``benchmarks/gpu.sh`` (see there); ``--dry-run`` runs the
same steps on the CPU with a tiny model at 32 px, one thread, one timed call each, ``torch.compile``
called but returning the module as it is (tracing the Swin generator alone takes CPU-minutes), to check
the script, not to measure.

For each size (32, 64, 256 px) and variant (fp32; bf16 autocast; bf16 plus ``torch.compile``, i.e.
``--precision bf16 --compile``): training = one full ``GanUpdater.step`` (1 G forward, k = 2 D updates, 1
G update) at the batch below; scoring = the full score in eval mode on networks cast to the variant's
dtype, as ``Detector(precision=...)`` runs it (compiled: G and D through torch.compile). The largest
batch is the largest power of two (from the batch below, up to ``--max-batch``) whose bf16 training
step fits in memory. Everything runs in this one process (peak memory reset per measurement).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from anotrans.benchmark import provenance
from anotrans.networks import build_model
from anotrans.scoring.scores import compute_components, eval_mode
from anotrans.training.config import TrainConfig
from anotrans.training.steps import GanUpdater
from speed import DTYPES, best_of, machine, peak_memory_mib

RESULTS = Path(__file__).resolve().parent / "results" / "gpu.md"
SIZES = (32, 64, 256)
BATCH = {32: 128, 64: 128, 256: 32}  # 128: the paper preset's CIFAR-10 batch
VARIANTS = {"fp32": ("fp32", False), "bf16": ("bf16", False), "bf16 + compile": ("bf16", True)}
DRY_RUN_MODEL = {"embed_dim": 16, "num_merges": 2, "depths": [2, 2, 2], "disc_ndf": 16, "disc_nz": 32}
# Table 3, paper protocol: per class and seed, 25 epochs over 45,000 training normals, and each epoch
# scores the validation normals (10 % held out) and the 15,000-image test set (max-over-epochs protocol).
TABLE3_RUNS, TABLE3_EPOCHS, TABLE3_TRAIN, TABLE3_SCORED = 10 * 3, 25, 45_000, 4_500 + 15_000
MIN_ITERS = 2  # timed calls per measurement at least (the dry run: 1)
CPU_BF16_TRAIN_32PX = 96.5  # images/s, benchmarks/results/speed.md (2 idle CPU cores, AnoTrans 32 px bf16)


def training_rate(
    model: torch.nn.Module, device: torch.device, size: int, batch: int, variant: str, min_time: float
) -> float:
    precision, compiled = VARIANTS[variant]
    config = TrainConfig(precision=precision, batch_size=batch, compile=compiled)
    updater = GanUpdater(model, config, device)
    x = torch.rand(batch, 3, size, size, device=device) * 2 - 1
    return batch / best_of(lambda: updater.step(x), min_time, min_iters=MIN_ITERS)


def scoring_rate(
    model: torch.nn.Module, device: torch.device, size: int, batch: int, variant: str, min_time: float
) -> float:
    precision, compiled = VARIANTS[variant]
    dtype = DTYPES[precision]
    scored = copy.deepcopy(model).to(dtype=dtype)
    if compiled:
        scored.generator, scored.discriminator = (
            torch.compile(scored.generator),
            torch.compile(scored.discriminator),
        )
    x = (torch.rand(batch, 3, size, size, device=device) * 2 - 1).to(dtype)

    def score() -> None:
        with eval_mode(scored):
            compute_components(scored, x, 1.0)

    return batch / best_of(score, min_time, min_iters=MIN_ITERS)


@contextlib.contextmanager
def fresh_memory(device: torch.device) -> Iterator[None]:
    """Start each measurement with empty caches and a reset peak, so its peak is its own."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    yield


def largest_batch(
    build: Any, device: torch.device, size: int, start: int, cap: int, min_time: float
) -> tuple[int, float, float]:
    """(batch, images/s, peak MiB) of the largest power-of-two batch whose bf16 step fits."""
    best = (0, 0.0, 0.0)
    batch = start
    while batch <= cap:
        try:
            with fresh_memory(device):
                rate = training_rate(build(), device, size, batch, "bf16", min_time)
                best = (batch, rate, peak_memory_mib(device))
        except torch.cuda.OutOfMemoryError:
            break
        batch *= 2
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="Same steps on the CPU, tiny model, 32 px.")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--max-batch", type=int, default=8192)
    parser.add_argument("--min-time", type=float, default=3.0, help="Seconds per timed measurement.")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    if args.dry_run:
        device, options, sizes, batches, cap, min_time = (
            torch.device("cpu"),
            DRY_RUN_MODEL,
            [32],
            {32: 4},
            4,
            0.0,
        )
        global MIN_ITERS
        MIN_ITERS = 1
        torch.set_num_threads(1)
        torch.compile = lambda module: module  # the call is made, the module runs as it is
    else:
        if not torch.cuda.is_available():
            raise SystemExit("error: no CUDA device; use --dry-run to check the script on the CPU")
        device, options, sizes, batches, cap, min_time = (
            torch.device("cuda"),
            {},
            args.sizes,
            BATCH,
            args.max_batch,
            args.min_time,
        )

    def build(size: int) -> torch.nn.Module:
        torch.manual_seed(0)
        return build_model("anotrans", image_size=size, **options).to(device)

    rows, rates = [], {}
    for size in sizes:
        for variant in VARIANTS:
            with fresh_memory(device):
                train = training_rate(build(size), device, size, batches[size], variant, min_time)
                train_mib = peak_memory_mib(device)
            with fresh_memory(device):
                infer = scoring_rate(build(size), device, size, batches[size], variant, min_time)
            rates[size, variant] = (train, infer)
            rows.append(
                f"| {size} | {variant} | {batches[size]} | {train:,.1f} | {train_mib:,.0f} | {infer:,.1f} |"
            )
            print(rows[-1], flush=True)
    fits = {
        size: largest_batch(functools.partial(build, size), device, size, batches[size], cap, min_time)
        for size in sizes
    }

    title = (
        "GPU speed (DRY RUN on the CPU, tiny model: checks the script, measures nothing)"
        if args.dry_run
        else "GPU speed: AnoTrans (paper size)"
    )
    lines = [
        *provenance.header(title),
        f"- device: {torch.cuda.get_device_name(0) if device.type == 'cuda' else machine()}",
        "",
        "| px | variant | batch | train images/s | train peak MiB | score images/s |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        "Largest bf16 training batch that fits (powers of two from the batch above, up to "
        f"{cap}; the last one tried fit when it equals the cap):",
        "",
        "| px | batch | train images/s | peak MiB |",
        "|---|---|---|---|",
        *(f"| {size} | {b} | {r:,.1f} | {m:,.0f} |" for size, (b, r, m) in fits.items()),
        "",
    ]
    size = 32 if 32 in sizes else sizes[0]
    variant = max(VARIANTS, key=lambda v: rates[size, v][0])
    train, infer = rates[size, variant]
    seconds = TABLE3_RUNS * TABLE3_EPOCHS * (TABLE3_TRAIN / train + TABLE3_SCORED / infer)
    lines += [
        f"Table 3, paper protocol ({TABLE3_RUNS // 3} classes x 3 seeds x {TABLE3_EPOCHS} epochs, "
        f"{TABLE3_TRAIN:,} training images and {TABLE3_SCORED:,} scored images per epoch), one run after "
        f"another on one device at {size} px {variant} (batch {batches[size]}): "
        f"**{datetime.timedelta(seconds=round(seconds))}** (h:mm:ss; target: under one hour).",
        f"Training at {size} px {variant}: {train / CPU_BF16_TRAIN_32PX:.1f}x the 2-core CPU's 32 px bf16 "
        f"rate ({CPU_BF16_TRAIN_32PX} images/s, benchmarks/results/speed.md; target: >= 20x).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
