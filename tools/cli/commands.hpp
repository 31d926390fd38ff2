// SPDX-License-Identifier: Apache-2.0
//! \file
//! The model subcommands of the portml tool. Each returns the process exit status: 0 success,
//! 1 a check failed (validate), and throws UsageError or portml::Error for status 2.
#pragma once

namespace portml::cli {

int cmd_predict(int argc, char** argv);
int cmd_validate(int argc, char** argv);
int cmd_bench(int argc, char** argv);

}  // namespace portml::cli
