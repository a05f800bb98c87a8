// Greedy and class-wise NMS on CUDA: the bitmask algorithm of torchvision's CUDA kernel, with the
// order, the IoU and the result of the CPU kernel (detection/nms.h has the rule).
//
//   1. keys   key[i] = (descending_bits(score[i]) << 32) | i, one u64 per box. Sorting the keys
//             ascending (cub::DeviceRadixSort) lists the boxes by score descending and equal
//             scores by index ascending: the CPU's stable sort. The keys are distinct, so the
//             order does not even rest on the sort's stability. -0 and +0 get one key (the
//             CPU's `>` calls them equal). A NaN score is recorded (an integer atomicMin of its
//             index: deterministic) and reported after the run, as the CPU's check does.
//   2. masks  sorted position k lies in word block k / 64; C = ceil(N / 64) blocks. For row i and
//             column block c >= i / 64:
//               mask[i, c] bit t = 1  <=>  j = 64 c + t > i, j < N, class(i) = class(j) (batched),
//                                          and IoU(i, j) > thr
//               IoU(i, j) = inter / (area_i + area_j - inter)     no eps: 0 / 0 = NaN keeps both
//             Grid (C, C) of 64-thread blocks: block (c, r) with c >= r stages column block c's
//             boxes in shared memory and thread t computes row 64 r + t. Blocks with c < r exit
//             at once: their words are never read.
//   3. scan   one block of 256 threads walks the word blocks in order; removed[C] holds the
//             suppression bits of the boxes kept so far. For block b, thread 0 walks its <= 64
//             rows serially on the diagonal words mask[64 b + t, b] (staged in shared memory):
//             row t is kept unless removed, and a kept row ORs its diagonal word into the
//             running word. Then all threads OR the kept rows' words mask[64 b + t, c] into
//             removed[c] for the later blocks c > b (thread k owns c = k, k + 256, ...).
//             The kept boxes are written in order, as original indices.
//
// Batched NMS: boxes of different classes never suppress each other (their bits are 0) and the
// greedy pass runs in the global order. Within a class that order is the class's own score order,
// and only a kept box of its class can remove a box, so each class keeps exactly what a separate
// NMS over it keeps (the CPU's per-class runs), and the union comes out in the global score order
// that the CPU sorts it into. No coordinate offsets, so no rounding of shifted boxes.
//
// Rounding: the IoU is written with box_area / box_intersection (detection/iou.h) in the CPU
// kernel's order; this file is compiled with --fmad=false and detection/nms.cpp with
// -ffp-contract=off (detection/CMakeLists.txt), so both sides compute the same float32 IoU and
// every decision `IoU > thr` is the CPU's.
//
// Synchronisation: one device-to-host copy at the end, of {kept count, first NaN index}, to size
// the result (an NMS keeps a data-dependent number of boxes). Memory: the mask, N * C words
// (5000 boxes: 3.2 MB), the sort keys and CUB's scratch, all device tensors (caching allocator).
#include "detection/cuda/nms_cuda.h"

#include <cub/device/device_radix_sort.cuh>

#include <algorithm>

#include "detection/cuda/grid_stride_cuda.h"
#include "detection/iou.h"  // box_area, box_intersection

namespace ghm::detection::cuda {
namespace {

using Key = unsigned long long;   // (descending score bits << 32) | box index
using Word = unsigned long long;  // 64 suppression bits

constexpr int kWordBits = 64;     // boxes per mask word; also the mask kernel's block size
constexpr int kScanThreads = 256;
// C mask blocks form the grid's y extent (at most 65535); the index fits the key's low 32 bits.
constexpr std::int64_t kMaxBoxes = std::int64_t{65535} * kWordBits;
constexpr Word kNoNan = ~Word{0};

__device__ __forceinline__ std::int64_t index_of(Key key) { return static_cast<std::int64_t>(key & 0xffffffffULL); }

// An order-reversing map of a non-NaN float to 32 bits: a larger score gives a smaller value.
__device__ __forceinline__ unsigned int descending_bits(float score) {
  unsigned int u = __float_as_uint(score);
  if (u == 0x80000000u) u = 0u;  // -0 -> +0
  const unsigned int ascending = (u & 0x80000000u) != 0u ? ~u : (u | 0x80000000u);
  return ~ascending;
}

__global__ void score_keys_kernel(const float* __restrict__ scores,  // [N]
                                  std::int64_t n,
                                  Key* __restrict__ keys,        // [N]
                                  Word* __restrict__ first_nan) {  // [1], kNoNan on entry
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) {
    const float s = scores[i];
    if (s != s) atomicMin(first_nan, static_cast<Word>(i));  // NaN: the only value unequal to itself
    keys[i] = (static_cast<Key>(descending_bits(s)) << 32) | static_cast<Key>(i);
  }
}

// ClassId: the class id type; class_ids == nullptr means one class (plain NMS).
template <class ClassId>
__global__ void nms_mask_kernel(const float* __restrict__ boxes,        // [N, 4]
                                const ClassId* __restrict__ class_ids,  // [N] or null
                                const Key* __restrict__ sorted,         // [N] keys, ascending
                                std::int64_t n, float iou_threshold,
                                Word* __restrict__ mask) {  // [N, C], C = gridDim.x
  const auto col_block = static_cast<std::int64_t>(blockIdx.x), row_block = static_cast<std::int64_t>(blockIdx.y);
  if (col_block < row_block) return;
  const auto col_blocks = static_cast<std::int64_t>(gridDim.x);
  const std::int64_t row_start = row_block * kWordBits, col_start = col_block * kWordBits;
  const int rows = static_cast<int>(min(n - row_start, std::int64_t{kWordBits}));
  const int cols = static_cast<int>(min(n - col_start, std::int64_t{kWordBits}));
  const bool by_class = class_ids != nullptr;

  __shared__ float col_box[kWordBits][4];
  __shared__ float col_area[kWordBits];
  __shared__ ClassId col_class[kWordBits];
  const int t = static_cast<int>(threadIdx.x);
  if (t < cols) {
    const std::int64_t j = index_of(sorted[col_start + t]);
    for (int k = 0; k < 4; ++k) col_box[t][k] = boxes[4 * j + k];
    col_area[t] = box_area(col_box[t]);
    if (by_class) col_class[t] = class_ids[j];
  }
  __syncthreads();
  if (t >= rows) return;

  const std::int64_t row = row_start + t;
  const std::int64_t i = index_of(sorted[row]);
  const float box[4] = {boxes[4 * i], boxes[4 * i + 1], boxes[4 * i + 2], boxes[4 * i + 3]};
  const float area = box_area(box);
  const ClassId cls = by_class ? class_ids[i] : ClassId{0};
  Word bits = 0;
  for (int c = col_block == row_block ? t + 1 : 0; c < cols; ++c) {
    if (by_class && col_class[c] != cls) continue;
    const float inter = box_intersection(box, col_box[c]);
    // detection/nms.cpp's expression: (area_i + area_j) - inter, then the division.
    if (inter / (area + col_area[c] - inter) > iou_threshold) bits |= Word{1} << c;
  }
  mask[row * col_blocks + col_block] = bits;
}

__global__ void nms_scan_kernel(const Word* __restrict__ mask,  // [N, C]
                                const Key* __restrict__ sorted,  // [N] keys, ascending
                                std::int64_t n, std::int64_t col_blocks,
                                Word* __restrict__ removed,      // [C] scratch
                                std::int64_t* __restrict__ keep,  // [N]: the first `count` are written
                                Word* __restrict__ count) {       // [1]
  __shared__ Word diagonal[kWordBits];
  __shared__ Word kept_rows;
  const int t = static_cast<int>(threadIdx.x);
  for (std::int64_t c = t; c < col_blocks; c += kScanThreads) removed[c] = 0;
  std::int64_t kept_count = 0;  // used by thread 0 only
  for (std::int64_t b = 0; b < col_blocks; ++b) {
    const std::int64_t row_start = b * kWordBits;
    const int rows = static_cast<int>(min(n - row_start, std::int64_t{kWordBits}));
    if (t < kWordBits) diagonal[t] = t < rows ? mask[(row_start + t) * col_blocks + b] : Word{0};
    __syncthreads();  // diagonal staged; removed[b] final (its owner wrote it before this barrier)
    if (t == 0) {
      Word removed_here = removed[b], kept = 0;
      for (int r = 0; r < rows; ++r) {
        if ((removed_here >> r) & Word{1}) continue;
        kept |= Word{1} << r;
        removed_here |= diagonal[r];
        keep[kept_count++] = index_of(sorted[row_start + r]);
      }
      kept_rows = kept;
    }
    __syncthreads();  // kept_rows published
    const Word kept = kept_rows;
    for (std::int64_t c = t; c < col_blocks; c += kScanThreads) {
      if (c <= b) continue;
      Word acc = removed[c];
      for (Word bits = kept; bits != 0; bits &= bits - 1) {
        const int r = __ffsll(static_cast<long long>(bits)) - 1;
        acc |= mask[(row_start + r) * col_blocks + c];
      }
      removed[c] = acc;
    }
  }
  if (t == 0) count[0] = static_cast<Word>(kept_count);
}

template <class ClassId>
Tensor nms_impl(const float* boxes, const float* scores, const ClassId* class_ids, std::int64_t n,
                float iou_threshold, int device, const char* op) {
  const Device dev = Device::cuda(device);
  if (n == 0) return Tensor::empty(Shape{0}, DType::I64, dev);
  GHM_CHECK(n <= kMaxBoxes, op, ": ", n, " boxes exceed the CUDA kernel's limit of ", kMaxBoxes);
  const std::int64_t col_blocks = (n + kWordBits - 1) / kWordBits;

  // status[0]: the kept count (written by the scan); status[1]: the first NaN score's index.
  Tensor status = Tensor::empty(Shape{2}, DType::I64, dev);
  auto* status_words = reinterpret_cast<Word*>(status.device_data<std::int64_t>());
  GHM_CUDA_CHECK(cudaMemsetAsync(status_words, 0xff, 2 * sizeof(Word)));

  Tensor keys = Tensor::empty(Shape{n}, DType::I64, dev), sorted = Tensor::empty(Shape{n}, DType::I64, dev);
  auto* keys_in = reinterpret_cast<Key*>(keys.device_data<std::int64_t>());
  auto* keys_out = reinterpret_cast<Key*>(sorted.device_data<std::int64_t>());
  score_keys_kernel<<<blocks_for(n), kThreads>>>(scores, n, keys_in, status_words + 1);
  GHM_CUDA_CHECK_LAUNCH();

  const int items = static_cast<int>(n);  // n <= kMaxBoxes < 2^31
  std::size_t scratch_bytes = 0;
  GHM_CUDA_CHECK(cub::DeviceRadixSort::SortKeys(nullptr, scratch_bytes, keys_in, keys_out, items));
  // At least one byte: a null scratch pointer would turn the second call into a size query.
  Tensor scratch =
      Tensor::empty(Shape{static_cast<std::int64_t>(std::max<std::size_t>(scratch_bytes, 1))}, DType::U8, dev);
  GHM_CUDA_CHECK(cub::DeviceRadixSort::SortKeys(scratch.raw_device_data(), scratch_bytes, keys_in, keys_out, items));

  Tensor mask = Tensor::empty(Shape{n, col_blocks}, DType::I64, dev);
  auto* mask_words = reinterpret_cast<Word*>(mask.device_data<std::int64_t>());
  const dim3 grid(static_cast<unsigned>(col_blocks), static_cast<unsigned>(col_blocks));
  nms_mask_kernel<ClassId><<<grid, kWordBits>>>(boxes, class_ids, keys_out, n, iou_threshold, mask_words);
  GHM_CUDA_CHECK_LAUNCH();

  Tensor removed = Tensor::empty(Shape{col_blocks}, DType::I64, dev);
  Tensor keep = Tensor::empty(Shape{n}, DType::I64, dev);
  nms_scan_kernel<<<1, kScanThreads>>>(mask_words, keys_out, n, col_blocks,
                                       reinterpret_cast<Word*>(removed.device_data<std::int64_t>()),
                                       keep.device_data<std::int64_t>(), status_words);
  GHM_CUDA_CHECK_LAUNCH();

  // The one synchronising copy (the legacy default stream waits for the kernels above).
  Word host_status[2] = {0, 0};
  GHM_CUDA_CHECK(cudaMemcpy(host_status, status_words, sizeof(host_status), cudaMemcpyDeviceToHost));
  GHM_CHECK(host_status[1] == kNoNan, op, ": scores[", host_status[1], "] is NaN");
  const auto kept = static_cast<std::int64_t>(host_status[0]);
  if (kept == n) return keep;
  Tensor out = Tensor::empty(Shape{kept}, DType::I64, dev);
  if (kept > 0)
    GHM_CUDA_CHECK(cudaMemcpyAsync(out.raw_device_data(), keep.raw_device_data(),
                                   static_cast<std::size_t>(kept) * sizeof(std::int64_t), cudaMemcpyDeviceToDevice));
  return out;
}

}  // namespace

Tensor nms(const float* boxes, const float* scores, std::int64_t n, float iou_threshold, int device) {
  return nms_impl<std::int64_t>(boxes, scores, nullptr, n, iou_threshold, device, "nms");
}

Tensor batched_nms(const float* boxes, const float* scores, const std::int64_t* class_ids, std::int64_t n,
                   float iou_threshold, int device) {
  return nms_impl(boxes, scores, class_ids, n, iou_threshold, device, "batched_nms");
}

Tensor batched_nms(const float* boxes, const float* scores, const std::int32_t* class_ids, std::int64_t n,
                   float iou_threshold, int device) {
  return nms_impl(boxes, scores, class_ids, n, iou_threshold, device, "batched_nms");
}

}  // namespace ghm::detection::cuda
