// SPDX-License-Identifier: Apache-2.0
//! \file
//! InputTransform: the input-variable transformations a TMVA weight file carries in <Transformations>
//! (Normalize, Decorrelation, PCA, Rearrange, Gauss and Uniform), which TMVA's Reader applies to every event before the
//! BDT sees it. An InputTransform is immutable and travels with the forest (ForestConfig::input_transform,
//! Forest::input_transform()). The host entry points (predict_margins, predict_margins_row, predict)
//! apply it to the raw inputs they are given, so their results are the Reader's. transform_inputs()
//! and transform_row() apply it alone; a DeviceForest takes inputs transformed this way on the host
//! and says so at construction (bdt::inputs_transformed_by_caller):
//!
//!     const portml::bdt::Forest<double> forest(portml::io::load_tmva_xml("TMVA_BDT.weights.xml"));
//!     portml::bdt::predict(forest, x, out);                                      // x: raw inputs
//!     std::vector<float> work(forest.input_transform().workspace_size());       // once, per thread
//!     portml::bdt::transform_inputs(forest.input_transform(), x, xt, work);       // xt: [n, features]
//!
//! An empty InputTransform (every XGBoost and LightGBM model, TMVA files without transformations)
//! copies its input. Evaluation is `const`, allocation-free and thread-safe (the workspace is the caller's).
//!
//! Arithmetic is TMVA's own, step by step: TMVA keeps an event's values as float32 between steps
//! (Event::SetVal), Normalize computes in float32, Decorrelation and PCA accumulate in double in index
//! order from 0 (TVectorD::operator*=, VariablePCATransform::X2P); every step's results are rounded to
//! float32 like TMVA's. Steps run in file order. Gauss and Uniform evaluate TMVA's cumulative
//! distribution (PDF::GetVal on the 10^4-bin histogram the loader rebuilt) and, for Gauss,
//! ROOT's TMath::ErfInverse iteration, in double (see cumulative_value and root_erf_inverse).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <portml/core/error.hpp>
#include <portml/core/tensor_view.hpp>

namespace portml::bdt {

//! One kind of TMVA input transformation (the XML `<Transform Name=...>`).
enum class InputTransformKind {
  normalize,  //!< "Normalize": y = ((x - min) * scale) * 2 - 1 in float32, scale = float(1.0 / double(max - min))
  linear,     //!< "Decorrelation": y_i = sum_j x_j * matrix[i * n + j], double, j from 0
  pca,        //!< "PCA": y_i = sum_j (double(x_j) - mean[j]) * matrix[j * n + i], double, j from 0
  rearrange,  //!< "Rearrange": y_k = x_k (the selected inputs written to the output features)
  uniform,    //!< "Gauss" with FlatOrGauss="Flat": y = c(x), c the clamped cumulative distribution
  gauss,      //!< "Gauss" (FlatOrGauss="Gauss"): y = 1.414213562 * ErfInverse(clamp(2 c(x) - 1))
};

//! Bins of the fine histogram TMVA's PDF samples its spline into (PDF::fgNbin_PdfHist).
inline constexpr std::size_t tmva_pdf_bins = 10000;

//! One input's cumulative distribution as TMVA's PDF evaluates it: `bins` (tmva_pdf_bins float32
//! contents, a TH1F) equidistant over [xmin, xmax].
struct CumulativePdf {
  double xmin = 0, xmax = 0;
  std::vector<float> bins;
};

//! One step: reads features `inputs[k]` (TMVA's <Selection><Input>), computes n = inputs.size()
//! results and writes result k to feature `outputs[k]` (<Selection><Output>); every other feature
//! passes through unchanged.
struct InputTransformStep {
  InputTransformKind kind = InputTransformKind::rearrange;
  std::string name;                   //!< the file's name of the step, for messages ("Normalize", ...)
  std::vector<std::int32_t> inputs;   //!< feature index read for input k
  std::vector<std::int32_t> outputs;  //!< feature index written with result k
  std::vector<float> min, max;        //!< normalize: per input, as TMVA stores them (float32)
  std::vector<double> mean;           //!< pca: per input
  std::vector<double> matrix;         //!< linear / pca: n x n, row-major (see InputTransformKind)
  std::vector<CumulativePdf> cdf;     //!< gauss / uniform: per input
};

//! TMath::ErfInverse as ROOT computes it (math/mathcore/src/TMath.cxx): a secant iteration on
//! 1 - erfc from sqrt(pi)/2 |x|, stopping when |x - erf| < 1e-14 or the relative step < 1e-14, at most
//! 50 steps (0 if it does not converge or |x| >= 1). ROOT's erf/erfc are Cephes' (ROOT::Math::erf);
//! these are the C library's, which may differ from Cephes' in the last bits.
inline double root_erf_inverse(double x) {
  const double eps = 1e-14;
  const double half_sqrt_pi = 0.8862269254527579;
  const double ax = std::abs(x);
  if (ax <= eps) return half_sqrt_pi * x;
  if (ax < 1.0) {
    double erfi = half_sqrt_pi * ax;
    double y0 = std::erf(0.9 * erfi);
    double step = 0.1 * erfi;
    for (int iter = 0; iter < 50; ++iter) {
      const double y1 = 1.0 - std::erfc(erfi);
      const double dy1 = ax - y1;
      if (std::abs(dy1) < eps) return x < 0 ? -erfi : erfi;
      const double dy0 = y1 - y0;
      step *= dy1 / dy0;
      y0 = y1;
      erfi += step;
      if (std::abs(step / erfi) < eps) return x < 0 ? -erfi : erfi;
    }
  }
  return 0;
}

//! TMVA's PDF::GetVal(x) on the fine histogram (TAxis::FindBin, clamped to [1, nbins]; linear
//! interpolation between the centres of the bin and its neighbour, towards x, the first and last bins
//! extrapolating), then max(., 1e-12) and the Gauss transform's clamp to [1e-9, 1 - 1e-9]. A NaN gives
//! 1e-9 (TMath::Max(NaN, eps) is eps), as in TMVA.
inline double cumulative_value(const CumulativePdf& p, double x) {
  const auto nbins = static_cast<std::int64_t>(p.bins.size());
  std::int64_t bin = 0;
  if (x < p.xmin) {
    bin = 0;
  } else if (!(x < p.xmax)) {
    bin = nbins + 1;
  } else {
    bin = 1 + static_cast<std::int64_t>(static_cast<int>(double(nbins) * (x - p.xmin) / (p.xmax - p.xmin)));
  }
  bin = std::min(std::max(bin, std::int64_t{1}), nbins);
  const double width = (p.xmax - p.xmin) / double(nbins);
  const auto centre = [&](std::int64_t b) { return p.xmin + double(b - 1) * width + 0.5 * width; };
  const auto content = [&](std::int64_t b) { return static_cast<double>(p.bins[static_cast<std::size_t>(b - 1)]); };
  std::int64_t next = bin;
  if ((x > centre(bin) && bin != nbins) || bin == 1) {
    ++next;
  } else {
    --next;
  }
  const double dx = centre(bin) - centre(next);
  const double dy = content(bin) - content(next);
  double c = content(bin) + (x - centre(bin)) * dy / dx;
  c = c >= 1e-12 ? c : 1e-12;                 // TMath::Max(retval, fgEpsilon)
  c = c <= 1. - 10e-10 ? c : 1. - 10e-10;     // TMath::Min(cumulant, 1.-10e-10)
  return c >= 0. + 10e-10 ? c : 0. + 10e-10;  // TMath::Max(cumulant, 0.+10e-10)
}

//! The Gauss transform of a cumulative value c (VariableGaussTransform::Transform).
inline double tmva_gauss_of_cumulant(double c) {
  const double range = 0.99999999;
  double arg = 2.0 * c - 1.0;
  arg = arg <= range ? arg : range;
  arg = arg >= -range ? arg : -range;
  return 1.414213562 * root_erf_inverse(arg);
}

//! An immutable chain of input transformations over `num_features` float32 features.
class InputTransform {
 public:
  //! The identity (no step).
  InputTransform() = default;

  //! Checks and keeps the steps. Throws portml::Error naming the step when an index is outside
  //! [0, num_features), the inputs and outputs differ in number, a parameter array has the wrong
  //! length, or an output feature is written twice by one step.
  InputTransform(std::int32_t num_features, std::vector<InputTransformStep> steps)
      : num_features_(num_features), steps_(std::move(steps)) {
    if (num_features_ < 1 && !steps_.empty()) throw Error("portml::bdt::InputTransform: no features");
    for (std::size_t s = 0; s < steps_.size(); ++s) {
      const InputTransformStep& st = steps_[s];
      const std::string where = "portml::bdt::InputTransform: step " + std::to_string(s) + " (" + st.name + ")";
      const std::size_t n = st.inputs.size();
      if (n == 0) throw Error(where + ": no inputs");
      if (st.outputs.size() != n) {
        throw Error(where + ": " + std::to_string(n) + " inputs but " + std::to_string(st.outputs.size()) + " outputs");
      }
      std::vector<char> written(static_cast<std::size_t>(num_features_), 0);
      for (std::size_t k = 0; k < n; ++k) {
        for (const std::int32_t f : {st.inputs[k], st.outputs[k]}) {
          if (f < 0 || f >= num_features_) {
            throw Error(where + ": feature " + std::to_string(f) + " outside [0, " + std::to_string(num_features_) +
                        ")");
          }
        }
        if (written[static_cast<std::size_t>(st.outputs[k])]++ != 0) {
          throw Error(where + ": feature " + std::to_string(st.outputs[k]) + " written twice");
        }
      }
      const auto expect = [&](std::size_t got, std::size_t want, const char* what) {
        if (got != want) {
          throw Error(where + ": " + std::to_string(got) + " " + what + ", expected " + std::to_string(want));
        }
      };
      switch (st.kind) {
        case InputTransformKind::normalize:
          expect(st.min.size(), n, "minima");
          expect(st.max.size(), n, "maxima");
          break;
        case InputTransformKind::pca:
          expect(st.mean.size(), n, "mean values");
          [[fallthrough]];
        case InputTransformKind::linear:
          expect(st.matrix.size(), n * n, "matrix elements");
          break;
        case InputTransformKind::rearrange:
          break;
        case InputTransformKind::uniform:
        case InputTransformKind::gauss:
          expect(st.cdf.size(), n, "cumulative distributions");
          for (std::size_t k = 0; k < n; ++k) {
            const CumulativePdf& p = st.cdf[k];
            expect(p.bins.size(), tmva_pdf_bins, ("bins in the distribution of input " + std::to_string(k)).c_str());
            if (!(p.xmin < p.xmax) || !std::isfinite(p.xmin) || !std::isfinite(p.xmax)) {
              throw Error(where + ": input " + std::to_string(k) + ": distribution range [" + std::to_string(p.xmin) +
                          ", " + std::to_string(p.xmax) + "] is empty or not finite");
            }
          }
          break;
      }
      if (st.kind == InputTransformKind::normalize) {
        std::vector<float> scale(n);
        for (std::size_t k = 0; k < n; ++k) {
          // TMVA: Float_t scale = 1.0 / (max - min): the difference in float, the quotient in double.
          scale[k] = static_cast<float>(1.0 / static_cast<double>(st.max[k] - st.min[k]));
        }
        scales_.push_back(std::move(scale));
      } else {
        scales_.emplace_back();
      }
      workspace_ = std::max(workspace_, n);
    }
  }

  bool empty() const { return steps_.empty(); }
  //! Features in and out (0 for the identity).
  std::int32_t num_features() const { return num_features_; }
  const std::vector<InputTransformStep>& steps() const { return steps_; }
  //! Floats of workspace transform_row() / transform_inputs() need (0 for the identity).
  std::size_t workspace_size() const { return workspace_; }

  //! Transforms one row in place: x[j * stride] is feature j. `work` holds workspace_size() floats.
  void apply_in_place(float* x, index_t stride, float* work) const {
    for (std::size_t s = 0; s < steps_.size(); ++s) {
      const InputTransformStep& st = steps_[s];
      const std::size_t n = st.inputs.size();
      const auto in = [&](std::size_t k) { return x[index_t(st.inputs[k]) * stride]; };
      switch (st.kind) {
        case InputTransformKind::normalize: {
          const std::vector<float>& scale = scales_[s];
          for (std::size_t k = 0; k < n; ++k) {
            const float centred = in(k)-st.min[k];
            const float scaled = centred * scale[k];
            work[k] = scaled * 2.0f - 1.0f;
          }
          break;
        }
        case InputTransformKind::linear:
          for (std::size_t i = 0; i < n; ++i) {
            double sum = 0;
            const double* row = st.matrix.data() + i * n;
            for (std::size_t j = 0; j < n; ++j) sum += static_cast<double>(in(j)) * row[j];
            work[i] = static_cast<float>(sum);
          }
          break;
        case InputTransformKind::pca:
          for (std::size_t i = 0; i < n; ++i) {
            double sum = 0;
            for (std::size_t j = 0; j < n; ++j) sum += (static_cast<double>(in(j)) - st.mean[j]) * st.matrix[j * n + i];
            work[i] = static_cast<float>(sum);
          }
          break;
        case InputTransformKind::rearrange:
          for (std::size_t k = 0; k < n; ++k) work[k] = in(k);
          break;
        case InputTransformKind::uniform:
          for (std::size_t k = 0; k < n; ++k) work[k] = static_cast<float>(cumulative_value(st.cdf[k], in(k)));
          break;
        case InputTransformKind::gauss:
          for (std::size_t k = 0; k < n; ++k) {
            work[k] = static_cast<float>(tmva_gauss_of_cumulant(cumulative_value(st.cdf[k], in(k))));
          }
          break;
      }
      for (std::size_t k = 0; k < n; ++k) x[index_t(st.outputs[k]) * stride] = work[k];
    }
  }

 private:
  std::int32_t num_features_ = 0;
  std::vector<InputTransformStep> steps_;
  std::vector<std::vector<float>> scales_;  // normalize steps: float(1.0 / (max - min)) per input
  std::size_t workspace_ = 0;
};

namespace detail {

inline void check_transform_workspace(const InputTransform& t, std::span<float> workspace, const char* op) {
  if (workspace.size() < t.workspace_size()) {
    throw ShapeError(std::string(op) + ": workspace of " + std::to_string(workspace.size()) + " floats, " +
                     std::to_string(t.workspace_size()) + " needed (InputTransform::workspace_size())");
  }
}

}  // namespace detail

//! One row: out = the transformed `in` (both num_features() values; identity: a copy). `in` and `out`
//! may be the same memory. Allocation-free; `workspace` holds at least t.workspace_size() floats.
inline void transform_row(const InputTransform& t, std::span<const float> in, std::span<float> out,
                          std::span<float> workspace) {
  if (in.size() != out.size() || (!t.empty() && in.size() != static_cast<std::size_t>(t.num_features()))) {
    throw ShapeError("portml::bdt::transform_row: " + std::to_string(in.size()) + " inputs and " +
                     std::to_string(out.size()) + " outputs, the transformation has " +
                     std::to_string(t.num_features()) + " features");
  }
  detail::check_transform_workspace(t, workspace, "portml::bdt::transform_row");
  if (in.data() != out.data()) std::copy(in.begin(), in.end(), out.begin());
  t.apply_in_place(out.data(), 1, workspace.data());
}

//! A batch: out [n, F] = the transformed rows of in [n, F] (any strides; F = t.num_features(), or any
//! width for the identity, which copies). `in` and `out` may be the same view. Allocation-free, on the
//! calling thread; `workspace` holds at least t.workspace_size() floats (one workspace per thread).
inline void transform_inputs(const InputTransform& t, TensorView<const float, 2> in, TensorView<float, 2> out,
                             std::span<float> workspace) {
  if (in.extent(0) != out.extent(0) || in.extent(1) != out.extent(1) ||
      (!t.empty() && in.extent(1) != t.num_features())) {
    throw ShapeError("portml::bdt::transform_inputs: input " + portml::detail::format_shape(in.extents()) +
                     ", output " + portml::detail::format_shape(out.extents()) + ", the transformation has " +
                     std::to_string(t.num_features()) + " features");
  }
  detail::check_transform_workspace(t, workspace, "portml::bdt::transform_inputs");
  const bool same = in.data() == out.data() && in.stride(0) == out.stride(0) && in.stride(1) == out.stride(1);
  for (index_t r = 0; r < in.extent(0); ++r) {
    if (!same)
      for (index_t j = 0; j < in.extent(1); ++j) out(r, j) = in(r, j);
    if (!t.empty()) t.apply_in_place(&out(r, 0), out.stride(1), workspace.data());
  }
}

}  // namespace portml::bdt
