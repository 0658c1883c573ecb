"""Apprise URLs: validation, the masked form shown to people, and the secret parts to scrub.

Why our own masking on top of Apprise's `url(privacy=True)`: Apprise hides passwords and most
tokens but keeps phone numbers (signal://, twilio://) and e-mail addresses in the path, and its
query string repeats settings nobody needs in a list. The name we store and print is Apprise's
privacy form without the query, with phone numbers and e-mail local parts cut to a hint.
Everything else in the raw URL that the masked form does not show is treated as a secret and
registered with the log scrubber (bot.logs.register_secrets).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from bot.errors import UserInputError
from bot.models import Destination

PLATFORM = "apprise"
MAX_URL_CHARS = 2000
_PHONE = re.compile(r"\+?\d[\d\-]{5,}\d")
_EMAIL = re.compile(r"([A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]*(@|%40)")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")


def _apprise() -> Any:
    import apprise  # imported lazily: it loads ~190 plugins, and only push needs it

    return apprise


def load_plugin(url: str) -> Any | None:
    """The Apprise service object for `url`, or None when Apprise cannot use it."""
    from bot.adapters.push.capture import quiet_apprise

    quiet_apprise()
    try:
        return _apprise().Apprise.instantiate(url, suppress_exceptions=True)
    except Exception:
        return None


def scheme_of(url: str) -> str:
    found = _SCHEME.match(url.strip())
    return found.group(1).lower() if found else ""


def _mask_text(text: str) -> str:
    text = _PHONE.sub(lambda m: m.group(0)[:2] + "…" + m.group(0)[-2:], text)
    return _EMAIL.sub(lambda m: m.group(1) + "…" + m.group(2), text)


def masked(url: str, plugin: Any | None = None) -> str:
    """What lists, logs and errors may show of a push URL (never a token, password or number)."""
    plugin = plugin if plugin is not None else load_plugin(url)
    if plugin is None:
        scheme = scheme_of(url)
        return f"{scheme}://…" if scheme else "(invalid push URL)"
    shown = str(plugin.url(privacy=True)).split("?", 1)[0]
    return _mask_text(unquote(shown))


def check_url(url: str) -> tuple[str, Any]:
    """Validate an Apprise URL; returns (url, plugin). The error never repeats the URL."""
    url = (url or "").strip()
    if not url:
        raise UserInputError("empty push URL", user_message="give an Apprise URL (e.g. ntfy://host/topic) or 'console'")
    if len(url) > MAX_URL_CHARS:
        raise UserInputError("push URL too long", user_message="that Apprise URL is too long")
    scheme = scheme_of(url)
    if not scheme:
        raise UserInputError(
            "not a URL", user_message="not an Apprise URL: expected SCHEME://… (e.g. ntfy://host/topic) or 'console'"
        )
    plugin = load_plugin(url)
    if plugin is None:
        supported = _known_scheme(scheme)
        if not supported:
            raise UserInputError(
                f"unknown Apprise scheme {scheme}",
                user_message=f"Apprise does not know the scheme '{scheme}://' (see the Apprise wiki for the services it supports)",
            )
        raise UserInputError(
            f"invalid {scheme} URL",
            user_message=f"Apprise cannot use this '{scheme}://' URL: a required part is missing or malformed",
        )
    return url, plugin


def _known_scheme(scheme: str) -> bool:
    try:
        from apprise.manager_plugins import NotificationManager

        return scheme in NotificationManager()
    except Exception:
        return False


def secrets(url: str, shown: str | None = None) -> list[str]:
    """Parts of the raw URL that its masked form does not show: user, password, path segments
    (tokens, phone numbers, addresses) and query values. Scrubbed from every log line."""
    shown = shown if shown is not None else masked(url)
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        user, password = parts.username, parts.password
    except ValueError:
        return [url]
    found: list[str] = []
    for value in (user, password):
        if value:
            found.extend({value, unquote(value)})
    for segment in parts.path.split("/"):
        found.extend({segment, unquote(segment)})
    for _, value in parse_qsl(parts.query, keep_blank_values=False):
        if len(value) >= 6:
            found.extend({value, unquote(value)})
    found.extend(_PHONE.findall(unquote(url)))
    out = []
    for item in found:
        if len(item) < 4 or (item in shown and not _PHONE.fullmatch(item)):
            continue
        if item == host and not _PHONE.fullmatch(item):
            continue
        out.append(item)
    return sorted(set(out), key=len, reverse=True)


def destination(url: str, name: str | None = None) -> Destination:
    """A push destination: the URL is the address (kept in the database only), the masked form
    (after the operator's own label, when given) is the name every list shows."""
    url, plugin = check_url(url)
    shown = masked(url, plugin)
    label = " ".join((name or "").split())[:80]
    return Destination(platform=PLATFORM, address=url, name=f"{label} · {shown}" if label else shown)
