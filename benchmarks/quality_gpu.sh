#!/usr/bin/env bash
# The quality benchmark's `gpu-*` cells (benchmarks/quality.py) on one CUDA GPU, time-boxed: many seeds
# of bottle in one short call of a lent machine. A smoke run of each model family (1 epoch, 32 images)
# comes first, so that a CUDA-only fault costs a minute, not the call. Run from the repository root:
#
#     ROOT=/path/to/mvtec_ad OUT=/tmp/out benchmarks/quality_gpu.sh [SEEDS...]   # default seeds 30-39
#
# ROOT may hold bottle already resized to 64 px (the arrays are then the same as from 512 px: the loader
# skips its resize). Results (quality.md/.csv, per-run logs without weights) are copied to OUT every 10 s,
# so a call cut short still returns every finished cell. STOP_BY (minutes from the start, default 9): a
# cell starts only if one as long as the longest finished so far would end by then; JOBS (default 14):
# runs at a time; CELLS (default: the 20-epoch gpu-* cells) and SMOKE=0 (skip the smoke runs).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=${ROOT:-../shared/data/mvtec_ad} OUT=${OUT:-/tmp/quality-gpu} RUNS=${RUNS:-/tmp/quality-gpu-runs}
DEVICE=${DEVICE:-cuda} STOP_BY=${STOP_BY:-9} JOBS=${JOBS:-14}
SEEDS=("${@:-30 31 32 33 34 35 36 37 38 39}") SMOKE=${SMOKE:-1}
CELLS=${CELLS:-gpu-recommended-texture-20 gpu-skip-ganomaly-recommended-texture-20 \
gpu-ganomaly-recommended-texture-20 gpu-recommended-texture-glr5-20 gpu-recommended-texture-win4-20}
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
mkdir -p "$OUT" "$RUNS"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'

copy_back() {
    cp benchmarks/results/quality.md benchmarks/results/quality.csv "$OUT"/ 2>/dev/null
    tar czf "$OUT/runs.tgz.part" --exclude='*.safetensors' -C "$RUNS" . 2>/dev/null &&
        mv "$OUT/runs.tgz.part" "$OUT/runs.tgz"
}

smoke() {  # one family, 1 epoch on 32 training images, the preset's options, on $DEVICE
    python3 - "$1" <<PY
import sys, anotrans
anotrans.train("$RUNS/smoke-" + sys.argv[1], model=sys.argv[1], config="recommended", foreign_texture=0.5,
               data="mvtec", category="bottle", root="$ROOT", image_size=64, batch_size=16, epochs=1,
               max_train_images=32, threads=1, eval_every_epoch=True, progress=False, device="$DEVICE")
PY
}
start=$SECONDS
pids=()
families=(anotrans skip-ganomaly ganomaly)
[ "$SMOKE" = 0 ] && families=()
for family in "${families[@]}"; do
    smoke "$family" >"$OUT/smoke-$family.log" 2>&1 &
    pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
echo "smoke runs: $((SECONDS - start)) s, failed=$failed"
if [ "$failed" = 1 ]; then tail -n 40 "$OUT"/smoke-*.log; exit 1; fi
rm -rf "$RUNS"/smoke-*

left=$(python3 -c "print($STOP_BY - $((SECONDS - start)) / 60)")  # minutes left for the cells
(while sleep 10; do copy_back; done) &
copier=$!
python3 benchmarks/quality.py --runs "$RUNS" --root "$ROOT" --jobs "$JOBS" --stop-by-minutes "$left" \
    --seeds ${SEEDS[*]} --cells $CELLS 2>&1 | tee "$OUT/quality.log"
kill "$copier" 2>/dev/null
copy_back
echo "total: $((SECONDS - start)) s"
