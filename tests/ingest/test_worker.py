"""The parse workers import only what parsing and classifying need (issue 15 item 4: memory).

A spawned worker imports the module of each function it is sent, and multiprocessing re-runs
the parent's main script in it. With the `civic-alerts` console script as the main script,
that meant bot.cli, aiohttp and the whole application in every worker.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import PROJECT_ROOT

# What the civic-alerts console script does (it imports bot.cli at its top), then one pool of
# ours and, for contrast, a plain spawn pool started the same way.
SCRIPT = """\
import json, multiprocessing, sys
from concurrent.futures import ProcessPoolExecutor
from bot.cli import main
from bot.ingest.worker import process_feed_body, warm_worker, worker_pool
from tests.ingest.worker_probe import loaded

if __name__ == "__main__":
    file = sys.modules["__main__"].__file__
    pool = worker_pool(1)
    pool.submit(warm_worker, None).result()
    ours = pool.submit(loaded).result()
    doc = b'<rss version="2.0"><channel><title>t</title><item><title>ICE agents detain 5 in Pilsen</title>' \\
          b'<link>https://x.example/1</link></item></channel></rss>'
    parsed = pool.submit(process_feed_body, doc, "https://x.example/rss", {}, None, None, None).result()
    pool.shutdown()
    plain = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    theirs = plain.submit(loaded).result()
    plain.shutdown()
    print(json.dumps({"ours": ours, "plain": theirs, "file_kept": sys.modules["__main__"].__file__ == file,
                      "cities": list(parsed.items[0][1].cities)}))
"""


def test_workers_do_not_import_the_application(tmp_path: Path) -> None:
    script = tmp_path / "civic-alerts"
    script.write_text(SCRIPT, encoding="utf-8")
    out = subprocess.run(
        [sys.executable, str(script)], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=180,
        env={"PYTHONPATH": str(PROJECT_ROOT), "PATH": "/usr/bin:/bin", "HOME": str(Path.home())},
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    ours, plain = set(got["ours"]), set(got["plain"])
    # the contrast: a plain spawn pool re-runs the script, importing the application
    assert "bot.cli" in plain
    assert not {"bot.cli", "bot.poller", "bot.assembly", "bot.store", "aiohttp", "rapidfuzz"} & ours
    assert {"bot.ingest.parse", "bot.relevance.classify", "feedparser"} <= ours
    assert got["file_kept"]  # __main__ is restored after the workers started
    assert got["cities"] == ["chicago-il"]  # and the worker still parses and classifies
