// Reading COCO instances files (coco_dataset.h says what is kept and what is checked).
//
// Why not io::Json: instances_train2017.json is 448 MiB, and a DOM of it costs gigabytes and
// tens of seconds. Here a pull scanner walks the text once: the fields we keep are converted
// straight into small structs, everything else is skipped, but its grammar is still checked, so
// a malformed file fails here as it would in any JSON parser, with line:column and byte offset.
//
// Speed: the file is read whole into a buffer followed by kPadding NUL bytes, so the scanner
// reads *p with no bounds test. A NUL is never valid JSON outside a string, and inside one a raw
// control character is an error too, so meeting it means the end of the input (p == end_) or a
// stray byte. Most of the bytes are segmentation polygons, so skipping an array has a loop that
// reads numbers in place, and numbers that are skipped are never converted (nor range-checked).
//
// Two passes:
//   1. scan:     images, annotations and categories into raw records, in file order; records
//                keep their byte offset so that errors found later can name line and column
//   2. assemble: categories sorted by id (their labels), image ids hashed, repeated annotation
//                ids found by sorting (id, index) pairs, references resolved; then the text is
//                freed and the kept boxes are grouped by image with a stable counting sort
// Peak memory is the file size plus ~100 bytes per annotation.
#include "coco/dataset.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "core/check.h"
#include "io/json.h"

namespace ghm::io {
namespace {

constexpr std::size_t kPadding = 64;  // NUL bytes after the text: literals and \uXXXX read ahead
constexpr int kMaxDepth = 256;        // as io::Json: hostile nesting cannot overflow the stack

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool starts_number(char c) { return c == '-' || is_digit(c); }

// Bytes that a string may hold as they are: printable ASCII other than '"' and '\'.
constexpr auto kPlainStringByte = [] {
  std::array<bool, 256> plain{};
  for (int c = 0x20; c < 0x80; ++c) plain[c] = c != '"' && c != '\\';
  return plain;
}();
bool is_plain(char c) { return kPlainStringByte[static_cast<unsigned char>(c)]; }

// The kind of the valid JSON value that starts with `c`, for "expected ..., got ...".
const char* value_kind(char c) {
  switch (c) {
    case '"': return "a string";
    case '{': return "an object";
    case '[': return "an array";
    case 't': case 'f': return "a bool";
    case 'n': return "null";
    default: return "a number";
  }
}

void append_utf8(std::string& out, std::uint32_t cp) {
  const auto put = [&](std::uint32_t byte) { out += static_cast<char>(byte); };
  if (cp < 0x80) {
    put(cp);
  } else if (cp < 0x800) {
    put(0xC0 | (cp >> 6));
    put(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    put(0xE0 | (cp >> 12));
    put(0x80 | ((cp >> 6) & 0x3F));
    put(0x80 | (cp & 0x3F));
  } else {
    put(0xF0 | (cp >> 18));
    put(0x80 | ((cp >> 12) & 0x3F));
    put(0x80 | ((cp >> 6) & 0x3F));
    put(0x80 | (cp & 0x3F));
  }
}

// The whole file, followed by kPadding NULs.
struct FileText {
  std::unique_ptr<char[]> bytes;
  std::size_t size = 0;
};

FileText read_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  GHM_CHECK(f != nullptr, "cannot open COCO annotation file '", path, "': ", std::strerror(errno));
  FileText text;
  bool ok = std::fseek(f, 0, SEEK_END) == 0;
  const long size = ok ? std::ftell(f) : -1;
  ok = ok && size >= 0 && std::fseek(f, 0, SEEK_SET) == 0;
  if (ok) {
    text.size = static_cast<std::size_t>(size);
    text.bytes = std::make_unique_for_overwrite<char[]>(text.size + kPadding);
    ok = std::fread(text.bytes.get(), 1, text.size, f) == text.size;
  }
  const int error = errno;
  std::fclose(f);
  GHM_CHECK(ok, "cannot read COCO annotation file '", path, "': ", std::strerror(error));
  std::memset(text.bytes.get() + text.size, 0, kPadding);
  return text;
}

struct NumberText {
  const char* begin;
  const char* end;
  bool integral;  // no fraction and no exponent
  std::string_view view() const { return {begin, static_cast<std::size_t>(end - begin)}; }
};

// A pull scanner over one JSON text. The caller steers: it looks at peek(), reads the values it
// wants and skips the others. Syntax errors name the file, line:column and byte offset.
class JsonScanner {
 public:
  JsonScanner(const char* text, std::size_t size, const std::string& path)
      : begin_(text), end_(text + size), p_(text), path_(path) {}

  char peek() const { return *p_; }
  const char* position() const { return p_; }
  const char* at_offset(std::size_t offset) const { return begin_ + offset; }
  std::size_t offset() const { return static_cast<std::size_t>(p_ - begin_); }
  bool at_end() const { return p_ == end_; }

  void skip_whitespace() {
    while (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t') ++p_;
  }

  // 'x', "byte 0x00" or "end of input": the byte at `at`, for messages.
  std::string describe(const char* at) const {
    if (at >= end_) return "end of input";
    const auto c = static_cast<unsigned char>(*at);
    if (c >= 0x20 && c < 0x7F) return std::string("'") + static_cast<char>(c) + "'";
    char buf[16];
    std::snprintf(buf, sizeof buf, "byte 0x%02X", c);
    return buf;
  }

  // "line L, column C" of `at` (columns count bytes from 1).
  std::string line_column(const char* at) const {
    const auto line = 1 + std::count(begin_, at, '\n');
    const char* line_start = at;
    while (line_start > begin_ && line_start[-1] != '\n') --line_start;
    return str_cat("line ", line, ", column ", at - line_start + 1);
  }

  template <class... Args>
  [[noreturn]] void fail_syntax(const char* at, const Args&... reason) const {
    GHM_FAIL("invalid JSON in ", path_, " at ", line_column(at), " (byte ", at - begin_, "): ", reason...);
  }
  // Errors about content: "<file>: <what> (line L, column C)".
  template <class... Args>
  [[noreturn]] void fail_content(const char* at, const Args&... what) const {
    GHM_FAIL(path_, ": ", what..., " (", line_column(at), ")");
  }

  // Calls member(key) for each member of the object at p_ (which must be '{'), with p_ at the
  // member's value; `member` must read or skip that value.
  template <class F>
  void for_each_member(int depth, F&& member) {
    check_depth(depth);
    ++p_;
    skip_whitespace();
    if (*p_ == '}') {
      ++p_;
      return;
    }
    while (true) {
      member(key());
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

  // Calls element(index) for each element of the array at p_ (which must be '['), with p_ at the
  // element; `element` must read or skip it.
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

  // Skips one value of any type, checking its grammar.
  void skip_value(int depth) {
    switch (*p_) {
      case '{': for_each_member(depth, [&](std::string_view) { skip_value(depth + 1); }); return;
      case '[':
        for_each_element(depth, [&](std::size_t) {
          if (starts_number(*p_)) number();  // polygons: the bulk of a COCO file
          else skip_value(depth + 1);
        });
        return;
      case '"': scan_string(nullptr); return;
      case 't': literal("true"); return;
      case 'f': literal("false"); return;
      case 'n': literal("null"); return;
      default:
        if (!starts_number(*p_)) fail_syntax(p_, "expected a value, got ", describe(p_));
        number();
    }
  }

  // Moves past the number at p_ (which starts with '-' or a digit), checking the RFC 8259 grammar.
  NumberText number() {
    const char* start = p_;
    const char* q = p_;
    if (*q == '-') ++q;
    if (*q == '0') {
      ++q;
      if (is_digit(*q)) fail_syntax(q, "a number must not have leading zeros");
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

  // Moves past the string at p_ (at its opening quote), checking escapes and UTF-8; when `out` is
  // not null, appends the decoded text to it.
  void scan_string(std::string* out) {
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
        if (n == 0) fail_syntax(q, "invalid UTF-8 ", describe(q), " in a string");
        if (out != nullptr) out->append(q, n);
        q += n;
      } else if (q >= end_) {
        fail_syntax(end_, "unterminated string");
      } else {
        fail_syntax(q, "control character ", describe(q), " must be escaped inside a string");
      }
    }
  }

 private:
  void check_depth(int depth) const {
    if (depth >= kMaxDepth) fail_syntax(p_, "arrays and objects nested deeper than ", kMaxDepth, " levels");
  }

  void literal(std::string_view word) {
    if (std::string_view(p_, word.size()) != word) fail_syntax(p_, "invalid literal, expected '", word, "'");
    p_ += word.size();
  }

  // Reads an object key and the ':' after it, leaving p_ at the value. Keys without escapes or
  // non-ASCII bytes are views into the text; others are decoded into key_buffer_.
  std::string_view key() {
    if (*p_ != '"') fail_syntax(p_, "expected a string key, got ", describe(p_));
    const char* start = p_ + 1;
    const char* q = start;
    while (is_plain(*q)) ++q;
    std::string_view k;
    if (*q == '"') {
      k = std::string_view(start, static_cast<std::size_t>(q - start));
      p_ = q + 1;
    } else {
      key_buffer_.clear();
      scan_string(&key_buffer_);
      k = key_buffer_;
    }
    skip_whitespace();
    if (*p_ != ':') fail_syntax(p_, "expected ':' after the key \"", k, "\", got ", describe(p_));
    ++p_;
    skip_whitespace();
    return k;
  }

  // The four hex digits at q.
  std::uint32_t hex4(const char* q) const {
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
  const char* escape(const char* q, std::string* out) {
    constexpr std::string_view kFrom = "\"\\/bfnrt", kTo = "\"\\/\b\f\n\r\t";
    if (q[1] != 'u') {
      const std::size_t i = q[1] == '\0' ? std::string_view::npos : kFrom.find(q[1]);
      if (i == std::string_view::npos) fail_syntax(q, "invalid escape \\", describe(q + 1));
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

  const char* begin_;
  const char* end_;
  const char* p_;
  const std::string& path_;
  std::string key_buffer_;
};

// ---- pass 1: COCO records --------------------------------------------------------------------

struct RawAnnotation {
  std::int64_t id = 0, image_id = 0, category_id = 0;
  std::size_t offset = 0;  // of the record in the file, for errors found in pass 2
  float x = 0, y = 0, w = 0, h = 0, area = 0;
  std::int32_t label = 0;    // pass 2
  std::uint32_t image = 0;   // pass 2: index into the file's images
  std::uint8_t iscrowd = 0;
  bool too_small = false;
};

struct RawCategory {
  std::int64_t id = 0;
  std::string name;
  std::size_t index = 0, offset = 0;  // in the file's categories array, and in the file
};

// The record being read, for messages: "annotations[12] (id 907).bbox[2]".
struct Element {
  const char* section;
  std::size_t index;
  const std::int64_t* id = nullptr;  // null until the record's id is read

  std::string name() const {
    return id != nullptr ? str_cat(section, "[", index, "] (id ", *id, ")") : str_cat(section, "[", index, "]");
  }
  std::string field(std::string_view key, int item = -1) const {
    return item < 0 ? str_cat(name(), ".", key) : str_cat(name(), ".", key, "[", item, "]");
  }
};

// Reads the document into raw records, in file order.
class CocoReader {
 public:
  CocoReader(JsonScanner& s, const std::string& path, float min_box_side)
      : s_(s), path_(path), min_box_side_(min_box_side) {}

  std::vector<CocoImageRecord> images;
  std::vector<std::size_t> image_offsets;
  std::vector<RawAnnotation> annotations;
  std::vector<RawCategory> categories;

  void read_document() {
    s_.skip_whitespace();
    if (s_.peek() != '{') fail_type("a COCO instances file", "a JSON object with images, annotations and categories");
    unsigned seen = 0;
    const auto section = [&](std::string_view key, unsigned bit, auto read_record) {
      if ((seen & bit) != 0) s_.fail_content(s_.position(), "the key \"", key, "\" appears twice");
      seen |= bit;
      if (s_.peek() != '[') fail_type(std::string(key), "an array");
      s_.for_each_element(1, [&](std::size_t i) {
        if (s_.peek() != '{') fail_type(str_cat(key, "[", i, "]"), "an object");
        (this->*read_record)(i);
      });
    };
    s_.for_each_member(0, [&](std::string_view key) {
      if (key == "images") section(key, 1, &CocoReader::read_image);
      else if (key == "annotations") section(key, 2, &CocoReader::read_annotation);
      else if (key == "categories") section(key, 4, &CocoReader::read_category);
      else s_.skip_value(1);
    });
    s_.skip_whitespace();
    if (!s_.at_end()) s_.fail_syntax(s_.position(), "unexpected ", s_.describe(s_.position()), " after the JSON value");
    const char* names[] = {"images", "annotations", "categories"};
    for (unsigned i = 0; i < 3; ++i)
      GHM_CHECK((seen >> i & 1u) != 0, path_, ": \"", names[i],
                "\" is missing (a COCO instances file has images, annotations and categories)");
  }

 private:
  // Tracks the keys a record has had: a known key given twice is an error, a required one absent too.
  class SeenKeys {
   public:
    void mark(unsigned bit, std::string_view key, const Element& e, const JsonScanner& s) {
      if ((seen_ & bit) != 0) s.fail_content(s.position(), e.name(), ": the key \"", key, "\" appears twice");
      seen_ |= bit;
    }
    bool has(unsigned bit) const { return (seen_ & bit) != 0; }
    // Fails for the first of `names` (bit i for names[i]) that was not seen.
    void require(std::initializer_list<const char*> names, const Element& e, const JsonScanner& s,
                 const char* record) const {
      unsigned bit = 1;
      for (const char* name : names) {
        if (!has(bit)) s.fail_content(record, e.field(name), ": missing (a required field)");
        bit <<= 1;
      }
    }

   private:
    unsigned seen_ = 0;
  };

  // "<what>: expected <expected>, got a string". A malformed value is a syntax error instead.
  [[noreturn]] void fail_type(const std::string& what, const char* expected) {
    const char* at = s_.position();
    s_.skip_value(3);
    s_.fail_content(at, what, ": expected ", expected, ", got ", value_kind(*at));
  }

  double read_double(const Element& e, std::string_view key, int item = -1) {
    if (!starts_number(s_.peek())) fail_type(e.field(key, item), "a number");
    const NumberText n = s_.number();
    double v = 0;
    if (std::from_chars(n.begin, n.end, v).ec != std::errc())
      s_.fail_content(n.begin, e.field(key, item), ": ", n.view(), " is out of the range of a double");
    return v;
  }

  float read_float(const Element& e, std::string_view key, int item = -1) {
    const char* at = s_.position();
    const double v = read_double(e, key, item);
    const auto f = static_cast<float>(v);
    if (!std::isfinite(f)) s_.fail_content(at, e.field(key, item), ": ", v, " is out of the range of a float");
    return f;
  }

  // An integer: a literal without fraction or exponent that fits in int64, or a number whose
  // value is an integer (1e3, 7.0), as io::Json::as_int reads them.
  std::int64_t read_integer(const Element& e, std::string_view key) {
    if (!starts_number(s_.peek())) fail_type(e.field(key), "an integer");
    const NumberText n = s_.number();
    if (n.integral) {
      std::int64_t v = 0;
      if (std::from_chars(n.begin, n.end, v).ec == std::errc()) return v;
    } else {
      constexpr double kTwoTo63 = 9223372036854775808.0;
      double d = 0;
      if (std::from_chars(n.begin, n.end, d).ec == std::errc() && d == std::trunc(d) && d >= -kTwoTo63 && d < kTwoTo63)
        return static_cast<std::int64_t>(d);
    }
    s_.fail_content(n.begin, e.field(key), ": expected an integer that fits in int64, got ", n.view());
  }

  std::int32_t read_image_size(const Element& e, std::string_view key) {
    const char* at = s_.position();
    const std::int64_t v = read_integer(e, key);
    if (v < 1 || v > INT32_MAX) s_.fail_content(at, e.field(key), ": an image side must be in [1, 2^31), got ", v);
    return static_cast<std::int32_t>(v);
  }

  std::string read_string(const Element& e, std::string_view key) {
    if (s_.peek() != '"') fail_type(e.field(key), "a string");
    std::string out;
    s_.scan_string(&out);
    return out;
  }

  void read_image(std::size_t index) {
    const char* record = s_.position();
    CocoImageRecord image;
    Element e{"images", index};
    SeenKeys seen;
    s_.for_each_member(2, [&](std::string_view key) {
      if (key == "id") {
        seen.mark(1, key, e, s_);
        image.id = read_integer(e, key);
        e.id = &image.id;
      } else if (key == "file_name") {
        seen.mark(2, key, e, s_);
        image.file_name = read_string(e, key);
      } else if (key == "width") {
        seen.mark(4, key, e, s_);
        image.width = read_image_size(e, key);
      } else if (key == "height") {
        seen.mark(8, key, e, s_);
        image.height = read_image_size(e, key);
      } else {
        s_.skip_value(3);
      }
    });
    seen.require({"id", "file_name", "width", "height"}, e, s_, record);
    images.push_back(std::move(image));
    image_offsets.push_back(static_cast<std::size_t>(record - s_.at_offset(0)));
  }

  // [x, y, width, height]; the side test uses the file's values, before rounding to float.
  void read_bbox(const Element& e, RawAnnotation& a) {
    const char* start = s_.position();
    if (s_.peek() != '[') fail_type(e.field("bbox"), "an array [x, y, width, height]");
    double v[4] = {};
    int count = 0;
    s_.for_each_element(3, [&](std::size_t) {
      if (count < 4) v[count] = read_double(e, "bbox", count);
      else s_.skip_value(4);
      ++count;
    });
    if (count != 4)
      s_.fail_content(start, e.field("bbox"), ": expected 4 numbers [x, y, width, height], got ", count, " values");
    for (int i = 0; i < 4; ++i)
      if (!std::isfinite(static_cast<float>(v[i])))
        s_.fail_content(start, e.field("bbox", i), ": ", v[i], " is out of the range of a float");
    a.x = static_cast<float>(v[0]), a.y = static_cast<float>(v[1]);
    a.w = static_cast<float>(v[2]), a.h = static_cast<float>(v[3]);
    a.too_small = !(v[2] > 0 && v[3] > 0 && v[2] >= min_box_side_ && v[3] >= min_box_side_);
  }

  std::uint8_t read_crowd(const Element& e) {
    const char* at = s_.position();
    const char c = s_.peek();
    if (c == 't' || c == 'f') {
      s_.skip_value(3);
      return c == 't' ? 1 : 0;
    }
    if (!starts_number(c)) fail_type(e.field("iscrowd"), "0, 1, false or true");
    const std::int64_t v = read_integer(e, "iscrowd");
    if (v != 0 && v != 1) s_.fail_content(at, e.field("iscrowd"), ": expected 0, 1, false or true, got ", v);
    return static_cast<std::uint8_t>(v);
  }

  void read_annotation(std::size_t index) {
    const char* record = s_.position();
    RawAnnotation a;
    a.offset = static_cast<std::size_t>(record - s_.at_offset(0));
    Element e{"annotations", index};
    SeenKeys seen;
    s_.for_each_member(2, [&](std::string_view key) {
      if (key == "segmentation") {  // first: it is most of the file
        s_.skip_value(3);
      } else if (key == "bbox") {
        seen.mark(1, key, e, s_);
        read_bbox(e, a);
      } else if (key == "image_id") {
        seen.mark(2, key, e, s_);
        a.image_id = read_integer(e, key);
      } else if (key == "category_id") {
        seen.mark(4, key, e, s_);
        a.category_id = read_integer(e, key);
      } else if (key == "id") {
        seen.mark(8, key, e, s_);
        a.id = read_integer(e, key);
        e.id = &a.id;
      } else if (key == "area") {
        seen.mark(16, key, e, s_);
        a.area = read_float(e, key);
      } else if (key == "iscrowd") {
        seen.mark(32, key, e, s_);
        a.iscrowd = read_crowd(e);
      } else {
        s_.skip_value(3);
      }
    });
    seen.require({"bbox", "image_id", "category_id", "id"}, e, s_, record);
    if (!seen.has(16)) a.area = a.w * a.h;
    annotations.push_back(a);
  }

  void read_category(std::size_t index) {
    const char* record = s_.position();
    RawCategory c;
    c.index = index;
    c.offset = static_cast<std::size_t>(record - s_.at_offset(0));
    Element e{"categories", index};
    SeenKeys seen;
    s_.for_each_member(2, [&](std::string_view key) {
      if (key == "id") {
        seen.mark(1, key, e, s_);
        c.id = read_integer(e, key);
        e.id = &c.id;
      } else if (key == "name") {
        seen.mark(2, key, e, s_);
        c.name = read_string(e, key);
      } else {
        s_.skip_value(3);
      }
    });
    seen.require({"id", "name"}, e, s_, record);
    categories.push_back(std::move(c));
  }

  JsonScanner& s_;
  const std::string& path_;
  float min_box_side_;
};

// ---- pass 2: labels, references, grouping ---------------------------------------------------

// Categories sorted by id, labelled 0, 1, ... in that order; a repeated id is an error.
std::vector<CocoCategory> label_categories(std::vector<RawCategory>& raw, const JsonScanner& s) {
  std::stable_sort(raw.begin(), raw.end(), [](const RawCategory& a, const RawCategory& b) { return a.id < b.id; });
  std::vector<CocoCategory> categories;
  categories.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (i > 0 && raw[i].id == raw[i - 1].id)
      s.fail_content(s.at_offset(raw[i].offset), "categories[", raw[i].index, "]: category id ", raw[i].id,
                     " appears twice (also categories[", raw[i - 1].index, "])");
    categories.push_back({raw[i].id, std::move(raw[i].name), static_cast<std::int32_t>(i)});
  }
  return categories;
}

// Resolves image_id and category_id of every annotation (into .image and .label) and checks that
// image and annotation ids are unique.
void resolve_annotations(CocoReader& r, const std::vector<CocoCategory>& categories, const JsonScanner& s) {
  std::unordered_map<std::int64_t, std::uint32_t> image_index;
  image_index.reserve(r.images.size());
  for (std::size_t i = 0; i < r.images.size(); ++i) {
    const auto [it, inserted] = image_index.emplace(r.images[i].id, static_cast<std::uint32_t>(i));
    if (!inserted)
      s.fail_content(s.at_offset(r.image_offsets[i]), "images[", i, "]: image id ", r.images[i].id,
                     " appears twice (also images[", it->second, "])");
  }

  std::vector<std::pair<std::int64_t, std::uint32_t>> ids(r.annotations.size());  // (id, index)
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = {r.annotations[i].id, static_cast<std::uint32_t>(i)};
  std::sort(ids.begin(), ids.end());
  const auto repeat = std::adjacent_find(ids.begin(), ids.end(), [](const auto& a, const auto& b) { return a.first == b.first; });
  if (repeat != ids.end()) {
    const std::uint32_t later = repeat[1].second;
    s.fail_content(s.at_offset(r.annotations[later].offset), "annotations[", later, "]: annotation id ", repeat->first,
                   " appears twice (also annotations[", repeat->second, "])");
  }

  for (std::size_t i = 0; i < r.annotations.size(); ++i) {
    RawAnnotation& a = r.annotations[i];
    const auto image = image_index.find(a.image_id);
    if (image == image_index.end())
      s.fail_content(s.at_offset(a.offset), "annotations[", i, "] (id ", a.id, "): image_id ", a.image_id,
                     " is not the id of an image in \"images\"");
    a.image = image->second;
    const auto category = std::lower_bound(categories.begin(), categories.end(), a.category_id,
                                           [](const CocoCategory& c, std::int64_t id) { return c.id < id; });
    if (category == categories.end() || category->id != a.category_id)
      s.fail_content(s.at_offset(a.offset), "annotations[", i, "] (id ", a.id, "): category_id ", a.category_id,
                     " is not the id of a category in \"categories\"");
    a.label = category->label;
  }
}

// Fills data.images and data.boxes from the resolved records, and data.report with the counts
// and the one warning line for skipped boxes.
void group_boxes(CocoReader& r, const CocoLoadOptions& options, CocoDataset& data) {
  CocoLoadReport& report = data.report;
  report.annotations = static_cast<std::int64_t>(r.annotations.size());
  std::vector<std::uint32_t> kept(r.images.size(), 0), targets(r.images.size(), 0);  // boxes per image
  const RawAnnotation* first_skipped = nullptr;
  for (const RawAnnotation& a : r.annotations) {
    if (a.too_small) {
      if (report.skipped_small_boxes++ == 0) first_skipped = &a;
      continue;
    }
    ++kept[a.image];
    targets[a.image] += a.iscrowd == 0 ? 1 : 0;
  }
  if (first_skipped != nullptr) {
    const float side = options.min_box_side;
    report.warnings.push_back(str_cat(data.path, ": skipped ", report.skipped_small_boxes, " of ", report.annotations,
                                      " boxes with width or height ", side > 0 ? str_cat("< ", side, " px") : "<= 0",
                                      " (first: annotations[", first_skipped - r.annotations.data(), "] (id ",
                                      first_skipped->id, "), ", first_skipped->w, " x ", first_skipped->h, ")"));
  }

  std::vector<std::uint32_t> cursor(r.images.size(), 0);  // where each image's next box goes
  std::uint32_t total = 0;
  data.images.reserve(r.images.size());
  for (std::size_t i = 0; i < r.images.size(); ++i) {
    const bool empty = targets[i] == 0;
    report.images_without_boxes += empty ? 1 : 0;
    if (empty && options.empty_images == EmptyImages::Drop) {
      ++report.dropped_images;
      kept[i] = 0;
      continue;
    }
    CocoImageRecord& image = data.images.emplace_back(std::move(r.images[i]));
    image.first_box = cursor[i] = total;
    image.num_boxes = kept[i];
    total += kept[i];
  }
  data.boxes.resize(total);
  for (const RawAnnotation& a : r.annotations) {
    if (a.too_small || kept[a.image] == 0) continue;
    data.boxes[cursor[a.image]++] = {a.x, a.y, a.w, a.h, a.area, a.label, a.iscrowd, a.id};
    report.crowd_boxes += a.iscrowd;
  }
}

}  // namespace

std::int64_t CocoDataset::category_id(std::int32_t label) const {
  GHM_CHECK(label >= 0 && label < num_classes(), path, ": label ", label, " is out of range [0, ", num_classes(), ")");
  return categories[static_cast<std::size_t>(label)].id;
}

std::int32_t CocoDataset::label_of(std::int64_t id) const {
  const auto it = std::lower_bound(categories.begin(), categories.end(), id,
                                   [](const CocoCategory& c, std::int64_t value) { return c.id < value; });
  return it != categories.end() && it->id == id ? it->label : -1;
}

CocoDataset load_coco_dataset(const std::string& path, const CocoLoadOptions& options) {
  GHM_CHECK(options.min_box_side >= 0 && std::isfinite(options.min_box_side),
            "load_coco_dataset: min_box_side must be a finite number >= 0, got ", options.min_box_side);
  FileText text = read_file(path);
  JsonScanner scanner(text.bytes.get(), text.size, path);
  CocoReader reader(scanner, path, options.min_box_side);
  reader.read_document();

  CocoDataset data;
  data.path = path;
  data.categories = label_categories(reader.categories, scanner);
  resolve_annotations(reader, data.categories, scanner);
  text.bytes.reset();  // every check that names a line is done

  group_boxes(reader, options, data);
  if (options.warnings == Warnings::Print)
    for (const std::string& line : data.report.warnings) std::cerr << line << '\n';
  return data;
}

}  // namespace ghm::io
