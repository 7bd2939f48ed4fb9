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

if [ -x scripts/services.sh ]; then
  step "starting Redis and RabbitMQ on 127.0.0.1"
  trap 'bash scripts/services.sh stop || true' EXIT
  bash scripts/services.sh start
  eval "$(bash scripts/services.sh test-env)"
fi

step "backend tests"
.venv/bin/pytest -p no:cacheprovider --junitxml=artifacts/pytest.xml "$@"

if [ -x scripts/test_frontend.sh ]; then
  step "web UI tests"
  bash scripts/test_frontend.sh
fi
step "all tests passed"
