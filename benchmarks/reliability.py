"""Crash test: kill -9 ``anotrans train`` at random moments, resume, and compare with a clean run.

    OMP_NUM_THREADS=1 python benchmarks/reliability.py            # 20 trials x 3 kills, seed 0
    python benchmarks/reliability.py --trials 5 --kills 2 --seed 1

One uninterrupted reference run of anotrans.benchmark.crash.CRASH_RUN (tiny GANomaly, synthetic data,
3 epochs, a checkpoint every 3 updates, --deterministic --threads 1), then per trial: kill the run
``--kills`` times (random moments within the reference's training time; one kill per trial timed
inside a checkpoint write), check after each kill that every file in the run directory loads, resume
with ``anotrans train --resume``, finish, and compare final weights (bytes), metrics, config and epoch
log (timings aside) with the reference. Writes benchmarks/results/reliability.md, rewritten after
every trial so a long run leaves partial results.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from pathlib import Path

from anotrans.benchmark import provenance
from anotrans.benchmark.crash import (
    CRASH_RUN,
    Launcher,
    Trial,
    crash_trial,
    random_kills,
    train_args,
    training_seconds,
    unloadable_files,
)

RESULTS = Path(__file__).resolve().parent / "results" / "reliability.md"


def report(trials: list[Trial], wanted: int, reference_seconds: float, wall: float) -> list[str]:
    kills = sum(t.kills for t in trials)
    corrupt = sum(len(t.unloadable) for t in trials)
    identical = sum(t.identical for t in trials)
    lines = [
        "",
        f"- run: `anotrans train {' '.join(CRASH_RUN)}`; reference training time {reference_seconds:.1f} s "
        "(a shared, busy 2-core machine: timings are skewed, counts are not)",
        f"- trials: {len(trials)} of {wanted}; wall time {wall / 60:.1f} min",
        "",
        "| trials | kills | of them inside a checkpoint write | resumes "
        "| restarts (killed before config.json) | runs identical to the uninterrupted one "
        "| corrupt or unloadable files found |",
        "|---|---|---|---|---|---|---|",
        f"| {len(trials)} | {kills} | {sum(t.kills_in_write for t in trials)} | "
        f"{sum(t.resumes for t in trials)} | {sum(t.restarts for t in trials)} | {identical} / {len(trials)} "
        f"| {corrupt} |",
        "",
        "Identical: model.safetensors, best.safetensors and scores.csv byte for byte, metrics.json, "
        "config.json and epochs.jsonl equal apart from timing fields. Files checked after every kill "
        "and at the end: every safetensors tensor and metadata, every JSON / JSONL line, CSV rows "
        "(temporary files of a killed write are not read by anything and are removed by the next run).",
        "",
        "| trial | kills | in write | resumes | restarts | identical | problems |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, t in enumerate(trials, 1):
        problems = "; ".join(t.differences + t.unloadable) or "-"
        lines.append(
            f"| {i} | {t.kills} | {t.kills_in_write} | {t.resumes} | {t.restarts} | "
            f"{'yes' if t.identical else 'NO'} | {problems} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--kills", type=int, default=3, help="kills per trial")
    parser.add_argument("--seed", type=int, default=0, help="seeds the kill moments")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="anotrans-reliability-"))
    started = time.monotonic()
    trials: list[Trial] = []
    try:
        with Launcher(work) as launcher:
            reference = work / "reference"
            launcher.run(train_args(reference))
            assert unloadable_files(reference) == []
            seconds = training_seconds(reference)
            for i in range(args.trials):
                delays, in_write = random_kills(rng, args.kills, seconds)
                trials.append(crash_trial(launcher, work / f"trial{i:02d}", reference, delays, in_write))
                shutil.rmtree(work / f"trial{i:02d}")
                lines = report(trials, args.trials, seconds, time.monotonic() - started)
                header = provenance.header("Crash test: kill -9 and resume")
                args.out.write_text("\n".join([*header, *lines]) + "\n")
                print(lines[6], flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
