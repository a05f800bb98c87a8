// The structure of a YAML document (YamlParser, yaml_parser.h): the document and its markers, block
// mappings and sequences by indentation, flow collections, written out as JSON text; and the entry
// points parse_yaml and load_yaml_file. The characters and scalars are yaml_scan.cpp's and
// yaml_scalar.cpp's; --set overrides and key checks are yaml_override.cpp's.
#include "io/yaml.h"

#include <cstring>
#include <string>
#include <utility>

#include "io/input_file.h"
#include "io/yaml_parser.h"

namespace ghm::io {

// ---- documents -----------------------------------------------------------------------------------

std::string YamlParser::parse_document() {
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
  NodeKind root = NodeKind::Scalar;
  if (indent_ != kEndOfDocument) {
    root = parse_block_node(-1, "", 0);
  } else {
    json_ = "null";  // an empty document
  }
  if (indent_ != kEndOfDocument) {
    if (root == NodeKind::Sequence)
      fail("expected a '- ' sequence item or the end of the document, got ", describe_current());
    if (root == NodeKind::Mapping) fail_bad_indentation();
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
  return std::move(json_);
}

std::string YamlParser::parse_override_value(std::size_t start) {
  allow_comments_ = false;
  check_characters();
  const std::size_t newline = text_.find('\n');
  if (newline != std::string_view::npos) fail_at(newline, "the value must be on one line");
  pos_ = start;
  skip_spaces();
  if (at_end()) return "null";
  check_node_start(false);
  if (at_sequence_item()) fail("write a sequence as [a, b], not '- a'");
  parse_inline(-1, 0);
  skip_spaces();
  if (at_comment()) skip_comment();
  if (!at_end())
    fail("unexpected ", describe_current(), " after the value; quote the whole value if it holds ': ' or ' #'");
  return std::move(json_);
}

// ---- block structure -----------------------------------------------------------------------------

// A node whose first character is at pos_, on a line whose enclosing block is at `parent_indent`.
YamlParser::NodeKind YamlParser::parse_block_node(int parent_indent, const std::string& path, int depth) {
  check_depth(depth);
  check_node_start(false);
  const int column = current_column();
  if (at_sequence_item()) {
    parse_block_sequence(column, path, depth);
    return NodeKind::Sequence;
  }
  if (starts_mapping_entry()) {
    parse_block_mapping(column, path, depth);
    return NodeKind::Mapping;
  }
  const bool flow = peek() == '[' || peek() == '{';
  const NodeKind kind = parse_inline(parent_indent, depth);
  skip_spaces();
  if (flow && peek() == ':') fail("a flow collection cannot be a key (complex keys are not supported)");
  end_line("the value");
  return kind;
}

// Whether pos_ starts "key:" followed by a space or the line end, without moving.
bool YamlParser::starts_mapping_entry() {
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

void YamlParser::parse_block_mapping(int indent, const std::string& path, int depth) {
  json_ += '{';
  KeyOffsets key_offsets;
  for (bool first = true;; first = false) {
    check_node_start(false);
    if (at_sequence_item()) fail("expected a key at this indentation, got a sequence item '- '");
    if (peek() == '[' || peek() == '{') fail("a flow collection cannot be a key (complex keys are not supported)");
    const std::size_t key_offset = pos_;
    const std::string key = peek() == '"' || peek() == '\'' ? parse_quoted() : std::string(scan_plain(false));
    while (peek() == ' ') ++pos_;
    if (!(peek() == ':' && is_separated(pos_ + 1)))
      fail("expected ':' after the key '", key, "' (every line of a mapping is 'key: value'; a ':' must be "
           "followed by a space)");
    ++pos_;
    check_duplicate(key_offsets, key, key_offset, path);
    append_key(first, key);
    parse_mapping_value(indent, key, join_path(path, key), depth);
    if (indent_ < indent) break;
    if (indent_ > indent) fail_bad_indentation();
  }
  json_ += '}';
}

void YamlParser::check_duplicate(KeyOffsets& key_offsets, const std::string& key, std::size_t offset,
                                 const std::string& path) const {
  if (const std::size_t* first = key_offsets.insert(key, offset))
    fail_at(offset, "duplicate key '", key, "' at ", join_path(path, key), " (first defined at line ",
            line_of(*first), ")");
}

// Writes `key` and its ':' to the mapping's JSON text, after a ',' unless it is the first.
void YamlParser::append_key(bool first, const std::string& key) {
  if (!first) json_ += ',';
  json_ += Json(key).dump();
  json_ += ':';
}

// The value after "key:", on the same line or on the lines below.
void YamlParser::parse_mapping_value(int indent, const std::string& key, const std::string& path, int depth) {
  skip_spaces();
  if (at_comment() || is_break(pos_)) {
    end_line("the key");
    if (indent_ > indent) {
      parse_block_node(indent, path, depth + 1);
    } else if (indent_ == indent && at_sequence_item()) {
      parse_block_sequence(indent, path, depth + 1);  // "key:\n- a": same indentation is allowed
    } else {
      json_ += "null";
    }
    return;
  }
  if (at_sequence_item())
    fail("a sequence cannot start on the line of its key '", key, "'; put each '- item' on its own line below");
  check_node_start(false);
  parse_inline(indent, depth + 1);
  skip_spaces();
  if (peek() == ':')
    fail("a mapping cannot start on the line of its key '", key,
         "'; put it on the lines below, indented (or quote the value if the ':' belongs to it)");
  end_line("the value");
}

void YamlParser::parse_block_sequence(int indent, const std::string& path, int depth) {
  json_ += '[';
  for (std::size_t index = 0;; ++index) {
    if (index > 0) json_ += ',';
    ++pos_;  // '-'
    const std::string item_path = path + "[" + std::to_string(index) + "]";
    skip_spaces();
    if (at_comment() || is_break(pos_)) {
      end_line("'-'");
      if (indent_ > indent) {
        parse_block_node(indent, item_path, depth + 1);
      } else {
        json_ += "null";
      }
    } else {
      parse_block_node(indent, item_path, depth + 1);
    }
    if (indent_ < indent) break;
    if (indent_ > indent) fail_bad_indentation();
    if (!at_sequence_item()) break;
  }
  json_ += ']';
}

// ---- flow collections and scalars ----------------------------------------------------------------

// A flow collection, quoted scalar or plain scalar starting at pos_. Lines a flow collection
// continues on must be indented more than `block_indent`.
YamlParser::NodeKind YamlParser::parse_inline(int block_indent, int depth) {
  switch (peek()) {
    case '[': parse_flow_sequence(block_indent, depth); return NodeKind::Sequence;
    case '{': parse_flow_mapping(block_indent, depth); return NodeKind::Mapping;
    case '"':
    case '\'': json_ += Json(parse_quoted()).dump(); return NodeKind::Scalar;
    default: {
      const std::size_t start = pos_;
      json_ += resolve_plain(scan_plain(false), start).dump();
      return NodeKind::Scalar;
    }
  }
}

void YamlParser::parse_flow_node(int block_indent, int depth) {
  check_node_start(true);
  if (peek() == '[' || peek() == '{' || peek() == '"' || peek() == '\'') {
    parse_inline(block_indent, depth);
    return;
  }
  const std::size_t start = pos_;
  json_ += resolve_plain(scan_plain(true), start).dump();
}

void YamlParser::skip_flow_space(int block_indent) {
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

void YamlParser::parse_flow_sequence(int block_indent, int depth) {
  check_depth(depth);
  const std::size_t open = pos_++;
  json_ += '[';
  for (bool first = true;; first = false) {
    skip_flow_space(block_indent);
    if (peek() == ']') break;
    if (!first) json_ += ',';
    parse_flow_node(block_indent, depth + 1);
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
  json_ += ']';
}

void YamlParser::parse_flow_mapping(int block_indent, int depth) {
  check_depth(depth);
  const std::size_t open = pos_++;
  json_ += '{';
  KeyOffsets key_offsets;
  for (bool first = true;; first = false) {
    skip_flow_space(block_indent);
    if (peek() == '}') break;
    check_node_start(true);
    if (peek() == '[' || peek() == '{') fail("a flow collection cannot be a key (complex keys are not supported)");
    const std::size_t key_offset = pos_;
    const std::string key = peek() == '"' || peek() == '\'' ? parse_quoted() : std::string(scan_plain(true));
    skip_flow_space(block_indent);
    if (peek() != ':')
      fail("expected ':' after the key '", key, "' in the flow mapping opened at line ", line_of(open), ", column ",
           column_of(open), " (a ':' must be followed by a space)");
    ++pos_;
    check_duplicate(key_offsets, key, key_offset, "");
    append_key(first, key);
    skip_flow_space(block_indent);
    if (peek() == ',' || peek() == '}') {
      json_ += "null";
    } else {
      parse_flow_node(block_indent, depth + 1);
    }
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
  json_ += '}';
}

// ---- entry points --------------------------------------------------------------------------------

Json parse_yaml(std::string_view text, const std::string& source) {
  return Json::parse(YamlParser(text, source).parse_document(), source);
}

Json load_yaml_file(const std::string& path) {
  return parse_yaml(read_input_text(path, "config file", config_limit()), path);
}

}  // namespace ghm::io
