// The character level of the YAML parser (yaml_parser.h): errors that name the line and column,
// the characters YAML allows, lines and their indentation, comments, the checks on what may start
// a node, and scalars as written: a plain scalar up to where it ends, a quoted one with its escapes.
#include <algorithm>
#include <cstdio>

#include "io/json_scan.h"
#include "io/yaml_parser.h"

namespace ghm::io {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_flow_indicator(char c) { return c == ',' || c == '[' || c == ']' || c == '{' || c == '}'; }

std::string hex_byte(unsigned char c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", c);
  return buf;
}

}  // namespace

// ---- errors and positions ------------------------------------------------------------------------

void YamlParser::fail_tab() const {
  fail("a tab character; YAML indents with spaces, and this parser allows tabs only inside quotes and comments");
}

void YamlParser::fail_bad_indentation() const {
  fail("bad indentation: an indent of ", indent_, " matches no enclosing block (a deeper line must follow a "
       "'key:' or '- ' line; multi-line plain scalars are not supported)");
}

std::size_t YamlParser::line_start(std::size_t offset) const {
  const std::size_t newline = text_.rfind('\n', offset == 0 ? 0 : offset - 1);
  return newline == std::string_view::npos || offset == 0 ? 0 : newline + 1;
}

std::size_t YamlParser::line_of(std::size_t offset) const {
  const std::string_view before = text_.substr(0, std::min(offset, text_.size()));
  return 1 + static_cast<std::size_t>(std::count(before.begin(), before.end(), '\n'));
}

// Columns count characters, not bytes: every byte that does not continue a UTF-8 sequence.
std::size_t YamlParser::column_of(std::size_t offset) const {
  std::size_t column = 1;
  for (std::size_t i = line_start(offset); i < offset && i < text_.size(); ++i)
    column += (static_cast<unsigned char>(text_[i]) & 0xC0) != 0x80;
  return column;
}

// Rejects bytes YAML does not allow before any structure is read, so later code sees only valid
// UTF-8, tabs, spaces and line breaks (\n or \r\n).
void YamlParser::check_characters() const {
  for (std::size_t i = 0; i < text_.size();) {
    const auto c = static_cast<unsigned char>(text_[i]);
    if (c == '\r' && (i + 1 == text_.size() || text_[i + 1] != '\n'))
      fail_at(i, "a carriage return not followed by a line feed; use \\n or \\r\\n line endings");
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F)
      fail_at(i, "control character ", hex_byte(c), " is not allowed; write it as an escape in a double-quoted string");
    const std::size_t n = utf8_sequence_length(text_.substr(i));
    if (n == 0) fail_at(i, "invalid UTF-8 byte ", hex_byte(c));
    i += n;
  }
}

std::string YamlParser::describe_current() const {
  if (at_end()) return "end of input";
  if (is_break(pos_)) return "end of line";
  const std::size_t n = utf8_sequence_length(text_.substr(pos_));
  return "'" + std::string(text_.substr(pos_, n)) + "'";
}

// ---- spaces, comments and lines ------------------------------------------------------------------

void YamlParser::skip_spaces() {
  while (peek() == ' ') ++pos_;
  if (peek() == '\t') fail_tab();
}

void YamlParser::skip_comment() {
  if (!allow_comments_) fail("comments are not allowed here; quote the value if it contains ' #'");
  while (!is_break(pos_)) ++pos_;
}

// At the start of a line: skips blank and comment-only lines, then sets indent_ and leaves pos_
// on the first content character.
void YamlParser::next_content() {
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
void YamlParser::end_line(const char* after) {
  skip_spaces();
  if (at_comment()) skip_comment();
  if (!is_break(pos_)) fail("unexpected ", describe_current(), " after ", after);
  if (!at_end()) skip_break();
  next_content();
}

void YamlParser::check_depth(int depth) const {
  if (depth > kMaxDepth) fail("collections nested deeper than ", kMaxDepth, " levels");
}

// Rejects what cannot start a node in this subset, with the reason. In flow context '-', '?'
// and ':' are indicators also when a flow indicator follows them ("[-]", "{?: 1}").
void YamlParser::check_node_start(bool flow) const {
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

// ---- scalars as written --------------------------------------------------------------------------

// A plain scalar on one line, from pos_; moves past it and returns it without trailing spaces.
// It ends at the line end, at " #", at ':' followed by a space, and in flow context at , [ ] { }.
std::string_view YamlParser::scan_plain(bool flow) {
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

// A single- or double-quoted scalar on one line, from pos_ at the opening quote.
std::string YamlParser::parse_quoted() {
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

void YamlParser::parse_escape(std::string& out) {
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

std::uint32_t YamlParser::parse_hex(int digits, std::size_t escape_start) {
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

}  // namespace ghm::io
