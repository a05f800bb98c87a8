// JsonScanner and the text helpers under it (json_scan.h): UTF-8, escapes, numbers, positions.
#include "io/json_scan.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <system_error>

#include "io/input_file.h"

namespace ghm::io {

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

PaddedText::PaddedText(std::string_view text)
    : bytes_(std::make_unique_for_overwrite<char[]>(text.size() + kJsonPadding)), size_(text.size()) {
  std::memcpy(bytes_.get(), text.data(), text.size());
  std::memset(bytes_.get() + size_, 0, kJsonPadding);
}

PaddedText read_padded_file(const std::string& path, const char* what) {
  FileBytes file = read_input_file(path, what, json_limit(), kJsonPadding);
  PaddedText text;
  text.bytes_ = std::move(file.bytes);
  text.size_ = file.size;
  return text;
}

std::string json_line_column(std::string_view text, std::size_t offset) {
  const std::string_view before = text.substr(0, offset);
  const auto line = 1 + std::count(before.begin(), before.end(), '\n');
  const std::size_t last_newline = before.rfind('\n');
  const std::size_t column = last_newline == std::string_view::npos ? offset + 1 : offset - last_newline;
  return str_cat("line ", line, ", column ", column);
}

bool JsonNumber::to_double(double& value) const { return std::from_chars(begin, end, value).ec == std::errc(); }

bool JsonNumber::to_int64(std::int64_t& value) const {
  if (integral) return std::from_chars(begin, end, value).ec == std::errc();
  constexpr double kTwoTo63 = 9223372036854775808.0;
  double d = 0;
  if (!to_double(d) || d != std::trunc(d) || d < -kTwoTo63 || d >= kTwoTo63) return false;
  value = static_cast<std::int64_t>(d);
  return true;
}

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

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Bytes that a string may hold as they are: printable ASCII other than '"' and '\'.
constexpr auto kPlainStringByte = [] {
  std::array<bool, 256> plain{};
  for (int c = 0x20; c < 0x80; ++c) plain[c] = c != '"' && c != '\\';
  return plain;
}();
bool is_plain(char c) { return kPlainStringByte[static_cast<unsigned char>(c)]; }

std::string hex_byte(unsigned char c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", c);
  return buf;
}

}  // namespace

void JsonScanner::finish() {
  skip_whitespace();
  if (p_ != end_) fail_syntax(p_, "unexpected ", describe(p_), " after the JSON value");
}

std::string JsonScanner::describe(const char* at) const {
  if (at >= end_) return "end of input";
  const auto c = static_cast<unsigned char>(*at);
  if (c >= 0x20 && c < 0x7F) return std::string("'") + static_cast<char>(c) + "'";
  return "byte " + hex_byte(c);
}

const char* JsonScanner::value_kind(const char* at) {
  switch (*at) {
    case '"': return "a string";
    case '{': return "an object";
    case '[': return "an array";
    case 't': case 'f': return "a bool";
    case 'n': return "null";
    default: return "a number";
  }
}

void JsonScanner::expect_value() const {
  const char c = *p_;
  const bool value = c == '"' || c == '{' || c == '[' || c == 't' || c == 'f' || c == 'n' || starts_number(c);
  if (!value) fail_syntax(p_, "expected a value, got ", describe(p_));
}

void JsonScanner::skip_value(int depth) {
  switch (*p_) {
    case '{':
      for_each_member(depth, [&](std::string_view) { skip_value(depth + 1); }, [] { return std::string(); });
      return;
    case '[':
      for_each_element(depth, [&](std::size_t) {
        if (starts_number(*p_)) number();  // polygons: the bulk of a COCO file
        else skip_value(depth + 1);
      });
      return;
    case '"': string(nullptr); return;
    case 't': literal("true"); return;
    case 'f': literal("false"); return;
    case 'n': literal("null"); return;
    default:
      expect_value();
      number();
  }
}

// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
JsonNumber JsonScanner::number() {
  const char* start = p_;
  const char* q = p_;
  if (*q == '-') ++q;
  if (*q == '0') {
    ++q;
    if (is_digit(*q)) fail_syntax(start, "numbers must not have leading zeros");
  } else if (is_digit(*q)) {
    do ++q;
    while (is_digit(*q));
  } else {
    fail_syntax(q, "expected a digit after '-', got ", describe(q));
  }
  bool integral = true;
  if (*q == '.') {
    ++q;
    if (!is_digit(*q)) fail_syntax(q, "expected a digit after the decimal point, got ", describe(q));
    do ++q;
    while (is_digit(*q));
    integral = false;
  }
  if (*q == 'e' || *q == 'E') {
    ++q;
    if (*q == '+' || *q == '-') ++q;
    if (!is_digit(*q)) fail_syntax(q, "expected a digit in the exponent, got ", describe(q));
    do ++q;
    while (is_digit(*q));
    integral = false;
  }
  p_ = q;
  return {start, q, integral};
}

void JsonScanner::string(std::string* out) {
  const char* q = p_ + 1;
  while (true) {
    const char* run = q;
    while (is_plain(*q)) ++q;
    if (out != nullptr) out->append(run, q);
    const auto c = static_cast<unsigned char>(*q);
    if (c == '"') {
      p_ = q + 1;
      return;
    }
    if (c == '\\') {
      q = escape(q, out);
    } else if (c >= 0x80) {
      const std::size_t n = utf8_sequence_length(std::string_view(q, static_cast<std::size_t>(end_ - q)));
      if (n == 0) fail_syntax(q, "invalid UTF-8 byte ", hex_byte(c), " in a string");
      if (out != nullptr) out->append(q, n);
      q += n;
    } else if (q >= end_) {
      fail_syntax(end_, "unterminated string");
    } else {
      fail_syntax(q, "control character ", hex_byte(c), " must be escaped inside a string");
    }
  }
}

void JsonScanner::literal(std::string_view word) {
  if (std::string_view(p_, word.size()) != word) fail_syntax(p_, "invalid literal, expected '", word, "'");
  p_ += word.size();
}

// Reads an object key and the ':' after it, leaving the position at the value. Keys without
// escapes or non-ASCII bytes are views into the text; others are decoded into decoded_keys_.
std::string_view JsonScanner::key() {
  if (*p_ != '"') fail_syntax(p_, "expected a string key, got ", describe(p_));
  const char* start = p_ + 1;
  const char* q = start;
  while (is_plain(*q)) ++q;
  std::string_view k;
  if (*q == '"') {
    k = std::string_view(start, static_cast<std::size_t>(q - start));
    p_ = q + 1;
  } else {
    std::string& decoded = decoded_keys_.emplace_back();
    string(&decoded);
    k = decoded;
  }
  skip_whitespace();
  if (*p_ != ':') fail_syntax(p_, "expected ':' after the key \"", k, "\", got ", describe(p_));
  ++p_;
  skip_whitespace();
  return k;
}

void JsonScanner::fail_duplicate_key(const char* at, std::string_view key, const std::string& object_path) const {
  if (object_path.empty()) fail_syntax(at, "duplicate key \"", key, "\"");
  fail_syntax(at, "duplicate key \"", key, "\" in the object at ", object_path);
}

// The four hex digits at q.
std::uint32_t JsonScanner::hex4(const char* q) const {
  std::uint32_t v = 0;
  for (const char* d = q; d < q + 4; ++d) {
    const char c = *d;
    const bool lower = c >= 'a' && c <= 'f', upper = c >= 'A' && c <= 'F';
    if (!is_digit(c) && !lower && !upper) fail_syntax(d, "expected 4 hex digits after \\u, got ", describe(d));
    v = v * 16 + static_cast<std::uint32_t>(is_digit(c) ? c - '0' : lower ? c - 'a' + 10 : c - 'A' + 10);
  }
  return v;
}

// The escape at q (a backslash); returns the position after it. Surrogates must come in pairs.
const char* JsonScanner::escape(const char* q, std::string* out) const {
  constexpr std::string_view kFrom = "\"\\/bfnrt", kTo = "\"\\/\b\f\n\r\t";
  if (q + 1 >= end_) fail_syntax(end_, "unterminated string");
  if (q[1] != 'u') {
    const std::size_t i = q[1] == '\0' ? std::string_view::npos : kFrom.find(q[1]);
    if (i == std::string_view::npos) fail_syntax(q, "invalid escape sequence \\ followed by ", describe(q + 1));
    if (out != nullptr) *out += kTo[i];
    return q + 2;
  }
  std::uint32_t cp = hex4(q + 2);
  const char* next = q + 6;
  if (cp >= 0xDC00 && cp <= 0xDFFF) fail_syntax(q, "lone low surrogate \\u", std::string_view(q + 2, 4));
  if (cp >= 0xD800 && cp <= 0xDBFF) {
    const std::uint32_t low = next[0] == '\\' && next[1] == 'u' ? hex4(next + 2) : 0;
    if (low < 0xDC00 || low > 0xDFFF)
      fail_syntax(q, "high surrogate \\u", std::string_view(q + 2, 4), " is not followed by a low surrogate");
    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    next += 6;
  }
  if (out != nullptr) append_utf8(*out, cp);
  return next;
}

}  // namespace ghm::io
