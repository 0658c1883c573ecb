"""Discord embeds for alerts and command replies.

Why here and not in bot/render.py: render.py decides *what* an alert says (headline, summary,
where/topics, why) for every platform; this module decides how Discord shows it and enforces
Discord's hard limits (title 256, description 4096, footer 2048, author 256, 10 embeds and
6,000 characters per message). A message over a limit is rejected whole with a 400, so every
string is clipped here, after escaping.

Feed text is untrusted: "@everyone", role mentions and masked links like "[click](http://evil)"
are escaped so they render inert, and every send also passes AllowedMentions.none().
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import discord

from bot import render
from bot.messages import Messages, messages
from bot.models import Alert, SearchHit, Story

TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FOOTER_MAX = 2048
AUTHOR_MAX = 256
FIELD_VALUE_MAX = 1024
MESSAGE_EMBEDS_MAX = 10
MESSAGE_CHARS_MAX = 6000
URL_MAX = 2048
ALERT_DESCRIPTION_MAX = 1200  # summary ≈ 350 plus where/also lines, with escaping headroom

ALERT_COLOUR = discord.Colour(0xC0392B)
INFO_COLOUR = discord.Colour(0x2C3E50)

NO_MENTIONS = discord.AllowedMentions.none()

CityLabeler = Callable[[str], str]
TopicLabeler = Callable[[str], str]  # topic id → label; the bot passes its TopicCatalog.label


def clip(text: str, limit: int) -> str:
    """Cut to `limit` characters with an ellipsis, never leaving a dangling escape backslash."""
    text = text or ""
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - 1)].rstrip()
    while cut.endswith("\\"):
        cut = cut[:-1]
    return cut + "…"


def inert(text: str) -> str:
    """Markdown and mentions from a feed, escaped so they show as typed and ping nobody."""
    return discord.utils.escape_mentions(discord.utils.escape_markdown(text or ""))


def plain(text: str) -> str:
    """For fields Discord shows without markdown (author, footer): only mentions escaped."""
    return discord.utils.escape_mentions(" ".join((text or "").split()))


def safe_url(url: str | None) -> str | None:
    """Discord rejects an embed whose url is not http(s): drop anything else."""
    if url and url.startswith(("http://", "https://")) and len(url) <= URL_MAX and " " not in url:
        return url
    return None


def _labeler(
    city_label: CityLabeler | None, fallback: Callable[[str], str] = lambda i: i
) -> CityLabeler:
    """An id → label function that never raises (an unknown id shows as `fallback(id)`)."""

    def label(city_id: str) -> str:
        if city_label is None:
            return fallback(city_id)
        try:
            return city_label(city_id)
        except Exception:
            return fallback(city_id)

    return label


def alert_embed(
    story: Story,
    *,
    city_label: CityLabeler | None = None,
    topic_label: TopicLabeler | None = None,
    msgs: Messages | None = None,
) -> discord.Embed:
    """One alert: headline → story link, summary, where/topics, outlets, published, why + id,
    in the language of ``msgs`` (the subscription's catalogue; English without one)."""
    m = msgs or messages()
    summary = inert(render.summary(story))
    lines = [summary] if summary else []
    where = render.where_topics(
        story, _labeler(city_label), _labeler(topic_label, fallback=render.plain_topic), m
    )
    if where:
        lines.append(f"📍 {inert(where)}")
    source_line = m("alerts.source", source=inert(story.source)) if story.source else ""
    corroboration = render.corroboration(story, m)
    source_line = f"{source_line} · {corroboration}" if source_line else corroboration
    also = render.also_reported(story, msgs=m)
    if also:
        source_line = f"{source_line} · {inert(also)}" if source_line else inert(also)
    if source_line:
        lines.append(source_line)
    details = "\n".join(lines[1:]) if summary else "\n".join(lines)
    description = clip(
        f"{summary}\n\n{details}".strip() if summary else details, ALERT_DESCRIPTION_MAX
    )
    embed = discord.Embed(
        title=clip(inert(render.headline(story, m)), TITLE_MAX),
        url=safe_url(story.url),
        description=description or None,
        colour=ALERT_COLOUR,
        timestamp=story.published,
    )
    footer = render.footer(story, m)
    # the footer must keep ending in "story #<id>" (find_sent relies on it): clip the front
    footer = plain(footer)
    if len(footer) > FOOTER_MAX:
        footer = "…" + footer[-(FOOTER_MAX - 1) :]
    embed.set_footer(text=footer)
    return embed


def alert_embeds(
    alerts: Sequence[Alert],
    *,
    city_label: CityLabeler | None = None,
    topic_label: TopicLabeler | None = None,
) -> list[discord.Embed]:
    return [
        alert_embed(a.story, city_label=city_label, topic_label=topic_label, msgs=messages(a.lang))
        for a in alerts
    ]


def digest_embed(alerts: Sequence[Alert]) -> discord.Embed:
    """A digest: one embed listing the period's stories as the worker ordered them (best first),
    each a linked headline with its outlet count; the footer keeps every "story #<id>" so
    find_sent recognizes a digest after a crash."""
    lines: list[str] = []
    used = 0
    m = messages(alerts[0].lang if alerts else None)
    for rank, alert in enumerate(alerts, 1):
        story = alert.story
        title = clip(inert(render.headline(story, m)), 180)
        url = safe_url(story.url)
        head = f"[{title}]({url})" if url else title
        line = f"**{rank}.** {head} — {render.corroboration(story, m)}"
        if used + len(line) + 1 > DESCRIPTION_MAX - 100:
            lines.append(m("alerts.digest_more", n=len(alerts) - rank + 1))
            break
        lines.append(line)
        used += len(line) + 1
    embed = discord.Embed(
        title=render.digest_title(len(alerts), m), description="\n".join(lines), colour=ALERT_COLOUR
    )
    ids = " ".join(f"story #{a.story.id}" for a in alerts)
    embed.set_footer(text=clip(ids, FOOTER_MAX))
    return embed


def mention_content(alerts: Sequence[Alert]) -> tuple[str | None, discord.AllowedMentions]:
    """The ping of a batch (the worker groups alerts by mention): "<@&role>" with allowed mentions
    that permit exactly that one role and nothing else; no mention → nothing permitted."""
    role = alerts[0].mention if alerts else None
    if not role or not role.isdigit():
        return None, NO_MENTIONS
    allowed = discord.AllowedMentions(
        everyone=False, users=False, roles=[discord.Object(int(role))], replied_user=False
    )
    return f"<@&{role}>", allowed


def batch_size(embeds: Sequence[discord.Embed]) -> int:
    """How many leading embeds fit one message (≤ 10 embeds, ≤ 6,000 characters); at least 1."""
    total = 0
    count = 0
    for embed in embeds[:MESSAGE_EMBEDS_MAX]:
        size = len(embed)
        if count and total + size > MESSAGE_CHARS_MAX:
            break
        total += size
        count += 1
    return max(1, count) if embeds else 0


def hit_line(rank: int, hit: SearchHit) -> str:
    """One search result as a line: "1. [headline](url) — Source · 12 Nov 2026"."""
    title = clip(inert(hit.title), 200)
    url = safe_url(hit.url)
    head = f"[{title}]({url})" if url else title
    when = hit.published.strftime("%d %b %Y")
    snippet = clip(inert(" ".join((hit.snippet or "").split())), 180)
    line = f"**{rank}.** {head}\n{inert(hit.source)} · {when}"
    return f"{line}\n> {snippet}" if snippet else line


def story_line(story: Story) -> str:
    title = clip(inert(story.title), 200)
    url = safe_url(story.url)
    head = f"[{title}]({url})" if url else title
    return f"• {head} — {inert(story.source)}, {discord.utils.format_dt(story.published, 'R')}"


def info_embed(
    title: str, description: str = "", *, colour: discord.Colour = INFO_COLOUR
) -> discord.Embed:
    """Replies to commands (our own text; callers escape any user/feed text they put in)."""
    return discord.Embed(
        title=clip(title, TITLE_MAX),
        description=clip(description, DESCRIPTION_MAX) or None,
        colour=colour,
    )
