#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Generates the BDT test fixtures with the real trainers: small models, test inputs and the trainer's own
predictions. The fixtures are committed; the tests never need this script, a trainer or the network.

Run from the repository root, once per trainer family (each appends its entries to manifest.json):

    /usr/bin/python3 test/data/bdt/make_fixtures.py xgb17            # Debian python3-xgboost 1.7, python3-sklearn
    VENV/bin/python test/data/bdt/make_fixtures.py pypi               # PyPI xgboost 3.x and lightgbm 4.x
    VENV/bin/python test/data/bdt/make_fixtures.py lgb-categorical    # only the LightGBM categorical ones
    VENV/bin/python test/data/bdt/make_fixtures.py lgb-missing-split  # only the `x <= inf` one
    /usr/bin/python3 test/data/bdt/make_fixtures.py xgb-categorical   # only the XGBoost categorical ones (1.7)
    VENV/bin/python test/data/bdt/make_fixtures.py xgb-categorical    # the same with XGBoost 3.x

Per fixture NAME: NAME.json[.gz] / NAME.txt (the model), NAME.x.f32 (rows x features, row-major float32),
NAME.margin.f32|f64 (the trainer's raw margins) and NAME.pred.f32|f64 (its transformed prediction).
The inputs mix random rows, NaNs, and feature values placed exactly at split thresholds and one float32
ulp on either side of them.
"""
import gzip
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def make_data(seed, n, nf, nan_fraction=0.0, classes=2, regression=False):
    from sklearn.datasets import make_classification, make_regression
    if regression:
        X, y = make_regression(n_samples=n, n_features=nf, n_informative=max(2, nf // 2), noise=5.0, random_state=seed)
    else:
        X, y = make_classification(n_samples=n, n_features=nf, n_informative=max(2, nf // 2),
                                   n_redundant=min(2, nf // 4), n_classes=classes, n_clusters_per_class=1,
                                   random_state=seed)
    X = X.astype(np.float32)
    if nan_fraction > 0:
        rng = np.random.default_rng(seed + 1)
        X[rng.random(X.shape) < nan_fraction] = np.nan
    return X, y


def threshold_rows(thresholds, nf, n, seed):
    """Rows whose features sit exactly on a split threshold of that feature or one float32 ulp away."""
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(n, nf)).astype(np.float32)
    for f in range(nf):
        ts = np.array(sorted(thresholds.get(f, [])), dtype=np.float64)
        if len(ts) == 0:
            continue
        pick = ts[rng.integers(0, len(ts), size=n)]
        t32 = pick.astype(np.float32)
        # move the float32 value to the float32 neighbours of the (possibly double) threshold
        below = np.nextafter(t32, np.float32(-np.inf))
        above = np.nextafter(t32, np.float32(np.inf))
        choice = rng.integers(0, 3, size=n)
        vals = np.where(choice == 0, below, np.where(choice == 1, t32, above)).astype(np.float32)
        use = rng.random(n) < 0.7
        rows[use, f] = vals[use]
    return rows


def test_inputs(X_pool, thresholds, nf, seed, n_random=120, n_thr=120, nan_fraction=0.1):
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(X_pool), size=n_random, replace=False)
    xr = X_pool[idx].copy()
    xr[rng.random(xr.shape) < nan_fraction] = np.nan
    xt = threshold_rows(thresholds, nf, n_thr, seed + 7)
    xt[rng.random(xt.shape) < nan_fraction / 2] = np.nan
    return np.ascontiguousarray(np.vstack([xr, xt]).astype(np.float32))


def xgb_thresholds(booster):
    model = json.loads(booster.save_raw("json").decode() if hasattr(booster, "save_raw") else "")
    out = {}
    for tree in model["learner"]["gradient_booster"]["model"]["trees"]:
        for l, f, c in zip(tree["left_children"], tree["split_indices"], tree["split_conditions"]):
            if l != -1:
                out.setdefault(int(f), set()).add(float(c))
    return out


def write(name, arr, dtype):
    np.ascontiguousarray(arr, dtype=dtype).tofile(os.path.join(HERE, name))


class Manifest:
    def __init__(self):
        self.path = os.path.join(HERE, "manifest.json")
        self.entries = json.load(open(self.path))["fixtures"] if os.path.exists(self.path) else []

    def add(self, entry):
        self.entries = [e for e in self.entries if e["name"] != entry["name"]] + [entry]
        self.entries.sort(key=lambda e: e["name"])
        with open(self.path, "w") as f:
            json.dump({"fixtures": self.entries}, f, indent=1)
            f.write("\n")


def save_xgb(manifest, name, booster, X, objective, trainer, gz=False, feature_names=None):
    import xgboost as xgb
    path = os.path.join(HERE, name + ".json")
    booster.save_model(path)
    if name.endswith(("_binary", "_softprob", "_regression")):
        booster.save_model(os.path.join(HERE, name + ".ubj"))  # the same model as UBJSON
    model_file = name + ".json"
    if gz:
        data = open(path, "rb").read()
        os.remove(path)
        with gzip.GzipFile(path + ".gz", "wb", mtime=0) as f:
            f.write(data)
        model_file += ".gz"
    dm = xgb.DMatrix(X, missing=np.nan, feature_names=feature_names)
    margin = booster.predict(dm, output_margin=True).astype(np.float32)
    pred = booster.predict(dm).astype(np.float32)
    n = X.shape[0]
    margin = margin.reshape(n, -1)
    pred = pred.reshape(n, -1)
    write(name + ".x.f32", X, np.float32)
    write(name + ".margin.f32", margin, np.float32)
    write(name + ".pred.f32", pred, np.float32)
    cfg = json.loads(booster.save_config())
    manifest.add({"name": name, "format": "xgboost-json", "model": model_file, "trainer": trainer,
                  "objective": objective, "rows": n, "features": X.shape[1], "outputs": margin.shape[1],
                  "prediction_width": pred.shape[1], "precision": "float32",
                  "base_score": cfg["learner"]["learner_model_param"]["base_score"]})


def xgb_models(manifest, trainer):
    import xgboost as xgb
    major = int(xgb.__version__.split(".")[0])
    prefix = "xgb%d" % major

    def train(params, X, y, rounds, names=None):
        dtrain = xgb.DMatrix(X, label=y, missing=np.nan, feature_names=names)
        p = dict(params, seed=7, nthread=1, tree_method="hist")
        return xgb.train(p, dtrain, num_boost_round=rounds)

    # binary:logistic, NaNs in training, default base_score (0.5 in 1.x, fitted intercept in >= 2.0)
    X, y = make_data(11, 2000, 10, nan_fraction=0.1)
    names = ["f_%s" % c for c in "abcdefghij"]
    b = train({"objective": "binary:logistic", "max_depth": 3, "eta": 0.3}, X, y, 20, names)
    save_xgb(manifest, prefix + "_binary", b, test_inputs(X, xgb_thresholds(b), 10, 21), "binary:logistic", trainer,
             feature_names=names)
    # binary:logistic with an explicit base_score != 0.5, logitraw
    b = train({"objective": "binary:logistic", "max_depth": 4, "eta": 0.2, "base_score": 0.3}, X, y, 15)
    save_xgb(manifest, prefix + "_binary_base03", b, test_inputs(X, xgb_thresholds(b), 10, 22), "binary:logistic",
             trainer)
    b = train({"objective": "binary:logitraw", "max_depth": 2, "eta": 0.3, "base_score": 0.7}, X, y, 10)
    save_xgb(manifest, prefix + "_logitraw", b, test_inputs(X, xgb_thresholds(b), 10, 23), "binary:logitraw", trainer)
    # regression with NaNs, depth 5, explicit base_score and fitted/default base_score
    Xr, yr = make_data(12, 2000, 8, nan_fraction=0.05, regression=True)
    b = train({"objective": "reg:squarederror", "max_depth": 5, "eta": 0.1, "base_score": 3.25}, Xr, yr, 30)
    save_xgb(manifest, prefix + "_regression", b, test_inputs(Xr, xgb_thresholds(b), 8, 24), "reg:squarederror",
             trainer)
    b = train({"objective": "reg:squarederror", "max_depth": 1, "eta": 0.5}, Xr, yr, 1)
    save_xgb(manifest, prefix + "_stump", b, test_inputs(Xr, xgb_thresholds(b), 8, 25), "reg:squarederror", trainer)
    # reg:logistic on labels in [0, 1]
    yl = (yr - yr.min()) / (yr.max() - yr.min())
    b = train({"objective": "reg:logistic", "max_depth": 3, "eta": 0.3}, Xr, yl, 12)
    save_xgb(manifest, prefix + "_reglogistic", b, test_inputs(Xr, xgb_thresholds(b), 8, 26), "reg:logistic", trainer)
    # multiclass: softprob and softmax, 3 classes
    Xm, ym = make_data(13, 2000, 6, nan_fraction=0.05, classes=3)
    b = train({"objective": "multi:softprob", "num_class": 3, "max_depth": 4, "eta": 0.3}, Xm, ym, 10)
    save_xgb(manifest, prefix + "_softprob", b, test_inputs(Xm, xgb_thresholds(b), 6, 27), "multi:softprob", trainer)
    b = train({"objective": "multi:softmax", "num_class": 3, "max_depth": 3, "eta": 0.3}, Xm, ym, 8)
    save_xgb(manifest, prefix + "_softmax", b, test_inputs(Xm, xgb_thresholds(b), 6, 28), "multi:softmax", trainer)
    # ranking: margins are the scores
    qid = np.repeat(np.arange(100), 20)
    dtrain = xgb.DMatrix(X, label=(y + (X[:, 0] > 0)).astype(np.float32), missing=np.nan)
    dtrain.set_group(np.full(100, 20))
    b = xgb.train({"objective": "rank:pairwise", "max_depth": 3, "eta": 0.3, "seed": 7, "nthread": 1,
                   "tree_method": "hist"}, dtrain, num_boost_round=10)
    del qid
    save_xgb(manifest, prefix + "_rank", b, test_inputs(X, xgb_thresholds(b), 10, 29), "rank:pairwise", trainer)
    # deep forest on data with NaNs (sparse layout): depth 10, gzip
    Xd, yd = make_data(14, 4000, 12, nan_fraction=0.08)
    b = train({"objective": "binary:logistic", "max_depth": 10, "eta": 0.2, "min_child_weight": 0}, Xd, yd, 12)
    save_xgb(manifest, prefix + "_deep", b, test_inputs(Xd, xgb_thresholds(b), 12, 30), "binary:logistic", trainer,
             gz=True)
    # many shallow trees: 1000 trees of depth 2, gzip
    b = train({"objective": "binary:logistic", "max_depth": 2, "eta": 0.05}, X, y, 1000)
    save_xgb(manifest, prefix + "_many", b, test_inputs(X, xgb_thresholds(b), 10, 31, n_random=60, n_thr=60),
             "binary:logistic", trainer, gz=True)
    xgb_categorical_models(manifest, trainer)


def xgb_categorical_rows(X_pool, cat_features, n_categories, seed, n=200):
    """Test rows for XGBoost categorical splits: random rows, then on the categorical columns every
    value XGBoost's categorical decision (common::Decision) distinguishes: NaN (the default child),
    negatives (-0.5 is invalid, not category 0; -0 is category 0), fractions (2.5 is category 2),
    float32 neighbours of the integers, unseen categories, 2^24 - 1, 2^24 (the first invalid value) and
    beyond. No infinities: XGBoost's DMatrix rejects them."""
    rng = np.random.default_rng(seed)
    rows = X_pool[rng.choice(len(X_pool), size=n, replace=False)].copy()
    rows[rng.random(rows.shape) < 0.05] = np.nan
    f32 = np.float32
    specials = [np.nan, -1.5, -1.0, -0.5, np.nextafter(f32(0), f32(-1)), -0.0, 0.0, 0.25, 0.5, 2.5, 2.7,
                n_categories + 5, 1000.0, 16777215.0, 16777216.0, 16777218.0, 3e9, 1e10, -1e10]
    for c in range(n_categories + 2):
        specials += [c, np.nextafter(f32(c), f32(-np.inf)), np.nextafter(f32(c), f32(np.inf)), c + 0.5]
    specials = np.array(specials, dtype=np.float32)
    for f in cat_features:
        pick = rng.random(n) < 0.7
        rows[pick, f] = specials[rng.integers(0, len(specials), size=pick.sum())]
    # every special value at least once in each categorical column
    for f in cat_features:
        rows[:len(specials), f] = specials
    return np.ascontiguousarray(rows.astype(np.float32))


def xgb_categorical_models(manifest, trainer):
    """XGBoost categorical splits (enable_categorical, feature_types 'c', tree_method hist): one-hot
    splits (features with fewer categories than max_cat_to_onehot) and partition splits, NaN in the
    categorical columns during training, binary and multiclass. Saved as JSON and UBJSON; margins and
    predictions from XGBoost itself on a DMatrix with the same feature types."""
    import xgboost as xgb
    prefix = "xgb%d" % int(xgb.__version__.split(".")[0])

    def train(params, X, y, types, rounds):
        dtrain = xgb.DMatrix(X, label=y, missing=np.nan, feature_types=types, enable_categorical=True)
        p = dict(params, seed=7, nthread=1, tree_method="hist")
        return xgb.train(p, dtrain, num_boost_round=rounds)

    def save(name, booster, rows, types, objective):
        booster.save_model(os.path.join(HERE, name + ".json"))
        booster.save_model(os.path.join(HERE, name + ".ubj"))
        dm = xgb.DMatrix(rows, missing=np.nan, feature_types=types, enable_categorical=True)
        n = len(rows)
        margin = booster.predict(dm, output_margin=True).astype(np.float32).reshape(n, -1)
        pred = booster.predict(dm).astype(np.float32).reshape(n, -1)
        model = json.loads(booster.save_raw("json"))
        kinds = set()
        for tree in model["learner"]["gradient_booster"]["model"]["trees"]:
            kinds |= {"onehot" if s == 1 else "partition" for s in tree["categories_sizes"]}
        assert kinds == {"onehot", "partition"}, (name, kinds)
        write(name + ".x.f32", rows, np.float32)
        write(name + ".margin.f32", margin, np.float32)
        write(name + ".pred.f32", pred, np.float32)
        cfg = json.loads(booster.save_config())
        manifest.add({"name": name, "format": "xgboost-json", "model": name + ".json", "trainer": trainer,
                      "objective": objective, "rows": n, "features": rows.shape[1], "outputs": margin.shape[1],
                      "prediction_width": pred.shape[1], "precision": "float32",
                      "base_score": cfg["learner"]["learner_model_param"]["base_score"]})

    # binary: feature 1 with 12 categories (partition splits), feature 3 with 3 (one-hot), NaN in both
    X, y = make_data(61, 2000, 5, nan_fraction=0.05)
    rng = np.random.default_rng(62)
    X[:, 1] = rng.integers(0, 12, size=len(X))
    X[:, 3] = rng.integers(0, 3, size=len(X))
    X[rng.random(len(X)) < 0.05, 1] = np.nan
    X[rng.random(len(X)) < 0.05, 3] = np.nan
    y = (np.isin(X[:, 1], [1, 4, 6, 9]) ^ (X[:, 3] == 2) ^ (X[:, 0] > 0.5)).astype(int)
    types = ["q", "c", "q", "c", "q"]
    b = train({"objective": "binary:logistic", "max_depth": 3, "eta": 0.3, "max_cat_to_onehot": 4}, X, y, types, 5)
    save(prefix + "_categorical", b, xgb_categorical_rows(X, [1, 3], 12, 63), types, "binary:logistic")
    # multiclass: feature 0 with 40 categories (two bitset words), feature 2 with 2 (one-hot)
    Xm, ym = make_data(64, 3000, 4, nan_fraction=0.05, classes=3)
    rng = np.random.default_rng(65)
    Xm[:, 0] = rng.integers(0, 40, size=len(Xm))
    Xm[:, 2] = rng.integers(0, 2, size=len(Xm))
    Xm[rng.random(len(Xm)) < 0.04, 0] = np.nan
    ym = (ym + (Xm[:, 0] % 7 < 3) + (Xm[:, 2] == 1)) % 3
    types = ["c", "q", "c", "q"]
    b = train({"objective": "multi:softprob", "num_class": 3, "max_depth": 3, "eta": 0.3, "max_cat_to_onehot": 3},
              Xm, ym, types, 3)
    save(prefix + "_categorical_multiclass", b, xgb_categorical_rows(Xm, [0, 2], 40, 66), types, "multi:softprob")


def lgb_models(manifest, trainer):
    import lightgbm as lgb

    def save(name, booster, X, objective):
        path = os.path.join(HERE, name + ".txt")
        booster.save_model(path)
        margin = np.asarray(booster.predict(X.astype(np.float64), raw_score=True), dtype=np.float64).reshape(len(X), -1)
        pred = np.asarray(booster.predict(X.astype(np.float64)), dtype=np.float64).reshape(len(X), -1)
        write(name + ".x.f32", X, np.float32)
        write(name + ".margin.f64", margin, np.float64)
        write(name + ".pred.f64", pred, np.float64)
        manifest.add({"name": name, "format": "lightgbm-text", "model": name + ".txt", "trainer": trainer,
                      "objective": objective, "rows": len(X), "features": X.shape[1], "outputs": margin.shape[1],
                      "prediction_width": pred.shape[1], "precision": "float64"})

    def thresholds(booster):
        out = {}
        for tree in booster.dump_model()["tree_info"]:
            stack = [tree["tree_structure"]]
            while stack:
                node = stack.pop()
                if "split_feature" in node:
                    out.setdefault(int(node["split_feature"]), set()).add(float(node["threshold"]))
                    stack += [node["left_child"], node["right_child"]]
        return out

    common = {"verbose": -1, "seed": 7, "num_threads": 1, "deterministic": True}
    X, y = make_data(21, 2000, 10, nan_fraction=0.1)
    b = lgb.train(dict(common, objective="binary", num_leaves=15, learning_rate=0.2),
                  lgb.Dataset(X, y, feature_name=["v%d" % i for i in range(10)]), num_boost_round=20)
    save("lgb_binary", b, test_inputs(X, thresholds(b), 10, 41), "binary")
    Xr, yr = make_data(22, 2000, 8, nan_fraction=0.05, regression=True)
    b = lgb.train(dict(common, objective="regression", num_leaves=31, learning_rate=0.1, use_missing=False),
                  lgb.Dataset(Xr, yr), num_boost_round=25)
    save("lgb_regression_nomissing", b, test_inputs(Xr, thresholds(b), 8, 42), "regression")
    Xz = Xr.copy()
    Xz[np.abs(Xz) < 0.3] = 0.0
    b = lgb.train(dict(common, objective="regression", num_leaves=8, learning_rate=0.1, zero_as_missing=True),
                  lgb.Dataset(Xz, yr), num_boost_round=10)
    save("lgb_zero_as_missing", b, test_inputs(Xz, thresholds(b), 8, 43), "regression")
    Xm, ym = make_data(23, 2000, 6, nan_fraction=0.05, classes=3)
    b = lgb.train(dict(common, objective="multiclass", num_class=3, num_leaves=8, learning_rate=0.2),
                  lgb.Dataset(Xm, ym), num_boost_round=10)
    save("lgb_multiclass", b, test_inputs(Xm, thresholds(b), 6, 44), "multiclass")
    lgb_categorical_models(manifest, trainer)


def categorical_rows(X_pool, cat_features, n_categories, seed, n=240):
    """Test rows for categorical splits: random rows, then every special value LightGBM's
    CategoricalDecision distinguishes on the categorical columns: NaN, negatives (int() truncates
    -0.5 to category 0, -1 is negative), fractions (2.7 is category 2), values one float32 ulp around
    the integers and around -1, categories outside the bitset, huge values and infinities."""
    rng = np.random.default_rng(seed)
    rows = X_pool[rng.choice(len(X_pool), size=n, replace=False)].copy()
    rows[rng.random(rows.shape) < 0.05] = np.nan
    f32 = np.float32
    specials = [np.nan, -np.inf, np.inf, -1.5, -1.0, np.nextafter(f32(-1), f32(0)), -0.5, -0.0, 0.0, 0.25,
                np.nextafter(f32(1), f32(0)), 2.7, 1e10, -1e10, 3e9, n_categories + 5, 1000.0]
    for c in range(n_categories + 2):
        specials += [c, np.nextafter(f32(c), f32(-np.inf)), np.nextafter(f32(c), f32(np.inf))]
    specials = np.array(specials, dtype=np.float32)
    for f in cat_features:
        pick = rng.random(n) < 0.6
        rows[pick, f] = specials[rng.integers(0, len(specials), size=pick.sum())]
    return np.ascontiguousarray(rows.astype(np.float32))


def lgb_categorical_models(manifest, trainer):
    """LightGBM categorical splits (decision_type bit 0): models with their inputs and LightGBM's own
    margins and predictions."""
    import lightgbm as lgb

    common = {"verbose": -1, "seed": 7, "num_threads": 1, "deterministic": True}
    X, y = make_data(21, 2000, 10, nan_fraction=0.1)

    def save(name, booster, rows, objective):
        booster.save_model(os.path.join(HERE, name + ".txt"))
        margin = np.asarray(booster.predict(rows.astype(np.float64), raw_score=True), dtype=np.float64)
        pred = np.asarray(booster.predict(rows.astype(np.float64)), dtype=np.float64)
        margin = margin.reshape(len(rows), -1)
        pred = pred.reshape(len(rows), -1)
        write(name + ".x.f32", rows, np.float32)
        write(name + ".margin.f64", margin, np.float64)
        write(name + ".pred.f64", pred, np.float64)
        manifest.add({"name": name, "format": "lightgbm-text", "model": name + ".txt", "trainer": trainer,
                      "objective": objective, "rows": len(rows), "features": rows.shape[1],
                      "outputs": margin.shape[1], "prediction_width": pred.shape[1], "precision": "float64"})

    # one categorical feature with 8 categories (one bitset word), binary
    Xc = X.copy()
    rng = np.random.default_rng(5)
    Xc[:, 3] = rng.integers(0, 8, size=len(Xc))
    yc = np.isin(Xc[:, 3], [1, 4, 6]).astype(int) ^ (rng.random(len(Xc)) < 0.1)
    b = lgb.train(dict(common, objective="binary", num_leaves=8, learning_rate=0.2, min_data_per_group=5,
                       cat_smooth=1.0), lgb.Dataset(Xc, yc, feature_name=["v%d" % i for i in range(10)],
                                                    categorical_feature=[3]), num_boost_round=5)
    save("lgb_categorical", b, categorical_rows(Xc, [3], 8, 51), "binary")
    # two categorical features, one with 70 categories (three bitset words, category 0 in some sets),
    # NaN in the categorical columns during training, multiclass
    Xm, ym = make_data(23, 3000, 6, nan_fraction=0.05, classes=3)
    rng = np.random.default_rng(6)
    Xm[:, 1] = rng.integers(0, 70, size=len(Xm))
    Xm[:, 4] = rng.integers(0, 5, size=len(Xm))
    Xm[rng.random(len(Xm)) < 0.03, 1] = np.nan
    ym = (ym + (Xm[:, 1] % 7 < 3) + (Xm[:, 4] == 2)) % 3
    b = lgb.train(dict(common, objective="multiclass", num_class=3, num_leaves=12, learning_rate=0.2,
                       min_data_per_group=5, cat_smooth=1.0, max_cat_threshold=64, max_cat_to_onehot=4),
                  lgb.Dataset(Xm, ym, categorical_feature=[1, 4]), num_boost_round=8)
    save("lgb_categorical_multiclass", b, categorical_rows(Xm, [1, 4], 70, 52), "multiclass")


def lgb_missing_split_models(manifest, trainer):
    """A LightGBM model with `threshold=inf` splits: LightGBM's way of separating the missing values
    of a feature from every number (+inf included, `x <= inf`). Rows hit them with NaN, +inf, -inf."""
    import lightgbm as lgb

    common = {"verbose": -1, "seed": 3, "num_threads": 1, "deterministic": True}
    X, y = make_data(31, 3000, 8, nan_fraction=0.3)
    # The label depends on missingness itself, so that separating NaN from every number pays.
    y = (y + np.isnan(X[:, 2]) + np.isnan(X[:, 5])) % 2
    b = lgb.train(dict(common, objective="binary", num_leaves=15, learning_rate=0.2),
                  lgb.Dataset(X, y), num_boost_round=30)
    text = b.model_to_string()
    count = sum(line.count("inf") for line in text.splitlines() if line.startswith("threshold="))
    assert count > 0, "no threshold=inf split: change the seed"
    rng = np.random.default_rng(9)
    rows = X[rng.choice(len(X), size=200, replace=False)].astype(np.float32)
    specials = np.array([np.nan, np.inf, -np.inf, 3e38, -3e38, 0.0], dtype=np.float32)
    pick = rng.random(rows.shape) < 0.3
    rows[pick] = specials[rng.integers(0, len(specials), size=pick.sum())]
    name = "lgb_missing_split"
    b.save_model(os.path.join(HERE, name + ".txt"))
    margin = np.asarray(b.predict(rows.astype(np.float64), raw_score=True), dtype=np.float64).reshape(len(rows), -1)
    pred = np.asarray(b.predict(rows.astype(np.float64)), dtype=np.float64).reshape(len(rows), -1)
    write(name + ".x.f32", rows, np.float32)
    write(name + ".margin.f64", margin, np.float64)
    write(name + ".pred.f64", pred, np.float64)
    manifest.add({"name": name, "format": "lightgbm-text", "model": name + ".txt", "trainer": trainer,
                  "objective": "binary", "rows": len(rows), "features": rows.shape[1], "outputs": margin.shape[1],
                  "prediction_width": pred.shape[1], "precision": "float64"})
    print(name, "threshold=inf splits:", count)


def main():
    which = sys.argv[1] if len(sys.argv) > 1 else "xgb17"
    manifest = Manifest()
    if which == "xgb17":
        import xgboost
        assert xgboost.__version__.startswith("1.7"), xgboost.__version__
        xgb_models(manifest, "xgboost " + xgboost.__version__)
    elif which == "xgb-categorical":  # only the categorical XGBoost fixtures (either version)
        import xgboost
        xgb_categorical_models(manifest, "xgboost " + xgboost.__version__)
    elif which == "lgb-categorical":  # only the categorical LightGBM fixtures
        import lightgbm
        lgb_categorical_models(manifest, "lightgbm " + lightgbm.__version__)
    elif which == "lgb-missing-split":  # only the LightGBM `x <= inf` fixture
        import lightgbm
        lgb_missing_split_models(manifest, "lightgbm " + lightgbm.__version__)
    elif which == "pypi":
        import lightgbm
        import xgboost
        xgb_models(manifest, "xgboost " + xgboost.__version__)
        lgb_models(manifest, "lightgbm " + lightgbm.__version__)
    else:
        sys.exit("usage: make_fixtures.py xgb17|pypi|xgb-categorical|lgb-categorical|lgb-missing-split")


if __name__ == "__main__":
    main()
