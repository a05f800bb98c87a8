// Json parser and writer. The parser builds the tree from JsonScanner (json_scan.h), which holds
// the grammar, the UTF-8 and escape rules and the syntax errors; here each value gets its path
// ("$.a[2]") so that accessors can say where a bad value sits.
#include "io/json.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <system_error>

#include "core/check.h"
#include "io/json_scan.h"

namespace ghm::io {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

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

}  // namespace

// ---- parser ------------------------------------------------------------------------------------

// Outside the anonymous namespace because Json befriends it to fill in values and their paths.
class JsonParser {
 public:
  JsonParser(std::string_view text, const std::string& source)
      : text_(text), source_(std::make_shared<const std::string>(source)), scanner_(text_, *source_) {}

  Json parse_document() {
    scanner_.skip_whitespace();
    Json root = parse_value("$", 0);
    scanner_.finish();
    return root;
  }

 private:
  Json located(Json value, std::string path) const {
    value.source_ = source_;
    value.path_ = std::move(path);
    return value;
  }

  Json parse_value(std::string path, int depth) {
    switch (scanner_.peek()) {
      case '{': {
        Json object = located(Json::object(), path);
        auto& members = std::get<Json::Object>(object.value_);
        scanner_.for_each_member(
            depth,
            [&](std::string_view key) {
              std::string name(key);
              Json value = parse_value(Json::member_path(path, name), depth + 1);
              members.emplace_back(std::move(name), std::move(value));
            },
            [&] { return path; });
        return object;
      }
      case '[': {
        Json array = located(Json::array(), path);
        auto& items = std::get<Json::Array>(array.value_);
        scanner_.for_each_element(depth, [&](std::size_t i) {
          items.push_back(parse_value(path + "[" + std::to_string(i) + "]", depth + 1));
        });
        return array;
      }
      case '"': {
        std::string s;
        scanner_.string(&s);
        return located(Json(std::move(s)), std::move(path));
      }
      case 't': scanner_.literal("true"); return located(Json(true), std::move(path));
      case 'f': scanner_.literal("false"); return located(Json(false), std::move(path));
      case 'n': scanner_.literal("null"); return located(Json(), std::move(path));
      default: scanner_.expect_value(); return located(parse_number(), std::move(path));
    }
  }

  Json parse_number() {
    const JsonNumber literal = scanner_.number();
    Json number;
    // "-0" stays a double so that its sign survives; integers beyond int64 fall back to a double.
    std::int64_t exact = 0;
    if (literal.integral && literal.text() != "-0" && literal.to_int64(exact)) {
      number.value_ = Json::integer_from(exact);
      return number;
    }
    double value = 0;
    if (!literal.to_double(value))
      scanner_.fail_syntax(literal.begin, "number ", literal.text(), " is outside the range of a double");
    number.value_ = Json::Number{value, 0, false};
    return number;
  }

  PaddedText text_;
  std::shared_ptr<const std::string> source_;
  JsonScanner scanner_;
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

std::string Json::member_path(const std::string& parent, const std::string& key) {
  bool identifier = !key.empty() && !is_digit(key[0]);
  for (char c : key) {
    const bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_';
    identifier = identifier && word;
  }
  std::string path = parent;
  if (identifier) {
    path += '.';
    path += key;
    return path;
  }
  path += '[';
  dump_string(path, key);
  path += ']';
  return path;
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
