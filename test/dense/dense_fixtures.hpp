// SPDX-License-Identifier: Apache-2.0
// The committed dense-layer fixtures (test/data/dense, made by make_fixtures.py and make_ort_refs.py):
// their paths, and the tables of their .ref.json files as double tensors.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include <portml/core/tensor.hpp>

#ifndef PORTML_DENSE_DATA_DIR
#error "PORTML_DENSE_DATA_DIR must name test/data/dense"
#endif

namespace portml::test {

//! The path of a file in test/data/dense.
inline std::string fixture(const std::string& name) { return std::string(PORTML_DENSE_DATA_DIR) + "/" + name; }

//! A JSON array of rows (each an array of numbers, all of one length) as a [rows, columns] tensor.
inline Tensor<double, 2> matrix(const nlohmann::json& rows) {
  Tensor<double, 2> t({static_cast<index_t>(rows.size()), static_cast<index_t>(rows.at(0).size())});
  for (index_t i = 0; i < t.extent(0); ++i)
    for (index_t j = 0; j < t.extent(1); ++j) t(i, j) = rows.at(i).at(j).get<double>();
  return t;
}

}  // namespace portml::test
