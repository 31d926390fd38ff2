#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Best-of-N tables of the dense benchmark on a noisy host.

On a shared host whose speed drifts (other tenants on the same cores' caches), the median of a few
repetitions moves by up to 2x between runs. Run the cases with many short repetitions, randomly
interleaved, so that every case sees the same slow and fast spells, and compare the fastest
repetition of each (a host's noise only ever slows a run down):

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 taskset -c 1 build/bench/bench/portml_bench_dense \\
      --benchmark_filter='...' --benchmark_min_time=0.05 --benchmark_repetitions=12 \\
      --benchmark_enable_random_interleaving=true --benchmark_format=json > run.json
    scripts/bench_best_of.py run.json [--openblas other.json]

Prints, per MLP shape and batch size, portml's fastest time per call and each peer's time divided
by it (> 1: portml is faster), then the square GEMMs and the nets' layers one by one (layer_*), with
the fraction of the fastest repetition of BM_fp32_peak_fma512 in the same run; then the cases that force
the AVX2 microkernels (*portml_avx2_f32*) against BM_fp32_peak_fma256, and against oneDNN when the run
had DNNL_MAX_CPU_ISA=AVX2 (then the AVX-512 tables' oneDNN columns are oneDNN on AVX2 too). --openblas
takes the OpenBLAS cases from a second run (another OPENBLAS_CORETYPE). Standard library only.
"""
import argparse
import json
import os
import re
import sys
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchmarks_doc import fmt_time, ratio  # noqa: E402

PEERS = ["onednn", "eigen_rowwise", "openblas"]


def best(path):
    """{run_name: (fastest real time in s, highest FLOPs rate, label)} over the repetitions of a run."""
    with open(path) as f:
        data = json.load(f)
    out = {}
    for b in data["benchmarks"]:
        if b.get("run_type") == "aggregate":
            continue
        unit = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]
        t = b["real_time"] * unit
        rate = b.get("FLOPs", 0.0)
        name = b["run_name"]
        prev = out.get(name, (float("inf"), 0.0, ""))
        out[name] = (min(t, prev[0]), max(rate, prev[1]), b.get("label", "") or prev[2])
    return data["context"], out


def percent_of_peak(rate, peak):
    return f"{100 * rate / peak:.0f} %" if peak and rate else "–"


def cells(runs, mine, peers, peak):
    """% of peak and each peer's time ÷ portml's (> 1: portml faster) for one case; mine = (time, rate, label)."""
    t, rate, _ = mine
    pct = percent_of_peak(rate, peak)
    times = [runs[p][0] if p in runs else None for p in peers]
    return [fmt_time(t), pct] + [f"{r:.2f}" if r else "–" for r in (ratio(x, t) for x in times)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--openblas", help="take the OpenBLAS cases from this run instead")
    args = ap.parse_args()
    context, runs = best(args.run)
    if args.openblas:
        _, other = best(args.openblas)
        runs = {k: v for k, v in runs.items() if "openblas" not in k}
        runs.update({k: v for k, v in other.items() if "openblas" in k})
    peak = runs.get("BM_fp32_peak_fma512", (0, 0.0, ""))[1]
    print(f"host: {context.get('host_name', '?')}, {context.get('num_cpus', '?')} CPUs at "
          f"{context.get('mhz_per_cpu', '?')} MHz; FP32 peak (fastest repetition of BM_fp32_peak_fma512): "
          f"{peak / 1e9:.0f} GFLOP/s")
    labels = {p: next((v[2] for k, v in runs.items() if k.startswith(p + "_f32/") and v[2]), "") for p in PEERS}
    for p in PEERS:
        if labels[p]:
            print(f"{p}: {labels[p]}")
    print()
    shapes = defaultdict(dict)
    for name in runs:
        m = re.fullmatch(r"portml_f32/([a-z0-9_]+)/(\d+)", name)
        if m:
            shapes[m.group(1)][int(m.group(2))] = name
    header = "| shape | batch | portml per call | % of peak | " + " | ".join(f"× {p}" for p in PEERS) + " |"
    print(header)
    print("|" + "---|" * (4 + len(PEERS)))
    for shape in sorted(shapes):
        for batch in sorted(shapes[shape]):
            row = cells(runs, runs[shapes[shape][batch]], [f"{p}_f32/{shape}/{batch}" for p in PEERS], peak)
            print(f"| {shape} | {batch} | " + " | ".join(row) + " |")
    sizes = sorted({int(k.split("/")[1]) for k in runs if k.startswith("square_portml_f32/")})
    if sizes:
        print()
        print("| square SGEMM | portml | % of peak | × onednn | × openblas |")
        print("|---|---|---|---|---|")
        for n in sizes:
            peers = [f"square_{p}_f32/{n}" for p in ["onednn", "openblas"]]
            print(f"| {n} | " + " | ".join(cells(runs, runs[f"square_portml_f32/{n}"], peers, peak)) + " |")
    layers = sorted((k.split("/")[1], int(k.split("/")[2])) for k in runs if k.startswith("layer_portml_f32/"))
    if layers:
        print()
        print("| layer (K × N) | batch | portml | % of peak | × onednn | onednn % of peak |")
        print("|---|---|---|---|---|---|")
        for layer, batch in layers:
            dnnl_pct = percent_of_peak(runs.get(f"layer_onednn_f32/{layer}/{batch}", (0, 0.0, ""))[1], peak)
            row = cells(runs, runs[f"layer_portml_f32/{layer}/{batch}"], [f"layer_onednn_f32/{layer}/{batch}"], peak)
            print(f"| {layer} | {batch} | " + " | ".join(row) + f" | {dnnl_pct} |")
    avx2_peak = runs.get("BM_fp32_peak_fma256", (0, 0.0, ""))[1]
    avx2 = sorted((k for k in runs if re.match(r"(layer_|square_)?portml_avx2_f32/", k)),
                  key=lambda k: (k.rsplit("/", 1)[0], int(k.rsplit("/", 1)[1])))
    if avx2:
        print()
        print("AVX2 microkernels (forced; what a CPU without AVX-512 runs), % of the fastest repetition of "
              f"BM_fp32_peak_fma256: {avx2_peak / 1e9:.0f} GFLOP/s")
        # oneDNN is the peer of these cases only when the run limited it to AVX2 (DNNL_MAX_CPU_ISA=AVX2).
        dnnl_avx2 = context.get("DNNL_MAX_CPU_ISA", "").upper() == "AVX2"
        print("| case | portml AVX2 | % of AVX2 peak | AVX2 time ÷ AVX-512 time |" +
              (" × onednn (AVX2) | onednn % of AVX2 peak |" if dnnl_avx2 else ""))
        print("|---|---|---|---|" + ("---|---|" if dnnl_avx2 else ""))
        for k in avx2:
            t, rate, _ = runs[k]
            wide = runs.get(k.replace("_avx2_f32/", "_f32/"))
            slower = f"{t / wide[0]:.2f}" if wide else "–"
            row = f"| {k} | {fmt_time(t)} | {percent_of_peak(rate, avx2_peak)} | {slower} |"
            if dnnl_avx2:
                peer = runs.get(k.replace("portml_avx2_f32/", "onednn_f32/"), (None, 0.0, ""))
                row += f" {ratio(peer[0], t):.2f} |" if peer[0] else " – |"
                row += f" {percent_of_peak(peer[1], avx2_peak)} |"
            print(row)


if __name__ == "__main__":
    main()
