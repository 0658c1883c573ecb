"""A console sink that also records each message it was handed (the real ConsoleSink renders)."""

from __future__ import annotations

import io
from collections.abc import Sequence

from bot.adapters.console import ConsoleSink
from bot.clock import ManualClock
from bot.models import Alert, Destination


class RecordingConsole(ConsoleSink):
    def __init__(self, clock: ManualClock) -> None:
        self.buffer = io.StringIO()
        super().__init__(out=self.buffer)
        self.clock = clock
        self.sent: list[tuple[float, list[Alert]]] = []
        self.texts: list[str] = []

    async def send(self, destination: Destination, alerts: Sequence[Alert], key: str) -> str:
        buf = self.out
        start = buf.tell()
        ref = await super().send(destination, alerts, key)
        buf.seek(start)
        self.texts.append(buf.read())
        self.sent.append((self.clock.now(), list(alerts)))
        return ref
