// Reading the reference fixtures that tools/make_fixtures_*.py write: one safetensors file per
// family (tests/data/<stem>.safetensors), tensors named `case<i>.<name>`, and the metadata entries
// `num_cases` and `case<i>` (the case's parameters as JSON).
#pragma once

#include <string>

#include "io/json.h"
#include "io/safetensors.h"
#include "test_paths.h"

namespace ghm::testing {

struct CaseFixture {
  io::SafetensorsData data;
  int num_cases = 0;

  explicit CaseFixture(const std::string& stem)
      : data(io::load_safetensors(::ghm::testing::test_data_dir() + "/" + stem + ".safetensors")) {
    num_cases = std::stoi(data.metadata.at("num_cases"));
  }
  static std::string key(int i, const std::string& name) { return "case" + std::to_string(i) + "." + name; }
  Tensor get(int i, const std::string& name) const { return data.at(key(i, name)); }
  bool has(int i, const std::string& name) const { return data.contains(key(i, name)); }
  io::Json params(int i) const {
    const std::string k = "case" + std::to_string(i);
    return io::Json::parse(data.metadata.at(k), k);
  }
  // A fresh leaf copy that requires grad.
  Tensor leaf(int i, const std::string& name) const {
    Tensor t = get(i, name).clone();
    t.set_requires_grad(true);
    return t;
  }
};

}  // namespace ghm::testing
