#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""PyTorch peer of bench/bench_gnn.cpp: the same ops at the same shapes on one thread, written the way
PyG falls back to plain torch (no torch_scatter / torch_cluster on Debian's PyTorch). Prints one line
per op: name, minimum and median wall ms over the repetitions, and the minimum process CPU ms (the
fairer number on a shared machine, comparable with Google Benchmark's CPU column).

    /usr/bin/python3 bench/peers/torch_gnn_ops.py [--threads 1] [--seconds 0.5] [--device cuda] [--json FILE]

With --device cuda every tensor lives on the GPU and each timed call ends with
torch.cuda.synchronize(), as bench/bench_device.cpp waits for its queue (the CPU column is then
not meaningful). The GEMM cases (linear + ReLU) are the peer of BM_device_gemm_tiled.

The allocator is whatever the process gets (glibc unless LD_PRELOAD names another); the script prints
the torch version, its BLAS, and LD_PRELOAD so that a table states what was measured. --json also
writes every line as a record (scripts/benchmarks_doc.py reads it).
"""
import argparse
import json
import os
import statistics
import time

import torch

parser = argparse.ArgumentParser()
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--seconds", type=float, default=0.5)
parser.add_argument("--device", default="cpu")
parser.add_argument("--models", action="store_true", help="only the fused blocks and models")
parser.add_argument("--json", default="", help="also write the results to this JSON file")
args = parser.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(0)
if args.device != "cpu":
    torch.set_default_device(args.device)
K = 16
RESULTS = []
PYG = {}


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
    RESULTS.append({"name": name, "min_ms": min(ts) * 1e3, "median_ms": statistics.median(ts) * 1e3,
                    "min_cpu_ms": min(cs) * 1e3, "repetitions": reps})


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


# ---- fused blocks and models (bench_gnn.cpp BM_edgeconv_block, BM_particlenet, BM_gravnet_*) ------------
# Dense [B, P, F] batches of equal-size events (what the C++ cases use), kNN by bmm + topk, BatchNorm
# folded (Linear with bias), the factorisation not applied (PyTorch's usual formulation).


def mlp(widths, act_last=True):
    layers = []
    for i in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
        if act_last or i + 2 < len(widths):
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


class EdgeConvPeer(torch.nn.Module):
    """ParticleNet EdgeConv: kNN (self excluded), [x_i, x_j − x_i], MLP, mean over k, shortcut, ReLU."""

    def __init__(self, fin, widths, k=K):
        super().__init__()
        self.k = k
        self.mlp = mlp([2 * fin] + list(widths))
        self.sc = torch.nn.Linear(fin, widths[-1])

    def forward(self, coords, x):
        b, p, f = x.shape
        idx, _ = knn_batched(coords, self.k)
        base = (torch.arange(b) * p).view(b, 1, 1)
        xj = x.reshape(b * p, f)[(idx + base).reshape(-1)].view(b, p, self.k, f)
        xi = x.unsqueeze(2).expand(b, p, self.k, f)
        e = self.mlp(torch.cat([xi, xj - xi], -1)).mean(2)
        return torch.relu(e + self.sc(x))


class ParticleNetPeer(torch.nn.Module):
    def __init__(self, features=16, classes=10):
        super().__init__()
        self.blocks = torch.nn.ModuleList([EdgeConvPeer(features, (64, 64, 64)), EdgeConvPeer(64, (128, 128, 128)),
                                           EdgeConvPeer(128, (256, 256, 256))])
        self.head = mlp([256, 256, classes], act_last=False)

    def forward(self, points, x):
        for i, blk in enumerate(self.blocks):
            x = blk(points if i == 0 else x, x)
        return self.head(x.mean(1))


class GravNetPeer(torch.nn.Module):
    """PyG GravNetConv semantics: k nearest in s including self, w = exp(−10 d²), mean and max of w·h_j,
    lin_out1(x) + lin_out2([mean, max]), then ReLU."""

    def __init__(self, fin, space=4, prop=32, out=64, k=K):
        super().__init__()
        self.k = k
        self.lin_s, self.lin_h = torch.nn.Linear(fin, space), torch.nn.Linear(fin, prop)
        self.lin_out1, self.lin_out2 = torch.nn.Linear(fin, out, bias=False), torch.nn.Linear(2 * prop, out)

    def forward(self, x):
        b, p, f = x.shape
        s, h = self.lin_s(x), self.lin_h(x)
        ss = (s * s).sum(-1)
        d2 = ss[:, :, None] - 2.0 * torch.bmm(s, s.transpose(1, 2)) + ss[:, None, :]
        val, idx = d2.topk(self.k, dim=-1, largest=False, sorted=True)  # self included (d² = 0)
        base = (torch.arange(b) * p).view(b, 1, 1)
        hj = h.reshape(b * p, -1)[(idx + base).reshape(-1)].view(b, p, self.k, -1)
        msg = hj * torch.exp(-10.0 * val.clamp(min=0)).unsqueeze(-1)
        agg = torch.cat([msg.mean(2), msg.amax(2)], -1)
        return torch.relu(self.lin_out1(x) + self.lin_out2(agg))


class GravNetModelPeer(torch.nn.Module):
    def __init__(self, features=16, outputs=4):
        super().__init__()
        self.blocks = torch.nn.ModuleList([GravNetPeer(features), GravNetPeer(64)])
        self.head = mlp([64, 64, outputs], act_last=False)

    def forward(self, x):
        for blk in self.blocks:
            x = blk(x)
        return self.head(x)


def models():
    b, p = 1000, 50
    x16 = torch.randn(b, p, 16)
    pts = torch.randn(b, p, 2) * 0.4
    block = EdgeConvPeer(16, (64, 64))
    timed("edgeconv_block 1000x50 F=16->64->64 k=16", lambda: block(x16, x16))
    pn = ParticleNetPeer()
    timed("particlenet 200x50 (64/128/256 x3, k=16)", lambda: pn(pts[:200], x16[:200]))
    timed("particlenet 1x50", lambda: pn(pts[:1], x16[:1]))
    gb = GravNetPeer(64)
    x64 = torch.randn(1, 10000, 64)
    timed("gravnet_block N=10000 F=64 S=4 P=32 k=16", lambda: gb(x64))
    x64b = torch.randn(b, p, 64)
    timed("gravnet_block 1000x50 F=64", lambda: gb(x64b))
    gm = GravNetModelPeer()
    timed("gravnet_model 1000x50 (2 blocks + head)", lambda: gm(x16))


def pyg():
    """PyTorch Geometric, where it is installed (the GPU machines have it; Debian's PyTorch does not):
    knn_graph (torch_cluster) and EdgeConv with mean aggregation at the C++ cases' shapes. PyG's
    knn_graph(loop=False) excludes self, as ParticleNet and portml's knn_graph do. Without torch_cluster or
    pyg-lib, the EdgeConv case takes its graph from the bmm + topk peer."""
    try:
        import torch_geometric
        from torch_geometric.nn import EdgeConv
    except ImportError as e:
        print("PyG not installed:", e)
        return
    PYG["torch_geometric"] = torch_geometric.__version__
    try:
        from torch_geometric.nn import knn_graph
        n = 10000
        pos, x16 = torch.rand(n, 3), torch.randn(n, 16)
        knn_graph(pos, K)  # raises ImportError without torch_cluster
    except ImportError as e:
        print("PyG knn_graph unavailable:", e)
        knn_graph = None
    b, p = 1000, 50
    batch = torch.arange(b).repeat_interleave(p)
    xb = torch.randn(b * p, 16)
    if knn_graph is not None:
        for lib in ("torch_cluster", "pyg_lib"):  # what PyG's knn_graph runs on (version-dependent)
            try:
                PYG[lib] = __import__(lib).__version__
            except ImportError:
                pass
        timed("pyg knn_graph N=10000 D=3", lambda: knn_graph(pos, K, loop=False))
        timed("pyg knn_graph N=10000 D=16", lambda: knn_graph(x16, K, loop=False))
        timed("pyg knn_graph 1000x50 D=16", lambda: knn_graph(xb, K, batch, loop=False))
    else:
        # The graph from the bmm + topk peer, so that the EdgeConv itself is still timed.
        def knn_graph(x, k, batch, loop=False):
            idx, _ = knn_batched(x.view(b, p, -1), k)
            src = (idx + (torch.arange(b) * p).view(b, 1, 1)).reshape(-1)
            return torch.stack([src, torch.arange(b * p).repeat_interleave(k)])
    conv = EdgeConv(mlp([32, 64, 64]), aggr="mean")
    sc = torch.nn.Linear(16, 64)
    timed("pyg edgeconv_block 1000x50 F=16->64->64 k=16",
          lambda: torch.relu(conv(xb, knn_graph(xb, K, batch, loop=False)) + sc(xb)))


def main():
    print("torch", torch.__version__, "threads", torch.get_num_threads(), "LD_PRELOAD", os.environ.get("LD_PRELOAD", "-"),
          "device", args.device, torch.cuda.get_device_name() if args.device != "cpu" else "")
    with torch.no_grad():
        models()
        try:
            pyg()
        except Exception as e:  # a PyG problem must not cost the rest of the peer run
            print("PyG peer failed:", repr(e))
        if args.models:
            return
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


def write_json():
    if args.json:
        info = {"torch": torch.__version__, "threads": torch.get_num_threads(), "device": args.device,
                "device_name": torch.cuda.get_device_name() if args.device != "cpu" else "",
                "ld_preload": os.environ.get("LD_PRELOAD", ""), **PYG, "results": RESULTS}
        with open(args.json, "w") as f:
            json.dump(info, f, indent=1)


if __name__ == "__main__":
    main()
    write_json()
