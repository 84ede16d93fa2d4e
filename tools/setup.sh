#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for reel and builds it (Release). Idempotent and non-interactive.
#   tools/setup.sh            install packages (if missing) + configure + build into build/
#   REEL_BUILD_DIR=dir ...    another build directory;  REEL_CMAKE_ARGS="-DREEL_CUDA=OFF" ... extra flags
#   REEL_PACKAGES=build ...   only the packages the binaries need to compile (deploy/Dockerfile)
#   REEL_SETUP_ONLY_PACKAGES=1  install the packages, do not configure or build
set -euo pipefail
cd "$(dirname "$0")/.."

# What compiling reel's binaries needs (the image's build stage installs only these: REEL_PACKAGES=build).
BUILD_PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libopencv-dev libavcodec-dev libavformat-dev libavutil-dev libswscale-dev
  libgloo-dev libopenblas-dev libopenblas-openmp-dev libdnnl-dev
  libsqlite3-dev libpq-dev libmicrohttpd-dev libssl-dev nlohmann-json3-dev
  libsentencepiece-dev libicu-dev
)
# Tests, benchmarks, fuzzing, formatting, the PyTorch reference and the deploy/ checks.
DEV_PACKAGES=(
  ccache git clang libclang-rt-14-dev clang-format clang-tidy ffmpeg openssl unzip postgresql-15
  libgtest-dev libgmock-dev libbenchmark-dev
  python3-torch python3-numpy python3-grpcio python3-protobuf
  sentencepiece python3-sentencepiece
)
PACKAGES=("${BUILD_PACKAGES[@]}")
if [ "${REEL_PACKAGES:-all}" != build ]; then
  PACKAGES+=("${DEV_PACKAGES[@]}")
  # Oracles of the HTTP/JSON API and browser tests (curl, a real headless browser).
  PACKAGES+=(curl chromium)
  # The deploy/ schema check runs on Node.js; a machine image may bring its own (NodeSource), which
  # Debian's npm package would conflict with, so Debian's is only the fallback.
  command -v npm >/dev/null || PACKAGES+=(nodejs npm)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ -n "${REEL_SETUP_ONLY_PACKAGES:-}" ]; then exit 0; fi

# The deploy/ schema validator's npm packages, exactly as pinned in its lockfile (npm ci; from npm's
# cache when they are there). Skipped when the lockfile has not changed since the last install.
if [ "${REEL_PACKAGES:-all}" != build ] && command -v npm >/dev/null; then
  stamp=deploy/validate/node_modules/.reel-lock-sha
  lock_sha=$(sha256sum deploy/validate/package-lock.json | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sha" ]; then
    npm ci --prefix deploy/validate --prefer-offline --no-audit --no-fund --loglevel=error
    echo "$lock_sha" >"$stamp"
  fi
fi

BUILD_DIR="${REEL_BUILD_DIR:-build}"
# shellcheck disable=SC2086
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release ${REEL_CMAKE_ARGS:-}
CCACHE_BASEDIR="$PWD" cmake --build "$BUILD_DIR" -j"$(nproc)"
