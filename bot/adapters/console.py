"""The console adapter: with no chat platform, alerts print to stdout through the same outbox.

Labels (city names, topic labels from config/topics.toml) are passed in, so this module reads
no config itself.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Callable, Sequence
from typing import TextIO

from bot.delivery import DeliveryProblem, SinkLimits
from bot.messages import messages
from bot.models import Alert, Destination
from bot.render import corroboration, digest_text, plain_text, plain_topic

CONSOLE = Destination(platform="console", address="stdout", name="console")


class ConsoleSink:
    platform = "console"
    limits = SinkLimits(batch_size=10, sends_per_second=1000.0, key_length=0, can_edit=True)

    def __init__(
        self,
        out: TextIO | None = None,
        label: Callable[[str], str] = lambda c: c,
        topic_label: Callable[[str], str] = plain_topic,
    ) -> None:
        self.out = out or sys.stdout
        self.label = label
        self.topic_label = topic_label
        # References unique across runs: an edit is keyed by (destination, reference), and this
        # destination outlives the process, so a counter restarting at 1 would reach old rows.
        self._run = f"{time.time_ns():x}"
        self._ids = itertools.count(1)

    def batch_size(self, alerts: Sequence[Alert]) -> int:
        return min(len(alerts), self.limits.batch_size)

    async def send(self, destination: Destination, alerts: Sequence[Alert], key: str) -> str:
        mention = f"[{alerts[0].mention}] " if alerts and alerts[0].mention else ""
        if alerts and alerts[0].digest:
            digest = digest_text([a.story for a in alerts], messages(alerts[0].lang))
            self.out.write("\n🗞 " + mention + digest + "\n")
        for alert in alerts if not (alerts and alerts[0].digest) else ():
            text = plain_text(alert.story, self.label, self.topic_label, messages(alert.lang))
            self.out.write("\n🔔 " + mention + text + "\n")
        self.out.flush()
        return f"{self._run}-{next(self._ids)}"

    async def edit(self, destination: Destination, message_ref: str, alerts: Sequence[Alert]) -> None:
        for alert in alerts:
            if len(alert.story.outlets) > 1:
                self.out.write(
                    f"\n↻ story #{alert.story.id} ({corroboration(alert.story)}) also reported by: "
                    f"{', '.join(alert.story.outlets[1:])}\n"
                )
        self.out.flush()

    async def find_sent(
        self, destination: Destination, story_ids: Sequence[int], *, limit: int = 100
    ) -> dict[int, str]:
        return {}  # stdout keeps no history; a crash mid-print may print an alert again

    async def notify_problem(self, destination: Destination, problem: DeliveryProblem) -> None:
        missing = ", ".join(problem.missing) or "access"
        print(f"civic-alerts: cannot deliver to the console ({missing}): {problem.detail}", file=sys.stderr)
