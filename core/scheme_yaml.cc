#include "core/scheme_yaml.h"
#include "core/scheme_yaml_node.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>

#include <fmt/format.h>

#include "core/file.h"

namespace token {
namespace {

int LineOf(const YAML::Node& node) { return node.Mark().line + 1; }

Status Error(std::string_view source, int line, std::string_view msg) {
  return Status::InvalidArgument(fmt::format("{}: line {}: {}", source, line, msg));
}

std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Scalar:
      return fmt::format("'{}'", node.Scalar());
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Undefined:
      return "nothing";
  }
  return "something else";
}

}  // namespace

Result<ReplicationScheme> ParseSchemeYaml(std::string_view yaml_text, std::string_view source) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    return Error(source, e.mark.line + 1, fmt::format("not valid YAML: {}", e.msg));
  }
  return SchemeFromYamlNode(root, source);
}

Result<ReplicationScheme> SchemeFromYamlNode(const YAML::Node& root, std::string_view source) {
  if (!root.IsSequence()) {
    const int line = root.IsDefined() && !root.IsNull() ? LineOf(root) : 1;
    return Error(source, line,
                 fmt::format("the scheme must be a list of token entries (- token: ...), got {}",
                             Describe(root)));
  }
  if (root.size() == 0) return Error(source, LineOf(root), "the scheme lists no token");

  std::vector<TokenEntry> entries;
  for (const auto& item : root) {
    const int line = LineOf(item);
    if (!item.IsMap()) {
      return Error(source, line,
                   fmt::format("a token entry must be a mapping with token, writer and readers, "
                               "got {}",
                               Describe(item)));
    }
    TokenEntry e;
    e.line = line;
    bool has_token = false;
    bool has_writer = false;
    bool has_readers = false;
    // yaml-cpp keeps every pair of a mapping, duplicates included: the first spelling of a
    // key must not be silently replaced by a later one.
    std::vector<std::pair<std::string, int>> seen;
    for (const auto& kv : item) {
      const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : std::string("?");
      const YAML::Node& v = kv.second;
      const auto first =
          std::find_if(seen.begin(), seen.end(), [&key](const auto& s) { return s.first == key; });
      if (first != seen.end()) {
        return Error(source, LineOf(kv.first),
                     fmt::format("duplicate key '{}' in a token entry (first at line {}, again at "
                                 "line {}): each key may appear once",
                                 key, first->second, LineOf(kv.first)));
      }
      seen.emplace_back(key, LineOf(kv.first));
      if (key == "token") {
        if (!v.IsScalar()) {
          return Error(source, LineOf(v),
                       fmt::format("token must be a number or a string, got {}", Describe(v)));
        }
        e.token = v.Scalar();
        has_token = true;
      } else if (key == "writer") {
        if (!v.IsScalar()) {
          return Error(source, LineOf(v),
                       fmt::format("writer must be an address <ip>:<port>, got {}", Describe(v)));
        }
        e.writer = v.Scalar();
        e.writer_line = LineOf(v);
        has_writer = true;
      } else if (key == "readers") {
        if (v.IsNull()) {
          e.readers.clear();
        } else if (!v.IsSequence()) {
          return Error(source, LineOf(v),
                       fmt::format("readers must be a list of addresses, got {}", Describe(v)));
        } else {
          for (const auto& r : v) {
            if (!r.IsScalar()) {
              return Error(
                  source, LineOf(r),
                  fmt::format("a reader must be an address <ip>:<port>, got {}", Describe(r)));
            }
            e.readers.push_back(r.Scalar());
            e.reader_lines.push_back(LineOf(r));
          }
        }
        has_readers = true;
      } else {
        return Error(source, LineOf(kv.first),
                     fmt::format("unknown key '{}' (expected token, writer, readers)", key));
      }
    }
    const char* missing = !has_token     ? "token"
                          : !has_writer  ? "writer"
                          : !has_readers ? "readers"
                                         : nullptr;
    if (missing) {
      return Error(source, line,
                   fmt::format("token entry{} is missing the field '{}'",
                               has_token ? fmt::format(" '{}'", e.token) : std::string(), missing));
    }
    entries.push_back(std::move(e));
  }
  auto scheme = ReplicationScheme::Create(std::move(entries));
  if (!scheme.ok()) {
    return Status::InvalidArgument(fmt::format("{}: {}", source, scheme.status().message()));
  }
  return scheme;
}

Result<ReplicationScheme> LoadSchemeFile(const std::string& path) {
  auto text = ReadFile(path, "scheme file");
  if (!text.ok()) return text.status();
  return ParseSchemeYaml(*text, path);
}

}  // namespace token
