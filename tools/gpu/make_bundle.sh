#!/usr/bin/env bash
# Builds what tools/gpu/check.sh runs on a lent GPU machine and packs it with every shared library
# it loads (ldd), so that it runs on a machine without our Debian packages:
#   tools/gpu/make_bundle.sh [BUILD_DIR=build]   ->  gpu-bundle.tar.xz in the repository root
# The machine's own driver (libcuda) and cuBLAS (dlopened; the CUDA image has it) are not packed.
# The device tool carries the working tree, at most 64 MiB in all: the script prints the size.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
tests=(
  tests/kernels/cuda/reel_kernels_cuda_probe_test
  tests/tensor/tensor_ops_cuda_test
  tests/model/dit_cuda_test
)
for t in "$build"/tests/kernels/cuda/reel_kernels_cuda_*_test "$build"/tests/model/*cuda*_test; do
  rel=${t#"$build"/}
  [[ " ${tests[*]} " == *" $rel "* ]] || tests+=("$rel")
done
benches=(bench/reel_bench_dit_cuda bench/reel_bench_sla_cuda)
for b in "$build"/bench/reel_bench_gemm_bf16_cuda; do [ -e "$b" ] && benches+=("${b#"$build"/}"); done
targets=()
for f in "${tests[@]}" "${benches[@]}"; do targets+=("$(basename "$f")"); done
cmake --build "$build" -j2 --target "${targets[@]}"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/tests" "$stage/bin" "$stage/lib"
for f in "${tests[@]}"; do strip -o "$stage/tests/$(basename "$f")" "$build/$f"; done
for f in "${benches[@]}"; do strip -o "$stage/bin/$(basename "$f")" "$build/$f"; done
# Every library the binaries load, except the driver's (it must match the machine's kernel module).
for f in "$stage"/tests/* "$stage"/bin/*; do
  ldd "$f" | awk '/=>/ {print $3} /ld-linux/ && !/=>/ {print $1}'
done | sort -u | while read -r lib; do
  case "$(basename "$lib")" in
    libcuda.so*|libnvidia-*|linux-vdso*) ;;
    ld-linux-x86-64.so.2) cp -L "$lib" "$stage/lib/ld-linux-x86-64.so.2" ;;
    *) cp -L "$lib" "$stage/lib/" ;;
  esac
done
for lib in "$stage"/lib/lib*.so*; do strip --strip-unneeded "$lib" 2>/dev/null || true; done
tar -C "$stage" -cJf gpu-bundle.tar.xz tests bin lib
echo "gpu-bundle.tar.xz: $(du -h gpu-bundle.tar.xz | cut -f1) ($(ls "$stage/tests" | wc -l) tests," \
  "$(ls "$stage/bin" | wc -l) benchmarks, $(ls "$stage/lib" | wc -l) libraries)"
