"""Issue 16: the precision/recall numbers stay out of `pytest -q` output, in a file instead.

Before: a held-out set below its routing goal printed "routing P=… R=…" as a UserWarning in
every `pytest -q` summary. Runs the relevance tests as a user would (their own pytest process,
`-q`) and reads both the output and the metrics file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import PROJECT_ROOT


def test_q_output_has_no_precision_recall_lines_and_the_file_has_them(tmp_path: Path) -> None:
    base = tmp_path / "inner"
    env = {k: v for k, v in os.environ.items() if k != "CIVIC_ALERTS_SHOW_METRICS"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={base}",
         "tests/relevance/test_classify.py", "tests/relevance/test_world.py", "tests/relevance/test_spanish.py",
         "tests/relevance/test_crosslang.py", "-k", "targets or world_sets or spanish or pair_set"],
        cwd=PROJECT_ROOT, env={**env, "PYTHONPATH": str(PROJECT_ROOT)}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    output = run.stdout + run.stderr
    assert " P=" not in output and " R=" not in output, output[-3000:]
    assert "warning" not in output.lower(), output[-3000:]
    numbers = (base / "relevance-metrics.txt").read_text(encoding="utf-8")
    for name in ("labeled", "labeled_extra", "dev, combined", "world", "world_heldout", "spanish", "spanish fresh",
                 "spanish fresh2 (held-out)", "crosslang pairs"):
        assert f"[{name}] " in numbers and " P=" in numbers, (name, numbers[:2000])
