"""Smoke test of the benchmark harness: the feed farm serves distinct copies of the real corpus
with working validators and churn, and Herald ingests ~20 of them cold. No timing is asserted."""

from __future__ import annotations

import random
from pathlib import Path

import aiohttp
import pytest

from bench.farm import CHURN_WORD, FeedFarm, load_templates
from bench.herald_side import CHURN_CHANNELS, RecordingPlatform, bench_settings
from bot.app import Herald
from bot.clock import SystemClock

FEEDS = Path(__file__).resolve().parents[2] / "shared" / "data" / "feeds"

pytestmark = pytest.mark.shared

if not FEEDS.is_dir():
    pytest.skip(f"the real feed corpus is not at {FEEDS}", allow_module_level=True)


async def test_farm_serves_distinct_copies_with_304s_and_churn() -> None:
    templates = load_templates(FEEDS)
    n = len(templates) + 1  # feed n-1 reuses template 0
    async with FeedFarm(n, templates) as farm, aiohttp.ClientSession() as s:
        async with s.get(farm.url(0)) as r0, s.get(farm.url(n - 1)) as r1:
            a, b = await r0.read(), await r1.read()
            etag = r1.headers["ETag"]
        assert a != b and len(a) < len(b)  # same document, different per-copy prefixes
        async with s.get(farm.url(n - 1), headers={"If-None-Match": etag}) as r:
            assert r.status == 304
        k = farm.churnable()[0]
        async with s.post(f"{farm.base_url}/_churn", json={"feeds": [k], "count": 2}) as r:
            assert len((await r.json())["added"]) == 2
        async with s.get(farm.url(k)) as r:
            body = (await r.read()).decode()
        assert f"{CHURN_WORD} story c{k}.1" in body and f"{CHURN_WORD} story c{k}.2" in body


async def test_herald_ingests_twenty_farm_feeds_cold(tmp_path: Path) -> None:
    async with FeedFarm(20) as farm:
        urls = [farm.url(k) for k in range(20)]
        platform = RecordingPlatform()
        settings = bench_settings(tmp_path / "h.db", urls, subscriptions=10)
        async with Herald(
            settings, adapters=[platform], clock=SystemClock(), rng=random.Random(0)
        ) as app:
            results = await app.poll_feeds(await app.storage.list_feeds())
            assert sum(r.ok for r in results) >= 18  # the corpus holds a few broken documents
            assert sum(r.entries for r in results) > 200
            assert await app.storage.count_entries() > 200

            k = farm.churnable()[0]
            farm.churn([k], [1])
            [row] = [f for f in await app.storage.list_feeds() if f.url == urls[k]]
            [res] = await app.poll_feeds([row])
            assert res.new == 1
            await app.deliver_due()
            assert {ch for ch, _ in platform.stories} == set(CHURN_CHANNELS)
