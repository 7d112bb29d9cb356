#!/usr/bin/env bash
# GPU measurements (issue 15): training and scoring images/s of AnoTrans at 32, 64 and 256 px in fp32,
# bf16 and bf16 + torch.compile, the largest batch that fits, and the projected wall time of the full
# Table 3 paper protocol; writes benchmarks/results/gpu.md. Run from anywhere on a CUDA machine:
#
#     benchmarks/gpu.sh                 # about 10 minutes on one GPU (compiling takes most of it)
#     benchmarks/gpu.sh --dry-run --out /tmp/gpu.md   # the same steps on the CPU, tiny model, seconds
#
# Extra arguments go to benchmarks/gpu.py (--sizes, --max-batch, --min-time, --out).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
exec python benchmarks/gpu.py "$@"
