"""Every Web API call judged by Slack's own description (../shared/slack-openapi).

Checked per call: the method exists; every parameter is one the method declares; each value
has the declared type (form strings such as "1"/"true" count as booleans, a JSON body's real
booleans and numbers as themselves); required parameters are present; text lengths and Block
Kit shape stay inside Slack's limits. Anything else is a violation, recorded, never fatal.

Gaps of the 2020 spec that are allowed, each documented by Slack (docs.slack.dev):

- `apps.connections.open` (Socket Mode, newer than the spec): app-level token only, no params.
- `metadata` on chat.postMessage and chat.update (docs.slack.dev/messaging/message-metadata):
  an object with a string `event_type` and an object `event_payload`.
- `include_all_metadata` on conversations.history (docs.slack.dev/reference/methods/conversations.history).
- `blocks` as a real JSON array (slack_sdk sends chat.* as application/json); a form string is
  JSON-decoded. `token` is the Authorization header, never a parameter.
- conversations.history's `channel` is required although the spec does not mark it.

Limits not in the spec (docs.slack.dev, chat.postMessage and Block Kit reference): `text` at
most 40,000 characters; at most 50 blocks; section text 3,000; header text 150 (plain_text);
context at most 10 elements, each text 3,000.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from tests.conftest import SHARED_DIR

SPEC_PATH = SHARED_DIR / "slack-openapi" / "slack_web_openapi_v2.json"

EXTRA_METHODS = {"apps.connections.open": {}}
EXTRA_PARAMS: dict[str, dict[str, str]] = {
    "chat.postMessage": {"metadata": "object"},
    "chat.update": {"metadata": "object"},
    "conversations.history": {"include_all_metadata": "boolean"},
}
EXTRA_REQUIRED = {"conversations.history": {"channel"}}
TEXT_MAX = 40_000
MAX_BLOCKS = 50
SECTION_TEXT_MAX = 3000
HEADER_TEXT_MAX = 150
CONTEXT_ELEMENTS_MAX = 10


@cache
def spec(path: Path = SPEC_PATH) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))


def declared(method: str) -> tuple[dict[str, str], set[str]] | None:
    """(parameter → type, required names) of a method, or None when Slack has no such method."""
    if method in EXTRA_METHODS:
        return dict(EXTRA_METHODS[method]), set()
    path = spec()["paths"].get("/" + method)
    if path is None:
        return None
    types: dict[str, str] = {}
    required: set[str] = set()
    for op in path.values():
        for p in op.get("parameters", []):
            if p["name"] == "token" or p.get("in") not in ("query", "formData"):
                continue
            types[p["name"]] = p.get("type", "string")
            if p.get("required"):
                required.add(p["name"])
    types.update(EXTRA_PARAMS.get(method, {}))
    return types, required | EXTRA_REQUIRED.get(method, set())


def _type_ok(kind: str, value: Any, name: str) -> bool:
    if name in ("blocks", "attachments"):
        return isinstance(value, list) or isinstance(value, str)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "boolean":
        return isinstance(value, bool) or str(value).lower() in {"true", "false", "1", "0"}
    if kind == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or str(value).lstrip("-").isdigit()
    if kind == "number":
        if isinstance(value, bool):
            return False
        try:
            float(value)
        except (TypeError, ValueError):
            return False
        return True
    return isinstance(value, str)


def check_blocks(blocks: Any) -> list[str]:
    out: list[str] = []
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except ValueError:
            return ["blocks: not JSON"]
    schema = dict(spec()["definitions"]["blocks"])
    try:
        jsonschema.Draft4Validator(schema).validate(blocks)
    except jsonschema.ValidationError as exc:
        return [f"blocks: {exc.message}"]
    if len(blocks) > MAX_BLOCKS:
        out.append(f"blocks: {len(blocks)} blocks (at most {MAX_BLOCKS})")
    for i, block in enumerate(blocks):
        kind = block.get("type")
        if kind == "section":
            text = (block.get("text") or {}).get("text", "")
            if len(text) > SECTION_TEXT_MAX:
                out.append(f"blocks[{i}]: section text {len(text)} chars (at most {SECTION_TEXT_MAX})")
        elif kind == "header":
            text = (block.get("text") or {})
            if text.get("type") != "plain_text" or len(text.get("text", "")) > HEADER_TEXT_MAX:
                out.append(f"blocks[{i}]: header must be plain_text of at most {HEADER_TEXT_MAX} chars")
        elif kind == "context":
            elements = block.get("elements") or []
            if not elements or len(elements) > CONTEXT_ELEMENTS_MAX:
                out.append(f"blocks[{i}]: context needs 1..{CONTEXT_ELEMENTS_MAX} elements")
            for el in elements:
                if len(str(el.get("text", ""))) > SECTION_TEXT_MAX:
                    out.append(f"blocks[{i}]: context element over {SECTION_TEXT_MAX} chars")
        elif kind not in {"divider", "image", "actions", "rich_text", "input", "file", "video"}:
            out.append(f"blocks[{i}]: unknown block type {kind!r}")
    return out


def check(method: str, params: dict[str, Any]) -> list[str]:
    """Violations of one call (empty when it is one Slack documents)."""
    found = declared(method)
    if found is None:
        return [f"{method}: no such Web API method"]
    types, required = found
    out: list[str] = []
    for name, value in params.items():
        if name == "token":
            out.append(f"{method}: token sent as a parameter (use the Authorization header)")
            continue
        kind = types.get(name)
        if kind is None:
            out.append(f"{method}: unknown parameter {name!r}")
        elif not _type_ok(kind, value, name):
            out.append(f"{method}: {name} should be {kind}, got {type(value).__name__}")
    for name in sorted(required - set(params)):
        out.append(f"{method}: missing required parameter {name!r}")
    text = params.get("text")
    if isinstance(text, str) and len(text) > TEXT_MAX:
        out.append(f"{method}: text is {len(text)} chars (at most {TEXT_MAX})")
    if "blocks" in params:
        out += [f"{method}: {v}" for v in check_blocks(params["blocks"])]
    meta = params.get("metadata")
    if meta is not None and isinstance(meta, dict):
        if not isinstance(meta.get("event_type"), str) or not isinstance(meta.get("event_payload"), dict):
            out.append(f"{method}: metadata needs a string event_type and an object event_payload")
    return out
