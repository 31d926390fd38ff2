#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Compiles the XGBoost models of the BDT benchmark (bench/make_bdt_models.py) to C with tl2cgen and builds one
shared library per model, for portml_bench_bdt's tl2cgen peer:

    pip install tl2cgen==1.0.0 treelite==4.8.1
    python3 bench/peers/make_tl2cgen_libs.py build/bdt-rel/bdt-models [MODEL ...]

writes MODELS/tl2cgen/<model>.so (and tl2cgen/versions.txt, which the benchmark puts in its context); the
benchmark reads MODELS/tl2cgen, or $PORTML_BENCH_TL2CGEN_DIR. tl2cgen's generated code is nested if/else per
tree; it is compiled with tl2cgen's own gcc recipe (-O3 -fPIC -std=c99) plus -march=native, split into
source files of about 50 trees (parallel_comp), with 2 compiler jobs. An existing library is kept.
"""
import gzip
import os
import sys
import tempfile

import tl2cgen
import treelite

MODELS = ("a_trigger", "b_large", "c_multi", "d_nan")
OPTIONS = ["-march=native"]


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    models_dir = sys.argv[1]
    out = os.path.join(models_dir, "tl2cgen")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "versions.txt"), "w") as f:
        f.write(f"tl2cgen {tl2cgen.__version__} treelite {treelite.__version__} gcc -O3 {' '.join(OPTIONS)}\n")
    for name in sys.argv[2:] or MODELS:
        lib = os.path.join(out, name + ".so")
        if os.path.exists(lib):
            continue
        with gzip.open(os.path.join(models_dir, name + ".json.gz"), "rb") as f:
            text = f.read()
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, name + ".json")
            with open(path, "wb") as f:
                f.write(text)
            model = treelite.frontend.load_xgboost_model(path)
        parts = max(1, model.num_tree // 50)
        tl2cgen.export_lib(model, toolchain="gcc", libpath=lib, params={"parallel_comp": parts}, nthread=2,
                           options=OPTIONS)
        print(name, "->", lib, flush=True)


if __name__ == "__main__":
    main()
