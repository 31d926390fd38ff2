// SPDX-License-Identifier: Apache-2.0
//! \file
//! Reader of the graph fixtures made by test/data/gnn/make_fixtures.py: named arrays in a text file
//! ("<name> <i|f> <rank> <extents...>" then the values), turned into host tensors.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <portml/core/tensor.hpp>

namespace portml::test {

//! One named array of a fixture: its extents and values (as double; ints and float32 are exact).
struct FixtureArray {
  std::vector<index_t> shape;
  std::vector<double> values;
};

class Fixture {
 public:
  explicit Fixture(const std::string& name) {
    const std::string path = std::string(PORTML_GNN_FIXTURES) + "/" + name;
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open fixture " + path);
    std::string header;
    while (std::getline(in, header)) {
      if (header.empty()) continue;
      std::istringstream h(header);
      std::string key, kind;
      std::size_t rank = 0;
      h >> key >> kind >> rank;
      FixtureArray a;
      index_t count = 1;
      for (std::size_t d = 0; d < rank; ++d) {
        index_t e = 0;
        h >> e;
        a.shape.push_back(e);
        count *= e;
      }
      std::string line;
      std::getline(in, line);
      std::istringstream v(line);
      std::string tok;
      while (v >> tok) a.values.push_back(std::strtod(tok.c_str(), nullptr));
      if (static_cast<index_t>(a.values.size()) != count) throw std::runtime_error(path + ": bad array " + key);
      arrays_[key] = std::move(a);
    }
  }

  const FixtureArray& at(const std::string& key) const {
    const auto it = arrays_.find(key);
    if (it == arrays_.end()) throw std::runtime_error("fixture has no array " + key);
    return it->second;
  }
  double scalar(const std::string& key) const { return at(key).values.at(0); }

  //! The array as a host tensor of rank R and element type T.
  template <class T, std::size_t R>
  Tensor<T, R> tensor(const std::string& key) const {
    const FixtureArray& a = at(key);
    if (a.shape.size() != R) throw std::runtime_error("fixture array " + key + " has another rank");
    Extents<R> e{};
    for (std::size_t d = 0; d < R; ++d) e[d] = a.shape[d];
    Tensor<T, R> t(e);
    for (std::size_t i = 0; i < a.values.size(); ++i) t.data()[i] = static_cast<T>(a.values[i]);
    return t;
  }

 private:
  std::map<std::string, FixtureArray> arrays_;
};

}  // namespace portml::test
