#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Reference inputs and outputs of the graph primitives (docs/gnn.md), made with plain PyTorch.

Run with Debian's interpreter and python3-torch, from any directory:
    /usr/bin/python3 test/data/gnn/make_fixtures.py
It rewrites the *.txt files beside this script. Each file is a list of named arrays:
    <name> <i|f> <rank> <extent>...
    <values, row-major, space-separated>
Floats are written as the shortest decimal that reads back as the same float32 (or float64 for
reference values, whose names end in "_ref"; "_abs" arrays hold Σ|terms| for the error bounds).

The references follow gnn.md §6 directly and do not share code with the C++ kernels:
 * kNN / radius: per event and query, squared distances computed in float32 exactly as specified
   (difference form, the periodic difference wrapped as period − |Δ| when |Δ| > period/2, dimensions
   summed in order), then Python's sort of (d², index) tuples, so ties go to the lower index.
 * reductions: torch scatter_reduce / index_add in float64, empty sets filled with 0.
"""
import math
import os

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
F32 = torch.float32


def fmt(v, is_float):
    if not is_float:
        return str(int(v))
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return repr(float(v))


def write(name, arrays):
    """arrays: list of (name, tensor); ints are written as integers, floats as shortest repr."""
    lines = []
    for key, t in arrays:
        t = t.detach().contiguous()
        is_float = t.is_floating_point()
        shape = list(t.shape)
        lines.append(f"{key} {'f' if is_float else 'i'} {len(shape)} " + " ".join(str(s) for s in shape))
        lines.append(" ".join(fmt(v, is_float) for v in t.reshape(-1).tolist()))
    with open(os.path.join(HERE, name), "w") as f:
        f.write("\n".join(lines) + "\n")


def offsets_of(sizes):
    off = [0]
    for s in sizes:
        off.append(off[-1] + s)
    return torch.tensor(off, dtype=torch.int64)


# ---- kNN family ---------------------------------------------------------------------------------


def pair_d2(a, b, periodic_dim, period):
    """Squared distance of two float32 rows, in the order the spec fixes."""
    acc = torch.zeros((), dtype=F32)
    half = torch.tensor(period, dtype=F32) / 2
    for d in range(a.shape[0]):
        v = a[d] - b[d]
        if d == periodic_dim:
            v = v.abs()
            if v > half:
                v = torch.tensor(period, dtype=F32) - v
        acc = acc + v * v
    return acc


def knn_ref(xq, offq, xr, offr, k, same_set, include_self, r2, periodic_dim=-1, period=2 * math.pi):
    """nbr [Nq, k], d2 [Nq, k], found [Nq] (candidates within r2, self not counted)."""
    nq = xq.shape[0]
    nbr = torch.full((nq, k), -1, dtype=torch.int64)
    d2 = torch.full((nq, k), math.inf, dtype=F32)
    found = torch.zeros(nq, dtype=torch.int64)
    for b in range(len(offq) - 1):
        for i in range(int(offq[b]), int(offq[b + 1])):
            cands = []
            for j in range(int(offr[b]), int(offr[b + 1])):
                if same_set and j == i:
                    continue
                d = pair_d2(xq[i], xr[j], periodic_dim, period)
                if bool(d <= r2):
                    cands.append((float(d), j))
            found[i] = len(cands)
            cands.sort()
            if include_self:
                cands = [(0.0, i)] + cands
            for s, (d, j) in enumerate(cands[:k]):
                nbr[i, s] = j
                d2[i, s] = d
    return nbr, d2, found


def knn_fixtures(g):
    sizes = [5, 0, 1, 3, 12, 7, 4]  # an empty event, events with fewer points than k
    off = offsets_of(sizes)
    n = int(off[-1])
    # Small integer coordinates: exact distances and many ties.
    xg = torch.randint(0, 4, (n, 2), generator=g).to(F32)
    for name, include_self, r2 in [("exclude", False, math.inf), ("include_first", True, math.inf),
                                   ("radius", False, 2.0)]:
        nbr, d2, _ = knn_ref(xg, off, xg, off, 4, True, include_self, r2)
        write(f"knn_ties_{name}.txt", [("x", xg), ("offsets", off), ("k", torch.tensor([4])),
                                       ("include_self", torch.tensor([int(include_self)])),
                                       ("max_radius2", torch.tensor([r2], dtype=F32)), ("periodic_dim", torch.tensor([-1])),
                                       ("nbr", nbr), ("d2", d2)])
    # (eta, phi) with a Δφ wrap: phi in [-pi, pi), points near ±pi are neighbours.
    eta = (torch.rand(n, generator=g) * 2 - 1).to(F32)
    phi = ((torch.rand(n, generator=g) * 2 - 1) * math.pi).to(F32)
    xp = torch.stack([eta, phi], 1)
    nbr, d2, _ = knn_ref(xp, off, xp, off, 5, True, False, math.inf, periodic_dim=1)
    write("knn_periodic.txt", [("x", xp), ("offsets", off), ("k", torch.tensor([5])), ("include_self", torch.tensor([0])),
                               ("max_radius2", torch.tensor([math.inf], dtype=F32)), ("periodic_dim", torch.tensor([1])),
                               ("nbr", nbr), ("d2", d2)])
    # General dimension (D = 7), random normal, include_first and a radius.
    x7 = torch.randn(n, 7, generator=g).to(F32)
    nbr, d2, _ = knn_ref(x7, off, x7, off, 6, True, True, 9.0)
    write("knn_d7.txt", [("x", x7), ("offsets", off), ("k", torch.tensor([6])), ("include_self", torch.tensor([1])),
                         ("max_radius2", torch.tensor([9.0], dtype=F32)), ("periodic_dim", torch.tensor([-1])),
                         ("nbr", nbr), ("d2", d2)])
    # Bipartite: queries and references per event (an event with queries and no references).
    qsizes, rsizes = [3, 2, 0, 6, 4], [4, 0, 3, 9, 2]
    offq, offr = offsets_of(qsizes), offsets_of(rsizes)
    xq = torch.randint(-2, 3, (int(offq[-1]), 3), generator=g).to(F32)
    xr = torch.randint(-2, 3, (int(offr[-1]), 3), generator=g).to(F32)
    nbr, d2, _ = knn_ref(xq, offq, xr, offr, 3, False, False, math.inf)
    write("knn_bipartite.txt", [("xq", xq), ("offq", offq), ("xr", xr), ("offr", offr), ("k", torch.tensor([3])),
                                ("nbr", nbr), ("d2", d2)])
    # Radius graph (CSR by destination), truncated at max_nbrs; without and with self loops.
    xr3 = torch.randint(0, 3, (n, 3), generator=g).to(F32)
    for loop in (False, True):
        max_nbrs, r = 4, 1.5
        nbr, _, found = knn_ref(xr3, off, xr3, off, max_nbrs, True, loop, r * r)
        counts = (nbr >= 0).sum(1)
        indptr = torch.cat([torch.zeros(1, dtype=torch.int64), counts.cumsum(0)])
        src = nbr[nbr >= 0]
        truncated = int((found > max_nbrs - int(loop)).any())
        write(f"radius_graph_loop{int(loop)}.txt",
              [("x", xr3), ("offsets", off), ("radius", torch.tensor([r], dtype=F32)),
               ("max_nbrs", torch.tensor([max_nbrs])), ("loop", torch.tensor([int(loop)])), ("indptr", indptr),
               ("src", src), ("truncated", torch.tensor([truncated]))])


# ---- reductions -----------------------------------------------------------------------------------


def reduce_ref(vals, seg, nseg, op):
    """Reduction of rows vals[E, F] into nseg segments by seg[E] in float64; empty -> 0; returns (ref, abs)."""
    v = vals.double()
    f = v.shape[1]
    count = torch.zeros(nseg, dtype=torch.float64).index_add_(0, seg, torch.ones(len(seg), dtype=torch.float64))
    absum = torch.zeros(nseg, f, dtype=torch.float64).index_add_(0, seg, v.abs())
    idx = seg.view(-1, 1).expand(-1, f)
    if op in ("sum", "mean"):
        out = torch.zeros(nseg, f, dtype=torch.float64).index_add_(0, seg, v)
        if op == "mean":
            out = out / count.clamp(min=1).view(-1, 1)
            absum = absum / count.clamp(min=1).view(-1, 1)
    else:
        out = torch.zeros(nseg, f, dtype=torch.float64).scatter_reduce_(0, idx, v, "amax" if op == "max" else "amin",
                                                                        include_self=False)
    return out, absum


def arg_ref(vals, indptr, op):
    """Row giving the max/min of each CSR segment (first on ties), E for an empty one."""
    e, f = vals.shape
    arg = torch.full((len(indptr) - 1, f), e, dtype=torch.int64)
    for i in range(len(indptr) - 1):
        lo, hi = int(indptr[i]), int(indptr[i + 1])
        for c in range(f):
            best = None
            for r in range(lo, hi):
                v = float(vals[r, c])
                if best is None or (v > best[0] if op == "max" else v < best[0]):
                    best = (v, r)
            if best is not None:
                arg[i, c] = best[1]
    return arg


def reduction_fixtures(g):
    # gather_rows
    x = torch.randn(9, 3, generator=g).to(F32)
    idx = torch.tensor([4, -1, 0, 8, 8, -1, 2], dtype=torch.int64)
    y = torch.where((idx >= 0).view(-1, 1), x[idx.clamp(min=0)], torch.tensor(0.0))
    write("gather_rows.txt", [("x", x), ("idx", idx), ("y", y)])

    # ell_reduce: M [N, k, F] with -1 slots (a row with none valid).
    n, k, f = 6, 4, 3
    m = torch.randn(n, k, f, generator=g).to(F32)
    nbr = torch.randint(0, 20, (n, k), generator=g)
    nbr[torch.rand(n, k, generator=g) < 0.35] = -1
    nbr[2, :] = -1
    arrays = [("m", m), ("nbr", nbr)]
    valid = (nbr >= 0)
    rows = torch.arange(n).view(-1, 1).expand(n, k)[valid]
    vals = m[valid]
    for op in ("sum", "mean", "max", "min"):
        ref, ab = reduce_ref(vals, rows, n, op)
        arrays += [(f"{op}_ref", ref), (f"{op}_abs", ab)]
    # mean with divisor k (cmspepr): the sum over valid slots / k
    ref, ab = reduce_ref(vals, rows, n, "sum")
    arrays += [("meank_ref", ref / k), ("meank_abs", ab / k)]
    write("ell_reduce.txt", arrays)

    # segment_reduce (CSR) and global_pool share the semantics; scatter_reduce (COO) on the same edges.
    seg_sizes = [3, 0, 1, 5, 2, 0, 4]
    indptr = offsets_of(seg_sizes)
    e = int(indptr[-1])
    vals = torch.randn(e, 4, generator=g).to(F32)
    vals[6, 1] = vals[7, 1] = 5.0  # ties for the max and the min of segment 3 (rows 4..8): arg takes the first
    vals[5, 2] = vals[8, 2] = -5.0
    seg = torch.repeat_interleave(torch.arange(len(seg_sizes)), torch.tensor(seg_sizes))
    arrays = [("m", vals), ("indptr", indptr)]
    for op in ("sum", "mean", "max", "min"):
        ref, ab = reduce_ref(vals, seg, len(seg_sizes), op)
        arrays += [(f"{op}_ref", ref), (f"{op}_abs", ab)]
    arrays += [("argmax", arg_ref(vals, indptr, "max")), ("argmin", arg_ref(vals, indptr, "min"))]
    write("segment_reduce.txt", arrays)

    nn, ee = 7, 23
    dst = torch.randint(0, nn, (ee,), generator=g)
    dst[dst == 3] = 4  # node 3 receives nothing
    mm = torch.randn(ee, 5, generator=g).to(F32)
    arrays = [("m", mm), ("dst", dst), ("num_nodes", torch.tensor([nn]))]
    for op in ("sum", "mean", "max", "min"):
        ref, ab = reduce_ref(mm, dst, nn, op)
        arrays += [(f"{op}_ref", ref), (f"{op}_abs", ab)]
    write("scatter_reduce.txt", arrays)

    # segment_softmax with -inf entries and a fully masked segment.
    s = torch.randn(e, 2, generator=g).to(F32) * 3
    s[0, 0] = -math.inf
    s[4:9, 1] = -math.inf  # segment 3, head 1: all masked
    sd = s.double()
    hidx = seg.view(-1, 1).expand(-1, 2)
    mx = torch.full((len(seg_sizes), 2), -math.inf, dtype=torch.float64).scatter_reduce_(0, hidx, sd, "amax",
                                                                                          include_self=True)
    w = torch.exp(sd - mx[seg])
    w = torch.where(torch.isnan(w), torch.zeros_like(w), w)
    tot = torch.zeros(len(seg_sizes), 2, dtype=torch.float64).index_add_(0, seg, w)
    p = torch.where(tot[seg] > 0, w / tot[seg].clamp(min=1e-300), torch.zeros_like(w))
    write("segment_softmax.txt", [("s", s), ("indptr", indptr), ("p_ref", p)])

    # global_pool over events.
    ev = [4, 0, 1, 6]
    off = offsets_of(ev)
    xx = torch.randn(int(off[-1]), 3, generator=g).to(F32)
    evid = torch.repeat_interleave(torch.arange(len(ev)), torch.tensor(ev))
    arrays = [("x", xx), ("offsets", off)]
    for op in ("sum", "mean", "max"):
        ref, ab = reduce_ref(xx, evid, len(ev), op)
        arrays += [(f"{op}_ref", ref), (f"{op}_abs", ab)]
    write("global_pool.txt", arrays)


def main():
    g = torch.Generator().manual_seed(20261126)
    knn_fixtures(g)
    reduction_fixtures(g)


if __name__ == "__main__":
    main()
