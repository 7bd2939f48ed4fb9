"""Container health check without curl: exit 0 when the URL answers 2xx within 4 s.

Default URL: ``http://127.0.0.1:$VISEARCH_PORT/api/v1/health`` (the API). Workers pass their
metrics URL instead, e.g. ``python /app/healthcheck.py http://127.0.0.1:9100/metrics``.
"""

import os
import sys
import urllib.request

url = sys.argv[1] if len(sys.argv) > 1 else (
    f"http://127.0.0.1:{os.environ.get('VISEARCH_PORT', '8000')}/api/v1/health"
)
try:
    with urllib.request.urlopen(url, timeout=4) as resp:
        sys.exit(0 if 200 <= resp.status < 300 else 1)
except Exception as exc:  # any failure is "unhealthy"; say why in `docker inspect`
    print(f"unhealthy: {url}: {exc}", file=sys.stderr)
    sys.exit(1)
