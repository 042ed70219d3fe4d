"""A real aiohttp feed server on 127.0.0.1 that tests program path by path.

Each path serves a :class:`Response` (or a script of them, one per request, the last repeating).
Besides plain documents it can misbehave on purpose: error statuses with headers, a body that
drips one byte at a time, a gzip bomb, bytes in the wrong charset, a hang before the headers,
redirects, and a delay that makes parallel requests overlap so concurrency can be counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import struct
import time
import zlib
from collections import defaultdict
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any

from aiohttp import web

RSS_TYPE = "application/rss+xml; charset=utf-8"


@dataclass(frozen=True)
class Response:
    """What one request to a path gets.

    ``delay`` waits before answering (to make concurrent requests overlap); ``hang`` waits that
    long before sending any header. ``drip`` sends the body one byte per ``drip`` seconds.
    ``gzip`` compresses the body with ``Content-Encoding: gzip``; ``bomb`` ignores ``body`` and
    streams gzip of that many zero bytes, compressing lazily so nothing large is held in memory.
    """

    body: bytes = b""
    status: int = 200
    content_type: str | None = RSS_TYPE
    headers: Mapping[str, str] = field(default_factory=dict)
    etag: bool = True
    last_modified: str | None = None
    delay: float = 0.0
    hang: float = 0.0
    drip: float | None = None
    gzip: bool = False
    bomb: int | None = None


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server saw. ``time`` is ``time.monotonic()`` at arrival."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    time: float


def _etag_for(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _etag_matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    # Weak comparison, as RFC 9110 requires for If-None-Match.
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in header.split(","))


def _not_modified_since(header: str, last_modified: str) -> bool:
    try:
        return parsedate_to_datetime(last_modified) <= parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return False


class FeedServer:
    """The server. Build with :func:`start_feed_server`; ``stop`` (or leave the context) after."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.base_url = ""
        self._scripts: dict[str, list[Response]] = {}
        self._served: dict[str, int] = defaultdict(int)
        self._requests: dict[str, list[RecordedRequest]] = defaultdict(list)
        self._in_flight: dict[str, int] = defaultdict(int)
        self._max_in_flight: dict[str, int] = defaultdict(int)
        self._total_in_flight = 0
        self.max_total_in_flight = 0
        self.bytes_sent: dict[str, int] = defaultdict(int)
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> FeedServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # handler_cancellation: a handler stops as soon as the client gives up on it.
        self._runner = web.AppRunner(
            app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://{self.host}:{port}"
        return self

    async def stop(self) -> None:
        self._closing.set()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> FeedServer:
        if self._runner is None:
            await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- programming -------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def set(
        self,
        path: str,
        body: bytes | str,
        *,
        content_type: str | None = RSS_TYPE,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        etag: bool = True,
        last_modified: str | None = None,
    ) -> None:
        """Serve ``body`` at ``path`` from now on (replacing any script)."""
        self.script(
            path,
            [
                Response(
                    body=body.encode("utf-8") if isinstance(body, str) else body,
                    status=status,
                    content_type=content_type,
                    headers=dict(headers or {}),
                    etag=etag,
                    last_modified=last_modified,
                )
            ],
        )

    def script(self, path: str, responses: Sequence[Response]) -> None:
        """Serve ``responses`` in turn on successive requests; the last one repeats."""
        if not responses:
            raise ValueError("a script needs at least one response")
        path = self._norm(path)
        self._scripts[path] = list(responses)
        self._served[path] = 0

    def status(
        self, path: str, status: int, *, headers: Mapping[str, str] | None = None, body: str = ""
    ) -> None:
        """Answer ``status`` (e.g. 429 with ``{"Retry-After": "30"}``)."""
        self.set(path, body, status=status, headers=headers, etag=False, content_type="text/plain")

    def redirect(self, path: str, location: str, *, status: int = 302) -> None:
        self.status(path, status, headers={"Location": location})

    def drip(self, path: str, body: bytes | str, *, interval: float) -> None:
        """Send ``body`` one byte every ``interval`` seconds."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.script(path, [Response(body=data, drip=interval, etag=False)])

    def hang(self, path: str, seconds: float = 3600.0) -> None:
        """Accept the request, then send nothing (not even headers) for ``seconds``."""
        self.script(path, [Response(hang=seconds, etag=False)])

    def gzip_bomb(self, path: str, decoded_size: int) -> None:
        """Serve ``Content-Encoding: gzip`` that inflates to ``decoded_size`` zero bytes."""
        self.script(path, [Response(bomb=decoded_size, etag=False)])

    # -- observation -------------------------------------------------------------------------

    def requests(self, path: str) -> list[RecordedRequest]:
        return list(self._requests[self._norm(path)])

    def max_concurrent(self, path: str | None = None) -> int:
        """Most requests in flight at once, on ``path`` or (None) on the whole server."""
        if path is None:
            return self.max_total_in_flight
        return self._max_in_flight[self._norm(path)]

    # -- serving -----------------------------------------------------------------------------

    @staticmethod
    def _norm(path: str) -> str:
        return path.split("?", 1)[0] if path.startswith("/") else "/" + path.split("?", 1)[0]

    def _next(self, path: str) -> Response | None:
        script = self._scripts.get(path)
        if script is None:
            return None
        index = min(self._served[path], len(script) - 1)
        self._served[path] += 1
        return script[index]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self._requests[path].append(
            RecordedRequest(
                method=request.method,
                path=path,
                query=request.query_string,
                headers=dict(request.headers),
                time=time.monotonic(),
            )
        )
        self._in_flight[path] += 1
        self._total_in_flight += 1
        self._max_in_flight[path] = max(self._max_in_flight[path], self._in_flight[path])
        self.max_total_in_flight = max(self.max_total_in_flight, self._total_in_flight)
        try:
            spec = self._next(path)
            if spec is None:
                return web.Response(status=404, text="no such feed")
            wait = spec.hang or spec.delay
            if wait:
                await self._pause(wait)
            return await self._respond(request, spec)
        finally:
            self._in_flight[path] -= 1
            self._total_in_flight -= 1

    async def _pause(self, seconds: float) -> None:
        # Wakes early when the server stops, so teardown never waits on a hanging handler.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), timeout=seconds)

    async def _respond(self, request: web.Request, spec: Response) -> web.StreamResponse:
        headers: dict[str, str] = dict(spec.headers)
        if spec.content_type is not None:
            headers["Content-Type"] = spec.content_type
        if spec.last_modified is not None:
            headers["Last-Modified"] = spec.last_modified
        if spec.etag and spec.status == 200:
            headers["ETag"] = _etag_for(spec.body)
        if spec.status == 200 and self._is_not_modified(request, headers):
            kept = {k: v for k, v in headers.items() if k in ("ETag", "Last-Modified")}
            return web.Response(status=304, headers=kept)
        if spec.bomb is not None:
            return await self._send_bomb(request, spec.bomb, headers)
        if spec.drip is not None:
            return await self._send_drip(request, spec, headers)
        body = spec.body
        if spec.gzip:
            body = _gzip(body)
            headers["Content-Encoding"] = "gzip"
        self.bytes_sent[request.path] += len(body)
        return web.Response(status=spec.status, body=body, headers=headers)

    @staticmethod
    def _is_not_modified(request: web.Request, headers: Mapping[str, str]) -> bool:
        inm = request.headers.get("If-None-Match")
        if inm is not None and "ETag" in headers:
            return _etag_matches(inm, headers["ETag"])
        ims = request.headers.get("If-Modified-Since")
        if ims is not None and "Last-Modified" in headers:
            return _not_modified_since(ims, headers["Last-Modified"])
        return False

    async def _send_drip(
        self, request: web.Request, spec: Response, headers: dict[str, str]
    ) -> web.StreamResponse:
        headers["Content-Length"] = str(len(spec.body))
        resp = web.StreamResponse(status=spec.status, headers=headers)
        await resp.prepare(request)
        assert spec.drip is not None
        for i in range(len(spec.body)):
            if self._closing.is_set():
                break
            await resp.write(spec.body[i : i + 1])
            self.bytes_sent[request.path] += 1
            await self._pause(spec.drip)
        await resp.write_eof()
        return resp

    async def _send_bomb(
        self, request: web.Request, size: int, headers: dict[str, str]
    ) -> web.StreamResponse:
        headers["Content-Encoding"] = "gzip"
        resp = web.StreamResponse(status=200, headers=headers)
        await resp.prepare(request)
        try:
            for piece in _gzip_zeros(size):
                await resp.write(piece)
                self.bytes_sent[request.path] += len(piece)
                await asyncio.sleep(0)  # pieces are tiny; let the client run between them
            await resp.write_eof()
        except ConnectionError:
            pass  # the client hung up, as it should once its cap is hit
        return resp


def _gzip(data: bytes) -> bytes:
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    return comp.compress(data) + comp.flush()


_ZEROS = bytes(1024 * 1024)


def _raw_deflate_block(size: int) -> bytes:
    # A full flush ends the block byte-aligned with no back-references past it, so such blocks
    # can be concatenated into one valid deflate stream.
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    return comp.compress(bytes(size)) + comp.flush(zlib.Z_FULL_FLUSH)


_ZERO_BLOCK = _raw_deflate_block(len(_ZEROS))


def _gzip_zeros(size: int) -> Generator[bytes, None, None]:
    """A valid gzip stream of ``size`` zero bytes, built from one precompressed block."""
    yield b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    whole, rest = divmod(size, len(_ZEROS))
    for _ in range(whole):
        yield _ZERO_BLOCK
    if rest:
        yield _raw_deflate_block(rest)
    # The trailer is only reached by a client that reads everything, so compute it lazily.
    crc = 0
    for _ in range(whole):
        crc = zlib.crc32(_ZEROS, crc)
    crc = zlib.crc32(bytes(rest), crc)
    final = zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)
    yield final + struct.pack("<II", crc, size & 0xFFFFFFFF)


class _Starter:
    """Lets ``start_feed_server()`` be awaited or used as ``async with``."""

    def __init__(self, host: str) -> None:
        self._server = FeedServer(host)

    def __await__(self) -> Generator[Any, None, FeedServer]:
        return self._server.start().__await__()

    async def __aenter__(self) -> FeedServer:
        return await self._server.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._server.stop()


def start_feed_server(host: str = "127.0.0.1") -> _Starter:
    """``server = await start_feed_server()`` or ``async with start_feed_server() as server``.

    ``host`` may be any loopback address (127.0.0.2, ...): SSRF tests use a second address to
    play a "public" server next to an "internal" one.
    """
    return _Starter(host)
