"""The stand-in's judge catches what Slack would refuse: a deliberately wrong payload fails."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.slack_standin import BOT_TOKEN, SlackStandIn
from tests.slack_standin.spec import check


async def test_unknown_parameter_and_overlong_text_are_violations(standin: SlackStandIn) -> None:
    channel = standin.add_channel("alerts")
    client = AsyncWebClient(token=BOT_TOKEN, base_url=standin.api_base)
    await client.api_call("chat.postMessage", json={"channel": channel.id, "text": "x" * 40_001, "colour": "red"})
    assert any("unknown parameter 'colour'" in v for v in standin.violations)
    assert any("text is 40001 chars" in v for v in standin.violations)


async def test_unknown_method_is_a_violation(standin: SlackStandIn) -> None:
    client = AsyncWebClient(token=BOT_TOKEN, base_url=standin.api_base)
    await client.api_call("chat.postEphemeralPlease", json={"channel": "C000000001"})
    assert standin.violations == ["chat.postEphemeralPlease: no such Web API method"]


async def test_a_refused_token_is_refused(standin: SlackStandIn) -> None:
    client = AsyncWebClient(token="xoxb-wrong", base_url=standin.api_base)
    with pytest.raises(SlackApiError, match="invalid_auth"):
        await client.auth_test()


def test_judge_checks_types_required_and_blocks() -> None:
    assert check("chat.update", {"channel": "C000000001"}) == ["chat.update: missing required parameter 'ts'"]
    assert check("conversations.history", {"channel": "C1", "limit": "many"}) == [
        "conversations.history: limit should be integer, got str"
    ]
    problems = check("chat.postMessage", {"channel": "C1", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}] * 51})
    assert any("51 blocks" in p for p in problems) and any("section text 3001" in p for p in problems)
    assert check("chat.postMessage", {"channel": "C1", "metadata": {"event_type": "civic_alert", "event_payload": {}}}) == []
