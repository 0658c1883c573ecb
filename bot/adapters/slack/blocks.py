"""Alerts as Block Kit with a plain-text fallback, inside Slack's limits.

Why our own escaping: Slack reads `<`, `>` and `&` in mrkdwn as links and mentions, so a
headline such as "<!channel> raid" would ping a whole channel. Every outside text goes
through `escape`; the only mention an alert carries is its subscription's one rule mention.

Limits (docs.slack.dev, Block Kit reference): 50 blocks a message, 3,000 characters of section
text, 10 context elements; `text` is cut by Slack at 40,000 characters (we keep it short: it
is the notification and screen-reader line). Each story takes three blocks (section, context,
divider), so a message carries at most `MAX_STORIES` of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bot import render
from bot.messages import Messages, messages
from bot.models import Alert, Story
from bot.text import clip

EVENT_TYPE = "civic_alert"  # message metadata: how a posted alert is recognized after a crash
MAX_BLOCKS = 50
SECTION_MAX = 3000
CONTEXT_MAX = 2000
FALLBACK_MAX = 3000
MAX_STORIES = 10

Label = Callable[[str], str]


def escape(text: str) -> str:
    """Outside text made inert for mrkdwn (no links, mentions or entities)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    """`<url|label>` for an http(s) URL; the escaped label alone for anything else."""
    if not url.lower().startswith(("http://", "https://")):
        return escape(label)
    safe = escape(url).replace("|", "%7C").replace(" ", "%20")
    return f"<{safe}|{escape(label).replace('|', '¦')}>"


def mention_markup(mention: str | None) -> str:
    """A rule's mention as Slack markup: a user group id (S…), @here or @channel."""
    if not mention:
        return ""
    value = mention.strip().lstrip("@").lower()
    if value in {"here", "channel", "everyone"}:
        return f"<!{'channel' if value == 'everyone' else value}>"
    raw = mention.strip().lstrip("@")
    if raw[:1] in {"S"} and raw.isalnum():
        return f"<!subteam^{raw}>"
    return ""


def story_blocks(
    story: Story, label: Label, topic_label: Label, msgs: Messages | None = None
) -> list[dict[str, Any]]:
    """One story in the subscription's language (``msgs``); the footer still ends with
    "story #<id>" (what `story_ids_of` falls back to after a crash)."""
    m = msgs or messages()
    lines = [f"*{link(story.url, render.headline(story, m))}*"]
    if story.summary:
        lines.append(escape(render.summary(story)))
    where = render.where_topics(story, label, topic_label, m)
    if where:
        lines.append(f"_{escape(where)}_")
    context = [f"{escape(story.source)} · {escape(render.when(story, m))} · {escape(render.corroboration(story, m))}"]
    extra = render.also_reported(story, msgs=m)
    if extra:
        context.append(escape(extra))
    context.append(escape(render.footer(story, m)))
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": clip("\n".join(lines), SECTION_MAX)}},
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": clip(c, CONTEXT_MAX)} for c in context],
        },
    ]


def digest_blocks(stories: Sequence[Story], msgs: Messages | None = None) -> list[dict[str, Any]]:
    """One listing, best first; lines packed into sections of at most SECTION_MAX characters."""
    m = msgs or messages()
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": render.digest_title(len(stories), m)[:150]}}
    ]
    chunk = ""
    for rank, story in enumerate(stories, 1):
        line = escape(render.digest_line(rank, story, m))
        if story.url:
            line = (
                f"{rank}. {link(story.url, render.headline(story, m))} — "
                f"{escape(render.corroboration(story, m))} · story #{story.id}"
            )
        line = clip(line, SECTION_MAX)
        if chunk and len(chunk) + 1 + len(line) > SECTION_MAX:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": chunk}})
            chunk = ""
        chunk = f"{chunk}\n{line}" if chunk else line
    if chunk:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": chunk}})
    return blocks[:MAX_BLOCKS]


def alert_blocks(alerts: Sequence[Alert], label: Label, topic_label: Label) -> list[dict[str, Any]]:
    stories = [a.story for a in alerts]
    mention = mention_markup(alerts[0].mention) if alerts else ""
    blocks: list[dict[str, Any]] = []
    if mention:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": mention}})
    if alerts and alerts[0].digest:
        return (blocks + digest_blocks(stories, messages(alerts[0].lang)))[:MAX_BLOCKS]
    for i, alert in enumerate(alerts[:MAX_STORIES]):
        if i:
            blocks.append({"type": "divider"})
        blocks.extend(story_blocks(alert.story, label, topic_label, messages(alert.lang)))
    return blocks[:MAX_BLOCKS]


def fallback_text(alerts: Sequence[Alert]) -> str:
    """The notification / screen-reader line (and what clients without Block Kit show)."""
    stories = [a.story for a in alerts]
    mention = mention_markup(alerts[0].mention) if alerts else ""
    m = messages(alerts[0].lang if alerts else None)
    if alerts and alerts[0].digest:
        body = render.digest_title(len(stories), m)
    elif len(stories) == 1:
        body = f"{render.headline(stories[0], m)} — {render.corroboration(stories[0], m)}"
    else:
        headlines = "; ".join(render.headline(s, m) for s in stories)
        body = m("slack.alerts_many", n=len(stories), headlines=headlines)
    text = clip(escape(body), FALLBACK_MAX)
    return f"{mention} {text}" if mention else text


def metadata(alerts: Sequence[Alert], key: str) -> dict[str, Any]:
    """Message metadata: Slack keeps no idempotency key, so each alert says what it carries."""
    return {
        "event_type": EVENT_TYPE,
        "event_payload": {
            "story_ids": ",".join(str(a.story.id) for a in alerts),
            "delivery_ids": ",".join(str(a.delivery_id) for a in alerts),
            "key": key,
        },
    }


def story_ids_of(message: dict[str, Any]) -> list[int]:
    """Story ids a posted message carries (its metadata; the context footers as a fallback)."""
    meta = message.get("metadata") or {}
    if meta.get("event_type") == EVENT_TYPE:
        raw = str((meta.get("event_payload") or {}).get("story_ids") or "")
        ids = [int(p) for p in raw.split(",") if p.strip().isdigit()]
        if ids:
            return ids
    found: list[int] = []
    for block in message.get("blocks") or []:
        for element in block.get("elements") or []:
            match = render.STORY_REF_RE.search(str(element.get("text") or ""))
            if match:
                found.append(int(match.group(1)))
    return found
