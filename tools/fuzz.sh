#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (+ASan/UBSan, the libraries instrumented too) and runs each.
#   tools/fuzz.sh [SECONDS]      each target SECONDS (default 15: about 75 s for all five, CI's run)
#   tools/fuzz.sh --long [SEC]   each target SEC, default 600 (the issue's ≥ 10 minutes)
#   REEL_FUZZ_TARGETS="tokenizer model_config" tools/fuzz.sh ...   only these
# Seeds: tests/fuzz/corpus/<target>/ (committed); the growing corpus: build-fuzz/corpus/<target>/.
# A crash leaves its input in build-fuzz/crashes/<target>/ and fails the run; turn it into a
# regression test next to the parser's unit tests and fix it (tests/fuzz/README.md).
# Per target it prints the coverage (cov: edges, ft: features) and executions of the run, also
# written to build-fuzz/fuzz-summary.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=15
if [ "${1:-}" = --long ]; then secs="${2:-600}"; elif [ -n "${1:-}" ]; then secs="$1"; fi
read -r -a targets <<<"${REEL_FUZZ_TARGETS:-safetensors model_config tokenizer generate_request http_json}"
declare -A max_len=([safetensors]=4096 [model_config]=4096 [tokenizer]=2048 [generate_request]=1024 [http_json]=2048)
declare -A dict=([model_config]=tests/fuzz/json.dict [tokenizer]=tests/fuzz/json.dict
               [http_json]=tests/fuzz/json.dict)

cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ -DREEL_FUZZ=ON -DREEL_SANITIZE=ON -DREEL_CUDA=OFF \
  -DREEL_BUILD_BENCH=OFF -DREEL_UNIT_ONLY=OFF >/dev/null
build_targets=()
for t in "${targets[@]}"; do build_targets+=(--target "reel_fuzz_$t"); done
CCACHE_BASEDIR="$PWD" cmake --build build-fuzz -j"$(nproc)" "${build_targets[@]}"

summary=build-fuzz/fuzz-summary.txt
: >"$summary"
failed=0
for t in "${targets[@]}"; do
  corpus="build-fuzz/corpus/$t" crashes="build-fuzz/crashes/$t" log="build-fuzz/fuzz-$t.log"
  mkdir -p "$corpus" "$crashes"
  cp -n tests/fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
  args=(-max_total_time="$secs" -max_len="${max_len[$t]}" -rss_limit_mb=2048 -timeout=25
        -print_final_stats=1 -artifact_prefix="$crashes/")
  [ -n "${dict[$t]:-}" ] && args+=(-dict="${dict[$t]}")
  echo "fuzz: $t for ${secs}s"
  # New inputs go to the first directory; the crash regressions are read (and run) first.
  dirs=("$corpus")
  [ -d "tests/fuzz/regressions/$t" ] && dirs+=("tests/fuzz/regressions/$t")
  if ! build-fuzz/tests/fuzz/reel_fuzz_"$t" "${args[@]}" "${dirs[@]}" >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz: $t FAILED; the input is in $crashes/"
    failed=1
  fi
  # The last status line has the final coverage; the final stats the executions.
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n1)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  line="$t: ${cov:-cov: ?} execs: ${execs:-?} (${rate:-?}/s) in ${secs}s, corpus $(find "$corpus" -type f | wc -l) inputs"
  echo "fuzz: $line"
  echo "$line" >>"$summary"
done
exit "$failed"
