#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The zoo benchmark (scripts/zoo-bench runs it after building the tool): for every model of
models/zoo.json, `portml validate` against the training framework's output, `portml bench` on every
compiled backend, then the peers installed here on the same file, input rows and batch sizes
(scripts/zoo_peers.py), and a report: OUT/report.md with ratios, OUT/*.png plots (python3-matplotlib),
OUT/results.json with every number, and a summary table on stdout.

    zoo_bench.py --tool build/run/tools/portml --out build/zoo-bench [--batch 1,16,1024] [--threads 1,2]
                 [--min-time 0.2] [--models a,b] [--doc docs/benchmarks.md]
    zoo_bench.py --report-only --out build/zoo-bench [--doc docs/benchmarks.md]

--doc stores the results as the zoo's data (docs/benchmarks/data/zoo.json) and remakes that committed
document from every pillar's data with scripts/benchmarks_doc.py, plots in docs/benchmarks/. Uses the standard library only; plots need matplotlib (Debian: python3-matplotlib)
and are left out, with a note, without it. A peer whose Python package is missing is reported as not
installed, never as an error. Exit status: 0, or 1 when a model failed to validate or to run.
"""
import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(ROOT, "models")
PEER_SCRIPT = os.path.join(ROOT, "scripts", "zoo_peers.py")
# Interpreters tried for generating models and for the peers, in order (PORTML_PYTHONS overrides):
# the python3 first on PATH (PyPI packages) and Debian's (python3-xgboost, python3-torch, matplotlib).
DEFAULT_PYTHONS = ["python3", "/usr/bin/python3"]
INSTALL_HINT = {"onnxruntime": "python3 -m pip install onnxruntime", "xgboost": "apt-get install python3-xgboost",
                "lightgbm": "python3 -m pip install lightgbm"}


def pythons():
    found, seen = [], set()
    for p in os.environ.get("PORTML_PYTHONS", " ".join(DEFAULT_PYTHONS)).split():
        path = shutil.which(p)
        if path and os.path.realpath(path) not in seen:
            seen.add(os.path.realpath(path))
            found.append(path)
    return found


def imports(python, modules):
    code = "import " + ", ".join(modules)
    return subprocess.run([python, "-c", code], capture_output=True).returncode == 0


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def machine_info(tool):
    info = {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "host": platform.node(),
            "cpu": "unknown", "cpu_mhz": None, "logical_cpus": os.cpu_count(),
            "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "unset"),
            "omp_proc_bind": os.environ.get("OMP_PROC_BIND", "unset"), "load_before": os.getloadavg()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key, value = key.strip(), value.strip()
                if key == "model name" and info["cpu"] == "unknown":
                    info["cpu"] = value
                elif key == "cpu MHz" and info["cpu_mhz"] is None:
                    info["cpu_mhz"] = float(value)
    except OSError:
        pass
    r = run([tool, "info"])
    info["portml_info"] = r.stdout.strip()
    for line in r.stdout.splitlines():
        if line.startswith("cpu features:"):
            info["cpu_features"] = line.split(":", 1)[1].split()
    sha = run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]).stdout.strip()
    dirty = run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"]).stdout.strip()
    info["git"] = (sha or "unknown") + (" (with local changes)" if dirty else "")
    return info


def cpu_jiffies():
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


def wait_quiet(max_wait, idle_needed=0.9):
    """Waits (at most max_wait s) until the CPUs are at least idle_needed idle over one second: other jobs
    on a shared machine distort a benchmark, multi-threaded points most. Returns the idle fraction seen."""
    import time
    start, idle = time.monotonic(), 0.0
    while True:
        b0, t0 = cpu_jiffies()
        time.sleep(1.0)
        b1, t1 = cpu_jiffies()
        idle = 1 - (b1 - b0) / max(t1 - t0, 1)
        if idle >= idle_needed or time.monotonic() - start >= max_wait:
            return idle


class OtherLoad:
    """The share of the machine's CPUs that other processes used while a model was measured: all busy
    time minus this script's children's CPU time, over wall time x CPUs."""

    def __enter__(self):
        import time
        self.t, self.busy, self.ours = time.monotonic(), cpu_jiffies()[0], self._ours()
        return self

    @staticmethod
    def _ours():
        t = os.times()
        return t.children_user + t.children_system + t.user + t.system

    def __exit__(self, *exc):
        import time
        wall = time.monotonic() - self.t
        busy = (cpu_jiffies()[0] - self.busy) / os.sysconf("SC_CLK_TCK")
        self.fraction = max(0.0, (busy - (self._ours() - self.ours)) / max(wall * (os.cpu_count() or 1), 1e-9))
        return False


def model_files(entry, build_models):
    folder = MODELS if entry["where"] == "models" else build_models
    return {k: os.path.join(folder, entry[k]) for k in ("model", "input", "reference")}


def make_build_models(entries, build_models, log):
    """The entries too large to commit: made by models/make_zoo.py PART DIR with an interpreter that has the
    framework (Debian's first: the committed definitions were trained with its XGBoost 1.7)."""
    needs = {"xgb": ["xgboost", "sklearn"], "mlp": ["torch"], "lgb": ["lightgbm", "sklearn"], "tmva": ["numpy"]}
    status = {}
    for part in sorted({e["part"] for e in entries if e["where"] == "build"}):
        modules = needs.get(part, ["numpy"])
        candidates = [p for p in reversed(pythons()) if imports(p, modules)]
        if not candidates:
            status[part] = "not made: no python3 here imports %s (Debian: python3-xgboost python3-sklearn)" % (
                ", ".join(modules))
            continue
        r = run([candidates[0], os.path.join(MODELS, "make_zoo.py"), part, build_models])
        log.write(r.stdout + r.stderr)
        status[part] = "made by %s models/make_zoo.py %s" % (candidates[0], part) if r.returncode == 0 else \
            "make_zoo.py %s failed: %s" % (part, (r.stderr.strip().splitlines() or ["?"])[-1])
    return status


def bench_model(args, entry, files, out_json, log):
    result = {"name": entry["name"], "entry": entry, "validate": None, "portml": [], "peers": [], "peer_status": [],
              "errors": []}
    missing = [k for k, p in files.items() if not os.path.exists(p)]
    if missing and entry["where"] == "build":  # its framework is not installed here: not an error
        result["skipped"] = "not made here (%s)" % args.model_status.get(entry["part"], "?")
        return result
    if missing:
        result["errors"].append("files missing: " + ", ".join(os.path.relpath(files[k], ROOT) for k in missing))
        return result
    # Correctness first: the tool against the training framework's own output.
    cmd = [args.tool, "validate", "--model", files["model"], "--input", files["input"], "--reference",
           files["reference"], "--rtol", str(entry.get("rtol", 1e-5)), "--atol", str(entry.get("atol", 1e-6))]
    r = run(cmd)
    log.write("$ %s\n%s%s\n" % (" ".join(map(shlex.quote, cmd)), r.stdout, r.stderr))
    fields = dict(line.split(": ", 1) for line in r.stdout.splitlines() if ": " in line)
    result["validate"] = {"status": r.returncode, "max_abs_error": fields.get("max abs error"),
                          "max_rel_error": fields.get("max rel error"), "rows": fields.get("rows"),
                          "message": (r.stdout.strip().splitlines() or [r.stderr.strip()])[-1]}
    if r.returncode == 2:
        result["errors"].append("validate: " + r.stderr.strip())
    # portml on every compiled backend.
    cmd = [args.tool, "bench", "--model", files["model"], "--input", files["input"], "--backend", "all", "--batch",
           args.batch, "--threads", args.threads, "--min-time", str(args.min_time), "--format", "json"]
    r = run(cmd)
    log.write("$ %s\n%s\n" % (" ".join(map(shlex.quote, cmd)), r.stderr))
    if r.returncode == 0:
        result["portml"] = json.loads(r.stdout)
        with open(os.path.join(out_json, entry["name"] + ".portml.json"), "w") as f:
            f.write(r.stdout)
    else:
        result["errors"].append("bench: " + (r.stderr.strip().splitlines() or ["exit %d" % r.returncode])[0])
    # The peers, on each interpreter that has them (distinct versions only).
    peer = entry.get("peer", "none")
    if peer == "none" or args.no_peers:
        return result
    versions, without = set(), []
    for python in pythons():
        cmd = [python, PEER_SCRIPT, peer, files["model"], files["input"], files["reference"], "--batch", args.batch,
               "--threads", args.threads, "--min-time", str(args.min_time), "--name", entry["name"]]
        r = run(cmd)
        log.write("$ %s\n%s\n" % (" ".join(map(shlex.quote, cmd)), r.stderr))
        if r.returncode == 3:
            without.append(python)
            continue
        if r.returncode != 0:
            result["peer_status"].append("%s with %s failed: %s" % (peer, python, (r.stderr.strip().splitlines()
                                                                                  or ["?"])[-1]))
            continue
        records = json.loads(r.stdout)
        version = records[0]["peer_version"] if records else peer
        if version in versions:
            continue
        versions.add(version)
        for rec in records:
            rec["python"] = python
        result["peers"].extend(records)
        with open(os.path.join(out_json, "%s.%s.json" % (entry["name"], version.replace(" ", "_"))), "w") as f:
            json.dump(records, f, indent=1)
    if not versions:
        result["peer_status"].append("%s: not installed (not importable by %s; %s)" % (
            peer, ", ".join(without) or "any python3", INSTALL_HINT.get(peer, "")))
    return result


# --- report ------------------------------------------------------------------------------------------------


def fmt_time(ns):
    if ns is None:
        return "–"
    if ns >= 1e6:
        return "%.2f ms" % (ns / 1e6)
    if ns >= 1e3:
        return "%.2f µs" % (ns / 1e3)
    return "%.0f ns" % ns


def portml_point(result, threads, batch):
    """portml's time per row for a thread count: Serial for 1 thread, OpenMP for more (the backend that
    has that thread count); None when it did not run."""
    backend = "serial" if threads == 1 else "openmp"
    for r in result["portml"]:
        if r["backend"] == backend and r["threads"] == threads and r["batch"] == batch:
            return r["ns_per_row"]
    return None


def peer_versions(result):
    out = []
    for r in result["peers"]:
        if r["peer_version"] not in out:
            out.append(r["peer_version"])
    return out


def peer_point(result, version, threads, batch):
    for r in result["peers"]:
        if r["peer_version"] == version and r["threads"] == threads and r["batch"] == batch:
            return r["ns_per_row"]
    return None


def plot_model(result, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    series = {}
    for r in result["portml"]:
        series.setdefault(("portml %s, %d thr" % (r["backend"], r["threads"]), "-"), []).append(
            (r["batch"], r["rows_per_second"]))
    for r in result["peers"]:
        series.setdefault(("%s, %d thr" % (r["peer_version"], r["threads"]), "--"), []).append(
            (r["batch"], r["rows_per_second"]))
    for (label, style), points in series.items():
        points.sort()
        ax.plot([p[0] for p in points], [p[1] for p in points], style, marker="o", markersize=3, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("batch size (rows per call)")
    ax.set_ylabel("throughput (rows / s)")
    ax.set_title("%s: throughput against batch size" % result["name"], fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def have_matplotlib():
    try:
        import matplotlib  # noqa: F401
        return True
    except ImportError:
        return False


def report(data, plot_dir, plot_prefix, command, heading="#"):
    """The Markdown report; heading is the level of its title ("##" inside docs/benchmarks.md)."""
    sub = heading + "#"
    info, results = data["machine"], data["results"]
    batches = [int(b) for b in data["batch"].split(",")]
    threads_list = [int(t) for t in data["threads"].split(",")]
    plots = have_matplotlib()
    lines = [heading + (" portml zoo benchmark" if heading == "#" else " The model zoo through the portml tool"), ""]
    lines += ["Made by `%s` on %s (git %s)." % (command, info["date"], info["git"]), ""]
    if heading == "#":
        lines += ["The zoo: the models a user meets first, through the `portml` tool. The per-pillar benchmarks "
                  "against the issues' targets, with every peer, are in docs/benchmarks.md.", ""]
    if "local changes" in info["git"]:
        lines += ["The working tree had changes not committed yet (work in progress beside this run); the numbers "
                  "are those of that tree.", ""]
    lines += ["| | |", "|---|---|",
              "| machine | %s, %s logical CPUs%s |" % (
                  info["cpu"], info["logical_cpus"],
                  ", %.0f MHz as reported by the kernel" % info["cpu_mhz"] if info["cpu_mhz"] else ""),
              "| CPU features | %s |" % " ".join(info.get("cpu_features", [])),
              "| portml | `%s` (a Release build as `scripts/run` makes it) |" % data.get("tool", "portml"),
              "| `OPENBLAS_CORETYPE` | %s |" % info["openblas_coretype"],
              "| load average before / after | %.2f / %.2f |" % (info["load_before"][0], info["load_after"][0]),
              "| timing | portml: `portml bench`; peers: `scripts/zoo_peers.py`; both the median of 11 repetitions "
              "of back-to-back calls after 3 warm-up calls, on the model's input sample cycled to the batch size, "
              "min time %s s per point |" % data["min_time"], ""]
    lines += ["Times are per row (batch 1: the latency of one call). **speed-up = peer time / portml time** in the "
              "same run (> 1: portml is faster); portml's point for 1 thread is its Serial backend, for more "
              "threads its OpenMP backend with that many threads, against the peer with as many threads. The "
              "peers are called through their C APIs from Python (ctypes, about 1 µs per call) or ONNX "
              "Runtime's IOBinding, so batch-1 ratios carry that overhead in portml's favour. On a shared "
              "machine with few cores (this one: %s logical CPUs) the 2-thread points in particular are noisy; "
              "compare ratios, not absolute numbers, between runs." % info["logical_cpus"], ""]

    # Correctness.
    lines += [sub + " Correctness: `portml validate` against the training framework", "",
              "| model | pillar | format / framework | rows | max abs error | result | peers' output vs reference |",
              "|---|---|---|---|---|---|---|"]
    failed = False
    for res in results:
        e, v = res["entry"], res["validate"]
        if v is None and res.get("skipped"):
            status = res["skipped"]
        elif v is None:
            status = "not run: " + "; ".join(res["errors"])
            failed = True
        else:
            status = "ok" if v["status"] == 0 else ("**FAILED**: " + v["message"])
            failed = failed or v["status"] != 0
        peers = ", ".join("%s: %.3g" % (ver, next(r["max_abs_diff_vs_reference"] for r in res["peers"]
                                                  if r["peer_version"] == ver)) for ver in peer_versions(res))
        lines.append("| %s | %s | `%s`, %s | %s | %s | %s | %s |" % (
            e["name"], e["pillar"], e["model"], e["framework"], v["rows"] if v else "–",
            v["max_abs_error"] if v else "–", status, peers or "–"))
    lines.append("")

    summary = []
    for pillar, title in (("dense", "Dense: MLP"), ("bdt", "BDT: forests"), ("gnn", "GNN: graph networks")):
        members = [r for r in results if r["entry"]["pillar"] == pillar]
        lines += [sub + " %s" % title, ""]
        if not members:
            lines += ["No %s model in the zoo yet (add it to `models/zoo.json` with pillar `%s`)." % (title.split(":")[
                0], pillar), ""]
            continue
        for res in members:
            e = res["entry"]
            lines += [sub + "# %s" % e["name"], "", "%s. Model `%s`%s; peer: %s." % (
                e["description"][0].upper() + e["description"][1:], e["model"],
                " (made at benchmark time, not committed)" if e["where"] == "build" else "",
                e.get("peer", "none")), ""]
            if res["errors"] or res.get("skipped"):
                lines += ["Not benchmarked: " + "; ".join(res["errors"] or [res["skipped"]]), ""]
                continue
            backends = []
            for r in res["portml"]:
                key = (r["backend"], r["threads"])
                if key not in backends:
                    backends.append(key)
            if res.get("other_load") is not None:
                lines += ["Other processes used %.0f %% of the machine's CPUs while this model was measured%s%s." % (
                    100 * res["other_load"], "" if res.get("idle_before") is None else
                    " (%.0f %% idle just before)" % (100 * res["idle_before"]),
                    "" if res.get("attempts", 1) == 1 else "; the least disturbed of %d attempts" % res["attempts"]),
                    ""]
            versions = peer_versions(res)
            head = ["threads", "batch"] + ["portml %s" % b for b, _ in backends if _ == 1] + versions + [
                "speed-up vs %s" % v.split(" C API")[0] for v in versions]
            flops = e.get("flops_per_row")
            if flops:
                head.append("portml GFLOP/s (% of nominal FP32 peak)")
            lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            for t in threads_list:
                for b in batches:
                    row = [str(t), str(b)]
                    for backend, bt in backends:
                        if bt != 1:
                            continue
                        # For t > 1 only OpenMP has a thread count: the other backends' cells repeat 1 thread.
                        want_t = t if backend == "openmp" else 1
                        ns = next((r["ns_per_row"] for r in res["portml"] if r["backend"] == backend and
                                   r["threads"] == want_t and r["batch"] == b), None)
                        row.append(fmt_time(ns) if (t == 1 or backend == "openmp") else "")
                    mine = portml_point(res, t, b)
                    ratios = []
                    for v in versions:
                        theirs = peer_point(res, v, t, b)
                        row.append(fmt_time(theirs))
                        ratio = theirs / mine if theirs and mine else None
                        ratios.append("%.2f×" % ratio if ratio else "–")
                        summary.append((e["name"], t, b, mine, v, theirs, ratio))
                    row += ratios
                    if not versions:
                        summary.append((e["name"], t, b, mine, "–", None, None))
                    if flops and mine:
                        gflops = flops / mine
                        peak = info["cpu_mhz"] * 1e-3 * peak_flops_per_cycle(info) * t if info["cpu_mhz"] else None
                        row.append("%.1f (%.0f %%)" % (gflops, 100 * gflops / peak) if peak else "%.1f" % gflops)
                    elif flops:
                        row.append("–")
                    lines.append("| " + " | ".join(row) + " |")
            lines.append("")
            if flops:
                lines += ["%d floating-point operations per row (2·K·N per dense layer). Nominal FP32 peak: the "
                          "kernel's clock × %d per thread (two FMA units of %d float lanes); boost clocks are "
                          "ignored, so the fraction is an upper estimate." % (
                              flops, peak_flops_per_cycle(info), peak_flops_per_cycle(info) // 4), ""]
            for s in res["peer_status"]:
                lines.append("- peer " + s)
            if res["peer_status"] and not versions:
                lines.append("")
            if plots and res["portml"]:
                png = "%s.png" % e["name"]
                plot_model(res, os.path.join(plot_dir, png))
                lines += ["![%s](%s%s)" % (e["name"], plot_prefix, png), ""]
    if not plots:
        lines += ["Plots: not made, matplotlib is not importable (Debian: `apt-get install python3-matplotlib`, "
                  "then `scripts/zoo_bench.py --report-only --out DIR`).", ""]
    lines += [sub + " What ran", "", "```", info["portml_info"], "```", ""]
    if data.get("model_status"):
        lines += ["Models made at benchmark time: " + "; ".join("%s: %s" % kv for kv in data["model_status"].items()),
                  ""]
    return "\n".join(lines), summary, failed


def peak_flops_per_cycle(info):
    features = info.get("cpu_features", [])
    lanes = 16 if "avx512f" in features else 8 if "avx2" in features else 4
    return 2 * 2 * lanes  # two FMA units, an FMA is two operations


def print_summary(summary):
    print("%-14s %3s %6s %12s  %-26s %12s %9s" % ("model", "thr", "batch", "portml/row", "peer", "peer/row",
                                                   "speed-up"))
    for name, t, b, mine, version, theirs, ratio in summary:
        print("%-14s %3d %6d %12s  %-26s %12s %9s" % (name, t, b, fmt_time(mine), version, fmt_time(theirs),
                                                      "%.2fx" % ratio if ratio else "-"))


def write_reports(data, out, doc, command):
    """OUT/report.md; with doc, also stores the results as the zoo's data file beside the document
    (docs/benchmarks/data/zoo.json) and remakes the document from every pillar's data
    (scripts/benchmarks_doc.py), so that the other pillars' numbers stay."""
    text, summary, failed = report(data, out, "", command)
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(text)
    if doc:
        data_dir = os.path.join(os.path.splitext(doc)[0], "data")
        os.makedirs(data_dir, exist_ok=True)
        with open(os.path.join(data_dir, "zoo.json"), "w") as f:
            json.dump(data, f, indent=1)
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "benchmarks_doc.py"), "--data", data_dir,
                        "--doc", doc], check=True)
    return summary, failed


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tool", help="the portml executable")
    p.add_argument("--out", required=True)
    p.add_argument("--batch", default="1,16,1024")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--min-time", type=float, default=0.2)
    p.add_argument("--models", default="", help="comma-separated names (default: every zoo model)")
    p.add_argument("--no-peers", action="store_true")
    p.add_argument("--retries", type=int, default=2,
                   help="measure a model again (at most this often) when other processes took > 5 %% of the CPUs")
    p.add_argument("--quiet-wait", type=float, default=60,
                   help="before each model, wait up to this many seconds for idle CPUs (0: do not wait)")
    p.add_argument("--doc", default="", help="also write the report here, plots in a folder beside it")
    p.add_argument("--report-only", action="store_true", help="remake the reports from OUT/results.json")
    p.add_argument("--command", default="", help="the command line quoted in the report")
    args = p.parse_args()
    out = os.path.abspath(args.out)
    command = args.command or " ".join(map(shlex.quote, sys.argv))
    if args.report_only:
        with open(os.path.join(out, "results.json")) as f:
            data = json.load(f)
        if args.tool and "tool" not in data:
            data["tool"] = os.path.relpath(os.path.abspath(args.tool), ROOT)
        summary, failed = write_reports(data, out, args.doc, data.get("command", command))
        print_summary(summary)
        return 1 if failed else 0
    if not args.tool:
        p.error("--tool is required")
    os.makedirs(os.path.join(out, "json"), exist_ok=True)
    with open(os.path.join(MODELS, "zoo.json")) as f:
        entries = json.load(f)["models"]
    if args.models:
        wanted = args.models.split(",")
        unknown = [w for w in wanted if w not in {e["name"] for e in entries}]
        if unknown:
            p.error("not in models/zoo.json: " + ", ".join(unknown))
        entries = [e for e in entries if e["name"] in wanted]
    build_models = os.path.join(out, "models")
    info = machine_info(args.tool)
    results = []
    with open(os.path.join(out, "log.txt"), "w") as log:
        model_status = make_build_models(entries, build_models, log)
        args.model_status = model_status
        for part, status in model_status.items():
            print("models (%s): %s" % (part, status), flush=True)
        for entry in entries:
            res = None
            for attempt in range(1 + args.retries):
                idle = wait_quiet(args.quiet_wait) if args.quiet_wait > 0 else None
                print("%s: validate, portml bench, peers...%s" % (
                    entry["name"], "" if idle is None else " (CPUs %.0f %% idle before)" % (100 * idle)), flush=True)
                with OtherLoad() as load:
                    this = bench_model(args, entry, model_files(entry, build_models), os.path.join(out, "json"), log)
                this["idle_before"], this["other_load"] = idle, load.fraction
                if res is None or this["other_load"] < res["other_load"]:
                    res = this
                if load.fraction <= 0.05 or this["errors"] or this.get("skipped"):
                    break
                # Another process took more than 5 % of the CPUs meanwhile: measure the model again.
                print("  other processes used %.0f %% of the CPUs meanwhile: measuring again" % (
                    100 * load.fraction), flush=True)
            res["attempts"] = attempt + 1
            if res["validate"]:
                print("  validate: " + res["validate"]["message"], flush=True)
            for s in res["errors"] + res["peer_status"] + ([res["skipped"]] if res.get("skipped") else []):
                print("  " + s, flush=True)
            results.append(res)
    info["load_after"] = os.getloadavg()
    data = {"machine": info, "tool": os.path.relpath(os.path.abspath(args.tool), ROOT), "batch": args.batch, "threads": args.threads, "min_time": args.min_time,
            "command": command, "model_status": model_status, "results": results}
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(data, f, indent=1)
    summary, failed = write_reports(data, out, args.doc, command)
    print()
    print_summary(summary)
    print("\nreport: %s%s" % (os.path.join(out, "report.md"), "" if have_matplotlib() else
                             " (no plots: matplotlib is not importable; apt-get install python3-matplotlib)"))
    if args.doc:
        print("document: %s" % args.doc)
    failed = failed or any(r["errors"] for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
