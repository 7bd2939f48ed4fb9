"""The scaled stack's config and harness (haproxy/, monitoring/, scripts/stack/) with the real
tools: haproxy, promtool, prometheus, redis-server (`scripts/stack.sh install` puts them in)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
STACK_SCRIPTS = REPO / "scripts" / "stack"
if str(STACK_SCRIPTS) not in sys.path:
    sys.path.insert(0, str(STACK_SCRIPTS))


def require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} is not installed: run `bash scripts/stack.sh install`")
    return path
