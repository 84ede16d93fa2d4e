#!/usr/bin/env bash
# Peak RSS of loading the official SANA-Video 2B transformer in bf16, on a random checkpoint of the
# real shapes (written once, ~4.2 GB, to DIR; default /tmp/reel-sana-2b). Not part of ctest.
#   bench/checkpoint_memory.sh [DIR]      (after tools/setup.sh; REEL_BUILD_DIR=build by default)
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-/tmp/reel-sana-2b}"
build="${REEL_BUILD_DIR:-build}"
if [ ! -f "$dir/transformer/config.json" ]; then
  nice -n 10 /usr/bin/python3 tools/reference/write_sana_checkpoint.py --transformer-2b "$dir"
fi
cmake --build "$build" --target reel_bench_checkpoint_memory >/dev/null
"$build/bench/reel_bench_checkpoint_memory" "$dir"
