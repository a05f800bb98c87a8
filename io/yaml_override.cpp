// Config overrides and key checks on a parsed YAML config (io/yaml.h): apply_override for
// `--set a.b.c=value`, which parses the value as one line of YAML and puts it in place under the
// type rules in yaml.h, and validate_keys against a schema of defaults. Errors about unknown keys
// list the closest known keys at that level.
#include "io/yaml.h"

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/check.h"
#include "io/yaml_parser.h"

namespace ghm::io {
namespace {

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
  // The value, located where it will sit in the config, so that later errors name that path.
  YamlPath at;
  for (const std::string& key : keys) at = at.member(key);
  const Json given = YamlParser(assignment, origin).parse_override_value(equals + 1, at);
  config = with_override(config, keys, 0, given, std::string(trim(assignment.substr(equals + 1))), origin);
}

std::vector<std::string> validate_keys(const Json& config, const Json& schema) {
  std::vector<std::string> problems;
  check_keys(config, schema, "", problems);
  return problems;
}

}  // namespace ghm::io
