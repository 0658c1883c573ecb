"""Run the stand-in by hand: ``python -m tests.standin [--port 8765] [--channels alerts,general]``.

Prints the settings a bot process needs (DISCORD_TOKEN, DISCORD_API_BASE, DEV_GUILD_ID) and logs
every request and violation until Ctrl-C. Handy for poking at the bot without Discord.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

from .server import DiscordStandIn


async def _serve(args: argparse.Namespace) -> None:
    async with DiscordStandIn(token=args.token, port=args.port) as s:
        g = s.add_guild(args.guild, channels=[c for c in args.channels.split(",") if c])
        print(f"DISCORD_TOKEN={s.token}")
        print(f"DISCORD_API_BASE={s.api_base}")
        print(f"DEV_GUILD_ID={g.id}")
        print(f"# gateway: {s.gateway_url}  owner (invoker) id: {g.owner_id}  channels: {g.channel_ids}")
        if s.validation_skipped_reason:
            print(f"# WARNING: {s.validation_skipped_reason}")
        seen = 0
        while True:
            await asyncio.sleep(0.5)
            for r in s.requests[seen:]:
                print(f"{r.status} {r.method} {r.path}")
            seen = len(s.requests)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.standin", description=__doc__)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--token", default="fake-token")
    parser.add_argument("--guild", default="Organizers")
    parser.add_argument("--channels", default="alerts,general")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
