"""Issue 16 item 10: the stand-in flags keys Discord's schema does not declare (Discord ignores
them silently, so a misspelt `allowed_mention` switches a mention guard off without an error)
and unsafe allowed mentions on every kind of message body: channel messages, interaction
responses (type 4 and 7 callbacks) and webhook follow-ups."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.standin.fixtures import require_openapi
from tests.standin.validation import ValidationResult, check_message_limits, load_schemas
from tests.standin_tests.conftest import World

MISSPELT = {"content": "hello", "allowed_mention": {"parse": []}}
EVERYONE = {"content": "hello @everyone", "allowed_mentions": {"parse": ["everyone"]}}


async def test_a_misspelt_key_in_a_channel_message_is_a_400_and_a_violation(world: World) -> None:
    s = world.standin
    async with aiohttp.ClientSession() as http:
        url = f"{s.api_base}/channels/{world.alerts}/messages"
        async with http.post(url, json=MISSPELT, headers={"Authorization": f"Bot {s.token}"}) as resp:
            assert resp.status == 400
            body = await resp.json()
    assert body["errors"]["allowed_mention"]["_errors"][0]["code"] == "UNKNOWN_FIELD"
    assert [v.location for v in s.violations] == ["allowed_mention"]
    assert s.messages(world.alerts) == []


def _problems(component: str, body: dict[str, Any], *, prefix: tuple[str, ...] = ()) -> list[str]:
    """The problems the stand-in reports for `body` checked as `component` (as its handlers do)."""
    schemas = load_schemas(str(require_openapi()))
    assert schemas is not None
    result = ValidationResult()
    validator = schemas.validator("POST", "", component)
    assert validator is not None
    schemas.check(validator, body, result)
    check_message_limits(body.get("data", body) if prefix else body, result, prefix=prefix)
    return [f"{'.'.join(map(str, p.path))}:{p.code}" for p in result.problems]


@pytest.mark.parametrize(
    ("component", "wrap"),
    [
        ("CreateMessageInteractionCallbackRequest", 4),  # an answer to a slash command
        ("UpdateMessageInteractionCallbackRequest", 7),  # a button press updating its message
        ("IncomingWebhookRequestPartial", None),  # a follow-up after a deferred answer
    ],
)
def test_interaction_bodies_flag_unknown_keys_and_unsafe_mentions(component: str, wrap: int | None) -> None:
    def body(data: dict[str, Any]) -> dict[str, Any]:
        return {"type": wrap, "data": data} if wrap else data

    prefix = ("data",) if wrap else ()
    at = "data." if wrap else ""
    assert f"{at}allowed_mention:UNKNOWN_FIELD" in _problems(component, body(MISSPELT), prefix=prefix)
    assert f"{at}allowed_mentions:PROJECT_MENTION_POLICY" in _problems(component, body(EVERYONE), prefix=prefix)
    safe = {"content": "hello", "allowed_mentions": {"parse": []}}
    assert _problems(component, body(safe), prefix=prefix) == []
    nested = {"content": "x", "embeds": [{"title": "t", "colour": 5}]}  # British spelling: ignored by Discord
    assert f"{at}embeds.0.colour:UNKNOWN_FIELD" in _problems(component, body(nested), prefix=prefix)
