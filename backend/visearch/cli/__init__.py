"""The ``visearch`` command line (Typer). ``main`` is the console entry point."""

from visearch.cli.main import app, main

__all__ = ["app", "main"]
