"""The only reader of the environment, `.env` and `config/*.toml`.

Why one place: every other module receives a frozen `Settings`, so tests can build one
directly and nothing reads `os.environ` behind the caller's back.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bot.errors import ConfigError
from bot.lang import is_language_code
from bot.models import DestinationConfig, FeedConfig

if TYPE_CHECKING:
    from bot.coverage import CoverageConfig

REPO_CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
DEFAULT_DB = Path("data") / "civic-alerts.sqlite3"
DEFAULT_API_BASE = "https://discord.com/api/v10"


@dataclass(frozen=True, slots=True)
class ShardPlan:
    """Which Discord gateway shards this process connects (issue 15: Discord across processes).

    `ids` None: every shard of the count; `count` None: Discord's recommended count (asked of
    GET /gateway/bot at start). A guild lives on shard `(guild_id >> 22) % count`; its gateway
    events and interactions reach only the process holding that shard, while alerts go out over
    REST from whichever worker leased the outbox row.
    """

    ids: tuple[int, ...] | None = None
    count: int | None = None

    def owns(self, guild_id: int, count: int | None = None) -> bool:
        """Whether the guild's gateway events come to this process (`count` once resolved)."""
        total = count or self.count
        if self.ids is None or total is None:
            return True
        return (guild_id >> 22) % total in self.ids

    def label(self, count: int | None = None) -> str:
        """For logs: "shards 0,1 of 4"."""
        total = count or self.count
        ids = ",".join(map(str, self.ids)) if self.ids is not None else "all"
        return f"shards {ids} of {total if total is not None else 'auto'}"


def parse_shards(
    ids: str | None, count: str | None, *, ids_name: str = "--shard-ids", count_name: str = "--shard-count"
) -> ShardPlan | None:
    """`--shard-ids 0,1 --shard-count 4` (or the DISCORD_SHARD_* settings) → a ShardPlan.

    None when neither is given: one process, discord.py's plain client, as before. Why strict:
    a shard id given twice would open two sessions for one shard (Discord drops the first), and
    one outside the count would never receive a guild; both fail at start with one line naming
    the setting, not a traceback from discord.py later.
    """
    raw_ids = (ids or "").strip()
    raw_count = (count or "").strip()
    if not raw_ids and not raw_count:
        return None
    total: int | None = None
    if raw_count and raw_count.lower() != "auto":
        try:
            total = int(raw_count)
        except ValueError:
            raise ConfigError(f"{count_name} must be a whole number or 'auto', got {raw_count!r}") from None
        if total < 1:
            raise ConfigError(f"{count_name} must be at least 1, got {total}")
    if not raw_ids:
        return ShardPlan(ids=None, count=total)
    parsed: list[int] = []
    for part in raw_ids.split(","):
        item = part.strip()
        try:
            shard = int(item)
        except ValueError:
            raise ConfigError(
                f"{ids_name} must be comma-separated whole numbers such as 0,1; got {item!r}"
            ) from None
        if shard < 0:
            raise ConfigError(f"{ids_name}: shard ids start at 0, got {shard}")
        if shard in parsed:
            raise ConfigError(f"{ids_name}: shard {shard} is given twice")
        if total is not None and shard >= total:
            raise ConfigError(
                f"{ids_name}: shard {shard} does not exist with {count_name} {total} (ids run 0 to {total - 1})"
            )
        parsed.append(shard)
    return ShardPlan(ids=tuple(sorted(parsed)), count=total)


def _config_dir(env: Mapping[str, str]) -> Path:
    if env.get("CIVIC_ALERTS_CONFIG_DIR"):
        return Path(env["CIVIC_ALERTS_CONFIG_DIR"])
    if (Path.cwd() / "config" / "feeds.toml").is_file():
        return Path.cwd() / "config"
    return REPO_CONFIG_DIR


@dataclass(frozen=True, slots=True)
class Settings:
    db_path: Path = DEFAULT_DB
    # CIVIC_ALERTS_DB=postgresql://… (or --db): the PostgreSQL store several workers share;
    # None: the SQLite file at db_path
    db_url: str | None = None
    config_dir: Path = REPO_CONFIG_DIR
    feeds_file: Path = REPO_CONFIG_DIR / "feeds.toml"
    destinations_file: Path = REPO_CONFIG_DIR / "destinations.toml"
    # $CIVIC_ALERTS_COVERAGE also when Settings is built directly (tests point it at loopback)
    coverage_file: Path = field(
        default_factory=lambda: Path(os.environ.get("CIVIC_ALERTS_COVERAGE") or REPO_CONFIG_DIR / "coverage.toml")
    )
    discord_token: str | None = field(default=None, repr=False)
    discord_api_base: str = DEFAULT_API_BASE
    dev_guild_id: int | None = None
    # None: one process, discord.py's plain client; else the gateway shards this process holds
    discord_shards: ShardPlan | None = None
    # Other chat platforms (bot/service.py starts each whose credentials are set). The *_api_base
    # settings exist so the same binary can talk to a local stand-in; leave them at the default.
    slack_bot_token: str | None = field(default=None, repr=False)
    slack_app_token: str | None = field(default=None, repr=False)
    slack_api_base: str = "https://slack.com/api/"
    telegram_bot_token: str | None = field(default=None, repr=False)
    telegram_api_base: str = "https://api.telegram.org"
    matrix_homeserver: str | None = None
    matrix_user_id: str | None = None
    matrix_access_token: str | None = field(default=None, repr=False)
    matrix_password: str | None = field(default=None, repr=False)
    poll_interval: int = 300  # seconds between polls of one feed, unless the feed says otherwise
    tick_seconds: float = 15.0  # how often the scheduler looks for due feeds
    delivery_interval: float = 2.0  # how often the outbox is drained when nothing wakes it
    job_timeout: float = 240.0  # one poll cycle may not run longer than this
    max_backoff: int = 6 * 3600  # cap on the error backoff of a failing feed
    max_cache_age: int = 3600  # cap on how long Cache-Control max-age may delay a poll
    catchup_count: int = 3
    alert_max_age_hours: float = 24.0  # older news is stored and searchable but not pushed
    search_page_size: int = 5
    allow_private_feeds: bool = False
    parse_workers: int = 0  # 0 = one per CPU
    fetch_concurrency: int = 32
    fetch_per_host: int = 4
    fetch_timeout: float = 45.0
    max_feed_bytes: int = 10 * 1024 * 1024
    log_level: str = "INFO"
    log_json: bool = False
    # outlet key → owner (config/outlets_owners.toml): outlets of one owner corroborate once
    outlet_owners: tuple[tuple[str, str], ...] = ()

    @property
    def secrets(self) -> list[str]:
        """Every credential, for the log scrubber: no token or password may reach any output."""
        values = (
            self.discord_token, self.slack_bot_token, self.slack_app_token, self.telegram_bot_token,
            self.matrix_access_token, self.matrix_password, self.db_password,
        )
        return [v for v in values if v]

    @property
    def db_password(self) -> str | None:
        """The password inside a PostgreSQL URL, if any (a secret for the log scrubber)."""
        return urlsplit(self.db_url).password if self.db_url else None

    @property
    def db_label(self) -> str:
        """The database as people may see it: the file, or the URL without its password."""
        if self.db_url:
            from bot.store.pg.db import redact

            return redact(self.db_url)
        return str(self.db_path)


def _secret(env: Mapping[str, str], key: str) -> str | None:
    return (env.get(key) or "").strip() or None


def _http_base(env: Mapping[str, str], key: str, default: str) -> str:
    """An API base URL setting; a typo fails at start with the setting's name, not at first use."""
    value = (env.get(key) or "").strip() or default
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(f"{key} must be an http(s) URL")
    return value


def _int(env: Mapping[str, str], key: str, default: int | None) -> int | None:
    raw = env.get(key, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{key} must be a whole number, got {raw!r}") from None


def _count(env: Mapping[str, str], key: str, default: int) -> int:
    """A whole-number setting that always has a value (its default when unset)."""
    value = _int(env, key, default)
    return default if value is None else value


def _float(env: Mapping[str, str], key: str, default: float) -> float:
    raw = env.get(key, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{key} must be a number, got {raw!r}") from None


def _bool(env: Mapping[str, str], key: str, default: bool) -> bool:
    raw = env.get(key, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{key} must be true or false, got {raw!r}")


def read_env(dotenv: Path | None = Path(".env"), env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment over `.env`: a real environment variable always wins."""
    merged: dict[str, str] = {}
    if dotenv is not None and dotenv.is_file():
        from dotenv import dotenv_values

        merged.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
    merged.update(os.environ if env is None else env)
    return merged


def _owners(config_dir: Path) -> tuple[tuple[str, str], ...]:
    from bot.corroboration import load_owners

    try:
        return tuple(sorted(load_owners(config_dir / "outlets_owners.toml").items()))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def load_settings(
    *,
    db: str | Path | None = None,
    feeds: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    shard_ids: str | None = None,
    shard_count: str | None = None,
) -> Settings:
    """Settings from the environment and `.env`; the arguments are command-line options, which
    win over their environment equivalents (--db over CIVIC_ALERTS_DB, --shard-ids over
    DISCORD_SHARD_IDS, --shard-count over DISCORD_SHARD_COUNT)."""
    values = read_env(env=env) if env is None else dict(env)
    config_dir = _config_dir(values)
    raw_db = str(db) if db else (values.get("CIVIC_ALERTS_DB") or "")
    db_url = raw_db.strip() if raw_db.strip().split("://", 1)[0] in {"postgresql", "postgres"} else None
    db_path = DEFAULT_DB if db_url or not raw_db else Path(raw_db)
    feeds_file = Path(feeds) if feeds else Path(values.get("CIVIC_ALERTS_FEEDS") or config_dir / "feeds.toml")
    api_base = (values.get("DISCORD_API_BASE") or DEFAULT_API_BASE).rstrip("/")
    if urlsplit(api_base).scheme not in {"http", "https"} or not urlsplit(api_base).hostname:
        raise ConfigError(f"DISCORD_API_BASE must be an http(s) URL, got {api_base!r}")
    settings = Settings(
        db_path=db_path,
        db_url=db_url,
        config_dir=config_dir,
        outlet_owners=_owners(config_dir),
        feeds_file=feeds_file,
        destinations_file=Path(values.get("CIVIC_ALERTS_DESTINATIONS") or config_dir / "destinations.toml"),
        coverage_file=Path(values.get("CIVIC_ALERTS_COVERAGE") or config_dir / "coverage.toml"),
        discord_token=(values.get("DISCORD_TOKEN") or "").strip() or None,
        discord_api_base=api_base,
        dev_guild_id=_int(values, "DEV_GUILD_ID", None),
        discord_shards=parse_shards(
            shard_ids if shard_ids is not None else values.get("DISCORD_SHARD_IDS"),
            shard_count if shard_count is not None else values.get("DISCORD_SHARD_COUNT"),
            ids_name="--shard-ids" if shard_ids is not None else "DISCORD_SHARD_IDS",
            count_name="--shard-count" if shard_count is not None else "DISCORD_SHARD_COUNT",
        ),
        slack_bot_token=_secret(values, "SLACK_BOT_TOKEN"),
        slack_app_token=_secret(values, "SLACK_APP_TOKEN"),
        slack_api_base=_http_base(values, "SLACK_API_BASE", "https://slack.com/api/"),
        telegram_bot_token=_secret(values, "TELEGRAM_BOT_TOKEN"),
        telegram_api_base=_http_base(values, "TELEGRAM_API_BASE", "https://api.telegram.org"),
        matrix_homeserver=(values.get("MATRIX_HOMESERVER") or "").strip().rstrip("/") or None,
        matrix_user_id=(values.get("MATRIX_USER_ID") or "").strip() or None,
        matrix_access_token=_secret(values, "MATRIX_ACCESS_TOKEN"),
        matrix_password=_secret(values, "MATRIX_PASSWORD"),
        poll_interval=_int(values, "CIVIC_ALERTS_POLL_INTERVAL", 300) or 0,  # 0 is refused below
        tick_seconds=_float(values, "CIVIC_ALERTS_TICK_SECONDS", 15.0),
        delivery_interval=_float(values, "CIVIC_ALERTS_DELIVERY_INTERVAL", 2.0),
        job_timeout=_float(values, "CIVIC_ALERTS_JOB_TIMEOUT", 240.0),
        catchup_count=_count(values, "CIVIC_ALERTS_CATCHUP", 3),
        alert_max_age_hours=_float(values, "CIVIC_ALERTS_ALERT_MAX_AGE_HOURS", 24.0),
        search_page_size=_count(values, "CIVIC_ALERTS_SEARCH_PAGE_SIZE", 5),
        allow_private_feeds=_bool(values, "CIVIC_ALERTS_ALLOW_PRIVATE_FEEDS", False),
        parse_workers=_count(values, "CIVIC_ALERTS_PARSE_WORKERS", 0),
        fetch_concurrency=_count(values, "CIVIC_ALERTS_FETCH_CONCURRENCY", 32),
        fetch_per_host=_count(values, "CIVIC_ALERTS_FETCH_PER_HOST", 4),
        fetch_timeout=_float(values, "CIVIC_ALERTS_FETCH_TIMEOUT", 45.0),
        max_feed_bytes=_count(values, "CIVIC_ALERTS_MAX_FEED_BYTES", 10 * 1024 * 1024),
        log_level=(values.get("CIVIC_ALERTS_LOG_LEVEL") or "INFO").upper(),
        log_json=_bool(values, "CIVIC_ALERTS_LOG_JSON", False),
    )
    if settings.poll_interval < 30:
        raise ConfigError("CIVIC_ALERTS_POLL_INTERVAL must be at least 30 seconds")
    minimums = {
        "CIVIC_ALERTS_TICK_SECONDS": (settings.tick_seconds, 0.1),
        "CIVIC_ALERTS_DELIVERY_INTERVAL": (settings.delivery_interval, 0.1),
        "CIVIC_ALERTS_JOB_TIMEOUT": (settings.job_timeout, 1),
        "CIVIC_ALERTS_CATCHUP": (settings.catchup_count, 0),
        "CIVIC_ALERTS_ALERT_MAX_AGE_HOURS": (settings.alert_max_age_hours, 0.1),
        "CIVIC_ALERTS_SEARCH_PAGE_SIZE": (settings.search_page_size, 1),
        "CIVIC_ALERTS_PARSE_WORKERS": (settings.parse_workers, 0),
        "CIVIC_ALERTS_FETCH_CONCURRENCY": (settings.fetch_concurrency, 1),
        "CIVIC_ALERTS_FETCH_PER_HOST": (settings.fetch_per_host, 1),
        "CIVIC_ALERTS_FETCH_TIMEOUT": (settings.fetch_timeout, 1),
        "CIVIC_ALERTS_MAX_FEED_BYTES": (settings.max_feed_bytes, 1024),
    }
    for key, (value, least) in minimums.items():
        if value < least:
            raise ConfigError(f"{key} must be at least {least}, got {value}")
    if settings.catchup_count > 10 or settings.search_page_size > 10:
        raise ConfigError("CIVIC_ALERTS_CATCHUP and CIVIC_ALERTS_SEARCH_PAGE_SIZE must be at most 10")
    return settings


def _tables(
    path: Path, kind: str, entries: list[Any], allowed: set[str]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each [[kind]] entry with where it stands ("file: kind entry #N"), refused when it is not
    a table or names a key the file format does not have."""
    for index, entry in enumerate(entries, start=1):
        where = f"{path}: {kind} entry #{index}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: must be a table")
        unknown = set(entry) - allowed
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        yield where, entry


def load_feeds(path: Path) -> tuple[FeedConfig, ...]:
    """Read and validate a feeds file; every error names the file, the entry and the reason."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read feeds file ({exc.strerror})") from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    entries = doc.get("feeds")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: expected at least one [[feeds]] table")
    feeds: list[FeedConfig] = []
    seen: set[str] = set()
    allowed = {"url", "name", "city", "interval", "lang"}
    for where, entry in _tables(path, "feeds", entries, allowed):
        url = entry.get("url")
        if not isinstance(url, str) or not url.strip():
            raise ConfigError(f"{where}: 'url' is required and must be a string")
        url = url.strip()
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ConfigError(f"{where} ({url}): 'url' must be an http(s) URL with a host")
        if url in seen:
            raise ConfigError(f"{where} ({url}): duplicate url")
        seen.add(url)
        name = entry.get("name")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise ConfigError(f"{where} ({url}): 'name' must be a non-empty string")
        city = entry.get("city")
        if city is not None and (not isinstance(city, str) or not _is_city_id(city)):
            raise ConfigError(f"{where} ({url}): 'city' must be a city id like 'chicago-il', got {city!r}")
        interval = entry.get("interval")
        if interval is not None and (
            isinstance(interval, bool) or not isinstance(interval, int) or interval < 30
        ):
            raise ConfigError(f"{where} ({url}): 'interval' must be a whole number of seconds ≥ 30")
        lang = entry.get("lang")
        if lang is not None and not is_language_code(lang):
            raise ConfigError(f"{where} ({url}): 'lang' must be a short language code like 'en', got {lang!r}")
        feeds.append(
            FeedConfig(url=url, name=name.strip() if name else None, city=city, interval=interval, lang=lang)
        )
    return tuple(feeds)


def _is_city_id(value: str) -> bool:
    head, _, state = value.rpartition("-")
    return bool(head) and len(state) == 2 and value == value.lower() and " " not in value


def load_destinations(path: Path, topic_ids: Collection[str] = ()) -> tuple[DestinationConfig, ...]:
    """Read config/destinations.toml; a missing file declares nothing. Every error names the
    file, the entry and the reason — and never repeats a URL, which may carry a token.
    `topic_ids` are the configured topics (config/topics.toml), which entries must name."""
    if not path.is_file():
        return ()
    try:
        doc = tomllib.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read destinations file ({exc.strerror})") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    entries = doc.get("destinations", [])
    unknown_top = set(doc) - {"destinations"}
    if unknown_top:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(sorted(unknown_top))} (expected [[destinations]] tables)")
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: 'destinations' must be [[destinations]] tables")
    out: list[DestinationConfig] = []
    seen: set[tuple[str, str]] = set()
    allowed = {"url", "city", "topics", "name", *DESTINATION_RULE_KEYS}
    for where, entry in _tables(path, "destinations", entries, allowed):
        url = entry.get("url")
        if not isinstance(url, str) or not url.strip():
            raise ConfigError(f"{where}: 'url' is required: an Apprise URL or \"console\"")
        city = entry.get("city")
        if not isinstance(city, str) or not (city == "*" or _is_city_id(city)):
            raise ConfigError(f"{where}: 'city' is required: a city id like 'chicago-il'")
        topics = entry.get("topics")
        if topics is not None:
            if isinstance(topics, str):
                topics = [topics]
            if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
                raise ConfigError(f"{where}: 'topics' must be a list of topic ids")
            bad = sorted(set(topics) - set(topic_ids) - {"all", "*"})
            if bad:
                raise ConfigError(f"{where}: unknown topic(s) {', '.join(bad)} (known: {', '.join(topic_ids)})")
        name = entry.get("name")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise ConfigError(f"{where}: 'name' must be a non-empty string")
        rules = _destination_rules(where, entry)
        key = (url.strip(), city)
        if key in seen:
            raise ConfigError(f"{where}: the same url and city appear twice")
        seen.add(key)
        out.append(
            DestinationConfig(
                url=url.strip(), city=city, topics=tuple(topics) if topics is not None else None,
                name=name.strip() if name else None, where=where, rules=rules,
            )
        )
    return tuple(out)


# alert-rule keys a [[destinations]] entry may carry (issue 14), as `parse_rules` options
DESTINATION_RULE_KEYS = (
    "include", "exclude", "min_outlets", "max_hold_hours", "on_hold_timeout", "mention", "mention_when",
    "digest", "quiet", "urgent", "tz",
)


def _destination_rules(where: str, entry: dict[str, Any]) -> tuple[tuple[str, object], ...]:
    """The entry's rule keys, checked here so a mistake stops start-up with one line naming
    the entry (lists of words are accepted for include/exclude)."""
    from bot.rules import RuleError, parse_rules

    given = [(k, entry[k]) for k in DESTINATION_RULE_KEYS if k in entry]
    for key, value in given:
        if isinstance(value, list) and key in ("include", "exclude") and all(isinstance(v, str) for v in value):
            continue
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ConfigError(f"{where}: '{key}' must be text or a number")
    try:
        parse_rules(**{k: (v if isinstance(v, list) else str(v)) for k, v in given})  # type: ignore[arg-type]
    except RuleError as exc:
        raise ConfigError(f"{where}: {exc.user_message}") from None
    return tuple((k, tuple(v) if isinstance(v, list) else v if isinstance(v, str) else str(v)) for k, v in given)


def load_coverage(path: Path) -> CoverageConfig:
    """config/coverage.toml → CoverageConfig. A missing file means no managed feeds (coverage
    off); every error names the file and the key."""
    from bot.coverage import CoverageConfig, LanguageQueries
    from bot.ingest.budget import HostBudget

    if not path.is_file():
        return CoverageConfig(enabled=False)
    try:
        doc = tomllib.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    gn: dict[str, Any] = doc.get("google_news", {})
    if not isinstance(gn, dict):
        raise ConfigError(f"{path}: [google_news] must be a table")

    def number(table: dict[str, Any], key: str, default: float, least: float, where: str) -> float:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < least:
            raise ConfigError(f"{path}: {where}{key} must be a number ≥ {least:g}, got {value!r}")
        return float(value)

    base_url = str(gn.get("base_url", "https://news.google.com/rss/search")).strip()
    if urlsplit(base_url).scheme not in {"http", "https"} or not urlsplit(base_url).hostname:
        raise ConfigError(f"{path}: google_news.base_url must be an http(s) URL, got {base_url!r}")
    languages = []
    for n, entry in enumerate(gn.get("language", []), 1):
        where = f"{path}: google_news.language #{n}"
        code, params, queries = entry.get("code"), entry.get("params"), entry.get("queries")
        if not is_language_code(code) or not isinstance(params, str) or not params.strip():
            raise ConfigError(f"{where}: needs a language 'code' (\"en\") and Google News 'params'")
        if not isinstance(queries, list) or not queries or not all(
            isinstance(q, str) and "{place}" in q for q in queries
        ):
            raise ConfigError(f"{where}: 'queries' must be a list of templates, each with {{place}}")
        languages.append(LanguageQueries(code, params.strip().lstrip("&?"), tuple(queries)))
    budgets = []
    for n, entry in enumerate(doc.get("budget", []), 1):
        where = f"budget #{n}: "
        host = entry.get("host")
        if not isinstance(host, str) or not host.strip():
            raise ConfigError(f"{path}: {where}'host' is required")
        budgets.append(
            HostBudget(
                host=host.strip().lower(),
                requests=int(number(entry, "requests", 30, 1, where)),
                per_seconds=number(entry, "per_seconds", 60, 0.1, where),
                jitter=number(entry, "jitter", 0.5, 0, where),
            )
        )
    return CoverageConfig(
        base_url=base_url,
        interval=int(number(gn, "interval", 1800, 1, "google_news.")),
        grace_seconds=number(gn, "grace_days", 7, 0, "google_news.") * 86400,
        max_neighbourhoods=int(number(gn, "max_neighbourhoods", 3, 0, "google_news.")),
        languages=tuple(languages),
        budgets=tuple(budgets),
        enabled=bool(languages),
    )
