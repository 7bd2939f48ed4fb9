"""``visearch keys create|list|revoke``: the API keys file (``VISEARCH_API_KEYS_FILE``).

``create`` prints the new key alone on its last line of output, and only there: the file keeps
its SHA-256, so a lost key cannot be shown again (make a new one and revoke the old).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from visearch.cli.backend import CliError
from visearch.cli.output import console, err_console, reported
from visearch.security.keys import SCOPES, KeyFile, KeyFileError

keys_app = typer.Typer(help="Manage API keys (the file that VISEARCH_API_KEYS_FILE names).",
                       no_args_is_help=True)

FileOpt = Annotated[
    Path | None,
    typer.Option("--file", envvar="VISEARCH_API_KEYS_FILE",
                 help="The keys file (VISEARCH_API_KEYS_FILE)."),
]


def _file(path: Path | None) -> KeyFile:
    if path is None:
        raise CliError("give --file PATH (or set VISEARCH_API_KEYS_FILE)")
    return KeyFile(path.expanduser())


@keys_app.command("create")
def create(
    scope: Annotated[list[str], typer.Option(
        "--scope", help=f"One of {', '.join(SCOPES)}; repeat for several.")],
    file: FileOpt = None,
    name: Annotated[str, typer.Option(help="A name to know the key by.")] = "",
) -> None:
    """Add a key; prints it once, alone on the last line."""
    with reported():
        try:
            entry, secret = _file(file).create(scope, name)
        except KeyFileError as exc:
            raise CliError(str(exc)) from None
    err_console.print(f"created key {entry.id} ({', '.join(entry.scopes)})"
                      + (f" named {entry.name!r}" if entry.name else "")
                      + "; it is shown only now:")
    print(secret, flush=True)


@keys_app.command("list")
def list_keys(
    file: FileOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every key: id, name, scopes, created, revoked (never the key)."""
    with reported():
        try:
            entries = _file(file).list()
        except KeyFileError as exc:
            raise CliError(str(exc)) from None
    if as_json:
        console.print_json(json.dumps([
            {k: v for k, v in asdict(e).items() if k != "sha256"} for e in entries]))
        return
    for e in entries:
        state = f"revoked {e.revoked_at}" if e.revoked_at else "active"
        console.print(f"{e.id}  {','.join(e.scopes):<19} {state:<34} {e.created_at}  {e.name}")


@keys_app.command("revoke")
def revoke(
    key: Annotated[str, typer.Argument(help="The key's id (or its name).")],
    file: FileOpt = None,
) -> None:
    """Revoke a key: servers refuse it within a second."""
    with reported():
        try:
            entry = _file(file).revoke(key)
        except KeyFileError as exc:
            raise CliError(str(exc)) from None
    console.print(f"revoked key {entry.id}" + (f" ({entry.name})" if entry.name else ""))
