"""Apprise's log output, kept away from ours and turned into one clean reason per failure.

Why: Apprise reports *why* a send failed only through its logger ("HTTP 500 - Internal Server
Error", "Connection refused"), and the same logger prints URLs and payloads. We detach it from
the root handlers (nothing of it reaches stderr) and collect its warnings per thread — each send
runs in its own worker thread — so the failing send gets its own reason, scrubbed of URLs.
"""

from __future__ import annotations

import logging
import re
import threading

from bot.logs import RedactFilter

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://\S+")
_installed = threading.Lock()


class _ThreadCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self._by_thread: dict[int, list[str]] = {}
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:
            return
        with self._lock:
            self._by_thread.setdefault(threading.get_ident(), []).append(text)

    def start(self) -> None:
        with self._lock:
            self._by_thread.pop(threading.get_ident(), None)

    def take(self) -> list[str]:
        with self._lock:
            return self._by_thread.pop(threading.get_ident(), [])


CAPTURE = _ThreadCapture()


def quiet_apprise() -> None:
    """Detach Apprise's logger from ours (idempotent) and collect its warnings instead."""
    with _installed:
        log = logging.getLogger("apprise")
        log.propagate = False
        if log.level == logging.NOTSET or log.level < logging.WARNING:
            log.setLevel(logging.WARNING)
        if CAPTURE not in log.handlers:
            log.addHandler(CAPTURE)


def clean_reason(messages: list[str], secrets: list[str], limit: int = 160) -> str:
    """The most telling captured line, one line, no URL and no secret, at most `limit` chars."""
    if not messages:
        return ""
    # Apprise logs a summary ("Failed to send …") after the cause; the cause says more
    causes = [m for m in messages if not m.lower().startswith(("failed to send", "sent "))]
    text = (causes or messages)[-1]
    text = _URL.sub("<url>", text)
    text = RedactFilter(secrets).scrub(text)
    return " ".join(text.split())[:limit]
