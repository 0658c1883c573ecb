"""Platform-neutral pieces of an alert.

Why separate from the Discord embed code: the console adapter and any future chat adapter say
the same things (headline, short summary, where and what, who else reported it, why it
matched); only the wrapping differs. Escaping is the adapter's job, since each platform's
markup differs.

Topic labels are not known here: they are data (config/topics.toml, bot.relevance's
TopicCatalog), so callers pass `topic_label` (usually `catalog.label`) and these functions stay
pure. Without one, an id is shown readably ("national-guard" → "National guard").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from bot.models import Story
from bot.text import clip

HEADLINE_MAX = 256
SUMMARY_MAX = 350
STORY_REF_RE = re.compile(r"story #(\d+)\s*$")
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]?(?=\s)")


def headline(story: Story) -> str:
    return clip(story.title, HEADLINE_MAX) or "(untitled)"  # a blank title is no headline


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
) -> str:
    """"Chicago, IL · Immigration enforcement"; `label` names a city id, `topic_label` a topic id."""
    places = ", ".join(label(c) for c in story.cities[:4])
    if len(story.cities) > 4:
        places += f" +{len(story.cities) - 4}"
    topics = ", ".join(topic_label(t) for t in story.topics)
    return " · ".join(part for part in (places, topics) if part)


def also_reported(story: Story, limit: int = 6) -> str | None:
    others = [o for o in story.outlets if o and o != story.source]
    if not others:
        return None
    text = ", ".join(others[:limit])
    if len(others) > limit:
        text += f" and {len(others) - limit} more"
    return f"Also reported by {text}"


def reported_by(story: Story) -> str:
    """ "Reported by 3 outlets" — how widely a story is covered, in one short line."""
    count = len({o for o in story.outlets if o}) or 1
    if count == 1:
        return f"Reported by {story.source}" if story.source else "Reported by 1 outlet"
    return f"Reported by {count} outlets"


def corroboration(story: Story) -> str:
    """ "1 outlet — unconfirmed" / "4 outlets": independent outlets behind the story (owners and
    syndicated copies count once, bot.corroboration). One outlet alone is a report, not a fact."""
    n = story.corroboration
    return "1 outlet — unconfirmed" if n <= 1 else f"{n} outlets"


def digest_title(count: int) -> str:
    return "Digest: 1 story" if count == 1 else f"Digest: {count} stories"


def digest_line(rank: int, story: Story) -> str:
    """One story of a digest: "1. Headline — 3 outlets · story #12" (the link follows)."""
    return f"{rank}. {headline(story)} — {corroboration(story)} · story #{story.id}"


def digest_text(stories: Sequence[Story]) -> str:
    """A digest as plain text: best first as the outbox hands them over, one line and link each."""
    lines = [digest_title(len(stories))]
    for rank, story in enumerate(stories, 1):
        lines.append(digest_line(rank, story))
        if story.url:
            lines.append(f"   {story.url}")
    return "\n".join(lines)


def why_short(story: Story, limit: int = 120) -> str:
    """The evidence in a few words: the matched terms and places, without the rule names."""
    bits: list[str] = []
    for entry in story.why:
        _, _, evidence = entry.partition("←")
        # 'topic:x ← "ICE" + "arrest"': each term is quoted on its own, so unquote each
        for term in (evidence or entry).split(" + "):
            term = term.strip().strip('"“”')
            if term and term not in bits:
                bits.append(term)
    return clip("Matched: " + ", ".join(bits), limit) if bits else "Matched your subscription"


def when(story: Story) -> str:
    """The story's time, or "date unknown" when its feed gave none (the time we hold is only
    when it was first seen, or the feed's own date: showing it as the story's would mislead)."""
    return f"{story.published:%Y-%m-%d %H:%M} UTC" if story.published_known else "date unknown"


def footer(story: Story) -> str:
    """Ends with "story #<id>": how an alert already posted is recognized after a crash."""
    return f"{why_short(story)} · story #{story.id}"


def plain_text(
    story: Story,
    label: Callable[[str], str] = lambda c: c,
    topic_label: Callable[[str], str] = plain_topic,
) -> str:
    """The whole alert as plain text (console, logs)."""
    lines = [headline(story), story.url]
    if story.summary:
        lines.append(summary(story))
    lines.append(where_topics(story, label, topic_label))
    lines.append(f"Source: {story.source} · {when(story)} · {corroboration(story)}")
    extra = also_reported(story)
    if extra:
        lines.append(extra)
    lines.append(footer(story))
    return "\n".join(lines)
