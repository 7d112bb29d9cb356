"""onnxruntime vs torch eager: inference speed of the same scoring graph, in one process, interleaved.

Why: ``anotrans export`` is for deployment, and a deployment runtime should not be slower than the
training framework. Both sides run exactly the exported computation (:class:`ScoringGraph`: G, D on
input and reconstruction, residual map, raw score) on the paper-size AnoTrans with seeded random
weights (speed does not depend on the weights), fp32, on the CPU, with the same thread count. Each
repetition times torch once and onnxruntime once, alternately, so load from other processes hits both
alike; the ratio (torch seconds / onnxruntime seconds, > 1 = onnxruntime faster) is what to read.

    python benchmarks/onnx_speed.py                       # 32/64/256 px, batch 1 and 64, 1 thread
    python benchmarks/onnx_speed.py --sizes 32 --profile  # + where the time goes at 32 px (both runtimes)
    python benchmarks/onnx_speed.py --threads 2 --out benchmarks/results/onnx-speed-2t.md

Writes benchmarks/results/onnx-speed.md (command, commit, machine, date first).
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch

from anotrans.benchmark import provenance
from anotrans.export.metadata import ModelInfo
from anotrans.export.onnx_export import ScoringGraph, to_onnx
from anotrans.networks import build_model
from anotrans.scoring.scores import ScoreConfig, Scorer

REPO = Path(__file__).resolve().parents[1]
# Stand-in validation statistics: what the server and predictor need to normalise, for timing only.
STATS = {"threshold": 0.0, "val_min": -1.0, "val_max": 1.0, "map_vmax": 1.0}
REPS = {32: 7, 64: 5, 256: 1}  # timed repetitions per runtime (after one warm-up), fewer where slow


def session(data: bytes, threads: int, profile_prefix: str | None = None) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    if profile_prefix:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def exported(model_name: str, size: int) -> tuple[ScoringGraph, bytes, float]:
    """The scoring graph (default ``disc`` score) of a seeded model, its ONNX bytes, export seconds."""
    torch.manual_seed(0)
    graph = ScoringGraph(build_model(model_name, image_size=size), Scorer(ScoreConfig()))
    info = ModelInfo(model_name, size, 3, "disc", "", {}, STATS, "fp32", "bench", {})
    start = time.perf_counter()
    data = to_onnx(graph, info).SerializeToString()
    return graph, data, time.perf_counter() - start


def interleaved(fns: dict[str, Callable[[], Any]], reps: int) -> dict[str, float]:
    """Median seconds per call of each function, timed alternately after one warm-up call each."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def measure(model_name: str, size: int, batches: list[int], threads: int) -> list[dict[str, Any]]:
    graph, data, export_s = exported(model_name, size)
    sess = session(data, threads)
    rows = []
    for batch in batches:
        x = np.random.default_rng(0).uniform(-1, 1, (batch, 3, size, size)).astype(np.float32)
        tx = torch.from_numpy(x)

        def run_torch(tx: torch.Tensor = tx) -> None:
            with torch.inference_mode():
                graph(tx)

        def run_ort(x: np.ndarray = x) -> None:
            sess.run(None, {"image": x})

        seconds = interleaved({"torch": run_torch, "onnxruntime": run_ort}, REPS.get(size, 3))
        rows.append(
            {
                "size": size,
                "batch": batch,
                "torch_ips": batch / seconds["torch"],
                "ort_ips": batch / seconds["onnxruntime"],
                "ratio": seconds["torch"] / seconds["onnxruntime"],
                "export_s": export_s,
                "onnx_mib": len(data) / 2**20,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def profile(model_name: str, size: int, batch: int, threads: int, top: int = 12) -> list[str]:
    """Share of time per operator type in each runtime at one size and batch (3 calls after a warm-up)."""
    graph, data, _ = exported(model_name, size)
    x = np.random.default_rng(0).uniform(-1, 1, (batch, 3, size, size)).astype(np.float32)
    lines = [f"## Where the time goes: {size} px, batch {batch}, {threads} thread(s)", ""]
    with tempfile.TemporaryDirectory() as tmp:
        sess = session(data, threads, f"{tmp}/ort")
        sess.run(None, {"image": x})
        for _ in range(3):
            sess.run(None, {"image": x})
        events = json.loads(Path(sess.end_profiling()).read_text())
    per_op: collections.Counter[str] = collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            per_op[event["args"]["op_name"]] += event["dur"]
    total = sum(per_op.values())
    lines += ["onnxruntime (node kernel time):", "", "| op type | share |", "|---|---:|"]
    lines += [f"| {op} | {100 * us / total:.1f} % |" for op, us in per_op.most_common(top)]
    with torch.inference_mode():
        tx = torch.from_numpy(x)
        graph(tx)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            for _ in range(3):
                graph(tx)
    averages = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total_torch = sum(e.self_cpu_time_total for e in averages)
    lines += ["", "torch eager (self CPU time):", "", "| op | share |", "|---|---:|"]
    lines += [f"| {e.key} | {100 * e.self_cpu_time_total / total_torch:.1f} % |" for e in averages[:top]]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="anotrans")
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 256])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--threads", type=int, default=1, help="torch and onnxruntime intra-op threads")
    parser.add_argument("--profile", action="store_true", help="per-operator breakdown at the first size")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/onnx-speed.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    lines = provenance.header("onnxruntime vs torch eager inference (same graph, same process)")
    lines += [
        f"- model: `{args.model}` (paper size, seeded random weights), fp32, CPU, "
        f"{args.threads} thread(s) each; onnxruntime {ort.__version__}",
        "- the machine was shared with other jobs while this ran: absolute images/s are skewed; the ratio "
        "(torch and onnxruntime timed alternately in one process) is the figure to read",
        "",
        "| size | batch | torch images/s | onnxruntime images/s | onnxruntime / torch | export s "
        "| ONNX MiB |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    table_end = len(lines)
    sections: list[str] = []

    def write() -> None:  # after every size, so a long run leaves its finished rows behind
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join([*lines, *sections]) + "\n")

    for i, size in enumerate(args.sizes):
        for r in measure(args.model, size, args.batches, args.threads):
            lines.insert(
                table_end,
                f"| {r['size']} | {r['batch']} | {r['torch_ips']:.1f} | {r['ort_ips']:.1f} | "
                f"{r['ratio']:.2f}x | {r['export_s']:.1f} | {r['onnx_mib']:.1f} |",
            )
            table_end += 1
        if args.profile and i == 0:
            sections += ["", *profile(args.model, size, max(args.batches), args.threads)]
        write()
    print("\n".join([*lines, *sections]))


if __name__ == "__main__":
    main()
