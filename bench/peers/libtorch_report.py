#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Markdown tables of portml against its libtorch C++ peers from Google Benchmark JSON of
portml_bench_gnn / portml_bench_dense (run by run_libtorch_compare.sh): each libtorch case next to the
portml case of the same name and arguments from the same run, medians over the repetitions, and the
ratio libtorch time / portml time (> 1: portml faster). GNN cases and two-thread dense cases compare
wall time (they use real time); one-thread dense cases compare CPU time, as bench/dense_report.py does.
The label of each libtorch case (its BLAS, threads and the agreement check against portml) is printed
after the tables.  Usage: libtorch_report.py TITLE=run.json [TITLE=run.json ...]"""
import json
import re
import sys

K = 16


def medians(path):
    with open(path) as f:
        doc = json.load(f)
    out = {}
    for b in doc["benchmarks"]:
        if b.get("aggregate_name", "median") == "median":
            out[b["run_name"]] = b
    return doc["context"], out


def peer_of(name):
    """The portml cases a libtorch case is compared with (the first is the same algorithm class)."""
    if name.startswith("BM_libtorch_"):
        same = "BM_" + name[len("BM_libtorch_"):]
        if name.startswith("BM_libtorch_knn_graph") and "/D:3/" in name:  # brute force and grid search
            return [same, same.replace("BM_knn_graph", "BM_knn_graph_grid")]
        return [same]
    if name.startswith("libtorch_f32"):
        return ["portml_f32" + name[len("libtorch_f32"):]]
    if name.startswith("square_libtorch_f32"):
        return ["square_portml_f32" + name[len("square_libtorch_f32"):]]
    return []


def order(name):
    """Sort key: the name with its numbers compared as numbers."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def args(name):
    return {k: int(v) for k, v in re.findall(r"(\w+):(\d+)", name)}


def items(name, seconds):
    """Items per second of a GNN case: kNN edges (N·k), jets (events of 50), hits (points of one event)."""
    a = args(name)
    if not a:
        return ""
    n = a["events"] * a["points"]
    if "knn_graph" in name:
        return "%.3g edges/s" % (n * K / seconds)
    if "gravnet" in name or a["events"] == 1 and "particlenet" not in name:
        return "%.3g hits/s" % (n / seconds)
    return "%.3g jets/s" % (a["events"] / seconds)


def time_of(b, name):
    use_real = name.startswith("BM_") or "_2t/" in name  # GNN: wall time for 1 and 2 threads
    t = b["real_time"] if use_real else b["cpu_time"]
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]
    return t * scale, "wall" if use_real else "cpu"


for arg in sys.argv[1:]:
    title, path = arg.rsplit("=", 1)
    ctx, res = medians(path)
    print("### %s\n" % title)
    print("`%s`; OPENBLAS_CORETYPE=%s; LD_PRELOAD as the title says.\n" % (path, ctx.get("OPENBLAS_CORETYPE", "?")))
    print("| case (portml name) | portml | libtorch | libtorch / portml | same, CPU time | portml rate | libtorch rate |")
    print("|---|---|---|---|---|---|---|")
    labels = {}
    for name, b in sorted(res.items(), key=lambda kv: order(kv[0])):
        for pn in peer_of(name):
            if pn not in res:
                continue
            tl, clock = time_of(b, name)
            tp, _ = time_of(res[pn], pn)
            cpu = ""
            if clock == "wall" and ("threads:1" in name or "threads" not in name):  # one thread, wall clock
                cpu = "%.2f×" % (b["cpu_time"] / res[pn]["cpu_time"])
            if name.startswith(("BM_", "square_")):
                cells = ("%.3g ms" % (tp * 1e3), "%.3g ms" % (tl * 1e3), items(pn, tp), items(name, tl))
            else:  # dense: per row
                batch = int(name.replace("/real_time", "").rsplit("/", 1)[1])
                cells = ("%.3g µs/row" % (tp / batch * 1e6), "%.3g µs/row" % (tl / batch * 1e6), "", "")
            print("| `%s` (%s) | %s | %s | **%.2f×** | %s | %s | %s |" %
                  (pn.replace("/real_time", ""), clock, cells[0], cells[1], tl / tp, cpu, cells[2], cells[3]))
        labels.setdefault(b.get("label", ""), []).append(name)
    print()
    for label, names in sorted(labels.items()):
        peers = [n for n in names if peer_of(n)]
        if label and peers:
            print("* %s: %s" % (label, ", ".join(peers)))
    print()
