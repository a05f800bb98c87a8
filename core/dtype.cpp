#include "core/dtype.h"

namespace ghm {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::I32: return "i32";
    case DType::I64: return "i64";
    case DType::U8: return "u8";
  }
  return "?";
}

std::string Device::to_string() const { return is_cpu() ? std::string("cpu") : "cuda:" + std::to_string(index); }

}  // namespace ghm
