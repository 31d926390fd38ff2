// SPDX-License-Identifier: Apache-2.0
//! \file
//! Loaders of trained tree ensembles. Each turns a file into a portml::bdt::ForestConfig (plain data,
//! the trainer's own conventions kept) from which a portml::bdt::Forest is built:
//!
//!     auto config = portml::io::load_xgboost_json("model.json");
//!     const portml::bdt::Forest<float> forest(config);
//!
//! Errors are portml::io::FormatError naming the file, the place in it (tree, node) and the problem.
#pragma once

#include <string>
#include <string_view>

#include <portml/bdt/forest_config.hpp>

namespace portml::io {

//! An XGBoost model saved as JSON (`save_model("m.json")`, XGBoost 1.x to 3.x; gzip accepted).
//! Objectives binary:logistic/logitraw, reg:squarederror/logistic/..., multi:softprob/softmax, rank:*
//! (margins); base_score is converted to margin space as XGBoost does (logit for logistic objectives,
//! log for count:poisson / reg:gamma / reg:tweedie) and may be a list (XGBoost >= 3.1). Thresholds and
//! leaves are read as float32 exactly as written. Categorical splits (split_type 1, one-hot and
//! partition) are expanded into exact numeric subtrees (XGBoost's rule: NaN takes the default child;
//! int(x) listed in the node's categories goes right; unlisted categories, negatives and x >= 2^24 go
//! left). Multi-target trees, DART and categorical splits that cannot be represented are rejected
//! with a FormatError naming the tree and node.
bdt::ForestConfig load_xgboost_json(const std::string& path);

//! As load_xgboost_json, from the JSON text itself; `name` is used in error messages.
bdt::ForestConfig parse_xgboost_json(std::string_view text, const std::string& name);

//! An XGBoost model saved as UBJSON (`save_model("m.ubj")`, the same schema as JSON; gzip accepted).
bdt::ForestConfig load_xgboost_ubjson(const std::string& path);

//! As load_xgboost_ubjson, from the bytes themselves; `name` is used in error messages.
bdt::ForestConfig parse_xgboost_ubjson(std::string_view bytes, const std::string& name);

//! A LightGBM text model (`save_model("m.txt")`, v3/v4; gzip accepted). Split `x <= t` in double,
//! missing types None / Zero / NaN, multiclass (one tree per class per iteration), sigmoid scale.
//! Categorical splits of v4 models are expanded into exact numeric subtrees (LightGBM's rule: NaN and
//! negative int(x) go right, int(x) in the bitset goes left); categorical splits of older models and
//! linear trees are rejected with a FormatError naming the tree, node and feature.
bdt::ForestConfig load_lightgbm_text(const std::string& path);

//! As load_lightgbm_text, from the text itself; `name` is used in error messages.
bdt::ForestConfig parse_lightgbm_text(std::string_view text, const std::string& name);

//! A TMVA BDT weight file (`.weights.xml`, gzip accepted): BDT (AdaBoost and the other boost types,
//! boost weights, UseYesNoLeaf or purity) and BDTG (gradient boosting) for classification, regression
//! and multiclass; cType and the `>=` cut rule of ROOT >= 5.34/20 and 6.02 (`>` before, read from
//! <GeneralInfo>); feature names from <Variables>. Input <Transformations> (Normalize, Decorrelation,
//! PCA, Rearrange) are returned in ForestConfig::input_transform, which the caller applies with
//! bdt::transform_inputs() before predict(). Gauss / Uniform transformations and Fisher cuts are
//! rejected with a FormatError.
bdt::ForestConfig load_tmva_xml(const std::string& path);

//! As load_tmva_xml, from the XML text itself; `name` is used in error messages.
bdt::ForestConfig parse_tmva_xml(std::string_view text, const std::string& name);

}  // namespace portml::io
