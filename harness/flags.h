// Flags: a small command-line parser shared by tokenserver, tokenclient, tokenload and
// tokencluster.
//
// Accepts "-name value", "--name value" and "--name=value" alike (the original Go tools
// used single dashes), boolean flags without a value, repeatable flags, and positional
// arguments. Unknown flags, a missing value or a malformed number are errors that name the
// flag; parsing never exits the process.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace tokenapp {

struct FlagSpec {
  std::string name;  // without dashes
  bool takes_value = true;
};

class Flags {
 public:
  static token::Result<Flags> Parse(int argc, char** argv, int first,
                                    const std::vector<FlagSpec>& specs);

  bool Has(const std::string& name) const { return values_.contains(name); }
  // The last value given for `name`.
  std::optional<std::string> Get(const std::string& name) const;
  std::string GetOr(const std::string& name, const std::string& fallback) const;
  // Every value given for a repeatable flag, in order.
  std::vector<std::string> All(const std::string& name) const;
  token::Result<std::uint64_t> Number(const std::string& name, std::uint64_t fallback) const;
  token::Result<double> Real(const std::string& name, double fallback) const;

  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
};

token::Result<std::uint64_t> ParseUnsigned(const std::string& text, const std::string& what);

}  // namespace tokenapp
