#pragma once
// Memory for tensors. Plain allocations own their bytes; an Arena hands out slices of one block so
// the activations of a forward pass cost no malloc after the first pass (planned once, reused every
// step).
#include <cstddef>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "pipeline/tensor/device.h"

namespace reel {

// Owner of a tensor's bytes: data stays valid while any copy of the shared_ptr lives.
struct Buffer {
  std::shared_ptr<void> owner;  // releases the memory (free, munmap, arena block, cudaFree, ...)
  void* data = nullptr;
  size_t bytes = 0;
};

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual absl::StatusOr<Buffer> Allocate(size_t bytes) = 0;
  // Where the memory lives: tensors allocated here are on this device.
  virtual Device device() const { return Device::Cpu(); }
};

// 64-byte aligned heap memory.
class CpuAllocator final : public Allocator {
 public:
  absl::StatusOr<Buffer> Allocate(size_t bytes) override;
  static CpuAllocator& Default();  // stateless, so sharing it is not shared mutable state
};

// Bump allocator over growing blocks. Reset() makes all memory reusable: tensors allocated before a
// Reset must no longer be used (their bytes keep the block alive, but may be overwritten). After
// the first pass, the arena coalesces into one block big enough for the whole pass.
class Arena final : public Allocator {
 public:
  explicit Arena(size_t initial_bytes = 1 << 20);
  absl::StatusOr<Buffer> Allocate(size_t bytes) override;
  void Reset();
  size_t high_water_bytes() const { return high_water_; }
  size_t capacity_bytes() const;

 private:
  struct Block {
    std::shared_ptr<void> memory;
    size_t size = 0;
  };
  std::vector<Block> blocks_;
  size_t offset_ = 0;  // into blocks_.back()
  size_t used_ = 0;    // total in this pass
  size_t high_water_ = 0;
};

}  // namespace reel
