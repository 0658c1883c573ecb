"""/subscribe, /unsubscribe, /subscriptions — which channels get alerts for which cities.

Thin on purpose: read the options, check permissions, call bot.actions, reply. The checks
that matter are enforced here, not only advertised: `default_permissions` merely hides the
command in Discord's UI (and a server can override it), so `has_permissions` runs on every
call; and before saving we check that the *bot* can post embeds in the target channel, so a
subscription never silently fails later.

Topic options are autocompleted from the bot's TopicCatalog (config/topics.toml), not fixed
choices: a topic added to the config is offered without code or a command re-sync, and what
a user types is still validated by bot.actions.

Replies and refusals are in the person's Discord language (`replies.reader_messages`:
config/messages' `discord.*`), English wording unchanged for English (issue 13).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.app_commands import Choice
from discord.app_commands.transformers import UnionChannelTransformer
from discord.ext import commands

from bot import actions
from bot.adapters.discordbot import embeds as E
from bot.adapters.discordbot.checks import (
    RECOVERY_PERMISSIONS,
    describe_missing,
    missing_alert_permissions,
    missing_from,
)
from bot.adapters.discordbot.replies import reader_messages, send, within_budget
from bot.adapters.discordbot.sink import PLATFORM, destination
from bot.messages import Messages, language_for_locale, messages
from bot.rules import DEFAULT_RULES, parse_rules

if TYPE_CHECKING:
    from bot.adapters.discordbot.client import CivicBot

AUTOCOMPLETE_MAX = 25  # Discord refuses more choices


def topic_choices(
    interaction: discord.Interaction, current: str, *, with_all: bool
) -> list[Choice[str]]:
    """The bot's topics matching `current` (label → id), "All topics" first when asked; ≤ 25."""
    bot: CivicBot = interaction.client  # type: ignore[assignment]
    catalog = bot.topics
    choices = [Choice(name="All topics", value="all")] if with_all else []
    choices += [
        Choice(name=t.label[:100], value=t.id[:100])
        for t in catalog.suggest((current or "")[:100], limit=AUTOCOMPLETE_MAX)
    ]
    return choices[:AUTOCOMPLETE_MAX]


async def topics_autocomplete(interaction: discord.Interaction, current: str) -> list[Choice[str]]:
    """For /subscribe: "All topics" and every topic of the config."""
    return topic_choices(interaction, current, with_all=True)


async def topic_filter_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[Choice[str]]:
    """For /search and /latest: one topic of the config (leave it empty for every topic)."""
    return topic_choices(interaction, current, with_all=False)


async def city_autocomplete(interaction: discord.Interaction, current: str) -> list[Choice[str]]:
    """Up to 25 cities: label "Chicago, IL", value "chicago-il" (prefix and fuzzy)."""
    bot: CivicBot = interaction.client  # type: ignore[assignment]
    if bot.gazetteer is None:
        return []
    return [
        Choice(name=label, value=value)
        for label, value in actions.city_suggestions(bot.gazetteer, current)
    ]


class AlertChannel(UnionChannelTransformer[Any]):
    """Text, announcement or forum channels: where alerts can go (a forum takes each alert as
    a post). Not media channels, whose posts must carry an attachment — which is also why the
    union is spelled out instead of discord.py's ForumChannel mapping (forum + media)."""

    def __init__(self) -> None:
        super().__init__(discord.TextChannel, discord.ForumChannel)

    @property
    def channel_types(self) -> list[discord.ChannelType]:
        return [discord.ChannelType.text, discord.ChannelType.news, discord.ChannelType.forum]


def bot_missing_in(interaction: discord.Interaction, channel: Any) -> tuple[str, ...] | None:
    """What the bot lacks in `channel`; None when it cannot be computed from the cache.

    For the channel the command was used in, Discord sends the bot's exact permissions with
    the interaction (app_permissions); for another channel we compute them from the cached
    roles and overwrites.
    """
    if channel.id == interaction.channel_id:
        return missing_alert_permissions(channel, perms=interaction.app_permissions)
    guild = interaction.guild
    cached = guild.get_channel(channel.id) if guild is not None else None
    if cached is None or guild is None or guild.me is None:
        return None
    return missing_alert_permissions(cached, me=guild.me)


def default_language(interaction: discord.Interaction) -> str:
    """A new subscription's language: the server's locale (community servers set one), else
    the locale of the member who subscribes; English when neither has a catalogue."""
    return language_for_locale(interaction.guild_locale or interaction.locale)


class Subscriptions(commands.Cog):
    """Subscriptions: per channel, per city, some or all topics."""

    def __init__(self, bot: CivicBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="subscribe", description="Post news alerts about a city in a channel."
    )
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_channels=True)
    @app_commands.checks.has_permissions(manage_channels=True)
    @app_commands.describe(
        city="The city to follow, e.g. Chicago, IL (pick from the list)",
        topics="Which topic to alert on (default: all topics, including ones added later)",
        channel="Where to post the alerts (default: this channel); in a forum each alert is a post",
        include="Only alert when one of these appears: words, comma-separated (deport* = prefix)",
        exclude="Never alert when one of these appears, e.g. Pilsen",
        min_outlets="Hold an alert until this many independent outlets report it",
        digest="hourly or daily@HH:MM instead of one alert each",
        quiet="Quiet hours HH:MM-HH:MM, e.g. 22:00-07:00",
        timezone="IANA time zone for digests and quiet hours, e.g. America/Chicago",
        mention="The one role to mention on these alerts",
        thread="Start a thread on each alert; later outlets are posted into it",
        language="The language of the alerts (default: this server's language)",
    )
    @app_commands.autocomplete(city=city_autocomplete, topics=topics_autocomplete)
    @app_commands.choices(
        language=[Choice(name="English", value="en"), Choice(name="Español", value="es")]
    )
    async def subscribe(
        self,
        interaction: discord.Interaction,
        city: app_commands.Range[str, 1, 100],
        topics: app_commands.Range[str, 1, 100] | None = None,
        channel: app_commands.Transform[discord.TextChannel | discord.ForumChannel, AlertChannel] | None = None,
        include: app_commands.Range[str, 1, 1000] | None = None,
        exclude: app_commands.Range[str, 1, 1000] | None = None,
        min_outlets: app_commands.Range[int, 1, 10] | None = None,
        digest: app_commands.Range[str, 1, 20] | None = None,
        quiet: app_commands.Range[str, 1, 20] | None = None,
        timezone: app_commands.Range[str, 1, 64] | None = None,
        mention: discord.Role | None = None,
        thread: bool | None = None,
        language: str | None = None,
    ) -> None:
        target_id = channel.id if channel is not None else interaction.channel_id
        if target_id is None or interaction.guild_id is None:
            raise app_commands.NoPrivateMessage()
        # rule options (issue 14), validated before anything is saved: a mistake is one line
        # and leaves no half-made subscription behind
        options = {
            "include": include, "exclude": exclude, "min_outlets": min_outlets, "digest": digest,
            "quiet": quiet, "tz": timezone, "mention": str(mention.id) if mention is not None else None,
            "threads": thread,
        }
        given = {k: v for k, v in options.items() if v is not None}
        rules = parse_rules(DEFAULT_RULES, **given) if given else None  # type: ignore[arg-type]
        target = channel if channel is not None else interaction.channel
        missing = bot_missing_in(interaction, target)
        where = f"<#{target_id}>"
        m = reader_messages(interaction)
        if missing:
            await interaction.response.send_message(
                describe_missing(missing, where, m), ephemeral=True
            )
            return
        result = await within_budget(
            interaction,
            actions.subscribe(
                self.bot.store,
                self.bot.require_gazetteer(),
                destination=destination(interaction.guild_id, target_id),
                city=city,
                topics=topics,
                catchup_count=self.bot.settings.catchup_count,
                catalog=self.bot.topics,
                rules=rules,
                lang=language,
                default_lang=default_language(interaction),
            ),
        )
        sub_lang = result.subscription.lang
        lines = [
            m(
                "discord.subscribed",
                where=where,
                city=E.inert(result.city_label),
                topics=actions.topics_text(result.subscription.topics, self.bot.topics, m),
                language=m.language(sub_lang),
            )
        ]
        if sub_lang != m.lang:  # the alerts' language differs from the reply's: say so
            lines.append(m("discord.alerts_language", language=m.language(sub_lang)))
        if rules is not None:
            sub = result.subscription
            lines.append(
                m("discord.rules_of", id=sub.id, rules="; ".join(rule_text(line, m) for line in sub.rules.describe(m)))
            )
        # a catch-up was queued, or a paused channel was resumed with its held alerts due now:
        # either way they go out now, not at the next delivery interval (a wake is cheap)
        self.bot.wake_delivery()
        if result.catchup_queued:
            n = result.catchup_queued
            lines.append(m("discord.catchup_one" if n == 1 else "discord.catchup_many", n=n))
        elif self.bot.settings.catchup_count:
            lines.append(m("discord.catchup_none"))
        if missing is None:
            lines.append(m("discord.permissions_unknown"))
        else:
            perms = interaction.app_permissions if target_id == interaction.channel_id else None
            if perms is not None and missing_from(perms, wanted=RECOVERY_PERMISSIONS):
                lines.append(m("discord.tip_history"))
        await send(interaction, "\n".join(lines))

    @app_commands.command(
        name="rules", description="View or change a subscription's alert rules (keywords, outlets, digests…)."
    )
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_channels=True)
    @app_commands.checks.has_permissions(manage_channels=True)
    @app_commands.describe(
        subscription="Subscription number (see /subscriptions)",
        include="Only alert when one of these appears: words, comma-separated (deport* = prefix); 'none' clears",
        exclude="Never alert when one of these appears, e.g. Pilsen; 'none' clears",
        min_outlets="Hold an alert until this many independent outlets report it",
        after_hold="After the longest hold (6 h): send marked unconfirmed, or never",
        mention="The one role to mention on these alerts",
        mention_when="Only mention when e.g. 'topic:immigration-enforcement here outlets>=2'",
        digest="hourly or daily@HH:MM instead of one alert each; 'none' clears",
        quiet="Quiet hours HH:MM-HH:MM, e.g. 22:00-07:00; 'none' clears",
        urgent="Alerts meeting this break quiet hours (same form as mention_when)",
        timezone="IANA time zone for digests and quiet hours, e.g. America/Chicago",
        no_mention="Stop mentioning a role",
        thread="Start a thread on each alert; later outlets are posted into it",
    )
    @app_commands.choices(
        after_hold=[Choice(name="send, marked unconfirmed", value="send"), Choice(name="never send", value="drop")]
    )
    async def rules(
        self,
        interaction: discord.Interaction,
        subscription: app_commands.Range[int, 1],
        include: app_commands.Range[str, 0, 1000] | None = None,
        exclude: app_commands.Range[str, 0, 1000] | None = None,
        min_outlets: app_commands.Range[int, 1, 10] | None = None,
        after_hold: str | None = None,
        mention: discord.Role | None = None,
        mention_when: app_commands.Range[str, 0, 200] | None = None,
        digest: app_commands.Range[str, 0, 20] | None = None,
        quiet: app_commands.Range[str, 0, 20] | None = None,
        urgent: app_commands.Range[str, 0, 200] | None = None,
        timezone: app_commands.Range[str, 0, 64] | None = None,
        no_mention: bool | None = None,
        thread: bool | None = None,
    ) -> None:
        if interaction.guild_id is None:
            raise app_commands.NoPrivateMessage()
        m = reader_messages(interaction)
        options = {
            "include": include, "exclude": exclude, "min_outlets": min_outlets, "on_hold_timeout": after_hold,
            "mention_when": mention_when, "digest": digest, "quiet": quiet, "urgent": urgent, "tz": timezone,
            "mention": str(mention.id) if mention is not None else ("" if no_mention else None),
            "threads": thread,
        }
        given = {k: v for k, v in options.items() if v is not None}
        if given:
            sub = await within_budget(
                interaction,
                actions.edit_rules(
                    self.bot.store, subscription, given, platform=PLATFORM, group=str(interaction.guild_id),
                    catalog=self.bot.topics,
                ),
            )
        else:
            found = await self.bot.store.subscription(subscription)
            if found is None or found.destination.platform != PLATFORM or found.destination.group != str(interaction.guild_id):
                await send(interaction, m("discord.no_such_subscription", id=subscription))
                return
            sub = found
        lines = [rule_text(line, m) for line in sub.rules.describe(m)] or [m("discord.no_rules")]
        head = m("discord.rules_head", id=sub.id, where=f"<#{sub.destination.address}>", city=E.inert(sub.city))
        await send(interaction, head + "\n" + "\n".join(f"• {line}" for line in lines))

    @rules.autocomplete("timezone")
    async def rules_timezone(self, interaction: discord.Interaction, current: str) -> list[Choice[str]]:
        from bot.rules import zone_suggestions

        names = zone_suggestions(current or "America/Chicago", limit=AUTOCOMPLETE_MAX) if current else [
            "America/Chicago", "America/New_York", "America/Denver", "America/Los_Angeles", "UTC"
        ]
        return [Choice(name=n, value=n) for n in names][:AUTOCOMPLETE_MAX]

    @app_commands.command(name="unsubscribe", description="Stop alerts about a city in a channel.")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_channels=True)
    @app_commands.checks.has_permissions(manage_channels=True)
    @app_commands.describe(
        city="The city to stop following",
        channel="The channel the alerts go to (default: this channel)",
    )
    async def unsubscribe(
        self,
        interaction: discord.Interaction,
        city: app_commands.Range[str, 1, 100],
        channel: app_commands.Transform[discord.TextChannel | discord.ForumChannel, AlertChannel] | None = None,
    ) -> None:
        target_id = channel.id if channel is not None else interaction.channel_id
        if target_id is None or interaction.guild_id is None:
            raise app_commands.NoPrivateMessage()
        removed, label = await within_budget(
            interaction,
            actions.unsubscribe(
                self.bot.store,
                self.bot.require_gazetteer(),
                destination=destination(interaction.guild_id, target_id),
                city=city,
            ),
        )
        m = reader_messages(interaction)
        key = "discord.unsubscribed" if removed else "discord.not_subscribed"
        await send(interaction, m(key, where=f"<#{target_id}>", city=E.inert(label)))

    @unsubscribe.autocomplete("city")
    async def unsubscribe_city(
        self, interaction: discord.Interaction, current: str
    ) -> list[Choice[str]]:
        """This server's cities first (what one can actually remove), then gazetteer matches."""
        if interaction.guild_id is None:
            return []
        mine = await actions.subscribed_cities(
            self.bot.store, self.bot.require_gazetteer(), platform=PLATFORM, group=str(interaction.guild_id)
        )
        needle = current.casefold().strip()
        choices = [
            Choice(name=label[:100], value=value)
            for label, value in mine
            if not needle or needle in label.casefold() or needle in value
        ]
        if len(choices) < 25 and self.bot.gazetteer is not None:
            seen = {c.value for c in choices}
            for label, value in actions.city_suggestions(self.bot.gazetteer, current, limit=25):
                if value not in seen:
                    choices.append(Choice(name=label, value=value))
        return choices[:25]

    @app_commands.command(
        name="subscriptions", description="List this server's alert subscriptions and their health."
    )
    @app_commands.guild_only()
    async def subscriptions(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        views = await within_budget(
            interaction,
            actions.list_subscriptions(
                self.bot.store,
                self.bot.require_gazetteer(),
                platform=PLATFORM,
                group=str(interaction.guild_id),
                catalog=self.bot.topics,
            ),
        )
        m = reader_messages(interaction)
        if not views:
            await send(interaction, m("discord.no_subscriptions"))
            return
        await send(interaction, embed=subscriptions_embed(views, msgs=m))


def rule_text(line: str, msgs: Messages | None = None) -> str:
    """A rule line for Discord: keywords escaped; "mention: <id>" (in the language of
    ``msgs``: "mencionar: <id>") shown as the role."""
    prefix = (msgs or messages())("rules.mention", mention="")
    if line.startswith(prefix):
        role, _, rest = line[len(prefix):].partition(" ")
        shown = f"<@&{role}>" if role.isdigit() else E.inert(role)
        return f"{E.inert(prefix)}{shown}" + (f" {E.inert(rest)}" if rest else "")
    return E.inert(line)


def subscription_line(view: actions.SubscriptionView, msgs: Messages | None = None) -> str:
    """One subscription, its health and (when not English) its alerts' language."""
    m = msgs or messages()
    sub = view.subscription
    health = m("discord.active")
    if sub.paused:
        reason = E.inert(actions.pause_reason_text(sub.pause_reason, m) or m("discord.delivery_failed"))
        health = m("discord.paused", reason=reason)
    line = f"#{sub.id} <#{sub.destination.address}> · **{E.inert(view.city_label)}** · {view.topics_in(m)} · {health}"
    if sub.lang != "en":
        line += f" · {m.language(sub.lang)}"
    rules = sub.rules.describe(m)
    return line + ("\n   " + " · ".join(rule_text(r, m) for r in rules) if rules else "")


def subscriptions_embed(
    views: list[actions.SubscriptionView], title: str | None = None, msgs: Messages | None = None
) -> discord.Embed:
    m = msgs or messages()
    lines: list[str] = []
    used = 0
    for index, view in enumerate(views):
        line = subscription_line(view, m)
        if used + len(line) + 1 > 3800:
            lines.append(m("discord.and_more", n=len(views) - index))
            break
        lines.append(line)
        used += len(line) + 1
    return E.info_embed(f"{title or m('discord.subscriptions_title')} ({len(views)})", "\n".join(lines))


async def setup(bot: CivicBot) -> None:
    await bot.add_cog(Subscriptions(bot))
