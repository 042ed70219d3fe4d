"""Tests for bot.parse: real-world feeds from ../shared/data/feeds plus crafted edge cases."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import json
import multiprocessing
import pickle
import random
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.errors import ParseError
from bot.normalize import normalize_entry, normalize_feed
from bot.parse import parse_document, parse_off_loop
from bot.types import ParsedFeed

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FEEDS = DATA / "feeds"
URL = "https://example.com/feeds/news.xml"

# The one shared file with no items: Reuters served a truncated document (server-exception
# comment, no <item>, unclosed <channel>). Its header is valid: an empty feed, not an error.
EMPTY_FILES = {"feed-rs/MALFORMED_reuters_most_read_truncated.xml"}


def _feed_files() -> list[str]:
    if not FEEDS.is_dir():
        return []
    return sorted(
        str(p.relative_to(FEEDS)) for p in FEEDS.rglob("*") if p.is_file() and p.suffix != ".md"
    )


FEED_FILES = _feed_files()
needs_data = pytest.mark.skipif(not FEED_FILES, reason=f"shared feed data not found at {FEEDS}")


def _declared_item_counts() -> dict[str, int]:
    """The "items" column of SOURCES.md: what a strict count of <item>/<entry> elements found."""
    counts: dict[str, int] = {}
    for line in (FEEDS / "SOURCES.md").read_text(encoding="utf-8").splitlines():
        match = re.match(r"\| `([^`]+)` \| [^|]+ \| (\d+) \|", line)
        if match:
            counts[match.group(1)] = int(match.group(2))
    return counts


@functools.cache
def _parsed(name: str) -> ParsedFeed:
    # Cached: the golden and normalization tests reuse the parse of the per-file test.
    return parse_document((FEEDS / name).read_bytes(), url=URL)


# --- every shared feed -------------------------------------------------------------------------


@pytest.mark.shared
@needs_data
def test_shared_corpus_is_complete() -> None:
    assert len(FEED_FILES) == 79
    assert set(_declared_item_counts()) == set(FEED_FILES)


@pytest.mark.shared
@needs_data
@pytest.mark.parametrize("name", FEED_FILES or ["<missing>"])
def test_every_shared_feed_parses(name: str) -> None:
    feed = _parsed(name)
    assert feed.entries or name in EMPTY_FILES
    # feedparser recovers exactly the items a strict element count sees, even in broken files.
    assert len(feed.entries) == _declared_item_counts()[name]
    assert feed.format in {"rss20", "rss10", "rss090", "rss", "atom10", "json1", "json11"}
    # cerclepsy has one real <item> whose every child is empty; the rest must carry something.
    assert sum(1 for e in feed.entries if not (e.title or e.link)) <= 1
    for entry in feed.entries:
        for stamp in (entry.published, entry.updated):
            assert stamp is None or stamp.tzinfo is UTC
    if feed.bozo:
        assert feed.bozo_message and "\n" not in feed.bozo_message


@pytest.mark.shared
@needs_data
def test_empty_shared_feed_is_an_empty_feed_not_an_error() -> None:
    feed = _parsed("feed-rs/MALFORMED_reuters_most_read_truncated.xml")
    assert feed.entries == ()
    assert feed.format == "rss20"
    assert feed.title == "Reuters: Most Read Articles"
    assert feed.bozo


GOLDEN = [
    # (file, format, entries, bozo, first title, first link) -- checked by eye against the files.
    (
        "fastfeedparser/bbc_news_world.rss.xml",
        "rss20",
        33,
        False,
        "US civil rights leader Jesse Jackson dies aged 84",
        "https://www.bbc.com/news/articles/cp81l0e1eg5o?at_medium=RSS&at_campaign=rss",
    ),
    (
        "feeder/slashdot.rdf.xml",
        "rss10",
        15,
        False,
        "Ransomware Attack Hampers Prescription Drug Sales at 90% of US Pharmacies",
        "https://yro.slashdot.org/story/24/03/02/071229/ransomware-attack-hampers-prescription-"
        "drug-sales-at-90-of-us-pharmacies?utm_source=rss1.0mainlinkanon&utm_medium=feed",
    ),
    (
        "miniflux/heise_rdf_UTF8.xml",
        "rss090",
        60,
        False,
        "OLED-TVs: Vorsichtsmaßnahmen gegen Einbrennen",
        "https://www.heise.de/newsticker/meldung/OLED-TVs-Vorsichtsmassnahmen-gegen-Einbrennen-"
        "4205274.html?wt_mc=rss.ho.beitrag.rdf",
    ),
    (
        "fastfeedparser/kottke.atom.xml",
        "atom10",
        60,
        False,
        "Reimagining the Origins of Winter Sports",
        "https://kottke.org/26/02/reimagining-the-origins-of-winter-sports",
    ),
    (
        "feedjira/lukedorny_jsonfeed_escaped_uris.json",
        "json11",
        30,
        False,
        "New Font",
        "https://lukedorny.com/updates/new-font",
    ),
    (
        "trafilatura/npr_technology_jsonfeed.json",
        "json1",
        25,
        False,
        "Keller Rinaudo: How can delivery drones save lives?",
        "https://www.npr.org/2021/10/29/1050315385/keller-rinaudo-how-can-delivery-drones-save-"
        "lives?utm_medium=JSONFeed&utm_campaign=technology",
    ),
    (
        "fastfeedparser/MALFORMED_oscard0m_unescaped_ampersand.rss.xml",
        "rss20",
        15,
        True,
        "How to use 'Nested Layouts' without 'Nested URLs' in Remix",
        "https://web-oscard0m.vercel.app/blog/remix/nested-layouts-without-nested-urls",
    ),
    (
        "fastfeedparser/MALFORMED_dylanharris_rss_prefixed.xml",
        "rss",
        35,
        True,
        "jenni tucker",
        "https://dylanharris.org/blog/2026/b5.shtml",
    ),
    (
        "miniflux/ibash_encoding_WINDOWS-1251.xml",
        "rss20",
        50,
        False,
        "Цитата #17703",
        "http://ibash.org.ru/quote.php?id=17703",
    ),
    (
        "rss-parser/jn_pt_iso8859-1.rss",
        "rss20",
        40,
        False,
        "Mãe de utente é a nova presidente da Raríssimas",
        "http://feeds.jn.pt/~r/JN-ULTIMAS/~3/UBnb8Ra3Q1U/sonia-laig-e-a-nova-presidente-da-"
        "rarissimas-9021600.html",
    ),
]


@pytest.mark.shared
@needs_data
@pytest.mark.parametrize(("name", "fmt", "count", "bozo", "title", "link"), GOLDEN)
def test_golden_feeds(name: str, fmt: str, count: int, bozo: bool, title: str, link: str) -> None:
    feed = _parsed(name)
    assert feed.format == fmt
    assert len(feed.entries) == count
    assert feed.bozo is bozo
    first = normalize_entry(feed.entries[0], feed_url=URL)
    assert first is not None
    assert first.title == title
    assert first.link == link


@pytest.mark.shared
@needs_data
def test_golden_details() -> None:
    bbc = _parsed("fastfeedparser/bbc_news_world.rss.xml").entries[0]
    assert bbc.guid == "https://www.bbc.com/news/articles/cp81l0e1eg5o#0"
    assert bbc.published == datetime(2026, 2, 17, 18, 55, 33, tzinfo=UTC)
    assert bbc.image is not None and bbc.image.startswith("https://ichef.bbci.co.uk/")
    # RSS <author> "email (Name)": the name only, so addresses stay out of alerts.
    oscar = _parsed("fastfeedparser/MALFORMED_oscard0m_unescaped_ampersand.rss.xml").entries[0]
    assert oscar.author == "Oscar Dominguez"
    assert oscar.categories == ("remix", "react", "routing")
    luke = _parsed("feedjira/lukedorny_jsonfeed_escaped_uris.json").entries[0]
    assert luke.categories == ("Design",)
    assert luke.image is not None and luke.image.endswith("asketch1-500x-crop.jpg")
    # dc:date only: feedparser reports it as "updated".
    slashdot = _parsed("feeder/slashdot.rdf.xml").entries[0]
    assert slashdot.published is None and slashdot.updated is not None


@pytest.mark.shared
@needs_data
def test_every_shared_feed_normalizes() -> None:
    total = 0
    for name in FEED_FILES:
        entries = normalize_feed(_parsed(name), feed_url=URL)
        assert entries or name in EMPTY_FILES
        total += len(entries)
        for entry in entries:
            assert len(entry.key) == 64
            assert entry.link is None or entry.link.startswith(("http://", "https://"))
            assert "<p>" not in entry.summary and "\n" not in entry.summary
    # 2543 parsed items; 12 are in-feed repeats or empty <item/>s.
    assert total == 2531


# --- crafted documents ---------------------------------------------------------------------------

RSS_TEMPLATE = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">
<channel><title>T</title><link>https://example.com/</link><description>d</description>
{items}
</channel></rss>"""


def rss(items: str) -> bytes:
    return RSS_TEMPLATE.format(items=items).encode("utf-8")


HTML_PAGE = b"""<!DOCTYPE html>
<html><head><title>Example Domain</title></head>
<body><h1>Example</h1><p>This domain is for use in examples.</p></body></html>"""


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b"  \r\n\t ", "whitespace"),
        (HTML_PAGE, "this looks like an HTML page, not a feed"),
        (b"<html><body><p>hi</p></body></html>", "HTML page"),
        (b"hello world, this is plain text", "not an RSS, Atom or JSON feed"),
        (b"{not json", "not valid JSON"),
        (b"[" * 100_000, "JSON"),
        (b"[1, 2, 3]", "not a JSON Feed"),
        (b'{"title": "x", "entries": []}', "not a JSON Feed"),
        (b'{"version": "1.0"}', "not a JSON Feed"),
        (b"\xef\xbb\xbf   ", "whitespace"),
    ],
)
def test_not_a_feed_raises_parse_error(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=re.escape(message)) as info:
        parse_document(body, url=URL)
    assert "\n" not in str(info.value)


def test_deeply_nested_json_object_raises_parse_error() -> None:
    with pytest.raises(ParseError):
        parse_document(b'{"a":' * 100_000, url=URL, content_type="application/feed+json")


def test_invalid_utf8_json_raises_parse_error() -> None:
    with pytest.raises(ParseError):
        parse_document(b'{"version": "\xff\xfe\xfa"}', url=URL)


def test_garbage_bytes_raise_parse_error() -> None:
    rng = random.Random(20260101)
    for _ in range(20):
        with pytest.raises(ParseError):
            parse_document(rng.randbytes(rng.randint(1, 3000)), url=URL)


def test_body_naming_a_local_file_is_not_read(tmp_path: Path) -> None:
    # If feedparser ever treated the body as a path it would parse this valid feed.
    secret = tmp_path / "secret.xml"
    secret.write_bytes(rss("<item><title>SECRET</title><link>https://x.example/</link></item>"))
    assert parse_document(secret.read_bytes(), url=URL).entries[0].title == "SECRET"
    for body in (str(secret).encode(), secret.as_uri().encode(), b"/etc/passwd"):
        with pytest.raises(ParseError):
            parse_document(body, url=URL)


def test_valid_header_without_items_is_an_empty_feed() -> None:
    feed = parse_document(rss(""), url=URL)
    assert feed == ParsedFeed(format="rss20", title="T", link="https://example.com/")
    empty_json = b'{"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": []}'
    assert parse_document(empty_json, url=URL) == ParsedFeed(format="json11", title="J")


def test_rss_fields_dates_images_and_content() -> None:
    body = rss(
        """
<item xmlns:content="http://purl.org/rss/1.0/modules/content/">
  <title>First &amp; best</title><link>/news/1</link><guid isPermaLink="false">id-1</guid>
  <description>short</description>
  <content:encoded><![CDATA[<p>much longer body text</p>]]></content:encoded>
  <pubDate>Tue, 03 Mar 2026 10:00:00 +0200</pubDate>
  <author>jane@example.com (Jane Doe)</author>
  <category>World</category><category>Politics</category>
  <media:thumbnail url="https://img.example.com/t.jpg"/>
</item>
<item><title>Two</title><link>https://example.com/2</link>
  <pubDate>Fri, 01 Jan 2099 00:00:00 GMT</pubDate>
  <media:content url="https://img.example.com/v.mp4" medium="video"/>
  <media:content url="https://img.example.com/c.png" medium="image"/></item>
<item><title>Three</title><link>https://example.com/3</link>
  <pubDate>not a date at all</pubDate>
  <enclosure url="https://img.example.com/e.jpg" type="image/jpeg" length="1"/></item>
"""
    )
    feed = parse_document(body, url="https://example.com/feeds/news.xml")
    first, second, third = feed.entries
    assert first.guid == "id-1"
    assert first.link == "https://example.com/news/1"  # resolved against the document URL
    assert first.summary == "short"
    assert first.content == "<p>much longer body text</p>"
    assert first.published == datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
    assert first.author == "Jane Doe"
    assert first.categories == ("World", "Politics")
    assert first.image == "https://img.example.com/t.jpg"
    assert second.published == datetime(2099, 1, 1, tzinfo=UTC)  # future dates are kept
    assert second.image == "https://img.example.com/c.png"
    assert third.published is None
    assert third.image == "https://img.example.com/e.jpg"
    assert not feed.bozo


def test_atom_relative_links_plain_text_titles_and_longest_content() -> None:
    body = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://blog.example.org/posts/">
  <title>A</title><id>urn:a</id><updated>2026-01-01T00:00:00Z</updated>
  <entry><title type="text">a &lt;b and c&gt; d</title><id>urn:1</id>
    <link rel="alternate" href="one.html"/>
    <updated>2026-01-02T03:04:05-05:00</updated>
    <content type="html">&lt;p&gt;body&lt;/p&gt;</content>
  </entry>
</feed>"""
    feed = parse_document(body, url=URL)
    assert feed.format == "atom10"
    raw = feed.entries[0]
    assert raw.link == "https://blog.example.org/posts/one.html"
    assert raw.updated == datetime(2026, 1, 2, 8, 4, 5, tzinfo=UTC)
    entry = normalize_entry(raw, feed_url=URL)
    assert entry is not None
    # A text/plain title is escaped so normalization keeps its literal angle brackets.
    assert entry.title == "a <b and c> d"
    assert entry.summary == "body"


def test_malformed_feed_is_recovered_with_one_line_bozo_message() -> None:
    body = rss("<item><title>Tom & Jerry</title><link>https://e.com/1</link></item>")
    feed = parse_document(body, url=URL)
    assert feed.bozo
    assert feed.bozo_message and "\n" not in feed.bozo_message
    assert [e.link for e in feed.entries] == ["https://e.com/1"]


def test_mislabelled_charset_still_decodes() -> None:
    body = rss("<item><title>Café</title></item>").replace(b"utf-8", b"iso-8859-1", 1)
    body = body.replace("Café".encode(), "Café".encode("iso-8859-1"))
    feed = parse_document(body, url=URL, content_type="text/xml; charset=iso-8859-1")
    assert feed.entries[0].title == "Café"


@pytest.mark.parametrize("declared", ["utf-16", "UTF-16LE", "utf16"])
@pytest.mark.parametrize("content_type", [None, "application/rss+xml", "text/xml"])
def test_a_false_utf16_declaration_reads_the_same_at_any_length(
    declared: str, content_type: str | None
) -> None:
    # Written in UTF-8 under a UTF-16 declaration: feedparser's reading of it used to depend on
    # whether the byte count was odd (decoding as UTF-16 fails: read as UTF-8) or even (it
    # "succeeds" into garbage: no feed at all).
    odd = rss("<item><title>Zürich summit</title><guid>z1</guid></item>").replace(
        b"utf-8", declared.encode(), 1
    )
    if len(odd) % 2 == 0:
        odd += b" "
    even = odd + b" "
    feeds = [parse_document(b, url=URL, content_type=content_type) for b in (odd, even)]
    assert [[e.title for e in f.entries] for f in feeds] == [["Zürich summit"]] * 2
    assert feeds[0].bozo_message == feeds[1].bozo_message
    assert feeds[0].bozo_message and "parsed as utf-8" in feeds[0].bozo_message


@needs_data
def test_the_shared_false_utf16_feed_parses_whatever_its_length() -> None:
    name = "fastfeedparser/MALFORMED_eliotjones_utf16_declared_but_utf8.rss.xml"
    body = (FEEDS / name).read_bytes()
    longer = body.replace(b"<channel>", b"<channel> ", 1)  # one byte more: the other parity
    assert len(longer) == len(body) + 1
    before, after = (parse_document(b, url=URL) for b in (body, longer))
    assert len(before.entries) == 59
    assert after.entries == before.entries and after.bozo_message == before.bozo_message


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "text/plain", None])
def test_feed_served_with_a_non_xml_content_type_is_not_bozo(content_type: str | None) -> None:
    feed = parse_document(rss("<item><title>x</title></item>"), url=URL, content_type=content_type)
    assert (feed.bozo, feed.bozo_message) == (False, None)
    assert feed.entries[0].title == "x"


def test_max_entries_keeps_the_first_ones_in_order() -> None:
    items = "".join(f"<item><title>n{i}</title></item>" for i in range(10))
    feed = parse_document(rss(items), url=URL, max_entries=3)
    assert [e.title for e in feed.entries] == ["n0", "n1", "n2"]
    doc = {
        "version": "https://jsonfeed.org/version/1",
        "items": [{"id": str(i), "title": f"j{i}"} for i in range(10)],
    }
    feed = parse_document(json.dumps(doc).encode(), url=URL, max_entries=4)
    assert [e.guid for e in feed.entries] == ["0", "1", "2", "3"]


# --- JSON Feed ---------------------------------------------------------------------------------


def test_json_feed_field_mapping() -> None:
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "My feed",
        "home_page_url": "https://example.org/",
        "items": [
            {
                "id": "abc",
                "url": "https://example.org/a",
                "external_url": "https://elsewhere.example/a",
                "title": "Fish & chips",
                "summary": "sum",
                "content_html": "<p>Hello</p>",
                "content_text": "Hello",
                "date_published": "2026-02-01T10:00:00+02:00",
                "date_modified": "2026-02-01T12:00:00Z",
                "authors": [{"name": "Ann"}],
                "tags": ["x", "y"],
                "image": "https://example.org/i.png",
            },
            {
                "id": 7,
                "external_url": "/relative",
                "content_text": "a <b> c",
                "author": {"name": "Old style"},
                "banner_image": "https://example.org/b.png",
            },
        ],
    }
    feed = parse_document(json.dumps(doc).encode(), url=URL, content_type="application/feed+json")
    assert (feed.format, feed.title, feed.link) == ("json11", "My feed", "https://example.org/")
    one, two = feed.entries
    assert one.guid == "abc" and one.link == "https://example.org/a"
    assert one.content == "<p>Hello</p>" and one.summary == "sum"
    assert one.published == datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
    assert one.updated == datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
    assert one.author == "Ann" and one.categories == ("x", "y")
    assert one.image == "https://example.org/i.png"
    assert two.guid == "7" and two.link == "/relative"
    assert two.author == "Old style" and two.image == "https://example.org/b.png"
    entry = normalize_entry(two, feed_url=URL)
    assert entry is not None
    assert entry.link == "https://example.com/relative"
    assert entry.summary == "a <b> c"  # content_text is plain text: brackets survive
    title = normalize_entry(one, feed_url=URL)
    assert title is not None and title.title == "Fish & chips"


def test_json_feed_with_wrong_types_still_yields_entries() -> None:
    doc = {
        "version": "https://jsonfeed.org/version/1",
        "title": ["not", "a", "string"],
        "items": [
            "a string is not an item",
            42,
            None,
            {
                "id": {"nested": True},
                "url": ["https://x.example/"],
                "title": 12,
                "summary": {"text": "no"},
                "content_html": 3.5,
                "date_published": "yesterday",
                "date_modified": 1700000000,
                "authors": "Bob",
                "author": "Bob",
                "tags": "solo-tag",
                "image": False,
            },
            {
                "id": "ok",
                "title": "Survivor",
                "tags": ["good", 5, None, ""],
                "authors": [7, {"name": "Real"}],
            },
        ],
    }
    feed = parse_document(json.dumps(doc).encode(), url=URL)
    assert feed.title is None
    broken, survivor = feed.entries
    assert broken.guid is None and broken.link is None and broken.title is None
    assert broken.summary is None and broken.content is None
    assert broken.published is None and broken.updated is None
    assert broken.author is None and broken.categories == () and broken.image is None
    assert survivor.title == "Survivor"
    assert survivor.categories == ("good",)
    assert survivor.author == "Real"


def test_json_feed_without_items_list_is_empty_and_flagged() -> None:
    doc = {"version": "https://jsonfeed.org/version/1", "title": "x", "items": {"not": "list"}}
    feed = parse_document(json.dumps(doc).encode(), url=URL)
    assert feed.entries == ()
    assert feed.bozo and feed.bozo_message


def test_json_feed_double_escaped_html_is_unescaped_once() -> None:
    doc = {
        "version": "https://jsonfeed.org/version/1",
        "items": [{"id": "1", "content_html": "&lt;p&gt;Tom &amp;amp; Jerry&lt;/p&gt;"}],
    }
    raw = parse_document(json.dumps(doc).encode(), url=URL).entries[0]
    entry = normalize_entry(raw, feed_url=URL)
    assert entry is not None and entry.summary == "Tom & Jerry"


def test_json_content_type_with_leading_whitespace_and_bom() -> None:
    doc = b'\xef\xbb\xbf \n {"version": "https://jsonfeed.org/version/1", "items": [{"id": "1"}]}'
    feed = parse_document(doc, url=URL, content_type="application/json; charset=utf-8")
    assert [e.guid for e in feed.entries] == ["1"]


def test_xml_served_as_json_is_still_parsed_as_xml() -> None:
    body = rss("<item><title>x</title></item>")
    feed = parse_document(body, url=URL, content_type="application/json")
    assert feed.format == "rss20" and feed.entries[0].title == "x"


# --- off the loop --------------------------------------------------------------------------------


async def test_parse_off_loop_default_and_thread_executor() -> None:
    body = rss("<item><title>async</title></item>")
    feed = await parse_off_loop(body, url=URL)
    assert feed.entries[0].title == "async"
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        feed = await parse_off_loop(body, url=URL, max_entries=0, executor=pool)
    assert feed.entries == ()
    with pytest.raises(ParseError):
        await parse_off_loop(b"", url=URL)


async def test_parse_off_loop_in_a_process_pool() -> None:
    assert pickle.loads(pickle.dumps(parse_document)) is parse_document
    body = rss("<item><title>in a child process</title></item>")
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        feed = await asyncio.wait_for(parse_off_loop(body, url=URL, executor=pool), 60)
    assert feed.entries[0].title == "in a child process"
