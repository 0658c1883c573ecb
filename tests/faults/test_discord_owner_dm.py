"""Issue 16 item 9: without the members intent (as in production) the client's cache has no
owner, so the owner-DM fallback of `notify_problem` must fetch what it needs over REST.

The stand-in sends GUILD_CREATE with only the bot's own member when the GUILD_MEMBERS intent is
off, as Discord does, and serves the DM endpoints (POST /users/@me/channels, then a message in
that DM channel), validated against Discord's OpenAPI file.
"""

from __future__ import annotations

from pathlib import Path

from bot.delivery import DeliveryProblem, ProblemKind
from tests.faults.discord_helpers import eventually, in_process_bot

MEMBER = 515151515151515151


async def test_guild_create_without_the_members_intent_lists_only_the_bot(tmp_path: Path) -> None:
    async with in_process_bot(tmp_path, members=(MEMBER,)) as w:
        guild = w.bot.get_guild(w.guild_id)
        assert guild is not None and guild.me is not None
        assert {m.id for m in guild.members} == {w.bot.user.id}  # not the owner, not MEMBER
        assert guild.owner is None and guild.owner_id == int(w.guild.owner_id)


async def test_problem_reaches_the_owner_by_dm_when_no_channel_will_take_it(tmp_path: Path) -> None:
    from tests.standin import Perm

    deny = int(Perm.SEND_MESSAGES)
    async with in_process_bot(tmp_path, channels=({"name": "alerts", "deny_bot": deny},  # type: ignore[arg-type]
                                                  {"name": "general", "deny_bot": deny})) as w:
        from bot.adapters.discordbot.sink import destination

        problem = DeliveryProblem(ProblemKind.FORBIDDEN, ("Send Messages",), "forbidden")
        await w.bot.sink.notify_problem(destination(w.guild_id, w.channels["alerts"]), problem)
        dms = await eventually(lambda: w.standin.direct_messages, 10, "a DM to the owner")
        assert [to for to, _ in dms] == [int(w.guild.owner_id)]
        message = dms[0][1]
        assert "Organizers" in message["content"]
        assert f"<#{w.channels['alerts']}>" in message["embeds"][0]["description"]
        assert w.standin.requests_to("POST", r"^/users/@me/channels$")
        w.standin.assert_clean()
        assert w.standin.warnings == []


async def test_problem_for_a_guild_missing_from_the_cache_is_fetched_and_reaches_the_owner(
    tmp_path: Path,
) -> None:
    """A guild the cache does not hold (not yet streamed after a reconnect) is read over REST
    (GET /guilds/{id}) instead of dropping the notice."""
    async with in_process_bot(tmp_path) as w:
        from bot.adapters.discordbot.sink import destination

        cached = w.bot.get_guild(w.guild_id)
        w.bot._connection._remove_guild(cached)  # the gap between RESUME and GUILD_CREATE
        assert w.bot.get_guild(w.guild_id) is None
        problem = DeliveryProblem(ProblemKind.FORBIDDEN, ("Embed Links",), "forbidden")
        await w.bot.sink.notify_problem(destination(w.guild_id, w.channels["alerts"]), problem)
        dms = await eventually(lambda: w.standin.direct_messages, 10, "a DM to the owner")
        assert [to for to, _ in dms] == [int(w.guild.owner_id)]
        assert w.standin.requests_to("GET", rf"^/guilds/{w.guild_id}$")
        w.standin.assert_clean()
        assert w.standin.warnings == []
