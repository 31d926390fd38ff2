#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Runs portml_bench_bdt once (every implementation in the same process, interleaved per model) and prints the
docs/bdt.md tables: median time per row over the repetitions, portml's speed-up over each peer per model, and a
summary of the speed-ups; peers that did not run are listed with the reason the benchmark gave. The tables are
those of the BDT section of docs/benchmarks.md (scripts/benchmarks_doc.py makes both).

    python3 bench/bdt_report.py build/bdt-rel/bench/portml_bench_bdt [repetitions] [extra benchmark args...]

The peers found at run time: $PORTML_BENCH_LIGHTGBM_LIB (LightGBM's C API) and the tl2cgen libraries of
bench/peers/make_tl2cgen_libs.py (docs/bdt.md, Benchmarks). The JSON of the run is kept in
build/bdt-report/bdt.json (scripts/bench-pillars stores it in docs/benchmarks/data/ instead).
"""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

exe = sys.argv[1]
reps = sys.argv[2] if len(sys.argv) > 2 else "3"
data = os.path.join(ROOT, "build", "bdt-report")
os.makedirs(data, exist_ok=True)
cmd = [exe, "--benchmark_format=json", f"--benchmark_repetitions={reps}", "--benchmark_report_aggregates_only=true",
       "--benchmark_min_time=0.2"] + sys.argv[3:]
with open(os.path.join(data, "bdt.json"), "w") as out:
    subprocess.run(cmd, check=True, stdout=out)
sys.exit(subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "benchmarks_doc.py"), "--data", data,
                         "--doc", os.path.join(data, "benchmarks.md"), "--print", "bdt"]).returncode)
