"""Message catalogues: what alerts, help and errors say, per language (issue 13).

Why data: a subscription has a language, and an alert to a Spanish channel must say "También
informado en inglés por …", not "Also reported by …". Every user-facing string of an alert
comes from ``config/messages/<lang>.toml`` (English is ``en.toml``); another language is a new
file with the same keys, not new code. A key a file lacks, or a language without a file,
falls back to English, so a half-translated catalogue still renders every alert.

``messages(lang)`` is cached per file; ``language_for_locale`` turns a platform's locale
("es-ES", "es-419", "en-US") into a catalogue language.
"""

from __future__ import annotations

import os
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.errors import ConfigError
from bot.lang import REPO_CONFIG_DIR, is_language_code, primary_language

DEFAULT = "en"


@dataclass(frozen=True, slots=True)
class Messages:
    """One language's catalogue: ``msgs("alerts.also_reported", outlets=…)``."""

    lang: str
    name: str
    table: dict[str, str] = field(hash=False)
    fallback: Messages | None = None

    def text(self, key: str) -> str:
        value = self.table.get(key)
        if value is None and self.fallback is not None:
            return self.fallback.text(key)
        if value is None:
            raise KeyError(f"message {key!r} is in no catalogue")
        return value

    def __call__(self, key: str, **fields: Any) -> str:
        return self.text(key).format(**self.localize(fields)) if fields else self.text(key)

    def localize(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Fields a core refusal could not word itself, since it does not know the reader's
        language: ``X_key="rules.err_reason"`` fills ``{X}`` with that entry of this catalogue,
        and ``X_topics="a,b"`` fills ``{X}`` with this language's labels of those topic ids
        (when it names them all; else ``{X}`` keeps the English labels the core gave)."""
        out = dict(fields)
        for name, value in fields.items():
            if name.endswith("_key") and isinstance(value, str) and value:
                try:
                    out[name[:-4]] = self.text(value)
                except KeyError:
                    pass
            elif name.endswith("_topics") and isinstance(value, str) and value:
                labels = [self.topic(t) for t in value.split(",")]
                if all(labels):
                    out[name[:-7]] = ", ".join(str(label) for label in labels)
        return out

    def topic(self, topic_id: str) -> str | None:
        """This language's label of a topic, or None (the caller uses topics.toml's)."""
        return self.table.get(f"topics.{topic_id}")

    def language(self, code: str) -> str:
        """A language's name in this language: "Spanish" / "español"; the code if unknown."""
        return self.table.get(f"languages.{code}") or (
            self.fallback.language(code) if self.fallback else code
        )


def _flatten(data: dict[str, Any], path: Path, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, path, key + "."))
        elif isinstance(v, str):
            out[key] = v
        else:
            raise ConfigError(f"{path}: {key} must be a string")
    return out


def _config_dir(config_dir: Path | None) -> Path:
    if config_dir is not None:
        return Path(config_dir)
    env = os.environ.get("CIVIC_ALERTS_CONFIG_DIR")
    return Path(env) if env else REPO_CONFIG_DIR


def catalogue_file(lang: str, config_dir: Path | None = None) -> Path | None:
    """config_dir/messages/<lang>.toml, else the repo's; None when neither exists."""
    if not is_language_code(lang):
        return None
    for base in (_config_dir(config_dir), REPO_CONFIG_DIR):
        p = base / "messages" / f"{lang}.toml"
        if p.exists():
            return p
    return None


_CACHE: dict[tuple[str, Path | None], Messages] = {}
_LOCK = threading.Lock()


def _load(path: Path, lang: str, fallback: Messages | None) -> Messages:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    name = str(data.pop("name", lang))
    data.pop("code", None)
    return Messages(lang, name, _flatten(data, path), fallback)


def messages(lang: str | None = None, config_dir: Path | None = None) -> Messages:
    """The catalogue of ``lang`` (a code or a tag such as "es-419"); English when it has none."""
    code = primary_language(lang) or DEFAULT
    key = (code, Path(config_dir) if config_dir else None)
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
    en_path = catalogue_file(DEFAULT, config_dir)
    if en_path is None:
        raise ConfigError("config/messages/en.toml is missing")
    english = _CACHE.get((DEFAULT, key[1])) or _load(en_path, DEFAULT, None)
    path = catalogue_file(code, config_dir) if code != DEFAULT else None
    result = _load(path, code, english) if path is not None else english
    with _LOCK:
        _CACHE[(DEFAULT, key[1])] = english
        _CACHE[key] = result
    return result


def supported_languages(config_dir: Path | None = None) -> tuple[str, ...]:
    """The languages with a catalogue: English first, then the others by code."""
    found = {DEFAULT}
    for base in (_config_dir(config_dir), REPO_CONFIG_DIR):
        folder = base / "messages"
        if folder.is_dir():
            found.update(p.stem for p in folder.glob("*.toml") if is_language_code(p.stem))
    return (DEFAULT, *sorted(found - {DEFAULT}))


def language_for_locale(locale: object, config_dir: Path | None = None) -> str:
    """A platform locale ("es-ES", "es-419", "en-US", a discord.Locale) → a catalogue
    language; English for a locale without a catalogue or none at all."""
    value = getattr(locale, "value", locale)
    code = primary_language(value)
    return code if code and code in supported_languages(config_dir) else DEFAULT


def parse_language(text: str, config_dir: Path | None = None) -> str | None:
    """What a user may type for a language: "es", "es-MX", "Spanish", "español"; None if none."""
    needle = " ".join((text or "").split()).casefold()
    if not needle:
        return None
    langs = supported_languages(config_dir)
    code = primary_language(needle)
    if code in langs:
        return code
    for lang in langs:
        m = messages(lang, config_dir)
        names = {m.name.casefold(), *(messages(o, config_dir).language(lang).casefold() for o in langs)}
        if needle in names:
            return lang
    return None
