#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for reel and builds it (Release). Idempotent and non-interactive.
#   tools/setup.sh            install packages (if missing) + configure + build into build/
#   REEL_BUILD_DIR=dir ...    another build directory;  REEL_CMAKE_ARGS="-DREEL_CUDA=OFF" ... extra flags
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache git clang libclang-rt-14-dev clang-format clang-tidy
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libopencv-dev libavcodec-dev libavformat-dev libavutil-dev libswscale-dev ffmpeg
  libgtest-dev libgmock-dev libbenchmark-dev libgloo-dev libopenblas-dev libopenblas-openmp-dev libdnnl-dev
  libsqlite3-dev libmicrohttpd-dev libssl-dev nlohmann-json3-dev openssl
  python3-torch python3-numpy python3-grpcio python3-protobuf
)
# Oracles of the HTTP/JSON API and browser tests (curl, a real headless browser); an image built
# without tests (deploy/Dockerfile) does not need them.
[[ "${REEL_CMAKE_ARGS:-}" == *REEL_BUILD_TESTS=OFF* ]] || PACKAGES+=(curl chromium)

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

BUILD_DIR="${REEL_BUILD_DIR:-build}"
# shellcheck disable=SC2086
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release ${REEL_CMAKE_ARGS:-}
CCACHE_BASEDIR="$PWD" cmake --build "$BUILD_DIR" -j"$(nproc)"
