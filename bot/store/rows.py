"""Row → record converters and the subscription query every table group shares.

Why a module of its own: stories (fan-out inside the save transaction) and subscriptions
(listing, unsubscribing) read subscriptions the same way; one reader keeps them in step.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.assembly import SaveReport
from bot.models import Destination, Story, Subscription
from bot.rules import rules_from_json

STORY_COLUMNS = (
    "id, title, url, source, summary, image_url, published, outlets, topics, cities, why, independent, lead_known"
)

SUB_SELECT = (
    "SELECT s.id, s.destination_id, s.city, s.topics, s.rules, s.created, s.lang, d.platform, d.address, d.grp, "
    "d.name, d.paused, d.pause_reason FROM subscriptions s JOIN destinations d ON d.id = s.destination_id"
)


def dt(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def story_from_row(row: Mapping[str, Any] | sqlite3.Row) -> Story:
    return Story(
        id=row["id"],
        title=row["title"],
        url=row["url"],
        source=row["source"],
        outlets=tuple(json.loads(row["outlets"])),
        published=dt(row["published"]),
        topics=tuple(json.loads(row["topics"])),
        cities=tuple(json.loads(row["cities"])),
        summary=row["summary"],
        why=tuple(json.loads(row["why"])),
        image_url=row["image_url"],
        independent=int(row["independent"] or 0),
        published_known=bool(row["lead_known"]),
    )


def destination_from_row(row: sqlite3.Row) -> Destination:
    return Destination(platform=row["platform"], address=row["address"], group=row["grp"], name=row["name"])


def subscription_from_row(row: sqlite3.Row) -> Subscription:
    return Subscription(
        id=row["id"],
        destination_id=row["destination_id"],
        destination=destination_from_row(row),
        city=row["city"],
        topics=tuple(json.loads(row["topics"])),
        paused=bool(row["paused"]),
        pause_reason=row["pause_reason"],
        created=dt(row["created"]),
        rules=rules_from_json(row["rules"]),
        lang=row["lang"] or "en",
    )


def subscriptions_where(c: sqlite3.Connection, where: str, params: Mapping[str, object]) -> list[Subscription]:
    rows = c.execute(f"{SUB_SELECT} WHERE {where} ORDER BY s.id", dict(params)).fetchall()
    return [subscription_from_row(r) for r in rows]


def save_report(
    stories: Sequence[Story], *, new_ids: Sequence[int], updated: set[int], new_articles: int,
    duplicates: int, queued: int, backlog_ids: Sequence[int],
) -> SaveReport:
    """One feed's SaveReport from what its save counted (both backends)."""
    new = set(new_ids)
    return SaveReport(
        new_stories=tuple(stories),
        updated_story_ids=tuple(sorted(updated - new)),
        new_articles=new_articles,
        duplicates=duplicates,
        alerts_queued=queued,
        backlog_story_ids=tuple(i for i in backlog_ids if i in new),
    )
