"""civic-alert-bot: civic news alerts per city, for organizers on Discord."""

__version__ = "0.1.0"
