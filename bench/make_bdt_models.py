#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Trains the benchmark models of docs/bdt.md with Debian's XGBoost 1.7 (fixed seeds, synthetic data) and
saves them as XGBoost JSON in OUTDIR, the directory portml_bench_bdt reads ($PORTML_BDT_MODELS):

    /usr/bin/python3 bench/make_bdt_models.py build/bdt-rel/bdt-models

  a_trigger : binary:logistic, 100 trees, depth 3, 20 features
  b_large   : binary:logistic, 1000 trees, depth 6, 50 features
  c_multi   : multi:softprob, 4 classes x 200 rounds (800 trees), depth 5, 30 features
  d_nan     : binary:logistic, 500 trees, depth 10, 40 features, trained on data with 5 % NaNs
(a)-(c) use the parameters of the research note's train_models.py; (d) is the issue's deep model.
"""
import gzip
import os
import sys

import numpy as np
import xgboost as xgb
from sklearn.datasets import make_classification

SPECS = {
    "a_trigger": dict(n_features=20, n_classes=2, rounds=100, depth=3, nan=0.0),
    "b_large": dict(n_features=50, n_classes=2, rounds=1000, depth=6, nan=0.0),
    "c_multi": dict(n_features=30, n_classes=4, rounds=200, depth=5, nan=0.0),
    "d_nan": dict(n_features=40, n_classes=2, rounds=500, depth=10, nan=0.05),
}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, s in SPECS.items():
        path = os.path.join(out, name + ".json.gz")
        if os.path.exists(path):
            continue
        X, y = make_classification(n_samples=50000, n_features=s["n_features"],
                                   n_informative=min(s["n_features"], 15), n_redundant=2,
                                   n_classes=s["n_classes"], n_clusters_per_class=2, random_state=42)
        X = X.astype(np.float32)
        if s["nan"] > 0:
            X[np.random.default_rng(11).random(X.shape) < s["nan"]] = np.nan
        params = dict(max_depth=s["depth"], eta=0.1, tree_method="hist", seed=42, subsample=0.8,
                      colsample_bytree=0.8, nthread=2, objective="binary:logistic")
        if s["n_classes"] > 2:
            params.update(objective="multi:softprob", num_class=s["n_classes"])
        bst = xgb.train(params, xgb.DMatrix(X, label=y, missing=np.nan), num_boost_round=s["rounds"])
        with gzip.open(path, "wb") as f:
            f.write(bst.save_raw("json"))
        print(name, "->", path, flush=True)


if __name__ == "__main__":
    main()
