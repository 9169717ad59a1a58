// JSON string escaping for the text the checker's formats carry (histories, reports).
// Tools that write histories (tokenload) or JSON results (tokenclient) use this one, so a
// value or an error message with a quote, a backslash or a control character never breaks
// a line of JSON.
#pragma once

#include <string>
#include <string_view>

namespace checker {

// Appends the body of a JSON string (no surrounding quotes) to `out`: '"', '\\' and control
// characters escaped.
void AppendJsonEscaped(std::string& out, std::string_view s);

// The same, as a new string.
inline std::string JsonEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  AppendJsonEscaped(out, s);
  return out;
}

// The same, quoted: "...".
inline std::string JsonQuote(std::string_view s) { return "\"" + JsonEscape(s) + "\""; }

// Text for a terminal: control characters (and DEL) as \n, \t, \r or \xHH and the
// backslash doubled, so a name or message typed with an escape sequence cannot move the
// cursor, clear the screen or fake another line of output.
std::string TextEscape(std::string_view s);

}  // namespace checker
