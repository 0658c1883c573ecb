"""Slash-command cogs, one per module, each with `async def setup(bot)` (see client.EXTENSIONS)."""
