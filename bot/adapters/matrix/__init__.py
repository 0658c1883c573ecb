"""The Matrix adapter: `!alerts` commands in rooms the bot is invited to, alerts as m.notice."""

PLATFORM = "matrix"
