"""The demo newsroom: real local HTTP server, real feed parsing, injected clock and seeded rng."""

from __future__ import annotations

import asyncio
import io
import json
import random
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from email.utils import format_datetime
from typing import Any
from xml.sax.saxutils import escape

import aiohttp
import feedparser
import pytest

from bot.clock import ManualClock
from bot.demo import STORIES, Newsroom, demo_topics
from bot.demo.newsroom import WINDOW
from bot.demo.stories import SAFETY_SLUGS

CONTENT_TYPES = {
    "wire": "application/rss+xml",
    "desk": "application/atom+xml",
    "briefing": "application/feed+json",
}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def newsroom(clock: ManualClock) -> AsyncIterator[Newsroom]:
    room = Newsroom(rng=random.Random(7), clock=clock)
    await room.start()
    yield room
    await room.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
) -> tuple[int, Any, bytes]:
    async with http.get(url, headers=headers or {}) as resp:
        return resp.status, resp.headers, await resp.read()


def parse(name: str, body: bytes) -> list[dict[str, str]]:
    """Items of one feed as ``{"id", "title", "link"}``, newest first, via the real parsers."""
    if name == "briefing":
        doc = json.loads(body.decode("utf-8"))
        assert doc["version"] == "https://jsonfeed.org/version/1.1"
        return [{"id": i["id"], "title": i["title"], "link": i["url"]} for i in doc["items"]]
    parsed = feedparser.parse(io.BytesIO(body))
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == ("rss20" if name == "wire" else "atom10")
    return [{"id": e.id, "title": e.title, "link": e.link} for e in parsed.entries]


async def snapshot(room: Newsroom, http: aiohttp.ClientSession) -> dict[str, list[dict[str, str]]]:
    out = {}
    for name, url in room.feed_urls.items():
        status, headers, body = await get(http, url)
        assert status == 200
        assert headers["Content-Type"] == f"{CONTENT_TYPES[name]}; charset=utf-8"
        out[name] = parse(name, body)
    return out


async def test_three_feeds_parse_and_hold_the_initial_batch(
    newsroom: Newsroom, http: aiohttp.ClientSession
) -> None:
    assert set(newsroom.feed_urls) == {"wire", "desk", "briefing"}
    feeds = await snapshot(newsroom, http)
    items = [item for entries in feeds.values() for item in entries]
    stories = {p.story.slug for p in newsroom.published}
    assert len(stories) == 5
    assert len(items) == len(newsroom.published)
    assert len({i["id"] for i in items}) == len(items)
    base = newsroom.feed_urls["wire"].removesuffix("/wire.rss")
    assert all(i["link"].startswith(base + "/articles/") for i in items)
    # No safety demonstration hides among the items the first poll marks as seen.
    assert not stories & SAFETY_SLUGS


async def test_publish_next_adds_one_story_sometimes_on_two_outlets(
    newsroom: Newsroom, http: aiohttp.ClientSession
) -> None:
    before = await snapshot(newsroom, http)
    seen_counts = set()
    for _ in range(25):
        story = newsroom.publish_next()
        assert story is not None
        after = await snapshot(newsroom, http)
        new = [
            (name, item)
            for name, entries in after.items()
            for item in entries
            if item["id"] not in {b["id"] for b in before[name]}
        ]
        assert len(new) in (1, 2)
        seen_counts.add(len(new))
        assert new[0][1]["title"] in (story.title, story.alt_title)
        if len(new) == 2:
            (feed_a, a), (feed_b, b) = new
            assert feed_a != feed_b
            assert {a["title"], b["title"]} == {story.title, story.alt_title}
            assert a["link"] != b["link"]
        before = after
    assert seen_counts == {1, 2}  # seed 7 produces both single and cross-outlet stories


async def test_etag_and_last_modified_answer_304_until_the_feed_changes(
    newsroom: Newsroom, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    for name, url in newsroom.feed_urls.items():
        status, headers, body = await get(http, url)
        etag, last_modified = headers["ETag"], headers["Last-Modified"]
        assert status == 200 and body

        status, _, body = await get(http, url, {"If-None-Match": etag})
        assert (status, body) == (304, b"")
        status, _, _ = await get(http, url, {"If-Modified-Since": last_modified})
        assert status == 304
        status, _, _ = await get(http, url, {"If-None-Match": '"stale"'})
        assert status == 200

        clock.advance(60)
        count = len(newsroom.published)
        newsroom.publish_next()
        while not any(p.feed == name for p in newsroom.published[count:]):
            newsroom.publish_next()
        status, headers, body = await get(http, url, {"If-None-Match": etag})
        assert status == 200 and headers["ETag"] != etag
        assert headers["Last-Modified"] == format_datetime(clock.now(), usegmt=True)
        status, _, _ = await get(http, url, {"If-Modified-Since": last_modified})
        assert status == 200


async def test_article_page_and_image_are_served(
    newsroom: Newsroom, http: aiohttp.ClientSession
) -> None:
    while not any(p.story.image for p in newsroom.published):
        newsroom.publish_next()
    pub = next(p for p in newsroom.published if p.story.image)
    base = newsroom.feed_urls["wire"].removesuffix("/wire.rss")

    status, headers, body = await get(http, base + pub.path)
    page = body.decode("utf-8")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert f"<h1>{escape(pub.title)}</h1>" in page
    assert (pub.story.html or f"<p>{escape(pub.story.body)}</p>") in page
    assert pub.author in page

    assert pub.story.image is not None
    status, headers, body = await get(http, base + pub.story.image)
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert body.startswith(b"\x89PNG\r\n\x1a\n") and body.endswith(b"IEND\xaeB`\x82")

    status, _, _ = await get(http, base + "/articles/no-such-story")
    assert status == 404


async def test_images_are_advertised_in_every_format(
    newsroom: Newsroom, http: aiohttp.ClientSession
) -> None:
    for _ in range(40):
        newsroom.publish_next()
    _, _, rss = await get(http, newsroom.feed_urls["wire"])
    enclosures = [e.enclosures for e in feedparser.parse(io.BytesIO(rss)).entries if e.enclosures]
    assert enclosures and enclosures[0][0]["type"] == "image/png"
    _, _, atom = await get(http, newsroom.feed_urls["desk"])
    atom_links = [link for e in feedparser.parse(io.BytesIO(atom)).entries for link in e.links]
    assert any(link["rel"] == "enclosure" for link in atom_links)
    _, _, js = await get(http, newsroom.feed_urls["briefing"])
    images = [i["image"] for i in json.loads(js)["items"] if "image" in i]
    assert images and all(re.search(r"/img/[a-z0-9-]+\.png$", u) for u in images)


async def test_each_feed_keeps_the_newest_30(
    newsroom: Newsroom, http: aiohttp.ClientSession, clock: ManualClock
) -> None:
    for _ in range(150):
        clock.advance(5)
        newsroom.publish_next()
    feeds = await snapshot(newsroom, http)
    for name, entries in feeds.items():
        assert len(entries) == WINDOW
        newest = [p for p in newsroom.published if p.feed == name][-WINDOW:]
        assert [e["id"] for e in entries] == [p.guid for p in reversed(newest)]


async def test_same_seed_same_feeds_other_seed_differs(http: aiohttp.ClientSession) -> None:
    async def bodies(seed: int) -> dict[str, str]:
        clock = ManualClock()
        room = Newsroom(rng=random.Random(seed), clock=clock)
        base = await room.start()
        try:
            for _ in range(12):
                clock.advance(7)
                room.publish_next()
            out = {}
            for name, url in room.feed_urls.items():
                _, _, body = await get(http, url)
                out[name] = body.decode("utf-8").replace(base, "BASE")
            return out
        finally:
            await room.stop()

    first, second, other = await bodies(7), await bodies(7), await bodies(8)
    assert first == second
    assert first != other


async def test_run_publishes_as_the_clock_advances(clock: ManualClock) -> None:
    room = Newsroom(rng=random.Random(7), clock=clock, interval=6.0, initial=3)
    start = clock.now()
    stories_before = len({p.story.slug for p in room.published})
    task = asyncio.create_task(room.run())
    for _ in range(1000):
        if len({p.story.slug for p in room.published}) >= stories_before + 8:
            break
        await asyncio.sleep(0)
    await room.stop()
    await task  # returns normally: stop() is not an error
    assert task.done() and not task.cancelled()

    new = [p for p in room.published if p.published >= start]
    slugs = list(dict.fromkeys(p.story.slug for p in new))
    assert len(slugs) >= 8
    elapsed = (clock.now() - start).total_seconds()
    assert 3.0 * len(slugs) <= elapsed <= 9.0 * (len(slugs) + 1)
    times = [p.published for p in new]
    assert times == sorted(times) and len(set(times)) == len(slugs)


async def test_external_cancel_still_propagates(clock: ManualClock) -> None:
    room = Newsroom(rng=random.Random(7), clock=clock)
    task = asyncio.create_task(room.run())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_initial_items_are_backdated_and_published_use_the_clock(clock: ManualClock) -> None:
    room = Newsroom(rng=random.Random(7), clock=clock, interval=10.0, initial=4)
    times = sorted({p.published for p in room.published})
    assert times == [clock.now() - timedelta(seconds=s) for s in (40, 30, 20, 10)]
    clock.advance(3)
    room.publish_next()
    assert room.published[-1].published == clock.now()
    assert Newsroom(rng=random.Random(7), clock=clock, initial=0).published == ()


def test_stories_cycle_with_new_slugs_or_run_out(clock: ManualClock) -> None:
    room = Newsroom(rng=random.Random(7), clock=clock, initial=0)
    first = [room.publish_next() for _ in STORIES]
    again = room.publish_next()
    assert again is not None and again.slug not in {s.slug for s in first if s}
    assert again.slug.endswith("-2") and again.title.endswith("(update 2)")

    finite = Newsroom(rng=random.Random(7), clock=clock, initial=0, cycle=False)
    assert all(finite.publish_next() is not None for _ in STORIES)
    assert finite.publish_next() is None


async def test_safety_items_are_escaped_and_reach_the_feeds(
    newsroom: Newsroom, http: aiohttp.ClientSession
) -> None:
    while not {p.story.slug for p in newsroom.published} >= SAFETY_SLUGS:
        newsroom.publish_next()
    hostile = {p.guid: p for p in newsroom.published if p.story.slug in SAFETY_SLUGS}
    found = 0
    for name, url in newsroom.feed_urls.items():
        _, _, body = await get(http, url)
        text = body.decode("utf-8")
        if name != "briefing":
            assert "<script" not in text  # the markup is escaped inside the XML
        for item in parse(name, body):
            if item["id"].endswith(tuple(hostile)):
                found += 1
    assert found >= len(SAFETY_SLUGS)
    titles = " ".join(p.title for p in hostile.values())
    for hazard in ("@everyone", "<!channel>", "<@&", "](https://"):
        assert hazard in titles
    html = " ".join(p.story.html or "" for p in hostile.values())
    assert "<script>" in html and 'href="javascript:' in html


def test_story_catalogue_shape() -> None:
    assert len(STORIES) >= 45
    assert len({s.slug for s in STORIES}) == len(STORIES)
    for s in STORIES:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", s.slug)
        sentences = re.split(r"(?<=[.!?”])\s+(?=[A-Z0-9“])", s.body)
        assert 2 <= len(sentences) <= 4, s.slug
        assert s.categories
        assert s.image in (None, f"/img/{s.slug}.png")
        assert s.alt_title and s.alt_title != s.title
    assert {s.slug for s in STORIES} >= SAFETY_SLUGS


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _matches(query: str, text: str) -> bool:
    """Evaluate an OR-only query (terms, "phrases", prefix*) the way the topic syntax reads."""
    words = _tokens(text)
    for part in query.split(" OR "):
        assert " AND " not in part and " NOT " not in part and "(" not in part
        if part.startswith('"'):
            phrase = _tokens(part)
            if any(words[i : i + len(phrase)] == phrase for i in range(len(words))):
                return True
        elif part.endswith("*"):
            if any(w.startswith(part[:-1]) for w in words):
                return True
        elif part in words:
            return True
    return False


def test_demo_topics_fit_the_stories() -> None:
    topics = demo_topics()
    assert 4 <= len(topics) <= 5
    hits = {name: 0 for name in topics}
    multi = none = 0
    for s in STORIES:
        text = f"{s.title} {s.body}"
        matched = [name for name, q in topics.items() if _matches(q, text)]
        for name in matched:
            hits[name] += 1
        multi += len(matched) >= 2
        if not matched:
            none += 1
            assert not any(_matches(q, " ".join(s.categories)) for q in topics.values())
    assert min(hits.values()) >= 5, hits
    assert multi >= 5 and none >= 8
