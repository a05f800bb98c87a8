// YAML configs: a strict subset of YAML 1.2 read into a Json tree, `--set key=value` overrides,
// and a check of a config's keys against a schema of defaults.
//
//   Json config = load_yaml_file("configs/retinanet_r50.yaml");
//   apply_override(config, "optimizer.lr=0.02");          // from --set optimizer.lr=0.02
//   for (const std::string& problem : validate_keys(config, default_config())) ...
//   double lr = config.at("optimizer").at("lr").as_double();
//
// The subset is what a readable config needs, and nothing that changes meaning at a distance:
//   - block mappings and sequences, indented with spaces (a tab outside quotes and comments is an
//     error), including sequences of mappings ("- name: x\n  k: v") and a sequence at its key's
//     indentation ("key:\n- a");
//   - flow sequences [1, 2.5, "a"] and flow mappings {a: 1, b: [2, 3]}, nested, which may span lines;
//   - comments (# to the end of the line, outside quotes), a leading "---", a final "...";
//   - plain scalars resolved as in the YAML 1.2 core schema: null ~ and empty -> null,
//     true/false (also True, TRUE...) -> bool, decimal integers -> exact int64 (past int64, a
//     double), 1.5 .5 1e-4 -> double, anything else -> string; quoted scalars are always strings:
//     'single' ('' is a quote) and "double" (escapes \n \t \\ \" \xXX \uXXXX \UXXXXXXXX ...);
//     keys are strings as written (a key 1 or ~ is the string "1" or "~").
// Rejected with an error, rather than guessed at: anchors (&) and aliases (*), tags (!, !!),
// block scalars (| and >), multi-line plain or quoted scalars, several documents, directives (%),
// complex keys (? and collections as keys), ".inf" and ".nan" (JSON cannot represent them), YAML
// 1.1 forms whose meaning differs between parsers (yes/no/on/off, base 60 like 1:30), hex/octal
// and leading-zero integers, digit separators (1_000), duplicate keys. Every error names the
// source, the line and column, and what to write instead. An empty document is null.
//
// Values in the returned tree carry their location for later accessor errors
// ("configs/x.yaml at $.optimizer.lr: expected a number, got a string").
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "io/json.h"

namespace ghm::io {

// Parses one YAML document; `source` (a file path, "--set") is named in every error.
Json parse_yaml(std::string_view text, const std::string& source);

// Reads and parses the file at `path`.
Json load_yaml_file(const std::string& path);

// Applies one "a.b.c=value" override, as given to --set, to `config`. The value is one line of
// YAML (a scalar, [a, b] or {k: v}); the path must name an existing key, and the new value must
// have the old value's type (any number for a number; null in the config accepts anything). A
// mapping value is merged key by key under the same rules, so "optimizer={lr: 0.1}" means
// "optimizer.lr=0.1"; any other value replaces the old one whole. Keys containing '.' cannot be
// addressed, nor can single elements of a sequence. Errors name `source`, the assignment, the
// key and, for an unknown key, the closest known keys at that level.
void apply_override(Json& config, std::string_view assignment, const std::string& source = "--set");

// Checks `config` against `schema`, a tree of the same shape whose values are the defaults.
// Returns one message per problem, in document order: a key the schema does not have at that
// level ("unknown key 'optimizer.lrr' (known: lr, momentum, weight_decay)"), or a non-mapping
// where the schema has a mapping (the keys beneath cannot be checked). A null config (an empty
// file) has no problems; a null in the schema accepts anything beneath it; sequences are not
// descended into. Value types are for the reader of the config to check.
std::vector<std::string> validate_keys(const Json& config, const Json& schema);

}  // namespace ghm::io
