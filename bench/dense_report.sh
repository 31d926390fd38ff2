#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs portml_bench_dense twice, one thread everywhere: once in this environment (OPENBLAS_CORETYPE as
# set, e.g. Haswell) and once with OPENBLAS_CORETYPE unset for the OpenBLAS benchmarks only, then prints
# the markdown tables of docs/dense.md (medians of CPU time, ratios measured in the same run). ONNX Runtime
# runs from its Python API in bench_dense_ort.py right after, when python3 can import it.
# Two threads (only meaningful on an idle host; not part of this script):
#   OMP_NUM_THREADS=2 OMP_PROC_BIND=false portml_bench_dense --benchmark_filter='portml_f32_2t|onednn_f32/(mlp64|deepjet_head)/(256|4096)$' \
#     --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true   (compare real_time)
# Usage: bench/dense_report.sh [build-dir] [output-dir]
set -eu
build=${1:-build/dense-rel}
out=${2:-build/dense-bench}
mkdir -p "$out"
exe="$build/bench/portml_bench_dense"
common="--benchmark_repetitions=3 --benchmark_report_aggregates_only=true --benchmark_min_time=0.05 --benchmark_format=json"
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $exe $common --benchmark_filter='-(_2t|avx2)' > "$out/dense_env.json"
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 env -u OPENBLAS_CORETYPE $exe $common \
  --benchmark_filter='openblas|peak' > "$out/dense_unset.json"
# ONNX Runtime through its Python API (IOBinding, 1 thread), where it is installed.
ort_json=""
if python3 -c "import onnx, onnxruntime" 2>/dev/null; then
  OMP_NUM_THREADS=1 python3 "$(dirname "$0")/bench_dense_ort.py" "$out/dense_ort.json"
  ort_json="$out/dense_ort.json"
fi
python3 "$(dirname "$0")/dense_report.py" "$out/dense_env.json" "$out/dense_unset.json" $ort_json
