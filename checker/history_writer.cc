#include "checker/history_writer.h"

#include <fmt/format.h>

#include "checker/json_escape.h"

namespace checker {
namespace {

void AppendQuoted(std::string& out, std::string_view s) {
  out += '"';
  out += JsonEscape(s);
  out += '"';
}

void AppendValue(std::string& out, const LineValue& v) {
  switch (v.kind) {
    case LineValue::Kind::kInitial:
      out += "null";
      return;
    case LineValue::Kind::kEmpty:
      out += R"({"kind":"empty"})";
      return;
    case LineValue::Kind::kDropped:
      out += R"({"kind":"dropped"})";
      return;
    case LineValue::Kind::kData:
      out += R"({"name":)";
      AppendQuoted(out, v.name);
      fmt::format_to(std::back_inserter(out), R"(,"low":{},"mid":{},"high":{}}})", v.low, v.mid,
                     v.high);
      return;
  }
}

}  // namespace

std::string_view LineTypeName(LineType type) {
  switch (type) {
    case LineType::kInvoke:
      return "invoke";
    case LineType::kOk:
      return "ok";
    case LineType::kFail:
      return "fail";
    case LineType::kInfo:
      return "info";
  }
  return "?";
}

void AppendHistoryLine(std::string& out, const HistoryLine& l) {
  fmt::format_to(std::back_inserter(out), R"({{"process":{},"type":"{}","f":"{}","token":)",
                 l.process, LineTypeName(l.type), l.read ? "read" : "write");
  AppendQuoted(out, l.token);
  if (l.value) {
    out += R"(,"value":)";
    AppendValue(out, *l.value);
  }
  if (l.version) fmt::format_to(std::back_inserter(out), R"(,"version":{})", *l.version);
  if (l.time_ns) fmt::format_to(std::back_inserter(out), R"(,"time":{})", *l.time_ns);
  if (!l.node.empty()) {
    out += R"(,"node":)";
    AppendQuoted(out, l.node);
  }
  if (!l.op.empty()) {
    out += R"(,"op":)";
    AppendQuoted(out, l.op);
  }
  if (l.final_point) {
    fmt::format_to(std::back_inserter(out), R"(,"final":{{"x":{},"hash":{}}})",
                   l.final_point->first, l.final_point->second);
  }
  if (!l.error.empty()) {
    out += R"(,"error":)";
    AppendQuoted(out, l.error);
  }
  if (l.closing_read) out += R"(,"closing_read":true)";
  out += "}\n";
}

}  // namespace checker
