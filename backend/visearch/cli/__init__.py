"""The ``visearch`` command line (Typer); ``main`` is the console entry point.

``main`` holds the app and the ``serve``/``index``/``search``/``stats`` commands, written once
against ``backend.Backend`` with two implementations: ``local`` (the runtime in this process)
and ``http`` (a running server, ``--api``). ``jobs`` has the job commands and client, ``eval``
and ``train`` the evaluation and training commands, ``output`` what they all print. Importing
the package stays light: heavy modules load inside the commands that use them.
"""

from visearch.cli.main import app, main

__all__ = ["app", "main"]
