// The plan of a slice copy on CUDA (copy_slice in shape_cuda.cu): which copy moves the slice, and
// the byte offsets and pitches it uses. Plain C++, so that the choice is tested without a GPU.
//
// A slice copy moves `outer` rows of `len * inner` elements out of rows `len_src * inner`
// elements long (from element `src_start * inner` of each) into rows `len_dst * inner` long (at
// element `dst_start * inner`):
//
//   width      = len * inner * elem_bytes                 bytes per row
//   src_pitch  = len_src * inner * elem_bytes             bytes from one source row to the next
//   src_offset = src_start * inner * elem_bytes           (dst_pitch, dst_offset alike)
//   row r:  dst[dst_offset + r * dst_pitch + b] = src[src_offset + r * src_pitch + b],  b < width
//
// The method, the first that applies:
//   None       nothing to copy (no rows, or empty rows)
//   Flat       the rows lie back to back in both buffers (one row, or both pitches equal to the
//              width): one cudaMemcpyAsync of rows * width bytes, whatever the size
//   Pitched2D  both pitches below the device's maximum pitch (cudaDevAttrMaxPitch, 2^31 - 1
//              bytes on current GPUs; cudaMemcpy2D refuses larger ones): one cudaMemcpy2DAsync
//   PerRow     a pitch too large for the 2-D copy and at most kMaxRowCopies rows: one
//              cudaMemcpyAsync per row (the usual case: a buffer of rows * pitch bytes with a
//              pitch past 2 GiB has few rows, e.g. the head outputs of 32 COCO images)
//   Kernel     a pitch too large and many rows: a grid-stride kernel, one thread per element
//
// Every size is 64-bit and computed before any narrowing: rows of more than 2^31 bytes are real.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ghm::cuda {

enum class SliceCopyMethod { None, Flat, Pitched2D, PerRow, Kernel };

// Above this many rows a too-large pitch is copied by the kernel rather than row by row.
constexpr std::int64_t kMaxRowCopies = 64;

struct SliceCopyPlan {
  SliceCopyMethod method = SliceCopyMethod::None;
  std::int64_t rows = 0;        // outer
  std::int64_t width = 0;       // bytes per row
  std::int64_t src_pitch = 0;   // bytes
  std::int64_t dst_pitch = 0;   // bytes
  std::int64_t src_offset = 0;  // bytes to the slice's first element in the source
  std::int64_t dst_offset = 0;  // bytes to the slice's first element in the destination
  std::int64_t elem_bytes = 0;
};

// max_pitch: the device's cudaDevAttrMaxPitch; a pitch is usable by the 2-D copy when below it.
inline SliceCopyPlan plan_slice_copy(std::int64_t outer, std::int64_t inner, std::int64_t len_src,
                                     std::int64_t src_start, std::int64_t len_dst, std::int64_t dst_start,
                                     std::int64_t len, std::size_t elem_bytes, std::int64_t max_pitch) {
  SliceCopyPlan p;
  p.elem_bytes = static_cast<std::int64_t>(elem_bytes);
  p.rows = outer;
  p.width = len * inner * p.elem_bytes;
  p.src_pitch = len_src * inner * p.elem_bytes;
  p.dst_pitch = len_dst * inner * p.elem_bytes;
  p.src_offset = src_start * inner * p.elem_bytes;
  p.dst_offset = dst_start * inner * p.elem_bytes;
  if (p.rows <= 0 || p.width <= 0) {
    p.method = SliceCopyMethod::None;
  } else if (p.rows == 1 || (p.src_pitch == p.width && p.dst_pitch == p.width)) {
    p.method = SliceCopyMethod::Flat;
  } else if (p.src_pitch < max_pitch && p.dst_pitch < max_pitch) {
    p.method = SliceCopyMethod::Pitched2D;
  } else if (p.rows <= kMaxRowCopies) {
    p.method = SliceCopyMethod::PerRow;
  } else {
    p.method = SliceCopyMethod::Kernel;
  }
  return p;
}

}  // namespace ghm::cuda
