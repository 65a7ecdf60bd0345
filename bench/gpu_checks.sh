#!/usr/bin/env bash
# The GPU checks of issue 14, as one script for a machine with an NVIDIA GPU (after installing a CUDA torch,
# see the README): the graph-vs-hand-written benchmark (eager/compiled, fp32/bf16, TFLOP/s against the
# measured matmul peak), then every template trained in bf16 on the GPU, then the test suite's CUDA paths.
# Results go to ${OUT:-gpu-results}/.
set -u
cd "$(dirname "$0")/.."
out=${OUT:-gpu-results}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
python bench/gpu.py --device cuda 2>&1 | tee "$out/graph_vs_hand.md"
python bench/templates.py --device cuda --precision bf16 --out "$out/runs" 2>&1 | tee "$out/templates_bf16.md"
python bench/trainer_overhead.py 2>&1 | tee "$out/trainer_overhead_cpu.txt"
QT_QPA_PLATFORM=offscreen python -m pytest -q -x tests/engine -k "cuda or gpu or oom or precision" 2>&1 | tail -20 \
  | tee "$out/tests.txt"
