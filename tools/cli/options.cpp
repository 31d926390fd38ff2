// SPDX-License-Identifier: Apache-2.0
#include "options.hpp"

#include <charconv>

namespace portml::cli {

Options::Options(int argc, char** argv, int first, const std::set<std::string>& valued,
                 const std::set<std::string>& flags, const std::string& command)
    : command_(command) {
  for (int i = first; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) throw UsageError(command + ": unexpected argument '" + arg + "'");
    const std::string name = arg.substr(2);
    if (flags.count(name) != 0) {
      flags_.insert(name);
    } else if (valued.count(name) != 0) {
      if (i + 1 >= argc) throw UsageError(command + ": option " + arg + " needs a value");
      if (!values_.emplace(name, argv[++i]).second) throw UsageError(command + ": option " + arg + " given twice");
    } else {
      throw UsageError(command + ": unknown option '" + arg + "'");
    }
  }
}

const std::string& Options::required(const std::string& name) const {
  const auto it = values_.find(name);
  if (it == values_.end()) throw UsageError(command_ + ": option --" + name + " is required");
  return it->second;
}

std::string Options::get(const std::string& name, const std::string& fallback) const {
  const auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

double Options::number(const std::string& name, double fallback) const {
  const auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  double v = 0;
  const auto& s = it->second;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || !(v >= 0)) {
    throw UsageError(command_ + ": --" + name + " needs a non-negative number, got '" + s + "'");
  }
  return v;
}

int Options::integer(const std::string& name, int fallback, int min_value) const {
  const auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  int v = 0;
  const auto& s = it->second;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < min_value) {
    throw UsageError(command_ + ": --" + name + " needs an integer of at least " + std::to_string(min_value) +
                     ", got '" + s + "'");
  }
  return v;
}

std::vector<std::string> Options::list(const std::string& name, const std::string& fallback) const {
  const std::string s = get(name, fallback);
  std::vector<std::string> out;
  for (std::size_t pos = 0; pos <= s.size();) {
    const std::size_t comma = std::min(s.find(',', pos), s.size());
    out.push_back(s.substr(pos, comma - pos));
    pos = comma + 1;
  }
  return out;
}

std::vector<long> Options::int_list(const std::string& name, const std::string& fallback) const {
  std::vector<long> out;
  for (const std::string& item : list(name, fallback)) {
    long v = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (ec != std::errc() || end != item.data() + item.size() || v < 1) {
      throw UsageError(command_ + ": --" + name + " needs a comma-separated list of positive integers, got '" +
                       get(name, fallback) + "'");
    }
    out.push_back(v);
  }
  return out;
}

}  // namespace portml::cli
