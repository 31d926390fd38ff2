#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Reference inputs and outputs of the fused graph blocks and GNN models (docs/gnn.md), from the plain
PyTorch modules of tools/export_gnn.py.

Run with Debian's interpreter and python3-torch, from any directory:
    /usr/bin/python3 test/data/gnn/make_gnn_fixtures.py
It rewrites block_*.txt, model_*.txt and model_*.json beside this script:

* block_*.txt: the text format of make_fixtures.py (named arrays "<name> <i|f> <rank> <extents>" then
  the values). A layer list L is stored as "L.count" and per layer i "L.i.type" (0 dense, 1 batchnorm,
  2 activation) with "L.i.w" [out, in] and "L.i.b" (dense), "L.i.bn" [4, n] = mean, variance, gamma,
  beta and "L.i.eps" (batchnorm), "L.i.act" (1 relu, 2 elu) and "L.i.alpha" (activation).
* model_*.json: the model in portml's GNN JSON format (tools/export_gnn.py), model_*.txt its inputs
  and outputs.

Outputs are computed in float32 ("y", what the C++ is compared with) and in float64 ("y64"); the script
checks that the float32 result is within the tolerance the C++ tests use (rtol 1e-5, atol 1e-6) of the
float64 one, i.e. that the tolerance is met by PyTorch itself. Ragged batches hold an empty event and
events with fewer points than k. kNN in integer coordinates has exact ties (resolved to the lower
index); kNN in computed coordinates must have a clear gap between the k-th and the next candidate
(relative 1e-3 in float64, the same neighbours in float32), else the seed is advanced, so that
float32 rounding differences between PyTorch and portml cannot change a neighbour set.
"""
import copy
import math
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tools"))
import export_gnn as ex  # noqa: E402

RTOL, ATOL = 1e-5, 1e-6
F32 = torch.float32


def fmt(v, is_float):
    if not is_float:
        return str(int(v))
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return repr(ex.f32(v)) if isinstance(v, float) else repr(v)


def write(name, arrays, exact64=()):
    lines = []
    for key, t in arrays:
        t = t.detach().contiguous()
        is_float = t.is_floating_point()
        vals = t.reshape(-1).tolist()
        lines.append(f"{key} {'f' if is_float else 'i'} {t.dim()} " + " ".join(str(s) for s in t.shape))
        if is_float and key in exact64:
            lines.append(" ".join(repr(float(v)) for v in vals))
        else:
            lines.append(" ".join(fmt(v, is_float) for v in vals))
    with open(os.path.join(HERE, name), "w") as f:
        f.write("\n".join(lines) + "\n")


def layer_arrays(prefix, layers):
    """A layer list of the JSON format as fixture arrays."""
    out = [(f"{prefix}.count", torch.tensor([len(layers)]))]
    for i, l in enumerate(layers):
        p = f"{prefix}.{i}"
        if l["type"] == "dense":
            out.append((f"{p}.type", torch.tensor([0])))
            out.append((f"{p}.w", torch.tensor(l["weights"], dtype=F32).reshape(l["outputs"], l["inputs"])))
            if "bias" in l:
                out.append((f"{p}.b", torch.tensor(l["bias"], dtype=F32)))
        elif l["type"] == "batchnorm":
            out.append((f"{p}.type", torch.tensor([1])))
            out.append((f"{p}.bn", torch.tensor([l["mean"], l["variance"], l["gamma"], l["beta"]], dtype=F32)))
            out.append((f"{p}.eps", torch.tensor([l["epsilon"]], dtype=torch.float64)))
        else:
            out.append((f"{p}.type", torch.tensor([2])))
            out.append((f"{p}.act", torch.tensor([{"relu": 1, "elu": 2}[l["activation"]]])))
            out.append((f"{p}.alpha", torch.tensor([l.get("alpha", 0.0)], dtype=torch.float64)))
    return out


def offsets_of(sizes):
    off = [0]
    for s in sizes:
        off.append(off[-1] + s)
    return torch.tensor(off, dtype=torch.int64)


def knn_blocks(model):
    return [m for m in model.modules() if hasattr(m, "last_knn")]


def clear_margin(m32, m64, self_included, k):
    """Same neighbours in float32 and float64, and a relative gap ≥ 1e-3 after the k-th candidate."""
    nbr32, _ = m32.last_knn
    nbr64, cands = m64.last_knn
    if not torch.equal(nbr32, nbr64):
        return False
    kk = k - 1 if self_included else k
    for c in cands:
        if len(c) > kk and kk > 0:
            if c[kk] - c[kk - 1] <= 1e-3 * max(1.0, abs(c[kk])):
                return False
    return True


def check_tolerance(name, y32, y64):
    err = (y32.double() - y64).abs()
    bound = ATOL + RTOL * y64.abs()
    worst = float((err / bound).max()) if err.numel() else 0.0
    assert worst <= 0.5, f"{name}: PyTorch float32 uses {worst:.2f} of the tolerance; the test would be too tight"
    print(f"{name}: PyTorch float32 vs float64 uses {worst:.3f} of the tolerance (atol {ATOL}, rtol {RTOL})")


def run_pair(model, fn, exact_first_knn=False):
    """(float32 output, float64 output, margin ok) of fn(model, dtype)."""
    m64 = copy.deepcopy(model).double()
    y32 = fn(model, F32)
    y64 = fn(m64, torch.float64)
    ok = True
    for i, (a, b) in enumerate(zip(knn_blocks(model), knn_blocks(m64))):
        if exact_first_knn and i == 0:
            ok = ok and torch.equal(a.last_knn[0], b.last_knn[0])
            continue
        self_included = isinstance(a, ex.GravNetRef)
        ok = ok and clear_margin(a, b, self_included, a.k)
    return y32, y64, ok


# ---- blocks ------------------------------------------------------------------------------------------

SIZES = [6, 0, 3, 9, 1, 12]  # an empty event, events with fewer points than k + 1 (k = 4)


def edgeconv_fixture(name, seed, aggregation, missing, shortcut, integer_coords, in_feat, outs, k=4):
    for attempt in range(100):
        g = torch.Generator().manual_seed(seed + attempt)
        torch.manual_seed(seed + attempt)
        off = offsets_of(SIZES)
        n = int(off[-1])
        x = torch.randn(n, in_feat, generator=g)
        coords = torch.randint(0, 4, (n, 2), generator=g).to(F32) if integer_coords else x
        block = ex.randomise_batchnorms(ex.EdgeConvRef(k, in_feat, outs, aggregation, missing, shortcut), g)

        def fn(m, dt):
            with torch.no_grad():
                xx = x.to(dt)
                return m(coords.to(dt) if integer_coords else xx, xx, off)

        y32, y64, ok = run_pair(block, fn, exact_first_knn=integer_coords)
        if ok:
            break
    else:
        raise RuntimeError(f"{name}: no seed with a clear kNN margin")
    check_tolerance(name, y32, y64)
    mlp, sc = ex.edgeconv_layers(block)
    write(name, [("x", x), ("coords", coords), ("offsets", off), ("k", torch.tensor([k])),
                 ("aggregation", torch.tensor([0 if aggregation == "mean" else 1])),
                 ("missing", torch.tensor([0 if missing == "skip" else 1])), ("nbr", block.last_knn[0])] +
          layer_arrays("mlp", mlp) + layer_arrays("shortcut", sc) + [("y", y32), ("y64", y64)],
          exact64=("y64",))


def gravnet_fixture(name, seed, convention, k=4):
    for attempt in range(100):
        g = torch.Generator().manual_seed(seed + attempt)
        torch.manual_seed(seed + attempt)
        off = offsets_of([7, 0, 2, 10, 5])
        n = int(off[-1])
        x = torch.randn(n, 4, generator=g)
        block = ex.GravNetRef(4, 6, 3, 5, k, convention)
        with torch.no_grad():
            block.lin_s.weight.mul_(0.5)  # learned-space distances of order 0.1–1: weights not all ~0
        block.eval()

        def fn(m, dt):
            with torch.no_grad():
                return m(x.to(dt), off)

        y32, y64, ok = run_pair(block, fn)
        if ok:
            break
    else:
        raise RuntimeError(f"{name}: no seed with a clear kNN margin")
    check_tolerance(name, y32, y64)
    write(name, [("x", x), ("offsets", off), ("k", torch.tensor([k])),
                 ("convention", torch.tensor([0 if convention == "pyg" else 1])), ("nbr", block.last_knn[0])] +
          layer_arrays("space", [ex.dense(block.lin_s)]) + layer_arrays("propagate", [ex.dense(block.lin_h)]) +
          layer_arrays("output", ex.gravnet_output(block)) + [("y", y32), ("y64", y64)], exact64=("y64",))


def interaction_fixture(name, seed):
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    n, ne, f, fe = 7, 15, 3, 2
    x = torch.randn(n, f, generator=g)
    e = torch.randn(ne, fe, generator=g)
    src = torch.randint(0, n, (ne,), generator=g)
    dst = torch.randint(0, n - 2, (ne,), generator=g)  # nodes n-2, n-1 receive nothing
    step = ex.InteractionStepRef(f, fe, 8, 5, 4).eval()

    def fn(m, dt):
        with torch.no_grad():
            xo, eo = m(x.to(dt), e.to(dt), src, dst)
            return torch.cat([xo.reshape(-1), eo.reshape(-1)])

    y32, y64, _ = run_pair(step, fn)
    check_tolerance(name, y32, y64)
    with torch.no_grad():
        xo, eo = step(x, e, src, dst)
        xo64, eo64 = copy.deepcopy(step).double()(x.double(), e.double(), src, dst)
    write(name, [("x", x), ("e", e), ("src", src), ("dst", dst)] + layer_arrays("edge", ex.sequential(step.edge_mlp)) +
          layer_arrays("node", ex.sequential(step.node_mlp)) +
          [("x_out", xo), ("e_out", eo), ("x_out64", xo64), ("e_out64", eo64)], exact64=("x_out64", "e_out64"))


# ---- models ------------------------------------------------------------------------------------------


def particlenet_fixture(seed):
    for attempt in range(200):
        g = torch.Generator().manual_seed(seed + attempt)
        torch.manual_seed(seed + attempt)
        model = ex.randomise_batchnorms(ex.ParticleNetRef(), g)
        off = offsets_of([8, 0, 3, 12, 1, 6])
        n = int(off[-1])
        points = torch.randint(0, 4, (n, 2), generator=g).to(F32)  # exact ties in the first block
        feats = torch.randn(n, 4, generator=g)

        def fn(m, dt):
            with torch.no_grad():
                return m(points.to(dt), feats.to(dt), off)

        y32, y64, ok = run_pair(model, fn, exact_first_knn=True)
        if ok:
            break
    else:
        raise RuntimeError("particlenet: no seed with a clear kNN margin")
    check_tolerance("particlenet", y32, y64)
    ex.save(ex.export_particlenet(model), os.path.join(HERE, "model_particlenet.json"))
    write("model_particlenet.txt", [("points", points), ("features", feats), ("offsets", off), ("y", y32),
                                    ("y64", y64)], exact64=("y64",))


def gravnet_model_fixture(seed):
    for attempt in range(200):
        g = torch.Generator().manual_seed(seed + attempt)
        torch.manual_seed(seed + attempt)
        model = ex.randomise_batchnorms(ex.GravNetModelRef(), g)
        with torch.no_grad():
            for b in model.blocks:
                b.lin_s.weight.mul_(0.5)
        off = offsets_of([9, 0, 3, 14, 1])
        n = int(off[-1])
        feats = torch.randn(n, 5, generator=g)

        def fn(m, dt):
            with torch.no_grad():
                return m(feats.to(dt), off)

        y32, y64, ok = run_pair(model, fn)
        if ok:
            break
    else:
        raise RuntimeError("gravnet model: no seed with a clear kNN margin")
    check_tolerance("gravnet model", y32, y64)
    ex.save(ex.export_gravnet(model), os.path.join(HERE, "model_gravnet.json"))
    write("model_gravnet.txt", [("features", feats), ("offsets", off), ("y", y32), ("y64", y64)], exact64=("y64",))


def main():
    torch.set_num_threads(1)
    edgeconv_fixture("block_edgeconv_mean_zero.txt", 10, "mean", "zero_point", True, True, 3, (8, 8))
    edgeconv_fixture("block_edgeconv_max_skip.txt", 20, "max", "skip", False, False, 4, (6, 4))
    edgeconv_fixture("block_edgeconv_mean_skip.txt", 30, "mean", "skip", True, False, 3, (8,))
    gravnet_fixture("block_gravnet_pyg.txt", 40, "pyg")
    gravnet_fixture("block_gravnet_cms.txt", 50, "cms")
    interaction_fixture("block_interaction.txt", 60)
    particlenet_fixture(70)
    gravnet_model_fixture(80)


if __name__ == "__main__":
    main()
