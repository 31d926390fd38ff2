// SPDX-License-Identifier: Apache-2.0
//! \file
//! Host backends by name for the tool: the names compiled into this build, and a queue for one of
//! them with the caller's thread count.
#pragma once

#include <string>
#include <type_traits>
#include <vector>

#include <portml/portability/all.hpp>

namespace portml::cli {

inline std::vector<std::string> host_backend_names() {
  std::vector<std::string> names;
  for_each_type(host_backends{}, [&]<class B>() { names.push_back(B::name); });
  return names;
}

//! A queue of host backend B; `threads` only matters for OpenMP (other backends run one thread).
template <class B>
Queue<B> make_host_queue(int threads) {
  if constexpr (std::is_same_v<B, backend::OpenMP>) {
    return Queue<B>(threads);
  } else {
    return Queue<B>{};
  }
}

//! Calls `f.template operator()<B>()` for the host backend called `name`; false if there is none.
template <class F>
bool with_host_backend(const std::string& name, F&& f) {
  bool found = false;
  for_each_type(host_backends{}, [&]<class B>() {
    if (!found && name == B::name) {
      found = true;
      f.template operator()<B>();
    }
  });
  return found;
}

}  // namespace portml::cli
