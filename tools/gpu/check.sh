#!/usr/bin/env bash
# Issue 19's whole GPU run, in one call on a lent GPU machine (from the repository root, with
# gpu-bundle.tar.xz from tools/gpu/make_bundle.sh in the carried tree):
#   OUT=/path bash tools/gpu/check.sh [budget seconds, default 420]
# 1. every CUDA test against the CPU (kernels, tensor ops, DiT, reel-tiny's text encoder and VAE),
# 2. the bf16 GEMM peak and reel's GEMMs at the 2B DiT's shapes,
# 3. the 2B-shaped DiT benchmark (bidirectional 480x832 and 720x1280, long mode) in bf16,
# 4. the same model in PyTorch (tools/gpu/torch_baseline.py) side by side.
# Writes at most 8 files under OUT (the device tool returns no more): check.log (everything, in
# order), tests.txt (one line per test binary), gemm.json, dit.json, torch.json.
set -uo pipefail
cd "$(dirname "$0")/../.."
: "${OUT:?set OUT to the output directory}"
budget=${1:-420}
start=$(date +%s)
log="$OUT/check.log"
left() { echo $((budget - ($(date +%s) - start))); }
say() { echo "== $* ($(($(date +%s) - start)) s)" | tee -a "$log"; }

say "machine"
{ nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv; nproc;
  python3 -c 'import torch; print("torch", torch.__version__, torch.version.cuda)'; } >>"$log" 2>&1

bundle=/tmp/reel-gpu
rm -rf "$bundle" && mkdir -p "$bundle" && tar -C "$bundle" -xJf gpu-bundle.tar.xz || {
  say "no gpu-bundle.tar.xz (run tools/gpu/make_bundle.sh first)"; exit 1; }
# cuBLAS is dlopened by soname: the CUDA image's copy (toolkit or the nvidia-cublas wheel).
cublas=$(find /usr/local/cuda*/ /usr/lib /opt -name 'libcublasLt.so.13*' 2>/dev/null | head -1)
libpath="$bundle/lib:/usr/local/nvidia/lib64:/usr/local/nvidia/lib:${cublas:+$(dirname "$cublas")}"
say "cublas from ${cublas:-nowhere (GEMM tests will fail)}"

say "tests"
: >"$OUT/tests.txt"
for t in "$bundle"/tests/*; do
  name=$(basename "$t")
  timeout 300 "$bundle/lib/ld-linux-x86-64.so.2" --library-path "$libpath" "$t" \
    >"/tmp/$name.log" 2>&1
  rc=$?
  summary=$(grep -E '^\[  (PASSED|FAILED|SKIPPED) *\] [0-9]+ tests?' "/tmp/$name.log" |
    sed -E 's/^\[ *([A-Z]+) *\] ([0-9]+) tests?.*/\2 \1/' | tr '\n' ' ')
  echo "$name rc=$rc $summary" | tee -a "$OUT/tests.txt"
  # Failures and skips in full; passes by count only (the log stays readable).
  if [ "$rc" != 0 ] || grep -q SKIPPED "/tmp/$name.log"; then cat "/tmp/$name.log" >>"$log"; fi
done

if [ -x "$bundle/bin/reel_bench_gemm_bf16_cuda" ]; then
  say "gemm"
  timeout 120 "$bundle/lib/ld-linux-x86-64.so.2" --library-path "$libpath" \
    "$bundle/bin/reel_bench_gemm_bf16_cuda" --json "$OUT/gemm.json" >>"$log" 2>&1
  echo "rc=$?" >>"$log"
fi

say "dit bf16 (2B shape)"
timeout $(( $(left) > 60 ? $(left) - 60 : 30 )) \
  "$bundle/lib/ld-linux-x86-64.so.2" --library-path "$libpath" "$bundle/bin/reel_bench_dit_cuda" \
  --device cuda --precision bf16 --shape sana2b --out "$OUT/dit.json" \
  --budget-seconds $(( $(left) > 120 ? $(left) - 120 : 30 )) >>"$log" 2>&1
echo "rc=$?" >>"$log"

say "pytorch baseline"
if [ -f tools/gpu/torch_baseline.py ]; then
  timeout $(( $(left) > 20 ? $(left) - 10 : 10 )) python3 tools/gpu/torch_baseline.py \
    --device cuda --shape sana2b --dtype bf16 --out "$OUT/torch.json" \
    --budget-seconds $(( $(left) > 40 ? $(left) - 30 : 10 )) >>"$log" 2>&1
  echo "rc=$?" >>"$log"
fi
say "done"
