"""Fuzzing every operation of the API's own OpenAPI schema (schemathesis) against a real
server: no server errors, and every response conforms to the schema (status codes, content
types, bodies). Bounded: ``EXAMPLES`` generated cases per operation.

The schema is the server's real contract (ids have their pattern, "exactly one of" fields
say so, ``top_k`` has the configured maximum, uploads need a file), so the generated cases
mostly explore valid requests and reach the code behind validation.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.server import app_server
from visearch.api.app import create_app
from visearch.config import Settings
from visearch.runtime import Runtime

EXAMPLES = 25
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


def _settings(data_dir: Path) -> Settings:
    return Settings(model="tiny", model_fallback="", device="cpu", data_dir=data_dir,
                    batch_size=8, max_top_k=50, max_batch_files=4, job_max_items=20,
                    fetch_timeout_s=1.0, allowed_roots=[data_dir / "allowed"],
                    client_limits="off")


# The schema as the app publishes it (building the app loads no model: that is the lifespan).
schema = schemathesis.openapi.from_dict(create_app(_settings(Path("unused"))).openapi())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_embedder: Any) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("fuzz") / "data"
    with closing(Runtime.build(_settings(data_dir), embedder=tiny_embedder)) as runtime, \
            app_server(create_app(runtime=runtime)) as base:
        yield base


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_every_operation_answers_within_its_schema(case: schemathesis.Case, server: str) -> None:
    case.call_and_validate(base_url=server, checks=CHECKS, timeout=30)
