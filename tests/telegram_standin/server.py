"""A Telegram Bot API stand-in that checks every call against the published API description.

Why a stand-in and not mocks: the adapter runs the real aiogram client pointed here through
TELEGRAM_API_BASE, so what is tested is what would go over the wire. Every request is checked
against /work/shared/telegram-botapi/api.json (read in place): the method must exist, every
parameter must be one the method declares, required ones present, values of the declared type
(objects checked field by field, one level of nesting for arrays of objects), and the prose
limits the adapter relies on: message text 1-4096 characters after entity parsing, BotCommand
command 1-32 of [a-z0-9_], description 1-256, parse_mode one of the three modes, HTML text made
only of Telegram's supported tags and entities. Anything else is recorded in `violations`
(every e2e test asserts it stays empty) and answered 400 like Telegram would.

State is small and explicit: chats (type, forum, admins, the bot's standing in each), the
messages the bot posted, an update queue fed by the test (`command(...)`) and served by
getUpdates long polling, and faults the test arms (429 storms, lost rights, kicked, gone).
"""

from __future__ import annotations

import asyncio
import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from tests.conftest import SHARED_DIR

BOT_ID = 7000001
BOT_USERNAME = "civic_alerts_test_bot"
PARSE_MODES = frozenset({"HTML", "MarkdownV2", "Markdown"})
HTML_TAGS = frozenset({
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "tg-emoji",
    "code", "pre", "blockquote", "tg-time",
})  # fmt: skip
NAMED_ENTITIES = frozenset({"lt", "gt", "amp", "quot"})
COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")


def spec_path() -> Path:
    return SHARED_DIR / "telegram-botapi" / "api.json"


def utf16_len(text: str) -> int:
    """Telegram counts message length in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


class _TelegramHTML(HTMLParser):
    """Parses a text the way Telegram's HTML mode does, collecting problems and the plain text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.problems: list[str] = []
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in HTML_TAGS:
            self.problems.append(f"unsupported start tag <{tag}>")
        if tag == "a" and not any(k == "href" and v for k, v in attrs):
            self.problems.append("<a> without href")
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"can't find end tag corresponding to start tag (</{tag}>)")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if "<" in data or ">" in data:
            self.problems.append("unescaped < or >")
        self.text.append(data)

    def handle_entityref(self, name: str) -> None:
        if name not in NAMED_ENTITIES:
            self.problems.append(f"unsupported entity &{name};")
        self.text.append(html.unescape(f"&{name};"))

    def handle_charref(self, name: str) -> None:
        self.text.append(html.unescape(f"&#{name};"))


def parse_html(text: str) -> tuple[str, list[str]]:
    """(the text after entity parsing, problems). A bare '&' not starting an entity is an error."""
    problems: list[str] = []
    if re.search(r"&(?!(?:[a-zA-Z]+|#\d+|#x[0-9a-fA-F]+);)", text):
        problems.append("unescaped &")
    parser = _TelegramHTML()
    parser.feed(text)
    parser.close()
    problems.extend(parser.problems)
    if parser.stack:
        problems.append(f"unclosed tags {parser.stack}")
    return "".join(parser.text), problems


class Spec:
    """api.json's methods and types, and the checks of one call."""

    def __init__(self, path: Path) -> None:
        data = json.loads(path.read_text(encoding="utf-8"))
        self.version: str = data["version"]
        self.methods: dict[str, Any] = data["methods"]
        self.types: dict[str, Any] = data["types"]

    def check_call(self, method: str, params: dict[str, Any]) -> list[str]:
        spec = self.methods.get(method)
        if spec is None:
            return [f"unknown method {method}"]
        fields = {f["name"]: f for f in spec.get("fields", [])}
        problems = [f"{method}: unknown parameter {name}" for name in params if name not in fields]
        for name, f in fields.items():
            if f["required"] and name not in params:
                problems.append(f"{method}: missing required parameter {name}")
            elif name in params:
                problems.extend(self.check_value(f"{method}.{name}", f["types"], params[name]))
        return problems

    def fill(self, kind: str, given: dict[str, Any]) -> dict[str, Any]:
        """`given` plus every other required field of `kind` (false / 0 / ""): results the
        client's models accept, built from the same description the calls are checked against."""
        out = dict(given)
        for f in self.types[kind].get("fields", []):
            if f["required"] and f["name"] not in out:
                out[f["name"]] = {"Boolean": False, "Integer": 0, "String": ""}.get(f["types"][0], None)
        return out

    def check_value(self, where: str, types: list[str], value: Any, depth: int = 0) -> list[str]:
        """[] when `value` is of one of `types`; else one problem."""
        for kind in types:
            if not self._problems(where, kind, value, depth):
                return []
        first = self._problems(where, types[0], value, depth)
        return first if len(types) == 1 else [f"{where}: {value!r:.80} is none of {types}"]

    def _problems(self, where: str, kind: str, value: Any, depth: int) -> list[str]:
        if kind.startswith("Array of "):
            if not isinstance(value, list):
                return [f"{where}: expected {kind}, got {type(value).__name__}"]
            inner = kind.removeprefix("Array of ")
            return [p for i, v in enumerate(value) for p in self.check_value(f"{where}[{i}]", [inner], v, depth + 1)]
        simple = {
            "Integer": lambda v: isinstance(v, int) and not isinstance(v, bool) and abs(v) < 2**53,
            "String": lambda v: isinstance(v, str),
            "Boolean": lambda v: isinstance(v, bool),
            "Float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
            "InputFile": lambda v: isinstance(v, str),
        }
        if kind in simple:
            return [] if simple[kind](value) else [f"{where}: expected {kind}, got {value!r:.60}"]
        spec = self.types.get(kind)
        if spec is None:
            return [f"{where}: unknown type {kind}"]
        if not isinstance(value, dict):
            return [f"{where}: expected {kind} object, got {type(value).__name__}"]
        if spec.get("subtypes"):
            if any(not self._problems(where, sub, value, depth) for sub in spec["subtypes"]):
                return []
            return [f"{where}: {value!r:.80} matches no subtype of {kind}"]
        fields = {f["name"]: f for f in spec.get("fields", [])}
        problems = [f"{where}: unknown field {name} of {kind}" for name in value if name not in fields]
        for name, f in fields.items():
            if f["required"] and name not in value:
                problems.append(f"{where}: {kind} needs {name}")
            elif name in value and depth < 4:
                problems.extend(self.check_value(f"{where}.{name}", f["types"], value[name], depth + 1))
        # "type" fields of scopes/members are a fixed word in the docs: "must be all_chat_administrators"
        if "type" in fields and isinstance(value.get("type"), str):
            said = re.search(r"must be (\w+)", " ".join(fields["type"].get("description", "")))
            if said and value["type"] != said.group(1):
                problems.append(f"{where}: type {value['type']!r} is not {said.group(1)!r}")
        return problems


@dataclass
class Chat:
    id: int
    type: str = "supergroup"  # "private" | "group" | "supergroup" | "channel"
    title: str = "Organizers"
    is_forum: bool = False
    admins: set[int] = field(default_factory=set)
    bot_status: str = "administrator"  # what sendMessage meets: see TelegramStandIn.send_fault


@dataclass
class Posted:
    message_id: int
    chat_id: int
    text: str  # as sent (HTML)
    plain: str  # after entity parsing
    thread_id: int | None
    edits: int = 0
    reply_to: int | None = None


class TelegramStandIn:
    """`async with TelegramStandIn(token) as tg:` — base URL in `tg.api_base`."""

    def __init__(self, token: str, *, spec: Path | None = None) -> None:
        self.token = token
        self.spec = Spec(spec or spec_path())
        self.violations: list[str] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.chats: dict[int, Chat] = {}
        self.posted: dict[tuple[int, int], Posted] = {}
        self.commands: dict[str, list[dict[str, Any]]] = {}  # scope type → commands
        self.updates: list[dict[str, Any]] = []
        self._update_id = 100
        self._message_id = 1000
        self._new_update = asyncio.Condition()
        self.rate_limit_next = 0  # answer this many sendMessage/editMessageText calls with 429
        self.retry_after = 1
        self.rate_limited = 0
        self.send_times: list[tuple[int, float, bool]] = []  # (chat, loop time, answered 429)
        self.after_send: Callable[[Posted], Any] | None = None  # awaited before the answer
        self._runner: web.AppRunner | None = None
        self.api_base = ""

    # ----------------------------------------------------------------- test side
    def add_chat(self, chat: Chat) -> Chat:
        self.chats[chat.id] = chat
        return chat

    def command(self, chat_id: int, user_id: int, text: str, *, thread_id: int | None = None,
                anonymous_admin: bool = False, language_code: str | None = None) -> int:
        """Queue a message (a command) from `user_id` (whose app is set to `language_code`, an
        IETF tag Telegram sends when it knows one); returns the update id."""
        chat = self.chats[chat_id]
        self._message_id += 1
        message: dict[str, Any] = {
            "message_id": self._message_id, "date": 1_800_000_000, "text": text,
            "chat": self._chat_json(chat),
            "from": {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"},
        }
        if language_code is not None:
            message["from"]["language_code"] = language_code
        if anonymous_admin:
            message["from"] = {"id": 1087968824, "is_bot": True, "first_name": "Group", "username": "GroupAnonymousBot"}
            message["sender_chat"] = self._chat_json(chat)
        if text.startswith("/"):
            length = len(text.split()[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
        return self._push({"message": message})

    def member_update(self, chat_id: int, old: str, new: str) -> int:
        """The bot's own standing changed (my_chat_member), and sendMessage meets it from now."""
        chat = self.chats[chat_id]
        chat.bot_status = new
        def member(status: str) -> dict[str, Any]:
            return self._member(status, self._me())
        return self._push({"my_chat_member": {
            "chat": self._chat_json(chat), "from": {"id": 1, "is_bot": False, "first_name": "owner"},
            "date": 1_800_000_000, "old_chat_member": member(old), "new_chat_member": member(new),
        }})

    def migrate(self, old_id: int, new_id: int) -> int:
        """A group upgraded to a supergroup: the new chat, the service message in the old one."""
        old = self.chats[old_id]
        self.add_chat(Chat(new_id, type="supergroup", title=old.title, admins=set(old.admins)))
        old.bot_status = "migrated"
        self._message_id += 1
        return self._push({"message": {
            "message_id": self._message_id, "date": 1_800_000_000, "chat": self._chat_json(old),
            "from": {"id": 1, "is_bot": False, "first_name": "owner"}, "migrate_to_chat_id": new_id,
        }})

    def _push(self, update: dict[str, Any]) -> int:
        self._update_id += 1
        update["update_id"] = self._update_id
        self.updates.append(update)
        asyncio.get_running_loop().create_task(self._notify())
        return self._update_id

    async def _notify(self) -> None:
        async with self._new_update:
            self._new_update.notify_all()

    def messages(self, chat_id: int, *, thread_id: int | None = None, any_thread: bool = False) -> list[Posted]:
        return [p for (c, _), p in sorted(self.posted.items()) if c == chat_id and (any_thread or p.thread_id == thread_id)]

    def story_ids(self, chat_id: int) -> list[int]:
        """Story ids of every alert in the chat (repeats included), from each message's footers."""
        return [int(m) for p in self.messages(chat_id, any_thread=True) for m in re.findall(r"story #(\d+)", p.plain)]

    def early_retries(self) -> list[str]:
        """Sends to a chat sooner than `retry_after` after Telegram answered it 429."""
        early = []
        for i, (chat, when, limited) in enumerate(self.send_times):
            if limited:
                for later_chat, later, _ in self.send_times[i + 1:]:
                    if later_chat == chat:
                        if later - when < self.retry_after * 0.95:
                            early.append(f"chat {chat}: {later - when:.2f} s after a 429")
                        break
        return early

    # ----------------------------------------------------------------- server side
    def _me(self) -> dict[str, Any]:
        return {"id": BOT_ID, "is_bot": True, "first_name": "Civic Alerts", "username": BOT_USERNAME}

    @staticmethod
    def _chat_json(chat: Chat) -> dict[str, Any]:
        out: dict[str, Any] = {"id": chat.id, "type": chat.type}
        if chat.type != "private":
            out["title"] = chat.title
        else:
            out["first_name"] = "user"
        if chat.is_forum:
            out["is_forum"] = True
        return out

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.api_base = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        async with self._new_update:
            self._new_update.notify_all()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _params(self, request: web.Request, method: str) -> dict[str, Any]:
        """Form fields (JSON-decoded unless the spec says String), JSON bodies or the query."""
        raw: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            body = await request.json()
            raw.update(body if isinstance(body, dict) else {})
            return raw
        if request.can_read_body:
            form = await request.post()
            raw.update({k: v for k, v in form.items() if isinstance(v, str)})
        spec = self.spec.methods.get(method, {})
        types = {f["name"]: f["types"] for f in spec.get("fields", [])}
        out: dict[str, Any] = {}
        for name, value in raw.items():
            if isinstance(value, str) and types.get(name) != ["String"]:
                try:
                    value = json.loads(value)
                except ValueError:
                    pass
            out[name] = value
        return out

    def _fail(self, code: int, description: str, **parameters: Any) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        if parameters:
            body["parameters"] = parameters
        return web.json_response(body, status=code)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return self._fail(401, "Unauthorized")
        params = await self._params(request, method)
        self.calls.append((method, params))
        problems = self.spec.check_call(method, params)
        problems.extend(self._limits(method, params))
        if problems:
            self.violations.extend(problems)
            return self._fail(400, "Bad Request: " + "; ".join(problems)[:300])
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return web.json_response({"ok": True, "result": True})
        result = await handler(params)
        if isinstance(result, web.StreamResponse):
            return result
        return web.json_response({"ok": True, "result": result})

    def _limits(self, method: str, params: dict[str, Any]) -> list[str]:
        problems: list[str] = []
        mode = params.get("parse_mode")
        if mode is not None and mode not in PARSE_MODES:
            problems.append(f"{method}: parse_mode {mode!r} is not one of {sorted(PARSE_MODES)}")
        if method in ("sendMessage", "editMessageText") and isinstance(params.get("text"), str):
            text = params["text"]
            plain, html_problems = parse_html(text) if mode == "HTML" else (text, [])
            problems.extend(f"{method}: can't parse entities: {p}" for p in html_problems)
            if not 1 <= utf16_len(plain.strip()) <= 4096:
                problems.append(f"{method}: text is {utf16_len(plain)} characters after entity parsing (1-4096)")
        if method == "editMessageText" and "inline_message_id" not in params:
            for name in ("chat_id", "message_id"):
                if name not in params:
                    problems.append(f"editMessageText: {name} required without inline_message_id")
        if method == "setMyCommands" and isinstance(params.get("commands"), list):
            for c in params["commands"]:
                if not isinstance(c, dict):
                    continue
                if not COMMAND_RE.match(str(c.get("command", ""))):
                    problems.append(f"setMyCommands: command {c.get('command')!r} is not 1-32 of [a-z0-9_]")
                if not 1 <= len(str(c.get("description", ""))) <= 256:
                    problems.append(f"setMyCommands: description of {c.get('command')!r} is not 1-256 characters")
        return problems

    # ----------------------------------------------------------------- methods
    async def _m_getMe(self, params: dict[str, Any]) -> Any:
        return self._me()

    async def _m_deleteWebhook(self, params: dict[str, Any]) -> Any:
        return True

    async def _m_setMyCommands(self, params: dict[str, Any]) -> Any:
        scope = (params.get("scope") or {"type": "default"})["type"]
        self.commands[scope] = params["commands"]
        return True

    async def _m_getUpdates(self, params: dict[str, Any]) -> Any:
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        self.updates = [u for u in self.updates if u["update_id"] >= offset]
        if not self.updates and timeout > 0:
            async with self._new_update:
                try:
                    await asyncio.wait_for(self._new_update.wait(), timeout)
                except TimeoutError:
                    pass
        limit = int(params.get("limit") or 100)
        return self.updates[:limit]

    def _chat_or_fail(self, chat_id: Any) -> Chat | web.Response:
        chat = self.chats.get(int(chat_id)) if str(chat_id).lstrip("-").isdigit() else None
        if chat is None or chat.bot_status == "gone":
            return self._fail(400, "Bad Request: chat not found")
        return chat

    async def _m_getChatMember(self, params: dict[str, Any]) -> Any:
        chat = self._chat_or_fail(params["chat_id"])
        if isinstance(chat, web.Response):
            return chat
        user = {"id": params["user_id"], "is_bot": False, "first_name": f"user{params['user_id']}"}
        if chat.type == "private":
            return self._member("creator", user)
        return self._member("administrator" if params["user_id"] in chat.admins else "member", user)

    def _member(self, status: str, user: dict[str, Any]) -> dict[str, Any]:
        kind = {"creator": "ChatMemberOwner", "administrator": "ChatMemberAdministrator", "member": "ChatMemberMember",
                "restricted": "ChatMemberRestricted", "left": "ChatMemberLeft", "kicked": "ChatMemberBanned"}[status]
        given: dict[str, Any] = {"status": status, "user": user}
        if kind == "ChatMemberAdministrator":
            # can_send_welcome_messages: Bot API 10.3 (after api.json's 10.1); aiogram 3.31's model
            # requires it and Telegram sends it, so a result without it would not parse
            given.update({"can_manage_chat": True, "can_send_welcome_messages": False})
        if kind == "ChatMemberRestricted":
            given["is_member"] = True
        return self.spec.fill(kind, given)

    def send_fault(self, chat: Chat) -> web.Response | None:
        """What Telegram answers a bot that may not post: by the bot's standing in the chat."""
        if self.rate_limit_next > 0:
            self.rate_limit_next -= 1
            self.rate_limited += 1
            return self._fail(429, f"Too Many Requests: retry after {self.retry_after}", retry_after=self.retry_after)
        if chat.bot_status == "migrated":
            new = next(c.id for c in self.chats.values() if c.title == chat.title and c.id != chat.id)
            return self._fail(400, "Bad Request: group chat was upgraded to a supergroup chat", migrate_to_chat_id=new)
        if chat.bot_status == "kicked":
            if chat.type == "private":
                return self._fail(403, "Forbidden: bot was blocked by the user")
            return self._fail(403, f"Forbidden: bot was kicked from the {chat.type} chat")
        if chat.bot_status == "restricted":
            return self._fail(400, "Bad Request: not enough rights to send text messages to the chat")
        return None

    async def _m_sendMessage(self, params: dict[str, Any]) -> Any:
        chat = self._chat_or_fail(params["chat_id"])
        if isinstance(chat, web.Response):
            return chat
        fault = self.send_fault(chat)
        self.send_times.append((chat.id, asyncio.get_running_loop().time(), fault is not None and fault.status == 429))
        if fault is not None:
            return fault
        thread = params.get("message_thread_id")
        if thread is not None and not chat.is_forum:
            return self._fail(400, "Bad Request: message thread not found")
        reply_to = (params.get("reply_parameters") or {}).get("message_id")
        if reply_to is not None and (chat.id, reply_to) not in self.posted:
            return self._fail(400, "Bad Request: message to be replied not found")
        self._message_id += 1
        plain = parse_html(params["text"])[0] if params.get("parse_mode") == "HTML" else params["text"]
        posted = Posted(self._message_id, chat.id, params["text"], plain, thread, reply_to=reply_to)
        self.posted[(chat.id, posted.message_id)] = posted
        if self.after_send is not None:
            await self.after_send(posted)
        return self._message_json(posted, chat)

    def _message_json(self, posted: Posted, chat: Chat) -> dict[str, Any]:
        out: dict[str, Any] = {"message_id": posted.message_id, "date": 1_800_000_000, "chat": self._chat_json(chat),
                               "from": self._me(), "text": posted.plain}
        if posted.thread_id is not None:
            out["message_thread_id"] = posted.thread_id
            out["is_topic_message"] = True
        return out

    async def _m_editMessageText(self, params: dict[str, Any]) -> Any:
        chat = self._chat_or_fail(params["chat_id"])
        if isinstance(chat, web.Response):
            return chat
        fault = self.send_fault(chat)
        if fault is not None:
            return fault
        posted = self.posted.get((chat.id, int(params["message_id"])))
        if posted is None:
            return self._fail(400, "Bad Request: message to edit not found")
        if posted.text == params["text"]:
            return self._fail(400, "Bad Request: message is not modified: specified new message content and "
                                   "reply markup are exactly the same as a current content and reply markup of the message")
        posted.text = params["text"]
        posted.plain = parse_html(params["text"])[0] if params.get("parse_mode") == "HTML" else params["text"]
        posted.edits += 1
        return self._message_json(posted, chat)
