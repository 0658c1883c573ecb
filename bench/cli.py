"""``python -m bench SCENARIO [--size N] [--repeat R]``, ``python -m bench all``, ``python -m bench --smoke``.

Scenarios (full size → smoke size):

    ingest-cold    200 feeds × 50 items, empty DB; ours vs reader        → 4 feeds × 10 items
    ingest-steady  1,000 feeds, nothing new; ours vs reader              → 10 feeds
    loop-lag       10 ms ticker during an ingest-cold cycle (200 feeds)   → 4 feeds
    classify       topic + place tagging on one core (20,000 items)       → 500 items
    classify-mixed the same, 1 in 5 items Spanish, detected and declared   → 500 items
    fanout         1 story → 1,000 channels; 100 stories × 100 channels   → 20 channels; 5 × 5
    search         1,000,000 stored articles, 200 queries                 → 2,000 articles
    alert-latency  feed item → stand-in message, default poll settings    → 2 s interval
    memory         1,000-feed cold cycle with 1,000,000 articles stored   → 4 feeds, 2,000 articles
    workers        200 feeds × 50 items, 1 vs 2 `run` processes on one PostgreSQL → 4 feeds × 10 items
    clustering     µs per new headline, 10k / 100k / 1M headlines in the window → 200 / 1,000
    reader-compare whole-process `poll --once --all` vs reader, 200 feeds × 50
                   cluster-heavy items (headlines sharing many words)     → 4 feeds × 10 items

A full run prints its table and appends it (machine, command) to docs/benchmarks.md; ``--smoke``
only prints (``--write`` to append anyway) and exits non-zero if a scenario crashed or produced no
numbers. Smoke mode is what .ci/run calls.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from bench.common import Result, machine, python_cmd, table, write_report


@dataclass(frozen=True)
class Scenario:
    name: str
    full: int
    smoke: int
    repeat: int
    run: Callable[[int, bool, int], Result]
    help: str


def _ingest_cold(size: int, smoke: bool, repeat: int) -> Result:
    from bench.s_ingest import ingest_cold

    return ingest_cold(size, smoke, repeat)


def _ingest_steady(size: int, smoke: bool, repeat: int) -> Result:
    from bench.s_ingest import ingest_steady

    return ingest_steady(size, smoke, repeat)


def _loop_lag(size: int, smoke: bool, repeat: int) -> Result:
    from bench.s_ingest import loop_lag

    return loop_lag(size, smoke, repeat)


def _memory(size: int, smoke: bool, repeat: int) -> Result:
    from bench.s_ingest import memory

    return memory(size, smoke, repeat, stored=2_000 if smoke else 1_000_000)


def _clustering(size: int, smoke: bool, repeat: int) -> Result:
    from bench.s_clustering import clustering

    return clustering(size, smoke, repeat)


def _reader_compare(size: int, smoke: bool, repeat: int) -> Result:
    from bench.s_compare import reader_compare

    return reader_compare(size, smoke, repeat)


def _classify(size: int, smoke: bool, repeat: int) -> Result:
    from bench.s_classify import classify

    return classify(size, smoke, repeat)


def _classify_mixed(size: int, smoke: bool, repeat: int) -> Result:
    from bench.s_classify_mixed import classify_mixed

    return classify_mixed(size, smoke, repeat)


def _fanout(size: int, smoke: bool, repeat: int) -> Result:
    from bench.s_fanout import fanout

    return fanout(size, smoke, repeat)


def _search(size: int, smoke: bool, repeat: int) -> Result:
    from bench.s_search import search

    return search(size, smoke, repeat)


def _latency(size: int, smoke: bool, repeat: int) -> Result:
    from bench.s_latency import alert_latency

    return alert_latency(size, smoke, repeat)


def _workers(size: int, smoke: bool, repeat: int) -> Result:
    from bench.s_workers import workers

    return workers(size, smoke, repeat)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("ingest-cold", 200, 4, 3, _ingest_cold, "feeds"),
        Scenario("ingest-steady", 1000, 10, 3, _ingest_steady, "feeds"),
        Scenario("loop-lag", 200, 4, 3, _loop_lag, "feeds"),
        Scenario("classify", 20_000, 500, 5, _classify, "items"),
        Scenario("classify-mixed", 20_000, 500, 5, _classify_mixed, "items"),
        Scenario("fanout", 1000, 20, 1, _fanout, "channels for the single story"),
        Scenario("search", 1_000_000, 2_000, 1, _search, "stored articles"),
        Scenario("alert-latency", 300, 2, 1, _latency, "poll interval in seconds"),
        Scenario("memory", 1000, 4, 1, _memory, "feeds"),
        Scenario("workers", 200, 4, 1, _workers, "feeds"),
        Scenario("clustering", 1_000_000, 1_000, 3, _clustering, "largest window (headlines)"),
        Scenario("reader-compare", 200, 4, 3, _reader_compare, "feeds"),
    )
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                   help=f"one or more of: {', '.join(SCENARIOS)}, or 'all'")
    p.add_argument("--smoke", action="store_true", help="every scenario (or those named) at tiny sizes")
    p.add_argument("--size", type=int, help="override the scenario's main size (see the list above)")
    p.add_argument("--repeat", type=int, help="override how many runs the median is taken over")
    p.add_argument("--write", action="store_true", help="append to docs/benchmarks.md even in smoke mode")
    p.add_argument("--no-write", action="store_true", help="do not append to docs/benchmarks.md")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    names = args.scenarios or (["all"] if args.smoke else [])
    if not names:
        p.error("name a scenario, 'all', or --smoke")
    if "all" in names:
        names = list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        p.error(f"unknown scenario(s): {', '.join(unknown)}")
    args.names = names
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    started = time.time()
    info = machine()  # at the start: the commit and load the run began with
    results: list[Result] = []
    crashed: list[str] = []
    for name in args.names:
        sc = SCENARIOS[name]
        size = args.size if args.size is not None else (sc.smoke if args.smoke else sc.full)
        repeat = args.repeat if args.repeat is not None else (1 if args.smoke else sc.repeat)
        t0 = time.time()
        print(f"→ {name} (size {size}, repeat {repeat}) …", file=sys.stderr, flush=True)
        try:
            res = sc.run(size, args.smoke, repeat)
        except Exception:
            traceback.print_exc()
            crashed.append(name)
            res = Result(name, f"size {size}")
            res.add("CRASHED", "see the traceback above")
        else:
            if not res.numbers:
                crashed.append(name)
                res.notes.append("produced no numbers")
        res.add("scenario wall time (s)", time.time() - t0, "{:.1f}", key="_scenario_wall")
        print(f"  {name}: {time.time() - t0:.1f} s", file=sys.stderr, flush=True)
        results.append(res)
    print(table(results))
    for r in results:
        for note in r.notes:
            print(f"- {r.scenario}: {note}")
    write = (args.write or not args.smoke) and not args.no_write
    if write:
        write_report(results, python_cmd(), started=started, info=info)
        print("(appended to docs/benchmarks.md)", file=sys.stderr)
    if crashed:
        print(f"bench: scenario(s) failed: {', '.join(crashed)}", file=sys.stderr)
        return 1
    return 0
