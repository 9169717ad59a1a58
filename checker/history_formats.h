// Histories written by other tools, and the choice of reader (docs/FORMATS.md):
//
//   tokens     this project's JSON Lines (checker/history.h)
//   jepsen     Jepsen's EDN histories of registers: maps with :process, :type (:invoke,
//              :ok, :fail, :info), :f (:read, :write, :cas) and :value (:cas [old new]),
//              one per line or all in one vector or list; with jepsen.independent keys,
//              values are [key value] tuples and each key is a token
//   porcupine  the Jepsen log lines Porcupine's tests read ("INFO  jepsen.util - 3
//              :invoke :cas [1 4]"), with Porcupine's meaning of them: a failed cas read
//              the register and found another value; a failed read timed out (unknown)
//
// The EDN and log readers build the same History as the JSON Lines reader: real-time order
// is the order of the file (any :time field is ignored), values are interned by their
// canonical EDN text (nil is the initial value).
//
// Thread-safety: plain functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "checker/history.h"

namespace checker {

enum class HistoryFormat : std::uint8_t { kAuto, kTokens, kJepsen, kPorcupine };

std::optional<HistoryFormat> HistoryFormatFromName(std::string_view name);
const char* HistoryFormatName(HistoryFormat f);

// The format of `text` by its first meaningful bytes (after whitespace and `;` comments): a
// JSON object ({"...) is tokens, an EDN map, vector or list is jepsen, text with
// "jepsen.util -" in its first 4 KiB is porcupine; anything else goes to the JSON Lines
// reader (whose error then names the line).
HistoryFormat DetectHistoryFormat(std::string_view text);

ParseResult ParseJepsenHistory(std::string_view text);
ParseResult ParsePorcupineLog(std::string_view text);
// Parses `text` in format `format` (kAuto: detected).
ParseResult ParseHistoryAs(std::string_view text, HistoryFormat format);
// ReadHistoryFile for any format; `text` as there.
ParseResult ReadHistoryFileAs(const std::string& path, HistoryFormat format,
                              std::string* text = nullptr);

}  // namespace checker
