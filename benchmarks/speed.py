"""Training and inference speed of every model, against the matmul peak measured in the same run.

Why: GAN training is the cost users pay (a paper-protocol CIFAR-10 class is 45,000 images x 25 epochs),
so this shows how close the step and the scorer come to what the hardware can do. Run from the
repository root (the default full run took 17 minutes on 2 idle CPU cores):

    python benchmarks/speed.py                      # every model, 32/64/128/256 px, fp32 and bf16
    python benchmarks/speed.py --quick              # AnoTrans at 32 px only, a quick check
    python benchmarks/speed.py --models anotrans --sizes 32 64 --precision bf16
    python benchmarks/speed.py --quick --before HEAD  # plus AnoTrans 32 px with networks/ as of HEAD
    python benchmarks/speed.py --models anotrans --sizes 64 --checkpoint-sizes  # no checkpointed rows
    python benchmarks/speed.py --auroc              # fp32 vs bf16 image AUROC (synthetic, MVTec bottle)

Writes benchmarks/results/speed.md (``--auroc``: speed-auroc.md), followed by the hand-kept notes on
each optimisation (speed-notes.md) and the latest AUROC comparison (speed-auroc.md).

Every (model, size, precision) runs in a fresh subprocess, so its peak memory is its own: the
process's whole peak RSS from ``getrusage``, interpreter and torch included (CUDA: peak allocated);
inference runs first, so "train peak" covers both. Batch: 64 at 32/64 px, 16 at 128 px, 4 at 256 px.
Training = one full ``GanUpdater.step`` (1 G forward, 2k+2 D forwards, k D updates, 1 G update; k = 2);
bf16 training is autocast with fp32 master weights (``--precision bf16`` of ``anotrans train``).
Inference = the full score (G forward plus D features of input and reconstruction) in eval mode, run as
``Detector(precision=...)`` runs it: bf16 inference casts the networks and the input to bf16 (no
autocast, which was 1.1-1.2x slower). AnoTrans is also measured with the ``checkpoint_blocks`` option
(activation checkpointing: less training memory, one more G forward) at the ``--checkpoint-sizes``
(default 64 px, where the memory target is).
FLOPs are counted by ``anotrans.flops`` (torch.utils.flop_counter plus CPU attention; fwd and bwd), and
"% peak" is achieved FLOP/s over the best matmul rate of the same precision measured at the start.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from anotrans.allocator import keep_freed_memory
from anotrans.benchmark import provenance
from anotrans.flops import count_flops

REPO = Path(__file__).resolve().parents[1]
MODELS = ("anotrans", "ganomaly", "skip-ganomaly", "sagan")
SIZES = (32, 64, 128, 256)
# Batches per image size: 64 where the paper trains; smaller at 128/256 px so the run stays short.
BATCH = {32: 64, 64: 64, 128: 16, 256: 4}
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
# (M, K, N) matmuls like the models' Linear/conv shapes: tokens x width, including the narrow 64-wide ones.
PEAK_SHAPES = ((16384, 64, 256), (8192, 256, 64), (4096, 128, 512), (2048, 512, 512), (1024, 1024, 1024))


def best_of(fn: Callable[[], Any], min_time: float, min_iters: int = 2, max_iters: int = 50) -> float:
    """Median seconds per call after one warm-up call; runs until ``min_time`` s and ``min_iters`` calls."""
    fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max_iters and (len(times) < min_iters or time.perf_counter() - start < min_time):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def matmul_peak(device: torch.device, dtype: torch.dtype, min_time: float) -> float:
    """Best GFLOP/s over :data:`PEAK_SHAPES` (what "% peak" is measured against)."""
    best = 0.0
    for m, k, n in PEAK_SHAPES:
        a = torch.randn(m, k, device=device, dtype=dtype)
        b = torch.randn(k, n, device=device, dtype=dtype)
        seconds = best_of(lambda a=a, b=b: torch.mm(a, b), min_time, min_iters=5)
        best = max(best, 2 * m * k * n / seconds / 1e9)
    return best


def peak_memory_mib(device: torch.device) -> float:
    """Peak RSS of this process (CPU) or peak allocated memory (CUDA), MiB."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def inference(job: dict[str, Any], model: torch.nn.Module, device: torch.device) -> dict[str, float]:
    """Seconds and FLOPs per full score at batch 1 and B, networks and input in the job's dtype."""
    from anotrans.scoring.scores import compute_components, eval_mode

    dtype = DTYPES[job["precision"]]
    scored = model if dtype == torch.float32 else copy.deepcopy(model).to(dtype=dtype)
    inputs = {n: torch.rand(n, 3, job["size"], job["size"], device=device) * 2 - 1 for n in (1, job["batch"])}

    def score(x: torch.Tensor) -> None:
        with eval_mode(scored):
            compute_components(scored, x.to(dtype), 1.0)

    out = {f"infer_b{n}_s": best_of(lambda x=x: score(x), job["min_time"]) for n, x in inputs.items()}
    out["infer_mib"] = peak_memory_mib(device)  # before counting FLOPs (see worker)
    out.update({f"infer_b{n}_flops": count_flops(lambda x=x: score(x)) / n for n, x in inputs.items()})
    return out


def worker(job: dict[str, Any]) -> dict[str, Any]:
    """One (model, size, precision) in this process: inference at batch 1 and B, then training at B."""
    from anotrans.networks import build_model
    from anotrans.training.config import TrainConfig
    from anotrans.training.steps import GanUpdater

    device, precision, size, batch = torch.device(job["device"]), job["precision"], job["size"], job["batch"]
    if job.get("keep_freed_memory", True):  # as the CLI does (anotrans.allocator)
        keep_freed_memory()
    torch.manual_seed(0)
    model = build_model(job["model"], image_size=size, **job["model_options"]).to(device)
    out: dict[str, Any] = {"g_params": sum(p.numel() for p in model.generator.parameters())}
    out.update(inference(job, model, device))
    x = torch.rand(batch, 3, size, size, device=device) * 2 - 1
    updater = GanUpdater(model, TrainConfig(precision=precision, batch_size=batch), device)
    out["train_s"] = best_of(lambda: updater.step(x), job["min_time"])
    # Peak memory of the timed steps, before counting FLOPs: a step under the FLOP counter's dispatch
    # mode needs more (checkpointed 64 px step: 3.9 vs 2.3 GiB peak RSS).
    out["train_mib"] = peak_memory_mib(device)
    out["train_flops"] = count_flops(lambda: updater.step(x)) / batch
    return out


def make_job(
    device: str, model: str, size: int, precision: str, min_time: float, checkpoint_blocks: bool = False
) -> dict[str, Any]:
    """What :func:`worker` runs: one model at one size and precision, at the batch of :data:`BATCH`.

    ``checkpoint_blocks`` applies to the AnoTrans family only (the baselines have no transformer blocks).
    """
    options = {"checkpoint_blocks": True} if checkpoint_blocks and model.startswith("anotrans") else {}
    return {
        "device": device, "model": model, "size": size, "precision": precision, "batch": BATCH[size],
        "min_time": min_time, "model_options": options,
    }  # fmt: skip


def run_job(job: dict[str, Any], src: Path | None = None) -> dict[str, Any]:
    """:func:`worker` in a fresh interpreter, so memory peaks and thread pools do not leak between jobs.

    ``src``: a directory holding another ``anotrans`` package to import instead (see :func:`overlay`).
    """
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(src or ""), os.environ.get("PYTHONPATH")])),
    }
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(job)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if proc.returncode:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def overlay(ref: str, into: Path) -> Path:
    """The working tree's package with ``networks/`` as of git ``ref``: the "before" of a before/after."""
    shutil.copytree(REPO / "src" / "anotrans", into / "anotrans")
    shutil.rmtree(into / "anotrans" / "networks")
    archive = subprocess.run(
        ["git", "archive", ref, "src/anotrans/networks"], cwd=REPO, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into / "git", filter="data")
    shutil.move(into / "git" / "src" / "anotrans" / "networks", into / "anotrans" / "networks")
    return into


def machine() -> str:
    """The shared machine line plus what makes CPU rates here lower and noisier."""
    load = os.getloadavg()[0]
    return (
        f"{provenance.machine()}, {torch.get_num_threads()} torch threads, 1-min load at the end {load:.1f}"
    )


def summarise(job: dict[str, Any], r: dict[str, Any], peak: float) -> dict[str, Any]:
    """Rates, % of the matmul peak, FLOPs and memory of one worker result (``{"error"}`` passes through)."""
    if "error" in r:
        return r
    n = job["batch"]
    train_ips, infer_ips = n / r["train_s"], n / r[f"infer_b{n}_s"]
    return {
        "train_ips": train_ips,
        "train_pct": 100 * r["train_flops"] * train_ips / 1e9 / peak,
        "train_gflop": r["train_flops"] / 1e9,
        "train_mib": r["train_mib"],
        "b1_ms": 1e3 * r["infer_b1_s"],
        "infer_ips": infer_ips,
        "infer_pct": 100 * r[f"infer_b{n}_flops"] * infer_ips / 1e9 / peak,
        "infer_gflop": r["infer_b1_flops"] / 1e9,
        "infer_mib": r["infer_mib"],
    }


def model_label(job: dict[str, Any]) -> str:
    """The model column of a row, which also keys its results: checkpointed AnoTrans rows say so."""
    return job["model"] + (" (checkpointed)" if job["model_options"] else "")


def fmt_row(job: dict[str, Any], m: dict[str, Any]) -> str:
    head = f"| {job['device']} | {model_label(job)} | {job['size']} | {job['precision']} | {job['batch']} |"
    if "error" in m:
        return f"{head} failed: {m['error']} |||||||||"
    return (
        f"{head} {m['train_ips']:,.1f} | {m['train_pct']:.0f}% | {m['train_gflop']:.2f} | "
        f"{m['train_mib']:,.0f} | {m['b1_ms']:,.1f} | {m['infer_ips']:,.1f} | {m['infer_pct']:.0f}% | "
        f"{m['infer_gflop']:.2f} | {m['infer_mib']:,.0f} |"
    )


def targets(results: dict[tuple[str, str, int, str], dict[str, Any]]) -> list[str]:
    """The issue's targets (2 CPU cores, paper-size AnoTrans) checked against this run's CPU rows."""

    def get(size: int, precision: str, key: str, model: str = "anotrans") -> float | None:
        return results.get(("cpu", model, size, precision), {}).get(key)

    def line(text: str, value: float | None, ok: Callable[[float], bool], unit: str) -> str:
        if value is None:
            return f"| {text} | not measured in this run | - |"
        return f"| {text} | {value:,.2f}{unit} | {'met' if ok(value) else 'NOT met'} |"

    def ratio(key: str) -> float | None:
        fp32, bf16 = get(32, "fp32", key), get(32, "bf16", key)
        return bf16 / fp32 if fp32 and bf16 else None

    return [
        "| target (cpu, AnoTrans, batch 64 unless stated) | this run | |",
        "|---|---|---|",
        line("fp32 training at >= 65% of fp32 matmul peak (32 px)", get(32, "fp32", "train_pct"),
             lambda v: v >= 65, "%"),
        line("fp32 inference at >= 65% of fp32 matmul peak (32 px)", get(32, "fp32", "infer_pct"),
             lambda v: v >= 65, "%"),
        line("bf16 / fp32 training img/s >= 2 (32 px)", ratio("train_ips"), lambda v: v >= 2, "x"),
        line("bf16 / fp32 inference img/s >= 2 (32 px)", ratio("infer_ips"), lambda v: v >= 2, "x"),
        line("fp32 training peak memory < 4 GiB (64 px)", get(64, "fp32", "train_mib"),
             lambda v: v < 4096, " MiB"),
        line("the same, `checkpoint_blocks=true`", get(64, "fp32", "train_mib", "anotrans (checkpointed)"),
             lambda v: v < 4096, " MiB"),
        *(line(f"{p} inference of one 256 px image (batch 1) < 150 ms", get(256, p, "b1_ms"),
               lambda v: v < 150, " ms") for p in ("fp32", "bf16")),
    ]  # fmt: skip


TABLE_HEAD = (
    "| device | model | px | precision | batch | train img/s | train % peak | train GFLOP/img | "
    "train peak MiB | infer b1 ms | infer img/s (batch) | infer % peak | infer GFLOP/img | infer peak MiB |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def speed(args: argparse.Namespace) -> str:
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    min_time = 1.0 if args.quick else 3.0
    lines: list[str] = []
    results: dict[tuple[str, str, int, str], dict[str, Any]] = {}
    for device in devices:
        peaks = {p: matmul_peak(torch.device(device), DTYPES[p], min_time) for p in args.precision}
        peak_text = ", ".join(f"{p} {v:,.0f} GFLOP/s" for p, v in peaks.items())
        print(f"{device} matmul peak: {peak_text}", flush=True)
        lines += [f"- {device} matmul peak measured in this run: {peak_text}"]
        rows = [TABLE_HEAD]
        print(TABLE_HEAD, flush=True)
        checkpointed = [("anotrans", s, True) for s in args.checkpoint_sizes if "anotrans" in args.models]
        for model, size, ckpt in [(m, s, False) for m in args.models for s in args.sizes] + checkpointed:
            for precision in args.precision:
                job = make_job(device, model, size, precision, min_time, ckpt)
                key = (device, model_label(job), size, precision)
                results[key] = summarise(job, run_job(job), peaks[precision])
                rows.append(fmt_row(job, results[key]))
                print(rows[-1], flush=True)
        lines += ["", *rows, ""]
    lines += ["## Targets", "", *targets(results), ""]
    if args.before:
        lines += before_after(args, min_time)
    return "\n".join(lines)


def before_after(args: argparse.Namespace, min_time: float) -> list[str]:
    """AnoTrans at 32 px, CPU: networks at ``--before`` vs the working tree, interleaved in one run."""
    rows = [
        f"### Before (networks at `{args.before}`) / after (working tree), AnoTrans, cpu, 32 px",
        "",
        TABLE_HEAD,
    ]
    peaks = {p: matmul_peak(torch.device("cpu"), DTYPES[p], min_time) for p in args.precision}
    with tempfile.TemporaryDirectory() as tmp:
        src = overlay(args.before, Path(tmp))
        for precision in args.precision:
            job = make_job("cpu", "anotrans", 32, precision, min_time)
            for label, where in (("before", src), ("after", None)):
                measured = summarise(job, run_job(job, where), peaks[precision])
                row = fmt_row({**job, "model": f"anotrans ({label})"}, measured)
                rows.append(row)
                print(row, flush=True)
    return [*rows, ""]


def auroc_job(run_dir: str, options: dict[str, Any]) -> dict[str, Any]:
    """Train with the real trainer and return its test metrics and the wall time."""
    import anotrans

    start = time.perf_counter()
    result = anotrans.train(run_dir, progress=False, **options)
    return {"auroc": result.metrics["image_auroc"], "seconds": time.perf_counter() - start}


def auroc(args: argparse.Namespace) -> str:
    """fp32 vs bf16 image AUROC for the same seed and budget, on synthetic data and MVTec bottle.

    Besides bf16 training (autocast), the fp32-trained weights are also scored in pure bf16 (what
    ``predict --precision bf16`` does), which isolates bf16's numerical effect; and fp32 is trained
    again with two threads instead of one, which changes only the float summation order: that gap is
    the noise floor of a GAN's trajectory, against which the bf16-training gap has to be read.
    """
    from anotrans.demo import DEMO_OPTIONS
    from anotrans.detector import load

    budget = f"demo model, {DEMO_OPTIONS['epochs']} epochs"
    cases = {
        f"synthetic 32 px ({budget})": DEMO_OPTIONS,
        f"MVTec bottle 64 px ({budget})": {
            **DEMO_OPTIONS,
            "data": "mvtec",
            "root": str(args.data / "mvtec_ad"),
            "category": "bottle",
            "image_size": 64,
        },
    }
    rows = [
        "| data | fp32 (1 thread) | same weights scored in bf16 | bf16 training | fp32, 2 threads | "
        "fp32 s | bf16 s |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, options in cases.items():
        if "root" in options and not (args.data / "mvtec_ad" / "bottle").is_dir():
            rows.append(f"| {name} | skipped: {args.data}/mvtec_ad/bottle not found ||||||")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            fp32 = auroc_job(f"{tmp}/fp32", options)
            scored_bf16 = load(f"{tmp}/fp32", "cpu", "bf16").test()["image_auroc"]
            bf16 = auroc_job(f"{tmp}/bf16", {**options, "precision": "bf16"})
            two_threads = auroc_job(f"{tmp}/threads", {**options, "threads": 2})
        rows.append(
            f"| {name} | {fp32['auroc']:.4f} | {scored_bf16:.4f} | {bf16['auroc']:.4f} | "
            f"{two_threads['auroc']:.4f} | {fp32['seconds']:.0f} | {bf16['seconds']:.0f} |"
        )
        print(rows[-1], flush=True)
    return "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--sizes", nargs="+", type=int, default=list(SIZES), choices=SIZES)
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--quick", action="store_true", help="AnoTrans at 32 px, short timings")
    parser.add_argument(
        "--checkpoint-sizes",
        nargs="*",
        type=int,
        default=[64],
        choices=SIZES,
        help="also measure AnoTrans with checkpoint_blocks=True (activation checkpointing) at these sizes",
    )
    parser.add_argument("--auroc", action="store_true", help="fp32 vs bf16 AUROC instead of speed")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--before", metavar="REF", help="also time AnoTrans 32 px with networks/ at git REF")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    if args.quick:
        args.models, args.sizes, args.checkpoint_sizes = ["anotrans"], [32], []
    command = "python benchmarks/speed.py " + " ".join(sys.argv[1:])
    body = auroc(args) if args.auroc else speed(args)
    title = "fp32 vs bf16 image AUROC" if args.auroc else "Training and inference speed"
    header = [
        f"# {title}",
        "",
        f"- command: `{command.strip()}` (from the repository root)",
        f"- code: {provenance.commit()}",
        f"- machine: {machine()}",
        f"- date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}",
    ]
    out = args.out or REPO / "benchmarks" / "results" / ("speed-auroc.md" if args.auroc else "speed.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    if not args.auroc:  # speed.md carries the hand-kept notes and the latest AUROC comparison along
        extras = [out.parent / name for name in ("speed-notes.md", "speed-auroc.md")]
        body += "".join(f"\n{path.read_text()}" for path in extras if path.is_file())
    out.write_text("\n".join(header) + "\n\n" + body)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
