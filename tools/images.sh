#!/usr/bin/env bash
# Builds and smoke-tests the container images without any registry (slow: it compiles reel inside the
# build stage, ~30-60 min on 2 busy cores; not part of ctest). Needs root, debootstrap, podman, buildah.
#   tools/images.sh [cpu|gpu|all]          (default cpu)
#   tools/images.sh smoke IMAGE [OVERLAYS]  only the smoke test of an image built before
#   REEL_IMAGE_CACHE=/var/tmp/reel-images  where the Debian root filesystem is kept between runs
#   REEL_DEBIAN_MIRROR=http://...          default: the first URI of /etc/apt/sources.list*
#   REEL_DEBIAN_SECURITY_MIRROR=http://... default: the mirror's .../debian-security
# Steps: debootstrap --variant=minbase bookworm → podman import → tag debian:12 (and debian:12-slim,
# the runtime base) → buildah bud --isolation chroot --pull=never on deploy/Dockerfile unmodified →
# `buildah run --isolation chroot` in the result: `reel version`, a tiny render, each binary's --help,
# and no unresolved shared library. (`podman run` needs CAP_SYS_RESOURCE for setrlimit, which this
# kind of machine lacks; buildah's chroot isolation does not.)
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-cpu}"
cache="${REEL_IMAGE_CACHE:-/var/tmp/reel-images}"
tag="$(git describe --tags --always --dirty 2>/dev/null || echo dev)"
default_mirror() {  # the first Debian URI this machine's apt uses (deb822 or one-line format)
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list \
    2>/dev/null | sed -n 's/^URIs: *\([^ ]*\).*/\1/p;s/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\) bookworm .*/\2/p' |
    head -n1 || true
}
mirror="${REEL_DEBIAN_MIRROR:-$(default_mirror)}"
log() { echo "images: $*" >&2; }

for tool in debootstrap podman buildah; do
  command -v "$tool" >/dev/null || { log "needs $tool (apt-get install debootstrap podman buildah)"; exit 2; }
done

# 1. debian:12 from the mirror (kept in the cache: debootstrap takes minutes).
mkdir -p "$cache"
if [ ! -f "$cache/bookworm-minbase.tar" ]; then
  log "debootstrap bookworm from $mirror"
  rm -rf "$cache/rootfs"
  debootstrap --variant=minbase bookworm "$cache/rootfs" "$mirror" >"$cache/debootstrap.log"
  # The mirror the image's own apt uses (debootstrap writes only the main suite).
  printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb %s bookworm-security main\n' \
    "$mirror" "$mirror" "${REEL_DEBIAN_SECURITY_MIRROR:-${mirror%/debian}/debian-security}" \
    >"$cache/rootfs/etc/apt/sources.list"
  tar -C "$cache/rootfs" -cf "$cache/bookworm-minbase.tar.partial" .
  mv "$cache/bookworm-minbase.tar.partial" "$cache/bookworm-minbase.tar"
fi
if ! podman image exists docker.io/library/debian:12; then
  podman import --change 'CMD ["/bin/bash"]' "$cache/bookworm-minbase.tar" docker.io/library/debian:12
fi
podman tag docker.io/library/debian:12 docker.io/library/debian:12-slim

# 2. + 3. build, then run the smoke test inside the image.
smoke() {  # IMAGE
  local ctr out
  ctr=$(buildah from --pull=never "$1")
  trap 'buildah rm "$ctr" >/dev/null' RETURN
  run() { buildah run --isolation chroot --user 10001:10001 "$ctr" -- "$@"; }
  log "smoke $1: reel version"
  run reel version
  log "smoke $1: every binary's libraries resolve"
  if run sh -c 'ldd /usr/local/bin/reel*' | grep 'not found'; then log "unresolved libraries"; return 1; fi
  # Each service binary starts and lists its flags (reel-encoder uses absl flags: --helpfull, and
  # absl exits 1 after printing help, so the listing is what is checked).
  for bin in reel-gateway:--help:--listen reel-worker:--help:--health_port reel-encoder:--helpfull:--listen; do
    IFS=: read -r name flag expect <<<"$bin"
    log "smoke $1: $name $flag lists $expect"
    out=$(run "$name" "$flag" 2>&1 || true)
    grep -q -- "$expect" <<<"$out" || { echo "$out"; log "$name $flag does not list $expect"; return 1; }
  done
  # The probes' ports come up (deploy/): the worker's health port before it loads a model or finds
  # a gateway, the encoder's gRPC port.
  log "smoke $1: reel-worker --health_port and reel-encoder listen"
  out=$(run sh -c 'timeout 5 reel-worker --health_port 0 --gateway 127.0.0.1:9 \
    --model /opt/reel/models/reel-tiny --threads 1 2>&1; timeout 3 reel-encoder \
    --listen=127.0.0.1:0 2>&1' || true)
  if ! grep -q 'health on port [1-9]' <<<"$out" || ! grep -q 'listening on port [1-9]' <<<"$out"; then
    echo "$out"
    log "a service port did not come up"
    return 1
  fi
  log "smoke $1: a tiny render"
  run sh -c 'cd /tmp && reel render "a red ball" --model /opt/reel/models/reel-tiny --frames 1 \
    --steps 2 --seed 1 --threads 2 -o /tmp/smoke.png && test -s /tmp/smoke.png && ls -l /tmp/smoke.png'
  out=$(run id -u)
  [ "$out" = 10001 ] || { log "runs as uid $out"; return 1; }
  # The manifests' flags against this image's binaries (not the build tree's): deploy/validate's
  # cross-check, with each binary run inside the image.
  if [ -d deploy/validate/node_modules/kubernetes-models ] && command -v kubectl >/dev/null; then
    local wrappers overlay
    wrappers=$(mktemp -d)
    for bin in reel-gateway reel-worker reel-encoder; do
      printf '#!/bin/sh\nexec buildah run --isolation chroot --user 10001:10001 %s -- %s "$@"\n' \
        "$ctr" "$bin" >"$wrappers/$bin"
      chmod +x "$wrappers/$bin"
    done
    for overlay in ${2:-cpu}; do
      log "smoke $1: deploy/overlays/$overlay's flags against the image's --help"
      kubectl kustomize "deploy/overlays/$overlay" >"$wrappers/$overlay.yaml"
      node deploy/validate/policy.mjs "$wrappers/$overlay.yaml" "$overlay" \
        --bin reel-gateway="$wrappers/reel-gateway" --bin reel-worker="$wrappers/reel-worker" \
        --bin reel-encoder="$wrappers/reel-encoder"
    done
    rm -rf "$wrappers"
  fi
}

if [ "$which" = smoke ]; then
  smoke "$2" "${3:-cpu ha worker-group}"
  log "$2 smoke-tested"
  exit 0
fi
if [ "$which" = cpu ] || [ "$which" = all ]; then
  log "buildah bud deploy/Dockerfile -> reel:$tag"
  buildah bud --isolation chroot --pull=never --layers -f deploy/Dockerfile -t "reel:$tag" .
  smoke "reel:$tag" "cpu ha worker-group"
  log "cpu image reel:$tag built and smoke-tested ($(podman image inspect --format '{{.Size}}' "reel:$tag") bytes)"
fi
if [ "$which" = gpu ] || [ "$which" = all ]; then
  # Needs NVIDIA's CUDA apt repository (deploy/Dockerfile.gpu); without it the build stops there.
  log "buildah bud deploy/Dockerfile.gpu -> reel:$tag-cuda"
  buildah bud --isolation chroot --pull=never --layers -f deploy/Dockerfile.gpu -t "reel:$tag-cuda" .
  smoke "reel:$tag-cuda" "gpu gpu-group"
fi
