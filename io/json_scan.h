// JsonScanner: the one JSON tokenizer under every JSON reader here (io::Json's tree, the COCO
// instances reader, the COCO results reader). A pull scanner: the caller looks at peek(), reads
// the values it wants (strings, numbers, objects member by member) and skips the others, whose
// grammar is still checked. It holds the RFC 8259 rules in one place: UTF-8 validation, escapes
// with surrogate pairs, the number grammar with exact 64-bit integers, duplicate object keys,
// nesting at most kJsonMaxDepth deep, and syntax errors worded
//   invalid JSON in <source> at line L, column C (byte N): <reason>
//
//   PaddedText text = read_padded_file("results.json", "COCO results file");
//   JsonScanner s(text, "results.json");
//   s.skip_whitespace();
//   s.for_each_element(0, [&](std::size_t i) { s.skip_value(1); });
//   s.finish();
//
// Speed: the text is followed by kJsonPadding NUL bytes (PaddedText), so the scanner reads *p
// with no bounds test and literals and \uXXXX escapes read ahead safely. A NUL is never valid
// JSON outside a string, and inside one a raw control character is an error too, so meeting it
// means the end of the input or a stray byte. Numbers are converted only when asked
// (JsonNumber::to_double / to_int64), so skipped numbers cost only their grammar check.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <string_view>

#include "core/check.h"
#include "io/key_set.h"

namespace ghm::io {

// Length (1-4) of the well-formed UTF-8 sequence at the start of `s` (non-empty), or 0 when there is
// none: bad lead or continuation bytes, truncation, overlong forms, surrogates, > U+10FFFF.
std::size_t utf8_sequence_length(std::string_view s);

// Appends `code_point` (at most U+10FFFF, not a surrogate) to `out` as 1-4 UTF-8 bytes.
void append_utf8(std::string& out, std::uint32_t code_point);

constexpr std::size_t kJsonPadding = 64;  // NUL bytes after a PaddedText's text
constexpr int kJsonMaxDepth = 256;        // nesting cap: hostile input cannot overflow the stack

// A text followed by kJsonPadding NUL bytes, as JsonScanner reads it.
class PaddedText {
 public:
  PaddedText() = default;
  explicit PaddedText(std::string_view text);  // copies
  const char* data() const { return bytes_.get(); }
  std::size_t size() const { return size_; }
  std::string_view view() const { return {bytes_.get(), size_}; }
  void release() { bytes_.reset(), size_ = 0; }

 private:
  friend PaddedText read_padded_file(const std::string& path, const char* what);
  std::unique_ptr<char[]> bytes_;
  std::size_t size_ = 0;
};

// The whole file, at most GHM_MAX_JSON_BYTES (io/input_file.h); errors read "cannot open <what>
// '<path>': <reason>".
PaddedText read_padded_file(const std::string& path, const char* what);

// "line L, column C" of byte `offset` of `text` (columns count bytes from 1).
std::string json_line_column(std::string_view text, std::size_t offset);

// A number's literal, grammar-checked; converted on demand.
struct JsonNumber {
  const char* begin;
  const char* end;
  bool integral;  // no fraction and no exponent

  std::string_view text() const { return {begin, static_cast<std::size_t>(end - begin)}; }
  // False when the value is outside the range of a double (1e400, and 1e-400, which would round to 0).
  bool to_double(double& value) const;
  // An integer literal that fits in int64, exactly (9007199254740993 stays itself), or a number
  // whose value is an integer in int64's range (1e3, 7.0); false otherwise.
  bool to_int64(std::int64_t& value) const;
};

class JsonScanner {
 public:
  // `text` must stay alive and padded while the scanner is used; `source` names it in errors.
  JsonScanner(const PaddedText& text, const std::string& source)
      : begin_(text.data()), end_(text.data() + text.size()), p_(text.data()), source_(source) {}

  char peek() const { return *p_; }
  const char* position() const { return p_; }
  std::size_t offset() const { return static_cast<std::size_t>(p_ - begin_); }
  const std::string& source() const { return source_; }
  std::string_view text() const { return {begin_, static_cast<std::size_t>(end_ - begin_)}; }
  static bool starts_number(char c) { return c == '-' || (c >= '0' && c <= '9'); }

  void skip_whitespace() {
    while (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t') ++p_;
  }
  // After the document's value: only whitespace may follow.
  void finish();

  // 'x', "byte 0x00" or "end of input": the byte at `at`, for messages.
  std::string describe(const char* at) const;
  // The kind of the valid JSON value at `at` ("a string", "null", ...), for "expected ..., got ...".
  static const char* value_kind(const char* at);
  std::string line_column(const char* at) const { return json_line_column(text(), static_cast<std::size_t>(at - begin_)); }

  template <class... Args>
  [[noreturn]] void fail_syntax(const char* at, const Args&... reason) const {
    GHM_FAIL("invalid JSON in ", source_, " at ", line_column(at), " (byte ", at - begin_, "): ", reason...);
  }

  // Calls member(key) for each member of the object at the current position (which must be '{'),
  // with the position at the member's value; `member` must read or skip that value. A key given
  // twice is an error naming object_path(), a callable that returns the object's path ("$.x"),
  // or "" where the reader does not track paths (the error still has line:column).
  template <class F, class Path>
  void for_each_member(int depth, F&& member, const Path& object_path) {
    check_depth(depth);
    ++p_;
    skip_whitespace();
    if (*p_ == '}') {
      ++p_;
      return;
    }
    KeyScope keys(*this);
    while (true) {
      const char* at = p_;
      const std::string_view k = key();
      if (keys.repeats(k)) fail_duplicate_key(at, k, object_path());
      member(k);
      skip_whitespace();
      if (*p_ == ',') {
        ++p_;
        skip_whitespace();
      } else if (*p_ == '}') {
        ++p_;
        return;
      } else {
        fail_syntax(p_, "expected ',' or '}' after an object member, got ", describe(p_));
      }
    }
  }

  // Calls element(index) for each element of the array at the current position (which must be
  // '['), with the position at the element; `element` must read or skip it.
  template <class F>
  void for_each_element(int depth, F&& element) {
    check_depth(depth);
    ++p_;
    skip_whitespace();
    if (*p_ == ']') {
      ++p_;
      return;
    }
    for (std::size_t index = 0;; ++index) {
      element(index);
      skip_whitespace();
      if (*p_ == ',') {
        ++p_;
        skip_whitespace();
      } else if (*p_ == ']') {
        ++p_;
        return;
      } else {
        fail_syntax(p_, "expected ',' or ']' after an array element, got ", describe(p_));
      }
    }
  }

  // Skips one value of any type, checking its grammar (and its objects' keys for repeats).
  void skip_value(int depth);
  // Moves past the number at the current position (which starts with '-' or a digit).
  JsonNumber number();
  // Moves past the string at the current position (its opening quote); appends the decoded text
  // to `out` unless it is null.
  void string(std::string* out);
  // Moves past `word` ("true", "false" or "null"), which must be at the current position.
  void literal(std::string_view word);
  // Fails with "expected a value, got ..." unless a value starts at the current position.
  void expect_value() const;

 private:
  // The keys of one object, for finding repeats: a linear search over the few keys of a usual
  // object, kept on the stack; a flat hash set (key_set.h) once an object has more.
  class KeyScope {
   public:
    explicit KeyScope(JsonScanner& s) : s_(s), first_decoded_(s.decoded_keys_.size()) {}
    ~KeyScope() { s_.decoded_keys_.resize(first_decoded_); }
    KeyScope(const KeyScope&) = delete;
    KeyScope& operator=(const KeyScope&) = delete;

    // Whether `key` was seen before in this object; remembers it. `key` must stay valid while
    // the object is read (a view into the text, or into decoded_keys_).
    bool repeats(std::string_view key) {
      if (count_ < kFewKeys) {
        for (std::size_t i = 0; i < count_; ++i)
          if (few_sizes_[i] == key.size() && std::memcmp(few_data_[i], key.data(), key.size()) == 0) return true;
        few_data_[count_] = key.data();
        few_sizes_[count_++] = key.size();
        return false;
      }
      if (many_ == nullptr) {
        many_ = std::make_unique<KeySet>();
        for (std::size_t i = 0; i < kFewKeys; ++i) many_->insert({few_data_[i], few_sizes_[i]}, 0);
      }
      return many_->insert(key, 0) != nullptr;
    }

   private:
    static constexpr std::size_t kFewKeys = 16;
    JsonScanner& s_;
    std::size_t first_decoded_;
    // The first keys, as pointers and sizes apart: only [0, count_) is set. (Sizes compared first
    // from their own array: most keys of an object differ in length.)
    std::array<const char*, kFewKeys> few_data_;
    std::array<std::size_t, kFewKeys> few_sizes_;
    std::size_t count_ = 0;
    std::unique_ptr<KeySet> many_;
  };

  void check_depth(int depth) const {
    if (depth >= kJsonMaxDepth) fail_syntax(p_, "arrays and objects nested deeper than ", kJsonMaxDepth, " levels");
  }
  std::string_view key();
  [[noreturn]] void fail_duplicate_key(const char* at, std::string_view key, const std::string& object_path) const;
  std::uint32_t hex4(const char* q) const;
  const char* escape(const char* q, std::string* out) const;

  const char* begin_;
  const char* end_;
  const char* p_;
  const std::string& source_;
  std::deque<std::string> decoded_keys_;  // keys with escapes, decoded, of the objects being read
};

}  // namespace ghm::io
