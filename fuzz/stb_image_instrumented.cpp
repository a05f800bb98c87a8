// stb_image's decoders, compiled from the Debian header (libstb-dev) into the image fuzz binary,
// so that they carry the fuzzer's coverage instrumentation and the sanitizers' checks. The
// binary's own definitions take precedence over the prebuilt libstb.so that ghm_io links.
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
