"""Request-body validation for the Discord stand-in.

Two layers:

* the request schemas of Discord's OpenAPI 3.1 description (``../shared/discord-openapi/openapi.json``,
  read in place, never copied), compiled once per operation with jsonschema's 2020-12 dialect;
* Discord's documented limits the spec does not express (content ≤ 2000, the 6,000-character
  total across a message's embeds, empty messages, command-name rules, …).

A failure becomes Discord's error shape (HTTP 400, code 50035 "Invalid Form Body" with a nested
``errors`` tree) and a :class:`Violation` the stand-in records for tests to assert on.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

OPENAPI_URI = "urn:discord-openapi"

# Discord limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits)
CONTENT_MAX = 2000
EMBEDS_MAX = 10
EMBED_TITLE_MAX = 256
EMBED_DESCRIPTION_MAX = 4096
EMBED_FIELDS_MAX = 25
EMBED_FIELD_NAME_MAX = 256
EMBED_FIELD_VALUE_MAX = 1024
EMBED_FOOTER_MAX = 2048
EMBED_AUTHOR_MAX = 256
EMBEDS_TOTAL_MAX = 6000
AUTOCOMPLETE_CHOICES_MAX = 25
COMMAND_NAME_RE = re.compile(r"^[-_'\w]{1,32}$", re.UNICODE)


# Keys Discord documents and accepts but openapi.json does not declare, as (the nearest
# enclosing key, the key); "" is the top of a body or of a list item. Written out one by one
# so a misspelt key is still caught everywhere else.
SPEC_LAGS: frozenset[tuple[str, str]] = frozenset({
    ("", "nsfw"),  # application command `nsfw` (discord.py sends it in every command payload)
    ("embeds", "flags"),  # embed flags: discord.py 2.7's Embed.to_dict always sends them
    ("", "tts"), ("data", "tts"),  # discord.py sends tts=false on message edits and type-7 updates
    ("message", "tts"), ("", "type"),  # forum posts: discord.py sends the thread type and message.tts
})


@dataclass(frozen=True)
class Violation:
    """One request Discord would have rejected (or silently altered)."""

    method: str
    path: str
    kind: str  # "schema", "limit", "json", "interaction", "route", "permission-embed"
    message: str
    location: str = ""
    body: Any = None

    def __str__(self) -> str:
        where = f" at {self.location}" if self.location else ""
        return f"{self.method} {self.path}: [{self.kind}] {self.message}{where}"


@dataclass
class Problem:
    """One problem inside a body: a path (as Discord's error tree keys) and a message."""

    path: tuple[str | int, ...]
    code: str
    message: str
    source: str = "limit"  # "schema" (openapi.json) or "limit" (Discord's documented rules)


@dataclass
class ValidationResult:
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, path: tuple[str | int, ...], code: str, message: str, source: str = "limit") -> None:
        path = tuple(path)
        if any(p.path == path and p.code == code for p in self.problems):
            return  # the schema and Discord's own rules often say the same thing
        self.problems.append(Problem(path, code, message, source))

    def error_body(self) -> dict[str, Any]:
        """Discord's 400 body: {"code": 50035, "errors": {...{"_errors": [...]}}, "message": ...}."""
        tree: dict[str, Any] = {}
        for p in self.problems:
            node = tree
            for key in p.path:
                node = node.setdefault(str(key), {})
            node.setdefault("_errors", []).append({"code": p.code, "message": p.message})
        return {"code": 50035, "errors": tree, "message": "Invalid Form Body"}


def _location(path: tuple[str | int, ...]) -> str:
    return ".".join(str(p) for p in path)


# --------------------------------------------------------------------------------------------
# format checks the spec asks for ("uri", "date-time", ints); Discord's own formats are free-form


def _build_format_checker() -> FormatChecker:
    checker = FormatChecker(formats=())

    @checker.checks("uri", raises=ValueError)
    def _uri(value: object) -> bool:
        if not isinstance(value, str):
            return True
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https", "attachment"):
            raise ValueError(f"Scheme {parts.scheme!r} is not supported. Scheme must be one of ('http', 'https').")
        if parts.scheme != "attachment" and not parts.netloc:
            raise ValueError("Not a well formed URL.")
        return True

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        if isinstance(value, str):
            dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return True

    @checker.checks("int32")
    def _int32(value: object) -> bool:
        return not isinstance(value, int) or -(2**31) <= value < 2**31

    return checker


FORMAT_CHECKER = _build_format_checker()


# --------------------------------------------------------------------------------------------


class OpenAPISchemas:
    """Compiled request validators for the operations of one openapi.json, keyed by route."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with path.open("rb") as fh:
            doc = json.load(fh)
        schemas = doc["components"]["schemas"]
        # Discord accepts snowflakes as JSON integers as well as strings (discord.py sends ints in
        # allowed_mentions and message_reference); the spec only lists the string form.
        schemas["SnowflakeType"] = {
            "anyOf": [
                {"type": "string", "pattern": r"^(0|[1-9][0-9]*)$"},
                {"type": "integer", "minimum": 0},
            ]
        }
        self._doc = doc
        resource = Resource.from_contents(doc, default_specification=DRAFT202012)
        self._registry: Registry = Registry().with_resource(OPENAPI_URI, resource)
        self._templates: list[tuple[re.Pattern[str], str]] = []
        for template in doc["paths"]:
            regex = "^" + re.sub(r"\{[^/}]+\}", "[^/]+", re.escape(template).replace(r"\{", "{").replace(r"\}", "}")) + "$"
            self._templates.append((re.compile(regex), template))
        # literal segments beat parameters (".../@original" before ".../{message_id}")
        self._templates.sort(key=lambda t: (t[1].count("{"), -len(t[1])))
        self._validators: dict[tuple[str, str, str | None], Draft202012Validator | None] = {}

    def template_for(self, path: str) -> str | None:
        for regex, template in self._templates:
            if regex.match(path):
                return template
        return None

    def validator(self, method: str, template: str, component: str | None = None) -> Draft202012Validator | None:
        """Validator for the JSON request body of ``method template`` (or for a named component)."""
        key = (method, template, component)
        try:
            return self._validators[key]
        except KeyError:
            pass
        if component is not None:
            pointer = f"{OPENAPI_URI}#/components/schemas/{component}"
        else:
            op = self._doc["paths"].get(template, {}).get(method.lower())
            body = (op or {}).get("requestBody", {}).get("content", {})
            if "application/json" not in body:
                self._validators[key] = None
                return None
            escaped = template.replace("~", "~0").replace("/", "~1")
            pointer = f"{OPENAPI_URI}#/paths/{escaped}/{method.lower()}/requestBody/content/application~1json/schema"
        validator = Draft202012Validator(
            {"$ref": pointer}, registry=self._registry, format_checker=FORMAT_CHECKER
        )
        self._validators[key] = validator
        return validator

    def check(self, validator: Draft202012Validator, body: Any, result: ValidationResult) -> None:
        # keys the schema does not declare: Discord ignores them silently, so a misspelt
        # `allowed_mention` would turn a mention guard off without any error (issue 16 item 10)
        for path, key in self.unknown_keys(validator.schema, body):
            parent = next((p for p in reversed(path) if isinstance(p, str)), "")
            if (parent, key) in SPEC_LAGS:
                continue
            result.add((*path, key), "UNKNOWN_FIELD",
                       f"{key!r} is not a field of Discord's schema here (Discord would ignore it)", "schema")
        errors = list(validator.iter_errors(body))
        if not errors:
            return
        for err in _flatten(errors):
            path = tuple(err.absolute_path)
            if err.validator == "required" and isinstance(err.instance, dict):
                missing = [k for k in err.validator_value if k not in err.instance]
                path = (*path, *missing[:1])
            result.add(path, _error_code(err), _message(err), "schema")


    # ---- unknown keys ---------------------------------------------------------------------------

    def _deref(self, schema: Any) -> Any:
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema and seen < 50:
            ref = str(schema["$ref"])
            pointer = ref.split("#", 1)[1] if "#" in ref else ""
            node: Any = self._doc
            for part in pointer.strip("/").split("/") if pointer else ():
                node = node[part.replace("~1", "/").replace("~0", "~")]
            schema, seen = node, seen + 1
        return schema

    def unknown_keys(self, schema: Any, value: Any, path: tuple[str | int, ...] = ()) -> list[tuple[tuple[str | int, ...], str]]:
        """(path, key) of every object key in `value` that `schema` does not declare.

        Branches of anyOf/oneOf are tried and the best fit (fewest unknown keys) wins, so a
        body is judged against the shape it most resembles; objects without `properties` (free
        maps) and `additionalProperties` schemas accept any key.
        """
        schema = self._deref(schema)
        if not isinstance(schema, dict) or not isinstance(value, dict | list):
            return []
        branches = [*schema.get("anyOf", ()), *schema.get("oneOf", ())]
        if branches:
            fits = [self.unknown_keys(b, value, path) for b in branches if self._may_hold(b, value)]
            return min(fits, key=len) if fits else []
        if isinstance(value, list):
            items = schema.get("items")
            if items is None:
                return []
            return [found for i, v in enumerate(value) for found in self.unknown_keys(items, v, (*path, i))]
        props: dict[str, Any] = dict(schema.get("properties") or {})
        for part in schema.get("allOf", ()):
            props.update(self._deref(part).get("properties") or {})
        extra = schema.get("additionalProperties")
        if not props:
            return []  # a free-form object
        out: list[tuple[tuple[str | int, ...], str]] = []
        for key, v in value.items():
            if key in props:
                out.extend(self.unknown_keys(props[key], v, (*path, key)))
            elif isinstance(extra, dict):
                out.extend(self.unknown_keys(extra, v, (*path, key)))
            elif extra is not True and (next((p for p in reversed(path) if isinstance(p, str)), ""), key) not in SPEC_LAGS:
                out.append((path, key))
        return out

    def _may_hold(self, schema: Any, value: Any) -> bool:
        schema = self._deref(schema)
        if not isinstance(schema, dict):
            return False
        if "anyOf" in schema or "oneOf" in schema:
            return True
        types = schema.get("type")
        types = [types] if isinstance(types, str) else list(types or [])
        wanted = "object" if isinstance(value, dict) else "array"
        return wanted in types or (not types and ("properties" in schema or "items" in schema))


def _relevance(err: ValidationError) -> tuple[bool, int]:
    # a branch that failed only on its type is the least interesting; deeper errors are more specific
    return (err.validator in ("type", "const", "enum"), -len(err.absolute_path))


def _flatten(errors: list[ValidationError]) -> list[ValidationError]:
    """Pick the most relevant leaf error of each top-level failure (anyOf/oneOf → best branch)."""
    out: list[ValidationError] = []
    for err in errors:
        leaf = err
        while leaf.context:
            leaf = min(leaf.context, key=_relevance)
        out.append(leaf)
    return out


def _message(err: ValidationError) -> str:
    if err.validator in ("maxLength", "maxItems"):
        return f"Must be {err.validator_value} or fewer in length."
    if err.validator in ("minLength", "minItems"):
        return f"Must be {err.validator_value} or more in length."
    if err.validator == "required":
        return "This field is required"
    return err.message


def _error_code(err: ValidationError) -> str:
    return {
        "maxLength": "BASE_TYPE_MAX_LENGTH",
        "minLength": "BASE_TYPE_MIN_LENGTH",
        "maxItems": "BASE_TYPE_MAX_LENGTH",
        "minItems": "BASE_TYPE_MIN_LENGTH",
        "required": "BASE_TYPE_REQUIRED",
        "type": "BASE_TYPE_BAD_TYPE",
        "enum": "BASE_TYPE_CHOICES",
        "format": "URL_TYPE_INVALID_URL" if err.validator_value == "uri" else "BASE_TYPE_BAD_FORMAT",
        "maximum": "NUMBER_TYPE_MAX",
        "minimum": "NUMBER_TYPE_MIN",
    }.get(str(err.validator), "BASE_TYPE_INVALID")


@lru_cache(maxsize=4)
def load_schemas(path: str) -> OpenAPISchemas | None:
    """Parse and index openapi.json once per process (None if the file is missing)."""
    p = Path(path)
    if not p.is_file():
        return None
    return OpenAPISchemas(p)


# --------------------------------------------------------------------------------------------
# Discord rules beyond the schema


def _strlen(value: Any) -> int:
    return len(value) if isinstance(value, str) else 0


def check_message_limits(body: Any, result: ValidationResult, *, prefix: tuple[str | int, ...] = (),
                         require_content: bool = True, has_files: bool = False,
                         allowed_flags: int | None = None) -> None:
    """Content and embed limits, flags, unique custom_ids, and "Cannot send an empty message"."""
    if not isinstance(body, dict):
        return
    flags = body.get("flags")
    if allowed_flags is not None and isinstance(flags, int) and flags & ~allowed_flags:
        result.add((*prefix, "flags"), "MESSAGE_FLAGS_INVALID",
                   f"Flags {flags & ~allowed_flags} cannot be set by a bot here (allowed mask {allowed_flags}).")
    custom_ids: list[str] = []
    _collect_custom_ids(body.get("components") or [], custom_ids)
    for cid in {c for c in custom_ids if custom_ids.count(c) > 1}:
        result.add((*prefix, "components"), "COMPONENT_CUSTOM_ID_DUPLICATED", f"Component custom id {cid!r} cannot be duplicated")
    for cid in custom_ids:
        if len(cid) > 100:
            result.add((*prefix, "components"), "BASE_TYPE_MAX_LENGTH", "custom_id must be 100 or fewer in length.")
    content = body.get("content")
    if isinstance(content, str) and len(content) > CONTENT_MAX:
        result.add((*prefix, "content"), "BASE_TYPE_MAX_LENGTH", f"Must be {CONTENT_MAX} or fewer in length.")
    embeds = body.get("embeds")
    if isinstance(embeds, list):
        if len(embeds) > EMBEDS_MAX:
            result.add((*prefix, "embeds"), "BASE_TYPE_MAX_LENGTH", f"Must be {EMBEDS_MAX} or fewer in length.")
        total = 0
        for i, embed in enumerate(embeds):
            if not isinstance(embed, dict):
                continue
            at = (*prefix, "embeds", i)
            title, desc = _strlen(embed.get("title")), _strlen(embed.get("description"))
            if title > EMBED_TITLE_MAX:
                result.add((*at, "title"), "BASE_TYPE_MAX_LENGTH", f"Must be {EMBED_TITLE_MAX} or fewer in length.")
            if desc > EMBED_DESCRIPTION_MAX:
                result.add((*at, "description"), "BASE_TYPE_MAX_LENGTH",
                           f"Must be {EMBED_DESCRIPTION_MAX} or fewer in length.")
            total += title + desc
            fields = embed.get("fields") or []
            if isinstance(fields, list):
                if len(fields) > EMBED_FIELDS_MAX:
                    result.add((*at, "fields"), "BASE_TYPE_MAX_LENGTH", f"Must be {EMBED_FIELDS_MAX} or fewer in length.")
                for j, fld in enumerate(fields):
                    if not isinstance(fld, dict):
                        continue
                    name, value = fld.get("name"), fld.get("value")
                    for key, val, limit in (("name", name, EMBED_FIELD_NAME_MAX), ("value", value, EMBED_FIELD_VALUE_MAX)):
                        if isinstance(val, str) and not val.strip():
                            result.add((*at, "fields", j, key), "BASE_TYPE_REQUIRED", "This field is required")
                        elif _strlen(val) > limit:
                            result.add((*at, "fields", j, key), "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
                    total += _strlen(name) + _strlen(value)
            footer = embed.get("footer")
            if isinstance(footer, dict):
                n = _strlen(footer.get("text"))
                if n > EMBED_FOOTER_MAX:
                    result.add((*at, "footer", "text"), "BASE_TYPE_MAX_LENGTH", f"Must be {EMBED_FOOTER_MAX} or fewer in length.")
                total += n
            author = embed.get("author")
            if isinstance(author, dict):
                n = _strlen(author.get("name"))
                if n > EMBED_AUTHOR_MAX:
                    result.add((*at, "author", "name"), "BASE_TYPE_MAX_LENGTH", f"Must be {EMBED_AUTHOR_MAX} or fewer in length.")
                total += n
        if total > EMBEDS_TOTAL_MAX:
            result.add((*prefix, "embeds"), "MAX_EMBED_SIZE_EXCEEDED",
                       f"Embed size exceeds maximum size of {EMBEDS_TOTAL_MAX} (got {total}).")
    mentions = body.get("allowed_mentions")
    check_mention_policy(body, result, prefix)
    if isinstance(mentions, dict):
        parse = mentions.get("parse") or []
        for kind in ("users", "roles"):
            if kind in parse and mentions.get(kind):
                result.add((*prefix, "allowed_mentions"), "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                           f"parse:[\"{kind}\"] and {kind}: [ids...] are mutually exclusive.")
    if require_content and not has_files and not any(
        body.get(k) for k in ("content", "embeds", "components", "sticker_ids", "poll", "attachments")
    ):
        result.add(prefix, "MESSAGE_EMPTY", "Cannot send an empty message")


_PING = re.compile(r"@everyone|@here|<@[!&]?\d+>")
MENTION_STATS = {"messages": 0, "with_role": 0, "max_roles_allowed": 0}


def check_mention_policy(body: dict[str, Any], result: ValidationResult, prefix: tuple[Any, ...] = ()) -> None:
    """The project's rule on every message body (issue 14), beyond Discord's schema: allowed
    mentions permit at most one role and never @everyone/@here, users or parsed roles; a body
    without allowed_mentions may not contain anything that would ping (Discord's default
    parses every mention in the content)."""
    MENTION_STATS["messages"] += 1
    mentions = body.get("allowed_mentions")
    content = str(body.get("content") or "")
    if not isinstance(mentions, dict):
        if _PING.search(content):
            result.add((*prefix, "allowed_mentions"), "PROJECT_MENTION_POLICY",
                       "content pings but no allowed_mentions limits it")
        return
    parse = mentions.get("parse") or []
    roles = mentions.get("roles") or []
    users = mentions.get("users") or []
    MENTION_STATS["max_roles_allowed"] = max(MENTION_STATS["max_roles_allowed"], len(roles))
    if roles:
        MENTION_STATS["with_role"] += 1
    if parse or len(roles) > 1 or users or mentions.get("replied_user"):
        result.add((*prefix, "allowed_mentions"), "PROJECT_MENTION_POLICY",
                   f"allowed_mentions must permit at most one role and nothing else, got {mentions}")


def _collect_custom_ids(components: Any, out: list[str]) -> None:
    if not isinstance(components, list):
        return
    for c in components:
        if not isinstance(c, dict):
            continue
        if isinstance(c.get("custom_id"), str):
            out.append(c["custom_id"])
        _collect_custom_ids(c.get("components"), out)
        acc = c.get("accessory")
        if isinstance(acc, dict) and isinstance(acc.get("custom_id"), str):
            out.append(acc["custom_id"])


def check_command(cmd: Any, result: ValidationResult, prefix: tuple[str | int, ...] = ()) -> None:
    """Application-command rules Discord enforces beyond the schema."""
    if not isinstance(cmd, dict):
        return
    ctype = cmd.get("type") or 1
    name = cmd.get("name")
    if isinstance(name, str):
        if not COMMAND_NAME_RE.match(name) or (ctype == 1 and name != name.lower()):
            result.add((*prefix, "name"), "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
    if ctype == 1:
        desc = cmd.get("description")
        if not isinstance(desc, str) or not 1 <= len(desc) <= 100:
            result.add((*prefix, "description"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
    _check_options(cmd.get("options") or [], result, (*prefix, "options"))


def _check_options(options: list[Any], result: ValidationResult, prefix: tuple[str | int, ...]) -> None:
    if len(options) > 25:
        result.add(prefix, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    seen_optional = False
    names: set[str] = set()
    for i, opt in enumerate(options):
        if not isinstance(opt, dict):
            continue
        at = (*prefix, i)
        name = opt.get("name")
        if isinstance(name, str):
            if not COMMAND_NAME_RE.match(name) or name != name.lower():
                result.add((*at, "name"), "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
            if name in names:
                result.add((*at, "name"), "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS", "Option name already exists")
            names.add(name)
        desc = opt.get("description")
        if not isinstance(desc, str) or not 1 <= len(desc) <= 100:
            result.add((*at, "description"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        if opt.get("type") in (1, 2):
            _check_options(opt.get("options") or [], result, (*at, "options"))
            continue
        if opt.get("required"):
            if seen_optional:
                result.add(at, "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID", "Required options must be placed before non-required options")
        else:
            seen_optional = True
        if opt.get("autocomplete") and opt.get("choices"):
            result.add((*at, "autocomplete"), "APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_INVALID",
                       "Autocomplete cannot be set for options with choices")
        if len(opt.get("choices") or []) > 25:
            result.add((*at, "choices"), "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")


def check_autocomplete(data: Any, result: ValidationResult) -> None:
    if not isinstance(data, dict):
        result.add(("data",), "BASE_TYPE_REQUIRED", "This field is required")
        return
    choices = data.get("choices")
    if not isinstance(choices, list):
        result.add(("data", "choices"), "BASE_TYPE_REQUIRED", "This field is required")
        return
    if len(choices) > AUTOCOMPLETE_CHOICES_MAX:
        result.add(("data", "choices"), "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    for i, ch in enumerate(choices):
        if not isinstance(ch, dict):
            continue
        name = ch.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            result.add(("data", "choices", i, "name"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        value = ch.get("value")
        if isinstance(value, str) and len(value) > 100:
            result.add(("data", "choices", i, "value"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")


__all__ = [
    "OpenAPISchemas",
    "ValidationResult",
    "Violation",
    "check_autocomplete",
    "check_command",
    "check_message_limits",
    "load_schemas",
]
