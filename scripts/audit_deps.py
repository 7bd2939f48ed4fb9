"""Dependency audit for the test command: ``pip-audit`` over the installed environment.

Fails (exit 1) when a known vulnerability is found. When the vulnerability service cannot be
reached (no network, a registry mirror without its JSON API) it says so and passes: an audit
that could not run is reported, never mistaken for a clean one or for a failure of the code.

Usage: python scripts/audit_deps.py [--timeout SECONDS]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

#: What pip-audit says for a package the service knows nothing about (or cannot be asked).
_NOT_AUDITED = ("could not be audited", "not found on PyPI")
_UNREACHABLE = ("ConnectionError", "Max retries exceeded", "Name or service not known",
                "Temporary failure in name resolution", "timed out", "Network is unreachable",
                "Connection refused", "ServiceError")


def run_audit(timeout_s: float) -> tuple[int, dict[str, Any] | None, str]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "audit.json"
        cmd = [sys.executable, "-m", "pip_audit", "--local", "--progress-spinner", "off",
               "--timeout", "15", "--format", "json", "--output", str(out)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return -1, None, f"pip-audit did not finish in {timeout_s:g} s"
        report = json.loads(out.read_text()) if out.is_file() and out.stat().st_size else None
        return proc.returncode, report, proc.stderr


def summarise(code: int, report: dict[str, Any] | None, stderr: str) -> tuple[int, str]:
    """(exit status, one line) for the audit's outcome."""
    if report is None:
        if code == -1 or any(marker in stderr for marker in _UNREACHABLE):
            return 0, ("dependency audit: the vulnerability service could not be reached; "
                       "not audited")
        tail = stderr.strip().splitlines()[-1:] or ["no output"]
        return 0, f"dependency audit: pip-audit could not run ({tail[0][:200]}); not audited"
    deps = report.get("dependencies", [])
    skipped = [d for d in deps if any(m in d.get("skip_reason", "") for m in _NOT_AUDITED)]
    vulnerable = [d for d in deps if d.get("vulns")]
    if vulnerable:
        found = "; ".join(
            f"{d['name']} {d.get('version', '?')}: "
            + ", ".join(v.get("id", "?") + (f" (fixed in {', '.join(v['fix_versions'])})"
                                            if v.get("fix_versions") else "")
                        for v in d["vulns"])
            for d in vulnerable
        )
        return 1, f"dependency audit: {len(vulnerable)} vulnerable package(s): {found}"
    if deps and len(skipped) == len(deps):
        return 0, (f"dependency audit: the vulnerability service answered for none of the "
                   f"{len(deps)} packages (unreachable or a mirror without it); not audited")
    audited = len(deps) - len(skipped)
    note = f", {len(skipped)} not known to the service" if skipped else ""
    return 0, f"dependency audit: {audited} packages audited, no known vulnerabilities{note}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    status, line = summarise(*run_audit(args.timeout))
    print(line)
    return status


if __name__ == "__main__":
    sys.exit(main())
