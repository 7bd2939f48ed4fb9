"""The one error type a caller can act on: a machine ``code``, a human ``message``, an HTTP
``status``.

Every failure that should reach a client as ``{"error": {"code", "message"}}`` is a
``VisearchError`` (or a subclass, where a distinct type is worth catching). The API maps it to
that body in one handler (``api/errors.py``); the CLI prints its message.

One constructor shape everywhere: the message first (as for any exception), then ``code`` and
``status`` by keyword. ``code`` defaults to the class's own; ``status`` to the one the class
lists for that code in ``statuses`` (so that within a class a code always has one status),
else to the class's own. A subclass names its own in its header:
``class StoreUnavailableError(StoreError, code="store_unavailable", status=503)``.
A status of 500 means "our fault": the client gets a generic message and the details go to
the log.

Kept free of third-party imports so every layer (ingest, store, models, services, jobs, api,
cli) can use it without pulling anything in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class VisearchError(Exception):
    """A failure with a machine ``code``, a human ``message`` and an HTTP ``status``."""

    code: str = "bad_request"
    status: int = 400
    #: The status of each code this class raises with, where it is always the same.
    statuses: ClassVar[Mapping[str, int]] = {}

    def __init_subclass__(
        cls, *, code: str | None = None, status: int | None = None, **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        if code is not None:
            cls.code = code
        if status is not None:
            cls.status = status

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else type(self).code
        self.status = status if status is not None else self.statuses.get(self.code, type(self).status)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code!r}, status={self.status})"

    def __reduce__(self) -> tuple[Any, ...]:
        """Picklable with code and status (worker results, process pools)."""
        return (type(self), (self.message,), {"code": self.code, "status": self.status})
