"""The Telegram adapter (aiogram 3 over the Bot API; long polling)."""
