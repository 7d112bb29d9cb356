"""A bounded local load test of ``anotrans serve``: N requests from C concurrent clients, latency and errors.

Why: the server serialises scoring behind one lock; this shows what that costs under concurrent
clients (latency percentiles, throughput) and that no request fails. The model is the paper-size
AnoTrans at 64 px with seeded random weights, exported to ONNX (scoring cost does not depend on the
weights); each request uploads one 64 px PNG. Run from the repository root:

    python benchmarks/load_test.py                          # 500 requests, 8 clients
    python benchmarks/load_test.py --requests 100 --clients 4 --out /tmp/load.md

Writes benchmarks/results/load-test.md (command, commit, machine, date first).
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from anotrans.benchmark import provenance
from onnx_speed import exported

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: Path, port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-c", "from anotrans.console import main; main()"]
    process = subprocess.Popen(
        [*command, "serve", str(model), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ),
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not start within 120 s")


_local = threading.local()


def client_of_this_thread() -> httpx.Client:
    """One keep-alive client per concurrent worker, as separate real clients would hold."""
    if not hasattr(_local, "client"):
        _local.client = httpx.Client(timeout=120)
    return _local.client


def pngs(count: int, size: int) -> list[bytes]:
    rng = np.random.default_rng(0)
    out = []
    for _ in range(count):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/load-test.md")
    args = parser.parse_args()

    images = pngs(16, args.size)
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model.onnx"
        model.write_bytes(exported("anotrans", args.size)[1])
        port = free_port()
        server = start_server(model, port)
        url = f"http://127.0.0.1:{port}/predict"
        try:

            def one(i: int) -> tuple[float, int]:
                client = client_of_this_thread()
                start = time.perf_counter()
                answer = client.post(
                    url, files=[("file", (f"{i}.png", images[i % len(images)], "image/png"))]
                )
                return time.perf_counter() - start, answer.status_code

            start = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                results = list(pool.map(one, range(args.requests)))
            wall = time.perf_counter() - start
        finally:
            server.terminate()
            server.wait(timeout=30)

    latencies = np.array([seconds for seconds, _ in results]) * 1000
    errors = sum(status != 200 for _, status in results)
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99])
    lines = provenance.header("Load test of `anotrans serve` (ONNX model, local clients)")
    lines += [
        f"- model: paper-size `anotrans` at {args.size} px, seeded random weights, exported to ONNX; "
        "the server's onnxruntime uses its default threads; clients are threads of this process",
        "- the machine was shared with other jobs while this ran: latencies are skewed upward",
        "",
        "| requests | clients | image | errors | throughput req/s | p50 ms | p95 ms | p99 ms | max ms |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|",
        f"| {args.requests} | {args.clients} | {args.size} px PNG | {errors} | {args.requests / wall:.1f} | "
        f"{p50:.0f} | {p95:.0f} | {p99:.0f} | {latencies.max():.0f} |",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
