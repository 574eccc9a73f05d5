#!/usr/bin/env bash
# The trainer beside PyTorch on one GPU, same model, same batches: samples/s at batch 512 and
# 2048 in f32 and half precision, peak GPU memory, time to the first step (the trainer's with a
# cold and a warm kernel cache), and the throughput ratio. Prints a markdown table.
#
#   bench/gpu.sh [TRAINER]        # TRAINER: the trainer binary (default target/release/trainer)
#
# Environment: DGA_DATA (the labelled data), STEPS (timed steps, default 100), WARMUP (20),
# BENCH_OUT (where batches and results go, default bench/out), SIZES (default "512 2048"),
# HALF (half-precision types to add, e.g. "bf16 f16"; default none), PHASE_STEPS (steps timed
# phase by phase after the warm f32 runs, default 30; 0 skips that table).
set -euo pipefail
cd "$(dirname "$0")/.."
trainer=${1:-target/release/trainer}
out=${BENCH_OUT:-bench/out}
steps=${STEPS:-100}
warmup=${WARMUP:-20}
sizes=${SIZES:-512 2048}
phase_steps=${PHASE_STEPS:-30}
mkdir -p "$out"
results=$out/results.jsonl
: >"$results"
# A fresh kernel cache, so the first run shows the cold start.
export DGA_KERNEL_CACHE=$out/kernel-cache
rm -rf "$DGA_KERNEL_CACHE"

# Runs a command that prints one JSON line while sampling GPU memory; appends the line with
# the peak memory and a note to the results.
measure() {
  local note=$1
  shift
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 >"$out/memory.txt" &
  local sampler=$!
  local status=0
  "$@" >"$out/line.json" 2>>"$out/log.txt" || status=$?
  kill "$sampler"
  wait "$sampler" 2>/dev/null || true
  if [ "$status" != 0 ]; then
    echo "failed ($status): $*" | tee -a "$out/failed.txt"
    return 0
  fi
  python3 - "$out/line.json" "$out/memory.txt" "$note" >>"$results" <<'PY'
import json, sys
line = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
memory = [int(v) for v in open(sys.argv[2]).read().split() if v.isdigit()]
line["peak_gpu_mib"] = max(memory, default=None)
line["note"] = sys.argv[3]
print(json.dumps(line))
PY
  tail -1 "$results"
}

bench_trainer() {
  local batch=$1 precision=$2 note=$3
  shift 3
  measure "$note" "$trainer" bench-train --backend cuda --batch-sizes "$batch" \
    --precision "$precision" --steps "$steps" --warmup-steps "$warmup" "$@"
}

for batch in $sizes; do
  bench_trainer "$batch" f32 "cold kernel cache" --write-batches "$out"
  bench_trainer "$batch" f32 "warm kernel cache" --phase-steps "$phase_steps"
  for precision in ${HALF:-}; do
    bench_trainer "$batch" "$precision" "warm except half kernels"
  done
  measure "" python3 bench/pytorch_train.py --batches "$out/batches-$batch.txt" \
    --precision f32 --warmup-steps "$warmup" --phase-steps "$phase_steps"
  for precision in ${HALF:-}; do
    measure "" python3 bench/pytorch_train.py --batches "$out/batches-$batch.txt" \
      --precision "$precision" --warmup-steps "$warmup"
  done
done
python3 bench/table.py "$results"
