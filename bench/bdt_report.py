#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Runs portml_bench_bdt once (every implementation in the same process, interleaved per model) and prints the
docs/bdt.md tables: median time per row over the repetitions, and portml's speed-up over each reference.

    python3 bench/bdt_report.py build/bdt-rel/bench/portml_bench_bdt [repetitions] [extra benchmark args...]
"""
import json
import subprocess
import sys
from collections import defaultdict

exe = sys.argv[1]
reps = sys.argv[2] if len(sys.argv) > 2 else "3"
cmd = [exe, "--benchmark_format=json", f"--benchmark_repetitions={reps}", "--benchmark_report_aggregates_only=true",
       "--benchmark_min_time=0.2"]
cmd += sys.argv[3:]
data = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
table = defaultdict(dict)  # (model) -> {(impl, batch, threads): ns}
for b in data["benchmarks"]:
    if b.get("aggregate_name") != "median" or "ns_per_row" not in b:
        continue
    parts = b["run_name"].split("/")
    model, impl = parts[1], parts[2]
    args = dict(p.split(":") for p in parts[3:] if ":" in p)
    table[model][(impl, int(args["batch"]), int(args["threads"]))] = b["ns_per_row"] * 1e9 if b["ns_per_row"] < 1e-3 else b["ns_per_row"]


def fmt(ns):
    return f"{ns / 1000:.2f} µs" if ns >= 1000 else f"{ns:.1f} ns"


ctx = data["context"]
print(f"<!-- {ctx.get('date')} {ctx.get('host_name')} cpu_features={ctx.get('cpu_features')} "
      f"git={ctx.get('portml_git')} xgboost={ctx.get('xgboost_version')} load={ctx.get('load_avg')} -->")
cols = [(1, 1), (32, 1), (1024, 1), (100000, 1), (100000, 2)]
for model, rows in table.items():
    print(f"\n**{model}** — time per row (median of {reps})\n")
    print("| implementation | " + " | ".join(f"b={b}" + (f", {t} thr" if t > 1 else "") for b, t in cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    impls = sorted({k[0] for k in rows}, key=lambda s: (not s.startswith("portml"), s))
    for impl in impls:
        print(f"| {impl} | " + " | ".join(fmt(rows[(impl, b, t)]) if (impl, b, t) in rows else "" for b, t in cols) + " |")
    for ref in ("xgboost_c_api", "gbr_walk"):
        cells = []
        for b, t in cols:
            mine = rows.get(("portml_openmp" if t > 1 else "portml", b, t))
            other = rows.get((ref, b, t))
            cells.append(f"{other / mine:.1f}×" if mine and other else "")
        print(f"| speed-up of portml over {ref} | " + " | ".join(cells) + " |")
