"""`python -m bot` is the same as the `civic-alerts` console script."""

from bot.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
