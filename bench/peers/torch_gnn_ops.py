#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""PyTorch peer of bench/bench_gnn.cpp: the same ops at the same shapes on one thread, written the way
PyG falls back to plain torch (no torch_scatter / torch_cluster on Debian's PyTorch). Prints one line
per op: name, minimum and median wall ms over the repetitions, and the minimum process CPU ms (the
fairer number on a shared machine, comparable with Google Benchmark's CPU column).

    /usr/bin/python3 bench/peers/torch_gnn_ops.py [--threads 1] [--seconds 0.5] [--device cuda]

With --device cuda every tensor lives on the GPU and each timed call ends with
torch.cuda.synchronize(), as bench/bench_device.cpp waits for its queue (the CPU column is then
not meaningful). The GEMM cases (linear + ReLU) are the peer of BM_device_gemm_tiled.

The allocator is whatever the process gets (glibc unless LD_PRELOAD names another); the script prints
the torch version, its BLAS, and LD_PRELOAD so that a table states what was measured.
"""
import argparse
import os
import statistics
import time

import torch

parser = argparse.ArgumentParser()
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--seconds", type=float, default=0.5)
parser.add_argument("--device", default="cpu")
args = parser.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(0)
if args.device != "cpu":
    torch.set_default_device(args.device)
K = 16


def timed(name, fn):
    if args.device != "cpu":
        op = fn

        def fn():
            op()
            torch.cuda.synchronize()
    fn()
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-6)
    reps = int(min(200, max(3, args.seconds / one)))
    ts, cs = [], []
    for _ in range(reps):
        a, c = time.perf_counter(), time.process_time()
        fn()
        ts.append(time.perf_counter() - a)
        cs.append(time.process_time() - c)
    print(f"{name:45s} min_ms={min(ts) * 1e3:9.3f} med_ms={statistics.median(ts) * 1e3:9.3f} "
          f"min_cpu_ms={min(cs) * 1e3:9.3f} reps={reps}", flush=True)


def knn_gemm_topk(x, k):
    """[N, D] -> [N, k]: ‖x‖² − 2 x·y + ‖y‖², topk(k + 1), self dropped (DGCNN / ParticleNet)."""
    xx = (x * x).sum(-1)
    d2 = xx[:, None] - 2.0 * (x @ x.t()) + xx[None, :]
    val, idx = d2.topk(k + 1, dim=-1, largest=False, sorted=True)
    return idx[:, 1:], val[:, 1:]


def knn_batched(x, k):
    """[B, P, D] -> [B, P, k] with bmm, per event."""
    xx = (x * x).sum(-1)
    d2 = xx[:, :, None] - 2.0 * torch.bmm(x, x.transpose(1, 2)) + xx[:, None, :]
    val, idx = d2.topk(k + 1, dim=-1, largest=False, sorted=True)
    return idx[..., 1:], val[..., 1:]


def main():
    print("torch", torch.__version__, "threads", torch.get_num_threads(), "LD_PRELOAD", os.environ.get("LD_PRELOAD", "-"),
          "device", args.device, torch.cuda.get_device_name() if args.device != "cpu" else "")
    with torch.no_grad():
        for m, k, n in ((1, 64, 64), (1024, 64, 64), (65536, 64, 64), (65536, 128, 128), (2048, 2048, 2048)):
            a, w, b = torch.randn(m, k), torch.randn(n, k), torch.randn(n)
            timed(f"linear+relu M={m} K={k} N={n}", lambda a=a, w=w, b=b: torch.relu(torch.nn.functional.linear(a, w, b)))
        n = 10000
        pos = torch.rand(n, 3)
        x16 = torch.randn(n, 16)
        timed("knn_graph N=10000 D=3 (GEMM+topk)", lambda: knn_gemm_topk(pos, K))
        timed("knn_graph N=10000 D=3 (cdist+topk)", lambda: torch.cdist(pos, pos).topk(K + 1, largest=False))
        timed("knn_graph N=10000 D=16 (GEMM+topk)", lambda: knn_gemm_topk(x16, K))
        xb = torch.randn(1000, 50, 16)
        timed("knn_graph 1000x50 D=16 (bmm+topk)", lambda: knn_batched(xb, K))

        r2 = 0.05 ** 2

        def radius():
            xx = (pos * pos).sum(-1)
            d2 = xx[:, None] - 2 * pos @ pos.t() + xx[None, :]
            return (d2 < r2).nonzero()
        timed("radius_graph N=10000 3-D r=0.05", radius)

        m = torch.randn(n, K, 64)
        timed("ell mean [10000,16,64] (dense view)", lambda: m.mean(1))
        timed("ell max [10000,16,64] (dense view)", lambda: m.amax(1))

        deg = torch.randint(1, 32, (n,))
        e = int(deg.sum())
        data = torch.randn(e, 64)
        dst = torch.repeat_interleave(torch.arange(n), deg)
        for red in ("sum", "mean", "max"):
            timed(f"segment_reduce {red} (torch.segment_reduce)", lambda red=red: torch.segment_reduce(data, red, lengths=deg))
        timed("segment sum (index_add_, sorted COO)", lambda: torch.zeros(n, 64).index_add_(0, dst, data))
        dsts = dst[torch.randperm(e)]
        timed("scatter sum (index_add_, unsorted COO)", lambda: torch.zeros(n, 64).index_add_(0, dsts, data))
        idx2 = dsts[:, None].expand(e, 64)
        timed("scatter max (scatter_reduce_ amax, unsorted)",
              lambda: torch.zeros(n, 64).scatter_reduce_(0, idx2, data, "amax", include_self=False))
        src = torch.randint(0, n, (e,))
        timed("gather_rows [E,64] (index_select)", lambda: data[:n].index_select(0, src))

        h = 4
        s = torch.randn(n * K, h)
        d = torch.arange(n).repeat_interleave(K)
        de = d[:, None].expand(n * K, h)

        def softmax():
            mx = torch.full((n, h), float("-inf")).scatter_reduce_(0, de, s, "amax", include_self=True)
            ex = (s - mx[d]).exp()
            den = torch.zeros(n, h).index_add_(0, d, ex)
            return ex / den[d]
        timed("segment_softmax E=160000 H=4 (scatter)", softmax)


if __name__ == "__main__":
    main()
