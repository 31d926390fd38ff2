#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Times a zoo model in its training framework's own runtime, the way `portml bench` times it: the rows
of the input sample cycled to each batch size, 3 warm-up calls, then the median of 11 repetitions of
back-to-back calls (each repetition about MIN_TIME / 10 seconds of wall time), for each thread count.

    zoo_peers.py PEER MODEL INPUT REFERENCE [--batch 1,16,1024] [--threads 1,2] [--min-time 0.2]

PEER is one of
  onnxruntime  InferenceSession on the .onnx file (CPU provider, intra-op threads = N, inputs and
               outputs bound once with IOBinding; run_with_iobinding per call)
  xgboost      XGBoost's C API XGBoosterPredictFromDense through the xgboost package's own library
               (ctypes; the default prediction, nthread = N), the call C++ code makes
  lightgbm     LightGBM's C API LGBM_BoosterPredictForMat through the lightgbm package's library
               (ctypes; the default prediction, num_threads = N)
Each call through ctypes adds about a microsecond of Python to the peer's time; batch-1 ratios against
these peers are therefore slightly in portml's favour, which the report says.

Before timing, the peer's output on the sample is compared with the reference (the training framework's
output), and the largest difference is recorded. Prints one JSON array of records (model, peer,
peer_version, threads, batch, ns_per_row, rows_per_second, max_abs_diff_vs_reference). Exit status 3
when the peer's Python package is not importable by this interpreter (the caller reports it as not
installed), 2 on a usage error.
"""
import argparse
import ctypes
import gzip
import json
import sys
import time

import numpy as np


def read_bytes(path):
    with open(path, "rb") as f:
        data = f.read()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


class OnnxRuntime:
    module = "onnxruntime"

    def __init__(self, path):
        import onnxruntime as ort
        self.ort = ort
        self.version = "onnxruntime " + ort.__version__
        self.model = read_bytes(path)

    def prepare(self, threads, x):
        ort = self.ort
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        sess = ort.InferenceSession(self.model, opts, providers=["CPUExecutionProvider"])
        name_in, out = sess.get_inputs()[0].name, sess.get_outputs()[0]
        width = out.shape[1]
        y = np.empty((x.shape[0], width), dtype=np.float32)
        binding = sess.io_binding()
        binding.bind_cpu_input(name_in, x)
        binding.bind_output(out.name, "cpu", 0, np.float32, list(y.shape), y.ctypes.data)

        def call():
            sess.run_with_iobinding(binding)
            return y

        return call


class XGBoost:
    module = "xgboost"

    def __init__(self, path):
        import xgboost as xgb
        self.xgb = xgb
        self.version = "xgboost %s C API" % xgb.__version__
        self.raw = bytearray(read_bytes(path))

    def prepare(self, threads, x):
        xgb = self.xgb
        bst = xgb.Booster()
        bst.load_model(self.raw)
        bst.set_param({"nthread": threads})
        lib = xgb.core._LIB
        array = json.dumps({"data": [x.ctypes.data, True], "shape": list(x.shape), "typestr": "<f4",
                            "version": 3}).encode()
        config = json.dumps({"type": 0, "training": False, "iteration_begin": 0, "iteration_end": 0,
                             "strict_shape": False, "cache_id": 0, "missing": float("nan")}).encode()
        shape = ctypes.POINTER(ctypes.c_uint64)()
        dim = ctypes.c_uint64()
        result = ctypes.POINTER(ctypes.c_float)()
        fn, handle = lib.XGBoosterPredictFromDense, bst.handle
        args = (handle, ctypes.c_char_p(array), ctypes.c_char_p(config), None, ctypes.byref(shape),
                ctypes.byref(dim), ctypes.byref(result))

        def call():
            if fn(*args) != 0:
                raise RuntimeError(lib.XGBGetLastError().decode())
            n = int(np.prod([shape[i] for i in range(dim.value)]))
            return np.ctypeslib.as_array(result, shape=(n,)).reshape(x.shape[0], -1)

        call.keep = bst  # the booster lives as long as the call
        return call


class LightGBM:
    module = "lightgbm"

    def __init__(self, path):
        import lightgbm as lgb
        self.lgb = lgb
        self.version = "lightgbm %s C API" % lgb.__version__
        self.text = read_bytes(path).decode()

    def prepare(self, threads, x):
        lgb = self.lgb
        bst = lgb.Booster(model_str=self.text)
        lib = lgb.basic._LIB
        width = bst.num_model_per_iteration()
        y = np.empty((x.shape[0], width), dtype=np.float64)
        out_len = ctypes.c_int64()
        param = ctypes.c_char_p(("num_threads=%d" % threads).encode())
        fn = lib.LGBM_BoosterPredictForMat
        args = (bst._handle, x.ctypes.data_as(ctypes.c_void_p), ctypes.c_int(0), ctypes.c_int32(x.shape[0]),
                ctypes.c_int32(x.shape[1]), ctypes.c_int(1), ctypes.c_int(0), ctypes.c_int(0), ctypes.c_int(-1), param,
                ctypes.byref(out_len), y.ctypes.data_as(ctypes.POINTER(ctypes.c_double)))

        def call():
            if fn(*args) != 0:
                raise RuntimeError(lib.LGBM_GetLastError().decode())
            return y

        call.keep = bst
        return call


PEERS = {p.module: p for p in (OnnxRuntime, XGBoost, LightGBM)}


def seconds_per_call(call, min_time):
    for _ in range(3):
        call()
    t0 = time.perf_counter()
    call()
    once = max(time.perf_counter() - t0, 1e-9)
    calls = max(1, int(min_time / 10 / once))
    reps = []
    for _ in range(11):
        t0 = time.perf_counter()
        for _ in range(calls):
            call()
        reps.append((time.perf_counter() - t0) / calls)
    return float(np.median(reps))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("peer", choices=sorted(PEERS))
    p.add_argument("model")
    p.add_argument("input")
    p.add_argument("reference")
    p.add_argument("--batch", default="1,16,1024")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--min-time", type=float, default=0.2)
    p.add_argument("--name", default=None, help="model name in the records (default: the file)")
    args = p.parse_args()
    try:
        peer = PEERS[args.peer](args.model)
    except ImportError as e:
        print("%s: not installed for %s (%s)" % (args.peer, sys.executable, e), file=sys.stderr)
        return 3
    pool = np.ascontiguousarray(np.load(args.input), dtype=np.float32)
    reference = np.load(args.reference).astype(np.float64)

    # The peer's own output on the sample against the training framework's.
    check = peer.prepare(1, pool)  # kept alive while its output (the peer's own buffer) is read
    got = np.array(check(), dtype=np.float64).reshape(reference.shape)
    diff = np.abs(got - reference)
    both_nan = np.isnan(got) & np.isnan(reference)
    max_diff = float(np.max(np.where(both_nan, 0.0, diff))) if diff.size else 0.0

    records = []
    for threads in [int(t) for t in args.threads.split(",")]:
        for batch in [int(b) for b in args.batch.split(",")]:
            x = np.ascontiguousarray(pool[np.arange(batch) % pool.shape[0]])
            seconds = seconds_per_call(peer.prepare(threads, x), args.min_time)
            records.append({"model": args.name or args.model, "peer": args.peer, "peer_version": peer.version,
                            "threads": threads, "batch": batch, "ns_per_row": seconds * 1e9 / batch,
                            "rows_per_second": batch / seconds, "max_abs_diff_vs_reference": max_diff})
    json.dump(records, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
