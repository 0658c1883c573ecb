"""bot.settings: feeds file validation and environment parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.models import FeedConfig
from bot.settings import (
    DEFAULT_API_BASE,
    DEFAULT_DB,
    REPO_CONFIG_DIR,
    Settings,
    load_feeds,
    load_settings,
)

GOOD = """
[[feeds]]
url = "https://chicago.suntimes.com/rss/index.xml"
name = "Chicago Sun-Times"
city = "chicago-il"
interval = 600
lang = "en"

[[feeds]]
url = "  https://news.google.com/rss/search?q=ICE+Chicago  "
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "feeds.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_feeds_good(tmp_path: Path) -> None:
    feeds = load_feeds(write(tmp_path, GOOD))
    assert feeds == (
        FeedConfig(url="https://chicago.suntimes.com/rss/index.xml", name="Chicago Sun-Times", city="chicago-il", interval=600,
                   lang="en"),
        FeedConfig(url="https://news.google.com/rss/search?q=ICE+Chicago"),
    )


def test_repo_feed_catalogue_is_valid() -> None:
    feeds = load_feeds(REPO_CONFIG_DIR / "feeds.toml")
    assert feeds and len({f.url for f in feeds}) == len(feeds)


ENTRY_OK = '[[feeds]]\nurl = "https://a.example/rss"\n'


@pytest.mark.parametrize(
    ("second_entry", "reason"),
    [
        ('name = "No URL"', "'url' is required"),
        ('url = ""', "'url' is required"),
        ("url = 42", "'url' is required"),
        ('url = "ftp://a.example/rss"', "must be an http(s) URL"),
        ('url = "file:///etc/passwd"', "must be an http(s) URL"),
        ('url = "https://"', "with a host"),
        ('url = "https://b.example/rss"\ncity = "Chicago, IL"', "'city' must be a city id"),
        ('url = "https://b.example/rss"\ncity = "chicago"', "'city' must be a city id"),
        ('url = "https://b.example/rss"\ncity = "Chicago-IL"', "'city' must be a city id"),
        ('url = "https://b.example/rss"\ninterval = 29', "'interval' must be a whole number of seconds ≥ 30"),
        ('url = "https://b.example/rss"\ninterval = 60.0', "'interval' must be"),
        ('url = "https://b.example/rss"\ninterval = true', "'interval' must be"),
        ('url = "https://b.example/rss"\ninterval = "600"', "'interval' must be"),
        ('url = "https://b.example/rss"\nname = "  "', "'name' must be a non-empty string"),
        ('url = "https://b.example/rss"\nlang = "en-US"', "'lang' must be a short language code"),
        ('url = "https://b.example/rss"\nlang = "EN"', "'lang' must be a short language code"),
        ('url = "https://b.example/rss"\nlang = "english"', "'lang' must be a short language code"),
        ('url = "https://b.example/rss"\nlang = 1', "'lang' must be a short language code"),
        ('url = "https://b.example/rss"\nurll = "typo"', "unknown key(s) urll"),
        ('url = "https://a.example/rss"', "duplicate url"),
        ('url = " https://a.example/rss "', "duplicate url"),
    ],
)
def test_load_feeds_errors_name_file_entry_and_reason(tmp_path: Path, second_entry: str, reason: str) -> None:
    path = write(tmp_path, ENTRY_OK + "\n[[feeds]]\n" + second_entry + "\n")
    with pytest.raises(ConfigError) as info:
        load_feeds(path)
    msg = str(info.value)
    assert str(path) in msg
    assert "entry #2" in msg
    assert reason in msg
    assert info.value.user_message == msg


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[[feeds]\nurl = 1", "not valid TOML"),
        ('[[feeds]]\nurl = "https://a.example"\nurl = "https://b.example"', "not valid TOML"),
        ("", "expected at least one [[feeds]] table"),
        ('feeds = "nope"', "expected at least one [[feeds]] table"),
        ("feeds = [1]", "entry #1: must be a table"),
    ],
)
def test_load_feeds_file_level_errors(tmp_path: Path, text: str, reason: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_feeds(path)
    assert str(path) in str(info.value) and reason in str(info.value)


def test_load_feeds_bad_encoding_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "feeds.toml"
    path.write_bytes(b'[[feeds]]\nurl = "https://a.example/\xff"\n')
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_feeds(path)
    with pytest.raises(ConfigError, match="cannot read feeds file") as info:
        load_feeds(tmp_path / "missing.toml")
    assert "missing.toml" in str(info.value)


# -- environment -------------------------------------------------------------------------
def test_defaults(tmp_path: Path) -> None:
    s = load_settings(env={"CIVIC_ALERTS_CONFIG_DIR": str(tmp_path)})
    assert s.db_path == DEFAULT_DB
    assert s.config_dir == tmp_path and s.feeds_file == tmp_path / "feeds.toml"
    assert s.discord_token is None and s.discord_api_base == DEFAULT_API_BASE
    assert (s.poll_interval, s.catchup_count, s.allow_private_feeds, s.log_level) == (300, 3, False, "INFO")


def test_db_path_precedence(tmp_path: Path) -> None:
    env = {"CIVIC_ALERTS_DB": str(tmp_path / "env.sqlite3")}
    assert load_settings(db=tmp_path / "cli.sqlite3", env=env).db_path == tmp_path / "cli.sqlite3"
    assert load_settings(db=str(tmp_path / "cli2.sqlite3"), env=env).db_path == tmp_path / "cli2.sqlite3"
    assert load_settings(env=env).db_path == tmp_path / "env.sqlite3"
    assert load_settings(env={}).db_path == DEFAULT_DB
    assert load_settings(env={"CIVIC_ALERTS_DB": ""}).db_path == DEFAULT_DB


def test_feeds_file_precedence(tmp_path: Path) -> None:
    env = {"CIVIC_ALERTS_FEEDS": str(tmp_path / "env.toml"), "CIVIC_ALERTS_CONFIG_DIR": str(tmp_path)}
    assert load_settings(feeds=tmp_path / "cli.toml", env=env).feeds_file == tmp_path / "cli.toml"
    assert load_settings(env=env).feeds_file == tmp_path / "env.toml"


def test_env_values_parsed() -> None:
    s = load_settings(
        env={
            "DISCORD_TOKEN": "  tok  ",
            "DISCORD_API_BASE": "http://127.0.0.1:8999/api/v10/",
            "DEV_GUILD_ID": "1234",
            "CIVIC_ALERTS_POLL_INTERVAL": "60",
            "CIVIC_ALERTS_TICK_SECONDS": "0.5",
            "CIVIC_ALERTS_CATCHUP": "0",
            "CIVIC_ALERTS_ALLOW_PRIVATE_FEEDS": "yes",
            "CIVIC_ALERTS_LOG_JSON": "OFF",
            "CIVIC_ALERTS_LOG_LEVEL": "debug",
            "CIVIC_ALERTS_FETCH_TIMEOUT": " 12.5 ",
        }
    )
    assert s.discord_token == "tok"
    assert s.discord_api_base == "http://127.0.0.1:8999/api/v10"
    assert s.dev_guild_id == 1234
    assert (s.poll_interval, s.tick_seconds, s.catchup_count) == (60, 0.5, 0)
    assert s.allow_private_feeds is True and s.log_json is False
    assert s.log_level == "DEBUG" and s.fetch_timeout == 12.5
    assert load_settings(env={"DISCORD_TOKEN": "   "}).discord_token is None


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("DEV_GUILD_ID", "abc", "DEV_GUILD_ID must be a whole number, got 'abc'"),
        ("CIVIC_ALERTS_POLL_INTERVAL", "5m", "CIVIC_ALERTS_POLL_INTERVAL must be a whole number"),
        ("CIVIC_ALERTS_POLL_INTERVAL", "10", "at least 30 seconds"),
        ("CIVIC_ALERTS_POLL_INTERVAL", "0", "at least 30 seconds"),
        ("CIVIC_ALERTS_POLL_INTERVAL", "-60", "at least 30 seconds"),
        ("CIVIC_ALERTS_CATCHUP", "3.5", "CIVIC_ALERTS_CATCHUP must be a whole number"),
        ("CIVIC_ALERTS_TICK_SECONDS", "fast", "CIVIC_ALERTS_TICK_SECONDS must be a number"),
        ("CIVIC_ALERTS_FETCH_TIMEOUT", "1,5", "CIVIC_ALERTS_FETCH_TIMEOUT must be a number"),
        ("CIVIC_ALERTS_ALLOW_PRIVATE_FEEDS", "maybe", "must be true or false"),
        ("DISCORD_API_BASE", "ftp://discord.example/api", "DISCORD_API_BASE must be an http(s) URL"),
        ("DISCORD_API_BASE", "discord.com/api", "DISCORD_API_BASE must be an http(s) URL"),
        ("DISCORD_API_BASE", "https://", "DISCORD_API_BASE must be an http(s) URL"),
    ],
)
def test_bad_env_values_raise_config_error(key: str, value: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env={key: value})
    assert reason in str(info.value)


def test_token_never_in_repr() -> None:
    secret = "MTAxNzY0.secret-token.abcdef"
    s = load_settings(env={"DISCORD_TOKEN": secret})
    assert s.discord_token == secret
    assert secret not in repr(s) and secret not in str(s)
    assert "secret" not in repr(Settings(discord_token="secret"))


def test_settings_frozen() -> None:
    s = Settings()
    with pytest.raises(AttributeError):
        s.poll_interval = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("CIVIC_ALERTS_FETCH_CONCURRENCY", "0"),
        ("CIVIC_ALERTS_FETCH_PER_HOST", "-1"),
        ("CIVIC_ALERTS_PARSE_WORKERS", "-2"),
        ("CIVIC_ALERTS_CATCHUP", "-1"),
        ("CIVIC_ALERTS_CATCHUP", "11"),
        ("CIVIC_ALERTS_SEARCH_PAGE_SIZE", "0"),
        ("CIVIC_ALERTS_TICK_SECONDS", "0"),
        ("CIVIC_ALERTS_MAX_FEED_BYTES", "10"),
    ],
)
def test_out_of_range_numbers_are_refused_not_replaced(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=key):
        load_settings(env={key: value})


def test_zero_means_off_or_auto_where_documented() -> None:
    settings = load_settings(env={"CIVIC_ALERTS_CATCHUP": "0", "CIVIC_ALERTS_PARSE_WORKERS": "0"})
    assert settings.catchup_count == 0 and settings.parse_workers == 0
