"""reader-compare: whole-process `civic-alerts poll --once --all` against `reader` 3.x (issue 15).

Why whole processes: ingest-cold times one cycle inside a warm process (pool started, classifier
loaded), which is what the running service sees. A cron user runs `poll --once` from nothing, so
this scenario charges everything: interpreter start, imports, config and gazetteer loads, the
worker pool's start-up, the cycle, printing every story (`--all`, stdout to /dev/null) and the
shutdown. reader gets the same: a fresh interpreter that imports reader, adds the feeds and runs
`update_feeds`. Both fetch the same documents from the same feed host (bench/feedhost.py, its own
process, charged to neither side).

The workload is cluster-heavy (feedgen style "cluster"): 200 feeds × 50 items whose headlines are
variants of 150 stories, so every headline shares most of its words with dozens of others and the
clustering sees many candidates. Runs alternate (ours, reader, ours, …); the ratio is taken per
pair and the median reported.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from bench.common import ROOT, Result, median, run_isolated, spread, tmpdir
from bench.feedhost import FeedHost
from bench.s_ingest import _reader_sweep

READER_WORKER_CHOICES = (1, 4, 16)


class TreeSampler:
    """Peak RSS and CPU of a process and its descendants, sampled every 50 ms from outside.

    CPU per process is the last value seen before it ended, so a process's final 50 ms may be
    missed; the root's own CPU is taken exactly from wait4 by the caller."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self.cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tree-sampler", daemon=True)

    def _sample(self) -> None:
        procs = [self.root]
        with contextlib.suppress(psutil.Error):
            procs += self.root.children(recursive=True)
        total = 0
        for p in procs:
            with contextlib.suppress(psutil.Error):
                with p.oneshot():
                    total += p.memory_info().rss
                    t = p.cpu_times()
                    self.cpu[p.pid] = t.user + t.system
        self.peak = max(self.peak, total)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def children_cpu(self) -> float:
        return sum(v for pid, v in self.cpu.items() if pid != self.root.pid)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIVIC_ALERTS_")}
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["CIVIC_ALERTS_CONFIG_DIR"] = str(ROOT / "config")
    return env


def _timed(cmd: list[str], cwd: Path) -> dict[str, Any]:
    """Run `cmd` to completion; wall, CPU (root exact + descendants sampled), peak RSS."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with TreeSampler(proc.pid) as tree:
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])} … exited {proc.returncode}:\n{err[-3000:]}")
    cpu = usage.ru_utime + usage.ru_stime + tree.children_cpu()
    return {"wall": wall, "cpu": cpu, "peak_rss": tree.peak, "stderr": err.strip().splitlines()[-1:] or [""]}


def ours(urls: list[str], d: Path) -> dict[str, Any]:
    feeds = d / "feeds.toml"
    feeds.write_text("".join(f'[[feeds]]\nurl = "{u}"\n\n' for u in urls), encoding="utf-8")
    db = d / "civic.sqlite3"
    res = _timed([sys.executable, "-m", "bot", "poll", "--once", "--all", "--feeds", str(feeds),
                  "--db", str(db)], d)
    import sqlite3

    with contextlib.closing(sqlite3.connect(db)) as conn:
        res["articles"] = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
        res["stories"] = conn.execute("SELECT count(*) FROM stories").fetchone()[0]
    return res


def theirs(urls: list[str], d: Path, workers: int) -> dict[str, Any]:
    listing = d / "urls.txt"
    listing.write_text("\n".join(urls), encoding="utf-8")
    db = d / "reader.sqlite"
    res = _timed([sys.executable, "-m", "bench.reader_proc", str(db), str(workers), str(listing)], d)
    import sqlite3

    with contextlib.closing(sqlite3.connect(db)) as conn:
        res["entries"] = conn.execute("SELECT count(*) FROM entries").fetchone()[0]
    return res


def reader_compare(size: int, smoke: bool, repeat: int) -> Result:
    n = size
    items = 10 if smoke else 50
    res = Result("reader-compare", f"whole processes, {n} feeds × {items} cluster-heavy items, "
                                   f"empty databases, {repeat} alternating pair(s)")
    with FeedHost(n, items=items, style="cluster") as host:
        choices = (4,) if smoke else READER_WORKER_CHOICES
        best, sweep = _reader_sweep(host, min(n, 60), choices)
        run_isolated(_noop)  # the first spawned interpreter pays the cold file cache for both
        mine, their = [], []
        for _ in range(repeat):
            with tmpdir("cmp-ours") as d:
                mine.append(ours(host.urls(), d))
            with tmpdir("cmp-reader") as d:
                their.append(theirs(host.urls(), d, best))
        st = host.stats()
    ratios = [b["wall"] / a["wall"] for a, b in zip(mine, their, strict=True)]
    res.add("our wall, `poll --once --all` (s)", median([r["wall"] for r in mine]), key="wall")
    res.rows[-1].value = spread([r["wall"] for r in mine])
    res.add(f"reader wall, whole process, workers={best} (s)", median([r["wall"] for r in their]),
            key="reader_wall")
    res.rows[-1].value = spread([r["wall"] for r in their])
    ratio = median(ratios)
    res.add("reader wall / our wall (per pair)", ratio, "{:.2f}×", target="≥ 3×", met=ratio >= 3,
            key="speedup")
    res.rows[-1].value = spread(ratios, "{:.2f}") + " ×"
    res.add("our CPU (s), process + workers", median([r["cpu"] for r in mine]), "{:.1f}", key="cpu")
    res.add("reader CPU (s)", median([r["cpu"] for r in their]), "{:.1f}", key="reader_cpu")
    res.add("peak RSS ours / reader (MB)",
            f"{median([r['peak_rss'] for r in mine]) / 2**20:.0f} / "
            f"{median([r['peak_rss'] for r in their]) / 2**20:.0f}")
    res.add("items stored: ours (articles) / reader (entries)", f"{mine[0]['articles']} / {their[0]['entries']}")
    res.add("our stories (after clustering)", mine[0]["stories"], "{:.0f}", key="stories")
    res.notes.append("reader workers sweep (wall s, first 60 feeds, in-process): "
                     + ", ".join(f"{w}: {s:.2f}" for w, s in sweep.items()) + f" → best {best}")
    res.notes.append(f"our last stderr line: {mine[0]['stderr'][0]}")
    res.notes.append(f"feed host served {st['200']} bodies ({st['bytes'] / 2**20:.0f} MB), {st['304']} × 304")
    return res


def _noop() -> None:
    return None
