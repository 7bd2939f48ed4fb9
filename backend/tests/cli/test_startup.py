"""The CLI starts light: ``--help`` and ``--api`` calls import no model, plotting, server,
Celery or settings code. Each check runs in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.support.server import REPO

#: Seconds and hundreds of MB between them; pydantic_settings stands for loading the settings,
#: which --help and --api calls do not need (pydantic itself comes with Typer).
HEAVY = ("torch", "transformers", "matplotlib", "numpy", "celery", "fastapi", "pydantic_settings")

_PROBE = """
import json, sys
from typer.testing import CliRunner
from visearch.cli import app
result = CliRunner().invoke(app, sys.argv[1:]) if sys.argv[1:] else None
print(json.dumps({
    "exit_code": result.exit_code if result else 0,
    "output": result.output if result else "",
    "modules": sorted(sys.modules),
}))
"""


def _probe(*args: str) -> dict[str, Any]:
    """Import the CLI (and run ``args`` through it) in a new interpreter; what it imported."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "backend"), "VISEARCH_LOG_LEVEL": "WARNING"}
    proc = subprocess.run([sys.executable, "-c", _PROBE, *args], env=env, capture_output=True,
                          text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    report: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    imported = set(report.pop("modules"))
    report["heavy"] = [m for m in HEAVY if m in imported]
    return report


@pytest.mark.parametrize("args", [(), ("--help",), ("search", "--help"), ("eval", "--help"),
                                  ("train-adapter", "--help")])
def test_import_and_help_stay_light(args: tuple[str, ...]) -> None:
    report = _probe(*args)
    assert report["exit_code"] == 0, report["output"]
    assert report["heavy"] == []


def test_api_calls_stay_light(api_url: str) -> None:
    for args in (["search", "a dog", "--api", api_url], ["stats", "--api", api_url]):
        report = _probe(*args)
        assert report["exit_code"] == 0, report["output"]
        assert report["heavy"] == [], args


def test_spelt_out_names_match_their_sources() -> None:
    """``cli.eval`` and ``cli.train`` spell two names out to keep ``--help`` light."""
    from visearch.cli.eval import TASK_NAMES
    from visearch.cli.train import OFFLINE_MODEL
    from visearch.config import OFFLINE_MODEL as SETTINGS_OFFLINE_MODEL
    from visearch.eval.tasks import TASKS

    assert TASK_NAMES == TASKS
    assert OFFLINE_MODEL == SETTINGS_OFFLINE_MODEL



def test_search_choices_match_the_service() -> None:
    """``visearch search`` spells the strategies and sort fields out (no service import)."""
    from visearch.cli.main import CutoffMode, Order, SortField, Strategy
    from visearch.services.search import SORT_FIELDS, STRATEGIES, SearchQuery

    assert tuple(Strategy) == STRATEGIES
    assert tuple(SortField) == SORT_FIELDS
    assert {m.value for m in CutoffMode} == {"off", "auto"}
    assert {o.value for o in Order} == {"desc", "asc"}
    assert SearchQuery().cutoff == CutoffMode.off and SearchQuery().order == Order.desc
