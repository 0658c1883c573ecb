"""The Discord AlertSink: what the DeliveryWorker calls to post, edit and recover alerts.

Why a thin class: the worker (bot/delivery.py) owns the policy — retry, backoff, pause on
403, drop on 404, remember what was sent. This sink only turns discord.py's outcomes into the
project's delivery exceptions, so the policy never has to know discord.py exists:

    429                         → RateLimitedError(retry_after)
    5xx, aiohttp errors, timeout → TransientDeliveryError
    403 Forbidden               → ForbiddenDeliveryError(missing=(permission names, ...))
    404 (a cache miss confirmed by GET /channels/{id}) → ChannelGoneError; unavailable guild → retry

Every send and edit passes AllowedMentions.none(), except an alert of a subscription with a
mention rule: that message permits exactly its one role (embeds.mention_content), nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

import aiohttp
import discord

from bot import render
from bot.adapters.discordbot import embeds as E
from bot.adapters.discordbot.checks import missing_alert_permissions
from bot.delivery import DeliveryProblem, SinkLimits
from bot.errors import (
    ChannelGoneError,
    ForbiddenDeliveryError,
    RateLimitedError,
    TransientDeliveryError,
)
from bot.models import Alert, Destination

if TYPE_CHECKING:
    from bot.adapters.discordbot.client import CivicBot

log = logging.getLogger(__name__)

READY_TIMEOUT = 60.0  # the worker may start before the gateway is READY; wait this long at most
UNKNOWN_CHANNEL_CODES = {10003, 10004}  # unknown channel, unknown guild
PLATFORM = "discord"
#: Discord allows a bot 50 requests/s in all. Sends and edits are paced just under that, so a
#: fan-out to hundreds of channels flows steadily instead of bursting into global 429s (unpaced,
#: 1,000 channels at once drew 4,833 of them and managed 39 messages/s: bench fanout).
LIMITS = SinkLimits(
    batch_size=E.MESSAGE_EMBEDS_MAX, sends_per_second=47.0, key_length=25, can_edit=True, threads=True
)
THREAD_NAME_MAX = 100


def destination(guild_id: int | None, channel_id: int) -> Destination:
    """A Discord channel as a core destination (ids become text; the guild is the group)."""
    return Destination(platform=PLATFORM, address=str(channel_id), group=str(guild_id or ""))


def channel_of(dest: Destination) -> tuple[int | None, int]:
    """(guild id, channel id) of a Discord destination."""
    return (int(dest.group) if dest.group else None), int(dest.address)


# a digest's footer is nothing but "story #<id>" refs (embeds.digest_embed); a single alert's
# footer ends with one (render.STORY_REF_RE, anchored so a headline cannot forge one)
_DIGEST_FOOTER_RE = re.compile(r"^\s*(?:story #\d+\s*)+$")
_REF_RE = re.compile(r"story #(\d+)")


def story_refs(footer: str) -> list[int]:
    """The story ids an embed footer says its message carries."""
    if _DIGEST_FOOTER_RE.match(footer):
        return [int(m.group(1)) for m in _REF_RE.finditer(footer)]
    match = render.STORY_REF_RE.search(footer)
    return [int(match.group(1))] if match else []


class DiscordSink:
    """AlertSink over a running CivicBot (uses its cache for channels and permissions)."""

    platform = PLATFORM
    limits = LIMITS

    def __init__(self, bot: CivicBot) -> None:
        self.bot = bot

    # ------------------------------------------------------------------ helpers
    def _city_label(self, city_id: str) -> str:
        gazetteer = self.bot.gazetteer
        if gazetteer is None:
            return city_id
        city = gazetteer.get(city_id)
        return city.label if city is not None else city_id

    def render(self, alerts: Sequence[Alert]) -> list[discord.Embed]:
        return E.alert_embeds(
            alerts, city_label=self._city_label, topic_label=self.bot.topics.label
        )

    async def _ready(self) -> None:
        if self.bot.is_ready():
            return
        try:
            await asyncio.wait_for(self.bot.wait_until_ready(), READY_TIMEOUT)
        except TimeoutError:
            raise TransientDeliveryError("Discord gateway not ready yet") from None

    async def _channel(
        self, channel_id: int, guild_id: int | None = None
    ) -> discord.abc.Messageable:
        """The channel to post in; ChannelGoneError only when Discord confirms it is gone.

        Why not trust a cache miss alone: right after a (re)connect, or during a Discord
        outage, a guild can be "unavailable" and its channels missing from the cache; treating
        that as deleted would drop every subscription of the server. So: unavailable guild →
        retry later; otherwise ask Discord (GET /channels/{id}) — 404 means gone, 403 means we
        lost access (pause, don't delete).
        """
        await self._ready()
        channel = self.bot.get_channel(channel_id)
        if channel is None:
            guild = self.bot.get_guild(guild_id) if guild_id is not None else None
            if guild is not None and guild.unavailable:
                raise TransientDeliveryError(f"guild {guild_id} is unavailable (Discord outage?)")
            try:
                # a guild on another process's shard is never cached here: REST (issue 15)
                channel = await self.bot.remote_channel(channel_id, guild_id)
            except discord.NotFound:
                raise ChannelGoneError(
                    f"channel {channel_id} no longer exists (or the bot left)"
                ) from None
            except discord.Forbidden:
                raise ForbiddenDeliveryError(
                    f"channel {channel_id}: the bot cannot see it", ("View Channel",)
                ) from None
            except (discord.DiscordException, aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise self._translate(exc, None, f"look up channel {channel_id}") from exc
        if isinstance(channel, discord.ForumChannel):
            return channel  # type: ignore[return-value]  # alerts become forum posts (send)
        if not isinstance(channel, discord.abc.Messageable):
            raise ChannelGoneError(f"channel {channel_id} cannot hold messages")
        return channel

    def _translate(self, exc: BaseException, channel: Any, what: str) -> Exception:
        """discord.py / aiohttp outcome → the project's delivery exception."""
        if isinstance(exc, discord.RateLimited):
            return RateLimitedError(exc.retry_after)
        if isinstance(exc, discord.Forbidden):
            missing = missing_alert_permissions(channel) if channel is not None else ()
            names = ", ".join(missing) if missing else "access to the channel"
            return ForbiddenDeliveryError(
                f"{what}: forbidden (missing {names}): {exc.text[:200]}", missing
            )
        if isinstance(exc, discord.NotFound):
            if exc.code in UNKNOWN_CHANNEL_CODES or exc.code == 0:
                return ChannelGoneError(f"{what}: {exc.text[:200]}")
            return ChannelGoneError(f"{what}: not found ({exc.code})")
        if isinstance(exc, discord.HTTPException):
            if exc.status == 429:
                return RateLimitedError(_retry_after(exc))
            if exc.status >= 500:
                return TransientDeliveryError(f"{what}: HTTP {exc.status}")
            # a 400 is our bug (an embed over a limit); retrying later will not help much, but
            # the worker's backoff keeps it from spinning and the log says why
            return TransientDeliveryError(f"{what}: HTTP {exc.status} {exc.code}: {exc.text[:300]}")
        if isinstance(exc, (aiohttp.ClientError, TimeoutError, OSError, discord.GatewayNotFound)):
            return TransientDeliveryError(f"{what}: {type(exc).__name__}: {exc}")
        return TransientDeliveryError(f"{what}: unexpected {type(exc).__name__}: {exc}")

    # ------------------------------------------------------------------ AlertSink
    def batch_size(self, alerts: Sequence[Alert]) -> int:
        return E.batch_size(self.render(alerts[: E.MESSAGE_EMBEDS_MAX]))

    async def send(self, destination: Destination, alerts: Sequence[Alert], key: str) -> str:
        guild_id, channel_id = channel_of(destination)
        channel = await self._channel(channel_id, guild_id)
        embeds = [E.digest_embed(alerts)] if alerts and alerts[0].digest else self.render(alerts)
        content, allowed = E.mention_content(alerts)
        if isinstance(channel, discord.ForumChannel):
            return await self._forum_post(channel, alerts, embeds, content, allowed)
        try:
            message = await channel.send(
                content=content, embeds=embeds, nonce=key[:25], allowed_mentions=allowed
            )
        except (discord.DiscordException, aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise self._translate(exc, channel, f"send to {channel_id}") from exc
        if alerts and alerts[0].thread and isinstance(channel, discord.TextChannel):
            await self._start_thread(message, alerts[0])
        return str(message.id)

    async def _forum_post(
        self,
        forum: discord.ForumChannel,
        alerts: Sequence[Alert],
        embeds: list[discord.Embed],
        content: str | None,
        allowed: discord.AllowedMentions,
    ) -> str:
        """A forum channel takes each alert as a post (a thread and its starter message, which
        share one id); later updates go into that post like into a thread."""
        first = alerts[0]
        name = E.clip(render.headline(first.story), THREAD_NAME_MAX) or f"story {first.story.id}"
        if first.digest:
            name = E.clip(embeds[0].title or "Digest", THREAD_NAME_MAX)
        try:
            post = await forum.create_thread(
                name=name, content=content, embeds=embeds, allowed_mentions=allowed
            )
        except (discord.DiscordException, aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise self._translate(exc, forum, f"post in forum {forum.id}") from exc
        return str(post.message.id)

    async def _start_thread(self, message: discord.Message, alert: Alert) -> None:
        """A public thread on the alert, named after the story, where its updates will go.

        Never raises: the alert itself is posted, and failing here must not make the worker
        post it again; without a thread, updates still edit the alert.
        """
        name = E.clip(render.headline(alert.story), THREAD_NAME_MAX) or f"story {alert.story.id}"
        try:
            await message.create_thread(name=name, auto_archive_duration=1440)
        except (discord.DiscordException, aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("could not start a thread on alert %s: %s", message.id, exc)

    async def _post_update_in_thread(self, message_id: int, alerts: Sequence[Alert]) -> None:
        """"Also reported by …" into the alert's thread (a thread on a message has the message's
        id). Best effort: the edit of the alert already carries the update."""
        lines = [text for a in alerts if (text := render.also_reported(a.story))]
        if not lines:
            return
        content = E.clip(discord.utils.escape_mentions("\n".join(lines)), 1900)
        try:
            await self.bot.get_partial_messageable(message_id).send(
                content=content, allowed_mentions=E.NO_MENTIONS
            )
        except (discord.DiscordException, aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.info("no thread update for alert %s: %s", message_id, exc)

    async def edit(
        self, destination: Destination, message_ref: str, alerts: Sequence[Alert] | Alert
    ) -> None:
        if isinstance(alerts, Alert):
            alerts = [alerts]
        guild_id, channel_id = channel_of(destination)
        message_id = int(message_ref)
        # the same order the message was sent in (outbox order: published, then delivery id)
        if alerts and alerts[0].digest:  # a digest lists best first, as the worker sent it
            alerts = sorted(alerts, key=lambda a: (-a.story.corroboration, -a.story.published.timestamp(), a.delivery_id))
        else:
            alerts = sorted(alerts, key=lambda a: (a.story.published, a.delivery_id))
        channel = await self._channel(channel_id, guild_id)
        embeds = [E.digest_embed(alerts)] if alerts and alerts[0].digest else self.render(alerts)
        forum = isinstance(channel, discord.ForumChannel)
        if forum:  # a forum post's starter message lives in the post's thread (same id)
            partial = self.bot.get_partial_messageable(message_id).get_partial_message(message_id)
        else:
            partial = channel.get_partial_message(message_id)  # type: ignore[attr-defined]
        try:
            await partial.edit(embeds=embeds, allowed_mentions=E.NO_MENTIONS)
            if alerts and (alerts[0].thread or forum) and not alerts[0].digest:
                await self._post_update_in_thread(message_id, alerts)
        except discord.NotFound as exc:
            if exc.code == 10008:  # unknown message: someone deleted the alert; nothing to edit
                log.info("alert message %s in %s was deleted; edit skipped", message_id, channel_id)
                return
            raise self._translate(exc, channel, f"edit {message_id} in {channel_id}") from exc
        except (discord.DiscordException, aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise self._translate(exc, channel, f"edit {message_id} in {channel_id}") from exc

    async def find_sent(
        self, destination: Destination, story_ids: Sequence[int], *, limit: int = 100
    ) -> dict[int, str]:
        """After a crash between POST and mark_sent: which of these stories are already posted.

        Reads the bot's own recent messages (needs Read Message History) and the
        "story #<id>" at the end of each embed footer.
        """
        wanted = set(story_ids)
        found: dict[int, str] = {}
        if not wanted:
            return found
        _guild_id, channel_id = channel_of(destination)
        channel = await self._channel(channel_id)
        me = self.bot.user
        try:
            async for message in self._recent_own_posts(channel, limit):
                if me is None or message.author.id != me.id:
                    continue
                for embed in message.embeds:
                    text = embed.footer.text if embed.footer else None
                    if not text:
                        continue
                    # a digest's footer names every story it lists: all of them were sent by
                    # this one message (only the first would re-send the rest after a crash)
                    for story_id in story_refs(text):
                        if story_id in wanted and story_id not in found:
                            found[story_id] = str(message.id)
                if len(found) == len(wanted):
                    break
        except (discord.DiscordException, aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise self._translate(exc, channel, f"history of {channel_id}") from exc
        return found

    async def _recent_own_posts(self, channel: Any, limit: int) -> AsyncIterator[discord.Message]:
        """The channel's recent messages; for a forum, the starter messages of the bot's recent
        posts (a forum has no history of its own: each post is a thread)."""
        if not isinstance(channel, discord.ForumChannel):
            async for message in channel.history(limit=limit):
                yield message
            return
        me = self.bot.user
        threads = sorted(channel.threads, key=lambda t: t.id, reverse=True)
        for thread in [t for t in threads if me is not None and t.owner_id == me.id][:limit]:
            try:
                yield await thread.fetch_message(thread.id)
            except discord.NotFound:
                continue  # the starter message was deleted

    async def notify_problem(self, destination: Destination, problem: DeliveryProblem) -> None:
        """Tell the server where someone will see it; never raises (best effort)."""
        guild_id, channel_id = channel_of(destination)
        missing = ", ".join(problem.missing) or "access to the channel"
        text = (
            f"I can't post alerts in <#{channel_id}>: missing {missing}. Alerts for that channel "
            "are paused and kept; they resume by themselves once the permissions are fixed "
            "(or run /subscribe again)."
        )
        await self._ready()
        if guild_id is None:
            return
        # Without the privileged members intent the cache holds no owner and may lack the
        # guild itself (not yet streamed, or evicted): what is missing comes over REST.
        guild = self.bot.get_guild(guild_id)
        if guild is None:
            try:
                guild = await self.bot.fetch_guild(guild_id)
            except (discord.DiscordException, aiohttp.ClientError, TimeoutError, OSError) as exc:
                log.warning("notify_problem: guild %s not reachable: %s", guild_id, exc)
                return
        body = E.clip(discord.utils.escape_mentions(text), 1900)
        embed = E.info_embed(
            "civic-alert-bot needs attention", body, colour=discord.Colour.orange()
        )
        targets: list[discord.abc.Messageable] = []
        me = guild.me
        if me is None and self.bot.user is not None:
            with contextlib.suppress(discord.DiscordException, aiohttp.ClientError, TimeoutError, OSError):
                me = await guild.fetch_member(self.bot.user.id)
        if guild.system_channel is not None and me is not None:
            targets.append(guild.system_channel)
        if me is not None:
            for channel in sorted(guild.text_channels, key=lambda c: (c.position, c.id)):
                if channel.id != channel_id and channel not in targets:
                    targets.append(channel)
        for target in targets:
            if me is not None and isinstance(target, discord.abc.GuildChannel):
                perms = target.permissions_for(me)
                if not (perms.view_channel and perms.send_messages and perms.embed_links):
                    continue
            try:
                await target.send(embed=embed, allowed_mentions=E.NO_MENTIONS)
                return
            except (discord.DiscordException, aiohttp.ClientError, TimeoutError, OSError) as exc:
                log.info("notify_problem: %s refused (%s); trying the next place", target, exc)
        if guild.owner_id:
            try:
                # guild.owner is None without the members intent: fetch the user, then DM
                owner = guild.owner or await self.bot.fetch_user(guild.owner_id)
                await owner.send(
                    content=f"About your server “{discord.utils.escape_mentions(guild.name)}”:",
                    embed=embed,
                    allowed_mentions=E.NO_MENTIONS,
                )
            except (discord.DiscordException, aiohttp.ClientError, TimeoutError, OSError) as exc:
                log.warning("notify_problem: could not reach guild %s at all: %s", guild_id, exc)


def _retry_after(exc: discord.HTTPException) -> float:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    for key in ("Retry-After", "X-RateLimit-Reset-After"):
        try:
            return max(0.0, float(headers.get(key) or ""))
        except (TypeError, ValueError):
            continue
    return 1.0
