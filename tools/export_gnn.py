#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""PyTorch reference GNN models and their export to portml's GNN JSON format (docs/gnn.md, "Model format").

Runs with Debian's interpreter and python3-torch (no PyG, torch_cluster or torch_scatter needed):

    /usr/bin/python3 tools/export_gnn.py --example particlenet --out model.json [--seed 1]

writes a randomly initialised example model; from Python, `export_particlenet(model)` /
`export_gravnet(model)` return the JSON document of a trained `ParticleNetRef` / `GravNetModelRef`,
and `save(doc, path)` writes it.

The modules here are plain-PyTorch formulations of gnn.md §6, written independently of portml's C++:

* `EdgeConvRef`: ParticleNet's EdgeConv block. kNN in the given coordinates (self excluded, ties to the
  lower index), edge features [x_i, x_j − x_i], (Linear without bias, BatchNorm1d, ReLU) per layer,
  mean or max over the neighbours, shortcut Linear + BatchNorm1d (or identity), ReLU. Missing
  neighbours (events with fewer than k + 1 points): "zero_point" uses x_j = 0 and divides the mean by
  k (ParticleNet's zero-padded jets), "skip" leaves them out.
* `GravNetRef`: torch_geometric's GravNetConv (s = lin_s(x), h = lin_h(x), k nearest in s including the
  point itself, w = exp(−c·d²), mean and max of w·h_j, lin_out1(x) + lin_out2([mean, max])), optionally
  followed by BatchNorm1d and an activation. convention "pyg": c = 10, mean over the neighbours found;
  "cms" (cmspepr select_knn / accumulate_knn): c = 1, the mean divides by k.
* `InteractionStepRef`: edge MLP on [x_src, x_dst, e], sum over incoming edges (index_add_), node MLP
  on [x, Σ e'].
* `ParticleNetRef` (input BatchNorm1d, EdgeConv blocks, global mean pool over the real points, MLP head)
  and `GravNetModelRef` (GravNet blocks, per-point MLP head).

kNN here is an explicit per-event sort of (d², index) pairs, so ties go to the lower index as in portml.
"""
import argparse
import json
import math
import struct

import torch
from torch import nn

FORMAT = "portml-gnn"
VERSION = 1


# ---- reference modules ----------------------------------------------------------------------------


def knn_table(coords, offsets, k, include_self):
    """Neighbour table [N, k] of global row indices (-1 = none) and the sorted candidate distances per
    row (for tie-margin checks): per event, rows sorted by (d², index), self first when included."""
    n = coords.shape[0]
    nbr = torch.full((n, k), -1, dtype=torch.long)
    cands = [[] for _ in range(n)]
    for b in range(len(offsets) - 1):
        lo, hi = int(offsets[b]), int(offsets[b + 1])
        if hi == lo:
            continue
        c = coords[lo:hi]
        d2 = ((c[:, None, :] - c[None, :, :]) ** 2).sum(-1)
        for i in range(hi - lo):
            cand = sorted((float(d2[i, j]), j) for j in range(hi - lo) if j != i)
            cands[lo + i] = [d for d, _ in cand]
            sel = ([i] if include_self else []) + [j for _, j in cand]
            for s, j in enumerate(sel[:k]):
                nbr[lo + i, s] = lo + j
    return nbr, cands


def gather_rows(x, nbr):
    """x[nbr] with rows of zeros for -1: [N, k, F]."""
    valid = (nbr >= 0).unsqueeze(-1)
    return torch.where(valid, x[nbr.clamp(min=0)], torch.zeros((), dtype=x.dtype))


class EdgeConvRef(nn.Module):
    def __init__(self, k, in_feat, out_feats, aggregation="mean", missing="zero_point", shortcut=True):
        super().__init__()
        self.k, self.in_feat, self.aggregation, self.missing = k, in_feat, aggregation, missing
        self.lins = nn.ModuleList()
        self.bns = nn.ModuleList()
        prev = 2 * in_feat
        for out in out_feats:
            self.lins.append(nn.Linear(prev, out, bias=False))
            self.bns.append(nn.BatchNorm1d(out))
            prev = out
        self.sc = nn.Linear(in_feat, out_feats[-1], bias=False) if shortcut else None
        self.sc_bn = nn.BatchNorm1d(out_feats[-1]) if shortcut else None
        self.last_knn = None

    def forward(self, coords, x, offsets):
        n, f = x.shape
        nbr, cands = knn_table(coords, offsets, self.k, False)
        self.last_knn = (nbr, cands)
        valid = nbr >= 0
        xi = x.unsqueeze(1).expand(n, self.k, f)
        e = torch.cat([xi, gather_rows(x, nbr) - xi], -1).reshape(n * self.k, 2 * f)
        for lin, bn in zip(self.lins, self.bns):
            e = torch.relu(bn(lin(e)))
        e = e.reshape(n, self.k, -1)
        mask = torch.ones_like(valid) if self.missing == "zero_point" else valid
        count = mask.sum(1, keepdim=True)
        if self.aggregation == "mean":
            agg = torch.where(mask.unsqueeze(-1), e, torch.zeros((), dtype=e.dtype)).sum(1) / count.clamp(min=1)
        else:
            agg = torch.where(mask.unsqueeze(-1), e, torch.tensor(-math.inf, dtype=e.dtype)).amax(1)
            agg = torch.where(count > 0, agg, torch.zeros((), dtype=e.dtype))
        sc = self.sc_bn(self.sc(x)) if self.sc is not None else x
        return torch.relu(sc + agg)


class GravNetRef(nn.Module):
    def __init__(self, in_channels, out_channels, space_dimensions, propagate_dimensions, k, convention="pyg",
                 batchnorm=False, activation=None):
        super().__init__()
        self.k, self.convention = k, convention
        self.exponent = 10.0 if convention == "pyg" else 1.0
        self.lin_s = nn.Linear(in_channels, space_dimensions)
        self.lin_h = nn.Linear(in_channels, propagate_dimensions)
        self.lin_out1 = nn.Linear(in_channels, out_channels, bias=False)
        self.lin_out2 = nn.Linear(2 * propagate_dimensions, out_channels)
        self.bn = nn.BatchNorm1d(out_channels) if batchnorm else None
        self.act = activation
        self.last_knn = None

    def forward(self, x, offsets):
        h = self.lin_h(x)
        s = self.lin_s(x)
        nbr, cands = knn_table(s, offsets, self.k, True)
        self.last_knn = (nbr, cands)
        valid = nbr >= 0
        d2 = ((gather_rows(s, nbr) - s.unsqueeze(1)) ** 2).sum(-1)
        w = torch.exp(-self.exponent * d2)
        msg = gather_rows(h, nbr) * w.unsqueeze(-1)
        count = valid.sum(1, keepdim=True)
        zero = torch.zeros((), dtype=x.dtype)
        total = torch.where(valid.unsqueeze(-1), msg, zero).sum(1)
        mean = total / (count.clamp(min=1) if self.convention == "pyg" else self.k)
        mx = torch.where(valid.unsqueeze(-1), msg, torch.tensor(-math.inf, dtype=x.dtype)).amax(1)
        mx = torch.where(count > 0, mx, zero)
        out = self.lin_out1(x) + self.lin_out2(torch.cat([mean, mx], -1))
        if self.bn is not None:
            out = self.bn(out)
        if self.act is not None:
            out = self.act(out)
        return out


class InteractionStepRef(nn.Module):
    def __init__(self, node_features, edge_features, hidden, edge_out, node_out):
        super().__init__()
        self.edge_mlp = nn.Sequential(nn.Linear(2 * node_features + edge_features, hidden), nn.ReLU(),
                                      nn.Linear(hidden, edge_out))
        self.node_mlp = nn.Sequential(nn.Linear(node_features + edge_out, hidden), nn.ReLU(),
                                      nn.Linear(hidden, node_out))

    def forward(self, x, e, src, dst):
        e_out = self.edge_mlp(torch.cat([x[src], x[dst], e], -1))
        agg = torch.zeros((x.shape[0], e_out.shape[1]), dtype=x.dtype).index_add_(0, dst, e_out)
        return self.node_mlp(torch.cat([x, agg], -1)), e_out


def global_mean_pool(x, offsets):
    out = torch.zeros((len(offsets) - 1, x.shape[1]), dtype=x.dtype)
    for b in range(len(offsets) - 1):
        lo, hi = int(offsets[b]), int(offsets[b + 1])
        if hi > lo:
            out[b] = x[lo:hi].mean(0)
    return out


class ParticleNetRef(nn.Module):
    """points [N, P] and features [N, F] of a ragged batch (offsets) → [B, classes]."""

    def __init__(self, points=2, features=4, conv_params=((4, (8, 8)), (4, (12, 12)), (4, (16, 16))),
                 head=(12,), classes=3, missing="zero_point"):
        super().__init__()
        self.points, self.features = points, features
        self.bn_fts = nn.BatchNorm1d(features)
        self.blocks = nn.ModuleList()
        prev = features
        for k, outs in conv_params:
            self.blocks.append(EdgeConvRef(k, prev, outs, "mean", missing, shortcut=True))
            prev = outs[-1]
        layers = []
        for h in head:
            layers += [nn.Linear(prev, h), nn.ReLU()]
            prev = h
        layers.append(nn.Linear(prev, classes))
        self.head = nn.Sequential(*layers)

    def forward(self, points, features, offsets):
        x = self.bn_fts(features)
        for i, block in enumerate(self.blocks):
            x = block(points if i == 0 else x, x, offsets)
        return self.head(global_mean_pool(x, offsets))


class GravNetModelRef(nn.Module):
    """features [N, F] of a ragged batch → [N, outputs] (per point)."""

    def __init__(self, features=5, blocks=((4, 3, 6, 8, "pyg"), (4, 3, 6, 8, "cms")), head=(6,), outputs=3):
        super().__init__()
        self.features = features
        self.bn_in = nn.BatchNorm1d(features)
        self.blocks = nn.ModuleList()
        prev = features
        for k, space, prop, out, conv in blocks:
            self.blocks.append(GravNetRef(prev, out, space, prop, k, conv, batchnorm=True, activation=nn.ELU()))
            prev = out
        layers = []
        for h in head:
            layers += [nn.Linear(prev, h), nn.ReLU()]
            prev = h
        layers.append(nn.Linear(prev, outputs))
        self.head = nn.Sequential(*layers)

    def forward(self, x, offsets):
        x = self.bn_in(x)
        for block in self.blocks:
            x = block(x, offsets)
        return self.head(x)


def randomise_batchnorms(model, g):
    """Running statistics and affine parameters away from the identity (as after training)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.2)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.randn(n, generator=g) * 0.1)
    model.eval()
    return model


# ---- export -----------------------------------------------------------------------------------------


def f32(v):
    """The shortest decimal that reads back as the same float32 (as a JSON number)."""
    v = struct.unpack("f", struct.pack("f", float(v)))[0]
    for p in range(6, 10):
        s = "%.*g" % (p, v)
        if struct.unpack("f", struct.pack("f", float(s)))[0] == v:
            return float(s)
    return v


def floats(t):
    return [f32(v) for v in t.detach().reshape(-1).tolist()]


def dense(lin, weight=None, bias="auto"):
    w = lin.weight if weight is None else weight
    layer = {"type": "dense", "inputs": int(w.shape[1]), "outputs": int(w.shape[0]), "weights": floats(w)}
    b = lin.bias if bias == "auto" else bias
    if b is not None:
        layer["bias"] = floats(b)
    return layer


def batchnorm(bn):
    return {"type": "batchnorm", "mean": floats(bn.running_mean), "variance": floats(bn.running_var),
            "gamma": floats(bn.weight), "beta": floats(bn.bias), "epsilon": float(bn.eps)}


def activation(module):
    if isinstance(module, nn.ReLU):
        return {"type": "activation", "activation": "relu"}
    if isinstance(module, nn.ELU):
        return {"type": "activation", "activation": "elu", "alpha": float(module.alpha)}
    if isinstance(module, nn.Tanh):
        return {"type": "activation", "activation": "tanh"}
    if isinstance(module, nn.Sigmoid):
        return {"type": "activation", "activation": "sigmoid"}
    raise ValueError(f"unsupported activation {module}")


def sequential(seq):
    out = []
    for m in seq:
        if isinstance(m, nn.Linear):
            out.append(dense(m))
        elif isinstance(m, nn.BatchNorm1d):
            out.append(batchnorm(m))
        else:
            out.append(activation(m))
    return out


def edgeconv_layers(block):
    mlp = []
    for lin, bn in zip(block.lins, block.bns):
        mlp += [dense(lin), batchnorm(bn), {"type": "activation", "activation": "relu"}]
    shortcut = [dense(block.sc), batchnorm(block.sc_bn)] if block.sc is not None else []
    return mlp, shortcut


def edgeconv(block, coordinates):
    mlp, shortcut = edgeconv_layers(block)
    return {"type": "edgeconv", "k": block.k, "coordinates": coordinates, "aggregation": block.aggregation,
            "missing": block.missing, "activation": "relu", "mlp": mlp, "shortcut": shortcut}


def gravnet_output(block):
    """lin_out1(x) + lin_out2([mean, max]) as one Dense on [x, mean, max], then BatchNorm / activation."""
    w = torch.cat([block.lin_out1.weight, block.lin_out2.weight], 1)
    out = [dense(block.lin_out2, weight=w, bias=block.lin_out2.bias)]
    if block.bn is not None:
        out.append(batchnorm(block.bn))
    if block.act is not None:
        out.append(activation(block.act))
    return out


def gravnet(block):
    return {"type": "gravnet", "k": block.k, "convention": block.convention, "space": dense(block.lin_s),
            "propagate": dense(block.lin_h), "output": gravnet_output(block)}


def export_particlenet(model):
    return {"format": FORMAT, "version": VERSION, "model": "particlenet",
            "inputs": {"points": model.points, "features": model.features},
            "input_norm": [batchnorm(model.bn_fts)],
            "blocks": [edgeconv(b, "points" if i == 0 else "features") for i, b in enumerate(model.blocks)],
            "pooling": "mean", "head": sequential(model.head)}


def export_gravnet(model):
    return {"format": FORMAT, "version": VERSION, "model": "gravnet", "inputs": {"features": model.features},
            "input_norm": [batchnorm(model.bn_in)], "blocks": [gravnet(b) for b in model.blocks],
            "head": sequential(model.head)}


def save(doc, path):
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--example", choices=["particlenet", "gravnet"], required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    g = torch.Generator().manual_seed(args.seed)
    if args.example == "particlenet":
        save(export_particlenet(randomise_batchnorms(ParticleNetRef(), g)), args.out)
    else:
        save(export_gravnet(randomise_batchnorms(GravNetModelRef(), g)), args.out)


if __name__ == "__main__":
    main()
