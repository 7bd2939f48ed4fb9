#!/usr/bin/env bash
# Set up and run the whole test suite: lint, types, backend tests (with real Redis and
# RabbitMQ started on loopback and stopped afterwards), the web UI's unit and browser tests.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
mkdir -p artifacts

step() { printf '\n==> %s\n' "$*"; }

step "python environment"
bash scripts/setup.sh dev

step "lint and types"
.venv/bin/ruff check backend scripts
.venv/bin/mypy

step "dependency audit (pip-audit; reported, not failed, when its service is unreachable)"
.venv/bin/python scripts/audit_deps.py

if [ -x scripts/redis_rabbitmq.sh ]; then
  step "starting Redis and RabbitMQ on 127.0.0.1"
  # Instances of this run only (free ports, own epmd); stop touches nothing else.
  VISEARCH_SERVICES_DIR="$(mktemp -d "${TMPDIR:-/tmp}/visearch-test-services.XXXXXX")"
  export VISEARCH_SERVICES_DIR
  trap 'bash scripts/redis_rabbitmq.sh stop || true; rm -rf "$VISEARCH_SERVICES_DIR"' EXIT
  bash scripts/redis_rabbitmq.sh start
  eval "$(bash scripts/redis_rabbitmq.sh test-env)"
fi

step "HAProxy, Prometheus and exporters for the scaled-stack tests"
bash scripts/stack.sh install

step "backend tests"
.venv/bin/pytest -p no:cacheprovider --junitxml=artifacts/pytest.xml "$@"

if [ -x scripts/test_frontend.sh ]; then
  step "web UI tests"
  bash scripts/test_frontend.sh | tee artifacts/frontend.log
fi

# One closing line for the whole run: backend (JUnit XML) plus web UI counts.
.venv/bin/python - <<'PY'
import re
import xml.etree.ElementTree as ET
from pathlib import Path

suite = ET.parse("artifacts/pytest.xml").getroot()
suite = suite if suite.tag == "testsuite" else suite[0]
failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
skipped = int(suite.get("skipped", 0))
passed = int(suite.get("tests", 0)) - failed - skipped
log = Path("artifacts/frontend.log")
m = re.search(r"frontend: (\d+) passed, (\d+) failed", log.read_text() if log.exists() else "")
if m:
    passed, failed = passed + int(m[1]), failed + int(m[2])
print(f"total: {passed} passed, {failed} failed, {skipped} skipped")
PY
