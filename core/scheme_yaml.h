// Loads the replication scheme from YAML (the format of docs/FORMATS.md).
//
// This is a small library of its own (target core_scheme_yaml) so that the protocol
// library stays free of parsing and files. Every error is INVALID_ARGUMENT (or NOT_FOUND
// for a missing file) and names the line: "scheme.yaml: line 4: token '1': unknown key
// 'reader' (expected token, writer, readers)".
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"
#include "core/scheme.h"

namespace token {

// Parses YAML text. `source_name` prefixes error messages (a file name or "<string>").
Result<ReplicationScheme> ParseSchemeYaml(std::string_view yaml_text,
                                          std::string_view source_name = "<string>");

// Reads and parses a file.
Result<ReplicationScheme> LoadSchemeFile(const std::string& path);

}  // namespace token
