// SPDX-License-Identifier: Apache-2.0
//! \file
//! GPU backends by name for the tool (CUDA, HIP: those compiled into this build), beside the host
//! backends of host_backends.hpp: their names, a dispatch by name, and the check that a device is
//! present, which gives the one error a user sees when there is none.
#pragma once

#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <portml/portability/all.hpp>

#include "host_backends.hpp"

namespace portml::cli {

//! A GPU backend was asked for and this machine has no device of it (exit status 2, no usage text).
struct NoDeviceError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline std::vector<std::string> device_backend_names() {
  std::vector<std::string> names;
  for_each_type(device_backends{}, [&]<class B>() { names.push_back(B::name); });
  return names;
}

//! Every backend the model runners of this build offer: the host backends, then the GPU backends.
inline std::vector<std::string> all_backend_names() {
  std::vector<std::string> names = host_backend_names();
  for (auto& n : device_backend_names()) names.push_back(std::move(n));
  return names;
}

//! Calls `f.template operator()<B>()` for the GPU backend called `name`; false if there is none.
template <class F>
bool with_device_backend(const std::string& name, F&& f) {
  bool found = false;
  for_each_type(device_backends{}, [&]<class B>() {
    if (!found && name == B::name) {
      found = true;
      f.template operator()<B>();
    }
  });
  return found;
}

//! Why backend `name` cannot run here: "no cuda device (cuda: ...)" for a GPU backend without a device;
//! empty for a host backend and for a GPU backend with a device.
inline std::string missing_device(const std::string& name) {
  std::string why;
  with_device_backend(name, [&]<class B>() {
    std::string reason;
    if (device_count<B>(&reason) == 0) {
      why = std::string("no ") + B::name + " device (" + (reason.empty() ? "none found" : reason) + ")";
    }
  });
  return why;
}

//! Throws NoDeviceError naming the backend and the runtime's reason when `name` is a GPU backend
//! without a device here.
inline void require_device(const std::string& name) {
  const std::string why = missing_device(name);
  if (!why.empty()) throw NoDeviceError("--backend " + name + ": " + why);
}

//! A queue (its own stream) on device 0 of GPU backend B; NoDeviceError when there is none.
template <class B>
Queue<B> make_device_queue() {
  require_device(B::name);
  return Queue<B>(0);
}

//! Queues the copy of the host rows `x` (any strides) into the device rows `dst` (same shape): one copy
//! straight from x when its rows are contiguous, else through `staging` (host, at least x's size).
template <class B, class T>
void copy_rows_to_device(Queue<B>& q, TensorView<T, 2, memory_space_t<B>> dst, TensorView<const T, 2> x,
                         std::span<T> staging) {
  if (x.stride(1) == 1) {
    deep_copy(q, dst, x);
    return;
  }
  const TensorView<T, 2> packed(staging.data(), x.extents());
  for (index_t r = 0; r < x.extent(0); ++r)
    for (index_t c = 0; c < x.extent(1); ++c) packed(r, c) = x(r, c);
  deep_copy(q, dst, TensorView<const T, 2>(packed));
}

}  // namespace portml::cli
