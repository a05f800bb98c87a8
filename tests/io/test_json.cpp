// Tests for io/json and the scanner under it (io/json_scan): the RFC 8259 grammar (accepted and
// rejected), string escapes and UTF-8, exact integers, duplicate keys, error messages (source,
// byte offset, line:column, value paths), dump(), and the scanner's own interface as the
// streaming readers use it (pulling and skipping values, number conversion, positions).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "core/check.h"
#include "io/json.h"
#include "io/json_scan.h"

using ghm::io::Json;
using ghm::io::JsonNumber;
using ghm::io::JsonScanner;
using ghm::io::PaddedText;

namespace {

Json parse(const std::string& text) { return Json::parse(text, "test.json"); }

// The message of the ghm::Error that parsing `text` throws ("" if it does not throw).
std::string parse_error(const std::string& text) {
  try {
    parse(text);
  } catch (const ghm::Error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("json: literals, nesting and key order") {
  const Json j = parse(R"( {"z": [1, 2.5, true, false, null, {"b": "c"}], "a": {}, "m": []} )");
  REQUIRE(j.is_object());
  REQUIRE(j.size() == 3);
  CHECK(j.as_object()[0].first == "z");  // document order, not sorted
  CHECK(j.as_object()[1].first == "a");
  CHECK(j.as_object()[2].first == "m");
  const Json& z = j.at("z");
  REQUIRE(z.size() == 6);
  CHECK(z.at(0).as_int() == 1);
  CHECK(z.at(1).as_double() == doctest::Approx(2.5));
  CHECK(z.at(2).as_bool());
  CHECK_FALSE(z.at(3).as_bool());
  CHECK(z.at(4).is_null());
  CHECK(z.at(5).at("b").as_string() == "c");
  CHECK(j.at("a").is_object());
  CHECK(j.at("a").size() == 0);
  CHECK(j.at("m").as_array().empty());
  CHECK(j.contains("a"));
  CHECK_FALSE(j.contains("b"));
  CHECK(j.find("b") == nullptr);
  CHECK(j.dump() == R"({"z":[1,2.5,true,false,null,{"b":"c"}],"a":{},"m":[]})");
}

TEST_CASE("json: whitespace is space, tab, newline and carriage return only") {
  CHECK(parse(" \t\r\n[ 1 ,\n\t2 ] \r\n").dump() == "[1,2]");
  CHECK(contains(parse_error("[1,\v2]"), "expected a value, got byte 0x0B"));
  CHECK(contains(parse_error("\f1"), "expected a value, got byte 0x0C"));
}

TEST_CASE("json: string escapes") {
  CHECK(parse(R"("\"\\\/\b\f\n\r\t")").as_string() == "\"\\/\b\f\n\r\t");
  CHECK(parse(R"("a\u0000b")").as_string() == std::string("a\0b", 3));
  // '/' needs no escape on output; control characters without a short form use \u00XX.
  const std::string raw("q\"b\\s/\b\f\n\r\t\x01\x1f\x7f", 14);
  CHECK(Json(raw).dump() == R"("q\"b\\s/\b\f\n\r\t\u0001\u001F)" "\x7f\"");
  CHECK(Json(std::string("a\0b", 3)).dump() == R"("a\u0000b")");
}

TEST_CASE("json: unicode escapes become UTF-8") {
  CHECK(parse(R"("\u00e9")").as_string() == "\xC3\xA9");           // é, 2 bytes
  CHECK(parse(R"("\u20AC")").as_string() == "\xE2\x82\xAC");       // €, 3 bytes
  CHECK(parse(R"("\uD83D\uDE00")").as_string() == "\xF0\x9F\x98\x80");  // 😀, a surrogate pair
  CHECK(parse(R"("\udbff\udfff")").as_string() == "\xF4\x8F\xBF\xBF");  // U+10FFFF, the last one
  // Raw UTF-8 passes through, and dump() writes it unescaped.
  const Json raw = parse("\"h\xC3\xA9llo \xF0\x9F\x98\x80\"");
  CHECK(raw.as_string() == "h\xC3\xA9llo \xF0\x9F\x98\x80");
  CHECK(raw.dump() == "\"h\xC3\xA9llo \xF0\x9F\x98\x80\"");
}

TEST_CASE("json: malformed strings are rejected") {
  CHECK(contains(parse_error(R"("\ud83d")"), "high surrogate \\ud83d is not followed by a low surrogate"));
  CHECK(contains(parse_error(R"("\ud83dx")"), "high surrogate \\ud83d is not followed by a low surrogate"));
  CHECK(contains(parse_error(R"("\ud83d\u0041")"), "high surrogate \\ud83d is not followed by a low surrogate"));
  CHECK(contains(parse_error(R"("\ude00")"), "lone low surrogate \\ude00"));
  CHECK(contains(parse_error(R"("\x")"), "invalid escape sequence \\ followed by 'x'"));
  CHECK(contains(parse_error(R"("\u12G4")"), "expected 4 hex digits after \\u, got 'G'"));
  CHECK(contains(parse_error("\"a\tb\""), "control character 0x09 must be escaped"));
  CHECK(contains(parse_error("\"abc"), "unterminated string"));
  CHECK(contains(parse_error("\"abc\\"), "unterminated string"));
  CHECK(contains(parse_error("'abc'"), "expected a value, got '''"));
  // Invalid UTF-8: a stray byte, an overlong '/', an encoded surrogate, a truncated sequence,
  // a code point above U+10FFFF.
  CHECK(contains(parse_error("\"\xFF\""), "invalid UTF-8 byte 0xFF"));
  CHECK(contains(parse_error("\"\xC0\xAF\""), "invalid UTF-8 byte 0xC0"));
  CHECK(contains(parse_error("\"\xED\xA0\x80\""), "invalid UTF-8 byte 0xED"));
  CHECK(contains(parse_error("\"\xE2\x82\""), "invalid UTF-8 byte 0xE2"));
  CHECK(contains(parse_error("\"\xF4\x90\x80\x80\""), "invalid UTF-8 byte 0xF4"));
}

TEST_CASE("json: numbers") {
  CHECK(parse("0").as_int() == 0);
  CHECK(parse("-7").as_int() == -7);
  CHECK(parse("1.5").as_double() == doctest::Approx(1.5));
  CHECK(parse("2.5E-3").as_double() == doctest::Approx(0.0025));
  CHECK(parse("1e3").as_int() == 1000);  // integral values written with an exponent are integers too
  CHECK(parse("1E+2").as_int() == 100);
  CHECK(parse("5e-324").as_double() > 0);  // the smallest subnormal is representable

  // Integers beyond 2^53 stay exact (a double would round 2^53 + 1 down to 2^53).
  CHECK(parse("9007199254740993").as_int() == 9007199254740993LL);
  CHECK(parse("9223372036854775807").as_int() == std::numeric_limits<std::int64_t>::max());
  CHECK(parse("-9223372036854775808").as_int() == std::numeric_limits<std::int64_t>::min());
  CHECK(parse("9007199254740993").dump() == "9007199254740993");
  // Past int64 the value is kept as a double, and as_int refuses it.
  const Json huge = parse("9223372036854775808");
  CHECK(huge.as_double() == doctest::Approx(9223372036854775808.0));
  CHECK_THROWS_WITH_AS(huge.as_int(), doctest::Contains("expected an integer that fits in int64"), ghm::Error);
  CHECK_THROWS_WITH_AS(parse("1.5").as_int(), doctest::Contains("got 1.5"), ghm::Error);

  // Negative zero keeps its sign through parse and dump.
  CHECK(std::signbit(parse("-0").as_double()));
  CHECK(std::signbit(parse("-0.0").as_double()));
  CHECK(parse("-0").as_int() == 0);
  CHECK(parse("-0.0").dump() == "-0");
  CHECK(std::signbit(parse(parse("-0").dump()).as_double()));

  // dump() writes the shortest text that reads back as the same double.
  CHECK(parse("0.1").dump() == "0.1");
  CHECK(parse("1.5e300").dump() == "1.5e+300");
  CHECK(parse("2.0").dump() == "2");
  CHECK(Json(0.1f).dump() == "0.10000000149011612");  // a float widened to double, exactly
  CHECK(Json(std::int64_t{-42}).dump() == "-42");
}

TEST_CASE("json: malformed numbers are rejected") {
  CHECK(contains(parse_error("01"), "numbers must not have leading zeros"));
  CHECK(contains(parse_error("-01"), "numbers must not have leading zeros"));
  CHECK(contains(parse_error("-"), "expected a digit after '-', got end of input"));
  CHECK(contains(parse_error("1."), "expected a digit after the decimal point"));
  CHECK(contains(parse_error(".5"), "expected a value, got '.'"));
  CHECK(contains(parse_error("1e"), "expected a digit in the exponent"));
  CHECK(contains(parse_error("1e+"), "expected a digit in the exponent"));
  CHECK(contains(parse_error("+1"), "expected a value, got '+'"));
  CHECK(contains(parse_error("0x10"), "unexpected 'x' after the JSON value"));
  CHECK(contains(parse_error("NaN"), "expected a value, got 'N'"));
  CHECK(contains(parse_error("Infinity"), "expected a value, got 'I'"));
  CHECK(contains(parse_error("1e400"), "number 1e400 is outside the range of a double"));
  CHECK(contains(parse_error("-1e-400"), "number -1e-400 is outside the range of a double"));
}

TEST_CASE("json: parse errors name the source, byte offset and line:column") {
  // Byte 18 is the '2': line 1 is "{\n" (bytes 0-1), line 2 is "  \"a\": 1,\n" (bytes 2-11),
  // line 3 starts at byte 12 and the '2' is its 7th byte.
  const std::string text = "{\n  \"a\": 1,\n  \"b\" 2\n}";
  CHECK_THROWS_WITH_AS(Json::parse(text, "configs/run.json"),
                       doctest::Contains("invalid JSON in configs/run.json at line 3, column 7 (byte 18): "
                                         "expected ':' after the key \"b\", got '2'"),
                       ghm::Error);
  CHECK(contains(parse_error(""), "line 1, column 1 (byte 0): expected a value, got end of input"));
  CHECK(contains(parse_error("[1, 2"), "(byte 5): expected ',' or ']' after an array element, got end of input"));
}

TEST_CASE("json: structural errors") {
  CHECK(contains(parse_error("[1,]"), "expected a value, got ']'"));
  CHECK(contains(parse_error(R"({"a":1,})"), "expected a string key, got '}'"));
  CHECK(contains(parse_error(R"({"a":1 "b":2})"), "expected ',' or '}' after an object member, got '\"'"));
  CHECK(contains(parse_error("[1 2]"), "expected ',' or ']' after an array element, got '2'"));
  CHECK(contains(parse_error("{1:2}"), "expected a string key, got '1'"));
  CHECK(contains(parse_error("1 2"), "unexpected '2' after the JSON value"));
  CHECK(contains(parse_error("[1] // note"), "unexpected '/' after the JSON value"));
  CHECK(contains(parse_error("tru"), "invalid literal, expected 'true'"));
  CHECK(contains(parse_error("nul"), "invalid literal, expected 'null'"));
  CHECK(contains(parse_error("True"), "expected a value, got 'T'"));
  CHECK(contains(parse_error("{"), "expected a string key, got end of input"));
  // Nesting is capped so hostile input cannot overflow the stack.
  CHECK(parse(std::string(255, '[') + std::string(255, ']')).is_array());
  CHECK(contains(parse_error(std::string(300, '[') + std::string(300, ']')), "nested deeper than 256 levels"));
}

TEST_CASE("json: duplicate keys are an error, naming the key and the object") {
  CHECK(contains(parse_error(R"({"a":1,"b":2,"a":3})"), "(byte 13): duplicate key \"a\" in the object at $"));
  CHECK(contains(parse_error(R"({"x":{"k":1,"k":2}})"), "duplicate key \"k\" in the object at $.x"));
  CHECK(parse(R"([{"k":1},{"k":2}])").size() == 2);  // the same key in sibling objects is fine
}

TEST_CASE("json: accessor errors name the source and the value's path") {
  const Json j = parse(R"({"w.0": {"dtype": 3}, "list": [1, "x"], "flag": true})");
  CHECK_THROWS_WITH_AS(j.at("w.0").at("dtype").as_string(),
                       doctest::Contains(R"(test.json at $["w.0"].dtype: expected a string, got a number)"),
                       ghm::Error);
  CHECK_THROWS_WITH_AS(j.at("w.0").at("shape"), doctest::Contains(R"(test.json at $["w.0"]: missing key "shape")"),
                       ghm::Error);
  CHECK_THROWS_WITH_AS(j.at("list").at(5),
                       doctest::Contains("test.json at $.list: index 5 is out of range for an array of 2 elements"),
                       ghm::Error);
  CHECK_THROWS_WITH_AS(j.at("list").at(1).as_int(),
                       doctest::Contains("test.json at $.list[1]: expected an integer, got a string"), ghm::Error);
  CHECK_THROWS_WITH_AS(j.at("flag").as_double(), doctest::Contains("$.flag: expected a number, got a bool"),
                       ghm::Error);
  CHECK_THROWS_WITH_AS(j.at("list").at("x"), doctest::Contains("$.list: expected an object, got an array"),
                       ghm::Error);
  CHECK_THROWS_WITH_AS(j.at("flag").size(), doctest::Contains("expected an array or an object, got a bool"),
                       ghm::Error);
  CHECK(j.at("list").at(1).location() == "test.json at $.list[1]");
}

TEST_CASE("json: building values and dumping them") {
  Json j = Json::object();
  j.set("name", "retinanet").set("depth", 50).set("lr", 0.01).set("tags", Json::array({"a", true, nullptr}));
  j.set("depth", std::uint64_t{101});  // replaces in place, keeping the key's position
  Json nested = Json::array();
  nested.push_back(Json::object()).push_back(-3);
  j.set("nested", nested);
  const std::string text = j.dump();
  CHECK(text == R"({"name":"retinanet","depth":101,"lr":0.01,"tags":["a",true,null],"nested":[{},-3]})");
  CHECK(parse(text).dump() == text);  // dump and parse are inverses

  CHECK_THROWS_WITH_AS(Json{std::nan("")}, doctest::Contains("NaN and infinities are not allowed"), ghm::Error);
  CHECK_THROWS_WITH_AS(Json{std::numeric_limits<double>::infinity()}, doctest::Contains("no representation"),
                       ghm::Error);
  CHECK_THROWS_WITH_AS(Json{std::numeric_limits<std::uint64_t>::max()},
                       doctest::Contains("18446744073709551615 does not fit in int64"), ghm::Error);
  CHECK_THROWS_WITH_AS(Json(std::string("bad \xFF")).dump(),
                       doctest::Contains("a string (JSON value at $) has invalid UTF-8 byte 0xFF at offset 4"),
                       ghm::Error);
  CHECK_THROWS_WITH_AS(Json::object().set("\xC3", 1).dump(),
                       doctest::Contains("a key of the object (JSON value at $) has invalid UTF-8 byte 0xC3"),
                       ghm::Error);
  CHECK_THROWS_WITH_AS(Json(1).push_back(2), doctest::Contains("expected an array, got a number"), ghm::Error);
  CHECK_THROWS_WITH_AS(Json().set("k", 1), doctest::Contains("expected an object, got null"), ghm::Error);
}

TEST_CASE("json scan: padded text, UTF-8 sequences and line:column") {
  const PaddedText text("ab\ncd");
  CHECK(text.view() == "ab\ncd");
  for (std::size_t i = 0; i < ghm::io::kJsonPadding; ++i) CHECK(text.data()[text.size() + i] == '\0');

  using ghm::io::utf8_sequence_length;
  CHECK(utf8_sequence_length("a") == 1);
  CHECK(utf8_sequence_length("\xC3\xA9") == 2);
  CHECK(utf8_sequence_length("\xE6\x97\xA5") == 3);
  CHECK(utf8_sequence_length("\xF0\x9F\x98\x80") == 4);
  CHECK(utf8_sequence_length("\xF4\x8F\xBF\xBF") == 4);  // U+10FFFF, the last code point
  CHECK(utf8_sequence_length("\xC0\xAF") == 0);            // overlong '/'
  CHECK(utf8_sequence_length("\xED\xA0\x80") == 0);        // a surrogate
  CHECK(utf8_sequence_length("\xF4\x90\x80\x80") == 0);    // past U+10FFFF
  CHECK(utf8_sequence_length("\xE6\x97") == 0);            // truncated
  CHECK(utf8_sequence_length("\x80") == 0);                // a continuation byte first

  using ghm::io::json_line_column;
  CHECK(json_line_column("ab\ncd", 0) == "line 1, column 1");
  CHECK(json_line_column("ab\ncd", 2) == "line 1, column 3");
  CHECK(json_line_column("ab\ncd", 3) == "line 2, column 1");
  CHECK(json_line_column("ab\ncd\n\n", 7) == "line 4, column 1");
}

TEST_CASE("json scan: numbers are grammar-checked, then converted exactly on demand") {
  const auto number = [](const std::string& literal) {
    static PaddedText text;  // the JsonNumber points into it
    static const std::string source = "n.json";
    text = PaddedText(literal);
    JsonScanner s(text, source);
    const JsonNumber n = s.number();
    CHECK(s.position() == text.data() + text.size());
    return n;
  };
  std::int64_t i = 0;
  CHECK((number("9007199254740993").to_int64(i) && i == 9007199254740993LL));  // beyond 2^53, exact
  CHECK((number("-9223372036854775808").to_int64(i) && i == std::numeric_limits<std::int64_t>::min()));
  CHECK_FALSE(number("9223372036854775808").to_int64(i));
  CHECK((number("1e3").to_int64(i) && i == 1000));  // integral values in any form
  CHECK((number("7.0").to_int64(i) && i == 7));
  CHECK((number("-0").to_int64(i) && i == 0));
  CHECK_FALSE(number("1.5").to_int64(i));
  CHECK_FALSE(number("9.3e18").to_int64(i));  // above 2^63
  CHECK(number("12").integral);
  CHECK_FALSE(number("12.0").integral);
  CHECK_FALSE(number("12e0").integral);
  double d = 0;
  CHECK((number("0.1").to_double(d) && d == 0.1));
  CHECK((number("5e-324").to_double(d) && d > 0));
  CHECK_FALSE(number("1e400").to_double(d));
  CHECK_FALSE(number("-1e-400").to_double(d));  // would round to zero
  CHECK(number("-12.5e+3").text() == "-12.5e+3");
}

TEST_CASE("json scan: pulling some values and skipping the others") {
  // An escaped key ("\u0069d" is "id"), a string with escapes and a surrogate pair, and values
  // of every kind to skip.
  const PaddedText text(R"( {"skip": [1, -2.5e3, {"a": [true, false, null]}, "x\"y"],
    "\u0069d": 42, "name": "caf\u00e9 \ud83d\ude00\n", "list": [3, 4]} )");
  const std::string source = "doc.json";
  JsonScanner s(text, source);
  s.skip_whitespace();
  std::int64_t id = 0;
  std::string name;
  std::vector<std::int64_t> list;
  s.for_each_member(
      0,
      [&](std::string_view key) {
        if (key == "id") {
          CHECK(s.number().to_int64(id));
        } else if (key == "name") {
          s.string(&name);
        } else if (key == "list") {
          s.for_each_element(1, [&](std::size_t index) {
            std::int64_t v = 0;
            CHECK(s.number().to_int64(v));
            CHECK(index == list.size());
            list.push_back(v);
          });
        } else {
          s.skip_value(1);
        }
      },
      [] { return std::string("$"); });
  s.finish();
  CHECK(id == 42);
  CHECK(name == "caf\xC3\xA9 \xF0\x9F\x98\x80\n");
  CHECK(list == std::vector<std::int64_t>{3, 4});
  CHECK(JsonScanner::value_kind("[") == std::string("an array"));
  CHECK(JsonScanner::value_kind("n") == std::string("null"));
}

TEST_CASE("json scan: duplicate keys are found in small and large objects, escaped or not") {
  CHECK(contains(parse_error(R"({"ab":1,"a\u0062":2})"), "(byte 8): duplicate key \"ab\" in the object at $"));
  // Past 16 keys the scanner switches from a linear search to a hash set.
  std::string many = "{";
  for (int k = 0; k < 100; ++k) many += "\"k" + std::to_string(k) + "\":" + std::to_string(k) + ",";
  CHECK(parse(many + "\"last\":0}").size() == 101);
  CHECK(contains(parse_error(many + "\"k3\":0}"), "duplicate key \"k3\" in the object at $"));
  CHECK(contains(parse_error(R"({"o":{"x":1},"p":{"x":2,"x":3}})"), "duplicate key \"x\" in the object at $.p"));
  // A key repeated in a nested object does not clash with the enclosing object's keys.
  CHECK(parse(R"({"x":{"x":{"x":1}},"y":2})").at("x").at("x").at("x").as_int() == 1);
}

TEST_CASE("key set: every key is found again across growths, with the value it was added with") {
  ghm::io::KeySet keys;
  const int n = 5000;  // about nine doublings of the table
  for (int k = 0; k < n; ++k) REQUIRE(keys.insert("key" + std::to_string(k), static_cast<std::size_t>(k)) == nullptr);
  CHECK(keys.insert("", 7) == nullptr);  // the empty key is a key
  CHECK(keys.size() == static_cast<std::size_t>(n) + 1);
  for (int k = 0; k < n; k += 97) {
    const std::size_t* first = keys.insert("key" + std::to_string(k), 0);
    REQUIRE(first != nullptr);
    CHECK(*first == static_cast<std::size_t>(k));
  }
  CHECK(*keys.insert("", 0) == 7);
  CHECK(keys.insert("key", 0) == nullptr);        // a prefix of every key is another key
  CHECK(keys.insert("key1x", 0) == nullptr);
  CHECK(keys.size() == static_cast<std::size_t>(n) + 3);
}
