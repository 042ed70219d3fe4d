"""Tests for bot.article (extraction, cache) and the article path of bot.summary_service."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import lxml.html
import pytest
import pytest_asyncio

from bot.article import ArticleCache, extract_article, is_html
from bot.clock import ManualClock
from bot.fetch import Fetcher
from bot.summary_service import SummaryService
from bot.types import Entry
from tests.fakes.feed_server import FeedServer
from tests.support import make_settings

PARAS = [
    "Flooding closed the main bridge into Riverton on Monday after the river rose two metres "
    "overnight, cutting the town's main road link to the regional hospital.",
    "Engineers said the bridge would stay shut while divers inspect its piers for damage, a "
    "job the county expects to take at least a week if the water level keeps falling.",
    "A temporary ferry will carry commuters across the river from Wednesday morning, the "
    "council said, and buses will be diverted over the old railway crossing.",
]


def page(paras: list[str] = PARAS, charset: str = "utf-8") -> str:
    body = "".join(f"<p>{p}</p>" for p in paras)
    return f"""<!doctype html><html><head><meta charset="{charset}">
<title>Bridge closed | Riverton News</title></head><body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/sport">Sport</a></li></ul></nav>
<header>Riverton News - subscribe to our daily newsletter</header>
<main><article><h1>Bridge into Riverton closed by floods</h1>{body}</article></main>
<aside><h3>Most read</h3><ul><li><a href="/x">Celebrity chef opens bakery</a></li></ul></aside>
<footer>Copyright 2026 Riverton News. All rights reserved. Privacy policy.</footer>
</body></html>"""


def test_extracts_the_article_body_without_page_furniture() -> None:
    text = extract_article(page().encode())
    for para in PARAS:
        assert para in text
    for junk in ("Most read", "Celebrity chef", "All rights reserved", "Sport"):
        assert junk not in text


def test_declared_charset_is_honoured() -> None:
    paras = [
        "Le café de la gare a fermé ses portes après trente ans de service, a annoncé le "
        "propriétaire lundi matin devant une foule d'habitués émus et de curieux."
    ] * 1
    html = page(paras, charset="iso-8859-1").encode("iso-8859-1")
    assert "Le café de la gare a fermé" in extract_article(html)


@pytest.mark.parametrize("html", [b"", "", b"\x00\xff garbage", "<html></html>", "plain words"])
def test_nothing_to_extract_gives_empty_text(html: bytes | str) -> None:
    assert extract_article(html) == ""


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("text/html; charset=utf-8", True),
        ("application/xhtml+xml", True),
        (None, True),
        ("application/pdf", False),
        ("image/jpeg", False),
        ("application/rss+xml", False),
    ],
)
def test_is_html(content_type: str | None, expected: bool) -> None:
    assert is_html(content_type) is expected


def test_cache_is_a_bounded_lru() -> None:
    cache = ArticleCache(clock=ManualClock(), max_entries=2)
    cache.put("a", "A")
    cache.put("b", "B")
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("c", "C")
    assert cache.get("b") is None
    assert [cache.get(k).text for k in ("a", "c")] == ["A", "C"]  # type: ignore[union-attr]
    assert len(cache) == 2
    with pytest.raises(ValueError, match="max_entries"):
        ArticleCache(clock=ManualClock(), max_entries=0)


def test_cache_expiry_is_shorter_for_failures() -> None:
    clock = ManualClock()
    cache = ArticleCache(clock=clock, ttl=3600, failure_ttl=60)
    cache.put("ok", "text")
    cache.put("failed", "")
    clock.advance(61)
    assert cache.get("failed") is None
    assert cache.get("ok") is not None
    clock.advance(3600)
    assert cache.get("ok") is None


# --------------------------------------------------------------------------------------------
# Real pages (../shared/data/articles)
# --------------------------------------------------------------------------------------------


def _tokens(text: str) -> Counter[str]:
    return Counter(re.findall(r"\w+", text.casefold()))


@pytest.mark.shared
@pytest.mark.parametrize("name", ["bbc-1", "nytimes-1", "guardian-1"])
def test_real_pages_precision_and_recall(shared_data: Path, name: str) -> None:
    folder = shared_data / "articles" / "readability" / name
    expected = lxml.html.fromstring((folder / "expected.html").read_bytes()).text_content()
    got = extract_article((folder / "source.html").read_bytes())
    common = sum((_tokens(got) & _tokens(expected)).values())
    precision = common / sum(_tokens(got).values())
    recall = common / sum(_tokens(expected).values())
    assert precision > 0.8 and recall > 0.8, (precision, recall)


# --------------------------------------------------------------------------------------------
# SummaryService: the teaser path, through the real Fetcher against a local server
# --------------------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def service(tmp_path: Path) -> AsyncIterator[SummaryService]:
    clock = ManualClock()
    fetcher = Fetcher(allow_private_networks=True, clock=clock)
    svc = SummaryService(make_settings(tmp_path), fetcher, clock=clock)
    try:
        yield svc
    finally:
        await svc.close()
        await fetcher.close()


def entry(link: str | None, summary: str, **kw: Any) -> Entry:
    return Entry(
        key="k-" + (link or "none"),
        title="Bridge into Riverton closed",
        link=link,
        summary=summary,
        **kw,
    )


HTML = "text/html; charset=utf-8"


async def test_teaser_is_replaced_by_the_article(
    service: SummaryService, feed_server: FeedServer
) -> None:
    feed_server.set("/story", page(), content_type=HTML)
    out = await service.summary_for(entry(feed_server.url("/story"), "Floods hit Riverton."))
    assert "Engineers said the bridge would stay shut" in out or "Flooding closed" in out
    assert len(out) <= service.settings.summary.max_chars
    # Cached: the next story with the same link does not refetch.
    await service.summary_for(entry(feed_server.url("/story"), "Floods hit Riverton."))
    assert len(feed_server.requests("/story")) == 1


async def test_full_feed_text_is_not_fetched(
    service: SummaryService, feed_server: FeedServer
) -> None:
    feed_server.set("/story", page(), content_type=HTML)
    text = " ".join(PARAS)
    out = await service.summary_for(entry(feed_server.url("/story"), text))
    assert out
    assert feed_server.requests("/story") == []


@pytest.mark.parametrize("kind", ["404", "pdf", "empty-page"])
async def test_failed_article_falls_back_to_the_teaser(
    service: SummaryService, feed_server: FeedServer, kind: str
) -> None:
    if kind == "404":
        feed_server.status("/story", 404)
    elif kind == "pdf":
        feed_server.set("/story", b"%PDF-1.4 ...", content_type="application/pdf")
    else:
        feed_server.set("/story", "<html><body><nav>Home</nav></body></html>", content_type=HTML)
    teaser = "Divers will inspect the piers of the closed bridge this week."
    out = await service.summary_for(entry(feed_server.url("/story"), teaser))
    assert out == teaser
    # The failure is cached too: no second request right away.
    await service.summary_for(entry(feed_server.url("/story"), teaser))
    assert len(feed_server.requests("/story")) == 1


async def test_private_address_is_refused_without_allow_private(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    clock = ManualClock()
    fetcher = Fetcher(clock=clock)  # the production default: SSRF guard on
    svc = SummaryService(make_settings(tmp_path), fetcher, clock=clock)
    try:
        feed_server.set("/story", page(), content_type=HTML)
        teaser = "Divers will inspect the piers of the closed bridge this week."
        assert await svc.summary_for(entry(feed_server.url("/story"), teaser)) == teaser
        assert feed_server.requests("/story") == []
    finally:
        await svc.close()
        await fetcher.close()


async def test_article_fetching_can_be_turned_off(
    service: SummaryService, feed_server: FeedServer
) -> None:
    service.fetch_article = False
    feed_server.set("/story", page(), content_type=HTML)
    assert await service.summary_for(entry(feed_server.url("/story"), "")) == ""
    assert feed_server.requests("/story") == []


async def test_title_only_item_without_link_says_nothing(service: SummaryService) -> None:
    assert await service.summary_for(entry(None, "Bridge into Riverton closed")) == ""
