// Tests for io/yaml: a realistic detector config, each scalar type, block and flow structure, the
// error for each unsupported feature (naming source, line and column), tabs, duplicate keys,
// --set overrides, validate_keys against a schema, and YAML -> Json -> dump round trips.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <unistd.h>

#include "core/check.h"
#include "io/json.h"
#include "io/yaml.h"

using ghm::io::apply_override;
using ghm::io::Json;
using ghm::io::parse_yaml;
using ghm::io::validate_keys;

namespace {

Json parse(const std::string& text) { return parse_yaml(text, "test.yaml"); }

// The message of the ghm::Error that `f` throws ("" if it does not throw).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const ghm::Error& e) {
    return e.what();
  }
  return "";
}

std::string parse_error(const std::string& text) {
  return error_of([&] { parse(text); });
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// The error message starts with the source and the position.
std::string at(int line, int column) {
  return "invalid YAML in test.yaml at line " + std::to_string(line) + ", column " + std::to_string(column) + ": ";
}

const char* const kDetectorConfig = R"(---
# RetinaNet R50-FPN with the GHM losses, 1x schedule.
name: "retinanet_r50_fpn_ghm # 1x"   # the '#' inside quotes is not a comment
seed: 42
model:
  num_classes: 80
  backbone:
    depth: 50
    frozen_stages: 1
    norm: {type: frozen_bn, eps: 1.0e-5}
    pretrained: 'weights/resnet50.safetensors'
  neck:
    in_channels: [512, 1024, 2048]
    out_channels: 256
    levels: [3, 4, 5, 6, 7]
  anchors:
    sizes: [32, 64, 128, 256, 512]
    ratios: [0.5, 1.0, 2.0]
    scales_per_octave: 3
  loss:
    classification:
      type: ghm_c
      bins: 30
      momentum: 0.75
    regression:
      type: ghm_r
      mu: 0.02
      bins: 10
      momentum: 0.7
optimizer:
  type: sgd
  lr: 0.01
  momentum: 0.9
  weight_decay: 1e-4
  warmup: {iters: 500, ratio: .001}
schedule:
  epochs: 12
  steps: [8, 11]   # decay points
  checkpoint_every: ~
data:
  train:
    - name: coco_2017_train
      root: data/coco
      scales: [640, 672, 704,
               736, 768, 800]
    - name: "extra \"hard\" negatives"
      root: data/extra
  flip: true
  mean: [123.675, 116.28, 103.53]
eval:
  score_threshold: 0.05
  iou_threshold: .5
  max_detections: 100
  output:
)";

}  // namespace

TEST_CASE("yaml: a realistic detector config") {
  const Json c = parse(kDetectorConfig);
  CHECK(c.at("name").as_string() == "retinanet_r50_fpn_ghm # 1x");
  CHECK(c.at("seed").as_int() == 42);
  const Json& model = c.at("model");
  CHECK(model.at("num_classes").as_int() == 80);
  CHECK(model.at("backbone").at("norm").at("type").as_string() == "frozen_bn");
  CHECK(model.at("backbone").at("norm").at("eps").as_double() == doctest::Approx(1e-5));
  CHECK(model.at("backbone").at("pretrained").as_string() == "weights/resnet50.safetensors");
  CHECK(model.at("neck").at("in_channels").dump() == "[512,1024,2048]");
  CHECK(model.at("anchors").at("ratios").at(1).as_double() == doctest::Approx(1.0));
  CHECK(model.at("loss").at("classification").at("type").as_string() == "ghm_c");
  CHECK(model.at("loss").at("regression").at("mu").as_double() == doctest::Approx(0.02));
  const Json& optimizer = c.at("optimizer");
  CHECK(optimizer.at("weight_decay").as_double() == doctest::Approx(1e-4));
  CHECK(optimizer.at("warmup").at("ratio").as_double() == doctest::Approx(0.001));
  CHECK(c.at("schedule").at("steps").dump() == "[8,11]");
  CHECK(c.at("schedule").at("checkpoint_every").is_null());
  const Json& train = c.at("data").at("train");
  REQUIRE(train.size() == 2);
  CHECK(train.at(0).at("name").as_string() == "coco_2017_train");
  CHECK(train.at(0).at("scales").dump() == "[640,672,704,736,768,800]");  // a flow sequence over two lines
  CHECK(train.at(1).at("name").as_string() == "extra \"hard\" negatives");
  CHECK_FALSE(train.at(1).contains("scales"));
  CHECK(c.at("data").at("flip").as_bool());
  CHECK(c.at("eval").at("iou_threshold").as_double() == doctest::Approx(0.5));
  CHECK(c.at("eval").at("output").is_null());  // a key with nothing after it
  // Key order is the document's.
  const Json::Object& top = c.as_object();
  REQUIRE(top.size() == 7);
  CHECK(top[2].first == "model");
  CHECK(top[6].first == "eval");
}

TEST_CASE("yaml: parsed values name the source and their path in accessor errors") {
  const Json c = parse(kDetectorConfig);
  CHECK_THROWS_WITH_AS(c.at("optimizer").at("type").as_double(),
                       doctest::Contains("test.yaml at $.optimizer.type: expected a number, got a string"),
                       ghm::Error);
  CHECK(c.at("data").at("train").at(1).at("root").location() == "test.yaml at $.data.train[1].root");
  // Every kind of node gets its path: flow collections, empty values, quoted keys that are not
  // identifiers, block sequences under a key at its indentation.
  const Json d = parse("\"a.b\": {c: [1, x], e: }\nlist:\n- \n- [2]\n");
  CHECK(d.location() == "test.yaml at $");
  CHECK(d.at("a.b").location() == "test.yaml at $[\"a.b\"]");
  CHECK(d.at("a.b").at("c").at(1).location() == "test.yaml at $[\"a.b\"].c[1]");
  CHECK(d.at("a.b").at("e").location() == "test.yaml at $[\"a.b\"].e");
  CHECK(d.at("list").at(0).location() == "test.yaml at $.list[0]");
  CHECK(d.at("list").at(1).at(0).location() == "test.yaml at $.list[1][0]");
  CHECK(parse("").location() == "test.yaml at $");
}

TEST_CASE("yaml: scalars") {
  const Json s = parse(R"(
nulls: [null, Null, NULL, ~, ]
bools: [true, True, TRUE, false, False, FALSE]
ints: [0, 7, -7, +7, 9007199254740993, 9223372036854775807, -9223372036854775808]
floats: [1.5, -2.25, .5, -.5, 1., 1e-4, 2.5E+3, 6.02e23, 01.5]
strings: [abc, hello world, 1x, 640x480, a:b, a#b, -x, 1.2.3, 1e, yes please]
single: 'it''s # here'
double: "tab\there\nnew line \\ \" \/ \x41 \u00e9 \U0001F600 \N \_"
empty_single: ''
empty_double: ""
plain with spaces: value with spaces   # trailing spaces and comment dropped
"quoted key": 1
'single quoted key': 2
url: http://example.com:8080/path
)");
  const Json& nulls = s.at("nulls");
  REQUIRE(nulls.size() == 4);  // a trailing comma ends a flow sequence
  for (const Json& n : nulls.as_array()) CHECK(n.is_null());

  CHECK(s.at("bools").dump() == "[true,true,true,false,false,false]");

  const Json& ints = s.at("ints");
  CHECK(ints.at(0).as_int() == 0);
  CHECK(ints.at(1).as_int() == 7);
  CHECK(ints.at(2).as_int() == -7);
  CHECK(ints.at(3).as_int() == 7);
  CHECK(ints.at(4).as_int() == 9007199254740993LL);  // beyond 2^53: exact, as a double would not be
  CHECK(ints.at(5).as_int() == std::numeric_limits<std::int64_t>::max());
  CHECK(ints.at(6).as_int() == std::numeric_limits<std::int64_t>::min());

  const Json& floats = s.at("floats");
  const std::vector<double> expected = {1.5, -2.25, 0.5, -0.5, 1.0, 1e-4, 2500.0, 6.02e23, 1.5};
  REQUIRE(floats.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(i);
    CHECK(floats.at(i).as_double() == doctest::Approx(expected[i]));
  }

  const Json& strings = s.at("strings");
  const std::vector<std::string> words = {"abc", "hello world", "1x",  "640x480", "a:b",
                                          "a#b", "-x",          "1.2.3", "1e",     "yes please"};
  REQUIRE(strings.size() == words.size());
  for (std::size_t i = 0; i < words.size(); ++i) CHECK(strings.at(i).as_string() == words[i]);

  CHECK(s.at("single").as_string() == "it's # here");
  CHECK(s.at("double").as_string() ==
        "tab\there\nnew line \\ \" / A \xC3\xA9 \xF0\x9F\x98\x80 \xC2\x85 \xC2\xA0");
  CHECK(s.at("empty_single").as_string().empty());
  CHECK(s.at("empty_double").as_string().empty());
  CHECK(s.at("plain with spaces").as_string() == "value with spaces");
  CHECK(s.at("quoted key").as_int() == 1);
  CHECK(s.at("single quoted key").as_int() == 2);
  CHECK(s.at("url").as_string() == "http://example.com:8080/path");
}

TEST_CASE("yaml: integers past int64 become doubles, and huge floats are an error") {
  const Json big = parse("9223372036854775808");
  CHECK(big.as_double() == doctest::Approx(9223372036854775808.0));
  CHECK_THROWS_AS(big.as_int(), ghm::Error);
  CHECK(contains(parse_error("x: 1e400"), at(1, 4) + "number '1e400' is outside the range of a double"));
  CHECK(contains(parse_error("x: 1e-400"), "outside the range of a double"));
}

TEST_CASE("yaml: quoted scalars are strings, never numbers, bools or null") {
  const Json s = parse(R"([ "1", '2.5', "true", 'null', "~", "yes", ".inf" ])");
  for (const Json& v : s.as_array()) CHECK(v.is_string());
  CHECK(s.dump() == R"(["1","2.5","true","null","~","yes",".inf"])");
}

TEST_CASE("yaml: block structure") {
  SUBCASE("a sequence of mappings, and nested sequences") {
    const Json j = parse(R"(
stages:
  - name: conv1
    blocks: 1
  - name: layer1
    blocks: 3
    strides:
      - 1
      - - 2
        - 2
  -
  - plain
)");
    CHECK(j.dump() == R"({"stages":[{"name":"conv1","blocks":1},{"name":"layer1","blocks":3,"strides":[1,[2,2]]},)"
                      R"(null,"plain"]})");
  }
  SUBCASE("a sequence at its key's indentation") {
    CHECK(parse("a:\n- 1\n- 2\nb: 3\n").dump() == R"({"a":[1,2],"b":3})");
  }
  SUBCASE("a top-level sequence and a top-level scalar") {
    CHECK(parse("- 1\n- [2, 3]\n- {k: v}\n").dump() == R"([1,[2,3],{"k":"v"}])");
    CHECK(parse("just a string").as_string() == "just a string");
    CHECK(parse("  # comment\n\n  42  # the answer\n").as_int() == 42);
  }
  SUBCASE("a value on the line below its key") {
    CHECK(parse("a:\n  5\nb: x\n").dump() == R"({"a":5,"b":"x"})");
  }
  SUBCASE("CRLF line endings and a byte order mark") {
    CHECK(parse("\xEF\xBB\xBF" "a: 1\r\nb:\r\n  - x # c\r\n").dump() == R"({"a":1,"b":["x"]})");
  }
  SUBCASE("empty documents are null") {
    CHECK(parse("").is_null());
    CHECK(parse("# only a comment\n\n   \n").is_null());
    CHECK(parse("---\n").is_null());
    CHECK(parse("--- # comment\n# nothing\n...\n# trailing comment\n").is_null());
  }
  SUBCASE("document markers") {
    CHECK(parse("---\na: 1\n...\n").dump() == R"({"a":1})");
    CHECK(parse("a: ---x\n").at("a").as_string() == "---x");
  }
}

TEST_CASE("yaml: flow collections") {
  const Json j = parse(R"(
a: {x: 1, y: [2, 3], z: {deep: [true, null, "s"]}}
b: [{n: 1}, {n: 2}, [], {}]
c: {"quoted": 1, 'single': 2, "adjacent":3}
d: {empty:, also_empty: }
e: [ 1 ,
     2 , # comment inside
     3 ]
f: [a b, c-d, "e, f"]
)");
  CHECK(j.at("a").dump() == R"({"x":1,"y":[2,3],"z":{"deep":[true,null,"s"]}})");
  CHECK(j.at("b").dump() == R"([{"n":1},{"n":2},[],{}])");
  CHECK(j.at("c").dump() == R"({"quoted":1,"single":2,"adjacent":3})");
  CHECK(j.at("d").dump() == R"({"empty":null,"also_empty":null})");
  CHECK(j.at("e").dump() == "[1,2,3]");
  CHECK(j.at("f").dump() == R"(["a b","c-d","e, f"])");
}

TEST_CASE("yaml: unsupported features are errors naming source, line, column and the feature") {
  CHECK(contains(parse_error("base: &defaults {lr: 1}\n"), at(1, 7) + "anchors ('&name') are not supported"));
  CHECK(contains(parse_error("a: 1\nb: *defaults\n"), at(2, 4) + "aliases ('*name') are not supported"));
  CHECK(contains(parse_error("a:\n  <<: *base\n"), at(2, 7) + "aliases"));
  CHECK(contains(parse_error("a: !!float 1\n"), at(1, 4) + "tags ('!' and '!!') are not supported"));
  CHECK(contains(parse_error("a: !custom x\n"), "tags ('!' and '!!') are not supported"));
  CHECK(contains(parse_error("text: |\n  line one\n"), at(1, 7) + "block scalars ('|' and '>') are not supported"));
  CHECK(contains(parse_error("text: >-\n  folded\n"), at(1, 7) + "block scalars"));
  CHECK(contains(parse_error("a: 1\n---\nb: 2\n"), at(2, 1) + "a second document ('---'): multiple documents"));
  CHECK(contains(parse_error("a: 1\n...\nb: 2\n"), at(3, 1) + "content after the document end marker '...'"));
  CHECK(contains(parse_error("%YAML 1.2\n---\na: 1\n"), at(1, 1) + "directives ('%YAML', '%TAG') are not supported"));
  CHECK(contains(parse_error("? complex\n: value\n"), at(1, 1) + "complex keys ('? key') are not supported"));
  CHECK(contains(parse_error("[a, b]: c\n"), at(1, 7) + "a flow collection cannot be a key"));
  CHECK(contains(parse_error("{a: 1}: c\n"), "a flow collection cannot be a key"));
  CHECK(contains(parse_error("a: {[1]: 2}\n"), at(1, 5) + "a flow collection cannot be a key"));
  CHECK(contains(parse_error("a: [k: v]\n"), at(1, 6) + "'key: value' pairs inside a flow sequence"));
  CHECK(contains(parse_error("a: [?, 1]\n"), at(1, 5) + "complex keys ('? key') are not supported"));
  CHECK(contains(parse_error("a: {x: 1, - y: 2}\n"), at(1, 11) + "a block sequence ('- ') cannot be inside a flow"));
  CHECK(contains(parse_error("a: [-]\n"), "a block sequence ('- ') cannot be inside a flow collection"));
  CHECK(contains(parse_error("a: {:, b}\n"), "a ':' with no key before it"));
  CHECK(contains(parse_error("--- a: 1\n"), at(1, 5) + "content on the '---' line is not supported"));
  CHECK(contains(parse_error("a: \"first\n  second\"\n"), at(1, 4) + "this quoted string is not closed on its line"));
  CHECK(contains(parse_error("a: \"x\\\n  y\"\n"),
                 at(1, 6) + "a '\\' at the end of a line (a line continuation) is not supported"));
  CHECK(contains(parse_error("a: first line\n  continued\n"), at(2, 3) + "bad indentation: an indent of 2"));
  CHECK(contains(parse_error("a: @x\n"), at(1, 4) + "'@' is reserved"));
}

TEST_CASE("yaml: values JSON cannot hold, and ambiguous YAML 1.1 forms") {
  for (const char* word : {".inf", "-.inf", "+.inf", ".Inf", ".NAN", ".nan", "inf", "-inf", "nan", "Infinity"}) {
    CAPTURE(word);
    CHECK(contains(parse_error(std::string("x: ") + word), at(1, 4) + "'" + word + "' is not representable in JSON"));
  }
  for (const char* word : {"yes", "No", "ON", "off"}) {
    CAPTURE(word);
    CHECK(contains(parse_error(std::string("flip: ") + word), "is a bool in YAML 1.1 but a string in YAML 1.2"));
  }
  CHECK(contains(parse_error("x: 0x1F"), at(1, 4) + "'0x1F': hexadecimal, octal and binary integers"));
  CHECK(contains(parse_error("x: 0o17"), "hexadecimal, octal and binary integers are not supported"));
  CHECK(contains(parse_error("x: 010"), "'010': integers with leading zeros are ambiguous"));
  CHECK(contains(parse_error("x: -007"), "leading zeros"));
  CHECK(contains(parse_error("x: 90_000"), "'90_000': digit separators ('_') are not supported"));
  CHECK(contains(parse_error("x: 1:30"), at(1, 4) + "'1:30' is a base-60 number in YAML 1.1 but a string in YAML 1.2"));
  CHECK(contains(parse_error("x: -190:20:30.15"), "base-60 number"));
  CHECK(parse("x: [1:300, 1:x, a:1, 1:2:x]").at("x").dump() == R"(["1:300","1:x","a:1","1:2:x"])");
  CHECK(parse("x: '0x1F'").at("x").as_string() == "0x1F");  // quoting keeps any of these as a string
  CHECK(parse("x: \"yes\"").at("x").as_string() == "yes");
  CHECK(parse("x: under_score").at("x").as_string() == "under_score");
}

TEST_CASE("yaml: tabs are errors naming line and column") {
  CHECK(contains(parse_error("a:\n\tb: 1\n"), at(2, 1) + "a tab character"));
  CHECK(contains(parse_error("a:\n  \tb: 1\n"), at(2, 3) + "a tab character"));
  CHECK(contains(parse_error("a:\t1\n"), "a tab character"));  // "a:" followed by a tab, then 1
  CHECK(contains(parse_error("a: x\ty\n"), at(1, 5) + "a tab character"));
  CHECK(contains(parse_error("a: [1,\t2]\n"), at(1, 7) + "a tab character"));
  // Inside quotes and comments a tab is text.
  const Json ok = parse("a: \"x\ty\"  # a\tcomment\nb: 'p\tq'\n");
  CHECK(ok.at("a").as_string() == "x\ty");
  CHECK(ok.at("b").as_string() == "p\tq");
}

TEST_CASE("yaml: duplicate keys name the key and its path") {
  CHECK(contains(parse_error("optimizer:\n  lr: 1\n  momentum: 0.9\n  lr: 2\n"),
                 at(4, 3) + "duplicate key 'lr' at optimizer.lr (first defined at line 2)"));
  CHECK(contains(parse_error("a: 1\nb: 2\na: 3\n"), at(3, 1) + "duplicate key 'a' at a (first defined at line 1)"));
  CHECK(contains(parse_error("data:\n  train:\n    - name: x\n      name: y\n"),
                 "duplicate key 'name' at data.train[0].name"));
  CHECK(contains(parse_error("a: {x: 1, \"x\": 2}\n"), at(1, 11) + "duplicate key 'x' at a.x (first defined at line 1)"));
  CHECK(contains(parse_error("- {q: [{x: 1, x: 2}]}\n"), "duplicate key 'x' at [0].q[0].x"));
  // The same key in different mappings is fine.
  CHECK(parse("a: {x: 1}\nb: {x: 2}\n").dump() == R"({"a":{"x":1},"b":{"x":2}})");
}

TEST_CASE("yaml: a mapping of 200k keys parses, and a duplicate among them is found") {
  // Building a mapping and finding duplicates is linear in its keys; a quadratic parser would take
  // minutes here, so this also guards the complexity.
  constexpr int kKeys = 200000;
  std::string block, flow = "{";
  for (int i = 0; i < kKeys; ++i) {
    block += "k" + std::to_string(i) + ": " + std::to_string(i) + "\n";
    flow += (i == 0 ? "k" : ", k") + std::to_string(i) + ": " + std::to_string(i);
  }
  flow += "}";
  const Json parsed = parse(block);
  REQUIRE(parsed.size() == kKeys);
  CHECK(parsed.as_object().front().first == "k0");
  CHECK(parsed.as_object().back().first == "k199999");
  CHECK(parsed.at("k123456").as_int() == 123456);
  CHECK(parse(flow).size() == kKeys);
  CHECK(contains(parse_error(block + "k17: 0\n"),
                 at(kKeys + 1, 1) + "duplicate key 'k17' at k17 (first defined at line 18)"));
}

TEST_CASE("yaml: structural errors") {
  CHECK(contains(parse_error("a: 1\n b: 2\n"), at(2, 2) + "bad indentation: an indent of 1"));
  CHECK(contains(parse_error("a:\n    b: 1\n  c: 2\n"), at(3, 3) + "bad indentation: an indent of 2"));
  CHECK(contains(parse_error("a: 1\n- b\n"), at(2, 1) + "expected a key at this indentation, got a sequence item"));
  CHECK(contains(parse_error("- a\nb: 1\n"), at(2, 1) + "expected a '- ' sequence item or the end of the document"));
  CHECK(contains(parse_error("a: b: c\n"), at(1, 5) + "a mapping cannot start on the line of its key 'a'"));
  CHECK(contains(parse_error("a: - b\n"), at(1, 4) + "a sequence cannot start on the line of its key 'a'"));
  CHECK(contains(parse_error("a: 1\nb\n"), at(2, 2) + "expected ':' after the key 'b'"));
  CHECK(contains(parse_error("a: 1\nkey:value\n"), "expected ':' after the key 'key:value'"));
  CHECK(contains(parse_error("a: [1, 2\n"), at(2, 1) + "expected ',' or ']' in the flow sequence opened at line 1, "
                                                       "column 4, got end of input"));
  CHECK(contains(parse_error("a: {x: 1 y: 2}\n"), "expected ',' or '}' in the flow mapping opened at line 1"));
  CHECK(contains(parse_error("a: {x:1}\n"), "expected ':' after the key 'x:1' in the flow mapping"));
  CHECK(contains(parse_error("a: [1, , 2]\n"), at(1, 8) + "expected a value, got ','"));
  CHECK(contains(parse_error("a: [1]x\n"), at(1, 7) + "unexpected 'x' after the value"));
  CHECK(contains(parse_error("a: \"s\"#c\n"), "unexpected '#' after the value"));
  CHECK(contains(parse_error("a:\n  b: [1,\n  2]\n"), at(3, 3) + "a flow collection continued on a new line must be "
                                                                 "indented more than its parent"));
  CHECK(contains(parse_error(": v\n"), at(1, 1) + "a ':' with no key before it"));
  CHECK(contains(parse_error("a: \"\\q\"\n"), at(1, 5) + "invalid escape sequence '\\q'"));
  CHECK(contains(parse_error("a: \"\\ud800\"\n"), "the escape names no Unicode character"));
  CHECK(contains(parse_error("a: \"\\x4\"\n"), "expected 2 hex digits in the escape"));
  CHECK(contains(parse_error("a: \xFF\n"), at(1, 4) + "invalid UTF-8 byte 0xFF"));
  CHECK(contains(parse_error("a: b\x01\n"), at(1, 5) + "control character 0x01 is not allowed"));
  CHECK(contains(parse_error("a: 1\rb: 2\n"), at(1, 5) + "a carriage return not followed by a line feed"));
  // Columns count characters, not bytes: 'é' is two bytes and one column.
  CHECK(contains(parse_error("\xC3\xA9: &x 1\n"), at(1, 4) + "anchors"));
  // Deep nesting is refused before it can exhaust the stack.
  CHECK(contains(parse_error(std::string(500, '[') + std::string(500, ']')), "nested deeper than 100 levels"));
  CHECK(parse(std::string(50, '[') + std::string(50, ']')).is_array());
}

TEST_CASE("yaml: load_yaml_file names the file in errors") {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("ghm_test_yaml_" + std::to_string(::getpid()) + ".yaml")).string();
  {
    std::ofstream out(path, std::ios::binary);
    out << "a: 1\nb: &bad 2\n";
  }
  CHECK(contains(error_of([&] { ghm::io::load_yaml_file(path); }),
                 "invalid YAML in " + path + " at line 2, column 4: anchors"));
  {
    std::ofstream out(path, std::ios::binary);
    out << "a: [1, 2]\n";
  }
  const Json loaded = ghm::io::load_yaml_file(path);
  CHECK(loaded.at("a").dump() == "[1,2]");
  CHECK(loaded.at("a").location() == path + " at $.a");
  std::filesystem::remove(path);
  CHECK(contains(error_of([&] { ghm::io::load_yaml_file(path); }), "cannot open config file '" + path + "'"));
}

TEST_CASE("yaml: overrides") {
  Json config = parse(kDetectorConfig);

  SUBCASE("valid values of each type") {
    apply_override(config, "optimizer.lr=0.02");
    CHECK(config.at("optimizer").at("lr").as_double() == doctest::Approx(0.02));
    apply_override(config, "optimizer.lr=1");  // an integer for a number
    CHECK(config.at("optimizer").at("lr").as_int() == 1);
    apply_override(config, "model.num_classes=20");
    CHECK(config.at("model").at("num_classes").as_int() == 20);
    apply_override(config, "name=abc");
    CHECK(config.at("name").as_string() == "abc");
    apply_override(config, "name=\"quoted: with # and spaces\"");
    CHECK(config.at("name").as_string() == "quoted: with # and spaces");
    apply_override(config, "data.flip=false");
    CHECK_FALSE(config.at("data").at("flip").as_bool());
    apply_override(config, "schedule.checkpoint_every=2");  // null in the config accepts anything
    CHECK(config.at("schedule").at("checkpoint_every").as_int() == 2);
    // Other keys and the key order are untouched.
    CHECK(config.at("optimizer").at("momentum").as_double() == doctest::Approx(0.9));
    CHECK(config.as_object()[0].first == "name");
  }
  SUBCASE("list values") {
    apply_override(config, "model.anchors.sizes=[16,32, 64]");
    CHECK(config.at("model").at("anchors").at("sizes").dump() == "[16,32,64]");
    apply_override(config, "schedule.steps=[]");
    CHECK(config.at("schedule").at("steps").size() == 0);
  }
  SUBCASE("a mapping merges key by key") {
    apply_override(config, "optimizer={lr: 0.1, warmup: {iters: 100}}");
    const Json& optimizer = config.at("optimizer");
    CHECK(optimizer.at("lr").as_double() == doctest::Approx(0.1));
    CHECK(optimizer.at("momentum").as_double() == doctest::Approx(0.9));
    CHECK(optimizer.at("warmup").at("iters").as_int() == 100);
    CHECK(optimizer.at("warmup").at("ratio").as_double() == doctest::Approx(0.001));
    CHECK(contains(error_of([&] { apply_override(config, "optimizer={lrr: 1}"); }),
                   "unknown key 'optimizer.lrr' (known: lr,"));
  }
  SUBCASE("unknown keys list the closest known keys") {
    Json small = parse("optimizer:\n  weight_decay: 1e-4\n  momentum: 0.9\n  lr: 0.01\n");
    CHECK(contains(error_of([&] { apply_override(small, "optimizer.lrr=0.1"); }),
                   "--set optimizer.lrr=0.1: unknown key 'optimizer.lrr' (known: lr, momentum, weight_decay)"));
    CHECK(contains(error_of([&] { apply_override(small, "optimiser.lr=0.1"); }),
                   "unknown key 'optimiser' (known: optimizer)"));
    CHECK(contains(error_of([&] { apply_override(config, "model.backbone.dpth=101"); }),
                   "unknown key 'model.backbone.dpth' (known: depth, norm,"));
  }
  SUBCASE("type mismatches name the key, the old type and the given text") {
    CHECK(contains(error_of([&] { apply_override(config, "optimizer.lr=abc"); }),
                   "--set optimizer.lr=abc: 'optimizer.lr' is a number (0.01) in the config, but 'abc' is a string"));
    CHECK(contains(error_of([&] { apply_override(config, "name=3"); }), "'name' is a string"));
    CHECK(contains(error_of([&] { apply_override(config, "data.flip=1"); }),
                   "'data.flip' is a bool (true) in the config, but '1' is a number"));
    CHECK(contains(error_of([&] { apply_override(config, "schedule.steps=8"); }),
                   "'schedule.steps' is a sequence in the config, but '8' is a number"));
    CHECK(contains(error_of([&] { apply_override(config, "optimizer=0.1"); }),
                   "'optimizer' is a mapping in the config, but '0.1' is a number"));
    CHECK(contains(error_of([&] { apply_override(config, "optimizer.lr="); }), "but '' is null"));
  }
  SUBCASE("malformed assignments") {
    CHECK(contains(error_of([&] { apply_override(config, "optimizer.lr"); }), "--set expects key=value"));
    CHECK(contains(error_of([&] { apply_override(config, "optimizer..lr=1"); }), "has an empty part"));
    CHECK(contains(error_of([&] { apply_override(config, "optimizer.lr.x=1"); }),
                   "cannot set 'optimizer.lr.x': 'optimizer.lr' is a number, not a mapping"));
    CHECK(contains(error_of([&] { apply_override(config, "schedule.steps.0=1"); }),
                   "set the whole sequence, e.g. schedule.steps=[...]"));
    CHECK(contains(error_of([&] { apply_override(config, "data.scales=[640,"); }),
                   "invalid YAML in --set data.scales=[640, at line 1, column 18: expected a value, got end of input"));
    CHECK(contains(error_of([&] { apply_override(config, "name=a # b"); }), "comments are not allowed here"));
    CHECK(contains(error_of([&] { apply_override(config, "name=a: b"); }), "unexpected ':' after the value"));
    CHECK(contains(error_of([&] { apply_override(config, "name=&x a"); }), "anchors ('&name') are not supported"));
    Json empty = parse("");
    CHECK(contains(error_of([&] { apply_override(empty, "a=1"); }),
                   "cannot set 'a': the config is null, not a mapping"));
  }
}

TEST_CASE("yaml: an overridden value names the override in its accessor errors") {
  Json config = parse("optimizer:\n  lr: 0.01\n  extra: ~\n");
  apply_override(config, "optimizer.extra=[1, x]", "--set");
  CHECK(config.at("optimizer").at("lr").location() == "test.yaml at $.optimizer.lr");
  CHECK_THROWS_WITH_AS(config.at("optimizer").at("extra").at(1).as_int(),
                       doctest::Contains("--set optimizer.extra=[1, x] at $.optimizer.extra[1]: expected an integer"),
                       ghm::Error);
}

TEST_CASE("yaml: validate_keys reports unknown keys with their paths") {
  const Json schema = parse(R"(
model:
  num_classes: 80
  backbone: {depth: 50, frozen_stages: 1}
optimizer: {lr: 0.01, momentum: 0.9, weight_decay: 1e-4}
data:
  train: []
  extra: ~
)");
  const Json good = parse("model:\n  backbone: {depth: 101}\noptimizer: {lr: 0.02}\ndata: {extra: {any: [1]}}\n");
  CHECK(validate_keys(good, schema).empty());
  CHECK(validate_keys(parse(""), schema).empty());  // an empty config takes every default

  const Json bad = parse(R"(
model:
  backbone: {depht: 50}
  nm_classes: 20
optimizer: {lrr: 0.1}
loss: {}
data: 3
)");
  const std::vector<std::string> problems = validate_keys(bad, schema);
  REQUIRE(problems.size() == 5);
  CHECK(problems[0] == "unknown key 'model.backbone.depht' (known: depth, frozen_stages)");
  CHECK(problems[1] == "unknown key 'model.nm_classes' (known: num_classes, backbone)");
  CHECK(problems[2] == "unknown key 'optimizer.lrr' (known: lr, momentum, weight_decay)");
  CHECK(problems[3] == "unknown key 'loss' (known: model, data, optimizer)");
  CHECK(problems[4] == "'data' should be a mapping with keys like the schema's, got a number");
  CHECK(validate_keys(parse("[1]"), schema) ==
        std::vector<std::string>{"the config should be a mapping with keys like the schema's, got a sequence"});
}

TEST_CASE("yaml: round trip YAML -> Json -> dump -> Json") {
  const Json config = parse(kDetectorConfig);
  const std::string dumped = config.dump();
  const Json again = Json::parse(dumped, "dumped.json");
  CHECK(again.dump() == dumped);
  // JSON is a subset of YAML's flow style, so the dump reads back as YAML to the same tree.
  CHECK(parse(dumped).dump() == dumped);
  CHECK(parse(R"(a: [1, 2.5, "x", true, null, {b: -3}])").dump() == R"({"a":[1,2.5,"x",true,null,{"b":-3}]})");
  CHECK(parse("n: 9007199254740993\nf: 0.1\n").dump() == R"({"n":9007199254740993,"f":0.1})");
}
