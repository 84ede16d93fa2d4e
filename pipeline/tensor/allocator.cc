#include "pipeline/tensor/allocator.h"

#include <malloc.h>

#include <algorithm>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace reel {
namespace {

constexpr size_t kAlignment = 64;

size_t RoundUp(size_t n) { return (n + kAlignment - 1) / kAlignment * kAlignment; }

absl::StatusOr<std::shared_ptr<void>> AlignedBlock(size_t bytes) {
  void* p = std::aligned_alloc(kAlignment, RoundUp(std::max<size_t>(bytes, 1)));
  if (p == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("out of memory allocating ", bytes, " bytes"));
  }
  return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}

}  // namespace

absl::StatusOr<Buffer> CpuAllocator::Allocate(size_t bytes) {
  absl::StatusOr<std::shared_ptr<void>> block = AlignedBlock(bytes);
  if (!block.ok()) return block.status();
  void* data = block->get();
  return Buffer{*std::move(block), data, bytes};
}

CpuAllocator& CpuAllocator::Default() {
  // Activations churn through megabyte buffers every op. glibc serves those with mmap and returns
  // them with munmap, so every first write page-faults (~15% of a DiT block forward, measured with
  // perf). Keeping them in the heap makes a freed buffer the next op's buffer, as an arena would.
  static const bool tuned = [] {
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    return true;
  }();
  static CpuAllocator allocator;
  (void)tuned;
  return allocator;
}

Arena::Arena(size_t initial_bytes) {
  absl::StatusOr<std::shared_ptr<void>> block = AlignedBlock(initial_bytes);
  if (block.ok()) blocks_.push_back({*std::move(block), RoundUp(initial_bytes)});
}

absl::StatusOr<Buffer> Arena::Allocate(size_t bytes) {
  const size_t need = RoundUp(std::max<size_t>(bytes, 1));
  if (blocks_.empty() || offset_ + need > blocks_.back().size) {
    const size_t grow = std::max(need, blocks_.empty() ? need : blocks_.back().size * 2);
    absl::StatusOr<std::shared_ptr<void>> block = AlignedBlock(grow);
    if (!block.ok()) return block.status();
    blocks_.push_back({*std::move(block), grow});
    offset_ = 0;
  }
  Block& b = blocks_.back();
  void* data = static_cast<char*>(b.memory.get()) + offset_;
  offset_ += need;
  used_ += need;
  high_water_ = std::max(high_water_, used_);
  return Buffer{b.memory, data, bytes};
}

void Arena::Reset() {
  // Coalesce: one block that fits the largest pass seen, so later passes never allocate.
  if (blocks_.size() > 1 || (!blocks_.empty() && blocks_.back().size < high_water_)) {
    absl::StatusOr<std::shared_ptr<void>> block = AlignedBlock(high_water_);
    blocks_.clear();
    if (block.ok()) blocks_.push_back({*std::move(block), RoundUp(high_water_)});
  }
  offset_ = 0;
  used_ = 0;
}

size_t Arena::capacity_bytes() const {
  size_t total = 0;
  for (const Block& b : blocks_) total += b.size;
  return total;
}

}  // namespace reel
