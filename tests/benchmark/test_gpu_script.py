"""benchmarks/gpu.sh --dry-run: the GPU benchmark's steps on the CPU (tiny model), so the script is ready."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_gpu_benchmark_dry_run_writes_every_row(tmp_path: Path) -> None:
    out = tmp_path / "gpu.md"
    path = os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))
    proc = subprocess.run(
        ["bash", str(REPO / "benchmarks" / "gpu.sh"), "--dry-run", "--out", str(out)],
        env={**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "DRY RUN" in text
    rates = {}
    for variant in ("fp32", "bf16", "bf16 \\+ compile"):
        row = re.search(rf"\| 32 \| {variant} \| 4 \| ([\d,.]+) \| ([\d,.]+) \| ([\d,.]+) \|", text)
        assert row, variant
        rates[variant] = [float(v.replace(",", "")) for v in row.groups()]
        assert all(v > 0 for v in rates[variant]), (variant, rates[variant])
    assert re.search(r"\| 32 \| 4 \| [\d,.]+ \| [\d,.]+ \|", text)  # the largest batch tried (the cap)
    assert "Table 3, paper protocol (10 classes x 3 seeds x 25 epochs" in text
