// SPDX-License-Identifier: Apache-2.0
//! \file
//! What the libtorch peers of the benchmarks share: the thread setting, the label that records what was
//! measured (libtorch version, its BLAS, threads, the agreement check), weights from portml's layer
//! configurations, and the agreement check against portml's output.
#pragma once

#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/Version.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <portml/layers/mlp_config.hpp>

namespace portml_bench::libtorch {

//! Intra-op threads of libtorch (its OpenMP pool), and the same number for the BLAS it calls: libtorch
//! 1.13 does not set OpenBLAS's own pool, which would otherwise start one thread per core. Returns the
//! BLAS threads set ("not set" when the BLAS has no openblas_set_num_threads).
inline std::string set_threads(int threads) {
  torch::set_num_threads(threads);
  using SetThreads = void (*)(int);
  if (auto* set_blas = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    set_blas(threads);
    return std::to_string(threads);
  }
  return "not set";
}

//! "libtorch 1.13.1 blas=open(OpenBLAS core=Haswell) threads=1 blas_threads=1".
inline std::string label(int threads, const std::string& blas_threads) {
  std::string blas = "?";
  const std::string config = at::show_config();
  if (const auto at = config.find("BLAS_INFO="); at != std::string::npos)
    blas = config.substr(at + 10, config.find_first_of(", \n", at + 10) - at - 10);
  using CoreName = char* (*)();
  if (auto* core = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename")))
    blas += std::string("(OpenBLAS core=") + core() + ")";
  return std::string("libtorch ") + TORCH_VERSION + " blas=" + blas + " threads=" + std::to_string(threads) +
         " blas_threads=" + blas_threads;
}

//! A Dense layer's weights as torch::nn::Linear, columns [col, col + cols) of its [out][in] matrix
//! (cols < 0: all), with or without its bias.
inline torch::nn::Linear linear(const portml::layers::LayerConfig& l, portml::index_t col = 0,
                                portml::index_t cols = -1, bool bias = true) {
  if (cols < 0) cols = l.inputs - col;
  torch::nn::Linear lin(torch::nn::LinearOptions(cols, l.outputs).bias(bias));
  const torch::NoGradGuard no_grad;
  std::vector<float> w(static_cast<std::size_t>(l.outputs * cols));
  for (portml::index_t o = 0; o < l.outputs; ++o)
    for (portml::index_t i = 0; i < cols; ++i)
      w[static_cast<std::size_t>(o * cols + i)] =
          static_cast<float>(l.weights[static_cast<std::size_t>(o * l.inputs + col + i)]);
  lin->weight.copy_(torch::from_blob(w.data(), {l.outputs, cols}, torch::kFloat32));
  if (bias) {
    std::vector<float> b(l.bias.begin(), l.bias.end());
    lin->bias.copy_(torch::from_blob(b.data(), {l.outputs}, torch::kFloat32));
  }
  return lin;
}

//! Dense layers as a torch::nn::Sequential of Linear and ReLU (the only activations the cases use).
inline torch::nn::Sequential sequential(const std::vector<portml::layers::LayerConfig>& layers) {
  torch::nn::Sequential seq;
  for (const auto& l : layers) {
    seq->push_back(linear(l));
    if (l.activation.kind == portml::kernels::Activation::Relu) {
      seq->push_back(torch::nn::ReLU());
    } else if (l.activation.kind != portml::kernels::Activation::Linear) {
      throw std::invalid_argument("libtorch peer: layer '" + l.name + "' has an activation other than ReLU or linear");
    }
  }
  return seq;
}

//! Rows of `got` (torch, any shape with rows × cols elements) against portml's `want` [rows][cols]:
//! a row agrees when every element is within atol + rtol·|want|. Returns "check=ok(...)" or
//! "check=MISMATCH(...)" for the label.
inline std::string check(const torch::Tensor& got, const float* want, std::int64_t rows, std::int64_t cols,
                         double tol = 1e-4) {
  const auto g = got.contiguous().to(torch::kFloat32);
  if (g.numel() != rows * cols) return "check=MISMATCH(shape)";
  const float* p = g.data_ptr<float>();
  std::int64_t bad = 0;
  double max_diff = 0;
  for (std::int64_t r = 0; r < rows; ++r) {
    bool ok = true;
    for (std::int64_t c = 0; c < cols; ++c) {
      const double d = std::abs(double(p[r * cols + c]) - double(want[r * cols + c]));
      max_diff = std::max(max_diff, d);
      ok = ok && d <= tol + tol * std::abs(double(want[r * cols + c]));
    }
    bad += ok ? 0 : 1;
  }
  char text[160];
  std::snprintf(text, sizeof text, "check=%s(%lld/%lld rows differ from portml by > %.0e, max|d|=%.1e)",
                bad == 0 ? "ok" : "MISMATCH", static_cast<long long>(bad), static_cast<long long>(rows), tol, max_diff);
  return text;
}

}  // namespace portml_bench::libtorch
