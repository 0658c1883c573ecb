"""The Apprise sink against real local receivers: json://, form://, mailto:// (aiosmtpd), ntfy://.

The delivery worker, the store and Apprise are all real; only the far ends are local servers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.adapters.push import ApprisePushSink, destination
from bot.delivery import DeliveryWorker
from bot.models import Destination
from bot.store import Store
from tests.push.conftest import FORM_PASSWORD, JSON_PASSWORD, NTFY_PASSWORD, SMTP_PASSWORD
from tests.push.receivers import HookReceiver, SmtpReceiver
from tests.store.helpers import CHI, GUARD, IMM, Clock, article, match, save


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "push.sqlite3", clock=Clock())
    yield s
    await s.close()


async def stories(store: Store, titles: list[str], *, sources: int = 1) -> None:
    for title in titles:
        items = [
            # each outlet words it its own way: identical headlines would be syndicated copies,
            # which count as one outlet (bot.corroboration)
            (article(title + WORDING[k % len(WORDING)], source=f"Outlet {k}",
                     summary=f"{title}. Federal agents were seen."), match((IMM,), (CHI,)))
            for k in range(sources)
        ]
        await save(store, f"https://feed.example/{title[:8]}", items)


WORDING = ("", ", officials say", ", witnesses say")


async def deliver(store: Store, url: str, titles: list[str], *, sources: int = 1) -> tuple[DeliveryWorker, Destination]:
    dest = destination(url)
    await store.subscribe(dest, CHI, (IMM, GUARD))
    await stories(store, titles, sources=sources)
    worker = DeliveryWorker(store, ApprisePushSink(), clock=store.clock)
    await worker.drain_until_idle()
    return worker, dest


async def test_json_webhook_gets_one_notification_with_an_idempotency_key(store: Store) -> None:
    async with HookReceiver() as hook:
        url = hook.url("json", auth=f"user:{JSON_PASSWORD}")
        worker, dest = await deliver(store, url, ["ICE agents detain two in Pilsen"], sources=3)
        assert worker.sent_alerts == 1
        assert len(hook.received) == 1
        got = hook.received[0]
        assert got.path == "/hook"
        assert got.headers["Authorization"].startswith("Basic ")
        payload = got.json
        assert "ICE agents detain two in Pilsen" in payload["message"]
        assert "chicago-il · Immigration enforcement" in payload["message"] and "3 outlets" in payload["message"]
        assert payload["idempotency_key"].startswith("ca") and len(payload["idempotency_key"]) == 32
        assert payload["story_ids"] == str((await store.latest(CHI))[0].id)
        # the masked name is what the database shows; the password is not in it
        assert JSON_PASSWORD not in (dest.name or "")
        [state] = await store.destinations(platform="apprise")
        assert state.last_success is not None and state.last_error is None


async def test_several_due_alerts_go_as_one_digest(store: Store) -> None:
    async with HookReceiver() as hook:
        titles = ["ICE raid in Little Village", "Guard troops at Broadview", "ICE detains worker in Cicero area"]
        worker, _ = await deliver(store, hook.url("json"), titles)
        assert len(hook.received) == 1, "three due alerts, one notification"
        payload = hook.received[0].json
        assert payload["title"].startswith("3 civic alerts")
        for title in titles:
            assert title in payload["message"]
        assert len(hook.received[0].story_ids) == 3
        assert worker.sent_alerts == 3 and worker.sent_messages == 1


async def test_form_webhook_gets_fields_and_the_key(store: Store) -> None:
    async with HookReceiver() as hook:
        await deliver(store, hook.url("form", auth=f"user:{FORM_PASSWORD}"), ["ICE arrests reported in Pilsen"])
        [got] = hook.received
        assert got.form["title"] == "ICE arrests reported in Pilsen"
        assert "ICE arrests reported in Pilsen" in got.form["message"]
        assert got.form["idempotency_key"].startswith("ca")
        assert got.story_ids


async def test_email_through_a_local_smtp_server_is_html(store: Store) -> None:
    with SmtpReceiver("alerts", SMTP_PASSWORD) as smtp:
        url = f"mailto://alerts:{SMTP_PASSWORD}@127.0.0.1:{smtp.port}?from=alerts@example.org&to=team@example.org"
        worker, dest = await deliver(store, url, ["ICE agents detain two in Pilsen"], sources=2)
        assert worker.sent_alerts == 1
        assert smtp.logins == ["ok"]
        [msg] = smtp.mailbox.messages
        assert "ICE agents detain two in Pilsen" in str(msg["Subject"])
        parts = [p for p in msg.walk() if p.get_content_type() == "text/html"]
        assert parts, "e-mail carries an HTML part"
        raw = parts[0].get_payload(decode=True)
        assert isinstance(raw, bytes)
        html = raw.decode()
        assert '<a href="https://' in html and "2 outlets" in html
        assert smtp.mailbox.envelopes[0][1] == ["team@example.org"]
        assert "team@example.org" not in (dest.name or "")


async def test_ntfy_receiver_gets_a_json_post_with_topic(store: Store) -> None:
    async with HookReceiver() as ntfy:
        url = f"ntfy://alerts:{NTFY_PASSWORD}@127.0.0.1:{ntfy.port}/chicago-alerts"
        await deliver(store, url, ["National Guard troops arrive in Chicago"])
        [got] = ntfy.received
        assert got.path == "/"  # ntfy's JSON publishing: POST to the root, topic in the body
        body = got.json
        assert body["topic"] == "chicago-alerts"
        assert body["title"] == "National Guard troops arrive in Chicago"
        assert "https://" in body["message"]
        assert got.headers["Authorization"].startswith("Basic ")


async def test_markdown_service_gets_a_linked_headline(store: Store) -> None:
    async with HookReceiver() as ntfy:
        await deliver(store, f"ntfy://127.0.0.1:{ntfy.port}/t?format=markdown", ["ICE raid [update] in Pilsen"])
        [got] = ntfy.received
        assert got.headers.get("X-Markdown") == "yes"
        assert got.json["message"].startswith("**[ICE raid \\[update\\] in Pilsen](https://")


async def test_sms_sized_services_get_one_alert_per_message_within_160_chars(store: Store) -> None:
    from bot.adapters.push import format as fmt

    sink = ApprisePushSink()
    twilio = "twilio://AC" + "a" * 32 + ":" + "b" * 32 + "@15551234567/15557654321"
    await store.subscribe(destination(twilio), CHI, (IMM,))
    await stories(store, ["A very long headline about federal immigration agents " * 3, "Second ICE story in Pilsen"])
    alerts = await store.due_alerts()
    assert len(alerts) == 2
    assert sink.batch_size(alerts) == 1
    message = sink.render(alerts[0].destination, alerts[:1])
    assert message.title == "" and len(message.body) <= 160
    assert alerts[0].story.url in message.body
    assert message.fmt == fmt.TEXT
