"""Structured logs that never carry secrets.

Why a redacting filter on the root handler: the token and interaction/webhook tokens can reach a
log line through a library's message (aiohttp reprs URLs, discord.py logs routes). Scrubbing at
the one handler catches every path, ours and theirs.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
# Discord bot tokens, webhook/interaction tokens in URLs, Authorization headers; every configured
# platform token (Settings.secrets) is scrubbed by value as well.
_PATTERNS = [
    re.compile(r"(webhooks/\d+/)[A-Za-z0-9_\-.]+"),
    re.compile(r"(interactions/\d+/)[A-Za-z0-9_\-.]+"),
    re.compile(r"(Bot |Bearer )[A-Za-z0-9_\-.]{8,}"),
    re.compile(r"()[A-Za-z0-9_\-]{23,28}\.[A-Za-z0-9_\-]{6,7}\.[A-Za-z0-9_\-]{27,}"),
]


# Secrets learnt while running (the parts of push URLs read from the database or typed on the
# command line): every RedactFilter consults this set too, so a filter installed before the URL
# was known still scrubs it.
_REGISTERED: set[str] = set()


def register_secrets(secrets: Iterable[str]) -> None:
    """Scrub these strings from every later log line and CLI error (at least 4 characters)."""
    _REGISTERED.update(s for s in secrets if s and len(s) >= 4)


class RedactFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 4]

    def scrub(self, text: str) -> str:
        # longest first: a secret that contains a shorter one is removed whole
        for secret in sorted({*self.secrets, *_REGISTERED}, key=len, reverse=True):
            text = text.replace(secret, "[redacted]")
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: m.group(1) + "[redacted]", text)
        return text

    def scrub_value(self, value: object) -> object:
        """Scrub an `extra` value of any shape: the formatters print containers as JSON and
        other objects through str(), so a token inside a dict (headers) or a URL object leaks
        unless those are scrubbed too."""
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {self.scrub_value(k): self.scrub_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.scrub_value(v) for v in value]
        return self.scrub(str(value))

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.scrub(record.getMessage())
        record.args = None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD:
                setattr(record, key, self.scrub_value(value))
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class KeyValueFormatter(logging.Formatter):
    """`time level logger message key=value …`: greppable by people and by log shippers."""

    def __init__(self, as_json: bool = False) -> None:
        super().__init__()
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        base = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **extras,
        }
        if record.exc_text:
            base["exc"] = record.exc_text
        if self.as_json:
            return json.dumps(base, default=str)
        tail = " ".join(f"{k}={json.dumps(v, default=str)}" for k, v in extras.items())
        line = f"{base['time']} {record.levelname:<7} {record.name}: {base['message']}" + (f" {tail}" if tail else "")
        if record.exc_text:
            line += "\n" + record.exc_text
        return line


def setup_logging(level: str = "INFO", *, as_json: bool = False, secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactFilter(secrets))
    handler.setFormatter(KeyValueFormatter(as_json))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # discord.py at DEBUG dumps gateway payloads; INFO is plenty for operators.
    logging.getLogger("discord").setLevel(logging.INFO if level.upper() == "DEBUG" else level.upper())
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # Apprise logs the URLs it loads and the responses it gets; the push adapter captures its
    # warnings into one scrubbed line per failure, and nothing of it reaches our handler.
    apprise_log = logging.getLogger("apprise")
    apprise_log.propagate = False
    apprise_log.setLevel(logging.WARNING)
