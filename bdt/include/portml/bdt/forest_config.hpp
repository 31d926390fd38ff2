// SPDX-License-Identifier: Apache-2.0
//! \file
//! ForestConfig: the plain description of a trained tree ensemble that every loader (XGBoost JSON,
//! LightGBM text, TMVA XML) produces and from which a Forest is built. It keeps the trainer's own
//! conventions (split rule, threshold precision, where a missing value goes); Forest normalises them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <portml/bdt/input_transform.hpp>

namespace portml::bdt {

//! Which way a split sends a row, as the trainer defines it (x is the feature value).
enum class SplitRule {
  left_if_less,       //!< left iff x < t (XGBoost; TMVA >= ROOT 6.02, where right iff x >= cut)
  left_if_less_equal  //!< left iff x <= t (LightGBM, scikit-learn; TMVA before ROOT 6.02, where right iff x > cut)
};

//! The precision the trainer compares and accumulates in.
enum class Precision {
  float32,  //!< thresholds, leaves and the sum are float (XGBoost)
  float64   //!< thresholds, leaves and the sum are double (LightGBM, TMVA)
};

//! What turns the margins (sum of leaves plus base margin) into the trainer's prediction.
enum class OutputTransform {
  identity,     //!< the margin itself (regression, ranking, binary:logitraw)
  logistic,     //!< 1 / (1 + exp(-scale * m)) per output (binary:logistic, reg:logistic, LightGBM binary)
  softmax,      //!< exp(m_k - max) / sum over the outputs (multi:softprob, LightGBM multiclass)
  argmax,       //!< index of the largest margin, as a number; one output column (multi:softmax)
  tmva_tanh,    //!< 2 / (1 + exp(-2 m)) - 1 (TMVA BDTG classification)
  exponential,  //!< exp(m) (count:poisson, reg:gamma, reg:tweedie)
  divide,       //!< m / scale (TMVA AdaBoost: the sum of the boost weights)
};

//! LightGBM's kZeroThreshold: |x| <= this counts as zero for zero-as-missing splits.
inline constexpr float zero_missing_threshold = 1e-35f;

//! One tree. Node 0 is the root; node i is a leaf iff left[i] < 0. Internal nodes send a row to
//! left[i] or right[i] by the forest's SplitRule on feature[i] and threshold[i]; a NaN goes left iff
//! nan_left[i] (a trainer without missing values still says where a NaN would go, see the loaders).
struct TreeConfig {
  std::vector<std::int32_t> left;
  std::vector<std::int32_t> right;
  std::vector<std::int32_t> feature;
  std::vector<double> threshold;       //!< the trainer's value (a float threshold is exact in double)
  std::vector<std::uint8_t> nan_left;  //!< 1: NaN goes left
  std::vector<double> value;           //!< leaf values (ignored for internal nodes)
  //! Empty, or per node 1 when |x| <= zero_missing_threshold also takes the NaN direction
  //! (LightGBM's missing type Zero).
  std::vector<std::uint8_t> zero_missing;
  std::int32_t output = 0;  //!< which output (class) this tree adds to
};

//! A whole ensemble, as trained. The prediction for output k is
//! transform(base_margin[k] + sum of the values of the leaves reached in the trees with output k,
//! summed in tree order in `precision`).
struct ForestConfig {
  std::string source;  //!< the producing library and version, e.g. "xgboost 1.7.4"
  SplitRule split_rule = SplitRule::left_if_less;
  Precision precision = Precision::float32;
  std::int32_t num_features = 0;
  std::int32_t num_outputs = 1;
  std::vector<double> base_margin;  //!< one per output, in margin space
  OutputTransform transform = OutputTransform::identity;
  double transform_scale = 1.0;            //!< the `scale` of the logistic transform (LightGBM's sigmoid)
  std::string objective;                   //!< the trainer's name for it, e.g. "binary:logistic"
  std::vector<std::string> feature_names;  //!< empty, or one per feature in input order
  std::vector<TreeConfig> trees;
  //! What the trainer applies to the inputs before the trees (TMVA <Transformations>); empty for
  //! every other format. The host predict functions apply it (input_transform.hpp).
  InputTransform input_transform;
};

}  // namespace portml::bdt
