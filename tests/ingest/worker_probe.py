"""Run inside a parse worker by tests/ingest/test_worker.py: what the worker has imported."""

from __future__ import annotations

import sys


def loaded() -> list[str]:
    return sorted(sys.modules)
