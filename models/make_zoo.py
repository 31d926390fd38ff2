#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Makes the default model zoo (models/zoo.json lists it) with the training frameworks themselves: each
model, an input sample (NAME.input.npy, float32) and the framework's own default prediction for that
sample (NAME.reference.npy), which `portml validate` compares with. Seeds are fixed and gzip streams
carry no time stamp, so a re-run gives the same files.

    /usr/bin/python3 models/make_zoo.py mlp            # Debian python3-torch: the ONNX MLP tagger
    /usr/bin/python3 models/make_zoo.py xgb [DIR]      # Debian python3-xgboost 1.7 + python3-sklearn
    python3 models/make_zoo.py lgb                     # PyPI lightgbm 4 + scikit-learn
    python3 models/make_zoo.py tmva                    # numpy: copies the TMVA fixture of test/data/bdt
    /usr/bin/python3 models/make_zoo.py gnn            # Debian python3-torch: ParticleNet-like and GravNet

Without DIR the entries with where=models are written into models/. With DIR only the entries with
where=build are made (XGBoost models (b) and (c), 0.8 and 1.4 MB gzipped: too large to commit), into DIR,
skipping those whose files exist; scripts/zoo-bench does this in its build folder. The XGBoost models (a)-(c) are those of docs/bdt.md, trained exactly as
bench/make_bdt_models.py trains them (its SPECS, the same data and parameters).
"""
import gzip
import io
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SAMPLE_ROWS = 512


def zoo_entries(part):
    with open(os.path.join(HERE, "zoo.json")) as f:
        return [m for m in json.load(f)["models"] if m["part"] == part]


def write_gzip(path, data):
    """gzip without a time stamp or file name, so the bytes depend on the content only."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as g:
        g.write(data)
    with open(path, "wb") as f:
        f.write(buf.getvalue())


def save_sample(folder, entry, x, reference):
    x = np.ascontiguousarray(x, dtype=np.float32)
    reference = np.asarray(reference)
    if reference.ndim == 1:
        reference = reference.reshape(-1, 1)
    assert reference.shape[0] == x.shape[0]
    np.save(os.path.join(folder, entry["input"]), x)
    np.save(os.path.join(folder, entry["reference"]), np.ascontiguousarray(reference))
    print("%-14s %s  (%d rows x %d inputs -> %d outputs)" % (entry["name"], os.path.join(folder, entry["model"]),
                                                            x.shape[0], x.shape[1], reference.shape[1]))


def with_nans(x, fraction, seed):
    x = x.copy()
    x[np.random.default_rng(seed).random(x.shape) < fraction] = np.nan
    return x


# --- the MLP tagger: PyTorch, exported to ONNX -------------------------------------------------------------


def make_mlp(entry, folder):
    import torch

    torch.manual_seed(20261126)
    widths = [16, 64, 64, 64, 6]
    layers = []
    for i in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
        if i + 2 < len(widths):
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    # A short training on synthetic six-class jets so that the weights and outputs are not those of an
    # untrained network (class = which of six directions the input leans to).
    g = torch.Generator().manual_seed(5)
    centres = torch.randn(6, 16, generator=g) * 0.4
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(300):
        y = torch.randint(0, 6, (256,), generator=g)
        x = centres[y] + torch.randn(256, 16, generator=g)
        loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model = torch.nn.Sequential(net, torch.nn.Softmax(dim=1)).eval()

    ys = torch.randint(0, 6, (SAMPLE_ROWS,), generator=g)
    x = (centres[ys] + torch.randn(SAMPLE_ROWS, 16, generator=g)).float()
    with torch.no_grad():
        reference = model(x).numpy().astype(np.float32)
    path = os.path.join(folder, entry["model"])
    torch.onnx.export(model, x[:1], path, input_names=["jets"], output_names=["probabilities"], opset_version=13,
                      dynamic_axes={"jets": {0: "batch"}, "probabilities": {0: "batch"}})
    save_sample(folder, entry, x.numpy(), reference)


# --- XGBoost (a), (b), (c) of docs/bdt.md ------------------------------------------------------------------


def make_xgb(entry, folder):
    import xgboost as xgb
    from sklearn.datasets import make_classification

    sys.path.insert(0, os.path.join(ROOT, "bench"))
    sys.dont_write_bytecode = True  # no __pycache__ in the source tree
    from make_bdt_models import SPECS  # the one definition of (a)-(d)

    key = {"xgb_a_trigger": "a_trigger", "xgb_b_large": "b_large", "xgb_c_multi": "c_multi"}[entry["name"]]
    s = SPECS[key]
    # Training exactly as bench/make_bdt_models.py does, so the models are the same bits.
    X, y = make_classification(n_samples=50000, n_features=s["n_features"], n_informative=min(s["n_features"], 15),
                               n_redundant=2, n_classes=s["n_classes"], n_clusters_per_class=2, random_state=42)
    X = X.astype(np.float32)
    params = dict(max_depth=s["depth"], eta=0.1, tree_method="hist", seed=42, subsample=0.8, colsample_bytree=0.8,
                  nthread=2, objective="binary:logistic")
    if s["n_classes"] > 2:
        params.update(objective="multi:softprob", num_class=s["n_classes"])
    bst = xgb.train(params, xgb.DMatrix(X, label=y, missing=np.nan), num_boost_round=s["rounds"])
    write_gzip(os.path.join(folder, entry["model"]), bytes(bst.save_raw("json")))

    # The sample: rows from the same distribution (another seed), 2 % of the values missing.
    xs, _ = make_classification(n_samples=SAMPLE_ROWS, n_features=s["n_features"],
                                n_informative=min(s["n_features"], 15), n_redundant=2, n_classes=s["n_classes"],
                                n_clusters_per_class=2, random_state=7)
    xs = with_nans(xs.astype(np.float32), 0.02, 8)
    reference = bst.predict(xgb.DMatrix(xs, missing=np.nan))  # float32 probabilities
    save_sample(folder, entry, xs, reference)


# --- LightGBM ----------------------------------------------------------------------------------------------


def make_lgb(entry, folder):
    import lightgbm as lgb
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=20000, n_features=20, n_informative=12, n_redundant=2, n_classes=2,
                               n_clusters_per_class=2, random_state=3)
    X = with_nans(X.astype(np.float32), 0.03, 4)
    # On data with NaNs LightGBM can split "missing or not" with a threshold of inf; portml's forests do not
    # take such a threshold yet (bdt::Forest throws NotSupported), so this seed is one whose trees have none.
    params = dict(objective="binary", num_leaves=31, learning_rate=0.1, min_data_in_leaf=20, feature_fraction=0.8,
                  bagging_fraction=0.8, bagging_freq=1, seed=9, deterministic=True, force_row_wise=True,
                  num_threads=1, verbose=-1)
    bst = lgb.train(params, lgb.Dataset(X, y, feature_name=["v%d" % i for i in range(20)]), num_boost_round=100)
    write_gzip(os.path.join(folder, entry["model"]), bst.model_to_string().encode())

    xs, _ = make_classification(n_samples=SAMPLE_ROWS, n_features=20, n_informative=12, n_redundant=2, n_classes=2,
                                n_clusters_per_class=2, random_state=13)
    xs = with_nans(xs.astype(np.float32), 0.03, 14)
    # LightGBM predicts in double from the float32 sample (its default output: probabilities).
    reference = bst.predict(xs.astype(np.float64), num_threads=1)
    save_sample(folder, entry, xs, reference.astype(np.float64))


# --- TMVA: the committed weight-file fixture ---------------------------------------------------------------


def make_tmva(entry, folder):
    src = os.path.join(ROOT, "test", "data", "bdt")
    with open(os.path.join(src, "tmva_bdtg.weights.xml"), "rb") as f:
        write_gzip(os.path.join(folder, entry["model"]), f.read())
    x = np.fromfile(os.path.join(src, "tmva_bdtg.x.f32"), dtype="<f4").reshape(-1, 5)
    reference = np.fromfile(os.path.join(src, "tmva_bdtg.pred.f64"), dtype="<f8").reshape(-1, 1)
    save_sample(folder, entry, x, reference)


# --- graph models: the PyTorch modules of tools/export_gnn.py, exported to portml GNN JSON ------------------

# A few ragged events: an empty one and events with fewer points than k (k = 8 below).
GNN_EVENT_SIZES = [14, 3, 0, 25, 1, 9, 40, 6, 18, 2]
GNN_RTOL, GNN_ATOL = 1e-5, 1e-6


def gnn_clear_knn(m32, m64):
    """kNN of every block gives the same neighbours in float32 and float64, with a relative gap >= 1e-4
    between the k-th and the next squared distance (100 times what float32 rounding of the distances and of
    the features they come from can move them), so rounding cannot change a neighbour set."""
    blocks32 = [m for m in m32.modules() if hasattr(m, "last_knn")]
    blocks64 = [m for m in m64.modules() if hasattr(m, "last_knn")]
    for a, b in zip(blocks32, blocks64):
        if not (a.last_knn[0] == b.last_knn[0]).all():
            return False
        k = a.k - 1 if type(a).__name__ == "GravNetRef" else a.k  # GravNet's slot 0 is the point itself
        for cands in b.last_knn[1]:
            if len(cands) > k > 0 and cands[k] - cands[k - 1] <= 1e-4 * abs(cands[k]) + 1e-7:
                return False
    return True


def make_gnn_model(entry, torch, ex, seed):
    """(model, x [N, inputs], offsets, float32 reference) for the first seed from `seed` with a clear kNN."""
    import copy

    offsets = torch.tensor(np.concatenate([[0], np.cumsum(GNN_EVENT_SIZES)]), dtype=torch.int64)
    n = int(offsets[-1])
    for attempt in range(200):
        torch.manual_seed(seed + attempt)
        g = torch.Generator().manual_seed(seed + attempt)
        if entry["name"] == "particlenet":
            model = ex.ParticleNetRef(points=2, features=5, conv_params=((8, (16, 16)), (8, (24, 24)), (8, (32, 32))),
                                      head=(32,), classes=4)
            points = torch.randn(n, 2, generator=g)  # eta, phi-like coordinates of the particles
            x = torch.cat([points, torch.randn(n, 5, generator=g)], 1)

            def forward(m, dt, x=x):
                return m(x[:, :2].to(dt), x[:, 2:].to(dt), offsets)
        else:
            model = ex.GravNetModelRef(features=6, blocks=((8, 3, 12, 24, "pyg"), (8, 3, 12, 24, "cms")), head=(16,),
                                       outputs=3)
            with torch.no_grad():  # a learned space of a moderate scale, so that the weights exp(-c d^2) vary
                for b in model.blocks:
                    b.lin_s.weight.mul_(0.5)
            x = torch.randn(n, 6, generator=g)

            def forward(m, dt, x=x):
                return m(x.to(dt), offsets)
        ex.randomise_batchnorms(model, g)
        m64 = copy.deepcopy(model).double()
        with torch.no_grad():
            y32 = forward(model, torch.float32)
            y64 = forward(m64, torch.float64)
        if gnn_clear_knn(model, m64):
            break
    else:
        raise RuntimeError(entry["name"] + ": no seed with a clear kNN margin")
    worst = float(((y32.double() - y64).abs() / (GNN_ATOL + GNN_RTOL * y64.abs())).max())
    assert worst <= 0.5, "%s: PyTorch float32 uses %.2f of the tolerance" % (entry["name"], worst)
    print("%-14s PyTorch float32 vs float64: %.3f of the tolerance (seed %d)" % (entry["name"], worst, seed + attempt))
    return model, x, offsets, y32


def make_gnn(entry, folder):
    import torch

    sys.path.insert(0, os.path.join(ROOT, "tools"))
    sys.dont_write_bytecode = True
    import export_gnn as ex

    torch.set_num_threads(1)
    model, x, offsets, reference = make_gnn_model(entry, torch, ex, 20261201)
    doc = ex.export_particlenet(model) if entry["name"] == "particlenet" else ex.export_gravnet(model)
    path = os.path.join(folder, entry["model"])
    ex.save(doc, path)
    assert os.path.getsize(path) < 200_000, path
    # The input: x (float32 node rows: ParticleNet's 2 point coordinates then its 5 features) and offsets.
    np.savez(os.path.join(folder, entry["input"]), x=x.numpy().astype(np.float32), offsets=offsets.numpy())
    np.save(os.path.join(folder, entry["reference"]), np.ascontiguousarray(reference.numpy().astype(np.float32)))
    print("%-14s %s  (%d events, %d nodes x %d inputs -> %d rows x %d outputs, %d bytes)" % (
        entry["name"], path, len(GNN_EVENT_SIZES), x.shape[0], x.shape[1], reference.shape[0], reference.shape[1],
        os.path.getsize(path)))


MAKERS = {"mlp": make_mlp, "xgb": make_xgb, "lgb": make_lgb, "tmva": make_tmva, "gnn": make_gnn}


def main():
    if len(sys.argv) not in (2, 3) or sys.argv[1] not in MAKERS:
        sys.exit("usage: make_zoo.py {%s} [BUILD_DIR]" % ",".join(MAKERS))
    part = sys.argv[1]
    build_dir = sys.argv[2] if len(sys.argv) == 3 else None
    for entry in zoo_entries(part):
        if build_dir is None and entry["where"] == "models":
            MAKERS[part](entry, HERE)
        elif build_dir is not None and entry["where"] == "build":
            os.makedirs(build_dir, exist_ok=True)
            if all(os.path.exists(os.path.join(build_dir, entry[k])) for k in ("model", "input", "reference")):
                continue
            MAKERS[part](entry, build_dir)


if __name__ == "__main__":
    main()
