"""A fake Slack on 127.0.0.1: the Web API methods Herald and bolt call, a response_url sink, and a
Socket Mode websocket.

The real ``AsyncWebClient``/``AsyncApp``/``AsyncSocketModeHandler`` talk to it unmodified (point
``api_base_url`` at :attr:`FakeSlack.api_url`). It checks bearer tokens like Slack does, records
every call (method, arguments from query/form/JSON, headers, what it answered) and can misbehave
on demand: ``{"ok": false, "error": ...}`` per method and channel, HTTP 429 with ``Retry-After``,
5xx, or a dropped connection before or after the request took effect (a lost answer). Posted
messages are kept per channel with their message metadata and served back by
``conversations.history`` (newest first, ``oldest``/``latest``, cursor pages, metadata only with
``include_all_metadata``). Given a clock, ``ts`` values follow it. The websocket says ``hello``,
delivers envelopes, records the client's acks and can ask the client to reconnect with a
``disconnect`` message. Tests wait on :meth:`FakeSlack.wait_for`, never on sleeps.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import WSMsgType, web

from bot.clock import Clock

BOT_TOKEN = "xoxb-herald-test-bot-token-0000"
APP_TOKEN = "xapp-1-herald-test-app-token-0000"
TEAM_ID = "T0HERALD"
BOT_USER_ID = "U0HERALDBOT"


@dataclass(frozen=True)
class ApiCall:
    """One Web API request: ``args`` merges query, form and JSON body; ``error`` is what the
    fake answered (None for ``ok: true``)."""

    method: str
    http_method: str
    args: dict[str, Any]
    headers: dict[str, str]
    status: int
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.error is None


@dataclass(frozen=True)
class SinkPost:
    """One POST to a response_url."""

    path: str
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class _Rule:
    method: str
    channel: str | None
    status: int
    error: str | None
    headers: dict[str, str]
    remaining: int | None  # None: forever
    drop: str | None = None  # "before"/"after" the request takes effect: close, no answer

    def matches(self, method: str, args: dict[str, Any]) -> bool:
        if self.method != method or self.remaining == 0:
            return False
        return self.channel is None or args.get("channel") == self.channel


@dataclass
class FakeSlack:
    bot_token: str = BOT_TOKEN
    app_token: str = APP_TOKEN
    team_id: str = TEAM_ID
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    base_url: str = ""
    calls: list[ApiCall] = field(default_factory=list)
    sink: list[SinkPost] = field(default_factory=list)
    acks: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    ws_connections: int = 0
    clock: Clock | None = None
    channels: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rules: list[_Rule] = []
        self._sockets: list[web.WebSocketResponse] = []
        self._runner: web.AppRunner | None = None
        self._cond = asyncio.Condition()
        self._ts = itertools.count(1)
        self._envelopes = itertools.count(1)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{name}", self._response_sink)
        app.router.add_get("/ws", self._websocket)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> FakeSlack:
        return await self.start()

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- programming -------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    def response_url(self, name: str = "r1") -> str:
        return f"{self.base_url}/response/{name}"

    def add_user(self, user_id: str, *, is_admin: bool = False, is_owner: bool = False) -> None:
        self.users[user_id] = {
            "id": user_id,
            "team_id": self.team_id,
            "name": user_id.lower(),
            "is_admin": is_admin,
            "is_owner": is_owner,
            "is_primary_owner": False,
            "is_bot": False,
        }

    def fail(
        self,
        method: str,
        error: str,
        *,
        channel: str | None = None,
        times: int | None = None,
        status: int = 200,
    ) -> None:
        """Answer ``{"ok": false, "error": error}`` (Slack's usual shape, HTTP 200)."""
        self._rules.append(_Rule(method, channel, status, error, {}, times))

    def rate_limit(self, method: str, retry_after: int = 1, *, times: int | None = 1) -> None:
        """Answer HTTP 429 ``ratelimited`` with ``Retry-After`` (as Slack does)."""
        self._rules.append(
            _Rule(method, None, 429, "ratelimited", {"Retry-After": str(retry_after)}, times)
        )

    def server_error(self, method: str, status: int = 500, *, times: int | None = 1) -> None:
        """Answer a bare 5xx with an HTML body, like a load balancer in trouble."""
        self._rules.append(_Rule(method, None, status, None, {}, times))

    def drop(self, method: str, *, after: bool = True, times: int | None = 1) -> None:
        """Close the connection without answering: ``after`` the call took effect (a message
        posted whose answer was lost) or before it did."""
        self._rules.append(
            _Rule(method, None, 0, None, {}, times, drop="after" if after else "before")
        )

    def add_message(
        self, channel: str, text: str = "chatter", *, metadata: dict[str, Any] | None = None
    ) -> str:
        """A message someone else posted (no API call recorded); returns its ``ts``."""
        return str(self._store(channel, {"text": text, "metadata": metadata}, "B0OTHER")["ts"])

    # -- observation -------------------------------------------------------------------------

    def of(self, method: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method == method]

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """What ``channel`` shows, oldest first (whatever the API calls' fate)."""
        return list(self.channels.get(channel, []))

    def posts(self, channel: str | None = None) -> list[ApiCall]:
        """Successful ``chat.postMessage`` calls (to ``channel``)."""
        return [
            c
            for c in self.of("chat.postMessage")
            if c.ok and (channel is None or c.args.get("channel") == channel)
        ]

    async def wait_for(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        """Return once ``predicate()`` holds (re-checked on every request the fake sees)."""
        async with self._cond:
            await asyncio.wait_for(self._cond.wait_for(predicate), within)

    async def _changed(self) -> None:
        async with self._cond:
            self._cond.notify_all()

    # -- Socket Mode -------------------------------------------------------------------------

    async def send_envelope(
        self, kind: str, payload: dict[str, Any], *, accepts_response_payload: bool = True
    ) -> str:
        """Deliver ``payload`` as a Socket Mode envelope on the newest connection."""
        envelope_id = f"env-{next(self._envelopes)}"
        message = {
            "envelope_id": envelope_id,
            "payload": payload,
            "type": kind,
            "accepts_response_payload": accepts_response_payload,
        }
        await self._newest_socket().send_str(json.dumps(message))
        return envelope_id

    async def send_disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask the client to reconnect, as Slack does every few hours."""
        message = {"type": "disconnect", "reason": reason, "debug_info": {"host": "fake-slack"}}
        await self._newest_socket().send_str(json.dumps(message))

    def _newest_socket(self) -> web.WebSocketResponse:
        live = [ws for ws in self._sockets if not ws.closed]
        if not live:
            raise RuntimeError("no Socket Mode client is connected")
        return live[-1]

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        if request.query.get("ticket") is None:
            await ws.close(code=4001, message=b"no ticket")
            return ws
        self._sockets.append(ws)
        self.ws_connections += 1
        hello = {
            "type": "hello",
            "num_connections": len(self._sockets),
            "debug_info": {"host": "fake-slack", "approximate_connection_time": 18060},
            "connection_info": {"app_id": "A0HERALD"},
        }
        await ws.send_str(json.dumps(hello))
        await self._changed()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                if isinstance(data, dict) and "envelope_id" in data:
                    self.acks[str(data["envelope_id"])] = data.get("payload")
                    await self._changed()
        finally:
            await self._changed()
        return ws

    # -- HTTP --------------------------------------------------------------------------------

    async def _response_sink(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.sink.append(SinkPost(request.path, body, dict(request.headers)))
        await self._changed()
        return web.Response(text="ok", content_type="text/plain")

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                args.update(body)
        elif request.method == "POST":
            args.update(await request.post())
        status, headers, data, drop = self._answer(
            method, args, request.headers.get("Authorization")
        )
        error = None if data.get("ok") else str(data.get("error"))
        if drop is not None:
            status, error = 0, f"dropped {drop}"
        self.calls.append(
            ApiCall(method, request.method, args, dict(request.headers), status, error)
        )
        await self._changed()
        if drop is not None:
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=500)  # never reaches the client
        if status >= 500:
            return web.Response(
                status=status, text="<html>upstream trouble</html>", content_type="text/html"
            )
        return web.json_response(data, status=status, headers=headers)

    def _answer(
        self, method: str, args: dict[str, Any], authorization: str | None
    ) -> tuple[int, dict[str, str], dict[str, Any], str | None]:
        want = self.app_token if method == "apps.connections.open" else self.bot_token
        if not authorization:
            return 200, {}, {"ok": False, "error": "not_authed"}, None
        if authorization != f"Bearer {want}":
            return 200, {}, {"ok": False, "error": "invalid_auth"}, None
        drop: str | None = None
        for rule in self._rules:
            if rule.matches(method, args):
                if rule.remaining is not None:
                    rule.remaining -= 1
                if rule.drop is None:
                    return rule.status, dict(rule.headers), {"ok": False, "error": rule.error}, None
                drop = rule.drop
                break
        handler = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "conversations.history": self._history,
            "users.info": self._users_info,
            "apps.connections.open": self._connections_open,
        }.get(method)
        if handler is None:
            return 200, {}, {"ok": False, "error": "unknown_method"}, drop
        if drop == "before":
            return 200, {}, {"ok": False, "error": "dropped"}, drop
        return 200, {}, handler(args), drop

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://herald-test.slack.com/",
            "team": "Herald Test",
            "user": "herald",
            "team_id": self.team_id,
            "user_id": BOT_USER_ID,
            "bot_id": "B0HERALD",
            "is_enterprise_install": False,
        }

    def _post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not args.get("text") and not args.get("blocks"):
            return {"ok": False, "error": "no_text"}
        metadata = args.get("metadata")
        if metadata is not None and (
            not isinstance(metadata, dict)
            or not isinstance(metadata.get("event_type"), str)
            or not isinstance(metadata.get("event_payload"), dict)
        ):
            return {"ok": False, "error": "invalid_metadata_format"}
        message = self._store(str(channel), args, "B0HERALD")
        public = {k: v for k, v in message.items() if k != "metadata"}
        return {"ok": True, "channel": channel, "ts": message["ts"], "message": public}

    def _store(self, channel: str, args: dict[str, Any], bot_id: str) -> dict[str, Any]:
        seq = next(self._ts)
        seconds = int(self.clock.now().timestamp()) if self.clock is not None else 1780000000
        message: dict[str, Any] = {
            "type": "message",
            "bot_id": bot_id,
            "text": args.get("text"),
            "ts": f"{seconds}.{seq:06d}",
        }
        if args.get("blocks"):
            message["blocks"] = args["blocks"]
        if args.get("metadata"):
            message["metadata"] = args["metadata"]
        self.channels.setdefault(channel, []).append(message)
        return message

    def _history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel") or "")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        oldest = float(args.get("oldest") or 0)
        latest = float(args["latest"]) if args.get("latest") else float("inf")
        limit = min(999, int(args.get("limit") or 100))
        start = int(args.get("cursor") or 0)
        with_metadata = str(args.get("include_all_metadata")).lower() in ("1", "true")
        window = [
            m for m in reversed(self.channels.get(channel, [])) if oldest < float(m["ts"]) < latest
        ]
        page = window[start : start + limit]
        more = start + limit < len(window)
        messages = [
            m if with_metadata else {k: v for k, v in m.items() if k != "metadata"} for m in page
        ]
        return {
            "ok": True,
            "messages": messages,
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user")))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": user}

    def _connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        ticket = next(self._envelopes)
        ws_base = self.base_url.replace("http://", "ws://", 1)
        return {"ok": True, "url": f"{ws_base}/ws?ticket={ticket}"}
