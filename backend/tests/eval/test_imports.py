"""The evaluation imports what it uses when it uses it: matplotlib when the plots are written,
the ``Runtime`` (torch, the models, the stores) when a model runs. Checked in a new interpreter."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.server import REPO

_PROBE = """
import sys
import visearch.eval.report, visearch.eval.runner, visearch.eval.scoring, visearch.eval.tasks
print(sorted(m for m in ("torch", "transformers", "matplotlib", "visearch.runtime")
             if m in sys.modules))
"""


def test_eval_modules_import_no_model_or_plotting_code() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "backend")}
    proc = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True,
                          text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
