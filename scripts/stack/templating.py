"""Jinja2 rendering of the stack's config templates (HAProxy, Prometheus).

Strict: a variable the template uses but the caller did not give is an error, never an empty
string in a config file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

REPO = Path(__file__).resolve().parents[2]


def render(template: Path, **values: Any) -> str:
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False
    )
    return env.from_string(template.read_text()).render(**values)
