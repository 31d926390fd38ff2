// SPDX-License-Identifier: Apache-2.0
//! \file
//! Command-line options of the portml tool: `--name value` and `--flag`, checked against the
//! options each subcommand accepts. Any mistake is a UsageError (exit status 2).
#pragma once

#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace portml::cli {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Options {
 public:
  //! `valued`: options that take a value; `flags`: options that do not.
  Options(int argc, char** argv, int first, const std::set<std::string>& valued, const std::set<std::string>& flags,
          const std::string& command);

  bool has(const std::string& name) const { return values_.count(name) != 0 || flags_.count(name) != 0; }
  //! The value of a required option.
  const std::string& required(const std::string& name) const;
  std::string get(const std::string& name, const std::string& fallback) const;
  double number(const std::string& name, double fallback) const;
  int integer(const std::string& name, int fallback, int min_value) const;
  //! The items of a comma-separated value ("portml,openblas"), empty items kept.
  std::vector<std::string> list(const std::string& name, const std::string& fallback) const;
  //! A comma-separated list of positive integers ("1,16,1024").
  std::vector<long> int_list(const std::string& name, const std::string& fallback) const;

 private:
  std::string command_;
  std::map<std::string, std::string> values_;
  std::set<std::string> flags_;
};

}  // namespace portml::cli
