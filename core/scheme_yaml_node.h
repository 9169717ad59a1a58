// The scheme loader's entry point for YAML that is already parsed, so that other YAML
// files (scenarios) can embed a scheme and keep their own line numbers in errors.
#pragma once

#include <string_view>

#include <yaml-cpp/yaml.h>

#include "base/status.h"
#include "core/scheme.h"

namespace token {

Result<ReplicationScheme> SchemeFromYamlNode(const YAML::Node& root, std::string_view source);

}  // namespace token
