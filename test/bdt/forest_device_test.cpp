// SPDX-License-Identifier: Apache-2.0
// Forests evaluated by the device kernel (bdt/device_forest.hpp) on every backend case: Serial (teams
// of one thread), the Serial GPU emulation (real teams and barriers on fibers: the GPU code path, as
// CI runs it), OpenMP, Kokkos, and CUDA / HIP where a device is present (skipped with the reason
// otherwise). The margins must be the trainer's bit for bit wherever the host tests say so, and the
// host path's bit for bit for every fixture model, on both layouts, both kernels (row-parallel and
// tree-parallel, forced and automatic), both node stagings, both input stagings (the team's rows copied
// to scratch or read directly) and batches of 1, 3, 33 and 1000 rows; and on synthetic forests of 1 to
// 400 features at batches that end inside a team's block of rows, with aligned, unaligned and padded rows.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <portml/bdt/device_forest.hpp>
#include <portml/bdt/forest.hpp>
#include <portml/bdt/input_transform.hpp>
#include <portml/bdt/predict.hpp>

#include "../common/backend_cases.hpp"
#include "fixtures.hpp"

namespace portml::test {
namespace {

using bdt::DeviceForest;
using bdt::DeviceKernel;
using bdt::Forest;
using bdt::InputStaging;
using bdt::Layout;
using bdt::NodeStaging;

//! One way of running the device kernel: which kernel, where the nodes and the input rows are read from.
struct Variant {
  DeviceKernel kernel;
  NodeStaging staging;
  InputStaging input;
};

//! The fixture's rows through the forest's input transformation (a copy when it has none).
template <class Value>
std::vector<float> model_inputs(const BdtFixture& fx, const Forest<Value>& forest) {
  const std::vector<float> raw = fx.inputs();
  std::vector<float> x(raw.size());
  std::vector<float> work(forest.input_transform().workspace_size());
  bdt::transform_inputs(forest.input_transform(), TensorView<const float, 2>(raw.data(), {fx.rows, fx.features}),
                        TensorView<float, 2>(x.data(), {fx.rows, fx.features}), work);
  return x;
}

//! A forest of `trees` trees over nf features: complete trees of depth 3 and, every fourth tree, a stump
//! (uneven trees for the sparse layout), each root splitting on the last feature and the other nodes spread
//! over the features, so the walks read both ends of a staged row.
bdt::ForestConfig wide_forest(int nf, int trees) {
  bdt::ForestConfig config;
  config.num_features = nf;
  config.base_margin = {0.25};
  for (int t = 0; t < trees; ++t) {
    bdt::TreeConfig tree;
    const int internal = t % 4 == 3 ? 1 : 7;
    for (int i = 0; i < 2 * internal + 1; ++i) {
      const bool leaf = i >= internal;
      tree.left.push_back(leaf ? -1 : 2 * i + 1);
      tree.right.push_back(leaf ? -1 : 2 * i + 2);
      tree.feature.push_back(leaf ? 0 : i == 0 ? nf - 1 : (t * 7 + i * 13) % nf);
      tree.threshold.push_back(leaf ? 0.0 : static_cast<double>(static_cast<float>(0.9 * std::sin(1.3 * t + i))));
      tree.nan_left.push_back(static_cast<std::uint8_t>(!leaf && (t + i) % 2 == 0));
      tree.value.push_back(leaf ? (1.0 + i) / (t + 3) - 0.4 : 0.0);
    }
    config.trees.push_back(tree);
  }
  return config;
}

template <class Case>
class BdtDevice : public BackendTest<Case> {
 protected:
  using B = typename Case::backend;
  using S = memory_space_t<B>;

  //! Margins of host rows x [n, nf] through the device kernel: copied in, evaluated, copied out.
  template <class Value>
  std::vector<Value> device_margins(Queue<B>& q, const DeviceForest<Value, B>& df, const std::vector<float>& x,
                                    index_t n, NodeStaging staging, DeviceKernel kernel = DeviceKernel::automatic,
                                    InputStaging input = InputStaging::automatic) {
    const index_t nf = df.num_features(), k = df.num_outputs();
    Tensor<float, 2, S> dx({n, nf});
    Tensor<Value, 2, S> dout({n, k});
    if (n > 0) deep_copy(q, dx.view(), TensorView<const float, 2>(x.data(), {n, nf}));
    bdt::predict_margins(q, df, dx.view(), dout.view(), staging, kernel, input);
    std::vector<Value> got(static_cast<std::size_t>(n * k));
    if (n > 0) deep_copy(q, TensorView<Value, 2>(got.data(), {n, k}), TensorView<const Value, 2, S>(dout.view()));
    q.wait();
    return got;
  }
  template <class Value>
  std::vector<Value> device_margins(Queue<B>& q, const DeviceForest<Value, B>& df, const std::vector<float>& x,
                                    index_t n, const Variant& v) {
    return device_margins(q, df, x, n, v.staging, v.kernel, v.input);
  }

  //! The variants to check on this forest: the automatic choice; the row-parallel kernel with the nodes
  //! read directly and (when they fit) staged, each with the input rows read directly and (when they fit
  //! next to the nodes) staged; the tree-parallel kernel (which always reads the nodes directly) with the
  //! rows read directly and staged. With `contiguous` false (inputs whose features are strided) no variant
  //! forces staged rows.
  template <class Value>
  static std::vector<Variant> variants(const DeviceForest<Value, B>& df, bool contiguous = true) {
    const index_t nf = df.num_features();
    const auto rows_fit = [&](std::size_t other, index_t rows) {
      return contiguous && other + bdt::detail::staged_rows_bytes(rows, nf) <= bdt::device_scratch_budget;
    };
    std::vector<Variant> v{{DeviceKernel::automatic, NodeStaging::automatic, InputStaging::automatic}};
    v.push_back({DeviceKernel::row_parallel, NodeStaging::direct, InputStaging::direct});
    if (rows_fit(0, bdt::device_min_staged_rows_per_team))
      v.push_back({DeviceKernel::row_parallel, NodeStaging::direct, InputStaging::scratch});
    if (df.staged_bytes() <= bdt::device_scratch_budget) {
      v.push_back({DeviceKernel::row_parallel, NodeStaging::scratch, InputStaging::direct});
      if (rows_fit(df.staged_bytes(), bdt::device_min_staged_rows_per_team))
        v.push_back({DeviceKernel::row_parallel, NodeStaging::scratch, InputStaging::scratch});
    }
    v.push_back({DeviceKernel::tree_parallel, NodeStaging::automatic, InputStaging::direct});
    if (rows_fit(bdt::device_tree_parallel_scratch, bdt::device_tree_parallel_max_rows_per_team))
      v.push_back({DeviceKernel::tree_parallel, NodeStaging::automatic, InputStaging::scratch});
    return v;
  }

  //! The Serial queue emulating a GPU runs every team's threads as fibers: correct but slow (minutes
  //! under AddressSanitizer for the larger batches), so it takes the smaller batches only; real
  //! devices and the plain host queues take them all.
  static bool emulated(const Queue<B>& q) {
    if constexpr (std::is_same_v<B, backend::Serial>) {
      return q.gpu_emulation();
    } else {
      (void)q;
      return false;
    }
  }

  static std::string describe(const Variant& v) {
    return std::string(" kernel ") + bdt::to_string(v.kernel) + " staging " + bdt::to_string(v.staging) + " input " +
           bdt::to_string(v.input);
  }

  //! Every fixture of `format` on both layouts and every staging: bit-identical to the host path on
  //! the fixture rows and on the same rows with NaN, zero and infinite entries; bit-identical to the
  //! trainer's margins on the fixture rows when the fixture has them.
  //! `staging`: which variants (variants()) to run: those that read the input rows directly, or those that
  //! stage them (the automatic choice included) — two test cases, so that each stays well inside the CI
  //! time limit per test under AddressSanitizer on the GPU emulation.
  template <class Value>
  void check_format(const std::string& format, InputStaging staging) {
    auto q = Case::make_queue();
    const auto fixtures = bdt_fixtures(format);
    ASSERT_FALSE(fixtures.empty()) << format;
    for (const BdtFixture& fx : fixtures) {
      const bdt::ForestConfig config = fx.load();
      const index_t n = fx.rows, nf = fx.features, k = fx.outputs;
      // The rows the trees see: through the model's input transformation (TMVA), as the host tests do.
      const std::vector<float> x = model_inputs(fx, Forest<Value>(config));
      std::vector<float> x_missing = x;  // NaN, ±0, ±inf and a tiny value spread over rows and features
      const float specials[] = {
          std::numeric_limits<float>::quiet_NaN(), 0.0f,  -0.0f, std::numeric_limits<float>::infinity(),
          -std::numeric_limits<float>::infinity(), 1e-36f};
      for (index_t r = 0; r < n; ++r) {
        if (r % 4 == 3) continue;  // some rows untouched
        for (index_t j = 0; j < nf; ++j)
          if ((r + j) % 3 == 0) x_missing[r * nf + j] = specials[(r + 2 * j) % 6];
      }
      // The host reference evaluates the same transformed rows: the forest without its transformation.
      bdt::ForestConfig untransformed = config;
      untransformed.input_transform = {};
      for (const Layout layout : {Layout::perfect, Layout::sparse}) {
        const Forest<Value> forest(config, layout);
        const Forest<Value> trees_only(untransformed, layout);
        if (!forest.input_transform().empty()) {
          EXPECT_THROW((DeviceForest<Value, B>(q, forest)), NotSupported) << fx.name;
        }
        const DeviceForest<Value, B> df(q, forest, bdt::inputs_transformed_by_caller);
        ASSERT_EQ(df.num_outputs(), k);
        const std::vector<float>* const inputs[] = {&x, &x_missing};
        for (const std::vector<float>* rows : inputs) {
          // The fixture's rows, then batches of 1, 3, 33 and 1000 rows (row r is fixture row r % n): the
          // clean rows take 1 and 33, the rows with missing values 3 and 1000; the GPU emulation only the
          // fixture's rows and the small batch.
          // The emulation also takes only the first 48 fixture rows.
          const bool clean = rows == &x;
          const index_t first = emulated(q) ? std::min<index_t>(n, 48) : n;
          std::vector<index_t> batches{first, clean ? index_t(1) : index_t(3)};
          if (!emulated(q)) batches.push_back(clean ? index_t(33) : index_t(1000));
          for (const index_t batch : batches) {
            std::vector<float> bx(static_cast<std::size_t>(batch * nf));
            for (index_t r = 0; r < batch; ++r)
              std::memcpy(&bx[r * nf], &(*rows)[(r % n) * nf], sizeof(float) * static_cast<std::size_t>(nf));
            std::vector<Value> host(static_cast<std::size_t>(batch * k));
            bdt::predict_margins(trees_only, TensorView<const float, 2>(bx.data(), {batch, nf}),
                                 TensorView<Value, 2>(host.data(), {batch, k}));
            for (const Variant& v : variants(df)) {
              if ((v.input == InputStaging::direct) != (staging == InputStaging::direct)) continue;
              const std::vector<Value> got = device_margins(q, df, bx, batch, v);
              const std::string what = fx.name + " layout " + bdt::to_string(layout) + describe(v) + " batch " +
                                       std::to_string(batch) + (rows == &x ? "" : " with missing values");
              std::size_t bad = 0;
              for (std::size_t i = 0; i < host.size(); ++i) bad += std::memcmp(&got[i], &host[i], sizeof(Value)) != 0;
              EXPECT_EQ(bad, 0u) << Case::name << " " << what << ": differs from the host path";
              if (rows == &x && batch == first && fx.has_margins) {
                const std::vector<Value> want = fx.margins<Value>();
                ASSERT_EQ(want.size(), static_cast<std::size_t>(n * k));
                bad = 0;
                for (std::size_t i = 0; i < got.size(); ++i) bad += std::memcmp(&got[i], &want[i], sizeof(Value)) != 0;
                EXPECT_EQ(bad, 0u) << Case::name << " " << what << ": differs from the trainer";
              }
            }
          }
        }
      }
    }
  }
  //! A multiclass forest of many trees (several tree-parallel chunks, whose boundaries do not fall on a
  //! class boundary) with sparse trees of uneven depth and NaN / zero-as-missing nodes: every kernel and
  //! staging, batches 1 to 1000, bit-identical to the host path in float and double.
  template <class Value>
  void check_large_multiclass() {
    using Bk = B;
    auto q = Case::make_queue();
    bdt::ForestConfig config;
    config.num_features = 5;
    config.num_outputs = 3;
    config.base_margin = {0.5, -0.25, 0.125};
    for (int t = 0; t < 2500; ++t) {
      bdt::TreeConfig tree;
      const float a = 0.1f * static_cast<float>(t % 11) - 0.5f;
      if (t % 7 == 0) {  // a stump
        tree.left = {1, -1, -1};
        tree.right = {2, -1, -1};
        tree.feature = {t % 5, 0, 0};
        tree.threshold = {a, 0, 0};
        tree.nan_left = {static_cast<std::uint8_t>(t % 2), 0, 0};
        tree.value = {0, 1.0 / (t + 1), -1.0 / (t + 3)};
      } else {  // depth 3 on the left, depth 1 on the right
        tree.left = {1, 3, -1, 5, -1, -1, -1};
        tree.right = {2, 4, -1, 6, -1, -1, -1};
        tree.feature = {t % 5, (t + 1) % 5, 0, (t + 2) % 5, 0, 0, 0};
        tree.threshold = {a, -a, 0, 0.5 * a, 0, 0, 0};
        tree.nan_left = {static_cast<std::uint8_t>(t % 3 == 0), static_cast<std::uint8_t>(t % 2), 0, 1, 0, 0, 0};
        tree.value = {0, 0, 0.3 / (t + 1), 0, 0.7 / (t + 2), -0.11 / (t + 5), 1.0 / 3.0 + t};
      }
      if (t % 13 == 0) tree.zero_missing = std::vector<std::uint8_t>(tree.left.size(), 1);
      tree.output = t % 3;
      config.trees.push_back(tree);
    }
    const index_t nf = 5, k = 3;
    std::vector<float> x0(static_cast<std::size_t>(97 * nf));
    for (std::size_t i = 0; i < x0.size(); ++i) {
      x0[i] = std::sin(0.37f * static_cast<float>(i)) * 1.3f;
      if (i % 11 == 4) x0[i] = std::numeric_limits<float>::quiet_NaN();
      if (i % 17 == 6) x0[i] = 0.0f;
    }
    for (const Layout layout : {Layout::perfect, Layout::sparse}) {
      const Forest<Value> forest(config, layout);
      const DeviceForest<Value, Bk> df(q, forest);
      ASSERT_EQ(df.num_outputs(), k);
      const std::vector<index_t> batches =
          emulated(q) ? std::vector<index_t>{1, 33} : std::vector<index_t>{1, 3, 33, 1000};
      for (const index_t batch : batches) {
        std::vector<float> x(static_cast<std::size_t>(batch * nf));
        for (index_t i = 0; i < batch * nf; ++i) x[i] = x0[i % static_cast<index_t>(x0.size())];
        std::vector<Value> host(static_cast<std::size_t>(batch * k));
        bdt::predict_margins(forest, TensorView<const float, 2>(x.data(), {batch, nf}),
                             TensorView<Value, 2>(host.data(), {batch, k}));
        for (const Variant& v : variants(df)) {
          const std::vector<Value> got = device_margins(q, df, x, batch, v);
          std::size_t bad = 0;
          for (std::size_t i = 0; i < host.size(); ++i) bad += std::memcmp(&got[i], &host[i], sizeof(Value)) != 0;
          EXPECT_EQ(bad, 0u) << Case::name << " layout " << bdt::to_string(layout) << " batch " << batch << describe(v);
        }
      }
    }
  }
};
TYPED_TEST_SUITE(BdtDevice, AllCases, CaseNames);

TYPED_TEST(BdtDevice, XGBoostMarginsBitIdentical) {
  this->template check_format<float>("xgboost-json", InputStaging::direct);
}
TYPED_TEST(BdtDevice, XGBoostMarginsBitIdenticalStagedRows) {
  this->template check_format<float>("xgboost-json", InputStaging::scratch);
}

TYPED_TEST(BdtDevice, LightGBMMarginsBitIdentical) {
  this->template check_format<double>("lightgbm-text", InputStaging::direct);
}
TYPED_TEST(BdtDevice, LightGBMMarginsBitIdenticalStagedRows) {
  this->template check_format<double>("lightgbm-text", InputStaging::scratch);
}

TYPED_TEST(BdtDevice, TmvaMarginsBitIdentical) {
  this->template check_format<double>("tmva-xml", InputStaging::direct);
}
TYPED_TEST(BdtDevice, TmvaMarginsBitIdenticalStagedRows) {
  this->template check_format<double>("tmva-xml", InputStaging::scratch);
}

//! Strided inputs (column-major, a row slice at an offset) and a large batch of repeated rows (many
//! row blocks, more than one per team on a staged launch).
TYPED_TEST(BdtDevice, StridedInputsAndLargeBatches) {
  using Bk = typename TypeParam::backend;
  using Sp = memory_space_t<Bk>;
  auto q = TypeParam::make_queue();
  const BdtFixture fx = bdt_fixtures("xgboost-json").front();
  const Forest<float> forest(fx.load());
  const DeviceForest<float, Bk> df(q, forest);
  const std::vector<float> x0 = fx.inputs();
  const std::vector<float> want = fx.margins<float>();
  const index_t n0 = fx.rows, nf = fx.features, k = fx.outputs;
  // Column-major on the device, rows [13, n0).
  std::vector<float> x_cm(x0.size());
  for (index_t r = 0; r < n0; ++r)
    for (index_t j = 0; j < nf; ++j) x_cm[j * n0 + r] = x0[r * nf + j];
  Tensor<float, 1, Sp> dcm({n0 * nf});
  deep_copy(q, dcm.view(), TensorView<const float, 1>(x_cm.data(), {n0 * nf}));
  const auto cols = TensorView<const float, 2, Sp>::col_major(dcm.data(), {n0, nf}).row_slice(13, n0);
  Tensor<float, 2, Sp> dout({n0 - 13, k});
  for (const Variant& v : this->variants(df, false)) {
    bdt::predict_margins(q, df, cols, dout.view(), v.staging, v.kernel, v.input);
    std::vector<float> got(static_cast<std::size_t>((n0 - 13) * k));
    deep_copy(q, TensorView<float, 2>(got.data(), {n0 - 13, k}), TensorView<const float, 2, Sp>(dout.view()));
    q.wait();
    EXPECT_EQ(std::memcmp(got.data(), want.data() + 13 * k, got.size() * sizeof(float)), 0)
        << TypeParam::name << " column-major rows [13, n)" << this->describe(v);
  }
  // Column-major rows are read directly (a warp's loads of one feature are coalesced): staging them is refused.
  for (const DeviceKernel kernel : {DeviceKernel::row_parallel, DeviceKernel::tree_parallel}) {
    EXPECT_THROW(bdt::predict_margins(q, df, cols, dout.view(), NodeStaging::automatic, kernel, InputStaging::scratch),
                 NotSupported)
        << bdt::to_string(kernel);
  }
  // Enough rows for several blocks per team when staged: row r must give the trainer's row r % n0.
  const index_t reps = TypeParam::backend::is_host ? 12 : 600;
  std::vector<float> x;
  for (index_t r = 0; r < reps; ++r) x.insert(x.end(), x0.begin(), x0.end());
  const index_t n = n0 * reps;
  for (const Variant& v : this->variants(df)) {
    const std::vector<float> got = this->device_margins(q, df, x, n, v);
    std::size_t bad = 0;
    for (index_t r = 0; r < n; ++r) bad += std::memcmp(&got[r * k], &want[(r % n0) * k], sizeof(float) * k) != 0;
    EXPECT_EQ(bad, 0u) << TypeParam::name << " " << n << " rows" << this->describe(v);
  }
}

TYPED_TEST(BdtDevice, EmptyBatchAndShapeErrors) {
  using Bk = typename TypeParam::backend;
  using Sp = memory_space_t<Bk>;
  auto q = TypeParam::make_queue();
  const BdtFixture fx = bdt_fixtures("xgboost-json").front();
  const Forest<float> forest(fx.load());
  const DeviceForest<float, Bk> df(q, forest);
  const index_t nf = fx.features, k = fx.outputs;
  Tensor<float, 2, Sp> x0({0, nf});
  Tensor<float, 2, Sp> out0({0, k});
  EXPECT_NO_THROW(bdt::predict_margins(q, df, x0.view(), out0.view()));
  q.wait();
  Tensor<float, 2, Sp> x({4, nf}), x_wide({4, nf + 1});
  Tensor<float, 2, Sp> out({4, k}), out_short({3, k}), out_wide({4, k + 1});
  EXPECT_THROW(bdt::predict_margins(q, df, x_wide.view(), out.view()), ShapeError);
  EXPECT_THROW(bdt::predict_margins(q, df, x.view(), out_short.view()), ShapeError);
  EXPECT_THROW(bdt::predict_margins(q, df, x.view(), out_wide.view()), ShapeError);
  EXPECT_THROW(bdt::predict_margins(q, df, x0.view(), out.view()), ShapeError);
  // A forest too large for team scratch (4096 stumps): staging it is refused, the direct reads run it.
  bdt::ForestConfig big;
  big.num_features = 2;
  big.base_margin = {0.5};
  for (int t = 0; t < 4096; ++t) {
    bdt::TreeConfig tree;
    tree.left = {1, -1, -1};
    tree.right = {2, -1, -1};
    tree.feature = {t % 2, 0, 0};
    tree.threshold = {0.25 * (t % 5), 0, 0};
    tree.nan_left = {static_cast<std::uint8_t>(t % 3 == 0), 0, 0};
    tree.value = {0, 1.0 / (t + 1), -1.0 / (t + 2)};
    big.trees.push_back(tree);
  }
  const Forest<float> f(big);
  const DeviceForest<float, Bk> d(q, f);
  ASSERT_GT(d.staged_bytes(), bdt::device_scratch_budget);
  const std::vector<float> bx = {0.3f, std::numeric_limits<float>::quiet_NaN(), -1.0f, 2.0f};
  Tensor<float, 2, Sp> dbx({2, 2});
  Tensor<float, 2, Sp> dbout({2, 1});
  deep_copy(q, dbx.view(), TensorView<const float, 2>(bx.data(), {2, 2}));
  EXPECT_THROW(bdt::predict_margins(q, d, dbx.view(), dbout.view(), NodeStaging::scratch), NotSupported);
  // The tree-parallel kernel never stages the nodes: forcing both is refused.
  EXPECT_THROW(bdt::predict_margins(q, df, x.view(), out.view(), NodeStaging::scratch, DeviceKernel::tree_parallel),
               NotSupported);
  std::vector<float> want(2);
  bdt::predict_margins(f, TensorView<const float, 2>(bx.data(), {2, 2}), TensorView<float, 2>(want.data(), {2, 1}));
  // 4096 trees: the tree-parallel kernel takes them in two chunks.
  for (const Variant& v : this->variants(d)) {
    const std::vector<float> got = this->device_margins(q, d, bx, 2, v);
    EXPECT_EQ(std::memcmp(got.data(), want.data(), sizeof(float) * 2), 0) << this->describe(v);
  }
}

//! Staged input rows at the edges of a team's block: 1 to 400 features (a multiple of four or not; 150 and
//! 300 stage 64 and 32 rows per team, 400 do not fit and fall back to direct reads), batches of 1 row and
//! of rows that end inside a block, rows contiguous, at an unaligned base, and padded (a stride of a
//! multiple of four or not): every variant bit-identical to the host path on the same rows. (129 rows end
//! inside the second block of 128, 64 or 32 rows, and inside the tree-parallel kernel's blocks.)
TYPED_TEST(BdtDevice, StagedRowsAtBlockBoundaries) {
  using Bk = typename TypeParam::backend;
  using Sp = memory_space_t<Bk>;
  auto q = TypeParam::make_queue();
  // The GPU emulation (slow: a fiber per team thread) takes fewer feature counts, batches and layouts.
  const bool emulated = this->emulated(q);
  const std::vector<index_t> batches =
      emulated ? std::vector<index_t>{1, 129} : std::vector<index_t>{1, 31, 128, 129, 300, 1000};
  const std::vector<int> features =
      emulated ? std::vector<int>{3, 4, 20, 150, 300, 400} : std::vector<int>{1, 3, 4, 5, 8, 20, 150, 300, 400};
  const std::vector<Layout> forest_layouts =
      emulated ? std::vector<Layout>{Layout::perfect} : std::vector<Layout>{Layout::perfect, Layout::sparse};
  const struct {
    index_t offset;  //!< floats before row 0
    index_t pad;     //!< x.stride(0) - nf
    const char* what;
  } layouts[] = {{0, 0, "contiguous"}, {1, 0, "unaligned base"}, {4, 4, "padded by 4"}, {0, 3, "padded by 3"}};
  for (const int nf : features) {
    // Rows per row-parallel team with staged rows (no staged nodes): 128 up to 95 features.
    const index_t want_rows = nf <= 95 ? 128 : nf == 150 ? 64 : nf == 300 ? 32 : 0;
    for (const Layout layout : forest_layouts) {
      const Forest<float> forest(wide_forest(nf, 12), layout);
      const DeviceForest<float, Bk> df(q, forest);
      for (const index_t n : batches) {
        std::vector<float> x(static_cast<std::size_t>(n * nf));
        for (std::size_t i = 0; i < x.size(); ++i) {
          x[i] = std::sin(0.61f * static_cast<float>(i) + 0.2f);
          if (i % 23 == 7) x[i] = std::numeric_limits<float>::quiet_NaN();
        }
        std::vector<float> want(static_cast<std::size_t>(n));
        bdt::predict_margins(forest, TensorView<const float, 2>(x.data(), {n, nf}),
                             TensorView<float, 2>(want.data(), {n, 1}));
        for (const auto& rl : layouts) {
          const index_t rs = nf + rl.pad, size = rl.offset + n * rs;
          std::vector<float> buffer(static_cast<std::size_t>(size), std::numeric_limits<float>::quiet_NaN());
          for (index_t r = 0; r < n; ++r)
            std::memcpy(&buffer[rl.offset + r * rs], &x[r * nf], sizeof(float) * static_cast<std::size_t>(nf));
          Tensor<float, 1, Sp> dbuffer({size});
          deep_copy(q, dbuffer.view(), TensorView<const float, 1>(buffer.data(), {size}));
          const TensorView<const float, 2, Sp> dx(dbuffer.data() + rl.offset, {n, nf}, {rs, 1});
          const bdt::detail::InputRowsPlan plan =
              bdt::detail::plan_input_rows(dx, 0, bdt::device_rows_per_team, bdt::device_min_staged_rows_per_team);
          EXPECT_EQ(plan.fits, want_rows > 0) << nf;
          if (plan.fits) {
            EXPECT_EQ(plan.rows_per_team, want_rows) << nf;
            EXPECT_EQ(plan.vec4, nf % 4 == 0 && rs % 4 == 0 && rl.offset % 4 == 0) << nf << " " << rl.what;
          }
          Tensor<float, 2, Sp> dout({n, 1});
          if (!plan.fits) {  // 400 features: not even 32 rows fit; forcing the staging is refused
            EXPECT_THROW(bdt::predict_margins(q, df, dx, dout.view(), NodeStaging::direct, DeviceKernel::row_parallel,
                                              InputStaging::scratch),
                         NotSupported);
          }
          for (const Variant& v : this->variants(df)) {
            const std::string what = std::string(TypeParam::name) + " " + std::to_string(nf) + " features, " +
                                     std::to_string(n) + " rows " + rl.what + " layout " + bdt::to_string(layout) +
                                     this->describe(v);
            bdt::predict_margins(q, df, dx, dout.view(), v.staging, v.kernel, v.input);
            std::vector<float> got(static_cast<std::size_t>(n));
            deep_copy(q, TensorView<float, 2>(got.data(), {n, 1}), TensorView<const float, 2, Sp>(dout.view()));
            q.wait();
            std::size_t bad = 0;
            for (index_t r = 0; r < n; ++r) bad += std::memcmp(&got[r], &want[r], sizeof(float)) != 0;
            EXPECT_EQ(bad, 0u) << what;
          }
        }
      }
    }
  }
}

TYPED_TEST(BdtDevice, LargeMulticlassAllKernels) {
  this->template check_large_multiclass<float>();
  this->template check_large_multiclass<double>();
}

}  // namespace
}  // namespace portml::test
