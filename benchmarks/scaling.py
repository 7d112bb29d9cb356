"""Training throughput of one process with T threads against T processes with one thread each (gloo DDP).

Why: torchrun is how the same trainer scales out; on one CPU the question is what splitting the cores
between processes costs against giving them all to one process (DDP's gradient all-reduce, the
per-step global-loss all-reduces, smaller per-process matmuls). Run from the repository root:

    python benchmarks/scaling.py                     # AnoTrans (paper size) at 32 px, global batch 64
    python benchmarks/scaling.py --steps 4 --repeats 1 --model ganomaly   # a quick look

Every layout runs in fresh processes (``torch.multiprocessing`` spawn, 127.0.0.1), the real training
step (``GanUpdater.step`` through ``training.distributed``: DDP G and D, k = 2 D updates) on random
images already in memory (data loading excluded), 2 warm-up steps, then ``--steps`` timed steps
between two barriers. Layouts alternate ``--repeats`` times; the best rate of each is kept, so load
from other programs hurts less. Writes benchmarks/results/scaling.md.
"""

from __future__ import annotations

import argparse
import os
import socket
import time
from pathlib import Path
from typing import Any

import torch
import torch.multiprocessing as mp

from anotrans.allocator import keep_freed_memory
from anotrans.benchmark import provenance

RESULTS = Path(__file__).resolve().parent / "results" / "scaling.md"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(rank: int, layout: dict[str, Any], port: int, queue: Any) -> None:
    """One of ``layout["processes"]`` processes: build, warm up, time the steps; rank 0 reports seconds."""
    from anotrans.networks import build_model
    from anotrans.training import distributed
    from anotrans.training.config import TrainConfig
    from anotrans.training.steps import GanUpdater

    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
        WORLD_SIZE=str(layout["processes"]),
    )  # fmt: skip
    torch.set_num_threads(layout["threads"])
    keep_freed_memory()
    device = torch.device("cpu")
    with distributed.launch(device, sync_bn=False) as replicas:
        torch.manual_seed(0)
        model = build_model(layout["model"], image_size=layout["size"])
        updater = GanUpdater(model, TrainConfig(batch_size=layout["batch"]), device, replicas)
        size, local = layout["size"], replicas.local_batch(layout["batch"])
        x = torch.rand(local, 3, size, size) * 2 - 1
        for _ in range(2):
            updater.step(x)
        replicas.barrier()
        start = time.perf_counter()
        for _ in range(layout["steps"]):
            updater.step(x)
        replicas.barrier()
        if replicas.is_main:
            queue.put(time.perf_counter() - start)


def measure(layout: dict[str, Any]) -> float:
    """Images per second of one layout (global batch x steps / rank 0's wall time)."""
    queue = mp.get_context("spawn").SimpleQueue()
    mp.spawn(worker, args=(layout, _free_port(), queue), nprocs=layout["processes"], join=True)
    return layout["batch"] * layout["steps"] / queue.get()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="anotrans")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64, help="Global batch (split over the processes).")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--cores", type=int, default=2, help="Threads of the one process = processes.")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    common = {"model": args.model, "size": args.size, "batch": args.batch, "steps": args.steps}
    layouts = [
        {**common, "processes": 1, "threads": 1},
        {**common, "processes": 1, "threads": args.cores},
        {**common, "processes": args.cores, "threads": 1},
    ]
    best = [0.0] * len(layouts)
    for _ in range(args.repeats):
        for i, layout in enumerate(layouts):
            best[i] = max(best[i], measure(layout))
            print(f"{layout['processes']} x {layout['threads']}: {best[i]:.1f} img/s", flush=True)

    one, threads, processes = best
    lines = [
        *provenance.header("Scaling: one process with T threads vs T processes (gloo DDP) on this CPU"),
        f"- load: 1-min load average {os.getloadavg()[0]:.1f} at the end (the benchmark's own processes "
        f"count up to {os.cpu_count()}; more means other programs shared these cores)",
        f"- workload: {args.model} at {args.size} px, global batch {args.batch}, full GAN step (k = 2), "
        f"fp32, {args.steps} timed steps after 2 warm-up, best of {args.repeats}; data loading excluded",
        "",
        "| processes x threads | images/s | vs 1 x 1 | parallel efficiency |",
        "|---|---|---|---|",
    ]
    for layout, rate in zip(layouts, best, strict=True):
        cores = layout["processes"] * layout["threads"]
        lines.append(
            f"| {layout['processes']} x {layout['threads']} | {rate:.1f} | {rate / one:.2f}x | "
            f"{rate / one / cores:.0%} |"
        )
    lines += [
        "",
        f"{args.cores} processes x 1 thread reach {processes / threads:.0%} of 1 process x {args.cores} "
        f"threads ({processes:.1f} vs {threads:.1f} images/s). "
        "Parallel efficiency = rate / (cores x the 1 x 1 rate).",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
