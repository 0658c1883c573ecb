"""The console adapter: with no Discord token, alerts print to stdout through the same outbox.

Labels (city names, topic labels from config/topics.toml) are passed in, so this module reads
no config itself.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from bot.models import Alert
from bot.render import plain_text, plain_topic

CONSOLE_GUILD_ID = 0
CONSOLE_CHANNEL_ID = 0


class ConsoleSink:
    def __init__(
        self,
        out: TextIO | None = None,
        label: Callable[[str], str] = lambda c: c,
        topic_label: Callable[[str], str] = plain_topic,
    ) -> None:
        self.out = out or sys.stdout
        self.label = label
        self.topic_label = topic_label
        self._ids = itertools.count(1)

    def batch_size(self, alerts: Sequence[Alert]) -> int:
        return min(len(alerts), 10)

    async def send(self, channel_id: int, alerts: Sequence[Alert], nonce: str) -> int:
        for alert in alerts:
            self.out.write("\n🔔 " + plain_text(alert.story, self.label, self.topic_label) + "\n")
        self.out.flush()
        return next(self._ids)

    async def edit(self, channel_id: int, message_id: int, alerts: Sequence[Alert]) -> None:
        for alert in alerts:
            if len(alert.story.outlets) > 1:
                self.out.write(f"\n↻ story #{alert.story.id} also reported by: {', '.join(alert.story.outlets[1:])}\n")
        self.out.flush()

    async def find_sent(self, channel_id: int, story_ids: Sequence[int], *, limit: int = 100) -> dict[int, int]:
        return {}  # stdout keeps no history; a crash mid-print may print an alert again

    async def notify_problem(self, guild_id: int, channel_id: int, text: str) -> None:
        print(text, file=sys.stderr)
