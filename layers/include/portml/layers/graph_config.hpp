// SPDX-License-Identifier: Apache-2.0
//! \file
//! Plain configuration structures of the fused graph blocks (EdgeConv, GravNet, interaction step) and
//! of the GNN models built from them (ParticleNet-like, GravNet), as the loader (portml::io::load_gnn_json)
//! or a caller produces them: numbers in double, no file format, no kernel types. Each MLP is a list of
//! LayerConfig (Dense, BatchNorm, Affine, Activation); BatchNorm is folded into the Dense before it and
//! activations are fused into it when the blocks are built (docs/gnn.md, "Fused blocks").
#pragma once

#include <string>
#include <vector>

#include <portml/kernels/graph/common.hpp>
#include <portml/layers/mlp_config.hpp>

namespace portml::layers {

//! What EdgeConv does with the slots of a point that has fewer than k neighbours (an event with
//! fewer than k + 1 points). gnn.md §6, op 11.
enum class MissingNeighbours {
  skip,        //!< the slot is left out: mean over the valid slots (PyG), max over them; none → 0
  zero_point,  //!< the slot is a neighbour at x_j = 0 (ParticleNet's zero-padded jets): it enters the
               //!< edge MLP as [x_i, −x_i], and the mean divides by k
};

//! One EdgeConv block (ParticleNet / DGCNN):
//!   y_i = act(shortcut(x_i) + agg_{j ∈ kNN(i)} mlp([x_i, x_j − x_i]))
//! kNN by squared L2 in the given coordinates, the point itself excluded, ties to the lower index.
struct EdgeConvConfig {
  index_t k = 16;
  //! Edge MLP: its first Dense takes 2F inputs ([x_i, x_j − x_i]) and is factorised per node.
  std::vector<LayerConfig> mlp;
  //! Dense (+ BatchNorm) on x, linear; empty: identity (needs F = the MLP's output width).
  std::vector<LayerConfig> shortcut;
  kernels::graph::Reduce aggregation = kernels::graph::Reduce::mean;  //!< mean or max
  MissingNeighbours missing = MissingNeighbours::skip;
  kernels::ActivationSpec activation{kernels::Activation::Relu};  //!< after the shortcut sum
  //! A periodic coordinate (ParticleNet's φ when absolute φ is given): -1 for none.
  int periodic_dim = -1;
  double period = 6.283185307179586;
  std::string name = "edgeconv";
};

//! The two published GravNet aggregation conventions (gnn.md §6, op 12).
enum class GravNetConvention {
  pyg,  //!< torch_geometric GravNetConv: k includes the point itself, w = exp(−10·d²), mean over valid
  cms,  //!< cmspepr select_knn + accumulate_knn: self in slot 0, w = exp(−d²), mean divides by k
};

//! One GravNet block: s = lin_s(x), h = lin_h(x), the k nearest in s (self per the convention),
//! w_ij = exp(−c·d²_ij), mean and max over j of w_ij·h_j, then y = output([x, mean, max]).
//! PyG's lin_out1(x) + lin_out2([mean, max]) is one Dense on [x, mean, max] with the weights side by side.
struct GravNetConfig {
  index_t k = 16;
  LayerConfig space;                //!< Dense F → S
  LayerConfig propagate;            //!< Dense F → P
  std::vector<LayerConfig> output;  //!< first Dense takes F + 2P inputs
  GravNetConvention convention = GravNetConvention::pyg;
  //! Settings the convention fixes; set_convention() fills them, a caller may change them afterwards.
  kernels::graph::SelfMode self_mode = kernels::graph::SelfMode::include_first;
  double exponent = 10.0;
  kernels::graph::MeanDivisor mean_divisor = kernels::graph::MeanDivisor::valid;
  std::string name = "gravnet";

  void set_convention(GravNetConvention c) {
    convention = c;
    self_mode = kernels::graph::SelfMode::include_first;
    exponent = c == GravNetConvention::pyg ? 10.0 : 1.0;
    mean_divisor = c == GravNetConvention::pyg ? kernels::graph::MeanDivisor::valid : kernels::graph::MeanDivisor::k;
  }
};

//! One interaction-network step over a fixed graph (COO edges src → dst):
//!   e'_k = edge_mlp([x_src(k), x_dst(k), e_k]),  x'_i = node_mlp([x_i, Σ_{k: dst(k) = i} e'_k])
struct InteractionConfig {
  std::vector<LayerConfig> edge_mlp;  //!< first Dense takes 2F + Fe inputs (factorised per node)
  std::vector<LayerConfig> node_mlp;  //!< first Dense takes F + He inputs
  std::string name = "interaction";
};

//! Which coordinates an EdgeConv block of a ParticleNet searches its neighbours in.
enum class KnnCoordinates {
  points,    //!< the model's point coordinates input (ParticleNet's first block: Δη, Δφ)
  features,  //!< the block's own input features (ParticleNet's later blocks)
};

//! A ParticleNet-like jet tagger: per-feature input normalisation (a BatchNorm, folded), EdgeConv
//! blocks, global pooling per event (mean divides by the real point count), a dense head per event.
struct ParticleNetConfig {
  index_t points = 2;                   //!< coordinate columns of the points input
  index_t features = 0;                 //!< columns of the features input
  std::vector<LayerConfig> input_norm;  //!< BatchNorm / Affine layers on the features, or empty
  std::vector<EdgeConvConfig> blocks;
  std::vector<KnnCoordinates> coordinates;  //!< one per block
  kernels::graph::Reduce pooling = kernels::graph::Reduce::mean;
  std::vector<LayerConfig> head;
  std::vector<std::string> output_labels;  //!< optional
};

//! A GravNet model: GravNet blocks in sequence, then a dense head per point (e.g. object-condensation
//! β and cluster coordinates).
struct GravNetModelConfig {
  index_t features = 0;
  std::vector<LayerConfig> input_norm;
  std::vector<GravNetConfig> blocks;
  std::vector<LayerConfig> head;
  std::vector<std::string> output_labels;
};

//! What io::load_gnn_json returns: one of the two models.
struct GnnModelConfig {
  enum class Kind { particlenet, gravnet };
  Kind kind = Kind::particlenet;
  ParticleNetConfig particlenet;
  GravNetModelConfig gravnet;
};

}  // namespace portml::layers
