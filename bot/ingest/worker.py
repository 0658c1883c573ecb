"""The parse worker processes: what runs in them, and the pool that starts them.

Why a module of its own: a spawned worker imports the module of every function it is sent
(and of its initializer). When these lived in bot/poller.py, each worker imported the poller
and with it aiohttp, the story assembly, rapidfuzz, asyncio and the store's types — about
17 MB per worker that parsing never uses. Here the imports are only what a feed body needs:
the parser and the classifier (issue 15 item 4: peak memory at 1,000 feeds).

For the same reason the pool starts workers without re-importing the bot's main script
(`_main_script_hidden`): with the `civic-alerts` console script as `__main__`,
multiprocessing's spawn runs that script again in every worker, which imports bot.cli and
everything it imports. Nothing a worker is sent lives in `__main__`.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import multiprocessing
import os
import signal
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bot.ingest.parse import parse_feed
from bot.models import Article, Match
from bot.relevance import Classifier, load_classifier
from bot.stories import HeadlineHint, headline_hints


@dataclass(frozen=True, slots=True)
class ProcessedFeed:
    """What a worker process hands back: parsed articles with their relevance verdicts."""

    items: tuple[tuple[Article, Match], ...]
    is_feed: bool
    bozo: str | None
    title: str | None
    # the headlines' clustering signatures, computed here rather than on the store's one thread
    # (bot.stories.prime)
    headlines: tuple[HeadlineHint, ...] = ()


def process_feed_body(
    body: bytes,
    feed_url: str,
    headers: dict[str, str],
    feed_name: str | None,
    default_city: str | None,
    config_dir: str | None,
    lang: str | None = None,
) -> ProcessedFeed:
    """Parse + classify one feed body. Top-level and picklable: runs in a worker process."""
    parsed = parse_feed(body, feed_url=feed_url, headers=headers, feed_name=feed_name, lang=lang)
    classifier = load_classifier(Path(config_dir) if config_dir else None)
    items = tuple(_classified(classifier, article, default_city) for article in parsed.articles)
    return ProcessedFeed(
        items=items, is_feed=parsed.is_feed, bozo=parsed.bozo, title=parsed.title,
        headlines=headline_hints(a.title for a, _ in items),
    )


def warm_worker(config_dir: str | None) -> None:
    """Load the classifier in a parse worker before its first feed arrives (see Poller._warm)."""
    load_classifier(Path(config_dir) if config_dir else None)


def _classified(
    classifier: Classifier, article: Article, default_city: str | None
) -> tuple[Article, Match]:
    """The article with its match; an article whose feed declared no language gets the
    detected one (issue 13), so the store records what the rules read it as."""
    match = classifier.classify(
        article.title, article.summary, default_city=default_city, lang=article.lang
    )
    if article.lang is None and match.lang is not None:
        article = dataclasses.replace(article, lang=match.lang)
    return article, match


def die_with_parent() -> None:
    """Worker initializer: exit when the bot dies, so a SIGKILLed bot leaves no orphans.

    Workers are spawned as direct children of the bot (not via a forkserver, which outlives a
    SIGKILLed parent), and ask the kernel to signal them when it dies (Linux PR_SET_PDEATHSIG).
    Elsewhere this is a no-op.

    Ctrl-C reaches the whole process group: workers ignore it (the bot stops them), or each
    printed a KeyboardInterrupt traceback. They start with SIGINT blocked (WorkerPool.submit),
    so one pressed while a worker is still importing is dropped here, not raised there.
    """
    if hasattr(signal, "pthread_sigmask"):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(0)


_UNSET = object()


@contextlib.contextmanager
def _main_script_hidden() -> Iterator[None]:
    """While workers are spawned, `__main__` names no script or module to re-run in them.

    multiprocessing's spawn records `__main__`'s module name or file so that each child can
    import it as `__mp_main__` (for functions defined there). A `-m` module named
    `*.__main__` is skipped by the child anyway; a script (the `civic-alerts` console script)
    is re-run, importing bot.cli and the whole application in every parse worker. The pool
    only ever sends functions of this module, so the child needs none of it. Workers are
    spawned inside `submit`, on the caller's thread; the attributes are restored at once.
    """
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    spec = main.__dict__.get("__spec__", _UNSET)
    file = main.__dict__.get("__file__", _UNSET)
    main.__spec__ = None
    if file is not _UNSET:
        del main.__file__
    try:
        yield
    finally:
        if spec is _UNSET:
            main.__dict__.pop("__spec__", None)
        else:
            main.__spec__ = spec
        if file is not _UNSET:
            main.__file__ = file


class WorkerPool(ProcessPoolExecutor):
    """The parse pool; workers are spawned inside `submit` with SIGINT blocked, so that they
    inherit the blocked signal (across fork and exec) until their initializer ignores it, and
    without re-running the main script (`_main_script_hidden`)."""

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        with _main_script_hidden():
            if not hasattr(signal, "pthread_sigmask"):
                return super().submit(fn, *args, **kwargs)
            old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:  # a Ctrl-C meanwhile stays pending for this process and is raised just after
                return super().submit(fn, *args, **kwargs)
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, old)


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """`workers` spawned parse processes that die with this one (see die_with_parent)."""
    return WorkerPool(
        max_workers=max(1, workers),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=die_with_parent,
    )
