"""The Slack adapter: slack_bolt (async) in Socket Mode, one `/civic` slash command, Block Kit alerts."""
