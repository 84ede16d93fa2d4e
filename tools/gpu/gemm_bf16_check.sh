#!/bin/bash
# The CUDA kernels' GPU check (the bf16 GEMM of issue 19 first) in one device call: build and pack
# on this machine, run on the lent GPU machine, which has the CUDA toolkit but none of our Debian
# libraries.
#
#   tools/gpu/gemm_bf16_check.sh pack   # here: builds the CUDA kernel tests and the bf16 GEMM
#                                       # benchmark and packs them with the shared libraries ldd
#                                       # lists (glibc excluded) into build/gpu-carry/check.tgz
#                                       # (~30 MB; the device tool carries 64 MiB at most)
#   tools/gpu/gemm_bf16_check.sh run    # there (device tool: carry ["build/gpu-carry"]): every
#                                       # CUDA kernel test, then the benchmark; writes tests.txt
#                                       # (one line per test binary), tests.log, gpu.txt and
#                                       # gemm_bf16_bench.{json,log} under $OUT (~2 minutes)
# cuBLAS/cuBLASLt are opened with dlopen at first use, so they are not carried: `run` puts the
# device machine's own CUDA 13 libraries on LD_LIBRARY_PATH.
set -euo pipefail
cd "$(dirname "$0")/../.."
carry=build/gpu-carry

pack() {
  local targets=(reel_bench_gemm_bf16_cuda)
  local t
  for t in tests/kernels/cuda/cuda_*_test.cc; do
    t=$(basename "$t" .cc)
    targets+=("reel_kernels_${t}")
  done
  nice -n 10 cmake --build build -j2 --target "${targets[@]}"
  local stage=build/gpu-stage
  rm -rf "$carry" "$stage"
  mkdir -p "$carry" "$stage/bin" "$stage/lib"
  cp build/bench/reel_bench_gemm_bf16_cuda "$stage/bin/"
  cp build/tests/kernels/cuda/reel_kernels_cuda_*_test "$stage/bin/"
  # Every library the binaries link, except glibc's (the device machine's newer glibc serves).
  ldd "$stage"/bin/* | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u |
    grep -Ev '/(libc|libm|libdl|libpthread|librt|ld-linux[^/]*)\.so' |
    while read -r lib; do cp -L "$lib" "$stage/lib/"; done
  # Compressed: OpenBLAS and oneDNN (the CPU references) alone are 73 MB.
  tar -C "$stage" -czf "$carry/check.tgz" bin lib
  rm -rf "$stage"
  du -h "$carry/check.tgz"
}

run() {
  : "${OUT:?set OUT to the output directory}"
  local root=/tmp/reel-gpu-check
  rm -rf "$root" && mkdir -p "$root" && tar -C "$root" -xzf "$carry/check.tgz"
  local dirs="$root/lib" d
  for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
    "$(python3 -c 'import nvidia.cublas, os; print(os.path.dirname(nvidia.cublas.__file__) + "/lib")' 2>/dev/null || true)"; do
    [[ -n "$d" && -d "$d" ]] && dirs="$dirs:$d"
  done
  export LD_LIBRARY_PATH="$dirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt" || true
  local failed=0 test name
  for test in "$root"/bin/reel_kernels_cuda_*_test; do
    name=$(basename "$test")
    echo "=== $name" >>"$OUT/tests.log"
    if timeout 300 "$test" >"$root/$name.log" 2>&1; then
      echo "PASS $name: $(grep -E '^\[ +(PASSED|SKIPPED|FAILED) +\] [0-9]+ test' "$root/$name.log" | tr '\n' ' ')"
    else
      echo "FAIL $name"; tail -40 "$root/$name.log"
    fi
    cat "$root/$name.log" >>"$OUT/tests.log"
  done | tee "$OUT/tests.txt"
  grep -q '^FAIL' "$OUT/tests.txt" && failed=1
  timeout 300 "$root/bin/reel_bench_gemm_bf16_cuda" >"$OUT/gemm_bf16_bench.json" \
    2>"$OUT/gemm_bf16_bench.log" || { echo "benchmark failed"; tail -20 "$OUT/gemm_bf16_bench.log"; failed=1; }
  cat "$OUT/gemm_bf16_bench.json"
  return "$failed"
}

case "${1:-}" in
  pack) pack ;;
  run) run ;;
  *) echo "usage: $0 pack|run" >&2; exit 2 ;;
esac
