"""Fixtures for the ingest tests: the loopback feed server and fast fetch limits."""

from __future__ import annotations

import pytest

from bot.ingest.fetch import FetchLimits
from tests.feedserver import feed_server  # noqa: F401  (re-exported pytest fixture)


@pytest.fixture
def fast_limits() -> FetchLimits:
    """Small limits so timeout and size tests finish in about a second."""
    return FetchLimits(
        connect_timeout=1.0,
        read_timeout=1.0,
        total_timeout=2.0,
        max_bytes=1024 * 1024,
        max_redirects=5,
    )
