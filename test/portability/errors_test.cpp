// SPDX-License-Identifier: Apache-2.0
// Error paths of the execution layer: invalid queues and launches, exceptions thrown by kernel
// bodies, barrier misuse under GPU emulation, GPU runtime errors and absent devices.
#include <gtest/gtest.h>

#include <string>

#include "../common/backend_cases.hpp"
#include "test_kernels_extern.hpp"

namespace portml::test {
namespace {

TEST(Errors, InvalidLaunchConfig) {
  Queue<backend::Serial> q;
  EXPECT_THROW(launch(q, LaunchConfig{4, 0, 0}, [](const auto&) {}), Error);
  EXPECT_THROW(launch(q, LaunchConfig{-1, 1, 0}, [](const auto&) {}), ShapeError);
}

TEST(Errors, DivergentBarrierIsReportedUnderGpuEmulation) {
  Queue<backend::Serial> q(Queue<backend::Serial>::Options{.gpu_emulation = true});
  try {
    divergent_barrier<backend::Serial>(q, 4);
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("every thread of a team must reach each barrier"), std::string::npos)
        << e.what();
  }
  // Teams of one thread cannot diverge.
  Queue<backend::Serial> plain;
  EXPECT_NO_THROW(divergent_barrier<backend::Serial>(plain, 4));
}

TEST(Errors, ExceptionInGpuEmulatedTeamPropagates) {
  Queue<backend::Serial> q(Queue<backend::Serial>::Options{.gpu_emulation = true});
  const auto body = [](const auto& team) {
    team.barrier();
    if (team.team_rank() == 2 && team.league_rank() == 1) throw std::runtime_error("thread 2 of team 1");
    team.barrier();
  };
  EXPECT_THROW(launch(q, LaunchConfig{3, 4, 0}, body), std::runtime_error);
}

#if PORTML_ENABLE_OPENMP
TEST(Errors, ExceptionInOpenMPRegionPropagates) {
  Queue<backend::OpenMP> q(2);
  EXPECT_THROW(parallel_for(q, Range1D{1000},
                            [](index_t i) {
                              if (i == 777) throw IndexError("777");
                            }),
               IndexError);
  EXPECT_THROW(launch(q, LaunchConfig{10, 1, 64},
                      [](const auto& t) {
                        if (t.league_rank() == 9) throw Error("9");
                      }),
               Error);
  EXPECT_THROW(Queue<backend::OpenMP>(0), Error);
}

TEST(Errors, OpenMPThreadCountIsTheCallersChoice) {
  EXPECT_EQ(Queue<backend::OpenMP>().num_threads(), 1);
  EXPECT_EQ(Queue<backend::OpenMP>(3).num_threads(), 3);
}
#endif

#if PORTML_ENABLE_CUDA || PORTML_ENABLE_HIP
template <class Case>
class GpuErrors : public ::testing::Test {};
using GpuCases = ::testing::Types<
#if PORTML_ENABLE_CUDA
    CudaCase
#else
    HipCase
#endif
    >;
TYPED_TEST_SUITE(GpuErrors, GpuCases, CaseNames);

TYPED_TEST(GpuErrors, RuntimeErrorNamesCallFileAndLine) {
  using Api = typename detail::GpuApiOf<typename TypeParam::backend>::type;
  // An invalid-value error, made without a device: the runtime's own message must appear.
  void* p = nullptr;
  const auto e = Api::allocate(&p, static_cast<std::size_t>(-1));
  ASSERT_NE(e, Api::success);
  try {
    detail::gpu_check<Api>(e, "allocate(&p, huge)", "some_file.cpp", 42);
    FAIL() << "no exception";
  } catch (const BackendError& err) {
    const std::string what = err.what();
    EXPECT_NE(what.find("allocate(&p, huge)"), std::string::npos) << what;
    EXPECT_NE(what.find("some_file.cpp:42"), std::string::npos) << what;
    EXPECT_NE(what.find(Api::error_name(e)), std::string::npos) << what;
  }
}

TYPED_TEST(GpuErrors, QueueWithoutDeviceIsDeviceUnavailable) {
  using B = typename TypeParam::backend;
  std::string reason;
  const int n = device_count<B>(&reason);
  if (n > 0) {
    EXPECT_THROW(Queue<B>{n}, DeviceUnavailable);  // one past the last device
    return;
  }
  std::cout << "[   INFO   ] " << TypeParam::name << ": no device here (" << reason << ")\n";
  try {
    Queue<B> q;
    FAIL() << "no exception";
  } catch (const DeviceUnavailable& e) {
    EXPECT_NE(std::string(e.what()).find("device 0 not available"), std::string::npos) << e.what();
  }
  EXPECT_THROW((Tensor<float, 1, memory_space_t<B>>({16})), BackendError);
}

TYPED_TEST(GpuErrors, FailedCallIsNotReportedAgainByTheNextLaunch) {
  // Found on an H200: a caught out-of-memory came back from the check after a later, valid launch.
  using B = typename TypeParam::backend;
  using Api = typename detail::GpuApiOf<B>::type;
  std::string reason;
  if (device_count<B>(&reason) == 0) GTEST_SKIP() << TypeParam::name << ": " << reason;
  void* p = nullptr;
  EXPECT_THROW(PORTML_GPU_CHECK(Api, Api::allocate(&p, std::size_t(1) << 60)), BackendError);
  Queue<B> q(0);
  Tensor<float, 1, memory_space_t<B>> d({64});
  EXPECT_NO_THROW(fill_affine<B>(q, d.view(), 1.0f, 0.0f));
  q.wait();
}

TYPED_TEST(GpuErrors, TeamBeyondTheDeviceLimitIsAnError) {
  using B = typename TypeParam::backend;
  std::string reason;
  if (device_count<B>(&reason) == 0) GTEST_SKIP() << TypeParam::name << ": " << reason;
  Queue<B> q(0);
  Tensor<float, 1, memory_space_t<B>> in({64}), out({64});
  try {
    reverse_tiles<B>(q, TensorView<const float, 1, memory_space_t<B>>(in.view()), out.view(), 16, 2048);
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("team_size 2048 beyond the device limits"), std::string::npos) << e.what();
  }
}

TYPED_TEST(GpuErrors, NewTensorIsZeroedBeforeQueueWorkRuns) {
  // Found on an H200 under compute-sanitizer: the zero fill of a new device tensor ran on the default
  // stream, unordered with the queue's non-blocking stream, and could overwrite a kernel's results.
  using B = typename TypeParam::backend;
  std::string reason;
  if (device_count<B>(&reason) == 0) GTEST_SKIP() << TypeParam::name << ": " << reason;
  Queue<B> q(0);
  const index_t n = index_t(1) << 26;  // 256 MiB: a zero fill long enough to overlap a launch
  Tensor<float, 1> h({4});
  for (int rep = 0; rep < 8; ++rep) {
    Tensor<float, 1, memory_space_t<B>> d({n});
    fill_affine<B>(q, d.view(), 0.0f, 1.0f);  // every element 1 (exact, whatever the contraction)
    const TensorView<const float, 1, memory_space_t<B>> dv(d.view());
    for (index_t k = 0; k < 4; ++k)
      deep_copy(q, h.view().row_slice(k, k + 1), dv.row_slice(k * (n / 4), k * (n / 4) + 1));
    q.wait();
    for (index_t k = 0; k < 4; ++k) ASSERT_EQ(h(k), 1.0f) << "rep " << rep << ", element " << k * (n / 4);
  }
}

TYPED_TEST(GpuErrors, ExternalStreamIsUsedAndNotDestroyed) {
  using B = typename TypeParam::backend;
  using Api = typename detail::GpuApiOf<B>::type;
  std::string reason;
  if (device_count<B>(&reason) == 0) GTEST_SKIP() << TypeParam::name << ": " << reason;
  typename Api::Stream_t stream{};
  PORTML_GPU_CHECK(Api, Api::stream_create(&stream));
  {
    Queue<B> q(stream, 0);
    EXPECT_EQ(q.stream(), stream);
    Tensor<float, 1, memory_space_t<B>> d({1000});
    fill_affine<B>(q, d.view(), 2.0f, 1.0f);
    Tensor<float, 1> h({1000});
    deep_copy(q, h.view(), TensorView<const float, 1, memory_space_t<B>>(d.view()));
    q.wait();
    EXPECT_EQ(h(999), 1999.0f);
  }
  // The queue is gone; the caller's stream still works.
  PORTML_GPU_CHECK(Api, Api::stream_synchronize(stream));
  PORTML_GPU_CHECK(Api, Api::stream_destroy(stream));
}
#endif

}  // namespace
}  // namespace portml::test
