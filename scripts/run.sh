#!/usr/bin/env bash
# Set everything up and start visearch on the embedded store (no Redis/RabbitMQ/Qdrant needed).
# Any VISEARCH_* variable configures it; see the README. Extra arguments go to `visearch serve`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh openvino   # OpenVINO runs the models on CPU 2-4x faster (docs/performance.md)
if [ ! -f frontend/dist/index.html ] && [ -f frontend/package.json ]; then
  if command -v npm >/dev/null; then
    echo "==> building the web UI"
    (cd frontend && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund && npm run build)
  else
    echo "==> npm not found: starting without the web UI (API only)"
  fi
fi
export TOKENIZERS_PARALLELISM=false
exec "$ROOT/.venv/bin/visearch" serve "$@"
