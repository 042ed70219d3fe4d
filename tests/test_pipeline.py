"""End to end through the real core: local feed server → Herald → a recording platform.

Real aiohttp server, real SQLite/PostgreSQL, real fetcher/parser/detector/outbox/dispatcher; the
only stand-in is the chat platform at the end, and time is a ManualClock.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest

from bot.app import Herald
from bot.clock import ManualClock
from bot.errors import PermanentDeliveryError, TransientDeliveryError
from bot.types import AlertKind
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import Item, atom, json_feed, rss
from tests.support import RecordingAdapter, make_settings

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
TOPICS = {"nato": 'nato OR "north atlantic" OR alliance', "eu": '"european union" OR brussels'}


def story(n: int, title: str | None = None, **kw: object) -> Item:
    return Item(
        title=title or f"NATO story number {n}",
        link=f"https://news.example/story/{n}",
        guid=kw.pop("guid", f"urn:story:{n}"),  # type: ignore[arg-type]
        summary=f"Allies met for the {n}th time. Ministers agreed on a plan.",
        published=T0 + timedelta(minutes=n),
        **kw,  # type: ignore[arg-type]
    )


async def run(settings, clock, adapter, rounds: int = 1, advance: float = 600):  # type: ignore[no-untyped-def]
    async with Herald(settings, adapters=[adapter], clock=clock, rng=random.Random(1)) as app:
        results = []
        for _ in range(rounds):
            results.append(await app.run_once())
            clock.advance(advance)
        return results


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


async def test_two_new_items_alert_exactly_once_across_runs_and_restarts(
    feed_server: FeedServer, tmp_path, clock: ManualClock, storage_url: str
) -> None:
    path = "/world.xml"
    feed_server.set(path, rss([story(1), story(2)]))
    settings = make_settings(
        tmp_path,
        feeds=[feed_server.url(path)],
        topics=TOPICS,
        subscriptions=[("desk", "nato")],
        storage_url=storage_url,
    )
    adapter = RecordingAdapter()
    await run(settings, clock, adapter)
    assert adapter.alerts == []  # first poll: existing items are marked seen

    feed_server.set(path, rss([story(4), story(3), story(1), story(2)]))
    await run(settings, clock, adapter)
    assert sorted(adapter.titles) == ["NATO story number 3", "NATO story number 4"]
    assert {a.channel for a in adapter.alerts} == {"desk"}
    assert all(a.topics == ("nato",) for a in adapter.alerts)

    # The next run, and a restart of the whole app on the same database, repeat nothing.
    await run(settings, clock, adapter, rounds=2)
    fresh = RecordingAdapter()
    await run(settings, clock, fresh)
    assert len(adapter.alerts) == 2
    assert fresh.alerts == []


async def test_reorder_redate_guid_change_and_tracking_params_stay_quiet(
    feed_server: FeedServer, tmp_path, clock: ManualClock
) -> None:
    path = "/f.xml"
    items = [story(n) for n in range(1, 6)]
    feed_server.set(path, rss(items))
    settings = make_settings(
        tmp_path, feeds=[feed_server.url(path)], topics=TOPICS, subscriptions=[("desk", "nato")]
    )
    adapter = RecordingAdapter()
    await run(settings, clock, adapter)

    variants = [
        list(reversed(items)),  # reordered
        [Item(**{**i.__dict__, "published": T0 + timedelta(days=3)}) for i in items],  # re-dated
        [Item(**{**i.__dict__, "guid": f"new-guid-{k}"}) for k, i in enumerate(items)],  # guids
        [
            Item(**{**i.__dict__, "link": f"{i.link}?utm_source=x&utm_medium=rss#top"})
            for i in items
        ],  # tracking parameters
    ]
    for doc in variants:
        feed_server.set(path, rss(doc))
        await run(settings, clock, adapter)
    assert adapter.alerts == []


async def test_recurring_title_coexisting_is_a_new_story(
    feed_server: FeedServer, tmp_path, clock: ManualClock
) -> None:
    path = "/brief.xml"
    monday = story(1, title="NATO morning briefing")
    feed_server.set(path, rss([monday]))
    settings = make_settings(
        tmp_path, feeds=[feed_server.url(path)], topics=TOPICS, subscriptions=[("desk", "nato")]
    )
    adapter = RecordingAdapter()
    await run(settings, clock, adapter)
    tuesday = story(2, title="NATO morning briefing")
    feed_server.set(path, rss([tuesday, monday]))
    await run(settings, clock, adapter)
    assert adapter.titles == ["NATO morning briefing"]


async def test_items_sharing_a_home_page_link_are_distinct(
    feed_server: FeedServer, tmp_path, clock: ManualClock
) -> None:
    path = "/home.xml"
    first = Item(title="NATO opens summit", link="https://outlet.example/")
    feed_server.set(path, rss([first]))
    settings = make_settings(
        tmp_path, feeds=[feed_server.url(path)], topics=TOPICS, subscriptions=[("desk", "nato")]
    )
    adapter = RecordingAdapter()
    await run(settings, clock, adapter)
    second = Item(title="NATO closes summit", link="https://outlet.example/")
    feed_server.set(path, rss([second, first]))
    await run(settings, clock, adapter)
    assert adapter.titles == ["NATO closes summit"]


async def test_story_matching_two_topics_is_sent_once_naming_both(
    feed_server: FeedServer, tmp_path, clock: ManualClock
) -> None:
    path = "/a.atom"
    feed_server.set(path, atom([story(1)]), content_type="application/atom+xml")
    settings = make_settings(
        tmp_path,
        feeds=[feed_server.url(path)],
        topics=TOPICS,
        subscriptions=[("desk", "nato"), ("desk", "eu"), ("ops", "eu")],
    )
    adapter = RecordingAdapter()
    await run(settings, clock, adapter)
    feed_server.set(
        path,
        atom([story(2, title="NATO and the European Union meet in Brussels"), story(1)]),
        content_type="application/atom+xml",
    )
    await run(settings, clock, adapter)
    by_channel = {a.channel: a for a in adapter.alerts}
    assert len(adapter.alerts) == 2
    assert by_channel["desk"].topics == ("eu", "nato")
    assert by_channel["ops"].topics == ("eu",)


async def test_same_story_from_two_feeds_reaches_a_channel_once(
    feed_server: FeedServer, tmp_path, clock: ManualClock
) -> None:
    feed_server.set("/one.xml", rss([]))
    feed_server.set("/two.json", json_feed([]), content_type="application/feed+json")
    settings = make_settings(
        tmp_path,
        feeds=[feed_server.url("/one.xml"), feed_server.url("/two.json")],
        topics=TOPICS,
        subscriptions=[("desk", "nato")],
    )
    adapter = RecordingAdapter()
    await run(settings, clock, adapter)
    shared = story(7)
    feed_server.set("/one.xml", rss([shared]))
    feed_server.set(
        "/two.json",
        json_feed([Item(**{**shared.__dict__, "guid": "other-id"})]),
        content_type="application/feed+json",
    )
    await run(settings, clock, adapter)
    assert adapter.titles == ["NATO story number 7"]


async def test_one_article_in_many_feeds_polled_together_is_one_story(
    feed_server: FeedServer, tmp_path, clock: ManualClock
) -> None:
    # Polled in one round, the feeds' documents are detected and committed in shared batches:
    # the article must still become one story, sent once, while each feed's own item is sent.
    paths = [f"/f{n}.xml" for n in range(6)]
    for path in paths:
        feed_server.set(path, rss([]))
    settings = make_settings(
        tmp_path,
        feeds=[feed_server.url(p) for p in paths],
        topics=TOPICS,
        subscriptions=[("desk", "nato")],
    )
    adapter = RecordingAdapter()
    await run(settings, clock, adapter)
    shared = story(7)
    for n, path in enumerate(paths):
        own = story(100 + n)
        feed_server.set(path, rss([Item(**{**shared.__dict__, "guid": f"copy-{n}"}), own]))
    async with Herald(settings, adapters=[adapter], clock=clock, rng=random.Random(1)) as app:
        # Hold the commit lock until every feed is detected and waiting, so all six commit in
        # one batch in which none saw another's entry in storage.
        async with app.poller._commit:
            polling = asyncio.create_task(app.poll_feeds(await app.storage.list_feeds()))
            for _ in range(1000):
                if len(app.poller._commits._pending) == len(paths):
                    break
                await asyncio.sleep(0.01)
            assert len(app.poller._commits._pending) == len(paths)
        results = await polling
        await app.deliver_due()
        stored = await app.storage.recent_entries()
    assert sum(r.new for r in results) == 12
    # A burst to one channel may be folded into a digest: count the stories the alerts carry.
    delivered = [item.title for a in adapter.alerts for item in a.items]
    assert sorted(delivered) == sorted(
        ["NATO story number 7"] + [f"NATO story number {100 + n}" for n in range(6)]
    )
    assert sorted(e.title for e, _ in stored).count("NATO story number 7") == 1


async def test_backfill_announces_newest_on_first_poll(
    feed_server: FeedServer, tmp_path, clock: ManualClock
) -> None:
    path = "/b.xml"
    feed_server.set(path, rss([story(n) for n in range(1, 6)]))
    settings = make_settings(
        tmp_path,
        feeds=[{"url": feed_server.url(path), "backfill": 2}],
        topics=TOPICS,
        subscriptions=[("desk", "nato")],
    )
    adapter = RecordingAdapter()
    await run(settings, clock, adapter)
    assert sorted(adapter.titles) == ["NATO story number 4", "NATO story number 5"]


async def test_undated_and_future_items_are_new(
    feed_server: FeedServer, tmp_path, clock: ManualClock
) -> None:
    path = "/d.xml"
    feed_server.set(path, rss([story(1)]))
    settings = make_settings(
        tmp_path, feeds=[feed_server.url(path)], topics=TOPICS, subscriptions=[("desk", "nato")]
    )
    adapter = RecordingAdapter()
    await run(settings, clock, adapter)
    undated = Item(title="NATO undated", link="https://news.example/u", guid="u")
    future = Item(
        title="NATO future",
        link="https://news.example/f",
        guid="f",
        published=T0 + timedelta(days=400),
    )
    feed_server.set(path, rss([undated, future, story(1)]))
    await run(settings, clock, adapter)
    assert sorted(adapter.titles) == ["NATO future", "NATO undated"]


async def test_a_burst_is_paced_and_the_overflow_folded(
    feed_server: FeedServer, tmp_path, clock: ManualClock
) -> None:
    path = "/burst.xml"
    feed_server.set(path, rss([story(0)]))
    settings = make_settings(
        tmp_path,
        feeds=[feed_server.url(path)],
        topics=TOPICS,
        subscriptions=[("desk", "nato")],
        delivery={"pace_seconds": 2.0, "burst": 5},
    )
    adapter = RecordingAdapter()
    await run(settings, clock, adapter)
    feed_server.set(path, rss([story(n) for n in range(50, 0, -1)] + [story(0)]))
    start = clock.monotonic()
    await run(settings, clock, adapter, advance=0)
    stories = [a for a in adapter.alerts if a.kind is AlertKind.STORY]
    digests = [a for a in adapter.alerts if a.kind is AlertKind.DIGEST]
    assert len(stories) == 4 and len(digests) == 1
    assert len(digests[0].items) == 46
    assert digests[0].topics == ("nato",)
    # Five messages, one per 2 s: the clock moved at least 4 pacing intervals.
    assert clock.monotonic() - start >= 8.0
    # Nothing was lost: 4 single stories + 46 folded = 50 distinct stories.
    keys = {a.item.story_key for a in stories} | {i.story_key for i in digests[0].items}
    assert len(keys) == 50


async def test_transient_failures_retry_with_backoff_then_deliver(
    feed_server: FeedServer, tmp_path, clock: ManualClock
) -> None:
    path = "/t.xml"
    feed_server.set(path, rss([story(1)]))
    settings = make_settings(
        tmp_path, feeds=[feed_server.url(path)], topics=TOPICS, subscriptions=[("desk", "nato")]
    )
    adapter = RecordingAdapter()
    await run(settings, clock, adapter)
    feed_server.set(path, rss([story(2), story(1)]))
    adapter.fail(TransientDeliveryError("HTTP 503"), TransientDeliveryError("429", 30.0))
    async with Herald(settings, adapters=[adapter], clock=clock, rng=random.Random(1)) as app:
        await app.run_once()
        assert adapter.alerts == [] and adapter.attempts == 1
        [row] = await app.storage.deliveries("pending")
        assert row.attempts == 1 and row.last_error == "HTTP 503"
        assert row.next_attempt_at > clock.now()
        clock.advance(3600)
        await app.deliver_due()  # second failure honours retry_after=30
        [row] = await app.storage.deliveries("pending")
        assert row.next_attempt_at >= clock.now() + timedelta(seconds=30)
        clock.advance(3600)
        await app.deliver_due()
    assert adapter.titles == ["NATO story number 2"]
    assert adapter.attempts == 3


async def test_permanent_failure_pauses_the_channel_and_tells_admins_once(
    feed_server: FeedServer, tmp_path, clock: ManualClock
) -> None:
    path = "/p.xml"
    feed_server.set(path, rss([story(1)]))
    settings = make_settings(
        tmp_path,
        feeds=[feed_server.url(path)],
        topics=TOPICS,
        subscriptions=[("gone", "nato"), ("gone", "eu"), ("desk", "nato")],
        admin_channels=[{"platform": "console", "channel": "admins"}],
    )
    adapter = RecordingAdapter()
    await run(settings, clock, adapter)
    feed_server.set(path, rss([story(3), story(2), story(1)]))
    adapter.break_channel("gone", PermanentDeliveryError("channel_not_found"))
    async with Herald(settings, adapters=[adapter], clock=clock, rng=random.Random(1)) as app:
        await app.run_once()
        subs = await app.storage.list_subscriptions("console", None, "gone")
        assert {s.state for s in subs} == {"paused"}
        await app.deliver_due()
        assert len(await app.storage.deliveries("failed")) == 2
    assert sorted(a.item.title for a in adapter.alerts if a.channel == "desk") == [
        "NATO story number 2",
        "NATO story number 3",
    ]
    assert not [a for a in adapter.alerts if a.channel == "gone"]
    paused = [n for n in adapter.notices if "gone" in n.text]
    assert len(paused) == 1 and paused[0].channel == "admins"


async def test_failing_feed_backs_off_is_disabled_once_and_recovery_is_announced(
    feed_server: FeedServer, tmp_path, clock: ManualClock
) -> None:
    path = "/flaky.xml"
    feed_server.status(path, 500)
    settings = make_settings(
        tmp_path,
        feeds=[feed_server.url(path)],
        topics=TOPICS,
        schedule={"max_failures": 3, "interval": 300, "jitter": 0.0},
        admin_channels=[{"platform": "console", "channel": "admins"}],
    )
    adapter = RecordingAdapter()
    async with Herald(settings, adapters=[adapter], clock=clock, rng=random.Random(1)) as app:
        delays = []
        for _ in range(5):
            [feed] = await app.storage.list_feeds()
            await app.poll_feeds([feed])
            [after] = await app.storage.list_feeds()
            delays.append((after.next_poll_at - clock.now()).total_seconds())
            clock.advance(60)
        assert delays[:2] == [300, 600]  # exponential backoff
        [feed] = await app.storage.list_feeds()
        assert feed.state == "disabled" and feed.consecutive_failures == 5
        assert "HTTP 500" in (feed.last_error or "")
        await app.deliver_due()
        feed_server.set(path, rss([story(1)]))
        await app.poll_feeds([feed])
        await app.deliver_due()
        [feed] = await app.storage.list_feeds()
        assert feed.state == "ok"
    texts = [n.text for n in adapter.notices]
    assert sum("disabled" in t for t in texts) == 1
    assert sum("recovered" in t for t in texts) == 1


async def test_a_feed_whose_first_poll_failed_does_not_flood_later(
    feed_server: FeedServer, tmp_path, clock: ManualClock
) -> None:
    path = "/late.xml"
    feed_server.status(path, 503)
    settings = make_settings(
        tmp_path, feeds=[feed_server.url(path)], topics=TOPICS, subscriptions=[("desk", "nato")]
    )
    adapter = RecordingAdapter()
    await run(settings, clock, adapter)
    feed_server.set(path, rss([story(n) for n in range(1, 8)]))
    await run(settings, clock, adapter)
    assert adapter.alerts == []


async def test_html_page_served_as_feed_is_an_error_not_zero_items(
    feed_server: FeedServer, tmp_path, clock: ManualClock
) -> None:
    path = "/page"
    feed_server.set(
        path, "<!doctype html><html><body><h1>Hello</h1></body></html>", content_type="text/html"
    )
    settings = make_settings(tmp_path, feeds=[feed_server.url(path)], topics=TOPICS)
    adapter = RecordingAdapter()
    [[result]] = await run(settings, clock, adapter)
    assert not result.ok
    assert "HTML" in (result.error or "")


async def test_conditional_get_and_unchanged_body_skip_work(
    feed_server: FeedServer, tmp_path, clock: ManualClock
) -> None:
    path = "/c.xml"
    feed_server.set(path, rss([story(1)]))
    settings = make_settings(tmp_path, feeds=[feed_server.url(path)], topics=TOPICS)
    adapter = RecordingAdapter()
    results = await run(settings, clock, adapter, rounds=2)
    assert results[1][0].status == "not-modified"
    assert feed_server.requests(path)[-1].headers.get("If-None-Match")
    feed_server.set(path, rss([story(1)]), etag=False)
    results = await run(settings, clock, adapter, rounds=2)
    assert results[1][0].status == "unchanged"


async def test_undelivered_alerts_survive_a_dead_adapter_and_a_restart(
    feed_server: FeedServer, tmp_path, clock: ManualClock
) -> None:
    from bot.errors import AdapterFatalError

    path = "/r.xml"
    feed_server.set(path, rss([story(1)]))
    settings = make_settings(
        tmp_path, feeds=[feed_server.url(path)], topics=TOPICS, subscriptions=[("desk", "nato")]
    )
    await run(settings, clock, RecordingAdapter())
    feed_server.set(path, rss([story(3), story(2), story(1)]))
    dead = RecordingAdapter()
    dead.fail(AdapterFatalError("token revoked"))
    await run(settings, clock, dead)
    assert dead.alerts == [] and dead.attempts == 1  # stopped after the first refusal

    revived = RecordingAdapter()
    await run(settings, clock, revived)  # a restart with working credentials
    assert sorted(revived.titles) == ["NATO story number 2", "NATO story number 3"]
    again = RecordingAdapter()
    await run(settings, clock, again)
    assert again.alerts == []


def _retaining_90_days(tmp_path, url: str):  # type: ignore[no-untyped-def]
    """One feed, the NATO topic to one desk, entries kept 90 days after they were last seen."""
    return make_settings(
        tmp_path,
        feeds=[url],
        topics=TOPICS,
        subscriptions=[("desk", "nato")],
        detect={"retention_days": 90},
    )


async def test_retention_forgets_only_items_gone_from_their_feed(
    feed_server: FeedServer, tmp_path, clock: ManualClock
) -> None:
    path = "/keep.xml"
    feed_server.set(path, rss([story(1), story(2)]), etag=False)
    settings = _retaining_90_days(tmp_path, feed_server.url(path))
    adapter = RecordingAdapter()
    async with Herald(settings, adapters=[adapter], clock=clock, rng=random.Random(1)) as app:
        await app.run_once()
        feed_server.set(path, rss([story(1)]), etag=False)  # story 2 leaves the feed
        for _ in range(20):  # 200 days of polling; story 1 stays in an unchanged document
            clock.advance(10 * 86400)
            await app.run_once()
        assert await app.housekeeping() == 1
        assert await app.storage.count_entries() == 1
        feed_server.set(path, rss([story(9, title="Weather"), story(1)]), etag=False)
        await app.run_once()
    assert adapter.alerts == []  # story 1 was never forgotten, so never re-announced


async def test_housekeeping_forgets_the_short_keys_of_removed_feeds(
    feed_server: FeedServer, tmp_path, clock: ManualClock
) -> None:
    kept, dropped = feed_server.url("/kept.xml"), feed_server.url("/dropped.xml")
    feed_server.set("/kept.xml", rss([story(1)]), etag=False)
    feed_server.set("/dropped.xml", rss([story(2)]), etag=False)
    settings = make_settings(tmp_path, feeds=[kept, dropped], topics=TOPICS)
    async with Herald(settings, clock=clock, rng=random.Random(1)) as app:
        await app.run_once()
        ids = {f.url: f.id for f in await app.storage.list_feeds()}
        assert app.poller.remembered_feeds == {ids[kept], ids[dropped]}
        assert await app.storage.remove_feed(dropped)
        await app.housekeeping()
        assert app.poller.remembered_feeds == {ids[kept]}


class _BrokenAtStart(RecordingAdapter):
    async def start(self, commands) -> None:  # type: ignore[no-untyped-def]
        from bot.errors import AdapterFatalError

        raise AdapterFatalError("invalid_auth")


async def test_an_adapter_that_cannot_start_does_not_stop_the_others(
    feed_server: FeedServer, tmp_path, clock: ManualClock
) -> None:
    path = "/s.xml"
    feed_server.set(path, rss([story(1)]))
    settings = make_settings(
        tmp_path, feeds=[feed_server.url(path)], topics=TOPICS, subscriptions=[("desk", "nato")]
    )
    broken, working = _BrokenAtStart("slack"), RecordingAdapter("console")
    async with Herald(
        settings, adapters=[broken, working], clock=clock, rng=random.Random(1)
    ) as app:
        await app.run_once()
        feed_server.set(path, rss([story(2), story(1)]))
        await app.run_once()
    assert working.titles == ["NATO story number 2"]
    assert broken.attempts == 0


async def test_a_rejected_message_is_given_up_at_once_and_admins_told(
    feed_server: FeedServer, tmp_path, clock: ManualClock
) -> None:
    from bot.errors import RejectedDeliveryError

    path = "/rej.xml"
    feed_server.set(path, rss([story(1)]))
    settings = make_settings(
        tmp_path,
        feeds=[feed_server.url(path)],
        topics=TOPICS,
        subscriptions=[("desk", "nato")],
        admin_channels=[{"platform": "console", "channel": "admins"}],
    )
    adapter = RecordingAdapter()
    await run(settings, clock, adapter)
    feed_server.set(path, rss([story(3), story(2), story(1)]))
    adapter.fail(RejectedDeliveryError("HTTP 400: invalid embed"))
    async with Herald(settings, adapters=[adapter], clock=clock, rng=random.Random(1)) as app:
        await app.run_once()
        [failed] = await app.storage.deliveries("failed")
        assert failed.attempts == 0 and "400" in (failed.last_error or "")
        subs = await app.storage.list_subscriptions("console", None, "desk")
        assert {s.state for s in subs} == {"active"}  # the channel itself is fine
        await app.deliver_due()
    assert adapter.attempts == 2 and len(adapter.alerts) == 1
    assert len([n for n in adapter.notices if "Could not deliver" in n.text]) == 1


async def test_sandboxed_parsing_survives_a_hostile_feed(
    feed_server: FeedServer, tmp_path, clock: ManualClock
) -> None:
    bomb = (
        b'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY a "' + b"x" * 50_000 + b'">]>\n'
        b"<rss><channel><title>&a;</title>"
        + b"<item><title>&a;&a;&a;&a;</title></item>" * 200
        + b"</channel></rss>"
    )
    feed_server.set("/bomb.xml", bomb)
    feed_server.set("/good.xml", rss([story(1)]))
    settings = make_settings(
        tmp_path,
        feeds=[feed_server.url("/bomb.xml"), feed_server.url("/good.xml")],
        topics=TOPICS,
        subscriptions=[("desk", "nato")],
        fetch={"allow_private_networks": True, "parse_workers": 1, "parse_memory_mb": 256},
    )
    adapter = RecordingAdapter()
    async with Herald(settings, adapters=[adapter], clock=clock, rng=random.Random(1)) as app:
        assert app.parse_pool is not None
        results = {r.url.rsplit("/", 1)[1]: r for r in await app.run_once()}
        assert not results["bomb.xml"].ok and "entit" in (results["bomb.xml"].error or "")
        assert results["good.xml"].ok
        feed_server.set("/good.xml", rss([story(2), story(1)]))
        await app.run_once()
    assert adapter.titles == ["NATO story number 2"]


class _IntentAdapter(RecordingAdapter):
    needs_send_intent = True


async def test_send_intents_are_recorded_so_a_retry_knows_it_may_have_posted(
    feed_server: FeedServer, tmp_path, clock: ManualClock
) -> None:
    path = "/intent.xml"
    feed_server.set(path, rss([story(1)]))
    settings = make_settings(
        tmp_path, feeds=[feed_server.url(path)], topics=TOPICS, subscriptions=[("desk", "nato")]
    )
    adapter = _IntentAdapter()
    await run(settings, clock, adapter)
    feed_server.set(path, rss([story(2), story(1)]))
    adapter.fail(TransientDeliveryError("connection dropped after sending"))
    started = clock.now()
    async with Herald(settings, adapters=[adapter], clock=clock, rng=random.Random(1)) as app:
        await app.run_once()
        clock.advance(3600)
        await app.deliver_due()
        [row] = await app.storage.deliveries("sent")
        assert row.sends == 2 and row.first_send_at == started
    assert [a.attempt for a in adapter.alerts] == [1]  # the retry knew one send came before


async def test_a_platform_wide_pause_stops_all_sends_without_counting_attempts(
    feed_server: FeedServer, tmp_path, clock: ManualClock
) -> None:
    path = "/cf.xml"
    feed_server.set(path, rss([story(1)]))
    settings = make_settings(
        tmp_path,
        feeds=[feed_server.url(path)],
        topics=TOPICS,
        subscriptions=[("desk", "nato"), ("ops", "nato")],
        delivery={"pace_seconds": 0.0},
    )
    adapter = RecordingAdapter()
    await run(settings, clock, adapter)
    feed_server.set(path, rss([story(3), story(2), story(1)]))
    adapter.fail(TransientDeliveryError("blocked by Cloudflare", 600.0, scope="adapter"))
    async with Herald(settings, adapters=[adapter], clock=clock, rng=random.Random(1)) as app:
        await app.run_once()
        assert adapter.attempts == 1  # the pause stopped every other send at once
        clock.advance(300)
        assert await app.deliver_due() == 0  # still paused
        assert adapter.attempts == 1
        clock.advance(301)
        assert await app.deliver_due() == 4
        assert {r.attempts for r in await app.storage.deliveries("sent")} == {0}


async def test_text_of_stored_entries_is_skipped_but_every_recorded_entry_has_its_text(
    feed_server: FeedServer, tmp_path, clock: ManualClock
) -> None:
    """The poller skips extracting the text of entries it saw stored after the last poll; an
    entry that is not stored after all (pruned, or removed by another instance) is read again.

    Story 2 comes back with a category added: an item whose bytes did not change at all is one
    the item index vouches for (see ``test_items_kept_byte_for_byte_are_trusted_...``)."""
    from sqlalchemy import delete, select

    from bot.detect import sha
    from bot.storage.schema import entries

    path = "/skip.xml"
    feed_server.set(path, rss([story(1), story(2)]))
    settings = make_settings(
        tmp_path, feeds=[feed_server.url(path)], topics=TOPICS, subscriptions=[("desk", "nato")]
    )
    adapter = RecordingAdapter()
    async with Herald(settings, adapters=[adapter], clock=clock, rng=random.Random(1)) as app:
        await app.run_once()
        clock.advance(600)
        # Story 2 leaves storage behind the poller's back.
        async with app.storage.engine.begin() as conn:
            gone = await conn.execute(delete(entries).where(entries.c.key == sha("g:urn:story:2")))
        assert gone.rowcount == 1
        feed_server.set(path, rss([story(3), story(2, categories=("Defence",)), story(1)]))
        await app.run_once()
        clock.advance(600)
        await app.run_once()
        async with app.storage.engine.begin() as conn:
            stored = dict((await conn.execute(select(entries.c.key, entries.c.summary))).all())

    assert sorted(adapter.titles) == ["NATO story number 2", "NATO story number 3"]
    for alert in adapter.alerts:
        assert alert.items[0].summary.startswith("Allies met for the")
    assert set(stored) == {sha(f"g:urn:story:{n}") for n in (1, 2, 3)}
    assert all(text.startswith("Allies met for the") for text in stored.values())


async def test_a_changed_feed_is_read_item_by_item_with_the_same_stories(
    feed_server: FeedServer, tmp_path, clock: ManualClock
) -> None:
    """Once a document is committed, the next one parses only the items it lacks; the items it
    keeps still count as in the document (a new item titled like a kept one is a new story)."""
    path = "/brief.xml"
    monday = story(1, title="NATO morning briefing")
    feed_server.set(path, rss([monday, story(2)]))
    settings = make_settings(
        tmp_path, feeds=[feed_server.url(path)], topics=TOPICS, subscriptions=[("desk", "nato")]
    )
    adapter = RecordingAdapter()
    async with Herald(settings, adapters=[adapter], clock=clock, rng=random.Random(1)) as app:
        [first] = await app.run_once()
        clock.advance(600)
        tuesday = story(3, title="NATO morning briefing")
        feed_server.set(path, rss([tuesday, monday, story(2)]))
        [second] = await app.run_once()
        clock.advance(600)
        feed_server.set(path, rss([story(4), tuesday, monday]))
        [third] = await app.run_once()
    assert (first.partial, second.partial, third.partial) == (False, True, True)
    assert (second.entries, second.new, third.entries, third.new) == (3, 1, 3, 1)
    assert adapter.titles == ["NATO morning briefing", "NATO story number 4"]


async def test_items_kept_byte_for_byte_are_trusted_while_nobody_else_committed_the_feed(
    feed_server: FeedServer, tmp_path, clock: ManualClock
) -> None:
    """Another instance committing the feed in between makes the next read a full one."""
    path = "/shared.xml"
    feed_server.set(path, rss([story(1)]))
    settings = make_settings(
        tmp_path, feeds=[feed_server.url(path)], topics=TOPICS, subscriptions=[("desk", "nato")]
    )
    adapter = RecordingAdapter()
    async with (
        Herald(settings, adapters=[adapter], clock=clock, rng=random.Random(1)) as one,
        Herald(settings, adapters=[adapter], clock=clock, rng=random.Random(2)) as other,
    ):
        await one.run_once()
        feed_server.set(path, rss([story(2), story(1)]))
        clock.advance(600)
        [by_other] = await other.run_once()
        feed_server.set(path, rss([story(3), story(2), story(1)]))
        clock.advance(600)
        [after_other] = await one.run_once()
        feed_server.set(path, rss([story(4), story(3), story(2), story(1)]))
        clock.advance(600)
        [after_own] = await one.run_once()
    assert (by_other.partial, after_other.partial, after_own.partial) == (False, False, True)
    assert sorted(adapter.titles) == [f"NATO story number {n}" for n in (2, 3, 4)]


async def test_retention_never_forgets_items_kept_by_item_by_item_reads(
    feed_server: FeedServer, tmp_path, clock: ManualClock
) -> None:
    """Item-by-item reads do not refresh kept entries' last-seen time, nor the feed's last full
    read: retention still keeps every entry of the latest document, however long it stays."""
    path = "/long.xml"
    feed_server.set(path, rss([story(1), story(2)]), etag=False)
    settings = _retaining_90_days(tmp_path, feed_server.url(path))
    adapter = RecordingAdapter()
    async with Herald(settings, adapters=[adapter], clock=clock, rng=random.Random(1)) as app:
        await app.run_once()
        reads = []
        for doc in ([story(3), story(1)], [story(4), story(3), story(1)]):  # story 2 leaves
            clock.advance(3600)
            feed_server.set(path, rss(doc), etag=False)
            reads += [r.partial for r in await app.run_once()]
        for _ in range(20):  # 200 days; the document does not change
            clock.advance(10 * 86400)
            await app.run_once()
        # Story 2 left after the last full read: forgotten once a full read no longer lists it.
        assert await app.housekeeping() == 0
        feed_server.set(path, rss([story(9, title="Weather"), story(4), story(3), story(1)]))
        [full] = await app.run_once()
        assert await app.housekeeping() == 1
        assert await app.storage.count_entries() == 4
    assert reads == [True, True] and not full.partial
    assert adapter.titles == ["NATO story number 3", "NATO story number 4"]


class _TickingClock(ManualClock):
    """Every reading is a millisecond later than the one before, as on a real clock."""

    def now(self) -> datetime:
        self.advance(0.001)
        return super().now()


async def test_retention_keeps_the_latest_document_when_time_moves_during_a_poll(
    feed_server: FeedServer, tmp_path
) -> None:
    """The feed's last full read is stamped with the poll's start, so the entries it lists are
    never older than it; stamping it later made them prunable once the feed stood still."""
    clock = _TickingClock(T0)
    path = "/still.xml"
    feed_server.set(path, rss([story(1), story(2)]), etag=False)
    settings = _retaining_90_days(tmp_path, feed_server.url(path))
    adapter = RecordingAdapter()
    async with Herald(settings, adapters=[adapter], clock=clock, rng=random.Random(1)) as app:
        await app.run_once()
        clock.advance(3600)
        feed_server.set(path, rss([story(3), story(1), story(2)]), etag=False)
        await app.run_once()
        clock.advance(200 * 86400)  # the document does not change for 200 days
        await app.run_once()
        assert await app.housekeeping() == 0
        assert await app.storage.count_entries() == 3
