"""CivicBot: the discord.py client that hosts the cogs and the delivery sink.

Why this shape (after discord.py's examples/advanced_startup.py):
- resources (store, fetcher, classifier, scheduler) are opened in `setup_hook`, which runs
  inside the running event loop after login, and closed in `close()`, so nothing is created
  on a loop that is not running and nothing outlives the bot;
- intents are minimal (guilds only): slash commands arrive as interactions, so the bot needs
  neither message content nor the privileged members intent;
- the REST base comes from settings (DISCORD_API_BASE), so the same binary talks to Discord
  or to the local stand-in used by the end-to-end tests. discord.py builds every REST URL —
  including interaction callbacks and webhook follow-ups (discord/webhook/async_.py) — from
  `discord.http.Route.BASE`, so setting that one class attribute redirects all of them; the
  gateway address comes from GET /gateway/bot as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.ext import commands
from discord.gateway import DiscordWebSocket

from bot.adapters.discordbot.checks import permission_label
from bot.adapters.discordbot.embeds import NO_MENTIONS
from bot.adapters.discordbot.sink import LIMITS, PLATFORM, DiscordSink
from bot.delivery import SharedPacing, take_shared_slot
from bot.errors import CivicAlertError, ConfigError
from bot.messages import Messages, language_for_locale, messages
from bot.settings import Settings, ShardPlan

if TYPE_CHECKING:
    from bot.app import App
    from bot.ports import Storage
    from bot.relevance import Gazetteer, TopicCatalog

log = logging.getLogger(__name__)

EXTENSIONS: tuple[str, ...] = (
    "bot.adapters.discordbot.cogs.subscriptions",
    "bot.adapters.discordbot.cogs.search",
    "bot.adapters.discordbot.cogs.feeds",
    "bot.adapters.discordbot.cogs.status",
    "bot.adapters.discordbot.cogs.events",
)

REMOTE_CHANNEL_TTL = 600.0  # seconds a foreign shard's channel, fetched over REST, is reused
REMOTE_CHANNELS_MAX = 10_000  # oldest forgotten first beyond this
IDENTIFY_WINDOW = 5.0  # seconds: Discord's window for max_concurrency IDENTIFYs
# a slot is granted on the database's clock but the IDENTIFY leaves a moment later; the margin
# keeps a late first and a prompt second from landing inside one window (seen without it: one
# op 9 in the two-process drill; 2 s for a machine under load)
IDENTIFY_MARGIN = 2.0

GENERIC_APOLOGY = (
    "Sorry — something went wrong on my side. It has been logged; please try again in a moment."
)


def configure_api_base(api_base: str) -> None:
    """Point discord.py's REST (and thereby interaction/webhook) requests at `api_base`."""
    discord.http.Route.BASE = api_base.rstrip("/")


def silence_voice_warnings() -> None:
    """Keep discord.py from warning that PyNaCl/davey are missing at every client start.

    Why: the bot has no voice features, so "voice will NOT be supported" is noise that makes
    operators think something is broken. discord.py warns once per process, guarded by these
    two class flags; clearing them before the first client is built is its own opt-out.
    """
    from discord.voice_client import VoiceClient

    VoiceClient.warn_nacl = False
    VoiceClient.warn_dave = False


def unreachable_text(exc: BaseException) -> str | None:
    """One line for "Discord cannot be reached" (DNS, refused, reset, timeout), else None.

    Why: aiohttp's connector errors arrive as ~60-line tracebacks; the operator needs to know
    only which host could not be reached and why.
    """
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"cannot reach Discord: the name {exc.host} does not resolve (DNS; check the network)"
    if isinstance(exc, aiohttp.ClientConnectorError):
        reason = exc.strerror or type(exc.os_error).__name__
        return f"cannot reach Discord at {exc.host}:{exc.port}: {reason}"
    if isinstance(exc, aiohttp.ClientError | OSError | TimeoutError):
        detail = str(exc) or type(exc).__name__
        return f"cannot reach Discord: {detail}"[:200]
    return None


def bot_intents() -> discord.Intents:
    intents = discord.Intents.none()
    intents.guilds = True  # channel/role cache for permission checks, channel delete, guild remove
    return intents


# Unknown interaction (the 3 s window passed), unknown webhook, invalid webhook token (15 min)
EXPIRED_INTERACTION_CODES = frozenset({10062, 10015, 50027})


def unwrap(error: BaseException) -> BaseException:
    while isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    return error


def interaction_expired(error: BaseException) -> bool:
    original = unwrap(error)
    return isinstance(original, discord.HTTPException) and original.code in EXPIRED_INTERACTION_CODES


def error_text(error: BaseException, msgs: Messages | None = None) -> tuple[str, bool]:
    """(what to tell the user, whether it is our fault and must be logged with a traceback),
    in the language of ``msgs`` where the catalogue has the message (English without one)."""
    original: BaseException = error
    while isinstance(original, app_commands.CommandInvokeError):
        original = original.original
    if isinstance(original, app_commands.TransformerError) and isinstance(
        original.__cause__, CivicAlertError
    ):
        original = original.__cause__
    if isinstance(original, CivicAlertError):
        # core messages are plain text: quoted user input must not turn into Discord markup
        text = original.user_message
        if msgs is not None and original.key is not None:
            text = msgs(original.key, **original.fields)
        return discord.utils.escape_markdown(text), False
    m = msgs or messages()
    if isinstance(original, app_commands.MissingPermissions):
        names = ", ".join(f"**{permission_label(p)}**" for p in original.missing_permissions)
        return m("discord.you_need_permission", names=names), False
    if isinstance(original, app_commands.BotMissingPermissions):
        names = ", ".join(f"**{permission_label(p)}**" for p in original.missing_permissions)
        return m("discord.bot_missing_permission", names=names), False
    if isinstance(original, app_commands.NoPrivateMessage):
        return m("errors.guild_only"), False
    if isinstance(original, app_commands.CommandOnCooldown):
        return m("errors.cooldown", seconds=f"{original.retry_after:.0f}"), False
    if isinstance(original, app_commands.CheckFailure):
        return m("errors.cant_use_here"), False
    if isinstance(original, app_commands.TransformerError):
        if original.type is discord.AppCommandOptionType.channel:
            return m("discord.cant_see_channel"), False
        value = discord.utils.escape_mentions(str(original.value))[:80]
        return m("discord.bad_value", value=discord.utils.escape_markdown(value)), False
    if isinstance(original, app_commands.CommandSignatureMismatch):
        return m("discord.command_outdated"), False
    if isinstance(original, app_commands.CommandNotFound):
        return m("discord.command_gone"), False
    return (m("errors.generic") if msgs is not None else GENERIC_APOLOGY), True


async def reply_ephemeral(interaction: discord.Interaction, text: str) -> None:
    """Answer or follow up, whichever is still possible; never raises."""
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
        else:
            await interaction.response.send_message(
                text, ephemeral=True, allowed_mentions=NO_MENTIONS
            )
    except (discord.HTTPException, discord.ClientException, OSError, TimeoutError) as exc:
        log.warning("could not tell the user about an error: %s", exc)


class CivicTree(app_commands.CommandTree):
    """The one app-command error handler: refuse clearly, apologise for bugs, never crash."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        """Guild-only commands refuse DMs before any other check runs.

        Why here: `guild_only()` only tells Discord where to show a command; a stale client can
        still send it from a DM, and then `has_permissions` would answer with a misleading
        "you need Manage Channels".
        """
        if (
            interaction.guild_id is not None
            or interaction.type is not discord.InteractionType.application_command
        ):
            return True
        command: Any = interaction.command
        while command is not None:
            if getattr(command, "guild_only", False):
                await reply_ephemeral(interaction, "This command only works inside a server.")
                return False
            command = getattr(command, "parent", None)
        return True

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError, /
    ) -> None:
        name = interaction.command.qualified_name if interaction.command else "?"
        if interaction_expired(error):
            # Discord no longer takes an answer (the 3 s / 15 min window passed): not a bug of
            # ours, and an apology would fail the same way
            log.warning(
                "/%s in guild %s: the interaction expired before the answer (%s)",
                name,
                interaction.guild_id,
                getattr(unwrap(error), "text", "") or type(unwrap(error)).__name__,
            )
            return
        text, ours = error_text(
            error, messages(language_for_locale(interaction.locale or interaction.guild_locale))
        )
        if ours:
            log.error(
                "/%s failed in guild %s:\n%s",
                name,
                interaction.guild_id,
                "".join(traceback.format_exception(type(error), error, error.__traceback__)),
            )
        else:
            log.info("/%s refused in guild %s: %s", name, interaction.guild_id, text)
        await reply_ephemeral(interaction, text)


class CivicBot(commands.Bot):
    """The Discord adapter's client. Pass an open `app` to reuse it (tests, and `hosted` inside
    the service, which runs polling and delivery itself); else it opens one."""

    def __init__(
        self,
        settings: Settings,
        *,
        app: App | None = None,
        open_resources: bool = True,
        sync_commands: bool = True,
        run_jobs: bool = True,
        hosted: bool = False,
        **client_options: Any,
    ) -> None:
        silence_voice_warnings()  # before discord.Client.__init__, which warns
        super().__init__(
            command_prefix=commands.when_mentioned,  # no message-content intent: no prefix commands
            intents=bot_intents(),
            help_command=None,
            allowed_mentions=NO_MENTIONS,
            tree_cls=CivicTree,
            **client_options,  # ShardedCivicBot: shard_count
        )
        self.settings = settings
        self.app: App | None = app
        self.store_override: Storage | None = None  # sync-commands opens only the store
        self._owns_app = app is None and open_resources
        self._open_resources = open_resources
        self._sync_commands = sync_commands and open_resources
        self._run_jobs = run_jobs and open_resources
        self._hosted = hosted  # inside bot/service.py: the service runs the jobs; we add our sink
        self.sink = DiscordSink(self)
        self.reply_budget = 2.0  # seconds of work before an interaction is deferred (replies.py)
        self.search_view_timeout = 600.0  # paging buttons live this long (< the 15 min token)
        self._remote_channels: dict[int, tuple[float, Any]] = {}  # remote_channel(): id → (expiry, channel)
        self.identify_concurrency = 1  # IDENTIFYs per 5 s (GET /gateway/bot max_concurrency)

    # -- resources, for the cogs -------------------------------------------------
    @property
    def store(self) -> Storage:
        if self.app is not None:
            return self.app.store
        if self.store_override is not None:
            return self.store_override
        raise CivicAlertError(
            "app not open", user_message="I'm still starting up; try again in a moment."
        )

    def wake_delivery(self) -> None:
        """Drain the outbox now (a catch-up was queued) instead of at the next interval."""
        if self.app is not None:
            self.app.wake_delivery()

    @property
    def gazetteer(self) -> Gazetteer | None:
        if self.app is None:
            return None
        return self.app.gazetteer

    def require_gazetteer(self) -> Gazetteer:
        """The gazetteer, or a clear "still starting" for a command that arrives too early."""
        if self.app is None:
            raise CivicAlertError(
                "app not open", user_message="I'm still starting up; try again in a moment."
            )
        return self.app.gazetteer

    @property
    def topics(self) -> TopicCatalog:
        """The topic registry (config/topics.toml): the classifier's, else the config dir's."""
        if self.app is not None:
            return self.app.classifier.topics
        from bot.relevance import load_topics

        return load_topics(self.settings.config_dir)

    # -- lifecycle -------------------------------------------------------------------
    async def setup_hook(self) -> None:
        recommended = await self._use_advertised_gateway() if self._open_resources else None
        await self._plan_gateway(recommended)
        if self._owns_app:
            from bot.app import App

            self.app = await App.open(self.settings)
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        if self._sync_commands:
            from bot.adapters.discordbot.sync import sync_on_start

            await sync_on_start(self)
        if self._hosted and self.app is not None:
            self.app.add_sink(self.sink)
        elif self._run_jobs and self.app is not None:
            # push destinations (config/destinations.toml, `subscriptions add`) are delivered
            # by the same process, beside Discord's own channels
            await self.app.sync_destinations()
            await self.app.add_push_sinks(console=False)
            self.app.add_sink(self.sink)
            self.app.start()

    async def _use_advertised_gateway(self) -> int | None:
        """Connect where GET /gateway/bot says, not to discord.py's hard-coded default; returns
        Discord's recommended shard count (None when the request failed).

        Why: a non-sharded discord.py Client connects to DiscordWebSocket.DEFAULT_GATEWAY
        (wss://gateway.discord.gg) without asking, and so does an AutoShardedClient given a
        shard count; with DISCORD_API_BASE pointing elsewhere (the stand-in, a proxy) the gateway
        must come from that API too. Against Discord this returns the same default, so it is
        harmless there.
        """
        try:
            shards, url, _limits = await self.http.get_bot_gateway()  # _limits: session_start_limit
        except (discord.HTTPException, discord.GatewayNotFound, OSError, TimeoutError) as exc:
            log.warning("GET /gateway/bot failed (%s); using discord.py's default gateway", exc)
            return None
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        self.identify_concurrency = max(1, int(_limits.get("max_concurrency") or 1))
        return int(shards)

    # -- shards ------------------------------------------------------------------------
    def owns_guild(self, guild_id: int | None) -> bool:
        """Whether this process's gateway sessions receive the guild's events (always, unsharded).

        Why it matters: a guild on another process's shard is never in this cache, so its
        channels are looked up over REST (`remote_channel`) and its events are not ours to handle.
        """
        return True

    async def remote_channel(self, channel_id: int, guild_id: int | None = None) -> Any:
        """A channel that is not in the gateway cache, over REST (GET /channels/{id}).

        Why a cache and send slots: with shards split across processes, any worker delivers to
        channels of guilds it holds no gateway session for. Without a cache each alert would cost
        two requests; unpaced, the lookups would ride on top of the 50 requests/s the outbox
        pacing already spends. So a lookup takes a slot of the same shared bucket, and a foreign
        guild's channel is remembered for REMOTE_CHANNEL_TTL seconds (a channel deleted
        meanwhile answers the POST with 404 Unknown Channel, which drops it as before).
        After the lookup it takes one more slot for the request that follows: the delivery
        worker's slot for that send has passed while we queued for ours, and a late send on a
        spent slot bunches up with the lookups behind it (measured: 89 requests in one second
        from two processes fanning out to 96 channels, tests/pg/test_discord_shards.py).
        Own guilds' channels are never cached here: the gateway keeps those current.
        """
        now = time.monotonic()
        hit = self._remote_channels.get(channel_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        self._remote_channels.pop(channel_id, None)
        await self._take_request_slot()
        channel = await self.fetch_channel(channel_id)
        await self._take_request_slot()  # for the send that follows (see above)
        guild = getattr(channel, "guild", None)
        owner = guild.id if guild is not None else guild_id
        if owner is not None and not self.owns_guild(owner):
            if len(self._remote_channels) >= REMOTE_CHANNELS_MAX:
                self._remote_channels.pop(next(iter(self._remote_channels)))
            self._remote_channels[channel_id] = (now + REMOTE_CHANNEL_TTL, channel)
        return channel

    async def _take_request_slot(self) -> None:
        """Wait for a slot of the bot's shared Discord request bucket, when the store has one."""
        app = self.app
        if app is None:
            return
        await take_shared_slot(app.store, PLATFORM, LIMITS.sends_per_second)

    async def _plan_gateway(self, recommended: int | None) -> None:
        """Unsharded: nothing to decide (ShardedCivicBot settles its shard count here)."""

    def gateway_label(self) -> str:
        return "one gateway session"

    async def on_ready(self) -> None:
        log.info(
            "connected as %s (%s) to %d servers (%s)",
            self.user,
            getattr(self.user, "id", "?"),
            len(self.guilds),
            self.gateway_label(),
        )

    async def close(self) -> None:
        """Stop the jobs first (no sends on a closing connection), then Discord, then resources."""
        app = self.app
        if app is not None and self._run_jobs and not self._hosted:
            # hosted: the jobs belong to the service, and a Discord connection that failed
            # (and is about to be retried by `supervise`) must not stop polling for everyone
            app.stop_jobs()
        await super().close()
        if self._owns_app and app is not None:
            self.app = None
            await app.close()


class ShardedCivicBot(CivicBot, commands.AutoShardedBot):
    """CivicBot holding some of the bot's gateway shards (`run --shard-ids 0,1 --shard-count 4`).

    Why AutoShardedBot with manual ids: one process can hold several shards on one event loop
    and one cache, and discord.py routes each guild's requests to the right shard's websocket.
    Everything else (cogs, sink, delivery) is CivicBot's: a guild on another process's shard
    simply never appears in this cache, and the sink reaches its channels over REST.
    """

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        plan = settings.discord_shards or ShardPlan()
        self.shard_plan = plan
        # discord.py refuses manual ids without a count; "auto" learns the count in setup_hook
        super().__init__(settings, shard_count=plan.count, **kwargs)
        self.shard_ids = list(plan.ids) if plan.ids is not None else None

    async def _plan_gateway(self, recommended: int | None) -> None:
        """Settle `--shard-count auto` from GET /gateway/bot, and check the ids against it."""
        if self.shard_plan.count is None:
            await self._settle_count(recommended)
        held = set(self.shard_ids) if self.shard_ids is not None else None
        if held is not None and self.shard_count and held != set(range(self.shard_count)) and not self.settings.db_url:
            # the other shards' servers need other processes, and those need the same database
            log.warning(
                "%s on a SQLite database: the other shards' servers get no commands or events "
                "unless other workers hold them, which needs PostgreSQL (docs/postgresql.md)",
                self.shard_plan.label(self.shard_count),
            )

    async def _settle_count(self, recommended: int | None) -> None:
        if recommended is None:  # not asked yet (a client whose gateway the caller set)
            with contextlib.suppress(discord.HTTPException, discord.GatewayNotFound, OSError, TimeoutError):
                recommended = int((await self.http.get_bot_gateway())[0])
        if recommended is None:
            raise DiscordGatewayUnknown(
                "GET /gateway/bot failed",
                user_message="cannot learn Discord's recommended shard count (GET /gateway/bot failed)",
            )
        self.shard_count = recommended
        too_high = [i for i in self.shard_plan.ids or () if i >= recommended]
        if too_high:
            raise ConfigError(
                f"shard {too_high[0]} does not exist: Discord recommends {recommended} shards "
                f"(ids 0 to {recommended - 1}); set --shard-count to run more"
            )

    def gateway_label(self) -> str:
        return self.shard_plan.label(self.shard_count)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Space IDENTIFYs across every process of the bot, not just within this one.

        Why: Discord allows `max_concurrency` IDENTIFYs per 5 s, one per rate_limit_key =
        shard_id % max_concurrency, for the whole bot, and answers one too soon with op 9
        (invalid session). discord.py's default only waits between the shards of one process
        (and not before the first), so two workers starting together would collide. With a
        store shared by the workers (PostgreSQL), each IDENTIFY takes the next 5-second slot of
        its key's bucket in the database; without one, discord.py's default.
        """
        store = self.app.store if self.app is not None else None
        if not isinstance(store, SharedPacing):
            await super().before_identify_hook(shard_id, initial=initial)
            return
        key = (shard_id or 0) % self.identify_concurrency
        wait = await store.take_rate(f"identify:{PLATFORM}:{key}", 1.0 / (IDENTIFY_WINDOW + IDENTIFY_MARGIN))
        if wait > 0:
            log.info("shard %s waits %.1f s for its IDENTIFY slot", shard_id, wait)
            await asyncio.sleep(wait)

    def owns_guild(self, guild_id: int | None) -> bool:
        if guild_id is None:
            return 0 in (self.shard_ids or [0])  # DMs come to shard 0
        return self.shard_plan.owns(guild_id, self.shard_count)


class DiscordGatewayUnknown(CivicAlertError):
    """The recommended shard count could not be fetched: retried by the service's supervisor."""


def make_bot(settings: Settings, **kwargs: Any) -> CivicBot:
    """The client for these settings: sharded only when shard options were given."""
    if settings.discord_shards is not None:
        return ShardedCivicBot(settings, **kwargs)
    return CivicBot(settings, **kwargs)


async def sync_commands(settings: Settings) -> str:
    """`civic-alerts sync-commands` (bot.cli imports it from here); see sync.sync_commands."""
    from bot.adapters.discordbot.sync import sync_commands as _sync_commands

    return await _sync_commands(settings)
