// SPDX-License-Identifier: Apache-2.0
//! \file
//! The graph primitives of portml (docs/gnn.md): graph construction (knn_graph, knn, radius_graph)
//! and gathers/reductions (gather_rows, ell_reduce, segment_reduce, scatter_reduce, segment_softmax,
//! global_pool), on every backend.
#pragma once

#include <portml/kernels/graph/knn.hpp>
#include <portml/kernels/graph/reduce.hpp>
