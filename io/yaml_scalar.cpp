// What a plain YAML scalar means (YamlParser::resolve_plain, yaml_parser.h): the YAML 1.2 core
// schema (null, bools, decimal integers as exact int64, floats, else a string), with the forms whose
// meaning differs between YAML versions or parsers, and values JSON cannot hold, made errors that
// say what to write instead.
#include <algorithm>
#include <charconv>
#include <system_error>

#include "io/yaml_parser.h"

namespace ghm::io {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// YAML 1.2 core schema float, without its sign: ( \.[0-9]+ | [0-9]+(\.[0-9]*)? ) ([eE][-+]?[0-9]+)?
bool is_float_literal(std::string_view s) {
  std::size_t i = 0;
  const auto digits = [&] {
    const std::size_t from = i;
    while (i < s.size() && is_digit(s[i])) ++i;
    return i - from;
  };
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (digits() == 0) return false;
  } else {
    if (digits() == 0) return false;
    if (i < s.size() && s[i] == '.') {
      ++i;
      digits();
    }
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (digits() == 0) return false;
  }
  return i == s.size();
}

// YAML 1.1 base 60, which YAML 1.2 reads as a string: [0-9]+(:[0-9]{1,2})+(\.[0-9]*)?
bool is_sexagesimal(std::string_view s) {
  const std::size_t dot = std::min(s.find('.'), s.size());
  const std::string_view fraction = s.substr(std::min(dot + 1, s.size()));
  if (!std::all_of(fraction.begin(), fraction.end(), is_digit)) return false;
  const std::string_view whole = s.substr(0, dot);
  std::size_t parts = 0;
  for (std::size_t from = 0; from <= whole.size(); ++parts) {
    const std::size_t colon = std::min(whole.find(':', from), whole.size());
    const std::string_view part = whole.substr(from, colon - from);
    if (part.empty() || (parts > 0 && part.size() > 2) || !std::all_of(part.begin(), part.end(), is_digit))
      return false;
    from = colon + 1;
  }
  return parts >= 2;
}

}  // namespace

// The YAML 1.2 core schema, with its ambiguous corners made errors.
Json YamlParser::resolve_plain(std::string_view s, std::size_t offset) const {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return Json();
  if (s == "true" || s == "True" || s == "TRUE") return Json(true);
  if (s == "false" || s == "False" || s == "FALSE") return Json(false);
  const std::string lower = to_lower(s);
  if (lower == "yes" || lower == "no" || lower == "on" || lower == "off")
    fail_at(offset, "'", s, "' is a bool in YAML 1.1 but a string in YAML 1.2; write true or false, or quote it "
                    "for a string");
  const std::string_view body = s[0] == '+' || s[0] == '-' ? s.substr(1) : s;
  const std::string lower_body = to_lower(body);
  if (lower_body == ".inf" || lower_body == "inf" || lower_body == "infinity" || lower_body == ".nan" ||
      lower_body == "nan")
    fail_at(offset, "'", s, "' is not representable in JSON, which has no infinities or NaN; use a finite number "
                    "or null");
  if (lower_body.size() > 2 && lower_body[0] == '0' &&
      (lower_body[1] == 'x' || lower_body[1] == 'o' || lower_body[1] == 'b') &&
      (is_digit(lower_body[2]) || (lower_body[2] >= 'a' && lower_body[2] <= 'f')))
    fail_at(offset, "'", s, "': hexadecimal, octal and binary integers are not supported; write it in decimal, "
                    "or quote it for a string");
  if (is_sexagesimal(body))
    fail_at(offset, "'", s, "' is a base-60 number in YAML 1.1 but a string in YAML 1.2; quote it for a string");
  std::string without_separators(body);
  std::erase(without_separators, '_');
  if (without_separators.size() != body.size() && is_float_literal(without_separators))
    fail_at(offset, "'", s, "': digit separators ('_') are not supported; write the number without them");
  const std::string literal = std::string(s[0] == '-' ? "-" : "") + std::string(body);  // from_chars takes no '+'
  if (!body.empty() && std::all_of(body.begin(), body.end(), is_digit)) {
    if (body.size() > 1 && body[0] == '0')
      fail_at(offset, "'", s, "': integers with leading zeros are ambiguous (octal in YAML 1.1); drop the zeros, "
                      "or quote it for a string");
    std::int64_t exact = 0;
    const auto [end, ec] = std::from_chars(literal.data(), literal.data() + literal.size(), exact);
    if (ec == std::errc()) return Json(exact);  // else beyond int64: read as a double below
  }
  if (!is_float_literal(body)) return Json(std::string(s));
  double value = 0;
  const auto [end, ec] = std::from_chars(literal.data(), literal.data() + literal.size(), value);
  if (ec != std::errc()) fail_at(offset, "number '", s, "' is outside the range of a double");
  return Json(value);
}

}  // namespace ghm::io
