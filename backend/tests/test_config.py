"""Settings from the environment: list settings given as plain values, and every mistake
reported in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from visearch.cli import app
from visearch.config import ConfigError, load_settings


@pytest.mark.parametrize(("value", "expected"), [
    ("/srv/photos", ["/srv/photos"]),
    ("/srv/photos, /mnt/more", ["/srv/photos", "/mnt/more"]),
    ('["/srv/photos", "/mnt/a,b"]', ["/srv/photos", "/mnt/a,b"]),
    ("", []),
])
def test_list_settings_take_one_value_a_comma_list_or_json(
        monkeypatch: pytest.MonkeyPatch, value: str, expected: list[str]) -> None:
    """Found 9: ``VISEARCH_ALLOWED_ROOTS=/srv/photos`` was a SettingsError traceback."""
    monkeypatch.setenv("VISEARCH_ALLOWED_ROOTS", value)
    monkeypatch.setenv("VISEARCH_FETCH_ALLOW_HOSTS", "images.example:8080")
    settings = load_settings()
    assert settings.allowed_roots == [Path(p) for p in expected]
    assert settings.fetch_allow_hosts == ["images.example:8080"]


def test_every_list_setting_reads_a_plain_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VISEARCH_ALLOWED_HOSTS", "search.example.com,*.corp.example")
    monkeypatch.setenv("VISEARCH_ALLOWED_ORIGINS", "https://app.example.com/")
    monkeypatch.setenv("VISEARCH_FORWARDED_ALLOW_IPS", "10.0.0.2")
    settings = load_settings()
    assert settings.allowed_hosts == ["search.example.com", "*.corp.example"]
    assert settings.allowed_origins == ["https://app.example.com"]
    assert settings.forwarded_allow_ips == ["10.0.0.2"]


@pytest.mark.parametrize(("name", "value", "says"), [
    ("VISEARCH_ALLOWED_ROOTS", '["/srv/photos"', "not a valid JSON list"),
    ("VISEARCH_ALLOWED_ORIGINS", "app.example.com", "not an origin"),
    ("VISEARCH_RATE_LIMIT_SEARCH", "fast", "not a rate"),
    ("VISEARCH_BATCH_SIZE", "many", "valid integer"),
])
def test_settings_errors_are_one_line(monkeypatch: pytest.MonkeyPatch, name: str, value: str,
                                      says: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    message = str(err.value)
    assert message.startswith(f"invalid configuration: {name}: ") and says in message
    assert "\n" not in message


def test_the_cli_reports_a_bad_list_setting_in_one_line(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    """Found 9, as a user meets it: one line on stderr, exit status 1, no traceback."""
    monkeypatch.setenv("VISEARCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("VISEARCH_ALLOWED_ROOTS", "[/srv/photos")
    result = CliRunner().invoke(app, ["stats"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    said = " ".join(result.output.split())  # rich wraps at the terminal's width
    assert said == ("error: invalid configuration: VISEARCH_ALLOWED_ROOTS: not a valid JSON "
                    "list; give a JSON list or comma-separated values"), result.output
