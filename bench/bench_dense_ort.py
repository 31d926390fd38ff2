#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""ONNX Runtime on the MLP shapes of bench_dense.cpp (Gemm + Relu graphs built with onnx.helper, the same
sizes, one intra-op thread, inputs/outputs bound once with IOBinding), plus an Identity model whose
per-call time is the runtime's fixed overhead. Writes JSON read by dense_report.py. Needs
`pip install onnx onnxruntime` for the python3 that runs it. Usage: bench_dense_ort.py out.json"""
import json
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

NETS = {"mlp64": [64, 256, 256, 128, 10], "deepjet_head": [650, 200, 100, 100, 100, 6], "l1_jet": [16, 64, 32, 32, 5],
        "fixed_cost_5x1": [1, 1, 1, 1, 1, 1]}
BATCHES = [1, 2, 4, 8, 16, 64, 256, 4096]


def mlp_model(widths):
    rng = np.random.default_rng(7)
    nodes, inits, cur = [], [], "x"
    for l in range(len(widths) - 1):
        k, n = widths[l], widths[l + 1]
        w = rng.uniform(-1 / np.sqrt(k), 1 / np.sqrt(k), (n, k)).astype(np.float32)
        b = rng.uniform(-1 / np.sqrt(k), 1 / np.sqrt(k), n).astype(np.float32)
        inits += [helper.make_tensor("w%d" % l, TensorProto.FLOAT, w.shape, w.ravel()),
                  helper.make_tensor("b%d" % l, TensorProto.FLOAT, b.shape, b)]
        out = "h%d" % l if l + 2 < len(widths) else "y"
        nodes.append(helper.make_node("Gemm", [cur, "w%d" % l, "b%d" % l], [out + ("_pre" if out != "y" else "")],
                                      transB=1))
        if out != "y":
            nodes.append(helper.make_node("Relu", [out + "_pre"], [out]))
        cur = out
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", widths[0]])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", widths[-1]])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def identity_model(width):
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "id",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", width])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", width])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def session(model):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def seconds_per_call(sess, width_in, width_out, batch, min_time=0.05, reps=3):
    x = np.random.default_rng(9).uniform(-1, 1, (batch, width_in)).astype(np.float32)
    y = np.empty((batch, width_out), dtype=np.float32)
    io = sess.io_binding()
    io.bind_cpu_input("x", x)
    io.bind_output("y", "cpu", 0, np.float32, list(y.shape), y.ctypes.data)
    sess.run_with_iobinding(io)
    medians = []
    for _ in range(reps):
        n, start = 0, time.thread_time()
        while time.thread_time() - start < min_time:
            sess.run_with_iobinding(io)
            n += 1
        medians.append((time.thread_time() - start) / n)
    return float(np.median(medians))


def main():
    out = {"onnxruntime_version": ort.__version__, "threads": 1, "results": {}}
    for name, widths in NETS.items():
        mlp, ident = session(mlp_model(widths)), session(identity_model(widths[0]))
        for batch in BATCHES:
            if (batch == 4096 and name == "l1_jet") or (batch != 1 and name == "fixed_cost_5x1"):
                continue
            t = seconds_per_call(mlp, widths[0], widths[-1], batch)
            overhead = seconds_per_call(ident, widths[0], widths[0], batch)
            out["results"]["%s/%d" % (name, batch)] = {"s_per_call": t, "identity_s_per_call": overhead}
    with open(sys.argv[1], "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
