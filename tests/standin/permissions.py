"""Discord permission bits and the per-channel permission algorithm.

https://discord.com/developers/docs/topics/permissions#permission-overwrites — base permissions
from @everyone and the member's roles (owner and ADMINISTRATOR get everything), then the channel's
@everyone overwrite, the union of the member's role overwrites, then the member overwrite; finally
the implicit rules (no VIEW_CHANNEL → nothing; no SEND_MESSAGES → no embeds/attachments/mentions).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntFlag


class Perm(IntFlag):
    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_AUDIT_LOG = 1 << 7
    PRIORITY_SPEAKER = 1 << 8
    STREAM = 1 << 9
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    SEND_TTS_MESSAGES = 1 << 12
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    VIEW_GUILD_INSIGHTS = 1 << 19
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    CHANGE_NICKNAME = 1 << 26
    MANAGE_NICKNAMES = 1 << 27
    MANAGE_ROLES = 1 << 28
    MANAGE_WEBHOOKS = 1 << 29
    USE_APPLICATION_COMMANDS = 1 << 31
    CREATE_PUBLIC_THREADS = 1 << 35
    SEND_MESSAGES_IN_THREADS = 1 << 38
    USE_EXTERNAL_APPS = 1 << 50


ALL_PERMISSIONS = (1 << 53) - 1

# What a new server's @everyone role gets (close to Discord's default for new guilds).
DEFAULT_EVERYONE = (
    Perm.CREATE_INSTANT_INVITE | Perm.ADD_REACTIONS | Perm.STREAM | Perm.VIEW_CHANNEL
    | Perm.SEND_MESSAGES | Perm.SEND_TTS_MESSAGES | Perm.EMBED_LINKS | Perm.ATTACH_FILES
    | Perm.READ_MESSAGE_HISTORY | Perm.MENTION_EVERYONE | Perm.USE_EXTERNAL_EMOJIS | Perm.CONNECT
    | Perm.SPEAK | Perm.CHANGE_NICKNAME | Perm.USE_APPLICATION_COMMANDS | Perm.CREATE_PUBLIC_THREADS
    | Perm.SEND_MESSAGES_IN_THREADS | Perm.USE_EXTERNAL_APPS
)

# What the bot's managed role gets when a test does not say (what the invite URL would ask for).
DEFAULT_BOT = (
    Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES | Perm.EMBED_LINKS | Perm.READ_MESSAGE_HISTORY
    | Perm.USE_APPLICATION_COMMANDS | Perm.SEND_MESSAGES_IN_THREADS | Perm.ADD_REACTIONS
)

# Channel-scoped permission bits (what a channel can grant or take away; guild-wide ones such as
# CHANGE_NICKNAME or MANAGE_GUILD survive a missing VIEW_CHANNEL). Same set as
# discord.Permissions.all_channel() in discord.py 2.7.
ALL_CHANNEL = 0x1E64FDB3F7FF51

ROLE_OVERWRITE = 0
MEMBER_OVERWRITE = 1


@dataclass
class Overwrite:
    id: int
    type: int  # 0 role, 1 member
    allow: int = 0
    deny: int = 0

    def to_payload(self) -> dict[str, object]:
        return {"id": str(self.id), "type": self.type, "allow": str(self.allow), "deny": str(self.deny)}


def base_permissions(*, is_owner: bool, everyone: int, role_perms: Iterable[int]) -> int:
    if is_owner:
        return ALL_PERMISSIONS
    perms = everyone
    for p in role_perms:
        perms |= p
    if perms & Perm.ADMINISTRATOR:
        return ALL_PERMISSIONS
    return perms


def channel_permissions(
    base: int,
    *,
    guild_id: int,
    member_id: int,
    member_role_ids: Iterable[int],
    overwrites: Iterable[Overwrite],
    text_channel: bool = True,
) -> int:
    if base & Perm.ADMINISTRATOR or base == ALL_PERMISSIONS:
        return ALL_PERMISSIONS
    perms = base
    ows = list(overwrites)
    role_ids = set(member_role_ids)
    for ow in ows:
        if ow.type == ROLE_OVERWRITE and ow.id == guild_id:
            perms &= ~ow.deny
            perms |= ow.allow
    allow = deny = 0
    for ow in ows:
        if ow.type == ROLE_OVERWRITE and ow.id in role_ids and ow.id != guild_id:
            allow |= ow.allow
            deny |= ow.deny
    perms &= ~deny
    perms |= allow
    for ow in ows:
        if ow.type == MEMBER_OVERWRITE and ow.id == member_id:
            perms &= ~ow.deny
            perms |= ow.allow
    # implicit permissions
    if not perms & Perm.VIEW_CHANNEL:
        return perms & ~ALL_CHANNEL
    if text_channel and not perms & Perm.SEND_MESSAGES:
        perms &= ~(Perm.SEND_TTS_MESSAGES | Perm.MENTION_EVERYONE | Perm.EMBED_LINKS | Perm.ATTACH_FILES)
    return perms
