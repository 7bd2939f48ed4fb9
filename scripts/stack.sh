#!/usr/bin/env bash
# The scaled visearch stack on this machine, without Docker, on 127.0.0.1 only:
# Redis, RabbitMQ (with workers), N `visearch serve` replicas, HAProxy, Celery workers,
# the Redis exporter and Prometheus. See docs/scaling.md.
#
#   scripts/stack.sh up [--replicas 3] [--workers 2] [--port 8080] [--data-dir DIR] [--index PATH]
#   scripts/stack.sh status [--json]
#   scripts/stack.sh down
#   scripts/stack.sh replica start|stop|kill api-N
#   scripts/stack.sh install        # apt-get the servers that are missing
#
# VISEARCH_* variables in the environment of `up` reach every replica and worker.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ -x "$ROOT/.venv/bin/python" ] || bash "$ROOT/scripts/setup.sh"
harness() { "$ROOT/.venv/bin/python" "$ROOT/scripts/stack/harness.py" "$@"; }
if [ "${1:-}" = up ]; then
  harness install
fi
harness "$@"
