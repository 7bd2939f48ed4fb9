"""VisearchError: one constructor shape, statuses by code, picklable with its fields."""

from __future__ import annotations

import pickle

import pytest

from visearch.errors import VisearchError
from visearch.ingest.decode import ImageError
from visearch.ingest.fetch import FetchError
from visearch.jobs.spec import JobSpecError
from visearch.models.base import ModelLoadError
from visearch.services.search import QueryError
from visearch.store.base import FilterError, StoreError, StoreUnavailableError


@pytest.mark.parametrize(("error", "code", "status"), [
    (VisearchError("m"), "bad_request", 400),
    (VisearchError("m", code="not_ready", status=503), "not_ready", 503),
    (ImageError("m", code="too_large"), "too_large", 413),  # the class's status for the code
    (FetchError("m", code="too_large"), "too_large", 422),  # ... which a subclass may differ on
    (FetchError("m", code="invalid_url", status=422), "invalid_url", 422),  # given wins
    (QueryError("m", code="not_found"), "not_found", 404),
    (JobSpecError("m", code="empty_job"), "empty_job", 422),
    (FilterError("m"), "invalid_filter", 422),  # the class's own code and status
    (StoreUnavailableError("m"), "store_unavailable", 503),
    (StoreError("m"), "store_error", 500),
    (ModelLoadError("m"), "model_unavailable", 503),
])
def test_code_and_status(error: VisearchError, code: str, status: int) -> None:
    assert (error.code, error.status, error.message, str(error)) == (code, status, "m", "m")
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.code, copy.status, copy.message) == (
        type(error), error.code, error.status, error.message)
    assert f"code={code!r}" in repr(error)


def test_old_base_classes_still_catch() -> None:
    """Callers that caught ValueError or RuntimeError keep catching what they caught."""
    assert isinstance(ImageError("m"), ValueError) and isinstance(FilterError("m"), ValueError)
    assert isinstance(StoreError("m"), RuntimeError)
    assert isinstance(ModelLoadError("m"), RuntimeError)
