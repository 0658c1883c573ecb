"""A local Discord stand-in (REST API v10 + gateway) for tests. See README.md beside this file."""

from .models import EPHEMERAL, LOADING, CallbackRecord, Guild, InteractionHandle
from .permissions import DEFAULT_BOT, DEFAULT_EVERYONE, Overwrite, Perm
from .ratelimit import RateLimitConfig
from .server import DiscordStandIn, Faults, RequestRecord, StandInError
from .validation import Violation

__all__ = [
    "DEFAULT_BOT",
    "DEFAULT_EVERYONE",
    "EPHEMERAL",
    "LOADING",
    "CallbackRecord",
    "DiscordStandIn",
    "Faults",
    "Guild",
    "InteractionHandle",
    "Overwrite",
    "Perm",
    "RateLimitConfig",
    "RequestRecord",
    "StandInError",
    "Violation",
]
