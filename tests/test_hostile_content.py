"""Hostile feed content: entity bombs, the parsing sandbox, text that reaches chat, identity edge
cases, queries and command input. Every large input is generated here, never committed.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import Herald
from bot.clock import ManualClock
from bot.errors import ParseError
from bot.normalize import (
    AUTHOR_LIMIT,
    CATEGORY_LIMIT,
    GUID_STORE_LIMIT,
    MAX_CATEGORIES,
    SUMMARY_LIMIT,
    TITLE_LIMIT,
    normalize_entry,
    normalize_feed,
    read_feed,
    read_feed_off_loop,
)
from bot.parse import parse_document
from bot.sandbox import ParsePool, read_items_sandboxed
from bot.topics import MAX_QUERY_LENGTH, MatchDoc, TopicMatcher, prepare
from bot.types import Caller, Entry, ParsedFeed, RawEntry
from tests.fakes import feeds
from tests.fakes.feeds import Item, entity_bomb, rss
from tests.support import RecordingAdapter, make_settings

URL = "https://news.example.com/feed.xml"
MIB = 1024 * 1024
PARENT_LIMIT = 300 * MIB
WORKER_LIMIT = 256 * MIB
ENTITY_REFUSED = "declares XML entities"


@pytest.fixture(scope="module")
def pool() -> Iterator[ParsePool]:
    # Module scope: workers start once (~0.5 s), not per test.
    with ParsePool(2, memory_limit=WORKER_LIMIT, timeout=20.0) as p:
        yield p


class RssMonitor:
    """Samples this process's resident set size every few milliseconds on a thread."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            self._stop.wait(0.005)

    def __enter__(self) -> RssMonitor:
        self.peak = self.rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())


# --- XML entity attacks -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "encoding", ["utf-8", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "cp1252"]
)
@pytest.mark.parametrize("junk", ["", "junk line\n"])
@pytest.mark.parametrize("one_line", [False, True])
def test_entity_declarations_are_refused_in_any_encoding(
    encoding: str, junk: str, one_line: bool
) -> None:
    # Small enough that, without the check, feedparser "succeeds" with a 2 MB summary instead.
    body = entity_bomb(
        entity_size=2000, references=1000, encoding=encoding, junk=junk, one_line=one_line
    )
    with pytest.raises(ParseError, match=ENTITY_REFUSED):
        parse_document(body, url=URL)


def test_without_the_check_the_small_bomb_really_expands() -> None:
    # The premise of the test above: bare feedparser expands it a thousandfold.
    assert feeds.feedparser_only(entity_bomb(entity_size=2000, references=1000)) == 2_000_000


@pytest.mark.parametrize(
    "prolog",
    [
        '<!DOCTYPE rss [\n<!--\n<!ENTITY big "{a}">\n-->\n]>',  # feedparser revives it
        '<!DOCTYPE rss [\n  <!entity big "{a}">\n]>',
        '<!DOCTYPE rss [\n<!ENTITY % p "{a}">\n]>',
        '<!DOCTYPE rss SYSTEM "http://169.254.169.254/x.dtd" [<!ENTITY big "{a}">]>',
    ],
)
def test_entity_declaration_variants_are_refused(prolog: str) -> None:
    body = (
        prolog.format(a="A" * 100)
        + '\n<rss version="2.0"><channel><title>t</title><item><title>&big;</title></item>'
        "</channel></rss>"
    ).encode()
    with pytest.raises(ParseError, match=ENTITY_REFUSED):
        parse_document(body, url=URL)


def test_entity_text_inside_an_item_is_not_a_declaration() -> None:
    # A post about XXE, with the markup in CDATA: only the prolog can declare entities.
    body = rss([Item("About XXE", summary="<![CDATA[", guid="x")]).replace(
        b"&lt;![CDATA[", b'<![CDATA[<!ENTITY big "AAAA"> is an entity declaration]]>'
    )
    feed = parse_document(body, url=URL)
    assert feed.entries[0].title == "About XXE"
    assert "<!ENTITY big" in (feed.entries[0].summary or "")


# --- the sandbox ----------------------------------------------------------------------------------


async def read_sandboxed(body: bytes, **kw: object) -> tuple[ParsedFeed, list[Entry]]:
    """What the poller runs in the pool (``read_items_sandboxed``), as (feed, entries)."""
    reading = await read_items_sandboxed(body, **kw)  # type: ignore[arg-type]
    return reading.feed, list(reading.entries)


async def test_sandboxed_read_returns_normalized_entries(pool: ParsePool) -> None:
    body = rss([Item("Hello <b>", link="https://example.org/a", guid="a")])
    parsed, entries = await read_sandboxed(body, url=URL, pool=pool)
    assert parsed.format == "rss20"
    assert [e.title for e in entries] == ["Hello <b>"]
    with pytest.raises(ParseError, match="HTML page"):
        await read_sandboxed(b"<!doctype html><html></html>", url=URL, pool=pool)


async def test_pool_is_an_executor_for_read_feed_off_loop(pool: ParsePool) -> None:
    body = rss([Item("via executor", guid="e")])
    _, entries = await read_feed_off_loop(body, url=URL, executor=pool)
    assert entries[0].title == "via executor"


async def test_bomb_that_slips_past_the_check_is_contained(pool: ParsePool) -> None:
    # What if the declaration check were bypassed? Bare feedparser, 120 KB of input: the worker
    # hits its cap, the parent stays small, and the pool goes on working.
    bomb = entity_bomb(entity_size=100_000, references=4000)
    loop = asyncio.get_running_loop()
    with RssMonitor() as parent:
        with pytest.raises(ParseError, match="more than 256 MiB"):
            await loop.run_in_executor(pool, feeds.feedparser_only, bomb)
        with pytest.raises(ParseError, match=ENTITY_REFUSED):
            await read_sandboxed(bomb, url=URL, pool=pool)
    assert parent.peak < PARENT_LIMIT
    print(f"parent peak RSS {parent.peak / MIB:.0f} MiB; worker cap {WORKER_LIMIT / MIB:.0f} MiB")
    _, entries = await read_sandboxed(rss([Item("after", guid="1")]), url=URL, pool=pool)
    assert entries[0].title == "after"


async def test_memory_error_becomes_a_parse_error(pool: ParsePool) -> None:
    loop = asyncio.get_running_loop()
    with pytest.raises(ParseError, match="needs more than 256 MiB of memory"):
        await loop.run_in_executor(pool, feeds.allocate, 1024 * MIB)
    assert await loop.run_in_executor(pool, feeds.allocate, MIB) == MIB
    assert 0 < pool.peak_worker_rss <= pool.memory_limit


async def test_a_dying_worker_fails_only_its_own_task(pool: ParsePool) -> None:
    loop = asyncio.get_running_loop()
    lost = pool.lost_workers
    good = [rss([Item(f"story {i}", guid=str(i))]) for i in range(6)]
    results = await asyncio.gather(
        loop.run_in_executor(pool, feeds.die),
        *(read_sandboxed(b, url=URL, pool=pool) for b in good),
        return_exceptions=True,
    )
    assert isinstance(results[0], ParseError) and "killed by SIGKILL" in str(results[0])
    assert [r[1][0].title for r in results[1:]] == [f"story {i}" for i in range(6)]  # type: ignore[index]
    assert pool.lost_workers == lost + 1


async def test_recursion_error_becomes_a_parse_error(pool: ParsePool) -> None:
    with pytest.raises(ParseError, match="nested too deeply"):
        await asyncio.get_running_loop().run_in_executor(pool, feeds.recurse)


async def test_workers_may_only_send_back_plain_data(pool: ParsePool) -> None:
    # A subverted worker could otherwise make the parent unpickle (and run) anything.
    with pytest.raises(ParseError, match=r"forbidden type: tests\.fakes\.feeds\.Opaque"):
        await asyncio.get_running_loop().run_in_executor(pool, feeds.opaque)


async def test_unexpected_parser_exceptions_become_parse_errors(pool: ParsePool) -> None:
    with pytest.raises(ParseError, match="the parser failed on this document"):
        await read_sandboxed("not bytes", url=URL, pool=pool)  # type: ignore[arg-type]


async def test_overrunning_task_is_killed_and_the_worker_replaced() -> None:
    with ParsePool(1, memory_limit=WORKER_LIMIT, timeout=0.5) as short:
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        with pytest.raises(ParseError, match=r"took longer than 0\.5 s"):
            await loop.run_in_executor(short, feeds.spin)
        assert time.monotonic() - started < 10
        _, entries = await read_sandboxed(rss([Item("next", guid="n")]), url=URL, pool=short)
        assert entries[0].title == "next" and short.lost_workers == 1
    assert short.workers == 1 and short.timeout == 0.5


def test_workers_are_recycled_after_their_task_budget_and_reaped() -> None:
    import os

    with ParsePool(1, recycle_after=3) as p:
        pids = [p.submit(os.getpid).result() for _ in range(8)]
        # The last task spends the third worker and makes its exit slow: shutdown comes while
        # that worker is being retired, and must wait for it.
        pids.append(p.submit(feeds.linger_on_exit, 0.5).result())
        # The successor is started ahead (every count here is within _AHEAD of the budget).
        assert [len(set(pids[i : i + 3])) for i in range(0, 9, 3)] == [1, 1, 1]
        assert len(set(pids)) == 3 and os.getpid() not in pids
        # Three successors started and three old workers retired, each off the caller's path.
        assert p.background_started == 6
    assert p.background_running == 0  # shutdown waited for them
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # already reaped: no zombie, no stray process


def test_closed_pool_refuses_work() -> None:
    p = ParsePool(1)
    p.close()
    with pytest.raises(RuntimeError):
        p.submit(feeds.allocate, 1)


# --- size caps --------------------------------------------------------------------------------


def test_entries_per_document_are_capped() -> None:
    body = rss([Item(f"item {i}", guid=str(i)) for i in range(300)])
    _, entries = read_feed(body, url=URL, max_entries=25)
    assert [e.title for e in entries] == [f"item {i}" for i in range(25)]
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "items": [{"id": str(i)} for i in range(300)],
    }
    assert len(parse_document(json.dumps(doc).encode(), url=URL, max_entries=7).entries) == 7


def test_every_stored_text_field_is_capped() -> None:
    huge = "word " * 200_000
    raw = RawEntry(
        guid="g" * 10_000,
        link="https://example.org/" + "p" * 10_000,
        title=huge,
        summary=huge,
        content=huge,
        author=huge,
        categories=tuple(f"{i} {huge[:1000]}" for i in range(100)),
        image="https://example.org/i.jpg?" + "q" * 10_000,
    )
    entry = normalize_entry(raw, feed_url=URL)
    assert entry is not None
    assert len(entry.title) <= TITLE_LIMIT and len(entry.summary) <= SUMMARY_LIMIT
    assert entry.author is not None and len(entry.author) <= AUTHOR_LIMIT
    assert len(entry.categories) == MAX_CATEGORIES
    assert all(len(c) <= CATEGORY_LIMIT for c in entry.categories)
    assert entry.guid is not None and len(entry.guid) == GUID_STORE_LIMIT
    assert len(entry.key) == 64  # a fixed-length hash, whatever the guid's length
    assert entry.link is None and entry.image is None  # over the URL length cap: dropped


# --- text that reaches chat ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("＠everyone breaking", "@everyone breaking"),  # full-width @: folded so adapters escape it
        ("﹫here", "@here"),
        ("＜@123＞ and ﹤@&456﹥", "<@123> and <@&456>"),
        # Only the "<" matters inside a token (adapters escape it); "＾" is left as written.
        ("＜！channel＞ ＜＃C1＞ ＜!subteam＾S1＞", "<!channel> <#C1> <!subteam＾S1>"),
        ("@\u200beveryone", "@everyone"),  # a zero-width space no longer hides the mention
        ("@\u2060here\U000e0041\U000e0042", "@here"),  # word joiner, tag characters
        ("すごい！ 日時：2026", "すごい！ 日時：2026"),  # CJK punctuation is left alone
        ("\u202eevil\u202c \x1b[31mred\x00", "evil [31mred"),
        ("a\u3164b\u115fc", "abc"),  # Hangul fillers
    ],
)
def test_text_is_canonical_so_adapters_can_escape_it(raw: str, expected: str) -> None:
    entry = normalize_entry(RawEntry(title=raw, summary=raw, author=raw), feed_url=URL)
    assert entry is not None
    assert entry.title == expected and entry.summary == expected and entry.author == expected


def test_markup_is_stripped_and_links_are_http_only() -> None:
    raw = RawEntry(
        title="<script>alert(1)</script><b>Bold</b> <a href='javascript:x'>news</a>",
        summary="<img src=x onerror=alert(1)><p>Body</p>",
        link="javascript:alert(1)",
        image="data:image/png;base64,AAAA",
    )
    entry = normalize_entry(raw, feed_url=URL)
    assert entry is not None
    assert (entry.title, entry.summary, entry.link, entry.image) == (
        "Bold news",
        "Body",
        None,
        None,
    )


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("https://bbc.co.uk@evil.example/story", "https://evil.example/story"),
        ("https://user:pw@example.org/a", "https://example.org/a"),
        ("/relative/1", "https://news.example.com/relative/1"),
    ],
)
def test_links_never_carry_userinfo(link: str, expected: str) -> None:
    entry = normalize_entry(
        RawEntry(title="t", link=link), feed_url="https://u:secret@news.example.com/f"
    )
    assert entry is not None and entry.link == expected


def test_feed_title_is_cleaned_like_item_text() -> None:
    body = rss([Item("x", guid="1")], title="＠everyone <b>Daily</b>\u200b News\x07")
    parsed, _ = read_feed(body, url=URL)
    assert parsed.title == "@everyone Daily News"


# --- identity edge cases ------------------------------------------------------------------------


def test_guid_edge_cases() -> None:
    a = normalize_entry(RawEntry(guid="   ", title="A", link="https://e.org/a"), feed_url=URL)
    b = normalize_entry(
        RawEntry(guid=None, title="A", link="https://e.org/a?utm_source=x"), feed_url=URL
    )
    assert a is not None and b is not None and a.key == b.key and a.guid is None
    # One guid reused for different stories: both kept, told apart downstream by title.
    parsed = ParsedFeed(
        format="rss20",
        entries=(RawEntry(guid="same", title="One"), RawEntry(guid="same", title="Two")),
    )
    assert [e.title for e in normalize_feed(parsed, feed_url=URL)] == ["One", "Two"]
    # A changed guid for the same story keeps the link and title keys the detector matches on.
    old = normalize_entry(
        RawEntry(guid="v1", title="Story", link="https://e.org/s#top"), feed_url=URL
    )
    new = normalize_entry(
        RawEntry(guid="v2", title="Story", link="https://E.org/s?fbclid=1"), feed_url=URL
    )
    assert old is not None and new is not None and old.key != new.key
    assert (old.link_key, old.title_key) == (new.link_key, new.title_key)


def test_truncated_document_keeps_what_was_recovered() -> None:
    body = rss([Item(f"item {i}", guid=str(i), summary="text " * 50) for i in range(10)])
    cut = body[: body.index(b"item 7")]
    feed = parse_document(cut, url=URL)
    assert feed.bozo
    titles = [e.title for e in feed.entries]
    assert titles[:6] == [f"item {i}" for i in range(6)]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b"\n  \t", "whitespace"),
        (b"<!DOCTYPE html><html><body>Not found</body></html>", "HTML page"),
        (b"\x00" * 100, "not an RSS, Atom or JSON feed"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": ' + b"[" * 50_000, "JSON"),
    ],
)
def test_non_feeds_are_errors_not_empty_feeds(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_document(body, url=URL)


def test_utf16_feed_and_wrong_declared_encoding_and_nul_bytes() -> None:
    text = rss([Item("Ünïcödé — 東京", guid="u")]).decode()
    utf16 = text.replace('encoding="utf-8"', 'encoding="utf-16"').encode("utf-16")
    assert parse_document(utf16, url=URL).entries[0].title == "Ünïcödé — 東京"
    # Declared ISO-8859-1, actually UTF-8 (and served as such): the header wins, text survives.
    mislabelled = text.replace('encoding="utf-8"', 'encoding="iso-8859-1"').encode()
    feed = parse_document(mislabelled, url=URL, content_type="application/rss+xml; charset=utf-8")
    assert feed.entries[0].title == "Ünïcödé — 東京"
    with_nul = rss([Item("before\x00after", guid="n")]).replace(b"&#0;", b"\x00")
    _, entries = read_feed(with_nul, url=URL)
    assert entries and "\x00" not in entries[0].title


def test_json_feed_with_wrong_types_everywhere() -> None:
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": ["not", "a", "string"],
        "items": [
            None,
            42,
            {"id": {"nested": 1}, "title": 7, "url": ["x"], "tags": "notalist"},
            {"id": 12345, "title": "ok", "authors": "nobody", "date_published": 17},
        ],
    }
    parsed, entries = read_feed(json.dumps(doc).encode(), url=URL)
    assert parsed.title is None
    assert [e.title for e in entries] == ["ok"]


# --- queries and command input ------------------------------------------------------------------


def test_pathological_query_on_a_huge_document_finishes() -> None:
    # Nested prefixes and negations over 1 MB of text: no regex anywhere, so this is linear.
    query = " OR ".join(f"(aa{c}* AND NOT ab{c}*)" for c in "abcdefghijklmnop")[:MAX_QUERY_LENGTH]
    query = query.rsplit(" OR ", 1)[0]
    matcher = TopicMatcher({"t": query})
    rng = random.Random(5)
    words = ["a" * rng.randint(1, 30) + "b" for _ in range(60_000)]
    doc = prepare(MatchDoc(title="x", summary=" ".join(words) + " aaaz"))
    started = time.perf_counter()
    assert matcher.match(doc) == ("t",)  # "aaab" matches the first group
    assert TopicMatcher({"t": query.replace("aa", "zz")}).match(doc) == ()
    elapsed = time.perf_counter() - started
    print(f"pathological query over {sum(map(len, words)) / MIB:.1f} MiB: {elapsed * 1000:.0f} ms")


@pytest.fixture
async def app(tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path, topics={"nato": "nato"})
    clock = ManualClock(datetime(2026, 3, 1, tzinfo=UTC))
    async with Herald(
        settings, adapters=[RecordingAdapter("slack")], clock=clock, rng=random.Random(3)
    ) as herald:
        yield herald


async def test_command_input_is_length_limited(app: Herald) -> None:
    user = Caller("slack", "U1", "C1", workspace="T1")
    at_limit = "subscribe nato" + " " * (1000 - len("subscribe nato"))
    assert (await app.commands.handle(user, at_limit)).ok
    over = await app.commands.handle(user, at_limit + "x")
    assert not over.ok and "too long (1001 characters; the limit is 1000)" in over.text
