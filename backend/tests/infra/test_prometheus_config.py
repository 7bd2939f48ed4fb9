"""Prometheus config, alert rules and their unit tests, checked by promtool."""

from __future__ import annotations

import subprocess
from pathlib import Path

import render_prometheus
import yaml

from tests.infra.conftest import REPO, require

RULES = REPO / "monitoring" / "prometheus" / "rules"
RULE_TESTS = REPO / "monitoring" / "prometheus" / "tests"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require("promtool"), *args], capture_output=True, text=True, check=False)


def test_rendered_harness_config_passes_promtool(tmp_path: Path) -> None:
    cfg = tmp_path / "prometheus.yml"
    t = render_prometheus.Target
    cfg.write_text(render_prometheus.render_config(
        api=[t("api-1", "127.0.0.1:18001"), t("api-2", "127.0.0.1:18002")],
        workers=[t("worker-1", "127.0.0.1:18101")], haproxy="127.0.0.1:18404",
        redis_exporter="127.0.0.1:19121", prometheus="127.0.0.1:19090",
    ))
    done = promtool("check", "config", str(cfg))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 1 rule files found" in done.stdout


def test_alert_rules_pass_promtool_check() -> None:
    files = sorted(str(p) for p in RULES.glob("*.yml"))
    assert files
    done = promtool("check", "rules", *files)
    assert done.returncode == 0, done.stdout + done.stderr


def test_alert_rule_unit_tests_pass() -> None:
    files = sorted(str(p) for p in RULE_TESTS.glob("*.yml"))
    assert files
    done = promtool("test", "rules", *files)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_is_fired_by_a_unit_test() -> None:
    alerts = {r["alert"] for p in RULES.glob("*.yml")
              for g in yaml.safe_load(p.read_text())["groups"] for r in g["rules"] if "alert" in r}
    fired = {case["alertname"] for p in RULE_TESTS.glob("*.yml")
             for t in yaml.safe_load(p.read_text())["tests"]
             for case in t.get("alert_rule_test", []) if case.get("exp_alerts")}
    assert alerts, "no alert rules found"
    assert alerts - fired == set(), f"alerts no unit test fires: {sorted(alerts - fired)}"
