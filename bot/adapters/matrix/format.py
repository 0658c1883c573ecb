"""Alerts as Matrix message content: an `m.notice` with a plain `body` and an HTML
`formatted_body` in which every piece of feed text is escaped.

Why m.notice: by convention clients and bots do not answer notices, so two bots in one room
cannot start a loop, and clients may show them less loudly than people's messages. Why each
story ends with "story #<id>": after a crash the sink reads its own recent notices and finds
which stories already stand in the room (the same marker the other platforms use).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from bot import render
from bot.messages import Messages, messages
from bot.models import Alert, Story

EVENT_MAX_BYTES = 65_536  # the spec's limit for a whole event (with its envelope)
CONTENT_BUDGET = 48_000  # what one alert message's content may take, leaving room for the envelope
BATCH_MAX = 5  # stories per message: more is a wall of text in a chat client
STORY_MARK_RE = re.compile(r"story #(\d+)\b")
ROOM_MENTIONS = frozenset({"@room", "room"})

Label = Callable[[str], str]


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _safe_url(url: str) -> str | None:
    return url if url.startswith(("https://", "http://")) else None


def story_text(story: Story, label: Label, topic_label: Label, msgs: Messages | None = None) -> str:
    return render.plain_text(story, label, topic_label, msgs or messages())


def story_html(story: Story, label: Label, topic_label: Label, msgs: Messages | None = None) -> str:
    """One story in the language of ``msgs`` (the subscription's); ends with "story #<id>"."""
    m = msgs or messages()
    url = _safe_url(story.url)
    title = _e(render.headline(story, m))
    head = f'<b><a href="{_e(url)}">{title}</a></b>' if url else f"<b>{title}</b>"
    lines = [head]
    if story.summary:
        lines.append(_e(render.summary(story)))
    where = render.where_topics(story, label, topic_label, m)
    if where:
        lines.append(f"<i>{_e(where)}</i>")
    lines.append(
        _e(
            m(
                "alerts.source_line",
                source=story.source,
                time=render.when(story, m),
                corroboration=render.corroboration(story, m),
            )
        )
    )
    extra = render.also_reported(story, msgs=m)
    if extra:
        lines.append(_e(extra))
    lines.append(f"<sub>{_e(render.footer(story, m))}</sub>")
    return "<p>" + "<br/>".join(lines) + "</p>"


def digest_html(stories: Sequence[Story], msgs: Messages | None = None) -> str:
    m = msgs or messages()
    items = []
    for story in stories:
        url = _safe_url(story.url)
        title = _e(render.headline(story, m))
        link = f'<a href="{_e(url)}">{title}</a>' if url else title
        items.append(f"<li>{link} — {_e(render.corroboration(story, m))} · story #{story.id}</li>")
    return f"<p><b>{_e(render.digest_title(len(stories), m))}</b></p><ol>" + "".join(items) + "</ol>"


def wants_room_mention(alerts: Sequence[Alert]) -> bool:
    """@room only when the subscription's rules name it (the worker groups alerts by mention)."""
    return bool(alerts) and (alerts[0].mention or "").strip().lower() in ROOM_MENTIONS


def alert_content(alerts: Sequence[Alert], label: Label, topic_label: Label) -> dict[str, Any]:
    """The m.notice for one batch (or one digest); `m.mentions` is always present, so a client
    that honours intentional mentions pings nobody unless the rule asked for @room."""
    stories = [a.story for a in alerts]
    if alerts and alerts[0].digest:
        m = messages(alerts[0].lang)
        body = render.digest_text(stories, m)
        formatted = digest_html(stories, m)
    else:
        body = "\n\n".join(story_text(a.story, label, topic_label, messages(a.lang)) for a in alerts)
        formatted = "".join(story_html(a.story, label, topic_label, messages(a.lang)) for a in alerts)
    content: dict[str, Any] = {"msgtype": "m.notice", "m.mentions": {}}
    if wants_room_mention(alerts):
        body = "@room " + body
        formatted = "@room " + formatted
        content["m.mentions"] = {"room": True}
    content.update({"body": body, "format": "org.matrix.custom.html", "formatted_body": formatted})
    return content


def edit_content(event_id: str, new: dict[str, Any]) -> dict[str, Any]:
    """An `m.replace` of the alert `event_id` by `new` (never re-pinging: no mentions)."""
    inner = {k: v for k, v in new.items() if k != "m.mentions"}
    inner["m.mentions"] = {}
    return {
        "msgtype": "m.notice",
        "body": "* " + str(new["body"]),
        "format": "org.matrix.custom.html",
        "formatted_body": "* " + str(new["formatted_body"]),
        "m.new_content": inner,
        "m.relates_to": {"rel_type": "m.replace", "event_id": event_id},
        "m.mentions": {},
    }


def thread_update(root_event_id: str, stories: Sequence[Story], msgs: Messages | None = None) -> dict[str, Any]:
    """An update posted in the alert's thread: who else reported it now (in ``msgs``'s language)."""
    m = msgs or messages()
    lines = [render.also_reported(s, msgs=m) or render.reported_by(s, m) for s in stories]
    body = m("matrix.update", text="; ".join(lines))
    return {
        "msgtype": "m.notice",
        "body": body,
        "format": "org.matrix.custom.html",
        "formatted_body": _e(body),
        "m.mentions": {},
        "m.relates_to": {
            "rel_type": "m.thread",
            "event_id": root_event_id,
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": root_event_id},
        },
    }


def size(content: dict[str, Any]) -> int:
    return len(json.dumps(content, ensure_ascii=False).encode())


def story_ids_of(content: dict[str, Any]) -> list[int]:
    """The stories an alert notice carries (its "story #<id>" marks), in order."""
    body = str(content.get("body") or "")
    return [int(m.group(1)) for m in STORY_MARK_RE.finditer(body)]


def reply_content(text: str) -> dict[str, Any]:
    """A command answer: a notice with the same text escaped as HTML (line breaks kept)."""
    return {
        "msgtype": "m.notice",
        "body": text,
        "format": "org.matrix.custom.html",
        "formatted_body": "<br/>".join(_e(line) for line in text.split("\n")),
        "m.mentions": {},
    }
