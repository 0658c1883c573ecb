"""A Telegram Bot API stand-in on 127.0.0.1 for the Telegram adapter's tests."""

from tests.telegram_standin.server import Chat, TelegramStandIn, spec_path

__all__ = ["Chat", "TelegramStandIn", "spec_path"]
