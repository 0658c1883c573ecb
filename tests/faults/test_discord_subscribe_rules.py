"""Issue 14: rule options directly on /subscribe, through the real CommandTree against the
stand-in. Valid options are saved with the subscription; a mistake is one line and saves
nothing (no half-made subscription without its rules)."""

from __future__ import annotations

from pathlib import Path

from tests.faults.discord_helpers import answer, in_process_bot


async def test_subscribe_with_rules_saves_them_and_refuses_mistakes_in_one_line(tmp_path: Path) -> None:
    async with in_process_bot(tmp_path) as w:
        bad = [
            ({"digest": "daily@25:00"}, "25:00"),
            ({"digest": "daily@08:00", "timezone": "America/Chicgo"}, "America/Chicago"),
            ({"quiet": "22:00"}, "quiet"),
        ]
        for options, expected in bad:
            reply = await answer(await w.slash("alerts", "subscribe", {"city": "chicago-il", **options}))
            assert reply.ephemeral and expected in reply.text and "\n" not in reply.text, (options, reply.text)
            assert await w.store.subscriptions(platform="discord") == [], options
        reply = await answer(await w.slash("alerts", "subscribe", {
            "city": "chicago-il", "exclude": "Pilsen", "min_outlets": 2,
            "digest": "daily@08:00", "timezone": "America/Chicago", "thread": True,
        }))  # fmt: skip
        assert "will get alerts" in reply.text and "Rules of #" in reply.text, reply.text
        (sub,) = await w.store.subscriptions(platform="discord")
        assert sub.rules.exclude == ("pilsen",) or "Pilsen" in " ".join(sub.rules.describe())
        assert sub.rules.min_outlets == 2 and sub.rules.tz == "America/Chicago" and sub.rules.threads
        assert "Pilsen" in reply.text and "08:00" in reply.text
        w.standin.assert_clean()
        assert w.standin.warnings == []
