// SPDX-License-Identifier: Apache-2.0
// The graph primitives on every backend against the PyTorch fixtures of test/data/gnn (made by
// make_fixtures.py): integer outputs and selections (kNN, max/min, gathers) exactly, float sums
// within the float32 accumulation bound; plus the argument checks and the determinism guarantees.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include <portml/kernels/graph.hpp>

#include "../common/backend_cases.hpp"
#include "../gnn/counting_queue.hpp"
#include "graph_fixture.hpp"

namespace portml::test {
namespace {

namespace g = portml::kernels::graph;
constexpr double eps32 = 1.1920929e-7;

template <class Case>
class Graph : public BackendTest<Case> {
 protected:
  using DevSpace = memory_space_t<typename Case::backend>;

  // The queue is made after the base fixture's SetUp, which skips cases whose device is absent.
  void SetUp() override {
    BackendTest<Case>::SetUp();
    if (!this->IsSkipped()) queue_.emplace(Case::make_queue());
  }
  Queue<typename Case::backend>& queue() { return *queue_; }

  template <class T, std::size_t R>
  Tensor<T, R, DevSpace> dev(const Fixture& fx, const std::string& key) {
    return this->to_device(queue(), fx.tensor<T, R>(key));
  }
  template <class T, std::size_t R>
  Tensor<T, R> host(const Tensor<T, R, DevSpace>& d) {
    return this->to_host(queue(), d.view());
  }

 private:
  std::optional<Queue<typename Case::backend>> queue_;
};
TYPED_TEST_SUITE(Graph, AllCases, CaseNames);

//! Float result within the bound of a float32 fold of `terms` values whose magnitudes sum to `abs`.
void expect_sum_close(float got, double ref, double abs, double terms, const std::string& what) {
  const double tol = (terms + 1) * eps32 * abs + 1e-30;
  EXPECT_NEAR(got, ref, tol) << what;
}

//! Y of the reduction `key` (sum, mean, max, min) against the fixture's float64 `<key>_ref`: max and min
//! exact, sum and mean within the bound of a float32 fold of `terms` values (any order).
void expect_reduction_matches_fixture(const Fixture& fx, const std::string& key, g::Reduce op,
                                      const Tensor<float, 2>& got, double terms) {
  const auto ref = fx.tensor<double, 2>(key + "_ref");
  const auto ab = fx.tensor<double, 2>(key + "_abs");
  for (index_t i = 0; i < got.extent(0); ++i) {
    for (index_t j = 0; j < got.extent(1); ++j) {
      if (op == g::Reduce::max || op == g::Reduce::min) {
        ASSERT_EQ(got(i, j), static_cast<float>(ref(i, j))) << i << "," << j;
      } else {
        expect_sum_close(got(i, j), ref(i, j), ab(i, j), terms, std::to_string(i));
      }
    }
  }
}

// ---- graph construction ---------------------------------------------------------------------------

//! The same neighbour lists (k per row) and the same d² bits, element by element.
template <class Nbr, class D2>
void expect_same_neighbours(const Nbr& got, const Nbr& want, const D2& got_d2, const D2& want_d2, index_t k,
                            const char* what = "row") {
  ASSERT_EQ(got.size(), want.size());
  for (index_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got.data()[i], want.data()[i]) << what << " " << i / k << " slot " << i % k;
    ASSERT_EQ(std::memcmp(got_d2.data() + i, want_d2.data() + i, sizeof(float)), 0) << what << " " << i / k;
  }
}

//! The host brute-force paths this build and CPU run (GPU queues ignore KnnOptions::isa).
std::vector<Isa> available_knn_isas() {
  std::vector<Isa> isas;
  for (const Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    if (isa_available(isa)) isas.push_back(isa);
  }
  return isas;
}

TYPED_TEST(Graph, KnnGraphMatchesFixtures) {
  using B = typename TypeParam::backend;
  for (const Isa isa : available_knn_isas()) {
    for (const char* file : {"knn_ties_exclude.txt", "knn_ties_include_first.txt", "knn_ties_radius.txt",
                             "knn_periodic.txt", "knn_d7.txt"}) {
      SCOPED_TRACE(std::string(file) + " " + to_string(isa));
      const Fixture fx(file);
      const auto x = this->template dev<float, 2>(fx, "x");
      const auto off = this->template dev<std::int32_t, 1>(fx, "offsets");
      const index_t n = x.extent(0), k = static_cast<index_t>(fx.scalar("k"));
      Tensor<std::int32_t, 2, typename TestFixture::DevSpace> nbr({n, k});
      Tensor<float, 2, typename TestFixture::DevSpace> d2({n, k});
      g::KnnOptions<float> opt;
      opt.self_mode = fx.scalar("include_self") != 0 ? g::SelfMode::include_first : g::SelfMode::exclude;
      opt.max_radius2 = static_cast<float>(fx.scalar("max_radius2"));
      opt.periodic_dim = static_cast<int>(fx.scalar("periodic_dim"));
      opt.isa = isa;
      g::knn_graph<B, float, std::int32_t>(this->queue(), x.view(), off.view(), nbr.view(), d2.view(), opt);
      const auto got_nbr = this->host(nbr);
      const auto got_d2 = this->host(d2);
      const auto want_nbr = fx.tensor<std::int32_t, 2>("nbr");
      const auto want_d2 = fx.tensor<float, 2>("d2");
      for (index_t i = 0; i < n; ++i) {
        for (index_t s = 0; s < k; ++s) {
          ASSERT_EQ(got_nbr(i, s), want_nbr(i, s)) << "row " << i << " slot " << s;
          if (std::isinf(want_d2(i, s))) {
            EXPECT_TRUE(std::isinf(got_d2(i, s)) && got_d2(i, s) > 0) << i << "," << s;
          } else {
            // Same float32 operations as the reference; 4 eps leaves room for FMA contraction on GPUs.
            EXPECT_NEAR(got_d2(i, s), want_d2(i, s), 4 * eps32 * want_d2(i, s)) << i << "," << s;
          }
        }
      }
    }
  }
}

//! Every host brute-force path (scalar, AVX2, AVX-512) gives the scalar path's neighbours and d² bits:
//! normal points (no ties, distances with rounding), D from 1 to 130 (beyond 128 the SIMD paths defer
//! to the scalar one), events of every size modulo the 8 and 16 query lanes, self excluded or first, a
//! radius, a periodic dimension, k larger than some events; and the bipartite knn on the same rows
//! (each point then finds itself at d² = 0). radius_graph's counting search takes the automatic path
//! (RadiusGraphMatchesFixtures, KnnBipartiteAndRadiusLargeEventsMatchSortedOracle).
TYPED_TEST(Graph, KnnEveryIsaGivesScalarBits) {
  using B = typename TypeParam::backend;
  using S = typename TestFixture::DevSpace;
  if constexpr (!B::is_host) {
    GTEST_SKIP() << "KnnOptions::isa chooses between host paths";
  } else {
    std::mt19937 rng(41);
    std::normal_distribution<float> normal;
    const std::vector<index_t> sizes = {37, 0, 1, 16, 5, 8, 300, 17, 15, 9, 64, 33};
    Tensor<std::int32_t, 1> oh({static_cast<index_t>(sizes.size()) + 1});
    for (std::size_t b = 0; b < sizes.size(); ++b) oh(b + 1) = oh(b) + static_cast<std::int32_t>(sizes[b]);
    const index_t n = oh(oh.extent(0) - 1);
    const auto off = this->to_device(this->queue(), oh);
    struct Setting {
      index_t dims, k;
      g::SelfMode mode;
      float max_radius2;
      int periodic_dim;
    };
    const float inf = std::numeric_limits<float>::infinity();
    const std::vector<Setting> settings = {
        {3, 16, g::SelfMode::exclude, inf, -1},        {16, 16, g::SelfMode::exclude, inf, -1},
        {1, 4, g::SelfMode::include_first, inf, -1},   {2, 7, g::SelfMode::exclude, 0.5f, 1},
        {4, 20, g::SelfMode::include_first, 3.0f, -1}, {7, 9, g::SelfMode::exclude, inf, 3},
        {16, 1, g::SelfMode::include_first, inf, -1},  {16, 25, g::SelfMode::exclude, 20.0f, 0},
        {32, 8, g::SelfMode::exclude, inf, 31},        {64, 16, g::SelfMode::include_first, inf, -1},
        {130, 5, g::SelfMode::exclude, inf, 100},      {3, 16, g::SelfMode::exclude, inf, 2}};
    for (const Setting& st : settings) {
      Tensor<float, 2> xh({n, st.dims});
      for (index_t i = 0; i < xh.size(); ++i) xh.data()[i] = normal(rng);
      if (st.periodic_dim >= 0) {
        for (index_t i = 0; i < n; ++i)
          xh(i, st.periodic_dim) = std::fmod(std::abs(xh(i, st.periodic_dim)) * 2.0f, 6.0f);
      }
      const auto x = this->to_device(this->queue(), xh);
      // The same points with a padded row stride (the SIMD scans special-case packed rows).
      Tensor<float, 2> xph({n, st.dims + 3});
      for (index_t i = 0; i < n; ++i) {
        for (index_t d = 0; d < st.dims; ++d) xph(i, d) = xh(i, d);
      }
      const auto xp = this->to_device(this->queue(), xph);
      const TensorView<const float, 2, S> padded(xp.data(), {n, st.dims}, {st.dims + 3, 1});
      g::KnnOptions<float> opt;
      opt.self_mode = st.mode;
      opt.max_radius2 = st.max_radius2;
      opt.periodic_dim = st.periodic_dim;
      opt.period = 6.0f;
      const auto run = [&](Isa isa, TensorView<const float, 2, S> xv) {
        opt.isa = isa;
        Tensor<std::int32_t, 2, S> nbr({n, st.k});
        Tensor<float, 2, S> d2({n, st.k});
        g::knn_graph<B, float, std::int32_t>(this->queue(), xv, off.view(), nbr.view(), d2.view(), opt);
        // The bipartite search of each event against itself.
        Tensor<std::int32_t, 2, S> nbq({n, st.k});
        Tensor<float, 2, S> d2q({n, st.k});
        g::KnnOptions<float> bopt = opt;
        bopt.self_mode = g::SelfMode::exclude;
        g::knn<B, float, std::int32_t>(this->queue(), xv, off.view(), xv, off.view(), nbq.view(), d2q.view(), bopt);
        return std::make_tuple(this->host(nbr), this->host(d2), this->host(nbq), this->host(d2q));
      };
      const auto [wn, wd, wbn, wbd] = run(Isa::scalar, x.view());
      for (const Isa isa : available_knn_isas()) {
        SCOPED_TRACE("D " + std::to_string(st.dims) + " k " + std::to_string(st.k) + " " + to_string(isa));
        const auto [gn, gd, gbn, gbd] = run(isa, x.view());
        expect_same_neighbours(gn, wn, gd, wd, st.k);
        expect_same_neighbours(gbn, wbn, gbd, wbd, st.k, "bipartite row");
        const auto [pn, pd, pbn, pbd] = run(isa, padded);
        expect_same_neighbours(pn, wn, pd, wd, st.k, "padded row");
        expect_same_neighbours(pbn, wbn, pbd, wbd, st.k, "padded bipartite row");
      }
    }
  }
}

TYPED_TEST(Graph, KnnGraphInt64Indices) {
  using B = typename TypeParam::backend;
  const Fixture fx("knn_ties_exclude.txt");
  const auto x = this->template dev<float, 2>(fx, "x");
  const auto off = this->template dev<std::int64_t, 1>(fx, "offsets");
  const index_t n = x.extent(0), k = static_cast<index_t>(fx.scalar("k"));
  Tensor<std::int64_t, 2, typename TestFixture::DevSpace> nbr({n, k});
  Tensor<float, 2, typename TestFixture::DevSpace> d2({n, k});
  g::knn_graph<B, float, std::int64_t>(this->queue(), x.view(), off.view(), nbr.view(), d2.view());
  const auto got = this->host(nbr);
  const auto want = fx.tensor<std::int64_t, 2>("nbr");
  for (index_t i = 0; i < got.size(); ++i) ASSERT_EQ(got.data()[i], want.data()[i]) << i;
}

TYPED_TEST(Graph, KnnBipartiteMatchesFixture) {
  using B = typename TypeParam::backend;
  const Fixture fx("knn_bipartite.txt");
  const auto xq = this->template dev<float, 2>(fx, "xq");
  const auto xr = this->template dev<float, 2>(fx, "xr");
  const auto offq = this->template dev<std::int32_t, 1>(fx, "offq");
  const auto offr = this->template dev<std::int32_t, 1>(fx, "offr");
  const index_t n = xq.extent(0), k = static_cast<index_t>(fx.scalar("k"));
  Tensor<std::int32_t, 2, typename TestFixture::DevSpace> nbr({n, k});
  Tensor<float, 2, typename TestFixture::DevSpace> d2({n, k});
  g::knn<B, float, std::int32_t>(this->queue(), xq.view(), offq.view(), xr.view(), offr.view(), nbr.view(), d2.view());
  const auto got = this->host(nbr);
  const auto got_d2 = this->host(d2);
  const auto want = fx.tensor<std::int32_t, 2>("nbr");
  const auto want_d2 = fx.tensor<float, 2>("d2");
  for (index_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got.data()[i], want.data()[i]) << i;
    ASSERT_EQ(got_d2.data()[i], want_d2.data()[i]) << i;  // small integer coordinates: exact
  }
}

TYPED_TEST(Graph, RadiusGraphMatchesFixtures) {
  using B = typename TypeParam::backend;
  using S = typename TestFixture::DevSpace;
  for (const char* file : {"radius_graph_loop0.txt", "radius_graph_loop1.txt"}) {
    SCOPED_TRACE(file);
    const Fixture fx(file);
    const auto x = this->template dev<float, 2>(fx, "x");
    const auto off = this->template dev<std::int32_t, 1>(fx, "offsets");
    const index_t n = x.extent(0), max_nbrs = static_cast<index_t>(fx.scalar("max_nbrs"));
    Tensor<std::int32_t, 2, S> nbr_ws({n, max_nbrs});
    Tensor<float, 2, S> d2_ws({n, max_nbrs});
    Tensor<std::int32_t, 1, S> indptr({n + 1}), src({n * max_nbrs});
    const auto info = g::radius_graph<B, float, std::int32_t>(
        this->queue(), x.view(), off.view(), static_cast<float>(fx.scalar("radius")), fx.scalar("loop") != 0,
        nbr_ws.view(), d2_ws.view(), indptr.view(), src.view());
    const auto want_indptr = fx.tensor<std::int32_t, 1>("indptr");
    const auto want_src = fx.tensor<std::int32_t, 1>("src");
    EXPECT_EQ(info.truncated, fx.scalar("truncated") != 0);
    ASSERT_EQ(info.num_edges, want_src.extent(0));
    const auto got_indptr = this->host(indptr);
    const auto got_src = this->host(src);
    for (index_t i = 0; i <= n; ++i) ASSERT_EQ(got_indptr(i), want_indptr(i)) << i;
    for (index_t e = 0; e < info.num_edges; ++e) ASSERT_EQ(got_src(e), want_src(e)) << e;
  }
}

//! Random points in `events` events; the first event's rows at a row offset that changes the query
//! blocking must give the same neighbours (shifted) and the same distance bits.
TYPED_TEST(Graph, KnnEventIndependentOfBatchAndBlocking) {
  using B = typename TypeParam::backend;
  using S = typename TestFixture::DevSpace;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  const index_t m = 37, d = 16, k = 8;
  Tensor<float, 2> alone({m, d});
  for (index_t i = 0; i < alone.size(); ++i) alone.data()[i] = normal(rng);
  const index_t pad = 3;  // an event of 3 rows in front shifts the event off the 4-row blocks
  Tensor<float, 2> batch({m + pad, d});
  for (index_t i = 0; i < pad * d; ++i) batch.data()[i] = normal(rng);
  for (index_t i = 0; i < alone.size(); ++i) batch.data()[pad * d + i] = alone.data()[i];
  Tensor<std::int32_t, 1> off1({2}), off2({3});
  off1(1) = static_cast<std::int32_t>(m);
  off2(1) = static_cast<std::int32_t>(pad);
  off2(2) = static_cast<std::int32_t>(m + pad);
  const auto run = [&](const Tensor<float, 2>& xh, const Tensor<std::int32_t, 1>& oh) {
    const auto x = this->to_device(this->queue(), xh);
    const auto o = this->to_device(this->queue(), oh);
    Tensor<std::int32_t, 2, S> nbr({xh.extent(0), k});
    Tensor<float, 2, S> d2({xh.extent(0), k});
    g::knn_graph<B, float, std::int32_t>(this->queue(), x.view(), o.view(), nbr.view(), d2.view());
    return std::make_pair(this->host(nbr), this->host(d2));
  };
  const auto [n1, d1] = run(alone, off1);
  const auto [n2, d2] = run(batch, off2);
  for (index_t i = 0; i < m; ++i) {
    for (index_t s = 0; s < k; ++s) {
      ASSERT_EQ(n1(i, s) + pad, n2(i + pad, s)) << i << "," << s;
      ASSERT_EQ(d1(i, s), d2(i + pad, s)) << i << "," << s;  // the same bits
    }
  }
}

//! The k nearest of row i among rows [begin, end) of its event by sorting (d², index) in double:
//! exact for the small integer coordinates of the tests. `self` excludes (or, first, includes) row i.
std::vector<std::pair<double, std::int32_t>> sorted_neighbours(const Tensor<float, 2>& xq, index_t i,
                                                               const Tensor<float, 2>& xr, index_t begin, index_t end,
                                                               bool same_set, double max_radius2, int periodic_dim,
                                                               double period) {
  std::vector<std::pair<double, std::int32_t>> c;
  for (index_t j = begin; j < end; ++j) {
    if (same_set && j == i) continue;
    double s = 0;
    for (index_t d = 0; d < xq.extent(1); ++d) {
      double v = std::abs(static_cast<double>(xq(i, d)) - xr(j, d));
      if (d == periodic_dim && v > period / 2) v = period - v;
      s += v * v;
    }
    if (s <= max_radius2) c.emplace_back(s, static_cast<std::int32_t>(j));
  }
  std::sort(c.begin(), c.end());
  return c;
}

//! Events large enough that the GPU kNN splits each query's candidates over 2 to 16 threads of a team
//! (and, for k = 34, keeps one thread per query), small integer coordinates (exact on every device,
//! many ties), against the sorted-candidate oracle: k from 1 to 34, self excluded or first, a radius,
//! a periodic dimension, 3-D and 16-D, empty events and events with fewer rows than k.
TYPED_TEST(Graph, KnnLargeEventsMatchSortedOracle) {
  using B = typename TypeParam::backend;
  using S = typename TestFixture::DevSpace;
  std::mt19937 rng(23);
  std::uniform_int_distribution<int> coord(0, 7);
  const std::vector<index_t> sizes = {0, 200, 5, 0, 151, 40};
  Tensor<std::int32_t, 1> oh({static_cast<index_t>(sizes.size()) + 1});
  for (std::size_t b = 0; b < sizes.size(); ++b) oh(b + 1) = oh(b) + static_cast<std::int32_t>(sizes[b]);
  const index_t n = oh(oh.extent(0) - 1);
  const auto off = this->to_device(this->queue(), oh);
  struct Setting {
    index_t dims, k;
    g::SelfMode mode;
    float max_radius2;
    int periodic_dim;
  };
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<Setting> settings = {
      {3, 2, g::SelfMode::exclude, inf, -1},          {3, 3, g::SelfMode::include_first, inf, -1},
      {3, 8, g::SelfMode::exclude, 6.0f, 1},          {16, 16, g::SelfMode::exclude, inf, -1},
      {16, 16, g::SelfMode::include_first, 60.0f, 0}, {16, 20, g::SelfMode::exclude, inf, 15},
      {3, 1, g::SelfMode::include_first, inf, -1},    {3, 34, g::SelfMode::exclude, inf, -1},
      {2, 33, g::SelfMode::include_first, 9.0f, 1}};
  for (const Setting& st : settings) {
    SCOPED_TRACE("D " + std::to_string(st.dims) + " k " + std::to_string(st.k));
    Tensor<float, 2> xh({n, st.dims});
    for (index_t i = 0; i < xh.size(); ++i) xh.data()[i] = static_cast<float>(coord(rng));
    const auto x = this->to_device(this->queue(), xh);
    Tensor<std::int32_t, 2, S> nbr({n, st.k});
    Tensor<float, 2, S> d2({n, st.k});
    g::KnnOptions<float> opt;
    opt.self_mode = st.mode;
    opt.max_radius2 = st.max_radius2;
    opt.periodic_dim = st.periodic_dim;
    opt.period = 8.0f;
    g::knn_graph<B, float, std::int32_t>(this->queue(), x.view(), off.view(), nbr.view(), d2.view(), opt);
    const auto got = this->host(nbr);
    const auto got_d2 = this->host(d2);
    for (index_t b = 0; b + 1 < oh.extent(0); ++b) {
      for (index_t i = oh(b); i < oh(b + 1); ++i) {
        auto want = sorted_neighbours(xh, i, xh, oh(b), oh(b + 1), true, st.max_radius2, st.periodic_dim, 8.0);
        if (st.mode == g::SelfMode::include_first) want.insert(want.begin(), {0.0, static_cast<std::int32_t>(i)});
        for (index_t s = 0; s < st.k; ++s) {
          const bool filled = s < static_cast<index_t>(want.size());
          ASSERT_EQ(got(i, s), filled ? want[s].second : -1) << "row " << i << " slot " << s;
          ASSERT_EQ(got_d2(i, s), filled ? static_cast<float>(want[s].first) : inf) << "row " << i << " slot " << s;
        }
      }
    }
  }
}

//! The same oracle for the bipartite knn and for radius_graph's neighbour counts and lists (the
//! counting search), on events large enough to split the candidates.
TYPED_TEST(Graph, KnnBipartiteAndRadiusLargeEventsMatchSortedOracle) {
  using B = typename TypeParam::backend;
  using S = typename TestFixture::DevSpace;
  std::mt19937 rng(29);
  std::uniform_int_distribution<int> coord(0, 9);
  const float inf = std::numeric_limits<float>::infinity();
  const index_t dims = 4, k = 6;
  Tensor<std::int32_t, 1> oq({4}), orf({4});
  const std::int32_t q_sizes[] = {280, 0, 31}, r_sizes[] = {260, 10, 0};
  for (int b = 0; b < 3; ++b) {
    oq(b + 1) = oq(b) + q_sizes[b];
    orf(b + 1) = orf(b) + r_sizes[b];
  }
  Tensor<float, 2> xqh({oq(3), dims}), xrh({orf(3), dims});
  for (index_t i = 0; i < xqh.size(); ++i) xqh.data()[i] = static_cast<float>(coord(rng));
  for (index_t i = 0; i < xrh.size(); ++i) xrh.data()[i] = static_cast<float>(coord(rng));
  const auto xq = this->to_device(this->queue(), xqh);
  const auto xr = this->to_device(this->queue(), xrh);
  const auto offq = this->to_device(this->queue(), oq);
  const auto offr = this->to_device(this->queue(), orf);
  Tensor<std::int32_t, 2, S> nbr({oq(3), k});
  Tensor<float, 2, S> d2({oq(3), k});
  g::knn<B, float, std::int32_t>(this->queue(), xq.view(), offq.view(), xr.view(), offr.view(), nbr.view(), d2.view());
  const auto got = this->host(nbr);
  const auto got_d2 = this->host(d2);
  for (index_t b = 0; b < 3; ++b) {
    for (index_t i = oq(b); i < oq(b + 1); ++i) {
      const auto want = sorted_neighbours(xqh, i, xrh, orf(b), orf(b + 1), false, inf, -1, 0.0);
      for (index_t s = 0; s < k; ++s) {
        const bool filled = s < static_cast<index_t>(want.size());
        ASSERT_EQ(got(i, s), filled ? want[s].second : -1) << "row " << i << " slot " << s;
        ASSERT_EQ(got_d2(i, s), filled ? static_cast<float>(want[s].first) : inf) << "row " << i << " slot " << s;
      }
    }
  }
  // radius_graph over the reference points: counts beyond the 12 kept neighbours are truncated.
  const index_t n = orf(3), max_nbrs = 12;
  const float radius = 3.0f;
  for (const bool loop : {false, true}) {
    SCOPED_TRACE(loop ? "loop" : "no loop");
    Tensor<std::int32_t, 2, S> nbr_ws({n, max_nbrs});
    Tensor<float, 2, S> d2_ws({n, max_nbrs});
    Tensor<std::int32_t, 1, S> indptr({n + 1}), src({n * max_nbrs});
    const auto info = g::radius_graph<B, float, std::int32_t>(this->queue(), xr.view(), offr.view(), radius, loop,
                                                              nbr_ws.view(), d2_ws.view(), indptr.view(), src.view());
    const auto got_indptr = this->host(indptr);
    const auto got_src = this->host(src);
    bool truncated = false;
    std::int32_t edges = 0;
    for (index_t b = 0; b < 3; ++b) {
      for (index_t i = orf(b); i < orf(b + 1); ++i) {
        auto want = sorted_neighbours(xrh, i, xrh, orf(b), orf(b + 1), true, radius * radius, -1, 0.0);
        if (loop) want.insert(want.begin(), {0.0, static_cast<std::int32_t>(i)});
        truncated = truncated || static_cast<index_t>(want.size()) > max_nbrs;
        const index_t kept = std::min<index_t>(max_nbrs, static_cast<index_t>(want.size()));
        ASSERT_EQ(got_indptr(i), edges) << i;
        for (index_t s = 0; s < kept; ++s) ASSERT_EQ(got_src(edges + s), want[s].second) << "row " << i << " " << s;
        edges += static_cast<std::int32_t>(kept);
      }
    }
    EXPECT_EQ(got_indptr(n), edges);
    EXPECT_EQ(info.num_edges, edges);
    EXPECT_TRUE(truncated);  // the case covers the counting beyond the kept slots
    EXPECT_EQ(info.truncated, truncated);
  }
}

//! Random (non-integer) 16-D and 3-D points in events that split the candidates: the same bits as the
//! Serial host search. Host-compiled backends only: a GPU compiler may contract a*b + c into an FMA.
TYPED_TEST(Graph, KnnLargeEventsGiveHostBits) {
  using B = typename TypeParam::backend;
  using S = typename TestFixture::DevSpace;
  if constexpr (!B::is_host) {
    GTEST_SKIP() << "device compilers may contract the distance into FMAs (last bits differ from the host)";
  } else {
    std::mt19937 rng(31);
    std::normal_distribution<float> normal;
    Tensor<std::int32_t, 1> oh({4});
    oh(1) = 200;
    oh(2) = 200;
    oh(3) = 260;
    const index_t n = oh(3);
    for (const index_t dims : {3, 16}) {
      for (const index_t k : {4, 25}) {
        SCOPED_TRACE("D " + std::to_string(dims) + " k " + std::to_string(k));
        Tensor<float, 2> xh({n, dims});
        for (index_t i = 0; i < xh.size(); ++i) xh.data()[i] = normal(rng);
        g::KnnOptions<float> opt;
        opt.periodic_dim = dims == 3 ? 2 : -1;
        Queue<backend::Serial> serial;
        Tensor<std::int32_t, 2> want({n, k});
        Tensor<float, 2> want_d2({n, k});
        g::knn_graph<backend::Serial, float, std::int32_t>(serial, xh.view(), oh.view(), want.view(), want_d2.view(),
                                                           opt);
        const auto x = this->to_device(this->queue(), xh);
        const auto off = this->to_device(this->queue(), oh);
        Tensor<std::int32_t, 2, S> nbr({n, k});
        Tensor<float, 2, S> d2({n, k});
        g::knn_graph<B, float, std::int32_t>(this->queue(), x.view(), off.view(), nbr.view(), d2.view(), opt);
        const auto got = this->host(nbr);
        const auto got_d2 = this->host(d2);
        expect_same_neighbours(got, want, got_d2, want_d2, k);
      }
    }
  }
}

//! knn_graph with a workspace (the grid search for D <= 4) on the fixtures.
TYPED_TEST(Graph, KnnGraphGridMatchesFixtures) {
  using B = typename TypeParam::backend;
  using S = typename TestFixture::DevSpace;
  for (const char* file : {"knn_ties_exclude.txt", "knn_ties_include_first.txt", "knn_ties_radius.txt"}) {
    SCOPED_TRACE(file);
    const Fixture fx(file);
    const auto x = this->template dev<float, 2>(fx, "x");
    const auto off = this->template dev<std::int32_t, 1>(fx, "offsets");
    const index_t n = x.extent(0), k = static_cast<index_t>(fx.scalar("k"));
    Tensor<std::int32_t, 2, S> nbr({n, k});
    Tensor<float, 2, S> d2({n, k});
    g::KnnOptions<float> opt;
    opt.self_mode = fx.scalar("include_self") != 0 ? g::SelfMode::include_first : g::SelfMode::exclude;
    opt.max_radius2 = static_cast<float>(fx.scalar("max_radius2"));
    const auto size = g::knn_graph_workspace_size(n, off.extent(0) - 1);
    Tensor<std::int32_t, 1, S> wi({size.indices});
    Tensor<float, 1, S> wr({size.reals});
    g::knn_graph<B, float, std::int32_t>(this->queue(), x.view(), off.view(), nbr.view(), d2.view(), opt,
                                         {wi.view(), wr.view()});
    const auto got = this->host(nbr);
    const auto want = fx.tensor<std::int32_t, 2>("nbr");
    for (index_t i = 0; i < got.size(); ++i) ASSERT_EQ(got.data()[i], want.data()[i]) << i;
  }
}

//! The grid search gives the brute force's neighbours and distance bits, on uniform, clustered and
//! duplicated points in 1 to 4 dimensions, with ragged events (empty and tiny ones).
TYPED_TEST(Graph, KnnGraphGridEqualsBruteForce) {
  using B = typename TypeParam::backend;
  using S = typename TestFixture::DevSpace;
  // GPU queues (and the Serial queue that emulates one) have no grid search: both calls would run the
  // same brute force, which KnnLargeEventsMatchSortedOracle checks on such events (and on fibers these
  // events cost minutes).
  if (runs_gpu_teams(this->queue())) return;
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-3.0f, 5.0f);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  const std::vector<index_t> sizes = {700, 0, 1, 5, 300, 17, 1200};
  Tensor<std::int32_t, 1> oh({static_cast<index_t>(sizes.size()) + 1});
  for (std::size_t b = 0; b < sizes.size(); ++b) oh(b + 1) = oh(b) + static_cast<std::int32_t>(sizes[b]);
  const index_t n = oh(oh.extent(0) - 1);
  for (index_t dims = 1; dims <= 4; ++dims) {
    for (int shape = 0; shape < 3; ++shape) {
      SCOPED_TRACE("dims " + std::to_string(dims) + " shape " + std::to_string(shape));
      Tensor<float, 2> xh({n, dims});
      for (index_t i = 0; i < n; ++i) {
        for (index_t d = 0; d < dims; ++d) {
          float v = u(rng);
          if (shape == 1) v = static_cast<float>(i % 5) + normal(rng);  // five tight clusters
          if (shape == 2) v = std::round(v);                            // many duplicates and ties
          xh(i, d) = v;
        }
      }
      const auto x = this->to_device(this->queue(), xh);
      const auto off = this->to_device(this->queue(), oh);
      // k = 9 and 16: the AVX-512 grid search keeps its list in vectors (<= 16 free slots; k = 9 with
      // leading −inf lanes), adding to it by insertion and by merging; k = 20: it defers to the portable
      // one. The brute force runs the scalar path, the grid search every available one.
      for (const index_t k : {9, 16, 20}) {
        for (const auto mode : {g::SelfMode::exclude, g::SelfMode::include_first}) {
          Tensor<std::int32_t, 2, S> nb({n, k});
          Tensor<float, 2, S> db({n, k});
          g::KnnOptions<float> opt;
          opt.self_mode = mode;
          opt.max_radius2 = shape == 0 ? 2.5f : std::numeric_limits<float>::infinity();
          opt.isa = Isa::scalar;
          g::knn_graph<B, float, std::int32_t>(this->queue(), x.view(), off.view(), nb.view(), db.view(), opt);
          const auto hb = this->host(nb);
          const auto hdb = this->host(db);
          const auto size = g::knn_graph_workspace_size(n, oh.extent(0) - 1);
          Tensor<std::int32_t, 1, S> wi({size.indices});
          Tensor<float, 1, S> wr({size.reals});
          for (const Isa isa : available_knn_isas()) {
            SCOPED_TRACE("k " + std::to_string(k) + " " + to_string(isa));
            Tensor<std::int32_t, 2, S> ng({n, k});
            Tensor<float, 2, S> dg({n, k});
            opt.isa = isa;
            g::knn_graph<B, float, std::int32_t>(this->queue(), x.view(), off.view(), ng.view(), dg.view(), opt,
                                                 {wi.view(), wr.view()});
            const auto hg = this->host(ng);
            const auto hdg = this->host(dg);
            expect_same_neighbours(hg, hb, hdg, hdb, k);
          }
        }
      }
    }
  }
}

//! knn_graph_workspace_size is exact: the grid search runs with that workspace and refuses one element
//! less of either type (the reals hold the grid geometry and the sorted coordinates).
TYPED_TEST(Graph, KnnGraphWorkspaceSizeIsExact) {
  using B = typename TypeParam::backend;
  using S = typename TestFixture::DevSpace;
  if (runs_gpu_teams(this->queue())) return;  // no grid search there (the workspace is not used)
  const index_t n = 600, k = 4;
  Tensor<float, 2> xh({n, 3});
  for (index_t i = 0; i < n; ++i) {
    for (index_t d = 0; d < 3; ++d) xh(i, d) = static_cast<float>((i * (d + 3) * 7919) % 1000) / 1000.0f;
  }
  Tensor<std::int32_t, 1> oh({2});
  oh(1) = static_cast<std::int32_t>(n);
  const auto x = this->to_device(this->queue(), xh);
  const auto off = this->to_device(this->queue(), oh);
  Tensor<std::int32_t, 2, S> nbr({n, k});
  Tensor<float, 2, S> d2({n, k});
  const auto size = g::knn_graph_workspace_size(n, 1);
  EXPECT_EQ(size.indices, 2 * n + 1 + 1 + 4);
  EXPECT_EQ(size.reals, 8 + 4 * n);
  Tensor<std::int32_t, 1, S> wi({size.indices});
  Tensor<float, 1, S> wr({size.reals});
  g::knn_graph<B, float, std::int32_t>(this->queue(), x.view(), off.view(), nbr.view(), d2.view(), {},
                                       {wi.view(), wr.view()});
  EXPECT_THROW((g::knn_graph<B, float, std::int32_t>(this->queue(), x.view(), off.view(), nbr.view(), d2.view(), {},
                                                     {wi.view().row_slice(0, size.indices - 1), wr.view()})),
               ShapeError);
  EXPECT_THROW((g::knn_graph<B, float, std::int32_t>(this->queue(), x.view(), off.view(), nbr.view(), d2.view(), {},
                                                     {wi.view(), wr.view().row_slice(0, size.reals - 1)})),
               ShapeError);
}

TYPED_TEST(Graph, KnnArgumentChecks) {
  using B = typename TypeParam::backend;
  using S = typename TestFixture::DevSpace;
  Tensor<float, 2> xh({5, 2});
  Tensor<std::int32_t, 1> oh({3});
  oh(0) = 0;
  oh(1) = 3;
  oh(2) = 4;  // does not end at N = 5
  const auto x = this->to_device(this->queue(), xh);
  auto o = this->to_device(this->queue(), oh);
  Tensor<std::int32_t, 2, S> nbr({5, 2});
  Tensor<float, 2, S> d2({5, 2});
  try {
    g::knn_graph<B, float, std::int32_t>(this->queue(), x.view(), o.view(), nbr.view(), d2.view());
    FAIL() << "no exception";
  } catch (const ShapeError& e) {
    EXPECT_STREQ(e.what(), "portml::kernels::graph::knn_graph: offsets must end at 5: offsets[2] = 4");
  }
  oh(1) = 6;
  oh(2) = 5;
  o = this->to_device(this->queue(), oh);
  try {
    g::knn_graph<B, float, std::int32_t>(this->queue(), x.view(), o.view(), nbr.view(), d2.view());
    FAIL() << "no exception";
  } catch (const ShapeError& e) {
    EXPECT_STREQ(e.what(), "portml::kernels::graph::knn_graph: offsets must not decrease: offsets[2] = 5");
  }
  oh(1) = 2;
  o = this->to_device(this->queue(), oh);
  Tensor<std::int32_t, 2, S> nbr0({5, 0});
  Tensor<float, 2, S> d20({5, 0});
  EXPECT_THROW((g::knn_graph<B, float, std::int32_t>(this->queue(), x.view(), o.view(), nbr0.view(), d20.view())),
               ShapeError);
  g::KnnOptions<float> opt;
  opt.periodic_dim = 2;
  EXPECT_THROW((g::knn_graph<B, float, std::int32_t>(this->queue(), x.view(), o.view(), nbr.view(), d2.view(), opt)),
               ShapeError);
}

// ---- reductions -------------------------------------------------------------------------------------

TYPED_TEST(Graph, GatherRowsMatchesFixture) {
  using B = typename TypeParam::backend;
  const Fixture fx("gather_rows.txt");
  const auto x = this->template dev<float, 2>(fx, "x");
  const auto idx = this->template dev<std::int32_t, 1>(fx, "idx");
  Tensor<float, 2, typename TestFixture::DevSpace> y({idx.extent(0), x.extent(1)});
  g::gather_rows<B, float, std::int32_t>(this->queue(), x.view(), idx.view(), y.view());
  const auto got = this->host(y);
  const auto want = fx.tensor<float, 2>("y");
  for (index_t i = 0; i < got.size(); ++i) ASSERT_EQ(got.data()[i], want.data()[i]) << i;
}

TYPED_TEST(Graph, GatherRowsRejectsOutOfRangeIndex) {
  using B = typename TypeParam::backend;
  Tensor<std::int32_t, 1> ih({4});
  ih(0) = 1;
  ih(1) = -1;
  ih(2) = 9;
  ih(3) = -2;
  const auto idx = this->to_device(this->queue(), ih);
  Tensor<float, 2, typename TestFixture::DevSpace> x({9, 2}), y({4, 2});
  try {
    g::gather_rows<B, float, std::int32_t>(this->queue(), x.view(), idx.view(), y.view());
    FAIL() << "no exception";
  } catch (const IndexError& e) {
    EXPECT_STREQ(e.what(), "portml::kernels::graph::gather_rows: idx[2] = 9 outside [-1, 9)");
  }
}

TYPED_TEST(Graph, EllReduceMatchesFixture) {
  using B = typename TypeParam::backend;
  const Fixture fx("ell_reduce.txt");
  const auto m = this->template dev<float, 3>(fx, "m");
  const auto nbr = this->template dev<std::int32_t, 2>(fx, "nbr");
  const index_t n = m.extent(0), k = m.extent(1), f = m.extent(2);
  struct Case {
    g::Reduce op;
    g::MeanDivisor div;
    const char* key;
  };
  for (const Case c : {Case{g::Reduce::sum, g::MeanDivisor::valid, "sum"},
                       {g::Reduce::mean, g::MeanDivisor::valid, "mean"},
                       {g::Reduce::mean, g::MeanDivisor::k, "meank"},
                       {g::Reduce::max, g::MeanDivisor::valid, "max"},
                       {g::Reduce::min, g::MeanDivisor::valid, "min"}}) {
    SCOPED_TRACE(c.key);
    Tensor<float, 2, typename TestFixture::DevSpace> y({n, f});
    g::ell_reduce<B, float, std::int32_t>(this->queue(), m.view(), nbr.view(), y.view(), c.op, c.div);
    const auto got = this->host(y);
    const auto ref = fx.tensor<double, 2>(std::string(c.key) + "_ref");
    const auto ab = fx.tensor<double, 2>(std::string(c.key) + "_abs");
    for (index_t i = 0; i < n; ++i) {
      for (index_t j = 0; j < f; ++j) {
        if (c.op == g::Reduce::max || c.op == g::Reduce::min) {
          ASSERT_EQ(got(i, j), static_cast<float>(ref(i, j))) << i << "," << j;  // a selection: exact
        } else {
          expect_sum_close(got(i, j), ref(i, j), ab(i, j), static_cast<double>(k),
                           std::to_string(i) + "," + std::to_string(j));
        }
      }
    }
  }
}

TYPED_TEST(Graph, SegmentReduceMatchesFixture) {
  using B = typename TypeParam::backend;
  using S = typename TestFixture::DevSpace;
  const Fixture fx("segment_reduce.txt");
  const auto m = this->template dev<float, 2>(fx, "m");
  const auto indptr = this->template dev<std::int32_t, 1>(fx, "indptr");
  const index_t n = indptr.extent(0) - 1, f = m.extent(1), e = m.extent(0);
  for (const auto& [op, key] : {std::pair{g::Reduce::sum, "sum"},
                                {g::Reduce::mean, "mean"},
                                {g::Reduce::max, "max"},
                                {g::Reduce::min, "min"}}) {
    SCOPED_TRACE(key);
    const bool selects = op == g::Reduce::max || op == g::Reduce::min;
    Tensor<float, 2, S> y({n, f});
    Tensor<std::int32_t, 2, S> arg({selects ? n : 0, f});
    g::segment_reduce<B, float, std::int32_t>(this->queue(), m.view(), indptr.view(), y.view(), op, arg.view());
    const auto got = this->host(y);
    ASSERT_NO_FATAL_FAILURE(expect_reduction_matches_fixture(fx, key, op, got, static_cast<double>(e)));
    if (selects) {
      const auto got_arg = this->host(arg);
      const auto want_arg = fx.tensor<std::int32_t, 2>(op == g::Reduce::max ? "argmax" : "argmin");
      for (index_t i = 0; i < got_arg.size(); ++i) ASSERT_EQ(got_arg.data()[i], want_arg.data()[i]) << i;
    }
  }
}

TYPED_TEST(Graph, SegmentReduceInt64AndChecks) {
  using B = typename TypeParam::backend;
  using S = typename TestFixture::DevSpace;
  const Fixture fx("segment_reduce.txt");
  const auto m = this->template dev<float, 2>(fx, "m");
  const auto indptr = this->template dev<std::int64_t, 1>(fx, "indptr");
  const index_t n = indptr.extent(0) - 1, f = m.extent(1);
  Tensor<float, 2, S> y({n, f});
  g::segment_reduce<B, float, std::int64_t>(this->queue(), m.view(), indptr.view(), y.view(), g::Reduce::max);
  const auto got = this->host(y);
  const auto ref = fx.tensor<double, 2>("max_ref");
  for (index_t i = 0; i < got.size(); ++i) ASSERT_EQ(got.data()[i], static_cast<float>(ref.data()[i])) << i;

  Tensor<std::int64_t, 1> bad({n + 1});
  for (index_t i = 0; i <= n; ++i) bad(i) = i == 0 ? 1 : m.extent(0);
  const auto dbad = this->to_device(this->queue(), bad);
  try {
    g::segment_reduce<B, float, std::int64_t>(this->queue(), m.view(), dbad.view(), y.view(), g::Reduce::sum);
    FAIL() << "no exception";
  } catch (const ShapeError& ex) {
    EXPECT_STREQ(ex.what(), "portml::kernels::graph::segment_reduce: indptr must start at 0: indptr[0] = 1");
  }
  Tensor<std::int64_t, 2, S> arg({n, f});
  EXPECT_THROW((g::segment_reduce<B, float, std::int64_t>(this->queue(), m.view(), indptr.view(), y.view(),
                                                          g::Reduce::sum, arg.view())),
               ShapeError);
}

TYPED_TEST(Graph, ScatterReduceMatchesFixtureAndIsRepeatable) {
  using B = typename TypeParam::backend;
  using S = typename TestFixture::DevSpace;
  const Fixture fx("scatter_reduce.txt");
  const auto m = this->template dev<float, 2>(fx, "m");
  const auto dst = this->template dev<std::int32_t, 1>(fx, "dst");
  const index_t n = static_cast<index_t>(fx.scalar("num_nodes")), f = m.extent(1), e = m.extent(0);
  Tensor<std::int32_t, 1, S> ws({g::scatter_reduce_workspace_size(n, e)});
  for (const auto& [op, key] : {std::pair{g::Reduce::sum, "sum"},
                                {g::Reduce::mean, "mean"},
                                {g::Reduce::max, "max"},
                                {g::Reduce::min, "min"}}) {
    SCOPED_TRACE(key);
    Tensor<float, 2, S> y({n, f}), y2({n, f});
    g::scatter_reduce<B, float, std::int32_t>(this->queue(), m.view(), dst.view(), y.view(), op, ws.view());
    g::scatter_reduce<B, float, std::int32_t>(this->queue(), m.view(), dst.view(), y2.view(), op, ws.view());
    const auto got = this->host(y);
    const auto again = this->host(y2);
    for (index_t i = 0; i < n; ++i)
      for (index_t j = 0; j < f; ++j) ASSERT_EQ(got(i, j), again(i, j)) << "not repeatable at " << i << "," << j;
    ASSERT_NO_FATAL_FAILURE(expect_reduction_matches_fixture(fx, key, op, got, static_cast<double>(e)));
  }
  // The sum folds each destination's edges in ascending edge order: the same bits as a sequential
  // float loop in that order.
  Tensor<float, 2, S> y({n, f});
  g::scatter_reduce<B, float, std::int32_t>(this->queue(), m.view(), dst.view(), y.view(), g::Reduce::sum, ws.view());
  const auto got = this->host(y);
  const auto mh = fx.tensor<float, 2>("m");
  const auto dh = fx.tensor<std::int32_t, 1>("dst");
  Tensor<float, 2> seq({n, f});
  for (index_t k = 0; k < e; ++k)
    for (index_t j = 0; j < f; ++j) seq(dh(k), j) += mh(k, j);
  for (index_t i = 0; i < seq.size(); ++i) ASSERT_EQ(got.data()[i], seq.data()[i]) << i;
}

// The opt-in atomic mode against the same PyTorch fixture: max and min exact (the fixture has no signed
// zeros), sum and mean within the float tolerance of any summation order; the counts it leaves in the
// workspace are those of the fixture's destinations.
TYPED_TEST(Graph, ScatterReduceAtomicModeMatchesFixture) {
  using B = typename TypeParam::backend;
  using S = typename TestFixture::DevSpace;
  const Fixture fx("scatter_reduce.txt");
  const auto m = this->template dev<float, 2>(fx, "m");
  const auto dst = this->template dev<std::int32_t, 1>(fx, "dst");
  const index_t n = static_cast<index_t>(fx.scalar("num_nodes")), f = m.extent(1), e = m.extent(0);
  Tensor<std::int32_t, 1, S> ws({g::scatter_reduce_workspace_size(n, e)});
  const auto dh = fx.tensor<std::int32_t, 1>("dst");
  for (const auto& [op, key] : {std::pair{g::Reduce::sum, "sum"},
                                {g::Reduce::mean, "mean"},
                                {g::Reduce::max, "max"},
                                {g::Reduce::min, "min"}}) {
    SCOPED_TRACE(key);
    Tensor<float, 2, S> y({n, f});
    g::scatter_reduce<B, float, std::int32_t>(this->queue(), m.view(), dst.view(), y.view(), op, ws.view(),
                                              g::ScatterMode::atomic);
    ASSERT_NO_FATAL_FAILURE(expect_reduction_matches_fixture(fx, key, op, this->host(y), static_cast<double>(e)));
    const auto counts = this->host(ws);
    std::vector<std::int32_t> want(static_cast<std::size_t>(n), 0);
    for (index_t k = 0; k < e; ++k) ++want[static_cast<std::size_t>(dh(k))];
    for (index_t i = 0; i < n; ++i) ASSERT_EQ(counts(i), want[static_cast<std::size_t>(i)]) << i;
  }
  // Index checks come first in this mode too.
  Tensor<std::int32_t, 1> bad({1});
  bad(0) = static_cast<std::int32_t>(n);
  const auto dbad = this->to_device(this->queue(), bad);
  Tensor<float, 2, S> m1({1, f}), y1({n, f});
  EXPECT_THROW((g::scatter_reduce<B, float, std::int32_t>(this->queue(), m1.view(), dbad.view(), y1.view(),
                                                          g::Reduce::max, ws.view(), g::ScatterMode::atomic)),
               IndexError);
}

TYPED_TEST(Graph, ScatterReduceChecks) {
  using B = typename TypeParam::backend;
  using S = typename TestFixture::DevSpace;
  Tensor<std::int32_t, 1> dh({3});
  dh(0) = 0;
  dh(1) = 4;
  dh(2) = 1;
  const auto dst = this->to_device(this->queue(), dh);
  Tensor<float, 2, S> m({3, 2}), y({4, 2});
  Tensor<std::int32_t, 1, S> small({3}), ws({g::scatter_reduce_workspace_size(4, 3)});
  EXPECT_THROW((g::scatter_reduce<B, float, std::int32_t>(this->queue(), m.view(), dst.view(), y.view(), g::Reduce::sum,
                                                          small.view())),
               ShapeError);
  try {
    g::scatter_reduce<B, float, std::int32_t>(this->queue(), m.view(), dst.view(), y.view(), g::Reduce::sum, ws.view());
    FAIL() << "no exception";
  } catch (const IndexError& e) {
    EXPECT_STREQ(e.what(), "portml::kernels::graph::scatter_reduce: dst[1] = 4 outside [0, 4)");
  }
}

//! One destination pattern of the sort cases below.
enum class DstPattern { random, one_node, sorted, reversed };

//! dst [E] in [0, N) of a pattern (random: uniform, seeded).
template <class Index>
Tensor<Index, 1> destinations(index_t n, index_t e, DstPattern pattern, unsigned seed) {
  Tensor<Index, 1> dst({e});
  std::mt19937 rng(seed);
  std::uniform_int_distribution<index_t> node(0, n - 1);
  for (index_t k = 0; k < e; ++k) {
    switch (pattern) {
      case DstPattern::random:
        dst(k) = static_cast<Index>(node(rng));
        break;
      case DstPattern::one_node:
        dst(k) = static_cast<Index>(n - 1);
        break;
      case DstPattern::sorted:
        dst(k) = static_cast<Index>(k * n / e);
        break;
      case DstPattern::reversed:
        dst(k) = static_cast<Index>((e - 1 - k) * n / e);
        break;
    }
  }
  return dst;
}

//! scatter_reduce (sum, mean) of E random rows to dst on queue q, against the stable order and the fold
//! computed here: indptr and perm (the workspace's first N + 1 + E elements) equal to a std::stable_sort
//! of the edge ids by destination, Y bit-equal to a sequential float loop in ascending edge order. The
//! workspace is exactly scatter_reduce_workspace_size(N, E) followed by guard elements that must stay
//! untouched; where the GPU path's radix sort needs more scratch than the host's cursor, its last
//! element must be used (the size is not larger than needed).
template <class B, class Index>
void check_scatter_sort_case(Queue<B>& q, index_t n, index_t e, index_t f, DstPattern pattern, unsigned seed) {
  using S = memory_space_t<B>;
  SCOPED_TRACE("N = " + std::to_string(n) + ", E = " + std::to_string(e) + ", F = " + std::to_string(f) + ", pattern " +
               std::to_string(static_cast<int>(pattern)));
  const index_t guard = 16;
  const auto dh = destinations<Index>(n, e, pattern, seed);
  Tensor<float, 2> mh({e, f});
  std::mt19937 rng(seed + 1);
  std::normal_distribution<float> normal;
  for (index_t i = 0; i < mh.size(); ++i) mh.data()[i] = normal(rng);
  const index_t size = g::scatter_reduce_workspace_size(n, e);
  constexpr Index sentinel = -7;
  Tensor<Index, 1> wh({size + guard});
  for (index_t i = 0; i < wh.size(); ++i) wh(i) = sentinel;
  Tensor<float, 2, S> m({e, f}), y({n, f});
  Tensor<Index, 1, S> dst({e}), ws({size + guard});
  deep_copy(q, m.view(), mh.view());
  deep_copy(q, dst.view(), dh.view());
  deep_copy(q, ws.view(), wh.view());
  g::scatter_reduce<B, float, Index>(q, m.view(), dst.view(), y.view(), g::Reduce::sum, ws.view().row_slice(0, size));
  Tensor<float, 2> got({n, f});
  Tensor<Index, 1> wgot({size + guard});
  deep_copy(q, got.view(), y.view());
  deep_copy(q, wgot.view(), ws.view());
  q.wait();

  std::vector<Index> perm(static_cast<std::size_t>(e));
  for (index_t k = 0; k < e; ++k) perm[static_cast<std::size_t>(k)] = static_cast<Index>(k);
  std::stable_sort(perm.begin(), perm.end(), [&](Index a, Index b) { return dh(a) < dh(b); });
  std::vector<Index> indptr(static_cast<std::size_t>(n + 1), 0);
  for (index_t k = 0; k < e; ++k) ++indptr[static_cast<std::size_t>(dh(k)) + 1];
  for (index_t i = 0; i < n; ++i) indptr[static_cast<std::size_t>(i + 1)] += indptr[static_cast<std::size_t>(i)];
  for (index_t i = 0; i <= n; ++i) ASSERT_EQ(wgot(i), indptr[static_cast<std::size_t>(i)]) << "indptr " << i;
  for (index_t k = 0; k < e; ++k) ASSERT_EQ(wgot(n + 1 + k), perm[static_cast<std::size_t>(k)]) << "perm " << k;
  for (index_t i = size; i < size + guard; ++i) ASSERT_EQ(wgot(i), sentinel) << "guard " << i - size;
  if (runs_gpu_teams(q) && g::detail::radix_sort_scratch_size(n, e) > n) {
    EXPECT_NE(wgot(size - 1), sentinel) << "the workspace's last element is not used";
  }
  Tensor<float, 2> seq({n, f});
  for (index_t k = 0; k < e; ++k)
    for (index_t j = 0; j < f; ++j) seq(dh(k), j) += mh(k, j);
  for (index_t i = 0; i < seq.size(); ++i) ASSERT_EQ(got.data()[i], seq.data()[i]) << i;
  // The mean: the same sum divided by the edge count (0 for an empty destination).
  g::scatter_reduce<B, float, Index>(q, m.view(), dst.view(), y.view(), g::Reduce::mean, ws.view().row_slice(0, size));
  deep_copy(q, got.view(), y.view());
  q.wait();
  for (index_t i = 0; i < n; ++i) {
    const auto count =
        static_cast<float>(indptr[static_cast<std::size_t>(i + 1)] - indptr[static_cast<std::size_t>(i)]);
    for (index_t j = 0; j < f; ++j) ASSERT_EQ(got(i, j), count > 0 ? seq(i, j) / count : 0.0f) << i << "," << j;
  }
}

// The sort of scatter_reduce at its edges, on every backend (the host's counting sort; the radix sort
// on GPU queues and the GPU-emulating Serial queue): one pass or none (N = 1, 2^8 − 1, 2^8), the pass
// count's steps (2^8 + 1: two passes of 5 bits; 2^16: two of 8, 256 buckets; 70 000: three of 6), no
// edge, one edge, E not a multiple of the 2048-key tile, every edge to one node (also the longest run of
// empty destinations), already sorted and reversed destinations, int64_t indices; F = 1 as well (the
// segment fold's one-feature path, which GPUs take for every F).
TYPED_TEST(Graph, ScatterReduceSortEdgeCases) {
  using B = typename TypeParam::backend;
  struct Case {
    index_t n, e, f;
    DstPattern pattern;
  };
  const Case cases[] = {{1, 300, 3, DstPattern::random},       {1, 0, 3, DstPattern::random},
                        {5, 0, 1, DstPattern::random},         {7, 1, 3, DstPattern::random},
                        {255, 5000, 1, DstPattern::random},    {256, 2048, 3, DstPattern::random},
                        {257, 4097, 3, DstPattern::random},    {65536, 3000, 1, DstPattern::random},
                        {70000, 30001, 3, DstPattern::random}, {10000, 160000, 1, DstPattern::random},
                        {1000, 5000, 3, DstPattern::one_node}, {3000, 9000, 3, DstPattern::sorted},
                        {3000, 9000, 1, DstPattern::reversed}, {40000, 4095, 3, DstPattern::reversed},
                        {129, 100, 3, DstPattern::one_node}};
  unsigned seed = 11;
  for (const Case& c : cases) {
    ASSERT_NO_FATAL_FAILURE(
        (check_scatter_sort_case<B, std::int32_t>(this->queue(), c.n, c.e, c.f, c.pattern, ++seed)));
  }
  ASSERT_NO_FATAL_FAILURE(
      (check_scatter_sort_case<B, std::int64_t>(this->queue(), 70000, 9000, 3, DstPattern::random, 99)));
}

//! The shape of the GPU path's sort: passes and digit widths from N, the table from E.
TEST(GraphScatterSort, RadixShape) {
  struct Want {
    index_t n, passes, digit_bits, team;
  };
  for (const Want& w :
       {Want{0, 0, 0, 128}, Want{1, 0, 0, 128}, Want{2, 1, 1, 128}, Want{256, 1, 8, 64}, Want{257, 2, 5, 128},
        Want{10000, 2, 7, 128}, Want{65536, 2, 8, 64}, Want{65537, 3, 6, 128}, Want{70000, 3, 6, 128}}) {
    const auto shape = g::detail::radix_sort_shape(w.n, 160000);
    EXPECT_EQ(shape.passes, w.passes) << w.n;
    EXPECT_EQ(shape.digit_bits, w.digit_bits) << w.n;
    EXPECT_EQ(shape.team, w.team) << w.n;
    EXPECT_EQ(shape.tiles, 79) << w.n;
  }
  // N = 10 000, E = 160 000: indptr, perm, then 3 E + 128 · 79 of radix scratch.
  EXPECT_EQ(g::scatter_reduce_workspace_size(10000, 160000), 10001 + 160000 + 3 * 160000 + 128 * 79);
  // One pass: its keys and the table; no pass: the host's cursor.
  EXPECT_EQ(g::scatter_reduce_workspace_size(200, 5000), 201 + 5000 + 5000 + 256 * 3);
  EXPECT_EQ(g::scatter_reduce_workspace_size(1, 5000), 2 + 5000 + 1);
}

// Launches and host synchronisations of one sorted scatter_reduce on a GPU-shaped queue (the counting
// test backend of the GNN tests): the index check (one reduction: the only synchronisation), three
// kernels per radix pass, the indptr kernel and the segment fold. E = 160 000, N = 10 000 (two passes):
// 8 launches; the merge sort it replaced took 21 (1 + 18 passes + indptr + fold).
TEST(GraphScatterSort, LaunchesAndSynchronisations) {
  const index_t n = 10000, e = 160000, f = 4;
  const auto dh = destinations<std::int32_t>(n, e, DstPattern::random, 3);
  Tensor<float, 2> m({e, f}), y({n, f});
  Tensor<std::int32_t, 1> ws({g::scatter_reduce_workspace_size(n, e)});
  Queue<CountingGpu> q;
  g::scatter_reduce<CountingGpu, float, std::int32_t>(q, m.view(), dh.view(), y.view(), g::Reduce::sum, ws.view());
  std::cout << "  scatter_reduce sorted, E = " << e << ", N = " << n << ": " << q.counts.gpu_kernels()
            << " GPU kernels (" << q.counts.kernels << " launches + " << q.counts.reductions << " reductions), "
            << q.counts.syncs() << " host synchronisations\n";
  EXPECT_EQ(q.counts.kernels, 8);
  EXPECT_EQ(q.counts.reductions, 1);
  EXPECT_EQ(q.counts.syncs(), 1);
  EXPECT_EQ(q.counts.copies, 0);
}

TYPED_TEST(Graph, SegmentSoftmaxMatchesFixture) {
  using B = typename TypeParam::backend;
  const Fixture fx("segment_softmax.txt");
  const auto s = this->template dev<float, 2>(fx, "s");
  const auto indptr = this->template dev<std::int32_t, 1>(fx, "indptr");
  Tensor<float, 2, typename TestFixture::DevSpace> p({s.extent(0), s.extent(1)});
  g::segment_softmax<B, float, std::int32_t>(this->queue(), s.view(), indptr.view(), p.view());
  const auto got = this->host(p);
  const auto ref = fx.tensor<double, 2>("p_ref");
  const auto sh = fx.tensor<float, 2>("s");
  const auto ih = fx.tensor<std::int32_t, 1>("indptr");
  for (index_t i = 0; i + 1 < ih.extent(0); ++i) {
    for (index_t h = 0; h < sh.extent(1); ++h) {
      double mx = -INFINITY;
      for (index_t r = ih(i); r < ih(i + 1); ++r) mx = std::max(mx, static_cast<double>(sh(r, h)));
      const double len = ih(i + 1) - ih(i);
      for (index_t r = ih(i); r < ih(i + 1); ++r) {
        if (ref(r, h) == 0) {
          ASSERT_EQ(got(r, h), 0.0f) << r << "," << h;
          continue;
        }
        // float32: s − max rounds by eps·|s − max| (amplified 1:1 by exp), exp adds ~1 ulp, the sum
        // of len terms len·eps, the division 1 ulp.
        const double rel = (std::abs(sh(r, h) - mx) + len + 3) * eps32;
        ASSERT_NEAR(got(r, h), ref(r, h), rel * ref(r, h)) << r << "," << h;
      }
    }
  }
}

TYPED_TEST(Graph, GlobalPoolMatchesFixture) {
  using B = typename TypeParam::backend;
  const Fixture fx("global_pool.txt");
  const auto x = this->template dev<float, 2>(fx, "x");
  const auto off = this->template dev<std::int32_t, 1>(fx, "offsets");
  const index_t b = off.extent(0) - 1, f = x.extent(1);
  for (const auto& [op, key] : {std::pair{g::Reduce::sum, "sum"}, {g::Reduce::mean, "mean"}, {g::Reduce::max, "max"}}) {
    SCOPED_TRACE(key);
    Tensor<float, 2, typename TestFixture::DevSpace> y({b, f});
    g::global_pool<B, float, std::int32_t>(this->queue(), x.view(), off.view(), y.view(), op);
    const auto got = this->host(y);
    const auto ref = fx.tensor<double, 2>(std::string(key) + "_ref");
    const auto ab = fx.tensor<double, 2>(std::string(key) + "_abs");
    for (index_t i = 0; i < b; ++i) {
      for (index_t j = 0; j < f; ++j) {
        if (op == g::Reduce::max) {
          ASSERT_EQ(got(i, j), static_cast<float>(ref(i, j))) << i << "," << j;
        } else {
          expect_sum_close(got(i, j), ref(i, j), ab(i, j), static_cast<double>(x.extent(0)), std::to_string(i));
        }
      }
    }
  }
}

TYPED_TEST(Graph, MaxAndMinPropagateNaN) {
  using B = typename TypeParam::backend;
  using S = typename TestFixture::DevSpace;
  Tensor<float, 2> mh({4, 1});
  mh(0, 0) = 1.0f;
  mh(1, 0) = std::numeric_limits<float>::quiet_NaN();
  mh(2, 0) = 5.0f;
  mh(3, 0) = -2.0f;
  Tensor<std::int32_t, 1> ih({2});
  ih(1) = 4;
  const auto m = this->to_device(this->queue(), mh);
  const auto indptr = this->to_device(this->queue(), ih);
  for (const auto op : {g::Reduce::max, g::Reduce::min}) {
    Tensor<float, 2, S> y({1, 1});
    Tensor<std::int32_t, 2, S> arg({1, 1});
    g::segment_reduce<B, float, std::int32_t>(this->queue(), m.view(), indptr.view(), y.view(), op, arg.view());
    EXPECT_TRUE(std::isnan(this->host(y)(0, 0)));
    EXPECT_EQ(this->host(arg)(0, 0), 1);
  }
}

#if PORTML_ENABLE_OPENMP
//! Host results do not depend on the backend or the thread count: OpenMP with 1, 2 and 3 threads
//! gives Serial's bits for the float reductions and kNN (brute force and grid).
TEST(GraphDeterminism, OpenMPThreadCountsGiveSerialBits) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  std::uniform_int_distribution<int> deg(0, 40);
  const index_t n = 3000, f = 19, events = 3;  // events of 1000 rows: the grid search runs
  Tensor<std::int32_t, 1> indptr({n + 1});
  for (index_t i = 0; i < n; ++i) indptr(i + 1) = indptr(i) + deg(rng);
  const index_t e = indptr(n);
  Tensor<float, 2> m({e, f});
  for (index_t i = 0; i < m.size(); ++i) m.data()[i] = normal(rng);
  Tensor<std::int32_t, 1> dst({e});
  std::uniform_int_distribution<std::int32_t> node(0, static_cast<std::int32_t>(n - 1));
  for (index_t r = 0; r < e; ++r) dst(r) = node(rng);
  Tensor<float, 2> x({n, 3});
  for (index_t i = 0; i < x.size(); ++i) x.data()[i] = normal(rng);
  Tensor<std::int32_t, 1> off({events + 1});
  for (index_t b = 0; b <= events; ++b) off(b) = static_cast<std::int32_t>(b * n / events);
  const index_t k = 12;

  struct Result {
    Tensor<float, 2> seg, scat, d2, d2g;
    Tensor<std::int32_t, 2> nbr, nbrg;
  };
  const auto run = [&]<class B>(Queue<B>& q) {
    Result r{Tensor<float, 2>({n, f}), Tensor<float, 2>({n, f}),        Tensor<float, 2>({n, k}),
             Tensor<float, 2>({n, k}), Tensor<std::int32_t, 2>({n, k}), Tensor<std::int32_t, 2>({n, k})};
    g::segment_reduce<B, float, std::int32_t>(q, m.view(), indptr.view(), r.seg.view(), g::Reduce::mean);
    Tensor<std::int32_t, 1> ws({g::scatter_reduce_workspace_size(n, e)});
    g::scatter_reduce<B, float, std::int32_t>(q, m.view(), dst.view(), r.scat.view(), g::Reduce::sum, ws.view());
    g::knn_graph<B, float, std::int32_t>(q, x.view(), off.view(), r.nbr.view(), r.d2.view());
    const auto size = g::knn_graph_workspace_size(n, events);
    Tensor<std::int32_t, 1> wi({size.indices});
    Tensor<float, 1> wr({size.reals});
    g::knn_graph<B, float, std::int32_t>(q, x.view(), off.view(), r.nbrg.view(), r.d2g.view(), {},
                                         {wi.view(), wr.view()});
    return r;
  };
  const auto same = [](const auto& a, const auto& b) {
    return std::memcmp(a.data(), b.data(), sizeof(*a.data()) * static_cast<std::size_t>(a.size())) == 0;
  };
  Queue<backend::Serial> serial;
  const Result want = run(serial);
  EXPECT_TRUE(same(want.nbr, want.nbrg));
  EXPECT_TRUE(same(want.d2, want.d2g));
  for (int threads : {1, 2, 3}) {
    Queue<backend::OpenMP> omp(threads);
    const Result got = run(omp);
    EXPECT_TRUE(same(got.seg, want.seg)) << threads;
    EXPECT_TRUE(same(got.scat, want.scat)) << threads;
    EXPECT_TRUE(same(got.nbr, want.nbr)) << threads;
    EXPECT_TRUE(same(got.d2, want.d2)) << threads;
    EXPECT_TRUE(same(got.nbrg, want.nbrg)) << threads;
    EXPECT_TRUE(same(got.d2g, want.d2g)) << threads;
  }
  // The GPU code paths (scatter_reduce's radix sort instead of the counting sort) on the
  // Serial queue that emulates a GPU: the same bits.
  Queue<backend::Serial> emulated(Queue<backend::Serial>::Options{.gpu_emulation = true});
  const Result got = run(emulated);
  EXPECT_TRUE(same(got.seg, want.seg));
  EXPECT_TRUE(same(got.scat, want.scat));
  EXPECT_TRUE(same(got.nbr, want.nbr));
  EXPECT_TRUE(same(got.d2, want.d2));
  EXPECT_TRUE(same(got.nbrg, want.nbrg));
  EXPECT_TRUE(same(got.d2g, want.d2g));
}
#endif

}  // namespace
}  // namespace portml::test
