#!/usr/bin/env bash
# The model-throughput and indexing benchmarks on a CUDA GPU, in one short run (~5 min):
# fp32/fp16/bf16 image throughput at batches 32/256/512 on 512 real photos (uint8 pixels
# normalised on the GPU), text latency, the offline model's quality per precision, and
# `visearch index` of 2,000 photos (and 64 camera-sized ones) against the raw fp16 forward.
#
#   scripts/bench/gpu.sh [OUT_DIR]        # needs a CUDA build of torch in .venv
#
# Results: OUT_DIR/results.json and summary.md (default bench-results/gpu-<time>); copy the
# figures into docs/performance.md ("GPU").
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
OUT=${1:-bench-results/gpu-$(date +%Y%m%d-%H%M%S)}
if ! "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "gpu.sh: torch sees no CUDA GPU (install a CUDA build of torch first)" >&2
    exit 1
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
exec "$PY" scripts/bench/run.py --mode gpu --device cuda --out "$OUT"
