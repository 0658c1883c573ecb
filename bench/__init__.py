"""Benchmark harness: ``python -m bench SCENARIO [--size N]`` and ``python -m bench --smoke``.

Every scenario is self-contained on 127.0.0.1 (a feed host process, the Discord stand-in from
tests/standin, a temporary SQLite file). Full runs print a table and append it, with the machine
description and the exact command, to docs/benchmarks.md. See bench/cli.py for the options.
"""
