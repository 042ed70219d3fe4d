"""Health you can see: /healthz, /readyz and /metrics served for a real Herald (bot/health.py).

The server runs on 127.0.0.1 port 0 next to a Herald opened on a SQLite file in tmp_path, with
feeds from the local feed server and the in-memory RecordingAdapter as its platform. Until the
core calls ``Metrics`` itself, the tests feed it the same PollResults the wiring will.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families

from bot.adapter import Adapter, CommandHandler
from bot.app import Herald
from bot.clock import ManualClock
from bot.errors import AdapterFatalError, FetchError, ParseError
from bot.fetch import Fetcher, FetchLimits
from bot.health import ERROR_KINDS, HealthServer, Metrics, error_kind
from bot.normalize import read_feed
from bot.poller import PollResult
from bot.settings import Settings
from bot.types import Alert, Notice
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import Item, rss
from tests.support import RecordingAdapter, make_settings

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
TOPICS = {"nato": "nato"}


def story(n: int) -> Item:
    return Item(
        title=f"NATO story {n}",
        link=f"https://news.example/{n}",
        guid=f"urn:s:{n}",
        summary="Allies met.",
        published=T0 + timedelta(minutes=n),
    )


class UnstartableAdapter:
    """A platform whose credentials were revoked: start() fails for good."""

    platform = "discord"

    async def start(self, commands: CommandHandler) -> None:
        raise AdapterFatalError("token revoked")

    async def stop(self) -> None:
        pass

    async def send_alert(self, alert: Alert) -> str | None:
        raise AdapterFatalError("token revoked")

    async def send_notice(self, notice: Notice) -> str | None:
        raise AdapterFatalError("token revoked")


def metric_values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample in a Prometheus exposition, keyed by (name, sorted labels)."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def sample(values: dict[Any, float], name: str, **labels: str) -> float:
    return values[(name, tuple(sorted(labels.items())))]


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with http.get(url) as resp:
        if resp.content_type == "application/json":
            return resp.status, await resp.json()
        return resp.status, await resp.text()


def settings_for(
    tmp_path: Path, feed_server: FeedServer, *paths: str, db: Path | None = None
) -> Settings:
    return make_settings(
        tmp_path,
        feeds=[feed_server.url(p) for p in paths],
        topics=TOPICS,
        subscriptions=[("desk", "nato")],
        storage_url=f"sqlite:///{db}" if db else None,
    )


async def test_liveness_and_readiness_follow_storage_and_adapters(
    tmp_path: Path, feed_server: FeedServer, http: aiohttp.ClientSession
) -> None:
    feed_server.set("/w.xml", rss([story(1)]))
    db_dir = tmp_path / "db"
    settings = settings_for(tmp_path, feed_server, "/w.xml", db=db_dir / "herald.db")
    adapter = RecordingAdapter()
    clock = ManualClock(T0)
    async with Herald(settings, adapters=[adapter], clock=clock, rng=random.Random(1)) as app:
        server = HealthServer(app, Metrics(), port=0)
        port = await server.start()
        try:
            assert port > 0 and server.url.endswith(f":{port}")
            assert await get(http, server.url + "/healthz") == (
                200,
                {"status": "ok", "loop_lag_seconds": 0.0},
            )
            status, body = await get(http, server.url + "/readyz")
            assert status == 503 and body["checks"] == {
                "storage": "ok",
                "adapter:console": "starting",
            }

            await app.start_adapters()
            for path in ("/readyz", "/healthz?ready=1"):
                status, body = await get(http, server.url + path)
                assert (status, body["status"]) == (200, "ready"), path
            assert body["checks"]["adapter:console"] == "started"

            # The database goes away: a file where its folder was, pooled connections dropped.
            await app.storage.engine.dispose()
            shutil.rmtree(db_dir)
            db_dir.write_text("not a directory")
            status, body = await get(http, server.url + "/readyz")
            assert status == 503
            assert body["checks"]["storage"] == "unreachable (OperationalError)"
            assert (await get(http, server.url + "/healthz"))[0] == 200  # alive all the same
            status, text = await get(http, server.url + "/metrics")
            assert status == 200
            assert sample(metric_values(text), "herald_storage_up") == 0.0
        finally:
            await server.stop()
            db_dir.unlink()
            db_dir.mkdir()  # let close() dispose cleanly


async def test_an_adapter_that_could_not_start_makes_the_app_not_ready(
    tmp_path: Path, feed_server: FeedServer, http: aiohttp.ClientSession
) -> None:
    feed_server.set("/w.xml", rss([story(1)]))
    settings = settings_for(tmp_path, feed_server, "/w.xml")
    adapters: list[Adapter] = [RecordingAdapter(), UnstartableAdapter()]
    async with Herald(settings, adapters=adapters, clock=ManualClock(T0)) as app:
        await app.start_adapters()
        server = HealthServer(app, Metrics(), port=0)
        await server.start()
        try:
            status, body = await get(http, server.url + "/readyz")
            metrics_status, text = await get(http, server.url + "/metrics")
        finally:
            await server.stop()
    assert (status, metrics_status) == (503, 200)
    assert body == {
        "status": "not ready",
        "checks": {"storage": "ok", "adapter:console": "started", "adapter:discord": "stopped"},
    }
    values = metric_values(text)
    assert sample(values, "herald_adapter_up", platform="console") == 1.0
    assert sample(values, "herald_adapter_up", platform="discord") == 0.0


async def test_metrics_count_polls_errors_new_entries_queue_and_deliveries(
    tmp_path: Path, feed_server: FeedServer, http: aiohttp.ClientSession
) -> None:
    feed_server.set("/w.xml", rss([story(1)]))
    settings = settings_for(tmp_path, feed_server, "/w.xml", "/gone.xml")
    adapter = RecordingAdapter()
    clock = ManualClock(T0)
    metrics = Metrics()
    async with Herald(settings, adapters=[adapter], clock=clock, rng=random.Random(1)) as app:
        server = HealthServer(app, metrics, port=0)
        await server.start()
        try:
            await app.start_adapters()
            for r in await app.poll_feeds(await app.storage.list_feeds()):
                metrics.poll(r)  # first poll: backlog marked seen; /gone.xml answers 404
            feed_server.set("/w.xml", rss([story(3), story(2), story(1)]))
            clock.advance(600)
            polled = await app.poll_feeds(await app.storage.list_feeds())
            for r in polled:
                metrics.poll(r)
            _, queued_text = await get(http, server.url + "/metrics")

            await app.deliver_due()
            for _ in adapter.alerts:
                metrics.delivery("sent", 0.04, platform="console", delay=12.0)
            metrics.delivery("retry", 1.5, platform="console")
            _, text = await get(http, server.url + "/metrics")
        finally:
            await server.stop()

    assert sorted(r.status for r in polled) == ["error", "new-items"]
    queued = metric_values(queued_text)
    assert sample(queued, "herald_queue_depth", platform="console") == 2.0
    v = metric_values(text)
    assert sample(v, "herald_queue_depth", platform="console") == 0.0
    assert sample(v, "herald_polls_total", status="new-items") == 1.0
    assert sample(v, "herald_polls_total", status="unchanged") == 1.0
    assert sample(v, "herald_polls_total", status="error") == 2.0
    assert sample(v, "herald_fetch_errors_total", kind="http") == 2.0
    assert sample(v, "herald_fetch_errors_total", kind="timeout") == 0.0  # pre-declared
    assert sample(v, "herald_new_entries_total") == 2.0
    assert sample(v, "herald_alerts_queued_total") == 2.0
    assert len(adapter.alerts) == 2
    assert sample(v, "herald_deliveries_total", platform="console", outcome="sent") == 2.0
    assert sample(v, "herald_deliveries_total", platform="console", outcome="retry") == 1.0
    assert sample(v, "herald_delivery_seconds_count", platform="console") == 3.0
    assert sample(v, "herald_delivery_seconds_bucket", platform="console", le="0.05") == 2.0
    assert sample(v, "herald_delivery_delay_seconds_count", platform="console") == 2.0
    assert sample(v, "herald_feeds", state="failing") == 1.0
    assert sample(v, "herald_feeds", state="ok") == 1.0
    assert sample(v, "herald_storage_up") == 1.0
    # Labels hold no URLs, channels or messages: nothing a scrape could leak.
    assert "127.0.0.1" not in text and "desk" not in text and "NATO" not in text


def test_unknown_outcomes_and_kinds_cannot_grow_the_label_set() -> None:
    m = Metrics()
    m.delivery("exploded", platform="slack")
    m.poll(PollResult(1, "https://x.example/f", False, "weird", error="¯\\_(ツ)_/¯"))
    v = metric_values(m.render().decode())
    assert sample(v, "herald_deliveries_total", platform="slack", outcome="other") == 1.0
    assert sample(v, "herald_polls_total", status="error") == 1.0
    assert sample(v, "herald_fetch_errors_total", kind="other") == 1.0


def test_each_metrics_object_has_its_own_registry() -> None:
    a, b = Metrics(), Metrics()  # a second app in the same process must not collide
    a.queue_depth(5, "discord")
    assert b'herald_queue_depth{platform="discord"} 5.0' in a.render()
    assert b'platform="discord"' not in b.render()


# -- error kinds from the real fetcher and parser ------------------------------------------


async def fetch_error(url: str, **kw: Any) -> FetchError:
    limits = FetchLimits(connect_timeout=1.0, read_timeout=1.0, total_timeout=kw.pop("total", 2.0))
    async with Fetcher(limits, allow_private_networks=kw.pop("private", True)) as fetcher:
        with pytest.raises(FetchError) as info:
            await fetcher.fetch(url)
    return info.value


async def test_real_fetch_and_parse_errors_get_their_kind(feed_server: FeedServer) -> None:
    feed_server.status("/missing.xml", 404)
    feed_server.status("/busy.xml", 429, headers={"Retry-After": "30"})
    feed_server.hang("/slow.xml", 5.0)
    closed = "http://127.0.0.1:9/feed.xml"  # discard port: nothing listens
    kinds = {
        "404": error_kind(await fetch_error(feed_server.url("/missing.xml"))),
        "429": error_kind(await fetch_error(feed_server.url("/busy.xml"))),
        "private": error_kind(await fetch_error(feed_server.url("/x.xml"), private=False)),
        "closed": error_kind(await fetch_error(closed)),
        "slow": error_kind(await fetch_error(feed_server.url("/slow.xml"), total=0.3)),
        "scheme": error_kind(await fetch_error("ftp://feeds.example/x.xml")),
    }
    with pytest.raises(ParseError) as info:
        read_feed(b"<!doctype html><html><body>hi</body></html>", url="https://x.example/")
    kinds["html"] = error_kind(info.value)
    kinds["html-text"] = error_kind(str(info.value))  # as PollResult.error carries it
    kinds["bug"] = error_kind(repr(KeyError("x")))  # Herald.poll_feeds' catch-all
    assert kinds == {
        "404": "http",
        "429": "rate_limited",
        "private": "blocked",
        "closed": "connect",
        "slow": "timeout",
        "scheme": "blocked",
        "html": "parse",
        "html-text": "parse",
        "bug": "internal",
    }
    assert set(kinds.values()) <= set(ERROR_KINDS)
