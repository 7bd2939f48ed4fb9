"""The benchmark suite (scripts/bench/run.py) in its smoke mode: every section runs on a few
images and writes well-formed JSON and Markdown. Speed is never asserted here."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def numbers(value: object) -> list[float]:
    """Every number in a JSON value."""
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [float(value)]
    if isinstance(value, dict):
        return [n for v in value.values() for n in numbers(v)]
    if isinstance(value, list):
        return [n for v in value for n in numbers(v)]
    return []


def _has_openvino() -> bool:
    return importlib.util.find_spec("openvino") is not None


@pytest.mark.slow
def test_smoke_mode_writes_every_section(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench" / "run.py"), "--mode", "smoke",
         "--out", str(out), "--device", "cpu"],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    sections = results["sections"]
    assert set(sections) == {"hardware", "matmul", "model", "index", "http", "store"}
    failed = {k: v["error"] for k, v in sections.items() if isinstance(v, dict) and "error" in v}
    assert failed == {}
    assert all(math.isfinite(n) for n in numbers(sections))
    assert sections["hardware"]["cpu_count"] >= 1
    # torch precisions always; OpenVINO variants too when the extra is installed (dev has it)
    torch_precisions = {"fp32", "bf16", "int8"}
    openvino = {"fp32+openvino", "bf16+openvino"} if _has_openvino() else set()
    assert set(sections["model"]["clip"]["precisions"]) == torch_precisions | openvino
    assert sections["index"]["clip"]["photos"]["indexed"] == 4
    assert sections["http"]["text_cached"]["n"] == sections["http"]["text_uncached"]["n"] == 3
    assert sections["store"][0]["recall_at_10"] >= 0  # present and numeric
    summary = (out / "summary.md").read_text()
    assert summary.startswith("# visearch benchmark (smoke") and "## Targets" in summary
