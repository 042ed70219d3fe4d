"""A fake Discord on 127.0.0.1: the REST subset and the gateway Herald's adapter talks to.

Real discord.py connects to it unmodified (``Route.BASE`` and ``DiscordWebSocket.DEFAULT_GATEWAY``
point here). Responses are built from payloads captured from the real platform
(``/work/shared/data/payloads/discord/``): the bot user, READY, GUILD_CREATE, the created message
and INTERACTION_CREATE, with only the ids a test needs rewritten. Every HTTP request is recorded
so tests can await one; channels can be made to answer 429 (with ``Via``, a JSON ``retry_after``
and ``X-RateLimit-*`` headers, as Discord does), 403, 404 or 5xx, and the whole API can be put
behind a Cloudflare block (429, an HTML body, no ``Via``, maybe ``Retry-After``).

Facts discord.py depends on: ``Content-Type`` must be exactly ``application/json`` (a charset
suffix makes it read the body as text), a 429 without ``Via`` is taken for a Cloudflare ban, the
interaction callback is called with ``?with_response=1`` and must answer ``{"interaction": ...}``,
and interaction payloads need ``attachment_size_limit``.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import WSMsgType, web

TOKEN = "fake.discord.bot-token"  # a test credential for a fake server
ADMIN_PERMISSIONS = "9007199254740991"  # every bit, as the captured admin member has
MEMBER_PERMISSIONS = "2248473465835073"  # the captured @everyone role: no Manage Server


@dataclass(frozen=True)
class Recorded:
    """One HTTP request the fake answered."""

    method: str
    path: str  # without the /api/v10 prefix
    query: dict[str, str]
    body: Any
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)


@dataclass
class Fault:
    """How the next ``times`` requests to a channel fail."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    times: int


def _load(directory: Path, name: str) -> Any:
    return json.loads((directory / name).read_text(encoding="utf-8"))


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # Exactly "application/json": aiohttp's json_response adds "; charset=utf-8", which
    # discord.py then treats as text.
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


class FakeDiscord:
    """The server. Use ``async with FakeDiscord(payload_dir) as fake``."""

    API = "/api/v10"

    def __init__(self, payloads: Path, *, token: str = TOKEN) -> None:
        self.token = token
        accord = payloads / "accord-jl"
        self.me: dict[str, Any] = _load(accord, "rest_get_me.json")[0]
        self.ready: dict[str, Any] = _load(accord, "gateway_ready.json")[0]
        self.guild_create: dict[str, Any] = _load(accord, "gateway_guild_create.json")[0]
        self.message_template: dict[str, Any] = _load(accord, "rest_create_message.json")[0]
        self.interaction_template: dict[str, Any] = _load(
            accord, "gateway_interaction_create.json"
        )[0]["d"]
        self.gateway_bot: dict[str, Any] = _load(accord, "rest_get_gateway_bot.json")[0]
        self.app_id: str = self.me["id"]
        self.guild_id: str = self.guild_create["d"]["id"]

        self.requests: list[Recorded] = []
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.commands: dict[str, list[dict[str, Any]]] = {}  # "global" or a guild id
        self.identifies = 0
        self.identify_payloads: list[dict[str, Any]] = []
        self.resumes = 0
        self.faults: dict[str, list[Fault]] = {}
        self.reject_all_auth = False
        self.cloudflare: dict[str, str] | None = None  # the block's headers while it lasts

        self._ids = itertools.count(910_000_000_000_000_001)
        self._changed = asyncio.Condition()
        self._ws: web.WebSocketResponse | None = None
        self._ws_lock = asyncio.Lock()
        self._seq = 0
        self._session = ""
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def api_base_url(self) -> str:
        return self.base_url + self.API

    @property
    def gateway_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/gateway"

    async def start(self) -> FakeDiscord:
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", self.API + "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if self._ws is not None:
            await self._ws.close()
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- programming -------------------------------------------------------------------------

    def rate_limit(self, channel: str, retry_after: float, *, times: int = 1) -> None:
        """The next ``times`` posts to ``channel`` get Discord's 429 (user scope)."""
        self.faults.setdefault(channel, []).append(
            Fault(
                429,
                {
                    "message": "You are being rate limited.",
                    "retry_after": retry_after,
                    "global": False,
                },
                {
                    "Via": "1.1 google",
                    "Retry-After": str(max(1, round(retry_after))),
                    "X-RateLimit-Limit": "5",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset-After": str(retry_after),
                    "X-RateLimit-Bucket": "abcd1234",
                    "X-RateLimit-Scope": "user",
                },
                times,
            )
        )

    def fail_channel(self, channel: str, status: int, *, times: int = 1_000_000) -> None:
        """Posts to ``channel`` answer ``status`` (403 Missing Permissions, 404 Unknown Channel,
        5xx) for the next ``times`` requests."""
        body = {
            403: {"message": "Missing Permissions", "code": 50013},
            404: {"message": "Unknown Channel", "code": 10003},
            401: {"message": "401: Unauthorized", "code": 0},
        }.get(status, {"message": "Service Unavailable", "code": 0})
        self.faults.setdefault(channel, []).append(Fault(status, body, {}, times))

    def cloudflare_block(self, retry_after: int | None = None) -> None:
        """Answer every REST request as Cloudflare does for a banned IP until :meth:`unblock`."""
        self.cloudflare = {} if retry_after is None else {"Retry-After": str(retry_after)}

    def unblock(self) -> None:
        self.cloudflare = None

    # -- observation -------------------------------------------------------------------------

    def posts_to(self, channel: str) -> list[Recorded]:
        return [
            r
            for r in self.requests
            if r.method == "POST" and r.path == f"/channels/{channel}/messages"
        ]

    async def wait_for(
        self, predicate: Callable[[Recorded], bool], *, count: int = 1, within: float = 5.0
    ) -> list[Recorded]:
        """Wait until ``count`` recorded requests satisfy ``predicate``; return them."""

        def matching() -> list[Recorded]:
            return [r for r in self.requests if predicate(r)]

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(matching()) >= count), within)
        return matching()

    async def wait_callback(self, interaction_id: str, within: float = 5.0) -> Recorded:
        path = f"/interactions/{interaction_id}/"
        hits = await self.wait_for(
            lambda r: r.path.startswith(path) and r.path.endswith("/callback"), within=within
        )
        return hits[0]

    async def _record(self, rec: Recorded) -> None:
        async with self._changed:
            self.requests.append(rec)
            self._changed.notify_all()

    # -- REST --------------------------------------------------------------------------------

    def _message(self, channel: str, body: dict[str, Any], **extra: Any) -> dict[str, Any]:
        msg = copy.deepcopy(self.message_template)
        msg.update(
            id=str(next(self._ids)),
            channel_id=channel,
            content=body.get("content") or "",
            embeds=body.get("embeds") or [],
            flags=body.get("flags") or 0,
            author={**msg["author"], "id": self.app_id},
            **extra,
        )
        if body.get("nonce") is not None:
            msg["nonce"] = body["nonce"]
        return msg

    async def _rest(self, request: web.Request) -> web.Response:
        path = request.path.removeprefix(self.API)
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
        response = self._answer(request, path, body)
        await self._record(
            Recorded(
                request.method,
                path,
                dict(request.query),
                body,
                response.status,
                dict(request.headers),
            )
        )
        return response

    def _answer(self, request: web.Request, path: str, body: Any) -> web.Response:
        if self.cloudflare is not None:
            return web.Response(
                status=429,
                text="<!DOCTYPE html><title>Access denied | discord.com used Cloudflare</title>"
                "<p>error code: 1015</p>",
                content_type="text/html",
                headers={
                    "Server": "cloudflare",
                    "CF-RAY": "8f0c0ffee0000000-FRA",
                    **self.cloudflare,
                },
            )
        parts = path.strip("/").split("/")
        method = request.method
        is_webhook = parts[0] in ("webhooks", "interactions")
        if not is_webhook and (
            self.reject_all_auth or request.headers.get("Authorization") != f"Bot {self.token}"
        ):
            return _json({"message": "401: Unauthorized", "code": 0}, 401)
        if method == "GET" and path == "/users/@me":
            return _json(self.me)
        if method == "GET" and path == "/oauth2/applications/@me":
            return _json(self._application())
        if method == "GET" and path == "/gateway/bot":
            return _json({**self.gateway_bot, "url": self.gateway_url})
        if method == "GET" and path == "/gateway":
            return _json({"url": self.gateway_url})
        if method == "PUT" and parts[0] == "applications" and parts[-1] == "commands":
            target = parts[3] if len(parts) == 5 and parts[2] == "guilds" else "global"
            synced = [
                {
                    "id": str(next(self._ids)),
                    "application_id": self.app_id,
                    "version": "1",
                    **({"guild_id": target} if target != "global" else {}),
                    **cmd,
                }
                for cmd in body
            ]
            self.commands[target] = synced
            return _json(synced)
        if method == "POST" and parts[0] == "channels" and parts[-1] == "messages":
            return self._post_message(parts[1], body)
        if method == "POST" and parts[0] == "interactions" and parts[-1] == "callback":
            return self._callback(parts[1], body)
        if parts[0] == "webhooks" and method in ("POST", "PATCH"):
            return _json(
                self._message(
                    str(self.interaction_template["channel_id"]), body, webhook_id=parts[1]
                )
            )
        return _json({"message": "404: Not Found", "code": 0}, 404)

    def _application(self) -> dict[str, Any]:
        return {
            "id": self.app_id,
            "name": "Herald",
            "description": "",
            "icon": None,
            "bot_public": False,
            "bot_require_code_grant": False,
            "owner": self.me,
            "verify_key": "0" * 64,
            "flags": self.ready["d"]["application"]["flags"],
        }

    def _post_message(self, channel: str, body: dict[str, Any]) -> web.Response:
        queue = self.faults.get(channel)
        if queue:
            fault = queue[0]
            fault.times -= 1
            if fault.times <= 0:
                queue.pop(0)
            return _json(fault.body, fault.status, fault.headers)
        sent = self.messages.setdefault(channel, [])
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            # Discord returns the earlier message instead of posting a duplicate.
            for old in sent:
                if old.get("nonce") == nonce:
                    return _json(old)
        msg = self._message(channel, body)
        sent.append(msg)
        return _json(msg)

    def _callback(self, interaction_id: str, body: dict[str, Any]) -> web.Response:
        kind = int(body.get("type", 0))
        flags = int((body.get("data") or {}).get("flags") or 0)
        return _json(
            {
                "interaction": {
                    "id": interaction_id,
                    "type": 2,
                    "response_message_loading": kind == 5,
                    "response_message_ephemeral": bool(flags & 64),
                }
            }
        )

    # -- gateway -----------------------------------------------------------------------------

    async def _send(self, payload: dict[str, Any]) -> None:
        async with self._ws_lock:
            if self._ws is None or self._ws.closed:
                raise RuntimeError("no gateway connection")
            await self._ws.send_str(json.dumps(payload))

    async def _dispatch(self, event: str, data: dict[str, Any]) -> None:
        self._seq += 1
        await self._send({"op": 0, "t": event, "s": self._seq, "d": data})

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._ws = ws
        await self._send({"op": 10, "s": None, "t": None, "d": {"heartbeat_interval": 41250}})
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            op = frame.get("op")
            if op == 1:
                await self._send({"op": 11, "s": None, "t": None, "d": None})
            elif op == 2:
                await self._identify(ws, frame["d"])
            elif op == 6:
                self.resumes += 1
                if frame["d"].get("session_id") != self._session:
                    await self._send({"op": 9, "s": None, "t": None, "d": False})
                    continue
                await self._dispatch("RESUMED", {})
                async with self._changed:
                    self._changed.notify_all()
        return ws

    async def _identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> None:
        if data.get("token") != self.token:
            await ws.close(code=4004, message=b"Authentication failed.")
            return
        self.identifies += 1
        self.identify_payloads.append(data)
        self._seq = 0
        self._session = f"session-{self.identifies}"
        ready = copy.deepcopy(self.ready["d"])
        ready.update(
            session_id=self._session,
            resume_gateway_url=self.gateway_url,
            user={**ready["user"], "id": self.app_id},
            guilds=[{"id": self.guild_id, "unavailable": True}],
            application={**ready["application"], "id": self.app_id},
        )
        await self._dispatch("READY", ready)
        await self._dispatch("GUILD_CREATE", copy.deepcopy(self.guild_create["d"]))
        async with self._changed:
            self._changed.notify_all()

    async def wait_connected(self, *, identifies: int = 1, within: float = 5.0) -> None:
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: self.identifies >= identifies), within
            )

    async def wait_resumed(self, *, resumes: int = 1, within: float = 5.0) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: self.resumes >= resumes), within)

    async def reconnect(self) -> None:
        """Ask the client to reconnect (op 7); discord.py closes and RESUMEs the session."""
        await self._send({"op": 7, "s": None, "t": None, "d": None})

    # -- interactions ------------------------------------------------------------------------

    def interaction(
        self,
        command: str,
        subcommand: str,
        options: dict[str, Any] | None = None,
        *,
        channel: str = "111",
        user_id: str = "900000000000000026",
        permissions: str = ADMIN_PERMISSIONS,
        focused: str | None = None,
    ) -> dict[str, Any]:
        """An INTERACTION_CREATE payload (the captured one, re-addressed) for
        ``/command subcommand option:value``; ``focused`` makes it an autocomplete request."""
        d = copy.deepcopy(self.interaction_template)
        iid = str(next(self._ids))
        opts = [
            {"type": 4 if isinstance(v, int) else 3, "name": k, "value": v}
            | ({"focused": True} if k == focused else {})
            for k, v in (options or {}).items()
        ]
        d.update(
            id=iid,
            token=f"itoken-{iid}",
            type=4 if focused else 2,
            application_id=self.app_id,
            guild_id=self.guild_id,
            channel_id=channel,
            data={
                "id": str(next(self._ids)),
                "name": command,
                "type": 1,
                "guild_id": self.guild_id,
                "options": [{"type": 1, "name": subcommand, "options": opts}],
            },
        )
        d["channel"] = {**d["channel"], "id": channel, "guild_id": self.guild_id}
        d["guild"] = {**d["guild"], "id": self.guild_id}
        d["authorizing_integration_owners"] = {"0": self.guild_id}
        member = d["member"]
        member["permissions"] = permissions
        member["roles"] = []
        member["user"] = {**member["user"], "id": user_id}
        return d

    async def interact(self, payload: dict[str, Any]) -> str:
        """Dispatch ``payload`` as INTERACTION_CREATE; returns the interaction id."""
        await self._dispatch("INTERACTION_CREATE", payload)
        return str(payload["id"])
