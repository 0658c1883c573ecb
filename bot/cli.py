"""`civic-alerts …`: thin — parse arguments, call the services, print.

Exit status: 0 when the command ran (a failing feed or an empty search is not a failure),
1 when it could not do its work (database unusable or missing for a read-only command),
2 for bad usage or configuration, 130 on Ctrl-C (a one-line reason on stderr, never a traceback).
Topic ids are data (config/topics.toml): `search --topic` is checked against the configured
catalog and its help lists the catalog's ids; the console subscribes to every topic ("*").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bot import __version__, actions
from bot.errors import CivicAlertError, ConfigError, UserInputError
from bot.models import Destination, FeedConfig, SearchHit, Story
from bot.settings import Settings, load_feeds, load_settings

if TYPE_CHECKING:
    from bot.coverage import Coverage
    from bot.poller import CycleReport
    from bot.ports import Storage

DISPLAY_MAX_AGE_DAYS = 7


def _topic_ids_help() -> str:
    """The configured topic ids for --help; never fails (a bad config is reported later)."""
    from bot.relevance import load_topics
    from bot.settings import _config_dir

    try:
        return ", ".join(load_topics(_config_dir(os.environ)).ids)
    except CivicAlertError:
        return "see config/topics.toml"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="civic-alerts",
        description="Civic news alerts per city, on the topics of config/topics.toml.",
    )
    p.add_argument("--version", action="version", version=f"civic-alerts {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def db_opt(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument("--db", metavar="PATH", help="SQLite file or postgresql:// URL (default: $CIVIC_ALERTS_DB or data/civic-alerts.sqlite3)")

    run = sub.add_parser("run", help="the long-running service (Discord with DISCORD_TOKEN, else the console)")
    db_opt(run)
    run.add_argument("--feeds", metavar="FILE", help="feeds file instead of config/feeds.toml")
    run.add_argument(
        "--once", action="store_true",
        help="one poll cycle, deliver everything due to push and console destinations, then exit (for cron)",
    )
    run.add_argument(
        "--shard-ids", metavar="ID,…",
        help="Discord gateway shards this process connects, e.g. 0,1 (default: $DISCORD_SHARD_IDS, else all)",
    )
    run.add_argument(
        "--shard-count", metavar="N|auto",
        help="Discord shards in all, or 'auto' for Discord's recommended count (default: $DISCORD_SHARD_COUNT)",
    )

    subs = sub.add_parser("subscriptions", help="push/console subscriptions (and list every platform's)")
    subs_sub = subs.add_subparsers(dest="subs_command", required=True, metavar="ACTION")
    add = subs_sub.add_parser("add", help="a push destination (an Apprise URL) or 'console' follows a city")
    add.add_argument("destination", metavar="DESTINATION", help="an Apprise URL (ntfy://…, mailto://…, signal://…) or 'console'")
    add.add_argument("--city", required=True, help="city id or name, e.g. chicago-il")
    add.add_argument("--topics", metavar="ID,…", help=f"comma-separated topic ids or labels, from: {_topic_ids_help()} (default: all)")
    add.add_argument("--name", help="your label for this destination (shown in lists)")
    add.add_argument("--lang", metavar="LANG", help="the language alerts are written in: en (default) or es")
    db_opt(add)
    def rule_opts(cmd: argparse.ArgumentParser) -> None:
        g = cmd.add_argument_group("alert rules (see README: Alert rules); '' clears one")
        g.add_argument("--include", metavar="W,…", help="alert only when one of these words/phrases appears (deport* = prefix)")
        g.add_argument("--exclude", metavar="W,…", help="never alert when one of these appears, e.g. Pilsen")
        g.add_argument("--min-outlets", metavar="N", help="hold an alert until N independent outlets report it (1–10)")
        g.add_argument("--max-hold", metavar="HOURS", help="longest hold for outlets (default 6)")
        g.add_argument("--after-hold", choices=["send", "drop"], help="after the hold: send marked unconfirmed, or drop")
        g.add_argument("--mention", metavar="ID", help="one role/group id (or @room) to mention; '' = none")
        g.add_argument("--mention-when", metavar="COND", help="e.g. 'topic:immigration-enforcement here outlets>=2'")
        g.add_argument("--digest", metavar="WHEN", help="hourly or daily@HH:MM (in --tz); '' = off")
        g.add_argument("--quiet", metavar="HH:MM-HH:MM", help="quiet hours in --tz, e.g. 22:00-07:00; '' = off")
        g.add_argument("--urgent", metavar="COND", help="alerts meeting it break quiet hours (same form as --mention-when)")
        g.add_argument("--tz", metavar="ZONE", help="IANA time zone, e.g. America/Chicago (default UTC)")
        g.add_argument("--threads", choices=["on", "off"], help="post each story in its own thread where the platform can")

    rule_opts(add)
    edit = subs_sub.add_parser("edit", help="change one subscription's alert rules")
    edit.add_argument("id", type=int)
    rule_opts(edit)

    lst = subs_sub.add_parser("list", help="every subscription with its delivery health")
    lst.add_argument("--json", action="store_true", help="one JSON object per line")
    db_opt(lst)
    rm = subs_sub.add_parser("remove", help="remove one subscription by id")
    rm.add_argument("id", type=int)
    db_opt(rm)
    tst = subs_sub.add_parser("test", help="send a clearly marked test message to a subscription's destination now")
    tst.add_argument("id", type=int)
    db_opt(tst)

    status = sub.add_parser("status", help="feeds, outbox and destination health")
    status.add_argument("--json", action="store_true", help="one JSON object")
    db_opt(status)

    poll = sub.add_parser("poll", help="poll feeds and print new stories")
    poll.add_argument("--once", action="store_true", required=True, help="one cycle over all feeds, then exit")
    poll.add_argument("--feeds", metavar="FILE", help="use this feeds file instead of the configured catalogue")
    db_opt(poll)
    poll.add_argument("--json", action="store_true", help="one JSON object per line")
    poll.add_argument("--all", action="store_true", help="print every new story, whatever its topic or age")

    search = sub.add_parser("search", help="search stored stories (best first)")
    search.add_argument("query", nargs="*", help="words to look for; any text is safe")
    search.add_argument("--city", help="city id or name, e.g. chicago-il or 'Chicago, IL'")
    search.add_argument("--topic", help=f"a topic id or label, one of: {_topic_ids_help()}")
    search.add_argument("--since", type=float, metavar="DAYS", help="only stories from the last DAYS days")
    search.add_argument("--limit", type=int, default=10, metavar="N", help="at most N results (1–100, default 10)")
    db_opt(search)
    search.add_argument("--json", action="store_true", help="one JSON object per line")

    sub.add_parser("classify", help="JSON Lines on stdin → topics, cities and why on stdout")

    feeds = sub.add_parser("feeds", help="feed catalogue tools")
    feeds_sub = feeds.add_subparsers(dest="feeds_command", required=True, metavar="ACTION")
    check = feeds_sub.add_parser("check", help="fetch every configured feed once and print a health table")
    check.add_argument("--feeds", metavar="FILE", help="feeds file instead of config/feeds.toml")
    flist = feeds_sub.add_parser("list", help="every polled feed: catalogue, server-added, managed; kind, city, health")
    flist.add_argument("--json", action="store_true", help="one JSON object per line")
    db_opt(flist)
    fcov = feeds_sub.add_parser("coverage", help="the feeds that cover a city (--apply adds its managed feeds)")
    fcov.add_argument("city", metavar="CITY_ID", help="city id or name, e.g. portland-or")
    fcov.add_argument("--json", action="store_true", help="one JSON object")
    fcov.add_argument("--apply", action="store_true", help="add the city's managed search feeds now")
    db_opt(fcov)
    fimp = feeds_sub.add_parser("import", help="import an OPML file's feeds (home pages: their feed is found)")
    fimp.add_argument("file", metavar="FILE.opml")
    fimp.add_argument("--city", help="default city of the imported feeds, e.g. chicago-il")
    db_opt(fimp)
    fexp = feeds_sub.add_parser("export", help="OPML of the catalogue and imported/server feeds on stdout")
    fexp.add_argument("--city", help="only feeds whose default city is this one")
    db_opt(fexp)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    prune = db_sub.add_parser("prune", help="delete stories older than DAYS (pending alerts are kept)")
    prune.add_argument("--older-than", type=float, required=True, metavar="DAYS")
    db_opt(prune)
    backup = db_sub.add_parser("backup", help="consistent online copy (safe while the bot runs)")
    backup.add_argument("path", help="where to write the copy")
    backup.add_argument("--force", action="store_true", help="overwrite PATH if it exists")
    db_opt(backup)
    checkdb = db_sub.add_parser("check", help="PRAGMA integrity_check")
    db_opt(checkdb)

    sync = sub.add_parser("sync-commands", help="register the slash commands with Discord now")
    db_opt(sync)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        flags = [u for u in unknown if u.startswith("--")]
        if args.command != "search" or flags:  # `search --cty x`: a typo, not two search words
            parser.error(f"unrecognized arguments: {' '.join(flags or unknown)}")
        args.query = [*args.query, *unknown]  # "-ice" is a search term, not an option
    try:
        settings = load_settings(
            db=getattr(args, "db", None),
            feeds=getattr(args, "feeds", None),
            shard_ids=getattr(args, "shard_ids", None),
            shard_count=getattr(args, "shard_count", None),
        )
        return _dispatch(args, settings)
    except ConfigError as exc:
        _error(f"configuration error: {exc.user_message}")
        return 2
    except UserInputError as exc:
        _error(exc.user_message)
        return 2
    except CivicAlertError as exc:
        _error(exc.user_message)
        return 1
    except KeyboardInterrupt:
        return 130


# the environment variables that hold credentials (also scrubbed before settings load)
SECRET_ENV = (
    "DISCORD_TOKEN", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "TELEGRAM_BOT_TOKEN", "MATRIX_ACCESS_TOKEN",
    "MATRIX_PASSWORD",
)


def _scrub(text: str) -> str:
    """Scrubbed like the logs: messages may quote a feed URL that carries a webhook token."""
    from bot.logs import RedactFilter

    return RedactFilter([os.environ.get(key, "") for key in SECRET_ENV]).scrub(text)


async def _watch_push_secrets(store: Storage) -> None:
    """Register every stored push URL's secret parts with the log scrubber."""
    from bot.app import watch_push_url

    for state in await store.destinations(platform="apprise"):
        watch_push_url(state.destination.address)


def _error(text: str) -> None:
    print(f"civic-alerts: {_scrub(text)}", file=sys.stderr)


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from bot.logs import setup_logging

    setup_logging(
        settings.log_level if args.command == "run" else "WARNING",
        as_json=settings.log_json,
        secrets=settings.secrets,
    )
    if args.command == "classify":
        from bot.relevance import classify_stream, load_classifier

        classify_stream(sys.stdin, sys.stdout, load_classifier(settings.config_dir))
        return 0
    if args.command == "poll":
        return asyncio.run(_poll(settings, args))
    if args.command == "search":
        return asyncio.run(_search(settings, args))
    if args.command == "feeds":
        if args.feeds_command == "check":
            return asyncio.run(_feeds_check(settings))
        return asyncio.run(_feeds(settings, args))
    if args.command == "db":
        return asyncio.run(_db(settings, args))
    if args.command == "run":
        return asyncio.run(_run_once(settings)) if args.once else _run(settings)
    if args.command == "subscriptions":
        return asyncio.run(_subscriptions(settings, args))
    if args.command == "status":
        return asyncio.run(_status(settings, args))
    if args.command == "sync-commands":
        if not settings.discord_token:
            raise ConfigError("DISCORD_TOKEN is not set; sync-commands talks to Discord")
        from bot.adapters.discordbot.client import sync_commands

        print(asyncio.run(sync_commands(settings)))
        return 0
    raise UserInputError(f"unknown command {args.command}")


def story_json(story: Story) -> dict[str, object]:
    return {
        "id": story.id,
        "title": story.title,
        "url": story.url,
        "source": story.source,
        "outlets": list(story.outlets),
        "published": story.published.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "topics": list(story.topics),
        "cities": list(story.cities),
        "summary": story.summary,
    }


def _print_story(story: Story, out: TextIO) -> None:
    tags = ", ".join([*story.topics, *story.cities]) or "untagged"
    outlets = f" (+{', '.join(story.outlets[1:])})" if len(story.outlets) > 1 else ""
    out.write(f"[{tags}] {story.title} — {story.source}{outlets}\n    {story.url}\n")


async def _poll(settings: Settings, args: argparse.Namespace) -> int:
    import logging

    from bot.app import check_feed_cities, open_app

    # This command prints each failing feed itself (one line, below); the poller's own warning
    # would report every failure twice.
    logging.getLogger("bot.poller").setLevel(logging.ERROR)
    feeds = load_feeds(settings.feeds_file)
    async with open_app(settings, sync_catalogue=False) as app:
        feeds = check_feed_cities(feeds, app.gazetteer, str(settings.feeds_file))
        report = await app.poller.poll_once(feeds)
    horizon = time.time() - DISPLAY_MAX_AGE_DAYS * 86400
    for outcome in report.failed:
        print(_scrub(f"feed failed: {outcome.url}: {outcome.error}"), file=sys.stderr)
    shown = off_topic = old = undated = 0
    for story in report.new_stories:
        if not args.all:
            if not story.topics:
                off_topic += 1
                continue
            if story.id in report.backlog_story_ids:
                undated += 1
                continue
            if story.published.timestamp() < horizon:
                old += 1
                continue
        shown += 1
        if args.json:
            sys.stdout.write(json.dumps(story_json(story), ensure_ascii=False) + "\n")
        else:
            _print_story(story, sys.stdout)
    print(poll_summary(report, shown=shown, off_topic=off_topic, old=old, undated=undated), file=sys.stderr)
    return 0


def poll_summary(report: CycleReport, *, shown: int, off_topic: int, old: int, undated: int) -> str:
    """`poll --once`'s last line (stderr): what was stored and why some of it was not printed.

    Why: a run whose new stories were all older than 7 days printed nothing at all, which
    reads as "nothing happened" or "it is broken".
    """
    stored = len(report.new_stories)
    on_topic = sum(1 for s in report.new_stories if s.topics)
    text = f"civic-alerts: {stored} new stories stored, {on_topic} on a watched topic, {shown} shown"
    reasons = [
        f"{n} {why}"
        for n, why in (
            (old, f"older than {DISPLAY_MAX_AGE_DAYS} days"),
            (undated, "undated, from a feed's first fetch"),
            (off_topic, "on no watched topic"),
        )
        if n
    ]
    if reasons:
        text += f"; not shown: {', '.join(reasons)} (--all shows them)"
    failed = len(report.failed)
    if failed:
        text += f"; {failed} of {len(report.feeds)} feeds failed"
    return text


def _as_hit(story: Story) -> SearchHit:
    from bot.text import clip

    return SearchHit(
        id=story.id, title=story.title, url=story.url, source=story.source, published=story.published,
        snippet=clip(story.summary, 160) if story.summary else "", topics=story.topics, cities=story.cities,
    )


async def _search(settings: Settings, args: argparse.Namespace) -> int:

    from bot.errors import UnknownCityError
    from bot.relevance import load_classifier
    from bot.store import open_store

    topic: str | None = None
    if args.topic and args.topic not in ("all", "*"):
        from bot.relevance import load_topics

        catalog = load_topics(settings.config_dir)
        topic = catalog.resolve(args.topic)
        if topic is None:
            raise UserInputError("bad topic", user_message=f"unknown topic {args.topic[:60]!r}; use one of {', '.join(catalog.ids)}")
    if args.limit < 1 or args.limit > 100:
        raise UserInputError("bad limit", user_message="--limit must be between 1 and 100")
    if args.since is not None and not (0 < args.since <= 36500):
        raise UserInputError("bad since", user_message="--since must be a number of days above 0")
    query = actions.clean_query(" ".join(args.query))
    gazetteer = load_classifier(settings.config_dir).gazetteer if args.city else None
    hits: tuple[SearchHit, ...] = ()
    if args.city and gazetteer is not None:
        try:  # a bad city is a usage error, whether or not a database exists yet
            actions.resolve_city(gazetteer, args.city)
        except UnknownCityError:
            raise UserInputError(
                f"unknown city {args.city!r}", user_message=f"unknown city {args.city[:80]!r} (try e.g. chicago-il)"
            ) from None
    if (query or args.city or topic) and settings.db_url is None and not await asyncio.to_thread(settings.db_path.exists):
        # nothing stored yet is an empty search (exit 0), said plainly; never an empty database made
        print(f"no stories match: {_no_database(settings)}", file=sys.stderr)
        return 0
    if query or args.city or topic:
        store = await open_store(settings)
        try:
            if query:
                page = await actions.search(
                    store, gazetteer, query, city=args.city, topic=topic, days=args.since,
                    page_size=args.limit, max_page_size=100, catalog=load_classifier(settings.config_dir).topics,
                )
                hits = page.hits
                if page.fell_back and hits:
                    print("no story has all of these words; showing stories with any of them", file=sys.stderr)
            else:  # --city/--topic alone: the latest matching stories
                city_id = actions.resolve_city(gazetteer, args.city).id if args.city and gazetteer else None
                stories = await store.latest(city_id, topic=topic, limit=args.limit)
                if args.since is not None:
                    horizon = time.time() - args.since * 86400
                    stories = [s for s in stories if s.published.timestamp() >= horizon]
                hits = tuple(_as_hit(s) for s in stories)
        except UnknownCityError:
            raise UserInputError(
                f"unknown city {args.city!r}", user_message=f"unknown city {args.city[:80]!r} (try e.g. chicago-il)"
            ) from None
        finally:
            await store.close()
    for i, hit in enumerate(hits, 1):
        if args.json:
            row = {
                "id": hit.id,
                "title": hit.title,
                "url": hit.url,
                "source": hit.source,
                "published": hit.published.isoformat().replace("+00:00", "Z"),
                "snippet": hit.snippet,
            }
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            sys.stdout.write(f"{i}. {hit.title} — {hit.source}, {hit.published:%Y-%m-%d}\n   {hit.url}\n")
            if hit.snippet:
                sys.stdout.write(f"   {hit.snippet}\n")
    if not hits and not args.json:
        print("no stories match", file=sys.stderr)
    return 0


async def _feeds_check(settings: Settings) -> int:


    feeds = load_feeds(settings.feeds_file)
    tty = sys.stderr.isatty()

    def progress(done: int, total: int, feed: FeedConfig) -> None:
        line = _scrub(f"[{done}/{total}] {feed.name or feed.url}")
        print(("\r\033[K" + line[:100]) if tty else line, end="" if tty else "\n", file=sys.stderr, flush=True)

    health = await actions.check_feeds(settings, feeds, on_progress=progress)
    if tty:
        print(file=sys.stderr)
    header = ("STATUS", "ITEMS", "BYTES", "TIME", "NAME", "URL")
    rows = [(h.status, h.items, f"{h.bytes:,}", f"{h.seconds:.2f}s", h.name, h.url) for h in health]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    for row in [header, *rows]:
        print(_scrub("  ".join(cell.ljust(widths[i]) if i < 5 else cell for i, cell in enumerate(row))))
    failing = sum(1 for h in health if not h.healthy)
    print(f"\n{len(feeds)} feeds, {len(feeds) - failing} healthy, {failing} failing", file=sys.stderr)
    return 0


def _coverage_for(store: Storage, gazetteer: actions.GazetteerLike, settings: Settings) -> Coverage:
    """The coverage policy over an open store (the CLI's subscription changes reconcile it)."""
    from bot.coverage import Coverage
    from bot.ingest.budget import RequestSchedule
    from bot.relevance import Gazetteer
    from bot.settings import load_coverage

    config = load_coverage(settings.coverage_file)
    assert isinstance(gazetteer, Gazetteer)
    return Coverage(store, gazetteer, config, RequestSchedule(config.budgets))


async def _feeds(settings: Settings, args: argparse.Namespace) -> int:
    """`feeds list | coverage | import | export`."""
    from bot.relevance import load_classifier
    from bot.store import open_store

    gazetteer = load_classifier(settings.config_dir).gazetteer
    data = b""
    if args.feeds_command == "import":
        try:
            data = await asyncio.to_thread(Path(args.file).read_bytes)
        except OSError as exc:
            raise UserInputError(
                f"cannot read {args.file}", user_message=f"cannot read {args.file}: {exc.strerror}"
            ) from None
    store = await open_store(settings)
    try:
        if args.feeds_command == "list":
            rows = await actions.feed_rows(store, gazetteer)
            _print_feed_rows(rows, as_json=args.json)
        elif args.feeds_command == "coverage":
            view = await actions.feed_coverage(
                store, gazetteer, _coverage_for(store, gazetteer, settings), args.city, apply=args.apply
            )
            if args.json:
                print(json.dumps(view.as_json(), ensure_ascii=False))
            else:
                state = "subscribed" if view.subscribed else "no subscription"
                print(f"{view.city_label} ({view.city}, {state}): {len(view.feeds)} feeds")
                _print_feed_rows(view.feeds, as_json=False)
                have = {r.state.url for r in view.feeds}
                for feed in view.planned:
                    if feed.url not in have:
                        print(f"  missing managed feed ({feed.lang}): {feed.url}  (add with --apply)")
                if args.apply:
                    print(f"added {len(view.added)} managed feeds", file=sys.stderr)
        elif args.feeds_command == "import":
            report = await actions.import_opml(
                store, settings, gazetteer, owner=actions.OPERATOR_GROUP, data=data, city=args.city
            )
            for line in report.lines:
                print(_scrub(line))
            print(f"imported {len(report.added)} feeds", file=sys.stderr)
        elif args.feeds_command == "export":
            city = actions.resolve_city(gazetteer, args.city).id if args.city else None
            sys.stdout.write(await actions.export_opml(store, city=city, include_catalog=True))
    finally:
        await store.close()
    return 0


def _print_feed_rows(rows: Sequence[actions.FeedRow], *, as_json: bool) -> None:
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row.as_json(), ensure_ascii=False) + "\n")
        return
    for row in rows:
        s = row.state
        where = row.city_label or "any city"
        lang = f" [{s.lang}]" if s.lang else ""
        grace = f"; retired after {_when(s.needed_until)}" if s.needed_until else ""
        print(_scrub(f"{s.kind:8} {where:24} {row.health[:60]}{grace}  {s.name or ''}{lang}\n         {s.url}"))


def _require_database(settings: Settings) -> None:
    """Read-only commands never create a database: a missing one is reported, not made empty.

    Why: `search` in the wrong directory used to create an empty database there and answer
    "no stories match", which reads like a search result.
    """
    if settings.db_url is None and not settings.db_path.exists():
        raise CivicAlertError("no database", user_message=_no_database(settings))


def _no_database(settings: Settings) -> str:
    return (
        f"no database at {settings.db_path} (it is found relative to the working directory; "
        "run `civic-alerts poll --once` or `run` first, or pass --db)"
    )


async def _db(settings: Settings, args: argparse.Namespace) -> int:

    from bot.store import open_store

    if args.db_command in ("check", "backup"):
        _require_database(settings)
    store = await open_store(settings)
    try:
        if args.db_command == "prune":
            removed = await actions.prune(store, args.older_than)
            print(f"removed {removed} stories older than {args.older_than:g} days")
        elif args.db_command == "backup":
            target = Path(args.path)
            await actions.backup(store, target, database=settings.db_path, force=args.force)
            print(f"backed up {settings.db_label} to {target}")
        elif args.db_command == "check":
            result = await actions.integrity_check(store)
            print(result)
            return 0 if result == "ok" else 1
    finally:
        await store.close()
    return 0


async def _run_once(settings: Settings) -> int:
    """One poll cycle, then every due alert to every push/console destination; exit 0 when it ran.

    Discord is not delivered here (its client is not connected); its rows wait for `run`."""
    from bot.app import open_app

    async with open_app(settings) as app:
        _report_sync(settings, *await app.sync_destinations())
        await app.add_push_sinks()
        report = await app.run_once()
        delivered = sum(w.sent_alerts for w in app.workers.values())
        waiting = sum([await app.store.queue_depth(platform=p) for p in app.workers])
    print(
        f"civic-alerts: polled {len(report.feeds)} feeds ({len(report.failed)} failed), "
        f"{report.new_story_count} new stories, {report.alerts_queued} alerts queued, "
        f"{delivered} delivered, {waiting} waiting for a retry",
        file=sys.stderr,
    )
    return 0


async def _subscriptions(settings: Settings, args: argparse.Namespace) -> int:
    from bot.relevance import load_classifier
    from bot.store import open_store

    store = await open_store(settings)
    try:
        await _watch_push_secrets(store)
        if args.subs_command == "list":
            gazetteer = load_classifier(settings.config_dir).gazetteer
            rows = await actions.subscription_rows(store, gazetteer)
            _print_subscriptions(rows, as_json=args.json)
            return 0
        if args.subs_command == "remove":
            gazetteer = load_classifier(settings.config_dir).gazetteer
            removed = await actions.remove_subscription(
                store, args.id, coverage=_coverage_for(store, gazetteer, settings)
            )
            print(f"removed subscription #{removed.id} ({actions.destination_label(removed.destination)}, {removed.city})")
            return 0
        gazetteer = load_classifier(settings.config_dir).gazetteer
        if args.subs_command == "add":
            from bot.app import make_destination

            result = await actions.add_destination(
                store, gazetteer, target=args.destination, city=args.city,
                topics=args.topics.split(",") if args.topics else None, name=args.name,
                make_destination=make_destination, catchup_count=settings.catchup_count,
                coverage=_coverage_for(store, gazetteer, settings), rules=rule_options(args),
                lang=args.lang,
            )
            sub = result.subscription
            print(
                f"subscription #{sub.id}: {actions.destination_label(sub.destination)} follows "
                f"{result.city_label} ({actions.topics_text(sub.topics)}) in {sub.lang}; "
                f"{result.catchup_queued} recent stories queued"
            )
            return 0
        if args.subs_command == "edit":
            options = rule_options(args)
            if not options:
                raise UserInputError("nothing to change", user_message="give at least one rule option (see --help)")
            sub = await actions.edit_rules(store, args.id, options)
            lines = sub.rules.describe() or ["no rules (every matching story, at once)"]
            print(f"subscription #{sub.id}: " + "; ".join(lines))
            return 0
        if args.subs_command == "test":
            from bot.adapters.console import ConsoleSink
            from bot.adapters.push import ApprisePushSink

            console = ConsoleSink()

            async def console_test(destination: Destination, title: str, body: str) -> None:
                console.out.write(f"\n{title}\n{body}\n")
                console.out.flush()

            senders: dict[str, actions.TestSender] = {
                "apprise": ApprisePushSink().send_test, "console": console_test,
            }
            outcome = await actions.test_destination(store, gazetteer, args.id, senders)
            print(outcome.line, file=sys.stdout if outcome.ok else sys.stderr)
            return 0 if outcome.ok else 1
    finally:
        await store.close()
    raise UserInputError(f"unknown subscriptions action {args.subs_command}")


def _report_sync(settings: Settings, saved: int, removed: int) -> None:
    if saved or removed:
        print(
            f"civic-alerts: {settings.destinations_file.name}: {saved} subscriptions in the file, "
            f"{removed} removed",
            file=sys.stderr,
        )


_RULE_FLAGS = {
    "include": "include", "exclude": "exclude", "min_outlets": "min_outlets", "max_hold": "max_hold_hours",
    "after_hold": "on_hold_timeout", "mention": "mention", "mention_when": "mention_when", "digest": "digest",
    "quiet": "quiet", "urgent": "urgent", "tz": "tz",
}


def rule_options(args: argparse.Namespace) -> dict[str, Any]:
    """The rule flags given on the command line, as bot.rules.parse_rules options."""
    out: dict[str, Any] = {
        option: getattr(args, flag) for flag, option in _RULE_FLAGS.items() if getattr(args, flag, None) is not None
    }
    if getattr(args, "threads", None) is not None:
        out["threads"] = args.threads == "on"
    return out


def _when(value: datetime | None) -> str:
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if value else "never"


def _print_subscriptions(rows: Sequence[actions.SubscriptionRow], *, as_json: bool) -> None:
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row.as_json(), ensure_ascii=False) + "\n")
        return
    if not rows:
        print("no subscriptions (add one: civic-alerts subscriptions add URL --city chicago-il)", file=sys.stderr)
        return
    for row in rows:
        h = row.health
        state = f"PAUSED: {h.pause_reason}" if h.paused else "active"
        origin = " [config/destinations.toml]" if row.source == "config" else ""
        print(f"#{row.id} {row.platform} {row.destination}{origin}")
        print(f"    {row.city_label} · {row.topics_text} · {state}")
        error = f"{h.last_error} ({_when(h.last_error_at)})" if h.last_error else "none"
        print(f"    last success: {_when(h.last_success)} · last error: {error}")
        for line in row.rules:
            print(f"    rule: {line}")


async def _status(settings: Settings, args: argparse.Namespace) -> int:
    from bot.relevance import load_classifier
    from bot.store import open_store

    store = await open_store(settings)
    try:
        await _watch_push_secrets(store)
        gazetteer = load_classifier(settings.config_dir).gazetteer
        report = await actions.status(store, gazetteer)
    finally:
        await store.close()
    if args.json:
        doc = {
            "feeds": report.feeds_total,
            "feeds_failing": len(report.feeds_failing),
            "feeds_disabled": report.feeds_disabled,
            "feed_kinds": dict(report.feed_kinds),
            "managed_cities": report.managed_cities,
            "last_cycle": _when(report.last_cycle),
            "queue_depth": report.queue_depth,
            "destinations": [
                {"id": d.id, "platform": d.platform, "destination": d.label, "paused": d.paused,
                 "pause_reason": d.pause_reason, "last_success": _when(d.last_success),
                 "last_error": d.last_error, "last_error_at": _when(d.last_error_at)}
                for d in report.destinations
            ],
        }
        print(json.dumps(doc, ensure_ascii=False))
        return 0
    print(f"feeds: {report.feeds_total} ({len(report.feeds_failing)} failing, {report.feeds_disabled} disabled); "
          f"last poll: {_when(report.last_cycle)}; alerts waiting: {report.queue_depth}")
    if report.feed_kinds:
        print(f"feeds by kind: {actions.kinds_text(report)}")
    for d in report.destinations:
        state = f"PAUSED ({d.pause_reason})" if d.paused else "ok"
        error = f"{d.last_error} at {_when(d.last_error_at)}" if d.last_error else "none"
        print(f"{d.platform} {d.label}: {state}; last success {_when(d.last_success)}; last error {error}")
    return 0


async def next_poll_line(store: Storage, now: float) -> str | None:
    """After a restart every feed may still be waiting for its next check, so nothing happens
    for minutes; say when the first poll is due (None when one is due now)."""
    states = [s for s in await store.feed_states() if not s.disabled]
    due = [s.next_check.timestamp() for s in states if s.next_check]
    if not states or len(due) < len(states) or min(due) <= now:
        return None  # a feed never polled, or one due now: polling starts at once
    first = min(due)
    minutes = max(1, round((first - now) / 60))
    when = datetime.fromtimestamp(first, UTC)
    return f"civic-alerts: feeds were polled recently; next poll due {when:%H:%M} UTC (in {minutes} min)"


async def _say_next_poll(store: Storage) -> None:
    line = await next_poll_line(store, time.time())
    if line:
        print(line, file=sys.stderr)


def _run(settings: Settings) -> int:
    """The service: every chat platform whose credentials are set, else the console."""
    from bot.service import configured_adapters, run_service

    if not configured_adapters(settings):
        print(
            "civic-alerts: no DISCORD_TOKEN set (nor Slack, Telegram or Matrix credentials) — "
            "running with alerts printed to this console. Ctrl-C stops.",
            file=sys.stderr,
        )

    def started(app: Any, platforms: list[str], synced: tuple[int, int]) -> None:
        _report_sync(settings, *synced)
        where = ", ".join(platforms) if platforms else "the console"
        print(
            f"civic-alerts: started {datetime.now(UTC):%Y-%m-%d %H:%M} UTC for {where}; polling feeds…",
            file=sys.stderr,
        )
        app.tasks.append(asyncio.get_running_loop().create_task(_say_next_poll(app.store)))

    asyncio.run(run_service(settings, on_started=started))
    return 0
