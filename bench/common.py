"""Shared pieces: results and tables, machine description, RSS and CPU sampling, loop lag,
running a measurement in a fresh process, and writing docs/benchmarks.md."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "bench" / "out"
DOC = ROOT / "docs" / "benchmarks.md"
MB = 1024 * 1024


# ----------------------------------------------------------------------------- results


@dataclass
class Row:
    metric: str
    value: str
    target: str = ""
    met: bool | None = None  # None: informational, no target


@dataclass
class Result:
    scenario: str
    params: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    numbers: dict[str, float] = field(default_factory=dict)  # what --smoke checks

    def add(self, metric: str, value: float | str, fmt: str = "{:.3g}", *, target: str = "",
            met: bool | None = None, key: str | None = None) -> None:
        text = fmt.format(value) if isinstance(value, (int, float)) else str(value)
        self.rows.append(Row(metric, text, target, met))
        if isinstance(value, (int, float)):
            self.numbers[key or metric] = float(value)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def spread(values: Sequence[float], fmt: str = "{:.2f}") -> str:
    """"median (min–max, n runs)" for a table cell."""
    if len(values) <= 1:
        return fmt.format(values[0]) if values else "n/a"
    return f"{fmt.format(median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))}, n={len(values)})"


def table(results: Sequence[Result]) -> str:
    lines = ["| scenario | metric | result | target | met |", "|---|---|---|---|---|"]
    for res in results:
        for i, row in enumerate(res.rows):
            mark = "" if row.met is None else ("yes" if row.met else "**no**")
            name = f"{res.scenario}" if i == 0 else ""
            lines.append(f"| {name} | {row.metric} | {row.value} | {row.target} | {mark} |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- machine


def machine() -> dict[str, str]:
    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {}
    for pkg in ("feedparser", "aiohttp", "aiosqlite", "discord.py", "reader"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions[pkg] = version(pkg)
    commit = ""
    with contextlib.suppress(Exception):
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=5).stdout.strip()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "CPU": cpu,
        "cores": f"{os.cpu_count()} logical ({psutil.cpu_count(logical=False) or '?'} physical)",
        "RAM": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "SQLite": sqlite3.sqlite_version,
        "packages": ", ".join(f"{k} {v}" for k, v in versions.items()),
        "commit": commit,
        "load average at start": load,
    }


# ----------------------------------------------------------------------------- sampling


class RssSampler:
    """Peak RSS of this process plus every descendant (worker pools), sampled in a thread.

    The list of descendants is refreshed every half second (walking /proc for it on every
    sample cost more CPU than what it measured); RSS is read every `interval`."""

    def __init__(self, interval: float = 0.05, exclude: Sequence[int] = ()) -> None:
        self.interval = interval
        self.exclude = set(exclude)
        self.peak = 0
        self.peak_main = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._me = psutil.Process()
        self._children: list[psutil.Process] = []
        self._listed = 0.0

    def sample(self) -> int:
        total = main = 0
        with contextlib.suppress(psutil.Error):
            main = self._me.memory_info().rss
        total = main
        if time.monotonic() - self._listed > 0.5:
            with contextlib.suppress(psutil.Error):
                self._children = [c for c in self._me.children(recursive=True) if c.pid not in self.exclude]
            self._listed = time.monotonic()
        for child in self._children:
            with contextlib.suppress(psutil.Error):
                total += child.memory_info().rss
        self.peak = max(self.peak, total)
        self.peak_main = max(self.peak_main, main)
        return total

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self.sample()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()


def cpu_seconds(exclude: Sequence[int] = ()) -> float:
    """user+system CPU of this process and its live descendants so far."""
    me = psutil.Process()
    t = me.cpu_times()
    total = t.user + t.system
    for child in me.children(recursive=True):
        if child.pid in exclude:
            continue
        with contextlib.suppress(psutil.Error):
            ct = child.cpu_times()
            total += ct.user + ct.system
    return total


class LoopLag:
    """A 10 ms ticker: lag = how late each wake-up was (what a heartbeat would suffer)."""

    def __init__(self, period: float = 0.010) -> None:
        self.period = period
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(self.period)
            now = time.perf_counter()
            self.lags.append(max(0.0, now - last - self.period))
            last = now

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def stats(self) -> dict[str, float]:
        return {
            "ticks": len(self.lags),
            "p50_ms": percentile(self.lags, 50) * 1000,
            "p99_ms": percentile(self.lags, 99) * 1000,
            "max_ms": (max(self.lags) if self.lags else float("nan")) * 1000,
        }


# ----------------------------------------------------------------------------- isolation


def _trampoline(conn: Any, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        result = fn(*args)
        conn.send(("ok", result))
    except BaseException as exc:  # report, never hang the parent
        conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
    finally:
        conn.close()


def run_isolated(fn: Callable[..., Any], *args: Any, timeout: float = 3600) -> Any:
    """Run `fn(*args)` in a fresh (spawned) interpreter: its RSS and imports start clean."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_trampoline, args=(child, fn, args), name=f"bench-{fn.__name__}")
    proc.start()
    child.close()
    try:
        if not parent.poll(timeout):
            raise TimeoutError(f"{fn.__name__} did not finish in {timeout:.0f} s")
        status, payload = parent.recv()
    except EOFError:
        proc.join(5)
        raise RuntimeError(f"{fn.__name__} died (exit code {proc.exitcode})") from None
    finally:
        proc.join(30)
        if proc.is_alive():
            proc.kill()
            proc.join()
    if status != "ok":
        raise RuntimeError(f"{fn.__name__} failed in its process:\n{payload}")
    return payload


@contextlib.contextmanager
def tmpdir(prefix: str) -> Iterator[Path]:
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix=f"civic-bench-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# ----------------------------------------------------------------------------- report


def write_report(results: Sequence[Result], command: str, *, started: float, doc: Path = DOC,
                 info: dict[str, str] | None = None) -> str:
    info = info or machine()
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started))
    lines = [f"## Run {stamp}: `{command}`", ""]
    lines += [f"- {k}: {v}" for k, v in info.items() if v]
    lines += [f"- wall time of the whole run: {time.time() - started:.0f} s", ""]
    lines.append(table(results))
    notes = [(r.scenario, n) for r in results for n in r.notes]
    if notes:
        lines.append("")
        lines += [f"- {scenario}: {note}" for scenario, note in notes]
    text = "\n".join(lines) + "\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    if not doc.exists():
        doc.write_text(HEADER, encoding="utf-8")
    with doc.open("a", encoding="utf-8") as fh:
        fh.write("\n" + text)
    return text


HEADER = """# Benchmarks

Produced by the harness in `bench/` (`python -m bench SCENARIO [--size N]`, `python -m bench all`,
`python -m bench --smoke`). Every run appends a section below with the machine, the exact command
and a table; targets from issue 5 are beside the results. The machine is shared and noisy (2 cores):
values are medians of several runs where the scenario repeats, and comparisons are ratios measured
in the same run.
"""


def python_cmd() -> str:
    exe = Path(sys.executable)
    with contextlib.suppress(ValueError):
        exe = exe.relative_to(Path.cwd())
    return " ".join([str(exe), "-m", "bench", *sys.argv[1:]])
