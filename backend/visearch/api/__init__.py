"""The REST API: an application factory, dependencies, schemas and routers."""

from visearch.api.app import create_app

__all__ = ["create_app"]
