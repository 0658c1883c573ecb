"""A Slack stand-in (Web API + Socket Mode) that judges every call by Slack's OpenAPI file."""

from tests.slack_standin.server import (
    ADMIN,
    APP_TOKEN,
    BOT_TOKEN,
    BOT_USER,
    MEMBER,
    TEAM_ID,
    Channel,
    SlackStandIn,
)

__all__ = ["ADMIN", "APP_TOKEN", "BOT_TOKEN", "BOT_USER", "MEMBER", "TEAM_ID", "Channel", "SlackStandIn"]
