#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Adds ONNX Runtime's outputs (a second, independent reference) to each <name>.ref.json, running the
<name>.onnx that make_fixtures.py exported. Needs `pip install onnxruntime` for the python3 that runs it
(the tests never need it: the outputs are committed).  Re-run: python3 test/data/dense/make_ort_refs.py"""
import glob
import json
import os

import numpy as np
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))

for ref_path in sorted(glob.glob(os.path.join(HERE, "*.ref.json"))):
    with open(ref_path) as f:
        ref = json.load(f)
    model = os.path.join(HERE, ref["model"] + ".onnx")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    x = np.asarray(ref["inputs"], dtype=np.float32)
    feeds, col = {}, 0
    for name, width in zip(ref["input_names"], ref["input_widths"]):
        feeds[name] = x[:, col:col + width]
        col += width
    (y,) = sess.run(None, feeds)
    ref["output_onnxruntime"] = y.astype(np.float64).tolist()
    ref["onnxruntime_version"] = ort.__version__
    with open(ref_path, "w") as f:
        json.dump(ref, f)
    print(ref["model"], "max |ort - torch| =", float(np.max(np.abs(y - np.asarray(ref["output_float"])))))
