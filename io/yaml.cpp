// The structure of a YAML document (YamlParser, yaml_parser.h): the document and its markers, block
// mappings and sequences by indentation, flow collections, built into a Json tree; and the entry
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

Json YamlParser::parse_document() {
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
  const YamlPath root_path;
  Json root = indent_ != kEndOfDocument ? parse_block_node(-1, root_path, 0) : located(Json(), root_path.json);
  if (indent_ != kEndOfDocument) {
    if (root.is_array())
      fail("expected a '- ' sequence item or the end of the document, got ", describe_current());
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
  return root;
}

Json YamlParser::parse_override_value(std::size_t start, const YamlPath& at) {
  allow_comments_ = false;
  check_characters();
  const std::size_t newline = text_.find('\n');
  if (newline != std::string_view::npos) fail_at(newline, "the value must be on one line");
  pos_ = start;
  skip_spaces();
  if (at_end()) return located(Json(), at.json);
  check_node_start(false);
  if (at_sequence_item()) fail("write a sequence as [a, b], not '- a'");
  Json value = parse_inline(-1, at, 0);
  skip_spaces();
  if (at_comment()) skip_comment();
  if (!at_end())
    fail("unexpected ", describe_current(), " after the value; quote the whole value if it holds ': ' or ' #'");
  return value;
}

// ---- block structure -----------------------------------------------------------------------------

// A node whose first character is at pos_, on a line whose enclosing block is at `parent_indent`.
Json YamlParser::parse_block_node(int parent_indent, const YamlPath& path, int depth) {
  check_depth(depth);
  check_node_start(false);
  const int column = current_column();
  if (at_sequence_item()) return parse_block_sequence(column, path, depth);
  if (starts_mapping_entry()) return parse_block_mapping(column, path, depth);
  const bool flow = peek() == '[' || peek() == '{';
  Json value = parse_inline(parent_indent, path, depth);
  skip_spaces();
  if (flow && peek() == ':') fail("a flow collection cannot be a key (complex keys are not supported)");
  end_line("the value");
  return value;
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

Json YamlParser::parse_block_mapping(int indent, const YamlPath& path, int depth) {
  Json mapping = located(Json::object(), path.json);
  KeyOffsets key_offsets;
  while (true) {
    check_node_start(false);
    if (at_sequence_item()) fail("expected a key at this indentation, got a sequence item '- '");
    if (peek() == '[' || peek() == '{') fail("a flow collection cannot be a key (complex keys are not supported)");
    const std::size_t key_offset = pos_;
    std::string key = peek() == '"' || peek() == '\'' ? parse_quoted() : std::string(scan_plain(false));
    while (peek() == ' ') ++pos_;
    if (!(peek() == ':' && is_separated(pos_ + 1)))
      fail("expected ':' after the key '", key, "' (every line of a mapping is 'key: value'; a ':' must be "
           "followed by a space)");
    ++pos_;
    check_duplicate(key_offsets, key, key_offset, path);
    Json value = parse_mapping_value(indent, key, path.member(key), depth);
    append_member(mapping, std::move(key), std::move(value));
    if (indent_ < indent) break;
    if (indent_ > indent) fail_bad_indentation();
  }
  return mapping;
}

void YamlParser::check_duplicate(KeyOffsets& key_offsets, const std::string& key, std::size_t offset,
                                 const YamlPath& path) const {
  if (const std::size_t* first = key_offsets.insert(key, offset))
    fail_at(offset, "duplicate key '", key, "' at ", join_path(path.user, key), " (first defined at line ",
            line_of(*first), ")");
}

// The value after "key:", on the same line or on the lines below; `path` is the value's.
Json YamlParser::parse_mapping_value(int indent, const std::string& key, const YamlPath& path, int depth) {
  skip_spaces();
  if (at_comment() || is_break(pos_)) {
    end_line("the key");
    if (indent_ > indent) return parse_block_node(indent, path, depth + 1);
    if (indent_ == indent && at_sequence_item())
      return parse_block_sequence(indent, path, depth + 1);  // "key:\n- a": same indentation is allowed
    return located(Json(), path.json);
  }
  if (at_sequence_item())
    fail("a sequence cannot start on the line of its key '", key, "'; put each '- item' on its own line below");
  check_node_start(false);
  Json value = parse_inline(indent, path, depth + 1);
  skip_spaces();
  if (peek() == ':')
    fail("a mapping cannot start on the line of its key '", key,
         "'; put it on the lines below, indented (or quote the value if the ':' belongs to it)");
  end_line("the value");
  return value;
}

Json YamlParser::parse_block_sequence(int indent, const YamlPath& path, int depth) {
  Json sequence = located(Json::array(), path.json);
  for (std::size_t index = 0;; ++index) {
    ++pos_;  // '-'
    const YamlPath item_path = path.element(index);
    skip_spaces();
    if (at_comment() || is_break(pos_)) {
      end_line("'-'");
      sequence.push_back(indent_ > indent ? parse_block_node(indent, item_path, depth + 1)
                                          : located(Json(), item_path.json));
    } else {
      sequence.push_back(parse_block_node(indent, item_path, depth + 1));
    }
    if (indent_ < indent) break;
    if (indent_ > indent) fail_bad_indentation();
    if (!at_sequence_item()) break;
  }
  return sequence;
}

// ---- flow collections and scalars ----------------------------------------------------------------

// A flow collection, quoted scalar or plain scalar starting at pos_. Lines a flow collection
// continues on must be indented more than `block_indent`.
Json YamlParser::parse_inline(int block_indent, const YamlPath& path, int depth) {
  switch (peek()) {
    case '[': return parse_flow_sequence(block_indent, path, depth);
    case '{': return parse_flow_mapping(block_indent, path, depth);
    case '"':
    case '\'': return located(Json(parse_quoted()), path.json);
    default: {
      const std::size_t start = pos_;
      return located(resolve_plain(scan_plain(false), start), path.json);
    }
  }
}

Json YamlParser::parse_flow_node(int block_indent, const YamlPath& path, int depth) {
  check_node_start(true);
  if (peek() == '[' || peek() == '{' || peek() == '"' || peek() == '\'') return parse_inline(block_indent, path, depth);
  const std::size_t start = pos_;
  return located(resolve_plain(scan_plain(true), start), path.json);
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

Json YamlParser::parse_flow_sequence(int block_indent, const YamlPath& path, int depth) {
  check_depth(depth);
  const std::size_t open = pos_++;
  Json sequence = located(Json::array(), path.json);
  while (true) {
    skip_flow_space(block_indent);
    if (peek() == ']') break;
    sequence.push_back(parse_flow_node(block_indent, path.element(sequence.size()), depth + 1));
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
  return sequence;
}

Json YamlParser::parse_flow_mapping(int block_indent, const YamlPath& path, int depth) {
  check_depth(depth);
  const std::size_t open = pos_++;
  Json mapping = located(Json::object(), path.json);
  KeyOffsets key_offsets;
  while (true) {
    skip_flow_space(block_indent);
    if (peek() == '}') break;
    check_node_start(true);
    if (peek() == '[' || peek() == '{') fail("a flow collection cannot be a key (complex keys are not supported)");
    const std::size_t key_offset = pos_;
    std::string key = peek() == '"' || peek() == '\'' ? parse_quoted() : std::string(scan_plain(true));
    skip_flow_space(block_indent);
    if (peek() != ':')
      fail("expected ':' after the key '", key, "' in the flow mapping opened at line ", line_of(open), ", column ",
           column_of(open), " (a ':' must be followed by a space)");
    ++pos_;
    check_duplicate(key_offsets, key, key_offset, path);
    skip_flow_space(block_indent);
    YamlPath value_path = path.member(key);
    Json value = peek() == ',' || peek() == '}' ? located(Json(), std::move(value_path.json))
                                                : parse_flow_node(block_indent, value_path, depth + 1);
    append_member(mapping, std::move(key), std::move(value));
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
  return mapping;
}

// ---- entry points --------------------------------------------------------------------------------

Json parse_yaml(std::string_view text, const std::string& source) { return YamlParser(text, source).parse_document(); }

Json load_yaml_file(const std::string& path) {
  return parse_yaml(read_input_text(path, "config file", config_limit()), path);
}

}  // namespace ghm::io
