#!/usr/bin/env bash
# The GPU checks of dialsum_nb in one go, for a lent GPU machine (torch/transformers/peft/accelerate present,
# no nbdev or papermill needed). Writes JSON results under $1 (default: ./gpu_results).
#   bash nbs/gpu/run_all.sh "$OUT"
# Budget: about 10 minutes on an H100/H200; each script has its own timeout so one stuck check cannot eat the rest.
set -u
out=${1:-gpu_results}; mkdir -p "$out"
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} HF_HUB_OFFLINE=1 DIALSUM_NO_PROGRESS=1 WANDB_MODE=disabled
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu.csv" 2>&1
timeout 200 python nbs/gpu/precision_check.py --out "$out/precision.json" > "$out/precision.log" 2>&1; echo "precision_check: $?"
timeout 240 python nbs/gpu/train_bench.py --out "$out/train_bench.json" > "$out/train_bench.log" 2>&1; echo "train_bench: $?"
timeout 150 python nbs/gpu/generate_bench.py --out "$out/generate_bench.json" > "$out/generate_bench.log" 2>&1; echo "generate_bench: $?"
