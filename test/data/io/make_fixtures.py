#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# Writes the .npy / .npz / .csv fixtures of test/io/table_test.cpp with NumPy itself, so the readers
# are checked against the format's reference implementation. Run from this folder:
#   /usr/bin/python3 make_fixtures.py
import numpy as np

x = np.array([[1.5, -2.25, np.nan], [3.0e-38, 1.0e30, -0.0], [7.0, 8.125, 9.0]], dtype=np.float32)
np.save("f4_c.npy", x)
np.save("f8_fortran.npy", np.asfortranarray(x.astype(np.float64) * 3.0))
np.save("i8_1d.npy", np.array([0, 2, 2, 5], dtype=np.int64))
np.save("i4_2d.npy", np.array([[1, -2], [3, 4]], dtype=np.int32))
graph_x = np.arange(15, dtype=np.float32).reshape(5, 3) / 4
np.savez("graph.npz", x=graph_x, offsets=np.array([0, 2, 2, 5], dtype=np.int64))
np.savez_compressed("graph_compressed.npz", x=graph_x, offsets=np.array([0, 2, 2, 5], dtype=np.int64))
np.save("u1.npy", np.array([1, 2], dtype=np.uint8))  # an unsupported dtype
