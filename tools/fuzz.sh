#!/usr/bin/env bash
# Builds the libFuzzer target for the safetensors parser with clang (+ASan/UBSan) and runs it for N seconds.
#   tools/fuzz.sh [seconds=60]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ -DREEL_FUZZ=ON -DREEL_SANITIZE=ON -DREEL_CUDA=OFF \
  -DREEL_BUILD_BENCH=OFF -DREEL_UNIT_ONLY=ON >/dev/null
CCACHE_BASEDIR="$PWD" cmake --build build-fuzz --target reel_fuzz_safetensors -j"$(nproc)"
corpus="build-fuzz/corpus"
mkdir -p "$corpus"
cp -n tests/fuzz/corpus/* "$corpus"/ 2>/dev/null || true
build-fuzz/tests/fuzz/reel_fuzz_safetensors -max_total_time="$secs" -max_len=4096 -rss_limit_mb=2048 \
  -print_final_stats=1 "$corpus"
echo "fuzz: safetensors parser survived ${secs}s"
