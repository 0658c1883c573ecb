"""Platform-neutral pieces of an alert.

Why separate from the Discord embed code: the console adapter and any future chat adapter say
the same things (headline, short summary, where and what, who else reported it, why it
matched); only the wrapping differs. Escaping is the adapter's job, since each platform's
markup differs.

Topic labels are not known here: they are data (config/topics.toml, bot.relevance's
TopicCatalog), so callers pass `topic_label` (usually `catalog.label`) and these functions stay
pure. Without one, an id is shown readably ("national-guard" → "National guard").

Every word an alert says comes from a message catalogue (bot/messages.py,
config/messages/<lang>.toml): callers pass the subscription's ``msgs`` (``messages(alert.lang)``);
without one, English. A catalogue's own topic label wins over ``topic_label``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from bot.crosslang import reports_in_languages
from bot.messages import Messages, messages
from bot.models import Story
from bot.text import clip

HEADLINE_MAX = 256
SUMMARY_MAX = 350
STORY_REF_RE = re.compile(r"story #(\d+)\s*$")
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]?(?=\s)")


def _m(msgs: Messages | None) -> Messages:
    return msgs if msgs is not None else messages()


def headline(story: Story, msgs: Messages | None = None) -> str:
    # a blank title is no headline
    return clip(story.title, HEADLINE_MAX) or _m(msgs)("alerts.untitled")


def summary(story: Story, limit: int = SUMMARY_MAX) -> str:
    """At most `limit` characters, ending at a sentence boundary when one falls late enough."""
    text = " ".join(story.summary.split())
    if len(text) <= limit:
        return text
    window = text[: limit + 1]
    ends = [m.end() for m in _SENTENCE_END.finditer(window + " ")]
    ends = [e for e in ends if e <= limit]
    if ends and ends[-1] >= limit * 0.4:
        return window[: ends[-1]].strip()
    return clip(text, limit)


def plain_topic(topic: str) -> str:
    """The fallback label of a topic id: "national-guard" → "National guard"."""
    return topic.replace("-", " ").capitalize()


def where_topics(
    story: Story,
    label: Callable[[str], str] = lambda c: c,
    topic_label: Callable[[str], str] = plain_topic,
    msgs: Messages | None = None,
) -> str:
    """"Chicago, IL · Immigration enforcement"; `label` names a city id, `topic_label` a topic id
    (the catalogue's own label first: "Control migratorio")."""
    places = ", ".join(label(c) for c in story.cities[:4])
    if len(story.cities) > 4:
        places += f" +{len(story.cities) - 4}"
    m = _m(msgs)
    topics = ", ".join(m.topic(t) or topic_label(t) for t in story.topics)
    return " · ".join(part for part in (places, topics) if part)


def _outlet_list(outlets: Sequence[str], limit: int, m: Messages) -> str:
    text = ", ".join(outlets[:limit])
    if len(outlets) > limit:
        text = m("alerts.and_more", outlets=text, n=len(outlets) - limit)
    return text


def also_reported(story: Story, limit: int = 6, msgs: Messages | None = None) -> str | None:
    """ "Also reported by A, B" and, for reports joined across languages (bot/crosslang.py),
    "Also reported in Spanish by C" — in the subscription's language."""
    m = _m(msgs)
    others = [o for o in story.outlets if o and o != story.source]
    if not others:
        return None
    lang_of = {outlet: lang for lang, outlet in reports_in_languages(story.why)}
    lead = lang_of.get(story.source)
    by_lang: dict[str, list[str]] = {}
    for outlet in others:
        lang = lang_of.get(outlet)
        if lang is not None and lang != lead:
            by_lang.setdefault(lang, []).append(outlet)
    foreign = {o for outlets in by_lang.values() for o in outlets}
    parts: list[str] = []
    plain = [o for o in others if o not in foreign]
    if plain:
        parts.append(m("alerts.also_reported", outlets=_outlet_list(plain, limit, m)))
    for lang, outlets in by_lang.items():
        parts.append(
            m(
                "alerts.also_reported_in",
                language=m.language(lang),
                outlets=_outlet_list(outlets, limit, m),
            )
        )
    return " · ".join(parts)


def reported_by(story: Story, msgs: Messages | None = None) -> str:
    """ "Reported by 3 outlets" — how widely a story is covered, in one short line."""
    m = _m(msgs)
    count = len({o for o in story.outlets if o}) or 1
    if count == 1:
        if story.source:
            return m("alerts.reported_by_source", source=story.source)
        return m("alerts.reported_by_one")
    return m("alerts.reported_by_many", n=count)


def corroboration(story: Story, msgs: Messages | None = None) -> str:
    """ "1 outlet — unconfirmed" / "4 outlets": independent outlets behind the story (owners and
    syndicated copies count once, bot.corroboration). One outlet alone is a report, not a fact."""
    m = _m(msgs)
    n = story.corroboration
    return m("alerts.unconfirmed") if n <= 1 else m("alerts.outlets", n=n)


def digest_title(count: int, msgs: Messages | None = None) -> str:
    m = _m(msgs)
    return m("alerts.digest_one") if count == 1 else m("alerts.digest_many", n=count)


def digest_line(rank: int, story: Story, msgs: Messages | None = None) -> str:
    """One story of a digest: "1. Headline — 3 outlets · story #12" (the link follows)."""
    return f"{rank}. {headline(story, msgs)} — {corroboration(story, msgs)} · story #{story.id}"


def digest_text(stories: Sequence[Story], msgs: Messages | None = None) -> str:
    """A digest as plain text: best first as the outbox hands them over, one line and link each."""
    lines = [digest_title(len(stories), msgs)]
    for rank, story in enumerate(stories, 1):
        lines.append(digest_line(rank, story, msgs))
        if story.url:
            lines.append(f"   {story.url}")
    return "\n".join(lines)


def why_short(story: Story, limit: int = 120, msgs: Messages | None = None) -> str:
    """The evidence in a few words: the matched terms and places, without the rule names (a
    cross-language join's ``lang:`` line is no matched term: "also reported in" says it)."""
    m = _m(msgs)
    bits: list[str] = []
    for entry in story.why:
        if entry.startswith("lang:"):
            continue
        _, _, evidence = entry.partition("←")
        # 'topic:x ← "ICE" + "arrest"': each term is quoted on its own, so unquote each
        for term in (evidence or entry).split(" + "):
            term = term.strip().strip('"“”')
            if term and term not in bits:
                bits.append(term)
    if not bits:
        return m("alerts.matched_subscription")
    return clip(m("alerts.matched", terms=", ".join(bits)), limit)


def when(story: Story, msgs: Messages | None = None) -> str:
    """The story's time, or "date unknown" when its feed gave none (the time we hold is only
    when it was first seen, or the feed's own date: showing it as the story's would mislead)."""
    if story.published_known:
        return f"{story.published:%Y-%m-%d %H:%M} UTC"
    return _m(msgs)("alerts.date_unknown")


def footer(story: Story, msgs: Messages | None = None) -> str:
    """Ends with "story #<id>" in every language: how an alert already posted is recognized
    after a crash."""
    return f"{why_short(story, msgs=msgs)} · story #{story.id}"


def plain_text(
    story: Story,
    label: Callable[[str], str] = lambda c: c,
    topic_label: Callable[[str], str] = plain_topic,
    msgs: Messages | None = None,
) -> str:
    """The whole alert as plain text (console, logs)."""
    m = _m(msgs)
    lines = [headline(story, m), story.url]
    if story.summary:
        lines.append(summary(story))
    lines.append(where_topics(story, label, topic_label, m))
    lines.append(
        m(
            "alerts.source_line",
            source=story.source,
            time=when(story, m),
            corroboration=corroboration(story, m),
        )
    )
    extra = also_reported(story, msgs=m)
    if extra:
        lines.append(extra)
    lines.append(footer(story, m))
    return "\n".join(lines)
