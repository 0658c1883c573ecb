"""One root exception for the project.

Why: callers (the CLI, the Discord cogs) catch `CivicAlertError` once and show
`user_message`, which is always safe to print in a terminal or a Discord reply:
no tracebacks, no tokens, no internal paths.
"""

from __future__ import annotations


class CivicAlertError(Exception):
    """Root of every error this project raises on purpose."""

    def __init__(
        self,
        message: str,
        *,
        user_message: str | None = None,
        key: str | None = None,
        fields: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.user_message = user_message or message
        # the message catalogue entry (config/messages/<lang>.toml) that says user_message in
        # the reader's language, and its fields; None: user_message in English only
        self.key = key
        self.fields = dict(fields or {})


class ConfigError(CivicAlertError):
    """Bad settings or config file: names the file, the entry and the reason."""


class UserInputError(CivicAlertError):
    """A user's argument cannot be used (bad city, bad URL, bad query)."""


class UnknownCityError(UserInputError):
    def __init__(self, city: str) -> None:
        super().__init__(
            f"unknown city {city!r}",
            user_message=f"I don't know the city “{city[:80]}”. Try the autocomplete list, e.g. “Chicago, IL”.",
            key="errors.unknown_city",
            fields={"city": city[:80]},
        )


class FeedError(CivicAlertError):
    """A feed could not be fetched or parsed; contained per feed, never fatal."""


class UnsafeURLError(UserInputError):
    """A URL points at a non-http(s) scheme or an internal address."""


class StoreError(CivicAlertError):
    """The database refused: locked, full, corrupt. Message says which."""


class SubscriptionExistsError(UserInputError):
    pass


class FeedExistsError(UserInputError):
    pass


class DeliveryError(CivicAlertError):
    """Base of the delivery outcomes an adapter reports to the delivery worker."""


class RateLimitedError(DeliveryError):
    def __init__(self, retry_after: float, *, is_global: bool = False) -> None:
        super().__init__(f"rate limited for {retry_after:.2f}s (global={is_global})")
        self.retry_after = retry_after
        self.is_global = is_global


class TransientDeliveryError(DeliveryError):
    """5xx, timeouts, resets: retry with backoff."""


class ForbiddenDeliveryError(DeliveryError):
    """403: the bot lacks access or a permission in that channel; `missing` names what."""

    def __init__(self, message: str, missing: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.missing = missing


class ChannelGoneError(DeliveryError):
    """404 unknown channel / channel deleted / bot removed: drop the subscriptions."""
