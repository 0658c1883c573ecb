"""One alert (or a digest of several) worded for a push service's format and length limits.

Why three shapes: SMS and Signal take plain text and count characters (an SMS is 160), so they
get the essentials only — headline, city, topics, one link, how many outlets reported it;
services whose Apprise plugin speaks Markdown (Slack, ntfy with format=markdown) get a linked
headline; e-mail gets HTML with the summary. The wording itself comes from bot.render, shared
with every other adapter.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.messages import Messages, messages
from bot.models import Story
from bot.render import clip, corroboration, footer, headline, plain_topic, summary, where_topics

TEXT, MARKDOWN, HTML = "text", "markdown", "html"
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~<])")
Label = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    body: str
    fmt: str


def _md(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text)


def reported_by(story: Story, msgs: Messages | None = None) -> str:
    """How many independent outlets stand behind it ("1 outlet — unconfirmed", "4 outlets")."""
    return corroboration(story, msgs)


def _text_one(
    story: Story, label: Label, room: int, topic_label: Label = plain_topic, m: Messages | None = None
) -> str:
    """Plain text within `room` characters: the link always survives, details go first."""
    where = where_topics(story, label, topic_label, m)
    outlets = reported_by(story, m)
    head = headline(story, m)
    for parts in ((head, where, story.url, outlets), (head, where, story.url), (head, story.url)):
        text = "\n".join(p for p in parts if p)
        if len(text) <= room:
            return text
    space = room - len(story.url) - 1
    if space >= 20:
        return clip(story.title, space) + "\n" + story.url
    return clip(f"{head} {story.url}", room)


def _markdown_one(
    story: Story, label: Label, topic_label: Label = plain_topic, m: Messages | None = None
) -> str:
    lines = [f"**[{_md(headline(story, m))}]({story.url})**", _md(where_topics(story, label, topic_label, m))]
    if story.summary:
        lines.append(_md(summary(story, 280)))
    lines.append(f"_{_md(reported_by(story, m))}_ · {_md(footer(story, m))}")
    return "\n".join(lines)


def _html_one(
    story: Story, label: Label, topic_label: Label = plain_topic, m: Messages | None = None
) -> str:
    parts = [
        f'<p><b><a href="{html.escape(story.url, quote=True)}">{html.escape(headline(story, m))}</a></b><br>',
        f"{html.escape(where_topics(story, label, topic_label, m))}<br>",
    ]
    if story.summary:
        parts.append(f"{html.escape(summary(story))}<br>")
    parts.append(f"<small>{html.escape(reported_by(story, m))} · {html.escape(footer(story, m))}</small></p>")
    return "".join(parts)


def digest_title(stories: Sequence[Story], label: Label, msgs: Messages | None = None) -> str:
    m = msgs or messages()
    if len(stories) == 1:
        return headline(stories[0], m)
    cities: list[str] = []
    for story in stories:
        for city in story.cities[:1]:
            if label(city) not in cities:
                cities.append(label(city))
    where = f" — {', '.join(cities[:3])}" if cities else ""
    return m("alerts.push_digest", n=len(stories), where=where)


def render(
    stories: Sequence[Story],
    fmt: str,
    *,
    body_max: int,
    title_max: int,
    label: Label = lambda c: c,
    topic_label: Label = plain_topic,
    msgs: Messages | None = None,
) -> Message:
    """Title and body for one notification; `title_max` 0 means the service has no title.
    Worded in the language of ``msgs`` (the subscription's catalogue; English without one)."""
    m = msgs or messages()
    title = digest_title(stories, label, m)
    if fmt == HTML:
        body = "".join(_html_one(s, label, topic_label, m) for s in stories)
    elif fmt == MARKDOWN:
        body = "\n\n".join(_markdown_one(s, label, topic_label, m) for s in stories)
    else:
        title_room = 0 if title_max <= 0 else len(title[:title_max]) + 1
        room = max(40, body_max - title_room)
        if len(stories) == 1:
            body = _text_one(stories[0], label, room, topic_label, m)
        else:
            body = "\n".join(
                f"{i}. {headline(s, m)}\n{where_topics(s, label, topic_label, m)}\n{s.url}\n{reported_by(s, m)}"
                for i, s in enumerate(stories, 1)
            )
    if title_max <= 0:  # no title field (Signal, SMS, WhatsApp): the digest title leads the body
        if len(stories) > 1:
            body = f"{title}\n\n{body}"
        title = ""
    else:
        title = clip(title, title_max)
    return Message(title=title, body=body, fmt=fmt)


def fits(message: Message, *, body_max: int, title_max: int) -> bool:
    return len(message.body) + len(message.title) <= body_max and len(message.title) <= max(0, title_max)
