"""A fake Discord that enforces Discord's documented REST rate limits, for the fan-out bench.

It is the test suite's :class:`tests.fakes.fake_discord.FakeDiscord` (gateway, login, command
sync, message creation built from captured payloads) plus the limits: 50 requests per second
per bot (global, fixed one-second windows) and a per-route bucket of 5 messages per 5 s per
channel, announced on every answer with ``X-RateLimit-*`` headers. Beyond either limit it
answers 429 with ``Via``, ``Retry-After`` and a JSON ``retry_after`` (``global: true`` and
``X-RateLimit-Global`` for the global one), as Discord does. ``GET /api/v10/_bench/stats``
reports what was sent and refused. Run standalone with ``python -m bench.fake_discord``.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.fakes.fake_discord import TOKEN, FakeDiscord, _json

PAYLOADS = Path(__file__).resolve().parents[2] / "shared" / "data" / "payloads" / "discord"
GLOBAL_PER_SECOND = 50
ROUTE_LIMIT = 5
ROUTE_WINDOW = 5.0


class RateLimitedDiscord(FakeDiscord):
    def __init__(self, payloads: Path = PAYLOADS) -> None:
        super().__init__(payloads)
        self._window = 0
        self._window_count = 0
        self._routes: dict[str, tuple[float, int]] = {}  # channel → (window start, used)
        self.ok_posts = 0
        self.first_ok = 0.0
        self.last_ok = 0.0
        self.global_429 = 0
        self.route_429 = 0
        self.peak_per_second = 0
        self.requests.clear()

    async def _record(self, rec: Any) -> None:
        # 5,000 recorded requests with headers are not needed here; counters are.
        return None

    def _answer(self, request: web.Request, path: str, body: Any) -> web.Response:
        if path == "/_bench/stats":
            return _json(self.stats())
        now = time.time()
        window = int(now)
        if window != self._window:
            self._window, self._window_count = window, 0
        parts = path.strip("/").split("/")
        posting = request.method == "POST" and parts[0] == "channels" and parts[-1] == "messages"
        if self._window_count >= GLOBAL_PER_SECOND:
            self.global_429 += 1
            retry = round(window + 1 - now, 3)
            return _json(
                {"message": "You are being rate limited.", "retry_after": retry, "global": True},
                429,
                {
                    "Via": "1.1 google",
                    "Retry-After": str(max(1, round(retry))),
                    "X-RateLimit-Global": "true",
                    "X-RateLimit-Scope": "global",
                },
            )
        self._window_count += 1
        self.peak_per_second = max(self.peak_per_second, self._window_count)
        if not posting:
            return super()._answer(request, path, body)
        channel = parts[1]
        start, used = self._routes.get(channel, (now, 0))
        if now - start >= ROUTE_WINDOW:
            start, used = now, 0
        reset_after = round(start + ROUTE_WINDOW - now, 3)
        headers = {
            "X-RateLimit-Limit": str(ROUTE_LIMIT),
            "X-RateLimit-Remaining": str(max(0, ROUTE_LIMIT - used - 1)),
            "X-RateLimit-Reset": f"{start + ROUTE_WINDOW:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": "bench-create-message",
        }
        if used >= ROUTE_LIMIT:
            self.route_429 += 1
            return _json(
                {
                    "message": "You are being rate limited.",
                    "retry_after": reset_after,
                    "global": False,
                },
                429,
                {
                    **headers,
                    "X-RateLimit-Remaining": "0",
                    "Via": "1.1 google",
                    "Retry-After": str(max(1, round(reset_after))),
                    "X-RateLimit-Scope": "user",
                },
            )
        self._routes[channel] = (start, used + 1)
        response = super()._answer(request, path, body)
        if response.status == 200:
            self.ok_posts += 1
            self.first_ok = self.first_ok or now
            self.last_ok = now
        response.headers.update(headers)
        return response

    def stats(self) -> dict[str, Any]:
        span = self.last_ok - self.first_ok
        return {
            "messages": self.ok_posts,
            "span_s": round(span, 3),
            "server_msgs_per_s": round((self.ok_posts - 1) / span, 2) if span > 0 else None,
            "global_429": self.global_429,
            "route_429": self.route_429,
            "peak_requests_in_a_second": self.peak_per_second,
        }


async def _serve() -> None:
    fake = await RateLimitedDiscord().start()
    print(
        json.dumps(
            {"api_base_url": fake.api_base_url, "gateway_url": fake.gateway_url, "token": TOKEN}
        ),
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not sys.stdin.read(1) else None)
    await stop.wait()
    await fake.stop()


if __name__ == "__main__":
    asyncio.run(_serve())
