#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Trains the benchmark models of docs/bdt.md (fixed seeds, synthetic data) into OUTDIR, the directory
portml_bench_bdt reads ($PORTML_BDT_MODELS). FAMILY is xgboost (the default) and/or lightgbm; each family is
trained with the framework the running interpreter imports:

    /usr/bin/python3 bench/make_bdt_models.py build/bdt-rel/bdt-models            # Debian's XGBoost 1.7
    python3 bench/make_bdt_models.py build/bdt-rel/bdt-models lightgbm             # PyPI lightgbm 4

XGBoost JSON (gzipped):
  a_trigger : binary:logistic, 100 trees, depth 3, 20 features
  b_large   : binary:logistic, 1000 trees, depth 6, 50 features
  c_multi   : multi:softprob, 4 classes x 200 rounds (800 trees), depth 5, 30 features
  d_nan     : binary:logistic, 500 trees, depth 10, 40 features, trained on data with 5 % NaNs
(a)-(c) use the parameters of the research note's train_models.py; (d) is the issue's deep model.
LightGBM text (gzipped), the same shapes and training data as (a)-(c): max_depth and num_leaves = 2^depth:
  lgb_a_trigger, lgb_b_large, lgb_c_multi
"""
import gzip
import os
import sys

import numpy as np
from sklearn.datasets import make_classification

SPECS = {
    "a_trigger": dict(n_features=20, n_classes=2, rounds=100, depth=3, nan=0.0),
    "b_large": dict(n_features=50, n_classes=2, rounds=1000, depth=6, nan=0.0),
    "c_multi": dict(n_features=30, n_classes=4, rounds=200, depth=5, nan=0.0),
    "d_nan": dict(n_features=40, n_classes=2, rounds=500, depth=10, nan=0.05),
}
LIGHTGBM_MODELS = ("a_trigger", "b_large", "c_multi")


def training_data(s):
    X, y = make_classification(n_samples=50000, n_features=s["n_features"], n_informative=min(s["n_features"], 15),
                               n_redundant=2, n_classes=s["n_classes"], n_clusters_per_class=2, random_state=42)
    X = X.astype(np.float32)
    if s["nan"] > 0:
        X[np.random.default_rng(11).random(X.shape) < s["nan"]] = np.nan
    return X, y


def train_xgboost(name, s, path):
    import xgboost as xgb

    X, y = training_data(s)
    params = dict(max_depth=s["depth"], eta=0.1, tree_method="hist", seed=42, subsample=0.8,
                  colsample_bytree=0.8, nthread=2, objective="binary:logistic")
    if s["n_classes"] > 2:
        params.update(objective="multi:softprob", num_class=s["n_classes"])
    bst = xgb.train(params, xgb.DMatrix(X, label=y, missing=np.nan), num_boost_round=s["rounds"])
    with gzip.open(path, "wb") as f:
        f.write(bst.save_raw("json"))


def train_lightgbm(name, s, path):
    import lightgbm as lgb

    X, y = training_data(s)
    params = dict(objective="binary", max_depth=s["depth"], num_leaves=2 ** s["depth"], learning_rate=0.1,
                  bagging_fraction=0.8, bagging_freq=1, feature_fraction=0.8, seed=42, deterministic=True,
                  force_row_wise=True, num_threads=2, verbose=-1)
    if s["n_classes"] > 2:
        params.update(objective="multiclass", num_class=s["n_classes"])
    bst = lgb.train(params, lgb.Dataset(X, y), num_boost_round=s["rounds"])
    with gzip.open(path, "wb") as f:
        f.write(bst.model_to_string().encode())


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    families = sys.argv[2:] or ["xgboost"]
    os.makedirs(out, exist_ok=True)
    jobs = []
    for family in families:
        if family == "xgboost":
            jobs += [(name, name + ".json.gz", train_xgboost) for name in SPECS]
        elif family == "lightgbm":
            jobs += [(name, "lgb_" + name + ".txt.gz", train_lightgbm) for name in LIGHTGBM_MODELS]
        else:
            sys.exit(f"make_bdt_models.py: unknown family {family!r} (xgboost, lightgbm)")
    for name, file, train in jobs:
        path = os.path.join(out, file)
        if os.path.exists(path):
            continue
        train(name, SPECS[name], path)
        print(file, "->", path, flush=True)


if __name__ == "__main__":
    main()
