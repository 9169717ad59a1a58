// JSON string escaping for the text the checker's formats carry (histories, reports).
// Tools that write histories (tokenload) or JSON results (tokenclient) use this one, so a
// value or an error message with a quote, a backslash or a control character never breaks
// a line of JSON.
#pragma once

#include <string>
#include <string_view>

namespace checker {

// The body of a JSON string (no surrounding quotes): '"', '\\' and control characters
// escaped.
std::string JsonEscape(std::string_view s);

// The same, quoted: "...".
inline std::string JsonQuote(std::string_view s) { return "\"" + JsonEscape(s) + "\""; }

}  // namespace checker
