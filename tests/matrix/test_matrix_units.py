"""The pure parts of the Matrix adapter: command parsing, power levels, alert content."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.adapters.matrix import format as fmt
from bot.adapters.matrix.client import is_creator, needed_for, power_of
from bot.adapters.matrix.commands import needs_moderator, parse, rule_options
from bot.models import Alert, Destination, Story


def story(i: int, title: str = "ICE raid <b>in</b> Chicago & more") -> Story:
    return Story(
        id=i, title=title, url=f"https://x.example/{i}", source="Outlet", published=datetime(2026, 1, 1, tzinfo=UTC),
        summary="A <script>x</script> summary.", cities=("chicago-il",), topics=("immigration-enforcement",),
        outlets=("Outlet",),
    )


def alert(i: int, **kw: object) -> Alert:
    return Alert(i, 1, Destination("matrix", "!r:x", "!r:x"), story(i), **kw)  # type: ignore[arg-type]


def test_parse_words_and_quoted_options() -> None:
    p = parse('!alerts subscribe Chicago, IL topics=immigration include="ice raid, deportation" threads=on')
    assert p is not None and p.command == "subscribe" and p.text == "Chicago, IL"
    assert p.options == {"topics": "immigration", "include": "ice raid, deportation", "threads": "on"}
    assert rule_options(p.options) == {"include": "ice raid, deportation", "threads": True}
    assert parse("!alertsx help") is None and parse("hello !alerts") is None
    assert parse("!alerts") is not None and parse("!alerts").command == "help"  # type: ignore[union-attr]
    assert parse('!alerts search "unbalanced') is not None  # a stray quote is read as words


def test_who_needs_power() -> None:
    assert needs_moderator(parse("!alerts subscribe X"))  # type: ignore[arg-type]
    assert needs_moderator(parse("!alerts feeds add https://x"))  # type: ignore[arg-type]
    assert not needs_moderator(parse("!alerts feeds list"))  # type: ignore[arg-type]
    assert not needs_moderator(parse("!alerts search raid"))  # type: ignore[arg-type]


def test_power_levels_and_v12_creators() -> None:
    levels = {"users": {"@mod:x": 50}, "users_default": 0, "events": {"m.room.message": 10}, "events_default": 0}
    assert power_of(levels, "@mod:x") == 50 and power_of(levels, "@else:x") == 0
    assert needed_for(levels, "m.room.message") == 10
    create12 = {"sender": "@owner:x", "content": {"room_version": "12", "additional_creators": ["@co:x"]}}
    assert is_creator(create12, "@owner:x") and is_creator(create12, "@co:x") and not is_creator(create12, "@mod:x")
    assert not is_creator({"sender": "@owner:x", "content": {"room_version": "10"}}, "@owner:x")


def test_alert_content_escapes_and_marks_stories() -> None:
    content = fmt.alert_content([alert(1), alert(2)], str, str)
    assert content["msgtype"] == "m.notice" and content["m.mentions"] == {}
    assert "<b>in</b>" not in content["formatted_body"] and "&lt;b&gt;in&lt;/b&gt;" in content["formatted_body"]
    assert "<script>" not in content["formatted_body"]
    assert fmt.story_ids_of(content) == [1, 2]
    pinged = fmt.alert_content([alert(3, mention="@room")], str, str)
    assert pinged["m.mentions"] == {"room": True} and pinged["body"].startswith("@room ")
    edit = fmt.edit_content("$e", pinged)
    assert edit["m.relates_to"] == {"rel_type": "m.replace", "event_id": "$e"}
    assert edit["m.new_content"]["m.mentions"] == {} and edit["m.mentions"] == {}


def test_digest_content_lists_stories_with_marks() -> None:
    content = fmt.alert_content([alert(4, digest=True), alert(5, digest=True)], str, str)
    assert content["body"].startswith("Digest: 2 stories")
    assert fmt.story_ids_of(content) == [4, 5]
    assert "<ol>" in content["formatted_body"] and "&lt;b&gt;" in content["formatted_body"]
