#!/usr/bin/env bash
# The whole test suite: set up + build, run ctest, then the sanitizer build of the unit tests and a short
# fuzz run of every parser of outside input (tests/fuzz/README.md). `tools/test.sh --quick` runs ctest on the Release build only.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
# Two test processes share two cores: spinning OpenMP workers would starve each other (see tools/reel/main.cc).
export OMP_WAIT_POLICY=PASSIVE
ctest --test-dir build --output-on-failure -j2 --timeout 600
if [ "${1:-}" = "--quick" ]; then exit 0; fi

# Unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer (kernels, tensor, model).
REEL_BUILD_DIR=build-asan \
  REEL_CMAKE_ARGS="-DREEL_SANITIZE=ON -DREEL_UNIT_ONLY=ON -DREEL_CUDA=OFF -DREEL_BUILD_BENCH=OFF" \
  tools/setup.sh
ctest --test-dir build-asan --output-on-failure -j2 --timeout 900 -L "unit|reference|kernels"

# libFuzzer on the four parsers, 18 s each (~75 s; `tools/fuzz.sh --long` runs each for 10 minutes).
tools/fuzz.sh
