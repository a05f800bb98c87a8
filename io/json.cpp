// Json parser and writer. The parser is a recursive descent over the RFC 8259 grammar with one
// byte of lookahead; it records each value's path ("$.a[2]") as it goes so that accessors can say
// where a bad value sits. Nesting is capped at kMaxDepth so hostile input cannot overflow the stack.
#include "io/json.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <system_error>
#include <unordered_set>

#include "core/check.h"

namespace ghm::io {

// Length (1-4) of the well-formed UTF-8 sequence at the start of `s`, or 0 when there is none:
// bad lead or continuation bytes, truncation, overlong forms, surrogates, code points > U+10FFFF.
std::size_t utf8_sequence_length(std::string_view s) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  // The lead byte gives the length, its payload bits and the smallest code point of that length.
  std::size_t length = 0;
  std::uint32_t code_point = 0;
  std::uint32_t smallest = 0;
  if ((lead & 0xE0) == 0xC0) {
    length = 2, code_point = lead & 0x1Fu, smallest = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, code_point = lead & 0x0Fu, smallest = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, code_point = lead & 0x07u, smallest = 0x10000;
  } else {
    return 0;
  }
  if (s.size() < length) return 0;
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return 0;
    code_point = (code_point << 6) | (byte(i) & 0x3Fu);
  }
  const bool surrogate = code_point >= 0xD800 && code_point <= 0xDFFF;
  return code_point < smallest || code_point > 0x10FFFF || surrogate ? 0 : length;
}

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }


// Appends `code_point` (at most U+10FFFF, not a surrogate) as 1-4 UTF-8 bytes.
void append_utf8(std::string& out, std::uint32_t code_point) {
  const auto put = [&](std::uint32_t bits) { out += static_cast<char>(bits); };
  const auto continuation = [&](int shift) { put(0x80 | ((code_point >> shift) & 0x3F)); };
  if (code_point < 0x80) {
    put(code_point);
  } else if (code_point < 0x800) {
    put(0xC0 | (code_point >> 6));
    continuation(0);
  } else if (code_point < 0x10000) {
    put(0xE0 | (code_point >> 12));
    continuation(6);
    continuation(0);
  } else {
    put(0xF0 | (code_point >> 18));
    continuation(12);
    continuation(6);
    continuation(0);
  }
}

std::string hex_byte(unsigned char c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", c);
  return buf;
}

// Offset of the first byte of `s` that does not start a well-formed UTF-8 sequence, or npos.
std::size_t find_invalid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_sequence_length(s.substr(i));
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

// Writes `s`, which must be valid UTF-8, as a JSON string literal. Non-ASCII text is written as
// is; only quotes, backslashes and control characters are escaped.
void dump_string(std::string& out, std::string_view s) {
  out += '"';
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04X", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

// dump_string for strings a user built: checks the UTF-8 first, naming `owner` and its `role`.
void dump_user_string(std::string& out, std::string_view s, const Json& owner, const char* role) {
  const std::size_t bad = find_invalid_utf8(s);
  GHM_CHECK(bad == std::string_view::npos, "cannot write JSON: ", role, " (", owner.location(),
            ") has invalid UTF-8 byte ", hex_byte(static_cast<unsigned char>(s[bad])), " at offset ", bad);
  dump_string(out, s);
}

// ".key" for identifier-like keys, else ["key"], so that paths stay unambiguous for keys such as
// tensor names with dots in them.
std::string member_suffix(const std::string& key) {
  bool identifier = !key.empty() && !is_digit(key[0]);
  for (char c : key) {
    const bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_';
    identifier = identifier && word;
  }
  if (identifier) return "." + key;
  std::string quoted;
  dump_string(quoted, key);
  return "[" + quoted + "]";
}

}  // namespace

// ---- parser ------------------------------------------------------------------------------------

// Outside the anonymous namespace because Json befriends it to fill in values and their paths.
class JsonParser {
 public:
  JsonParser(std::string_view text, const std::string& source)
      : text_(text), source_(std::make_shared<const std::string>(source)) {}

  Json parse_document() {
    skip_whitespace();
    Json root = parse_value("$", 0);
    skip_whitespace();
    if (pos_ != text_.size()) fail("unexpected ", describe_current(), " after the JSON value");
    return root;
  }

 private:
  static constexpr int kMaxDepth = 256;

  template <class... Args>
  [[noreturn]] void fail_at(std::size_t offset, const Args&... reason) const {
    std::size_t line = 1;
    std::size_t line_start = 0;
    for (std::size_t i = 0; i < offset; ++i) {
      if (text_[i] == '\n') {
        ++line;
        line_start = i + 1;
      }
    }
    GHM_FAIL("invalid JSON in ", *source_, " at line ", line, ", column ", offset - line_start + 1, " (byte ",
             offset, "): ", reason...);
  }
  template <class... Args>
  [[noreturn]] void fail(const Args&... reason) const {
    fail_at(pos_, reason...);
  }

  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }
  bool consume(char c) {
    if (at_end() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }
  std::string describe_current() const {
    if (at_end()) return "end of input";
    const auto c = static_cast<unsigned char>(text_[pos_]);
    return c >= 0x20 && c < 0x7F ? std::string("'") + static_cast<char>(c) + "'" : "byte " + hex_byte(c);
  }
  void skip_whitespace() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++pos_;
  }

  Json located(Json value, std::string path) const {
    value.source_ = source_;
    value.path_ = std::move(path);
    return value;
  }

  Json parse_value(std::string path, int depth) {
    switch (peek()) {
      case '{': return parse_object(std::move(path), depth);
      case '[': return parse_array(std::move(path), depth);
      case '"': return located(Json(parse_string()), std::move(path));
      case 't': expect_literal("true"); return located(Json(true), std::move(path));
      case 'f': expect_literal("false"); return located(Json(false), std::move(path));
      case 'n': expect_literal("null"); return located(Json(), std::move(path));
      default:
        if (peek() == '-' || is_digit(peek())) return located(parse_number(), std::move(path));
        fail("expected a value, got ", describe_current());
    }
  }

  void expect_literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) fail("invalid literal, expected '", word, "'");
    pos_ += word.size();
  }

  void check_depth(int depth) const {
    if (depth >= kMaxDepth) fail("arrays and objects nested deeper than ", kMaxDepth, " levels");
  }

  Json parse_object(std::string path, int depth) {
    check_depth(depth);
    ++pos_;  // '{'
    Json object = located(Json::object(), path);
    auto& members = std::get<Json::Object>(object.value_);
    std::unordered_set<std::string> keys;
    skip_whitespace();
    if (consume('}')) return object;
    while (true) {
      skip_whitespace();
      if (peek() != '"') fail("expected a string key, got ", describe_current());
      const std::size_t key_offset = pos_;
      std::string key = parse_string();
      if (!keys.insert(key).second) fail_at(key_offset, "duplicate key \"", key, "\" in the object at ", path);
      skip_whitespace();
      if (!consume(':')) fail("expected ':' after key \"", key, "\", got ", describe_current());
      skip_whitespace();
      Json value = parse_value(path + member_suffix(key), depth + 1);
      members.emplace_back(std::move(key), std::move(value));
      skip_whitespace();
      if (consume(',')) continue;
      if (consume('}')) return object;
      fail("expected ',' or '}' after an object member, got ", describe_current());
    }
  }

  Json parse_array(std::string path, int depth) {
    check_depth(depth);
    ++pos_;  // '['
    Json array = located(Json::array(), path);
    auto& items = std::get<Json::Array>(array.value_);
    skip_whitespace();
    if (consume(']')) return array;
    while (true) {
      skip_whitespace();
      items.push_back(parse_value(path + "[" + std::to_string(items.size()) + "]", depth + 1));
      skip_whitespace();
      if (consume(',')) continue;
      if (consume(']')) return array;
      fail("expected ',' or ']' after an array element, got ", describe_current());
    }
  }

  std::string parse_string() {
    ++pos_;  // opening quote
    std::string out;
    while (true) {
      if (at_end()) fail("unterminated string");
      const auto c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c == '\\') {
        parse_escape(out);
      } else if (c < 0x20) {
        fail("control character ", hex_byte(c), " must be escaped inside a string");
      } else {
        const std::size_t n = utf8_sequence_length(text_.substr(pos_));
        if (n == 0) fail("invalid UTF-8 byte ", hex_byte(c), " in a string");
        out.append(text_.substr(pos_, n));
        pos_ += n;
      }
    }
  }

  void parse_escape(std::string& out) {
    const std::size_t start = pos_++;  // the backslash
    if (at_end()) fail("unterminated string");
    const char e = text_[pos_++];
    switch (e) {
      case '"': out += '"'; return;
      case '\\': out += '\\'; return;
      case '/': out += '/'; return;
      case 'b': out += '\b'; return;
      case 'f': out += '\f'; return;
      case 'n': out += '\n'; return;
      case 'r': out += '\r'; return;
      case 't': out += '\t'; return;
      case 'u': break;
      default: fail_at(start, "invalid escape sequence '\\", e, "'");
    }
    std::uint32_t code_point = parse_hex4();
    if (code_point >= 0xDC00 && code_point <= 0xDFFF) fail_at(start, "lone low surrogate in \\u escape");
    if (code_point >= 0xD800 && code_point <= 0xDBFF) {
      if (text_.substr(pos_, 2) != "\\u") fail_at(start, "high surrogate not followed by a \\u low surrogate");
      pos_ += 2;
      const std::uint32_t low = parse_hex4();
      if (low < 0xDC00 || low > 0xDFFF) fail_at(start, "high surrogate not followed by a low surrogate");
      code_point = 0x10000 + ((code_point - 0xD800) << 10) + (low - 0xDC00);
    }
    append_utf8(out, code_point);
  }

  std::uint32_t parse_hex4() {
    std::uint32_t value = 0;
    for (int i = 0; i < 4; ++i, ++pos_) {
      const char c = peek();
      const int digit = is_digit(c)               ? c - '0'
                        : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                        : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                                 : -1;
      if (digit < 0) fail("expected 4 hex digits after \\u, got ", describe_current());
      value = value * 16 + static_cast<std::uint32_t>(digit);
    }
    return value;
  }

  void skip_digits() {
    while (is_digit(peek())) ++pos_;
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  Json parse_number() {
    const std::size_t start = pos_;
    consume('-');
    if (consume('0')) {
      if (is_digit(peek())) fail_at(start, "numbers must not have leading zeros");
    } else {
      if (!is_digit(peek())) fail("expected a digit, got ", describe_current());
      skip_digits();
    }
    bool integral = true;
    if (consume('.')) {
      if (!is_digit(peek())) fail("expected a digit after the decimal point, got ", describe_current());
      skip_digits();
      integral = false;
    }
    if (consume('e') || consume('E')) {
      if (!consume('+')) consume('-');
      if (!is_digit(peek())) fail("expected a digit in the exponent, got ", describe_current());
      skip_digits();
      integral = false;
    }
    const std::string_view literal = text_.substr(start, pos_ - start);
    const char* first = literal.data();
    const char* last = first + literal.size();
    Json number;
    // "-0" stays a double so that its sign survives; integers beyond int64 fall back to a double.
    std::int64_t exact = 0;
    if (integral && literal != "-0" && std::from_chars(first, last, exact).ec == std::errc()) {
      number.value_ = Json::integer_from(exact);
      return number;
    }
    double value = 0;
    if (std::from_chars(first, last, value).ec != std::errc())
      fail_at(start, "number ", literal, " is outside the range of a double");
    number.value_ = Json::Number{value, 0, false};
    return number;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::shared_ptr<const std::string> source_;
};

Json Json::parse(std::string_view text, const std::string& source) { return JsonParser(text, source).parse_document(); }

// ---- construction and access -------------------------------------------------------------------

Json::Json(double d) : value_(Number{d, 0, false}) {
  GHM_CHECK(std::isfinite(d), "JSON has no representation for ", d, " (NaN and infinities are not allowed)");
}

Json Json::array(Array items) {
  Json j;
  j.value_ = std::move(items);
  return j;
}

Json Json::object() {
  Json j;
  j.value_ = Object{};
  return j;
}

void Json::fail_unsigned_range(unsigned long long i) {
  GHM_FAIL("JSON integer ", i, " does not fit in int64");
}

std::string Json::location() const { return (source_ ? *source_ : std::string("JSON value")) + " at " + path_; }

const char* Json::type_name() const {
  switch (type()) {
    case Type::Null: return "null";
    case Type::Bool: return "a bool";
    case Type::Number: return "a number";
    case Type::String: return "a string";
    case Type::Array: return "an array";
    case Type::Object: return "an object";
  }
  return "?";
}

void Json::fail_type(const char* wanted) const { GHM_FAIL(location(), ": expected ", wanted, ", got ", type_name()); }

bool Json::as_bool() const {
  if (!is_bool()) fail_type("a bool");
  return std::get<bool>(value_);
}

double Json::as_double() const {
  if (!is_number()) fail_type("a number");
  return std::get<Number>(value_).value;
}

std::int64_t Json::as_int() const {
  if (!is_number()) fail_type("an integer");
  const Number& n = std::get<Number>(value_);
  if (n.is_exact) return n.exact;
  constexpr double kTwoTo63 = 9223372036854775808.0;
  const bool integral = n.value == std::trunc(n.value) && n.value >= -kTwoTo63 && n.value < kTwoTo63;
  GHM_CHECK(integral, location(), ": expected an integer that fits in int64, got ", dump());
  return static_cast<std::int64_t>(n.value);
}

const std::string& Json::as_string() const {
  if (!is_string()) fail_type("a string");
  return std::get<std::string>(value_);
}

const Json::Array& Json::as_array() const {
  if (!is_array()) fail_type("an array");
  return std::get<Array>(value_);
}

const Json::Object& Json::as_object() const {
  if (!is_object()) fail_type("an object");
  return std::get<Object>(value_);
}

std::size_t Json::size() const {
  if (is_array()) return std::get<Array>(value_).size();
  if (is_object()) return std::get<Object>(value_).size();
  fail_type("an array or an object");
}

const Json& Json::at(std::size_t index) const {
  const Array& items = as_array();
  GHM_CHECK(index < items.size(), location(), ": index ", index, " is out of range for an array of ", items.size(),
            " elements");
  return items[index];
}

const Json* Json::find(std::string_view key) const {
  for (const auto& [k, v] : as_object())
    if (k == key) return &v;
  return nullptr;
}

const Json& Json::at(std::string_view key) const {
  const Json* value = find(key);
  GHM_CHECK(value != nullptr, location(), ": missing key \"", key, "\"");
  return *value;
}

Json& Json::push_back(Json value) {
  if (!is_array()) fail_type("an array");
  std::get<Array>(value_).push_back(std::move(value));
  return *this;
}

Json& Json::set(const std::string& key, Json value) {
  if (!is_object()) fail_type("an object");
  auto& members = std::get<Object>(value_);
  for (auto& [k, v] : members) {
    if (k == key) {
      v = std::move(value);
      return *this;
    }
  }
  members.emplace_back(key, std::move(value));
  return *this;
}

// ---- writer ------------------------------------------------------------------------------------

std::string Json::dump() const {
  std::string out;
  dump_to(out);
  return out;
}

void Json::dump_to(std::string& out) const {
  switch (type()) {
    case Type::Null: out += "null"; return;
    case Type::Bool: out += std::get<bool>(value_) ? "true" : "false"; return;
    case Type::Number: {
      const Number& n = std::get<Number>(value_);
      char buf[32];  // shortest round-trip form; at most 24 characters for a double
      const auto result = n.is_exact ? std::to_chars(buf, buf + sizeof buf, n.exact)
                                     : std::to_chars(buf, buf + sizeof buf, n.value);
      out.append(buf, result.ptr);
      return;
    }
    case Type::String: dump_user_string(out, std::get<std::string>(value_), *this, "a string"); return;
    case Type::Array: {
      out += '[';
      const char* separator = "";
      for (const Json& item : std::get<Array>(value_)) {
        out += separator;
        separator = ",";
        item.dump_to(out);
      }
      out += ']';
      return;
    }
    case Type::Object: {
      out += '{';
      const char* separator = "";
      for (const auto& [key, value] : std::get<Object>(value_)) {
        out += separator;
        separator = ",";
        dump_user_string(out, key, *this, "a key of the object");
        out += ':';
        value.dump_to(out);
      }
      out += '}';
      return;
    }
  }
}

}  // namespace ghm::io
