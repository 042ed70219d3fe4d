"""The platform-neutral command service, over real storage and a real local feed server."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import Herald
from bot.clock import ManualClock
from bot.types import Caller
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import Item, rss
from tests.support import RecordingAdapter, make_settings

USER = Caller("slack", "U1", "C1", workspace="T1")
ADMIN = Caller("slack", "U9", "C1", workspace="T1", is_platform_admin=True)
TOPICS = {"nato": 'nato OR "north atlantic"', "eu": '"european union" OR brussels'}


@pytest.fixture
async def app(tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path, topics=TOPICS, admins=["slack:U7"])
    clock = ManualClock(datetime(2026, 3, 1, tzinfo=UTC))
    async with Herald(
        settings, adapters=[RecordingAdapter("slack")], clock=clock, rng=random.Random(3)
    ) as herald:
        yield herald


async def test_help_and_unknown(app: Herald) -> None:
    for text in ("", "/news", "help", "/news help"):
        reply = await app.commands.handle(USER, text)
        assert reply.ok and "subscribe <topic>" in reply.text
    reply = await app.commands.handle(USER, "/news frobnicate")
    assert not reply.ok and "Unknown command" in reply.text and "help" in reply.text


async def test_subscribe_lifecycle(app: Herald) -> None:
    h = app.commands.handle
    assert "Subscribed" in (await h(USER, "/news subscribe NATO")).text
    assert "already" in (await h(USER, "subscribe nato")).text
    assert "nato" in (await h(USER, "subscriptions")).text
    other_channel = Caller("slack", "U1", "C2", workspace="T1")
    assert "follows no topics" in (await h(other_channel, "subscriptions")).text
    missing = await h(USER, "subscribe sport")
    assert not missing.ok and "eu, nato" in missing.text
    assert "Unsubscribed" in (await h(USER, "unsubscribe nato")).text
    again = await h(USER, "unsubscribe nato")
    assert not again.ok and "does not follow" in again.text
    subs = await app.storage.list_subscriptions("slack", "T1", "C1")
    assert subs == []


async def test_bad_input_is_refused_clearly(app: Herald) -> None:
    h = app.commands.handle
    assert "Usage" in (await h(USER, "subscribe")).text
    assert "too long" in (await h(USER, "subscribe " + "x" * 2000)).text
    bad_name = await h(USER, "subscribe <!channel>")
    assert not bad_name.ok
    assert "between 1 and 10" in (await h(USER, "latest nato 50")).text


async def test_admin_commands_need_an_admin(app: Herald) -> None:
    h = app.commands.handle
    refused = await h(USER, "feed list")
    assert not refused.ok and "admins only" in refused.text and "U1" in refused.text
    listed_admin = Caller("slack", "U7", "C1", workspace="T1")  # from config `admins`
    assert (await h(listed_admin, "feed list")).ok
    assert (await h(ADMIN, "feed list")).ok


async def test_topic_add_test_and_remove(app: Herald) -> None:
    h = app.commands.handle
    bad = await h(ADMIN, 'topic add cyber cyber AND ("ransomware"')
    assert not bad.ok and "does not parse" in bad.text and "^" in bad.text
    ok = await h(ADMIN, 'topic add cyber cyber* OR "ransomware gang"')
    assert ok.ok and "Created topic `cyber`" in ok.text
    assert "cyber" in (await h(USER, "topics")).text
    assert "Subscribed" in (await h(USER, "subscribe cyber")).text
    tested = await h(ADMIN, "topic test nato")
    assert tested.ok and "matches 0" in tested.text
    removed = await h(ADMIN, "topic remove cyber")
    assert removed.ok
    assert "cyber" not in (await h(USER, "subscriptions")).text


async def test_feed_add_validates_then_reports(app: Herald, feed_server: FeedServer) -> None:
    h = app.commands.handle
    feed_server.set(
        "/w.xml", rss([Item("NATO meets", "https://n.example/1", "1")], title="World Wire")
    )
    feed_server.set("/page", "<html><body>hi</body></html>", content_type="text/html")
    added = await h(ADMIN, f"feed add {feed_server.url('/w.xml')} World")
    assert added.ok and "1 item" in added.text and "NATO meets" in added.text
    not_feed = await h(ADMIN, f"feed add {feed_server.url('/page')}")
    assert not not_feed.ok and "Nothing was changed" in not_feed.text
    assert not (await h(ADMIN, "feed add javascript:alert(1)")).ok
    feeds = await app.storage.list_feeds()
    assert [f.url for f in feeds] == [feed_server.url("/w.xml")]
    listing = await h(ADMIN, "feed list")
    assert "World" in listing.text and "not polled yet" in listing.text
    assert (await h(ADMIN, f"feed remove {feed_server.url('/w.xml')}")).ok
    assert await app.storage.list_feeds() == []


async def test_latest_shows_stored_stories(app: Herald, feed_server: FeedServer) -> None:
    h = app.commands.handle
    feed_server.set(
        "/w.xml",
        rss(
            [
                Item("NATO meets in Brussels", "https://n.example/1", "1"),
                Item("Cup final tonight", "https://n.example/2", "2"),
            ]
        ),
    )
    await h(ADMIN, f"feed add {feed_server.url('/w.xml')}")
    await app.run_once()
    latest = await h(USER, "latest nato 3")
    assert latest.ok and "NATO meets in Brussels" in latest.text
    assert "Cup final" not in latest.text
    everything = await h(USER, "latest")
    assert "Cup final" in everything.text


async def test_admin_channel_receives_notices(app: Herald) -> None:
    reply = await app.commands.handle(ADMIN, "admin channel")
    assert reply.ok
    assert [(a.platform, a.workspace, a.channel) for a in await app.storage.admin_channels()] == [
        ("slack", "T1", "C1")
    ]
