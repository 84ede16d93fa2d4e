#!/usr/bin/env bash
# The deploy/ check ctest runs (tests/deploy): every overlay in deploy/overlays renders with
# `kubectl kustomize`, every rendered object validates against the Kubernetes/KEDA schemas
# (validate.mjs, unknown fields fail) and passes the cross-checks and policies (policy.mjs, flags
# checked against the binaries' --help). Then the checkers themselves are tested: the broken
# manifests in testdata/ must fail with each expected message.
#   deploy/validate/check.sh --bin reel-gateway=PATH --bin reel-worker=PATH --bin reel-encoder=PATH
# Exit 77 (ctest: skipped, with the reason printed) when a tool is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
deploy="$(dirname "$here")"
skip() { echo "SKIPPED: $*"; exit 77; }

# kustomize components need kustomize >= 3.7: kubectl >= 1.21 embeds it (the machine image has
# kubectl 1.32 with kustomize 5.5; Debian 12's kubernetes-client is kubectl 1.20, too old). A
# standalone `kustomize` works too.
if command -v kustomize >/dev/null; then
  render=(kustomize build)
elif command -v kubectl >/dev/null; then
  version=$(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: v\([0-9]*\)\..*/\1/p')
  [ "${version:-0}" -ge 4 ] || skip "kubectl has no kustomize >= 4 (components); install kubectl >= 1.21"
  render=(kubectl kustomize)
else
  skip "neither kubectl (>= 1.21) nor kustomize is installed: the overlays cannot be rendered here"
fi
command -v node >/dev/null || skip "node is not installed (tools/setup.sh installs Node.js)"
[ -d "$here/node_modules/kubernetes-models" ] ||
  skip "deploy/validate/node_modules is missing: run tools/setup.sh (npm ci in deploy/validate)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0
for dir in "$deploy"/overlays/*/; do
  overlay=$(basename "$dir")
  if ! "${render[@]}" "$dir" >"$tmp/$overlay.yaml" 2>"$tmp/$overlay.err"; then
    echo "FAIL $overlay: does not render:"; cat "$tmp/$overlay.err"; failed=1; continue
  fi
  node "$here/validate.mjs" "$tmp/$overlay.yaml" || failed=1
  node "$here/policy.mjs" "$tmp/$overlay.yaml" "$overlay" "$@" || failed=1
done

# The checkers must fail on what they exist to catch.
expect_failure() {  # NAME EXPECTED-FILE COMMAND...
  local name=$1 expected=$2 out
  shift 2
  if out=$("$@" 2>&1); then echo "FAIL $name: the checker accepted broken manifests"; failed=1; return; fi
  while IFS= read -r line; do
    grep -qF -- "$line" <<<"$out" || { echo "FAIL $name: not reported: $line"; failed=1; }
  done <"$expected"
  echo "$name: the broken manifests were rejected with all $(wc -l <"$expected") expected messages"
}
expect_failure schema-bad "$here/testdata/schema-bad.expected" \
  node "$here/validate.mjs" "$here/testdata/schema-bad.yaml"
expect_failure policy-bad "$here/testdata/policy-bad.expected" \
  node "$here/policy.mjs" "$here/testdata/policy-bad.yaml" ha "$@"
exit "$failed"
