"""Print the REST API's OpenAPI schema (JSON) as the app builds it, for generating the web UI's
types (``npm run api:types``). Settings come from defaults only, never the caller's environment
(so keys on or off elsewhere cannot change the output), and nothing is started or loaded."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

BACKEND = Path(__file__).resolve().parents[2] / "backend"


def main() -> None:
    for name in [n for n in os.environ if n.startswith("VISEARCH_")]:
        del os.environ[name]
    sys.path.insert(0, str(BACKEND))
    from visearch.api.app import create_app
    from visearch.config import Settings

    schema = create_app(Settings(_env_file=None)).openapi()  # type: ignore[call-arg]
    json.dump(schema, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
