"""Fixtures of the Slack tests: the stand-in (skips without ../shared's OpenAPI file)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.slack_standin import SlackStandIn


@pytest_asyncio.fixture
async def standin(shared_dir: Path) -> AsyncIterator[SlackStandIn]:
    if not (shared_dir / "slack-openapi" / "slack_web_openapi_v2.json").exists():
        pytest.skip("../shared/slack-openapi/slack_web_openapi_v2.json is absent")
    async with SlackStandIn() as server:
        yield server
