// `reel version`: what this binary is and which backends it can use here.
#include <cstdio>
#include <string_view>
#include <vector>

#include "pipeline/tensor/device.h"
#include "tools/reel/command.h"

namespace reel::cli {
namespace {

int RunVersion(const std::vector<std::string_view>& args) {
  const BackendInfo b = DescribeBackends();
  std::printf("reel %s (%s build, %s, C++%ld)\n", REEL_VERSION, REEL_BUILD_TYPE, __VERSION__,
              __cplusplus / 100 % 100);
  std::printf("cpu:  %s, %d threads\n", b.cpu_isa.c_str(), b.cpu_threads);
  if (b.cuda_available) {
    std::printf("cuda: available (%s)\n", b.cuda_detail.c_str());
  } else {
    std::printf("cuda: %s; using the CPU backend (%s)\n",
                b.cuda_built ? "built but not usable" : "not built", b.cuda_detail.c_str());
  }
  return 0;
}

}  // namespace
REEL_COMMAND("version", "print the version, build and available backends (CPU ISA, CUDA)",
             RunVersion);
}  // namespace reel::cli
