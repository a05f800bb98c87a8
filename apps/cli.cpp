// The shared command-line conventions (apps/cli.h): help layout, parse errors as UsageError, and
// the validators and option adders the commands reuse.
#include "apps/cli.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <optional>
#include <utility>

#include "apps/commands.h"
#include "engine/config.h"

namespace ghm::app::cli {
namespace {

constexpr const char* kProgram = "ghm_retinanet";
constexpr std::size_t kOptionColumn = 36;  // option names and types left, their help right of this

// The whole text as a number of type T, or nothing (trailing characters, overflow, empty).
template <class T>
std::optional<T> whole_number(const std::string& text) {
  T value{};
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc() || stop != end) return std::nullopt;
  return value;
}

std::string range_text(double low, double high) {
  char text[64];
  std::snprintf(text, sizeof text, "[%g, %g]", low, high);
  return text;
}

// "ghm_retinanet bench" with subcommand "loss" selected -> "bench loss".
std::string command_path(const CLI::App& app) {
  std::string path = app.get_name();
  if (path.starts_with(std::string(kProgram) + " ")) path.erase(0, std::string(kProgram).size() + 1);
  for (const CLI::App* sub = &app; !sub->get_subcommands().empty();) {
    sub = sub->get_subcommands().front();
    path += " " + sub->get_name();
  }
  return path;
}

// `--gt --dt x.json`: CLI11 takes the next word as the value whatever it looks like; a word that
// starts with "--" is an option, so the option before it lacks its value. Added to every option of
// `app` and its subcommands that takes a value.
void reject_option_names_as_values(CLI::App& app) {
  const CLI::Validator not_an_option(
      [](std::string& value) {
        return value.size() > 2 && value.starts_with("--") ? "needs a value, got the option '" + value + "'"
                                                           : std::string();
      },
      "");
  for (CLI::Option* option : app.get_options())
    if (option->get_type_size_max() > 0) option->check(not_an_option);
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) reject_option_names_as_values(*sub);
}

}  // namespace

std::unique_ptr<CLI::App> make_command(const std::string& command, const std::string& summary) {
  auto app = std::make_unique<CLI::App>(summary, std::string(kProgram) + " " + command);
  app->option_defaults()->always_capture_default();
  app->set_help_flag("-h,--help", "print this help and exit");
  app->get_formatter()->column_width(kOptionColumn);
  app->get_formatter()->label("REQUIRED", "(required)");
  return app;
}

bool parse(CLI::App& app, const std::vector<std::string>& args) {
  reject_option_names_as_values(app);
  try {
    app.parse(std::vector<std::string>(args.rbegin(), args.rend()));  // CLI11 takes them last first
  } catch (const CLI::CallForHelp&) {
    std::printf("%s", app.help().c_str());
    return false;
  } catch (const CLI::ParseError& e) {
    throw UsageError(command_path(app) + ": " + e.what());
  }
  return true;
}

CLI::Validator integer_in(std::int64_t low, std::int64_t high) {
  const std::string range = std::to_string(low) + ".." + std::to_string(high);
  return CLI::Validator(
      [low, high, range](std::string& text) -> std::string {
        const std::optional<std::int64_t> v = whole_number<std::int64_t>(text);
        const bool whole = v || whole_number<std::uint64_t>(text);  // above the int64 range: out of range too
        if (!whole) return "'" + text + "' is not an integer in " + range;
        if (!v || *v < low || *v > high) return "must be in " + range + ", got " + text;
        return {};
      },
      range);
}

CLI::Validator seed() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        return whole_number<std::uint64_t>(text) ? std::string() : "'" + text + "' is not a whole number in 0..2^64-1";
      },
      "0..2^64-1");
}

CLI::Validator number_in(double low, double high) {
  const std::string range = range_text(low, high);
  return CLI::Validator(
      [low, high, range](std::string& text) -> std::string {
        const std::optional<double> v = whole_number<double>(text);
        if (!v || !std::isfinite(*v)) return "'" + text + "' is not a finite number";
        if (*v < low || *v > high) return "must be in " + range + ", got " + text;
        return {};
      },
      range);
}

CLI::Validator positive_number() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        const std::optional<double> v = whole_number<double>(text);
        if (!v || !std::isfinite(*v)) return "'" + text + "' is not a finite number";
        if (!(*v > 0)) return "must be positive, got " + text;
        return {};
      },
      "> 0");
}

CLI::Validator thread_count() {
  const int high = engine::max_thread_count();
  const std::string range = "1.." + std::to_string(high) + " (at most 4 x the " + std::to_string(high / 4) + " cores)";
  return CLI::Validator(
      [high, range](std::string& text) -> std::string {
        const std::optional<std::int64_t> v = whole_number<std::int64_t>(text);
        if (!v) return "'" + text + "' is not a thread count in " + range;
        if (*v < 1 || *v > high) return "must be in " + range + ", got " + text;
        return {};
      },
      "1.." + std::to_string(high));
}

CLI::Option* add_device(CLI::App& app, std::string& device) {
  const CLI::Validator device_name(
      [](std::string& text) -> std::string {
        const bool indexed = text.starts_with("cuda:") && text.size() > 5 && text.size() <= 7 &&
                             text.find_first_not_of("0123456789", 5) == std::string::npos;
        if (text == "cpu" || text == "cuda" || indexed) return {};
        return "device '" + text + "' must be cpu, cuda or cuda:I";
      },
      "");
  return app.add_option("--device", device, "cpu, cuda (= cuda:0) or cuda:I")->type_name("DEVICE")->check(device_name);
}

CLI::Option* add_overrides(CLI::App& app, std::vector<std::string>& overrides) {
  const CLI::Validator key_value(
      [](std::string& text) -> std::string {
        const std::size_t eq = text.find('=');
        return eq == std::string::npos || eq == 0 ? "expects key=value, got '" + text + "'" : std::string();
      },
      "");
  return app
      .add_option("--set", overrides, "override a config key (docs/config.md), e.g. --set train.lr=0.005; repeatable")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false)
      ->default_str("")
      ->check(key_value);
}

CLI::Option* add_precision(CLI::App& app, std::vector<std::string>& overrides, const std::string& key) {
  return app
      .add_option_function<std::string>(
          "--precision", [&overrides, key](const std::string& value) { overrides.push_back(key + "=" + value); },
          "the convolutions' precision: fp32, bf16 (CPUs with AVX-512 BF16) or fp16 (CUDA); sets " + key +
              " (docs/precision.md)")
      ->type_name("fp32|bf16|fp16")
      ->check(CLI::IsMember({"fp32", "bf16", "fp16"}));
}

CLI::Option* add_config(CLI::App& app, std::string& path) {
  return app.add_option("--config", path, "YAML config (docs/config.md)")->type_name("CFG.yaml")->required();
}

CLI::Option* add_checkpoint(CLI::App& app, std::string& checkpoint) {
  return app.add_option("--checkpoint", checkpoint, "a checkpoint, or a work directory (its newest)")
      ->type_name("CKPT.safetensors|WORK_DIR")
      ->required();
}

CLI::Option* add_size(CLI::App& app, const std::string& name, std::int64_t& height, std::int64_t& width,
                      std::int64_t min_side, const std::string& help) {
  auto split = [](const std::string& text) -> std::optional<std::pair<std::int64_t, std::int64_t>> {
    const std::size_t x = text.find('x');
    if (x == std::string::npos) return std::nullopt;
    const std::optional<std::int64_t> h = whole_number<std::int64_t>(text.substr(0, x));
    const std::optional<std::int64_t> w = whole_number<std::int64_t>(text.substr(x + 1));
    if (!h || !w) return std::nullopt;
    return std::pair{*h, *w};
  };
  const CLI::Validator hxw(
      [split, min_side](std::string& text) -> std::string {
        const auto size = split(text);
        if (!size) return "must be HxW (e.g. 800x1216), got '" + text + "'";
        if (size->first < min_side || size->second < min_side)
          return "each side must be at least " + std::to_string(min_side) + ", got '" + text + "'";
        return {};
      },
      "");
  return app
      .add_option_function<std::string>(
          name,
          [split, &height, &width](const std::string& text) {
            const auto size = split(text);  // checked by hxw
            height = size->first;
            width = size->second;
          },
          help)
      ->type_name("HxW")
      ->default_str(std::to_string(height) + "x" + std::to_string(width))
      ->check(hxw);
}

CLI::Option* comma_list(CLI::Option* option) { return option->delimiter(',')->allow_extra_args(false); }

}  // namespace ghm::app::cli
