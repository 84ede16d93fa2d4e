#!/usr/bin/env bash
# Prints the Debian packages that own the shared libraries the given binaries load (one per line),
# so the image's runtime stage installs exactly what the build stage linked against: a library added
# to the build can no longer be forgotten in the runtime stage (libopencv_videoio.so.406 once was).
#   deploy/runtime-packages.sh BINARY...
set -euo pipefail
if ldd "$@" | grep 'not found' >&2; then exit 1; fi
# Only the libraries the binaries name themselves (DT_NEEDED); apt brings those libraries' own
# dependencies. ldd tells where each resolves (RPATHs such as OpenBLAS's openmp variant included).
needed=$(for b in "$@"; do readelf -d "$b" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; done | sort -u)
libs=$(ldd "$@" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | sort -u |
  while read -r name path; do if grep -qxF "$name" <<<"$needed"; then echo "$path"; fi; done |
  sort -u)
# Debian 12 is merged-/usr but dpkg records each file under the path its package shipped it at,
# /lib/... or /usr/lib/...: ask for every spelling of the library and of its target.
owner() {
  local path spelled
  for path in "$1" "$(realpath "$1")"; do
    for spelled in "$path" "${path#/usr}" "/usr${path}"; do
      dpkg -S "$spelled" 2>/dev/null | head -n1 | cut -d: -f1 && return 0
    done
  done
  echo "runtime-packages: no package owns $1" >&2
  return 1
}
for lib in $libs; do owner "$lib"; done | sort -u
