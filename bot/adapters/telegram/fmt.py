"""Telegram HTML: escaping and the alert messages.

Why HTML and not MarkdownV2: HTML needs three characters escaped (&, <, >; plus " inside an
attribute) where MarkdownV2 needs eighteen, so a headline from any feed stays safe with one
small function. Telegram counts the 4096-character limit in UTF-16 units of the text *after*
entity parsing, so lengths here are measured on the visible text, not on the markup.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bot import render
from bot.messages import Messages, messages
from bot.models import Alert, SearchHit, Story
from bot.text import clip

TEXT_MAX = 4096  # sendMessage / editMessageText text, after entity parsing
MESSAGE_ALERTS_MAX = 5  # alerts one message may carry (each ends with its "story #<id>" line)
SEPARATOR = "\n\n"


def esc(text: str) -> str:
    """Text for Telegram's HTML mode: only &, < and > are special outside tags."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def attr(text: str) -> str:
    """An attribute value (href) inside double quotes."""
    return esc(text).replace('"', "&quot;")


def visible_length(text: str) -> int:
    """UTF-16 length, as Telegram counts it."""
    return len(text.encode("utf-16-le")) // 2


def link(url: str, label: str) -> str:
    if url.startswith(("http://", "https://")):
        return f'<a href="{attr(url)}">{esc(label)}</a>'
    return esc(label)


def alert_parts(
    story: Story,
    label: Callable[[str], str] = lambda c: c,
    topic_label: Callable[[str], str] = render.plain_topic,
    summary_max: int = render.SUMMARY_MAX,
    msgs: Messages | None = None,
) -> tuple[str, str]:
    """(HTML, visible text) of one alert in the language of ``msgs`` (the subscription's);
    the last line ends with "story #<id>" in every language."""
    m = msgs or messages()
    title = render.headline(story, m)
    lines: list[tuple[str, str]] = [(f"<b>{link(story.url, title)}</b>", title)]
    if story.summary and summary_max > 0:
        text = render.summary(story, summary_max)
        lines.append((esc(text), text))
    where = render.where_topics(story, label, topic_label, m)
    if where:
        lines.append((f"<i>{esc(where)}</i>", where))
    source = f"{story.source} · {render.when(story, m)} · {render.corroboration(story, m)}"
    lines.append((esc(source), source))
    extra = render.also_reported(story, msgs=m)
    if extra:
        lines.append((esc(extra), extra))
    foot = render.footer(story, m)
    lines.append((esc(foot), foot))
    return "\n".join(h for h, _ in lines), "\n".join(v for _, v in lines)


def alerts_message(
    alerts: Sequence[Alert],
    label: Callable[[str], str] = lambda c: c,
    topic_label: Callable[[str], str] = render.plain_topic,
) -> str:
    """One message for `alerts` (a digest lists them), always within TEXT_MAX visible characters."""
    head_html = head_text = ""
    mention = alerts[0].mention if alerts else None
    if mention:  # the one @name the subscription's mention rule allows (Telegram has no roles)
        mention = clip(mention, 64)
        head_html, head_text = esc(mention) + SEPARATOR, mention + SEPARATOR
    if alerts and alerts[0].digest:
        return head_html + digest_message(
            [a.story for a in alerts], reserve=visible_length(head_text), msgs=messages(alerts[0].lang)
        )
    for summary_max in (render.SUMMARY_MAX, 160, 0):
        parts = [alert_parts(a.story, label, topic_label, summary_max, messages(a.lang)) for a in alerts]
        html = head_html + SEPARATOR.join(h for h, _ in parts)
        if visible_length(head_text + SEPARATOR.join(v for _, v in parts)) <= TEXT_MAX:
            return html
    # one story whose headline and lines alone are too long: cannot happen with render's caps
    return esc(clip(head_text + SEPARATOR.join(v for _, v in parts), TEXT_MAX - 1))


def fits(alerts: Sequence[Alert]) -> bool:
    """Whether these alerts fit one message with their full summaries."""
    total = sum(visible_length(alert_parts(a.story, msgs=messages(a.lang))[1]) for a in alerts) + len(SEPARATOR) * len(alerts)
    return total + 300 <= TEXT_MAX  # room for labels longer than ids and a mention line


def digest_message(stories: Sequence[Story], reserve: int = 0, msgs: Messages | None = None) -> str:
    m = msgs or messages()
    heading = render.digest_title(len(stories), m)
    lines = [f"<b>{esc(heading)}</b>"]
    used = reserve + visible_length(heading)
    for rank, story in enumerate(stories, 1):
        line = render.digest_line(rank, story, m)
        if used + visible_length(line) + 1 > TEXT_MAX:
            break
        used += visible_length(line) + 1
        title = f"{rank}. {render.headline(story, m)}"
        rest = line[len(title):]
        lines.append(link(story.url, title) + esc(rest))
    return "\n".join(lines)


def hits_message(title: str, hits: Sequence[SearchHit], footer: str = "") -> str:
    lines = [f"<b>{esc(title)}</b>"]
    for hit in hits:
        lines.append(f"• {link(hit.url, clip(hit.title, 200))} — {esc(hit.source)}, {hit.published:%Y-%m-%d}")
        if hit.snippet:
            lines.append(f"  {esc(clip(hit.snippet, 200))}")
    if footer:
        lines.append(esc(footer))
    return "\n".join(lines)


def stories_message(title: str, stories: Sequence[Story]) -> str:
    lines = [f"<b>{esc(title)}</b>"]
    for story in stories:
        lines.append(f"• {link(story.url, render.headline(story))} — {esc(story.source)}, "
                     f"{story.published:%Y-%m-%d} · {esc(render.corroboration(story))}")
    return "\n".join(lines)


def clip_html_safe(text: str) -> str:
    """Plain text (already escaped by the caller or not HTML at all) cut to the message limit."""
    return text if visible_length(text) <= TEXT_MAX else clip(text, TEXT_MAX - 100)
