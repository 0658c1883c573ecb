"""Push destinations through Apprise (Signal, WhatsApp, SMS, e-mail, ntfy, webhooks, …).

Only this package imports `apprise`. The CLI validates URLs with `urls.destination`, and the
app delivers the "apprise" outbox rows with `ApprisePushSink`.
"""

from bot.adapters.push.sink import LIMITS, ApprisePushSink
from bot.adapters.push.urls import PLATFORM, check_url, destination, masked, secrets

__all__ = ["LIMITS", "PLATFORM", "ApprisePushSink", "check_url", "destination", "masked", "secrets"]
