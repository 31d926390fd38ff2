// SPDX-License-Identifier: Apache-2.0
// Counts the calls of the global operator new of the process (allocation_counter.cpp replaces it), so
// a test can assert that a call allocates nothing.
#pragma once

namespace portml::test {
//! Calls of any global operator new so far.
long allocation_count();
}  // namespace portml::test
