"""The Grafana dashboards: generated, committed, loadable by grafana-foundation-sdk's model."""

from __future__ import annotations

import json

import dashboards
import promql_parser
import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard

from tests.infra.conftest import REPO

BOARDS = sorted((REPO / "monitoring" / "grafana" / "dashboards").glob("*.json"))


def test_the_five_dashboards_are_committed_and_up_to_date() -> None:
    assert {p.stem for p in BOARDS} == {"overview", "model", "cache", "jobs", "store"}
    for path in BOARDS:
        assert path.read_text() == dashboards.render(path.stem), (
            f"{path} is stale: run .venv/bin/python scripts/stack/dashboards.py")


@pytest.mark.parametrize("path", BOARDS, ids=lambda p: p.stem)
def test_dashboard_json_loads_with_the_sdk_model(path) -> None:  # type: ignore[no-untyped-def]
    register_default_plugins()
    raw = json.loads(path.read_text())
    model = Dashboard.from_json(raw)
    assert json.loads(json.dumps(model, cls=JSONEncoder)) == raw
    assert model.uid == f"visearch-{path.stem}"
    panels = [p for p in raw["panels"] if p["type"] != "row"]
    assert panels
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            expr = target["expr"].replace("$__rate_interval", "1m").replace("$instance", ".*")
            promql_parser.parse(expr)  # raises on invalid PromQL
