#!/usr/bin/env bash
# Create .venv and install visearch with its dependencies (idempotent, fast when up to date).
# torch is installed first and pinned so that nothing pulls a different (e.g. CUDA) build:
#   VISEARCH_TORCH_SPEC   default "torch==2.13.0" (a CPU wheel on these machines)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
VENV="$ROOT/.venv"
TORCH_SPEC="${VISEARCH_TORCH_SPEC:-torch==2.13.0}"
EXTRAS="${1:-}"   # "dev" for the test tools

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating $VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
stamp="$VENV/.visearch-installed"
want="$(cat pyproject.toml | sha256sum | cut -c1-16)-$TORCH_SPEC-$EXTRAS"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "==> installing $TORCH_SPEC"
  "$VENV/bin/python" -m pip install -q "$TORCH_SPEC"
  spec="."
  [ -n "$EXTRAS" ] && spec=".[$EXTRAS]"
  echo "==> installing visearch ($spec)"
  "$VENV/bin/python" -m pip install -q -e "$spec"
  echo "$want" > "$stamp"
fi
