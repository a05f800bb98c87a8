// Json: a small, strict JSON value (RFC 8259) for safetensors headers, configs and run metadata.
//
//   Json header = Json::parse(text, "model.safetensors");
//   const std::string& dtype = header.at("weight").at("dtype").as_string();
//
// Why our own: the documents are small, and we want errors a user can act on. Parse errors name
// the source, the byte offset and line:column; accessor errors name the source and the path of the
// value inside the document ("model.safetensors at $.weight.dtype: expected a string, got a
// number"). Keys that are not identifiers appear quoted: $["layer1.0.weight"].shape.
//
// Strict means: no comments, trailing commas, leading zeros, NaN/Infinity, control characters or
// lone surrogates in strings, invalid UTF-8, duplicate object keys, or text after the value. These
// rules and the syntax errors are JsonScanner's (json_scan.h), which the streaming readers of
// large files (coco/) share.
//
// Numbers keep their double value and, when the literal is an integer that fits, the exact int64
// (so 9007199254740993 survives, which a double alone would round). A literal whose magnitude a
// double cannot hold (1e400, and 1e-400, which would round to zero) is an error, not inf or 0.
// Objects keep their key order, so dump(parse(x)) writes members in the order x had them.
// dump() writes compact JSON: no spaces, non-ASCII text as UTF-8, doubles in shortest round-trip
// form. Not thread-safe to mutate; a parsed document is safe to read from many threads.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "io/json_scan.h"  // utf8_sequence_length, for the other text formats

namespace ghm::io {

class Json {
 public:
  enum class Type { Null, Bool, Number, String, Array, Object };
  using Array = std::vector<Json>;
  using Object = std::vector<std::pair<std::string, Json>>;  // in document order, keys unique

  // ---- construction --------------------------------------------------------------------------
  Json() = default;  // null
  Json(std::nullptr_t) {}
  Json(bool b) : value_(b) {}
  Json(double d);  // throws on NaN and infinities, which JSON cannot represent
  template <std::integral T>
    requires(!std::same_as<T, bool>)
  Json(T i) : value_(integer_number(i)) {}
  Json(const char* s) : value_(std::string(s)) {}
  Json(std::string s) : value_(std::move(s)) {}
  static Json array(Array items = {});
  static Json object();

  // Parses one JSON document; `source` (a file path, "config") is named in every error.
  static Json parse(std::string_view text, const std::string& source);

  // ---- inspection ----------------------------------------------------------------------------
  Type type() const { return static_cast<Type>(value_.index()); }
  bool is_null() const { return type() == Type::Null; }
  bool is_bool() const { return type() == Type::Bool; }
  bool is_number() const { return type() == Type::Number; }
  bool is_string() const { return type() == Type::String; }
  bool is_array() const { return type() == Type::Array; }
  bool is_object() const { return type() == Type::Object; }
  // "<source> at <path>", e.g. "config.json at $.train.lr"; for messages about this value.
  std::string location() const;

  // Typed access: each throws, naming location() and the actual type, when the type differs.
  bool as_bool() const;
  double as_double() const;
  std::int64_t as_int() const;  // also throws when the number is not an integer within int64
  const std::string& as_string() const;
  const Array& as_array() const;
  const Object& as_object() const;

  // Arrays and objects.
  std::size_t size() const;
  const Json& at(std::size_t index) const;  // throws naming the index and the size
  const Json& at(std::string_view key) const;  // throws naming the missing key
  const Json* find(std::string_view key) const;  // nullptr when absent
  bool contains(std::string_view key) const { return find(key) != nullptr; }

  // Building: push_back on arrays; set adds a member, or replaces its value in place if present.
  // Both return *this, so calls chain: Json::object().set("a", 1).set("b", "x").
  Json& push_back(Json value);
  Json& set(const std::string& key, Json value);

  std::string dump() const;

  // The path location() names for member `key` of the value at `parent`: "$.lr" for an
  // identifier-like key, else the key quoted, "$[\"layer1.0.weight\"]", so paths stay unambiguous.
  static std::string member_path(const std::string& parent, const std::string& key);

 private:
  struct Number {
    double value = 0;
    std::int64_t exact = 0;  // meaningful when is_exact
    bool is_exact = false;
  };
  template <class T>
  static Number integer_number(T i);
  static Number integer_from(std::int64_t i) { return {static_cast<double>(i), i, true}; }
  [[noreturn]] static void fail_unsigned_range(unsigned long long i);

  friend class JsonParser;  // parsers fill in values, members and locations directly:
  friend class YamlParser;  // Object members are appended without set()'s search
  const char* type_name() const;
  [[noreturn]] void fail_type(const char* wanted) const;
  void dump_to(std::string& out) const;

  // Alternatives in the order of Type.
  std::variant<std::nullptr_t, bool, Number, std::string, Array, Object> value_;
  // Where a parsed value came from (shared by all values of one document), and its path in it.
  std::shared_ptr<const std::string> source_;
  std::string path_ = "$";
};

template <class T>
Json::Number Json::integer_number(T i) {
  if constexpr (std::is_unsigned_v<T> && sizeof(T) >= sizeof(std::int64_t)) {
    if (i > static_cast<T>(INT64_MAX)) fail_unsigned_range(i);
  }
  return integer_from(static_cast<std::int64_t>(i));
}

}  // namespace ghm::io
