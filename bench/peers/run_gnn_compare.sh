#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# portml's graph primitives and their PyTorch peer, one thread each, in one session (docs/gnn.md).
#   bench/peers/run_gnn_compare.sh <build dir> [tcmalloc .so]
# The optional second argument is LD_PRELOADed into PyTorch (gnn.md §4: PyTorch's CPU allocator does
# not cache, and glibc costs it 3-4x at large sizes); e.g. extract Debian's libtcmalloc-minimal4 with
# dpkg -x and pass .../libtcmalloc_minimal.so.4.
set -e
BUILD=${1:?build dir}
HERE=$(cd "$(dirname "$0")" && pwd)
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
for round in 1 2; do
  echo "== round $round: portml"
  "$BUILD/bench/portml_bench_gnn" --benchmark_min_time=0.2 --benchmark_repetitions=3 \
    --benchmark_report_aggregates_only=false 2>&1 | grep -E "^BM_" | grep -v -E "_(mean|median|stddev|cv) "
  echo "== round $round: PyTorch"
  LD_PRELOAD=${2:-} /usr/bin/python3 "$HERE/torch_gnn_ops.py" --threads 1 --seconds 0.3 2>/dev/null
done
