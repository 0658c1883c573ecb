"""civic-alert-bot: civic news alerts per city, for organizers on Discord, Slack, Telegram, Matrix and push services."""

__version__ = "0.1.0"
