// YAML subset parser and config overrides.
//
// The parser is a recursive descent over characters with one notion of state per line: after a
// block value ends, next_content() moves to the first character of the next line that holds
// content and records that line's indentation in indent_ (kEndOfDocument at the end of the text
// or at a "---"/"..." marker). A block mapping or sequence at indentation n keeps taking entries
// while indent_ == n, returns to its parent when indent_ < n, and calls a deeper line an error.
// Flow collections ([...], {...}) are parsed character by character and may cross lines.
//
// The tree is built with Json values, then written out and read back with Json::parse so that
// every value carries its source and path for later accessor errors. Nesting is capped at
// kMaxDepth, well below Json::parse's own cap, so hostile input cannot overflow the stack.
#include "io/yaml.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>

#include "core/check.h"

namespace ghm::io {
namespace {

constexpr int kMaxDepth = 100;
constexpr int kEndOfDocument = -1;  // indent_ when no more content lines belong to the document

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_flow_indicator(char c) { return c == ',' || c == '[' || c == ']' || c == '{' || c == '}'; }

std::string hex_byte(unsigned char c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", c);
  return buf;
}

void append_utf8(std::string& out, std::uint32_t code_point) {
  const auto put = [&](std::uint32_t bits) { out += static_cast<char>(bits); };
  if (code_point < 0x80) {
    put(code_point);
  } else if (code_point < 0x800) {
    put(0xC0 | (code_point >> 6));
    put(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    put(0xE0 | (code_point >> 12));
    put(0x80 | ((code_point >> 6) & 0x3F));
    put(0x80 | (code_point & 0x3F));
  } else {
    put(0xF0 | (code_point >> 18));
    put(0x80 | ((code_point >> 12) & 0x3F));
    put(0x80 | ((code_point >> 6) & 0x3F));
    put(0x80 | (code_point & 0x3F));
  }
}

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

std::string join_path(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }

// "a number", "a mapping": the YAML words for a value's type, for messages.
const char* yaml_type_name(const Json& value) {
  switch (value.type()) {
    case Json::Type::Null: return "null";
    case Json::Type::Bool: return "a bool";
    case Json::Type::Number: return "a number";
    case Json::Type::String: return "a string";
    case Json::Type::Array: return "a sequence";
    case Json::Type::Object: return "a mapping";
  }
  return "?";
}

// ---- parser ------------------------------------------------------------------------------------

class YamlParser {
 public:
  YamlParser(std::string_view text, const std::string& source) : text_(text), source_(source) {}

  Json parse_document() {
    if (text_.starts_with("\xEF\xBB\xBF")) text_.remove_prefix(3);  // a UTF-8 byte order mark
    check_characters();
    next_content();
    if (at_marker_ && text_.substr(pos_, 3) == "---") {
      pos_ += 3;
      at_marker_ = false;
      skip_spaces();
      if (peek() != '#' && !is_break(pos_))
        fail("content on the '---' line is not supported; start the document on the next line");
      end_line("'---'");
    }
    Json root;
    if (indent_ != kEndOfDocument) root = parse_block_node(-1, "", 0);
    if (indent_ != kEndOfDocument) {
      if (root.is_array()) fail("expected a '- ' sequence item or the end of the document, got ", describe_current());
      if (root.is_object()) fail_bad_indentation();
      fail("more content after the document's value (multi-line plain scalars are not supported)");
    }
    if (at_marker_) {
      if (text_.substr(pos_, 3) == "---") fail("a second document ('---'): multiple documents are not supported");
      pos_ += 3;  // "...", the end of the document
      at_marker_ = false;
      end_line("'...'");
      if (indent_ != kEndOfDocument || at_marker_)
        fail("content after the document end marker '...': multiple documents are not supported");
    }
    return Json::parse(root.dump(), source_);
  }

  // The value of a --set assignment: text_ is the whole assignment, the value starts at `start`.
  Json parse_override_value(std::size_t start) {
    allow_comments_ = false;
    check_characters();
    const std::size_t newline = text_.find('\n');
    if (newline != std::string_view::npos) fail_at(newline, "the value must be on one line");
    pos_ = start;
    skip_spaces();
    if (at_end()) return Json();
    check_node_start(false);
    if (peek() == '-' && is_separated(pos_ + 1)) fail("write a sequence as [a, b], not '- a'");
    Json value = parse_inline(-1, 0);
    skip_spaces();
    if (at_comment()) skip_comment();
    if (!at_end())
      fail("unexpected ", describe_current(), " after the value; quote the whole value if it holds ': ' or ' #'");
    return value;
  }

 private:
  // ---- errors and characters -------------------------------------------------------------------

  template <class... Args>
  [[noreturn]] void fail_at(std::size_t offset, const Args&... reason) const {
    GHM_FAIL("invalid YAML in ", source_, " at line ", line_of(offset), ", column ", column_of(offset), ": ",
             reason...);
  }
  template <class... Args>
  [[noreturn]] void fail(const Args&... reason) const {
    fail_at(pos_, reason...);
  }
  [[noreturn]] void fail_tab() const {
    fail("a tab character; YAML indents with spaces, and this parser allows tabs only inside quotes and comments");
  }
  [[noreturn]] void fail_bad_indentation() const {
    fail("bad indentation: an indent of ", indent_, " matches no enclosing block (a deeper line must follow a "
         "'key:' or '- ' line; multi-line plain scalars are not supported)");
  }

  std::size_t line_start(std::size_t offset) const {
    const std::size_t newline = text_.rfind('\n', offset == 0 ? 0 : offset - 1);
    return newline == std::string_view::npos || offset == 0 ? 0 : newline + 1;
  }
  std::size_t line_of(std::size_t offset) const {
    const std::string_view before = text_.substr(0, std::min(offset, text_.size()));
    return 1 + static_cast<std::size_t>(std::count(before.begin(), before.end(), '\n'));
  }
  // Columns count characters, not bytes: every byte that does not continue a UTF-8 sequence.
  std::size_t column_of(std::size_t offset) const {
    std::size_t column = 1;
    for (std::size_t i = line_start(offset); i < offset && i < text_.size(); ++i)
      column += (static_cast<unsigned char>(text_[i]) & 0xC0) != 0x80;
    return column;
  }
  int current_column() const { return static_cast<int>(pos_ - line_start(pos_)); }

  // Rejects bytes YAML does not allow before any structure is read, so later code sees only valid
  // UTF-8, tabs, spaces and line breaks (\n or \r\n).
  void check_characters() const {
    for (std::size_t i = 0; i < text_.size();) {
      const auto c = static_cast<unsigned char>(text_[i]);
      if (c == '\r' && (i + 1 == text_.size() || text_[i + 1] != '\n'))
        fail_at(i, "a carriage return not followed by a line feed; use \\n or \\r\\n line endings");
      if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F)
        fail_at(i, "control character ", hex_byte(c),
                " is not allowed; write it as an escape in a double-quoted string");
      const std::size_t n = utf8_sequence_length(text_.substr(i));
      if (n == 0) fail_at(i, "invalid UTF-8 byte ", hex_byte(c));
      i += n;
    }
  }

  bool at_end() const { return pos_ >= text_.size(); }
  char peek(std::size_t ahead = 0) const { return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0'; }
  bool is_break(std::size_t i) const { return i >= text_.size() || text_[i] == '\n' || text_[i] == '\r'; }
  // Whether an indicator just before `i` stands alone: followed by a space, a tab or a line end.
  bool is_separated(std::size_t i) const { return is_break(i) || text_[i] == ' ' || text_[i] == '\t'; }
  bool at_comment() const { return peek() == '#' && (pos_ == 0 || text_[pos_ - 1] == ' ' || text_[pos_ - 1] == '\n'); }

  std::string describe_current() const {
    if (at_end()) return "end of input";
    if (is_break(pos_)) return "end of line";
    const std::size_t n = utf8_sequence_length(text_.substr(pos_));
    return "'" + std::string(text_.substr(pos_, n)) + "'";
  }

  void skip_spaces() {
    while (peek() == ' ') ++pos_;
    if (peek() == '\t') fail_tab();
  }
  void skip_comment() {
    if (!allow_comments_) fail("comments are not allowed here; quote the value if it contains ' #'");
    while (!is_break(pos_)) ++pos_;
  }
  void skip_break() { pos_ += peek() == '\r' ? 2 : 1; }

  // At the start of a line: skips blank and comment-only lines, then sets indent_ and leaves pos_
  // on the first content character.
  void next_content() {
    while (true) {
      if (at_end()) {
        indent_ = kEndOfDocument;
        return;
      }
      const std::size_t start = pos_;
      skip_spaces();
      if (at_comment()) skip_comment();
      if (is_break(pos_)) {
        if (!at_end()) skip_break();
        continue;
      }
      indent_ = static_cast<int>(pos_ - start);
      const std::string_view three = text_.substr(pos_, 3);
      if (indent_ == 0 && (three == "---" || three == "...") && is_separated(pos_ + 3)) {
        at_marker_ = true;
        indent_ = kEndOfDocument;
      }
      return;
    }
  }

  // After a value: only spaces and a comment may follow on its line. Moves to the next content.
  void end_line(const char* after) {
    skip_spaces();
    if (at_comment()) skip_comment();
    if (!is_break(pos_)) fail("unexpected ", describe_current(), " after ", after);
    if (!at_end()) skip_break();
    next_content();
  }

  void check_depth(int depth) const {
    if (depth > kMaxDepth) fail("collections nested deeper than ", kMaxDepth, " levels");
  }

  // Rejects what cannot start a node in this subset, with the reason. In flow context '-', '?'
  // and ':' are indicators also when a flow indicator follows them ("[-]", "{?: 1}").
  void check_node_start(bool flow) const {
    const char c = peek();
    const bool indicator = is_separated(pos_ + 1) || (flow && is_flow_indicator(peek(1)));
    switch (c) {
      case '&': fail("anchors ('&name') are not supported; write the value out again");
      case '*': fail("aliases ('*name') are not supported; write the value out again");
      case '!': fail("tags ('!' and '!!') are not supported; quote the value to make it a string");
      case '|':
      case '>': fail("block scalars ('|' and '>') are not supported; use a quoted string on one line");
      case '%': fail("directives ('%YAML', '%TAG') are not supported");
      case '@':
      case '`': fail("'", c, "' is reserved in YAML and cannot start a plain value; quote the value");
      case ',':
      case ']':
      case '}':
      case '#': fail("expected a value, got '", c, "'");
      case '?':
        if (indicator) fail("complex keys ('? key') are not supported");
        return;
      case ':':
        if (indicator) fail("a ':' with no key before it");
        return;
      case '-':
        if (flow && indicator) fail("a block sequence ('- ') cannot be inside a flow collection");
        return;
      default:
        if (at_end()) fail("expected a value, got end of input");
        return;
    }
  }

  // ---- block structure -------------------------------------------------------------------------

  // A node whose first character is at pos_, on a line whose enclosing block is at `parent_indent`.
  Json parse_block_node(int parent_indent, const std::string& path, int depth) {
    check_depth(depth);
    check_node_start(false);
    const int column = current_column();
    if (peek() == '-' && is_separated(pos_ + 1)) return parse_block_sequence(column, path, depth);
    if (starts_mapping_entry()) return parse_block_mapping(column, path, depth);
    const bool flow = peek() == '[' || peek() == '{';
    Json value = parse_inline(parent_indent, depth);
    skip_spaces();
    if (flow && peek() == ':') fail("a flow collection cannot be a key (complex keys are not supported)");
    end_line("the value");
    return value;
  }

  // Whether pos_ starts "key:" followed by a space or the line end, without moving.
  bool starts_mapping_entry() {
    if (peek() == '[' || peek() == '{') return false;
    const std::size_t save = pos_;
    if (peek() == '"' || peek() == '\'') {
      parse_quoted();
    } else {
      scan_plain(false);
    }
    while (peek() == ' ') ++pos_;
    const bool entry = peek() == ':' && is_separated(pos_ + 1);
    pos_ = save;
    return entry;
  }

  Json parse_block_mapping(int indent, const std::string& path, int depth) {
    Json object = Json::object();
    std::vector<std::pair<std::string, std::size_t>> key_offsets;
    while (true) {
      check_node_start(false);
      if (peek() == '-' && is_separated(pos_ + 1))
        fail("expected a key at this indentation, got a sequence item '- '");
      if (peek() == '[' || peek() == '{') fail("a flow collection cannot be a key (complex keys are not supported)");
      const std::size_t key_offset = pos_;
      std::string key = peek() == '"' || peek() == '\'' ? parse_quoted() : std::string(scan_plain(false));
      while (peek() == ' ') ++pos_;
      if (!(peek() == ':' && is_separated(pos_ + 1)))
        fail("expected ':' after the key '", key, "' (every line of a mapping is 'key: value'; a ':' must be "
             "followed by a space)");
      ++pos_;
      check_duplicate(key_offsets, key, key_offset, path);
      Json value = parse_mapping_value(indent, key, join_path(path, key), depth);
      object.set(key, std::move(value));
      if (indent_ < indent) return object;
      if (indent_ > indent) fail_bad_indentation();
    }
  }

  void check_duplicate(std::vector<std::pair<std::string, std::size_t>>& key_offsets, const std::string& key,
                       std::size_t offset, const std::string& path) const {
    for (const auto& [seen, seen_offset] : key_offsets)
      if (seen == key)
        fail_at(offset, "duplicate key '", key, "' at ", join_path(path, key), " (first defined at line ",
                line_of(seen_offset), ")");
    key_offsets.emplace_back(key, offset);
  }

  // The value after "key:", on the same line or on the lines below.
  Json parse_mapping_value(int indent, const std::string& key, const std::string& path, int depth) {
    skip_spaces();
    if (at_comment() || is_break(pos_)) {
      end_line("the key");
      if (indent_ > indent) return parse_block_node(indent, path, depth + 1);
      if (indent_ == indent && peek() == '-' && is_separated(pos_ + 1))
        return parse_block_sequence(indent, path, depth + 1);  // "key:\n- a": same indentation is allowed
      return Json();
    }
    if (peek() == '-' && is_separated(pos_ + 1))
      fail("a sequence cannot start on the line of its key '", key, "'; put each '- item' on its own line below");
    check_node_start(false);
    Json value = parse_inline(indent, depth + 1);
    skip_spaces();
    if (peek() == ':')
      fail("a mapping cannot start on the line of its key '", key,
           "'; put it on the lines below, indented (or quote the value if the ':' belongs to it)");
    end_line("the value");
    return value;
  }

  Json parse_block_sequence(int indent, const std::string& path, int depth) {
    Json array = Json::array();
    while (true) {
      ++pos_;  // '-'
      const std::string item_path = path + "[" + std::to_string(array.size()) + "]";
      skip_spaces();
      if (at_comment() || is_break(pos_)) {
        end_line("'-'");
        array.push_back(indent_ > indent ? parse_block_node(indent, item_path, depth + 1) : Json());
      } else {
        array.push_back(parse_block_node(indent, item_path, depth + 1));
      }
      if (indent_ < indent) return array;
      if (indent_ > indent) fail_bad_indentation();
      if (!(peek() == '-' && is_separated(pos_ + 1))) return array;
    }
  }

  // ---- flow collections and scalars --------------------------------------------------------------

  // A flow collection, quoted scalar or plain scalar starting at pos_. Lines a flow collection
  // continues on must be indented more than `block_indent`.
  Json parse_inline(int block_indent, int depth) {
    switch (peek()) {
      case '[': return parse_flow_sequence(block_indent, depth);
      case '{': return parse_flow_mapping(block_indent, depth);
      case '"':
      case '\'': return Json(parse_quoted());
      default: {
        const std::size_t start = pos_;
        return resolve_plain(scan_plain(false), start);
      }
    }
  }

  Json parse_flow_node(int block_indent, int depth) {
    check_node_start(true);
    if (peek() == '[' || peek() == '{' || peek() == '"' || peek() == '\'') return parse_inline(block_indent, depth);
    const std::size_t start = pos_;
    return resolve_plain(scan_plain(true), start);
  }

  void skip_flow_space(int block_indent) {
    bool new_line = false;
    while (true) {
      const std::size_t start = pos_;
      skip_spaces();
      if (at_comment()) skip_comment();
      if (at_end()) return;
      if (is_break(pos_)) {
        skip_break();
        new_line = true;
        continue;
      }
      if (new_line && static_cast<int>(pos_ - start) <= block_indent)
        fail("a flow collection continued on a new line must be indented more than its parent (more than ",
             block_indent, " spaces)");
      return;
    }
  }

  Json parse_flow_sequence(int block_indent, int depth) {
    check_depth(depth);
    const std::size_t open = pos_++;
    Json array = Json::array();
    while (true) {
      skip_flow_space(block_indent);
      if (peek() == ']') break;
      array.push_back(parse_flow_node(block_indent, depth + 1));
      skip_flow_space(block_indent);
      if (peek() == ':') fail("'key: value' pairs inside a flow sequence are not supported; write {key: value}");
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == ']') break;
      fail("expected ',' or ']' in the flow sequence opened at line ", line_of(open), ", column ", column_of(open),
           ", got ", describe_current());
    }
    ++pos_;
    return array;
  }

  Json parse_flow_mapping(int block_indent, int depth) {
    check_depth(depth);
    const std::size_t open = pos_++;
    Json object = Json::object();
    std::vector<std::pair<std::string, std::size_t>> key_offsets;
    while (true) {
      skip_flow_space(block_indent);
      if (peek() == '}') break;
      check_node_start(true);
      if (peek() == '[' || peek() == '{') fail("a flow collection cannot be a key (complex keys are not supported)");
      const std::size_t key_offset = pos_;
      std::string key = peek() == '"' || peek() == '\'' ? parse_quoted() : std::string(scan_plain(true));
      skip_flow_space(block_indent);
      if (peek() != ':')
        fail("expected ':' after the key '", key, "' in the flow mapping opened at line ", line_of(open),
             ", column ", column_of(open), " (a ':' must be followed by a space)");
      ++pos_;
      check_duplicate(key_offsets, key, key_offset, "");
      skip_flow_space(block_indent);
      object.set(key, peek() == ',' || peek() == '}' ? Json() : parse_flow_node(block_indent, depth + 1));
      skip_flow_space(block_indent);
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == '}') break;
      fail("expected ',' or '}' in the flow mapping opened at line ", line_of(open), ", column ", column_of(open),
           ", got ", describe_current());
    }
    ++pos_;
    return object;
  }

  // A plain scalar on one line, from pos_; moves past it and returns it without trailing spaces.
  // It ends at the line end, at " #", at ':' followed by a space, and in flow context at , [ ] { }.
  std::string_view scan_plain(bool flow) {
    const std::size_t start = pos_;
    std::size_t end = pos_;
    for (; !is_break(pos_); ++pos_) {
      const char c = text_[pos_];
      if (c == '\t') fail_tab();
      if (c == ' ') continue;
      if (c == '#' && pos_ > start && text_[pos_ - 1] == ' ') break;
      if (c == ':' && (is_separated(pos_ + 1) || (flow && is_flow_indicator(peek(1))))) break;
      if (flow && is_flow_indicator(c)) break;
      end = pos_ + 1;
    }
    pos_ = end;
    return text_.substr(start, end - start);
  }

  // The YAML 1.2 core schema, with its ambiguous corners made errors.
  Json resolve_plain(std::string_view s, std::size_t offset) const {
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

  // A single- or double-quoted scalar on one line, from pos_ at the opening quote.
  std::string parse_quoted() {
    const std::size_t open = pos_;
    const char quote = text_[pos_++];
    std::string out;
    while (true) {
      if (is_break(pos_))
        fail_at(open, "this quoted string is not closed on its line (quoted strings spanning lines are not "
                      "supported; write \\n in double quotes for a line break)");
      const char c = text_[pos_];
      if (c == quote && quote == '\'' && peek(1) == '\'') {
        out += '\'';
        pos_ += 2;
      } else if (c == quote) {
        ++pos_;
        return out;
      } else if (c == '\\' && quote == '"') {
        parse_escape(out);
      } else {
        out += c;
        ++pos_;
      }
    }
  }

  void parse_escape(std::string& out) {
    const std::size_t start = pos_++;  // the backslash
    if (is_break(pos_)) fail_at(start, "a '\\' at the end of a line (a line continuation) is not supported");
    const char e = text_[pos_++];
    switch (e) {
      case '0': out += '\0'; return;
      case 'a': out += '\a'; return;
      case 'b': out += '\b'; return;
      case 't':
      case '\t': out += '\t'; return;
      case 'n': out += '\n'; return;
      case 'v': out += '\v'; return;
      case 'f': out += '\f'; return;
      case 'r': out += '\r'; return;
      case 'e': out += '\x1B'; return;
      case ' ': out += ' '; return;
      case '"': out += '"'; return;
      case '/': out += '/'; return;
      case '\\': out += '\\'; return;
      case 'N': append_utf8(out, 0x85); return;
      case '_': append_utf8(out, 0xA0); return;
      case 'L': append_utf8(out, 0x2028); return;
      case 'P': append_utf8(out, 0x2029); return;
      case 'x': append_utf8(out, parse_hex(2, start)); return;
      case 'u': append_utf8(out, parse_hex(4, start)); return;
      case 'U': append_utf8(out, parse_hex(8, start)); return;
      default: pos_ = start; fail("invalid escape sequence '\\", e, "'");
    }
  }

  std::uint32_t parse_hex(int digits, std::size_t escape_start) {
    std::uint32_t value = 0;
    for (int i = 0; i < digits; ++i, ++pos_) {
      const char c = peek();
      const int digit = is_digit(c)               ? c - '0'
                        : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                        : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                                 : -1;
      if (digit < 0) fail("expected ", digits, " hex digits in the escape, got ", describe_current());
      value = value * 16 + static_cast<std::uint32_t>(digit);
    }
    if ((value >= 0xD800 && value <= 0xDFFF) || value > 0x10FFFF)
      fail_at(escape_start, "the escape names no Unicode character (a surrogate or beyond U+10FFFF); write \\U "
                            "with the full code point");
    return value;
  }

  std::string_view text_;
  std::string source_;
  std::size_t pos_ = 0;
  int indent_ = kEndOfDocument;  // indentation of the line holding pos_, see next_content()
  bool at_marker_ = false;       // pos_ is on a "---" or "..." line that ended the block structure
  bool allow_comments_ = true;
};

// ---- overrides and key checks --------------------------------------------------------------------

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// "lr, momentum, weight_decay": the keys of `object`, closest to `key` first, at most kShown.
std::string closest_keys(const Json& object, const std::string& key) {
  constexpr std::size_t kShown = 6;
  const Json::Object& members = object.as_object();
  if (members.empty()) return "none, the mapping is empty";
  std::vector<std::pair<std::size_t, const std::string*>> ranked;
  for (const auto& member : members) ranked.emplace_back(edit_distance(key, member.first), &member.first);
  std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string out;
  for (std::size_t i = 0; i < std::min(kShown, ranked.size()); ++i) out += (i == 0 ? "" : ", ") + *ranked[i].second;
  if (ranked.size() > kShown) out += str_cat(" and ", ranked.size() - kShown, " more");
  return out;
}

// `given` put in place of `old` at `key`, under the override rules in yaml.h.
Json merge_override(const Json& old, const Json& given, const std::string& key, const std::string& given_text,
                    const std::string& origin) {
  if (old.is_null()) return given;
  if (old.type() != given.type()) {
    const bool scalar = !old.is_array() && !old.is_object();
    GHM_FAIL(origin, ": '", key, "' is ", yaml_type_name(old), scalar ? " (" + old.dump() + ")" : std::string(),
             " in the config, but '", given_text, "' is ", yaml_type_name(given));
  }
  if (!old.is_object()) return given;
  Json merged = old;
  for (const auto& [member, value] : given.as_object()) {
    const Json* previous = old.find(member);
    const std::string path = join_path(key, member);
    GHM_CHECK(previous != nullptr, origin, ": unknown key '", path, "' (known: ", closest_keys(old, member), ")");
    merged.set(member, merge_override(*previous, value, path, value.dump(), origin));
  }
  return merged;
}

// A copy of `node`, the value at keys[0, depth), with `given` put at keys[depth, end).
Json with_override(const Json& node, const std::vector<std::string>& keys, std::size_t depth, const Json& given,
                   const std::string& given_text, const std::string& origin) {
  std::string here;
  for (std::size_t i = 0; i < depth; ++i) here = join_path(here, keys[i]);
  const std::string path = join_path(here, keys[depth]);
  if (!node.is_object()) {
    GHM_FAIL(origin, ": cannot set '", path, "': ", depth == 0 ? std::string("the config") : "'" + here + "'",
             " is ", yaml_type_name(node), ", not a mapping",
             node.is_array() ? "; set the whole sequence, e.g. " + here + "=[...]" : std::string());
  }
  const Json* old = node.find(keys[depth]);
  GHM_CHECK(old != nullptr, origin, ": unknown key '", path, "' (known: ", closest_keys(node, keys[depth]), ")");
  Json copy = node;
  copy.set(keys[depth], depth + 1 < keys.size() ? with_override(*old, keys, depth + 1, given, given_text, origin)
                                                : merge_override(*old, given, path, given_text, origin));
  return copy;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

void check_keys(const Json& config, const Json& schema, const std::string& path, std::vector<std::string>& problems) {
  if (config.is_null() || !schema.is_object()) return;
  if (!config.is_object()) {
    problems.push_back(str_cat(path.empty() ? std::string("the config") : "'" + path + "'",
                               " should be a mapping with keys like the schema's, got ", yaml_type_name(config)));
    return;
  }
  for (const auto& [key, value] : config.as_object()) {
    const std::string key_path = join_path(path, key);
    const Json* expected = schema.find(key);
    if (expected == nullptr) {
      problems.push_back(str_cat("unknown key '", key_path, "' (known: ", closest_keys(schema, key), ")"));
    } else {
      check_keys(value, *expected, key_path, problems);
    }
  }
}

}  // namespace

Json parse_yaml(std::string_view text, const std::string& source) { return YamlParser(text, source).parse_document(); }

Json load_yaml_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  GHM_CHECK(file.is_open(), "cannot open config file '", path, "': ", std::strerror(errno));
  std::ostringstream contents;
  contents << file.rdbuf();
  GHM_CHECK(!file.bad(), "cannot read config file '", path, "': ", std::strerror(errno));
  return parse_yaml(contents.str(), path);
}

void apply_override(Json& config, std::string_view assignment, const std::string& source) {
  const std::string origin = source + " " + std::string(assignment);
  const std::size_t equals = assignment.find('=');
  GHM_CHECK(equals != std::string_view::npos, source, " expects key=value, e.g. optimizer.lr=0.02; got '",
            assignment, "'");
  std::vector<std::string> keys;
  const std::string_view key_text = trim(assignment.substr(0, equals));
  for (std::size_t from = 0;;) {
    const std::size_t dot = std::min(key_text.find('.', from), key_text.size());
    keys.emplace_back(key_text.substr(from, dot - from));
    GHM_CHECK(!keys.back().empty(), origin, ": the key '", key_text, "' has an empty part");
    if (dot == key_text.size()) break;
    from = dot + 1;
  }
  const Json value = YamlParser(assignment, origin).parse_override_value(equals + 1);
  // Read the value back nested under its keys, so that it carries the source and path it will have.
  std::string nested = value.dump();
  for (auto key = keys.rbegin(); key != keys.rend(); ++key) nested = "{" + Json(*key).dump() + ":" + nested + "}";
  const Json located_root = Json::parse(nested, origin);
  const Json* located = &located_root;
  for (const std::string& key : keys) located = &located->at(key);
  config = with_override(config, keys, 0, *located, std::string(trim(assignment.substr(equals + 1))), origin);
}

std::vector<std::string> validate_keys(const Json& config, const Json& schema) {
  std::vector<std::string> problems;
  check_keys(config, schema, "", problems);
  return problems;
}

}  // namespace ghm::io
