#!/usr/bin/env bash
# The web UI's tests: the API types are the server's (src/api/schema.d.ts regenerated from the
# app's OpenAPI schema and compared), Vitest (unit + component), the production build with its
# size budget, then Playwright in Debian's Chromium against a real `visearch serve` (temp data
# dir, a tiny random-weight CLIP, the built UI). Screenshots go to artifacts/screenshots/.
# Exits non-zero when anything fails. Needs the Python venv (scripts/setup.sh) and node >= 20.19.
#   VISEARCH_PYTHON            python with visearch importable (default .venv/bin/python)
#   VISEARCH_FRONTEND_SKIP_E2E=1   run only Vitest and the build
#   VISEARCH_FRONTEND_BENCH=1      also print Enter→first-results-painted times (frontend/bench/)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${VISEARCH_PYTHON:-$ROOT/.venv/bin/python}"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export TOKENIZERS_PARALLELISM=false
WORK="$(mktemp -d "${TMPDIR:-/tmp}/visearch-ui-test.XXXXXX")"
SERVER_PID=""

cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ ! -x /usr/bin/chromium ] && [ "${VISEARCH_FRONTEND_SKIP_E2E:-}" != "1" ]; then
  echo "==> installing Debian's chromium (apt)"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium
fi

cd "$ROOT/frontend"
echo "==> npm ci"
npm ci --no-audit --no-fund

echo "==> API types match the server's OpenAPI schema"
types_rc=0
VISEARCH_PYTHON="$PYTHON" npm run --silent api:check || types_rc=$?

echo "==> vitest"
vitest_rc=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$WORK/vitest.json" || vitest_rc=$?

echo "==> build (prints the gzipped JS size, fails over budget)"
npm run build

e2e_rc=0
if [ "${VISEARCH_FRONTEND_SKIP_E2E:-}" != "1" ]; then
  echo "==> starting visearch with a tiny random-weight CLIP"
  PYTHONPATH="$ROOT/backend" "$PYTHON" -c "
import sys
from pathlib import Path
sys.path.insert(0, '$ROOT/backend')
from tests.support.clip import make_clip_dir
make_clip_dir(Path('$WORK/clip'))
" >/dev/null 2>&1
  PORT="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  (
    cd "$ROOT"
    # URL queries may fetch this server's own images (and nothing else on loopback)
    VISEARCH_FETCH_ALLOW_HOSTS="127.0.0.1:$PORT" \
    VISEARCH_DATA_DIR="$WORK/data" VISEARCH_MODEL="$WORK/clip" VISEARCH_MODEL_FALLBACK= \
      VISEARCH_STATIC_DIR="$ROOT/frontend/dist" VISEARCH_LOG_LEVEL=WARNING \
      PYTHONPATH="$ROOT/backend" exec "$PYTHON" -m visearch.cli serve --host 127.0.0.1 --port "$PORT"
  ) >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  URL="http://127.0.0.1:$PORT"
  for _ in $(seq 1 240); do
    curl -sf "$URL/api/v1/health" >/dev/null 2>&1 && break
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "visearch serve exited during start-up:"; tail -40 "$WORK/server.log"; exit 1
    fi
    sleep 0.5
  done
  curl -sf "$URL/api/v1/health" >/dev/null || { echo "visearch did not start:"; tail -40 "$WORK/server.log"; exit 1; }
  echo "    $URL is up"

  echo "==> playwright (Chromium: $(/usr/bin/chromium --version 2>/dev/null | head -1))"
  rm -f "$ROOT"/artifacts/screenshots/*.png
  VISEARCH_E2E_URL="$URL" PLAYWRIGHT_JSON_OUTPUT_NAME="$WORK/playwright.json" \
    npx playwright test --reporter=list,json || e2e_rc=$?
  if [ "$e2e_rc" -ne 0 ]; then
    echo "---- server log (tail) ----"; tail -40 "$WORK/server.log"
  fi
  echo "==> screenshots in artifacts/screenshots/:"
  ls -1 "$ROOT/artifacts/screenshots" 2>/dev/null | sed 's/^/    /' || true
  if [ "${VISEARCH_FRONTEND_BENCH:-}" = "1" ]; then
    echo "==> benchmark: Enter to first results painted (numbers only, never fails the run)"
    VISEARCH_E2E_URL="$URL" npx playwright test -c playwright.bench.config.ts --reporter=list || true
  fi
fi

# one closing line for both suites
node -e '
const fs = require("fs");
let passed = 0, failed = 0, skipped = 0;
try {
  const v = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
  passed += v.numPassedTests; failed += v.numFailedTests; skipped += v.numPendingTests + (v.numTodoTests || 0);
} catch { failed += 1; }
if (fs.existsSync(process.argv[2])) {
  const s = JSON.parse(fs.readFileSync(process.argv[2], "utf8")).stats;
  passed += s.expected; failed += s.unexpected + s.flaky; skipped += s.skipped;
}
console.log(`frontend: ${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$WORK/vitest.json" "$WORK/playwright.json"

if [ "$types_rc" -ne 0 ] || [ "$vitest_rc" -ne 0 ] || [ "$e2e_rc" -ne 0 ]; then
  echo "frontend tests FAILED (api types rc=$types_rc, vitest rc=$vitest_rc, playwright rc=$e2e_rc)"
  exit 1
fi
