#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# portml against its libtorch C++ peers, in the same process and run (docs/gnn.md, docs/dense.md):
#   bench/peers/run_libtorch_compare.sh <build dir> [tcmalloc .so] [output dir]
# The build needs -DCMAKE_BUILD_TYPE=Release and libtorch found by CMake (PORTML_BENCH_LIBTORCH=ON).
# GNN: the kNN (10 000 points, 3-D and 16-D), EdgeConv, ParticleNet-like and GravNet cases, 1 and 2
# threads, wall time. Dense: every MLP case at one thread (CPU time), the two-thread cases (wall time)
# and square GEMM with OPENBLAS_CORETYPE as the environment has it. Both sets run with glibc malloc and,
# when the second argument names libtcmalloc_minimal.so, again with it LD_PRELOADed; then the dense set
# once more with OPENBLAS_CORETYPE unset (libtorch's BLAS here is OpenBLAS; glibc malloc). Repetitions are interleaved at random, so that
# both implementations see the same load on a shared host; medians are reported.
set -euo pipefail
BUILD=${1:?build dir}
TCMALLOC=${2:-}
OUT=${3:-$BUILD/libtorch-compare}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"
common=(--benchmark_repetitions=3 --benchmark_report_aggregates_only=true --benchmark_enable_random_interleaving=true
  --benchmark_format=json)
gnn_filter='knn_graph(_grid)?(_2threads)?/events:1/points:10000/D:(3|16)/|edgeconv_block|particlenet|gravnet'
dense_filter='^(portml|libtorch)_f32(_2t)?/|^square_(portml|libtorch)_f32'
allocators=(glibc)
[[ -n $TCMALLOC ]] && allocators+=(tcmalloc)
tables=()
for alloc in "${allocators[@]}"; do
  preload=""
  [[ $alloc == tcmalloc ]] && preload=$TCMALLOC
  echo "== GNN, $alloc" >&2
  LD_PRELOAD=$preload OMP_PROC_BIND=false "$BUILD/bench/portml_bench_gnn" "${common[@]}" --benchmark_min_time=0.3 \
    --benchmark_filter="$gnn_filter" >"$OUT/gnn_$alloc.json"
  tables+=("GNN, $alloc malloc=$OUT/gnn_$alloc.json")
  echo "== dense, $alloc, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)}" >&2
  LD_PRELOAD=$preload OMP_PROC_BIND=false "$BUILD/bench/portml_bench_dense" "${common[@]}" --benchmark_min_time=0.1 \
    --benchmark_filter="$dense_filter" >"$OUT/dense_$alloc.json"
  tables+=("dense, $alloc malloc, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)}=$OUT/dense_$alloc.json")
done
# libtorch's BLAS is OpenBLAS: once more with its own core detection (glibc malloc).
echo "== dense, glibc, OPENBLAS_CORETYPE unset" >&2
OMP_PROC_BIND=false env -u OPENBLAS_CORETYPE "$BUILD/bench/portml_bench_dense" "${common[@]}" --benchmark_min_time=0.1 \
  --benchmark_filter="$dense_filter" >"$OUT/dense_glibc_coretype_unset.json"
tables+=("dense, glibc malloc, OPENBLAS_CORETYPE unset=$OUT/dense_glibc_coretype_unset.json")
python3 "$HERE/libtorch_report.py" "${tables[@]}" | tee "$OUT/report.md"
