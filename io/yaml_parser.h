// The YAML subset parser behind io/yaml.h (internal to io/; the subset itself is described there).
//
// A recursive descent over characters with one notion of state per line: after a block value
// ends, next_content() moves to the first character of the next line that holds content and
// records that line's indentation in indent_ (kEndOfDocument at the end of the text or at a
// "---"/"..." marker). A block mapping or sequence at indentation n keeps taking entries while
// indent_ == n, returns to its parent when indent_ < n, and calls a deeper line an error. Flow
// collections ([...], {...}) are parsed character by character and may cross lines.
//
// The parser builds the Json tree as it goes: every value gets the document's source and its path
// ($.data.train[1]) for later accessor errors, and each mapping appends its members, so a mapping
// of n keys is O(n): the only per-key lookup is the duplicate check, a flat hash set per mapping
// (key_set.h). Nesting is capped at kMaxDepth, so hostile input cannot overflow the stack.
//
// The methods are defined in three files:
//   yaml_scan.cpp    characters and lines: errors with line and column, indentation, comments,
//                    what may start a node, plain and quoted scalars and escapes;
//   yaml_scalar.cpp  what a plain scalar means (the YAML 1.2 core schema, ambiguous forms rejected);
//   yaml.cpp         structure: the document, block and flow collections, and the entry points.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "core/check.h"
#include "io/json.h"
#include "io/key_set.h"

namespace ghm::io {

// "a.b" from "a" and "b"; the key alone at the top level.
inline std::string join_path(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

// Where a node sits, named two ways: as Json::location() names it ($.data.train[1], $["a.b"]) and as
// YAML errors and --set name it (data.train[1], a.b).
struct YamlPath {
  std::string json = "$";
  std::string user;

  YamlPath member(const std::string& key) const { return {Json::member_path(json, key), join_path(user, key)}; }
  YamlPath element(std::size_t index) const {
    const std::string suffix = "[" + std::to_string(index) + "]";
    return {json + suffix, user + suffix};
  }
};

class YamlParser {
 public:
  YamlParser(std::string_view text, const std::string& source)
      : text_(text), source_(source), located_source_(std::make_shared<const std::string>(source)) {}

  // The whole text as one document.
  Json parse_document();

  // The value of a --set assignment: text_ is the whole assignment, the value starts at `start`,
  // and its values are located under `at`, where it will be put in the config.
  Json parse_override_value(std::size_t start, const YamlPath& at);

  static constexpr int kMaxDepth = 100;
  static constexpr int kEndOfDocument = -1;  // indent_ when no more content lines belong to the document

 private:
  // The first line of each key in one mapping, to report a duplicate with its first definition.
  using KeyOffsets = KeySet;  // key -> its offset in the text

  // ---- errors and characters (yaml_scan.cpp) ---------------------------------------------------

  template <class... Args>
  [[noreturn]] void fail_at(std::size_t offset, const Args&... reason) const {
    GHM_FAIL("invalid YAML in ", source_, " at line ", line_of(offset), ", column ", column_of(offset), ": ",
             reason...);
  }
  template <class... Args>
  [[noreturn]] void fail(const Args&... reason) const {
    fail_at(pos_, reason...);
  }
  [[noreturn]] void fail_tab() const;
  [[noreturn]] void fail_bad_indentation() const;

  std::size_t line_start(std::size_t offset) const;
  std::size_t line_of(std::size_t offset) const;
  std::size_t column_of(std::size_t offset) const;
  int current_column() const { return static_cast<int>(pos_ - line_start(pos_)); }
  void check_characters() const;

  bool at_end() const { return pos_ >= text_.size(); }
  char peek(std::size_t ahead = 0) const { return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0'; }
  bool is_break(std::size_t i) const { return i >= text_.size() || text_[i] == '\n' || text_[i] == '\r'; }
  // Whether an indicator just before `i` stands alone: followed by a space, a tab or a line end.
  bool is_separated(std::size_t i) const { return is_break(i) || text_[i] == ' ' || text_[i] == '\t'; }
  bool at_comment() const {
    return peek() == '#' && (pos_ == 0 || text_[pos_ - 1] == ' ' || text_[pos_ - 1] == '\n');
  }
  bool at_sequence_item() const { return peek() == '-' && is_separated(pos_ + 1); }
  std::string describe_current() const;

  void skip_spaces();
  void skip_comment();
  void skip_break() { pos_ += peek() == '\r' ? 2 : 1; }
  void next_content();
  void end_line(const char* after);
  void check_depth(int depth) const;
  void check_node_start(bool flow) const;

  std::string_view scan_plain(bool flow);
  std::string parse_quoted();
  void parse_escape(std::string& out);
  std::uint32_t parse_hex(int digits, std::size_t escape_start);

  // ---- plain scalars (yaml_scalar.cpp) ---------------------------------------------------------

  Json resolve_plain(std::string_view s, std::size_t offset) const;

  // ---- structure (yaml.cpp) --------------------------------------------------------------------

  // `value`, which the parser made, with the document's source and `json_path`.
  Json located(Json value, std::string json_path) const {
    value.source_ = located_source_;
    value.path_ = std::move(json_path);
    return value;
  }
  // Appends a member whose key the duplicate check has passed (no search, unlike Json::set).
  static void append_member(Json& mapping, std::string key, Json value) {
    std::get<Json::Object>(mapping.value_).emplace_back(std::move(key), std::move(value));
  }

  Json parse_block_node(int parent_indent, const YamlPath& path, int depth);
  bool starts_mapping_entry();
  Json parse_block_mapping(int indent, const YamlPath& path, int depth);
  void check_duplicate(KeyOffsets& key_offsets, const std::string& key, std::size_t offset,
                       const YamlPath& path) const;
  Json parse_mapping_value(int indent, const std::string& key, const YamlPath& path, int depth);
  Json parse_block_sequence(int indent, const YamlPath& path, int depth);
  Json parse_inline(int block_indent, const YamlPath& path, int depth);
  Json parse_flow_node(int block_indent, const YamlPath& path, int depth);
  void skip_flow_space(int block_indent);
  Json parse_flow_sequence(int block_indent, const YamlPath& path, int depth);
  Json parse_flow_mapping(int block_indent, const YamlPath& path, int depth);

  std::string_view text_;
  std::string source_;
  std::shared_ptr<const std::string> located_source_;  // source_, shared by every value of the document
  std::size_t pos_ = 0;
  int indent_ = kEndOfDocument;  // indentation of the line holding pos_, see next_content()
  bool at_marker_ = false;       // pos_ is on a "---" or "..." line that ended the block structure
  bool allow_comments_ = true;
};

}  // namespace ghm::io
