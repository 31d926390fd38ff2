#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Markdown tables from portml_bench_dense JSON (see dense_report.sh): per net and batch, portml's time
per row and fraction of the measured FP32 peak, and each peer's time divided by portml's (>1: portml is
faster), all medians of CPU time from the same run; ONNX Runtime (bench_dense_ort.py) raw and with the
per-call time of an Identity model subtracted. Usage: dense_report.py env.json unset.json [ort.json]"""
import json
import sys


def load(path):
    with open(path) as f:
        doc = json.load(f)
    out = {}
    for b in doc["benchmarks"]:
        if b.get("aggregate_name") != "median":
            continue
        out[b["run_name"]] = b
    return doc["context"], out


ctx, env = load(sys.argv[1])
_, unset = load(sys.argv[2])
ort = None
if len(sys.argv) > 3:
    with open(sys.argv[3]) as f:
        ort = json.load(f)
peak = env["BM_fp32_peak_fma512"]["FLOPs"]
coretype = ctx.get("OPENBLAS_CORETYPE", "?")


def label(res, name):
    return res[name].get("label", "") if name in res else ""


print("Context: %s; %s; OPENBLAS_CORETYPE=%s; measured FP32 peak %.0f GFLOP/s (1 thread)." %
      (ctx.get("host_name", "?"), ctx.get("compiler", "?"), coretype, peak / 1e9))
if ort:
    print("ONNX Runtime %s, %d intra-op thread, Python API with IOBinding." % (ort["onnxruntime_version"], ort["threads"]))
print("Peers: " + "; ".join(sorted({label(env, n) for n in env if "/mlp64/1" in n and not n.startswith("portml")} |
                                   {label(unset, n) + " (CORETYPE unset)" for n in unset if "/mlp64/1" in n})))
print()
peers = [("eigen_rowwise_f32", "Eigen/row f32 (lwtnn-style)", env), ("eigen_rowwise_f64", "Eigen/row f64", env),
         ("eigen_gemm_f32", "Eigen GEMM", env), ("openblas_f32", "OpenBLAS [%s]" % coretype, env),
         ("openblas_f32", "OpenBLAS [unset]", unset), ("onednn_f32", "oneDNN matmul", env)]
for net in ["mlp64", "deepjet_head", "l1_jet", "fixed_cost_5x1"]:
    print("### %s\n" % net)
    ort_cols = ["× ORT raw", "× ORT − Identity"] if ort else []
    print("| batch | portml f32 µs/row | % peak | portml f64 µs/row | " + " | ".join("× " + p[1] for p in peers) +
          "".join(" | " + c for c in ort_cols) + " |")
    print("|" + "---|" * (4 + len(peers) + len(ort_cols)))
    for batch in [1, 2, 4, 8, 16, 64, 256, 4096]:
        name = "portml_f32/%s/%d" % (net, batch)
        if name not in env:
            continue
        t = env[name]["s_per_row"]
        row = ["%d" % batch, "%.3f" % (t * 1e6), "%.0f%%" % (100 * env[name]["FLOPs"] / peak),
               "%.3f" % (env["portml_f64/%s/%d" % (net, batch)]["s_per_row"] * 1e6)]
        for key, _, res in peers:
            pn = "%s/%s/%d" % (key, net, batch)
            row.append("%.2f" % (res[pn]["s_per_row"] / t) if pn in res else "–")
        if ort:
            o = ort["results"].get("%s/%d" % (net, batch))
            row.append("%.2f" % (o["s_per_call"] / batch / t) if o else "–")
            row.append("%.2f" % ((o["s_per_call"] - o["identity_s_per_call"]) / batch / t) if o else "–")
        print("| " + " | ".join(row) + " |")
    print()
print("### square SGEMM (GFLOP/s, % of peak; ratio = portml time / peer time inverted: >1 portml faster)\n")
print("| n | portml | OpenBLAS [%s] | OpenBLAS [unset] | oneDNN sgemm | × OpenBLAS [%s] | × OpenBLAS [unset] | × oneDNN |" %
      (coretype, coretype))
print("|---|---|---|---|---|---|---|---|")
for n in [256, 512, 1024, 2048]:
    p = env["square_portml_f32/%d" % n]["FLOPs"]
    cells = ["%d" % n, "%.0f (%.0f%%)" % (p / 1e9, 100 * p / peak)]
    others = [env.get("square_openblas_f32/%d" % n), unset.get("square_openblas_f32/%d" % n),
              env.get("square_onednn_f32/%d" % n)]
    cells += ["%.0f (%.0f%%)" % (o["FLOPs"] / 1e9, 100 * o["FLOPs"] / peak) if o else "–" for o in others]
    cells += ["%.2f" % (p / o["FLOPs"]) if o else "–" for o in others]
    print("| " + " | ".join(cells) + " |")
