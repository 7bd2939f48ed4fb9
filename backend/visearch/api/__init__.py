"""The REST API: an application factory (``visearch.api.app``), dependencies, schemas, routers.

This module stays light (no FastAPI import): HTTP clients such as the CLI import ``API_PREFIX``
without pulling in the server.
"""

#: Every route of the REST API lives under this path.
API_PREFIX = "/api/v1"

__all__ = ["API_PREFIX"]
