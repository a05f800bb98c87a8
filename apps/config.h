// The run configuration: a YAML file merged over the built-in defaults, then `--set` overrides.
// Every key is documented in docs/config.md; an unknown key or a value of the wrong type is an
// error naming the key.
#pragma once

#include <string>
#include <vector>

#include "detection/retinanet.h"
#include "io/json.h"

namespace ghm::app {

// The defaults, which are also the schema (the set of known keys).
io::Json default_config();

// defaults <- file (keys checked) <- overrides ("a.b=value", in order).
io::Json load_config(const std::string& path, const std::vector<std::string>& overrides);

// The `model` section as a RetinaNet configuration (values validated).
detection::RetinaNetConfig retinanet_config(const io::Json& config);

}  // namespace ghm::app
