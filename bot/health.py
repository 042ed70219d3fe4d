"""Health you can see: liveness, readiness and Prometheus metrics over HTTP.

Owns :class:`Metrics` (the counters, histograms and gauges the core feeds: polls, fetch errors by
kind, new entries, deliveries by outcome, delivery latency, queue depth) and :class:`HealthServer`,
a small aiohttp server for one :class:`~bot.app.Herald`:

* ``GET /healthz`` -- liveness: 200 whenever the event loop answers at all.
* ``GET /readyz`` (or ``/healthz?ready=1``) -- readiness: 200 only when storage answers a query
  and every adapter is connected; 503 with the failing checks otherwise.
* ``GET /metrics`` -- Prometheus text format. Queue depth, feed states and adapter state are
  read from storage and the app at scrape time, so they are right even without wiring.

Labels carry only bounded, non-secret values (platform, outcome, error kind, feed state): never
URLs, channel ids or messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from bot.errors import FetchError, ParseError
from bot.redact import redact

if TYPE_CHECKING:
    from bot.app import Herald
    from bot.poller import PollResult

log = logging.getLogger("herald.health")

POLL_STATUSES = ("new-items", "unchanged", "not-modified", "error")
DELIVERY_OUTCOMES = ("sent", "retry", "given_up", "rejected", "refused", "stopped")
FEED_STATES = ("new", "ok", "failing", "disabled")
ERROR_KINDS = (
    "blocked",
    "timeout",
    "connect",
    "too_large",
    "rate_limited",
    "http",
    "redirect",
    "invalid_url",
    "parse",
    "internal",
    "other",
)
# Sending one message: tens of milliseconds normally, seconds when a platform throttles.
SEND_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# Queued → delivered: pacing, retries and rate limits stretch this to minutes or hours.
DELAY_BUCKETS = (0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 24 * 3600.0)
CHECK_TIMEOUT = 2.0

# Message fragments of FetchError/ParseError (bot/fetch.py, bot/parse.py) → a bounded kind.
_KIND_HINTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("blocked", ("private or local address", "only http and https", "non-http(s)")),
    ("timeout", ("timed out",)),
    ("too_large", ("larger than",)),
    ("rate_limited", ("slow down",)),
    ("redirect", ("redirect",)),
    ("http", ("HTTP ", "the server failed", "rejected the request", "refuses to give")),
    ("connect", ("cannot connect", "closed the connection", "broken response", "invalid response")),
    ("invalid_url", ("URL", "has no host")),
    ("parse", ("not a feed", "not an RSS", "not valid JSON", "JSON Feed", "document is", "HTML")),
)


def error_kind(error: BaseException | str | None) -> str:
    """A small, fixed vocabulary for why a poll failed (a metric label, never free text)."""
    if error is None:
        return "other"
    if isinstance(error, ParseError):
        return "parse"
    if isinstance(error, BaseException) and not isinstance(error, FetchError):
        return "internal"
    text = str(error)
    for kind, hints in _KIND_HINTS:
        if any(h in text for h in hints):
            return kind
    # Herald.poll_feeds reports an unexpected exception as its repr, e.g. "KeyError('x')".
    head = text.split("(", 1)[0]
    if head.isidentifier() and (head.endswith("Error") or head.endswith("Exception")):
        return "internal"
    return "other"


class Metrics:
    """Herald's Prometheus metrics in their own registry (several apps per process stay apart).

    The core calls :meth:`poll` once per poll, :meth:`delivery` once per send attempt and
    :meth:`queue_depth` when it knows the outbox size; everything else is read at scrape time.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.polls = Counter("herald_polls", "Feed polls by outcome", ["status"], registry=r)
        self.fetch_errors = Counter(
            "herald_fetch_errors", "Failed feed polls by kind of error", ["kind"], registry=r
        )
        self.new_entries = Counter("herald_new_entries", "New stories detected", registry=r)
        self.alerts_queued = Counter(
            "herald_alerts_queued", "Deliveries queued (story x channel)", registry=r
        )
        self.deliveries = Counter(
            "herald_deliveries",
            "Delivery attempts by platform and outcome",
            ["platform", "outcome"],
            registry=r,
        )
        self.send_seconds = Histogram(
            "herald_delivery_seconds",
            "Time the platform took to answer one send",
            ["platform"],
            buckets=SEND_BUCKETS,
            registry=r,
        )
        self.delay_seconds = Histogram(
            "herald_delivery_delay_seconds",
            "From queued to delivered",
            ["platform"],
            buckets=DELAY_BUCKETS,
            registry=r,
        )
        self.queue = Gauge(
            "herald_queue_depth", "Deliveries waiting to be sent", ["platform"], registry=r
        )
        self.feeds = Gauge("herald_feeds", "Feeds by health state", ["state"], registry=r)
        self.adapter_up = Gauge(
            "herald_adapter_up", "1 when the adapter is connected", ["platform"], registry=r
        )
        self.storage_up = Gauge("herald_storage_up", "1 when storage answers", registry=r)
        self.loop_lag = Gauge(
            "herald_event_loop_lag_seconds", "How late the event loop ran a timer", registry=r
        )
        for status in POLL_STATUSES:
            self.polls.labels(status)
        for kind in ERROR_KINDS:
            self.fetch_errors.labels(kind)

    def poll(self, result: PollResult, kind: str | None = None) -> None:
        """Count one poll. ``kind`` overrides the error kind guessed from ``result.error``."""
        status = result.status if result.status in POLL_STATUSES else "error"
        self.polls.labels(status).inc()
        if not result.ok:
            k = kind or getattr(result, "error_kind", None) or error_kind(result.error)
            self.fetch_errors.labels(k if k in ERROR_KINDS else "other").inc()
        if result.new:
            self.new_entries.inc(result.new)
        if result.queued:
            self.alerts_queued.inc(result.queued)

    def delivery(
        self,
        outcome: str,
        latency: float | None = None,
        *,
        platform: str = "unknown",
        delay: float | None = None,
    ) -> None:
        """Count one send attempt: ``latency`` is how long the adapter call took, ``delay`` (for
        a sent alert) how long it waited since it was queued."""
        outcome = outcome if outcome in DELIVERY_OUTCOMES else "other"
        self.deliveries.labels(platform, outcome).inc()
        if latency is not None and latency >= 0:
            self.send_seconds.labels(platform).observe(latency)
        if delay is not None and delay >= 0 and outcome == "sent":
            self.delay_seconds.labels(platform).observe(delay)

    def queue_depth(self, n: int, platform: str = "all") -> None:
        self.queue.labels(platform).set(n)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _adapter_state(app: Herald, index: int) -> str:
    """``connected``, ``started``, ``starting`` or ``stopped`` for the app's index-th adapter."""
    adapter = app.adapters[index]
    dispatchers = getattr(app, "dispatchers", [])
    if index < len(dispatchers) and dispatchers[index].stopped:
        return "stopped"
    # Adapters may say for themselves (a ``connected`` property); otherwise "started" is the
    # best the core knows: start() returns only once the adapter can send.
    connected: Any = getattr(adapter, "connected", None)
    if callable(connected):
        connected = connected()
    if isinstance(connected, bool):
        return "connected" if connected else "disconnected"
    started: Iterable[object] = getattr(app, "_started", ())
    return "started" if any(a is adapter for a in started) else "starting"


async def _storage_check(app: Herald) -> str:
    storage = getattr(app, "storage", None)
    if storage is None:
        return "not open"
    try:
        await asyncio.wait_for(storage.schema_revision(), CHECK_TIMEOUT)
    except TimeoutError:
        return f"no answer within {CHECK_TIMEOUT:g} s"
    except Exception as exc:
        return redact(f"unreachable ({type(exc).__name__})")
    return "ok"


async def readiness(app: Herald) -> tuple[bool, dict[str, str]]:
    """Whether ``app`` can do its job now, and each check's state."""
    checks = {"storage": await _storage_check(app)}
    for i, adapter in enumerate(app.adapters):
        checks[f"adapter:{adapter.platform}"] = _adapter_state(app, i)
    ready = checks["storage"] == "ok" and all(
        v in ("connected", "started") for k, v in checks.items() if k.startswith("adapter:")
    )
    return ready, checks


class HealthServer:
    """Serves ``/healthz``, ``/readyz`` and ``/metrics`` for one Herald.

    ``port=0`` binds a free port (see :attr:`port` after :meth:`start`).
    """

    def __init__(
        self,
        app: Herald,
        metrics: Metrics,
        *,
        host: str = "127.0.0.1",
        port: int = 8090,
        lag_interval: float = 1.0,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.host = host
        self.port = port
        self.lag_interval = lag_interval
        self._runner: web.AppRunner | None = None
        self._lag_task: asyncio.Task[None] | None = None
        self.loop_lag = 0.0

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> int:
        web_app = web.Application()
        web_app.router.add_get("/healthz", self._healthz)
        web_app.router.add_get("/readyz", self._readyz)
        web_app.router.add_get("/metrics", self._metrics)
        runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        self._lag_task = asyncio.create_task(self._watch_lag(), name="health-loop-lag")
        log.info("health and metrics on %s (/healthz, /readyz, /metrics)", self.url)
        return self.port

    async def stop(self) -> None:
        task, self._lag_task = self._lag_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _watch_lag(self) -> None:
        # Measures the real loop, so it uses the loop's own clock rather than the app's Clock.
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.lag_interval)
            self.loop_lag = max(0.0, loop.time() - before - self.lag_interval)
            self.metrics.loop_lag.set(self.loop_lag)

    @staticmethod
    def _json(data: dict[str, Any], status: int = 200) -> web.Response:
        return web.Response(
            text=json.dumps(data, sort_keys=True),
            status=status,
            content_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    async def _healthz(self, request: web.Request) -> web.Response:
        if request.query.get("ready") not in (None, "", "0", "false"):
            return await self._readyz(request)
        # Answering at all is the proof: a blocked loop answers nothing.
        return self._json({"status": "ok", "loop_lag_seconds": round(self.loop_lag, 3)})

    async def _readyz(self, request: web.Request) -> web.Response:
        ready, checks = await readiness(self.app)
        body = {"status": "ready" if ready else "not ready", "checks": checks}
        return self._json(body, 200 if ready else 503)

    async def _refresh(self) -> None:
        """Gauges read from the app and storage at scrape time."""
        for i, adapter in enumerate(self.app.adapters):
            up = _adapter_state(self.app, i) in ("connected", "started")
            self.metrics.adapter_up.labels(adapter.platform).set(1 if up else 0)
        storage = getattr(self.app, "storage", None)
        if storage is None:
            self.metrics.storage_up.set(0)
            return
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                for platform in sorted({a.platform for a in self.app.adapters}):
                    self.metrics.queue_depth(await storage.pending_count(platform), platform)
                states = {s: 0 for s in FEED_STATES}
                for feed in await storage.list_feeds():
                    states[feed.state if feed.state in states else "ok"] += 1
        except Exception as exc:
            self.metrics.storage_up.set(0)
            log.warning("metrics: storage did not answer (%s)", type(exc).__name__)
            return
        self.metrics.storage_up.set(1)
        for state, n in states.items():
            self.metrics.feeds.labels(state).set(n)

    async def _metrics(self, request: web.Request) -> web.Response:
        await self._refresh()
        return web.Response(
            body=self.metrics.render(),
            headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"},
        )
