"""Issue 16 item 2 on Discord: an alert whose date is a guess says "date unknown".

Before: the embed's timestamp was the first-seen time, which Discord shows as the story's own
date ("Today at 09:14" for a years-old item), and /latest's line said "2 minutes ago".
"""

from __future__ import annotations

import dataclasses

from bot.adapters.discordbot import embeds as E
from bot.messages import messages
from tests.adapters.test_sink_embeds import story


def test_an_undated_story_has_no_timestamp_and_says_date_unknown() -> None:
    guessed = dataclasses.replace(story(7), published_known=False)
    embed = E.alert_embed(guessed)
    assert embed.timestamp is None
    assert "date unknown" in (embed.description or "")
    assert embed.footer.text is not None and embed.footer.text.endswith("story #7")
    assert "date unknown" in E.story_line(guessed)


def test_an_undated_story_says_it_in_the_subscription_language() -> None:
    guessed = dataclasses.replace(story(8), published_known=False)
    embed = E.alert_embed(guessed, msgs=messages("es"))
    assert "fecha desconocida" in (embed.description or "")


def test_a_dated_story_keeps_its_timestamp_and_no_unknown_line() -> None:
    dated = story(9)
    embed = E.alert_embed(dated)
    assert embed.timestamp == dated.published
    assert "date unknown" not in (embed.description or "")
    assert "date unknown" not in E.story_line(dated)
