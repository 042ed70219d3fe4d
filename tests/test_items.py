"""Item-by-item reads (``bot.items``): a changed document parses only its new items, and what it
returns is exactly what a full read gives for them; whatever could make an item read differently
out of its document is read in full.

The corpus test runs every shared real-world feed through seeded random "previous documents" (a
subset of its items) and compares with the full read.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bot.items import NO_ENTRY, read_items, split_items
from bot.normalize import known_key, read_feed
from bot.types import ItemIndex, Reading

URL = "https://news.example.com/feeds/world.xml"
CT = "application/rss+xml"


def item(n: int, extra: str = "") -> str:
    return (
        f"<item><title>Story {n}</title><link>https://news.example.com/{n}</link>"
        f"<guid>urn:story:{n}</guid><description>About story {n}.{extra}</description></item>"
    )


def rss(*items: str, ns: str = "", channel: str = "") -> bytes:
    body = "\n".join(items)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<rss version="2.0"{ns}><channel><title>World</title>{channel}\n{body}\n'
        "</channel></rss>"
    ).encode()


def full(body: bytes, **kw: object) -> Reading:
    return read_items(body, url=URL, content_type=CT, **kw)  # type: ignore[arg-type]


def titles(reading: Reading) -> list[str]:
    return [e.title for e in reading.entries]


def test_a_full_read_is_read_feed_plus_an_index() -> None:
    body = rss(item(1), item(2))
    reading = full(body)
    feed, entries = read_feed(body, url=URL, content_type=CT)
    assert reading.feed == feed and list(reading.entries) == entries and not reading.partial
    assert reading.index is not None
    assert len(reading.index.digests) == 16
    assert reading.index.keys == b"".join(known_key(e.key) for e in entries)


def test_only_new_items_are_read_and_kept_ones_are_named_present() -> None:
    first = full(rss(item(1), item(2)))
    second = full(rss(item(3), item(1), item(2)), previous=first.index)
    assert second.partial and titles(second) == ["Story 3"]
    assert second.present == b"".join(sorted(first.index.keys[i : i + 8] for i in (0, 8)))
    assert second.index == full(rss(item(3), item(1), item(2))).index
    # An item whose bytes changed (same guid) is read again, like a new one.
    third = full(rss(item(3), item(1, extra=" Updated."), item(2)), previous=second.index)
    assert third.partial and titles(third) == ["Story 1"]


@pytest.mark.parametrize(
    ("before", "after", "why"),
    [
        (rss(item(1)), rss(item(2), item(1), ns=' xmlns:dc="urn:x"'), "a namespace changed"),
        (rss(item(1)), rss(item(2), item(1), channel='<x xml:base="https://b/"/>'), "a base"),
        (rss(item(1)), rss(item(2), item(1)).replace(b"utf-8", b"iso-8859-1"), "the charset"),
        (rss(item(1)), rss(item(1), item(1).replace("Story 1", "Story one")), "a shared key"),
        (rss(item(1)), rss(item(2), item(1)).replace(b"</channel>", b"</channel"), "malformed"),
    ],
)
def test_what_could_change_how_items_read_makes_a_full_read(
    before: bytes, after: bytes, why: str
) -> None:
    previous = full(before).index
    assert previous is not None
    reading = full(after, previous=previous)
    assert not reading.partial, why
    feed, entries = read_feed(after, url=URL, content_type=CT)
    assert (reading.feed, list(reading.entries)) == (feed, entries)


def test_another_url_or_content_type_makes_a_full_read() -> None:
    previous = full(rss(item(1))).index
    body = rss(item(2), item(1))
    assert full(body, previous=previous).partial
    assert not read_items(body, url=URL + "?v=2", content_type=CT, previous=previous).partial
    assert not read_items(body, url=URL, content_type="text/xml", previous=previous).partial


def test_previous_keys_shared_by_two_items_make_a_full_read() -> None:
    twins = rss(item(1), item(1).replace("Story 1", "Story one"))
    previous = full(twins).index
    assert previous is not None and previous.keys[:8] == previous.keys[8:]
    assert not full(
        rss(item(2), *[item(1), item(1).replace("Story 1", "Story one")]), previous=previous
    ).partial


def test_an_item_without_an_entry_keeps_its_place() -> None:
    empty = "<item><description></description></item>"
    first = full(rss(empty, item(1)))
    assert first.index is not None and first.index.keys[:8] == NO_ENTRY
    second = full(rss(item(2), empty, item(1)), previous=first.index)
    assert second.partial and titles(second) == ["Story 2"]
    assert NO_ENTRY not in {second.present[i : i + 8] for i in range(0, len(second.present), 8)}


def test_max_entries_counts_items_as_a_full_read_does() -> None:
    body = rss(item(3), item(2), item(1))
    first = read_items(rss(item(2), item(1)), url=URL, content_type=CT, max_entries=2)
    second = read_items(body, url=URL, content_type=CT, max_entries=2, previous=first.index)
    assert second.partial and titles(second) == ["Story 3"]
    assert second.index is not None and len(second.index.digests) == 16
    assert list(second.entries) == read_feed(body, url=URL, content_type=CT, max_entries=2)[1][:1]


@pytest.mark.parametrize(
    ("body", "spans"),
    [
        (b"<rss><item>a</item> <item/>\n<item x='1'>b</item></rss>", 3),
        (b"<rss><!-- <item>x</item> --><item>a</item></rss>", 1),
        (b"<rss><item><![CDATA[ </item><item> ]]></item></rss>", 1),
        (b"<feed><entry>a</entry><entry>b</entry></feed>", 2),
        (b"<rdf:RDF><rss:item>a</rss:item><rss:item>b</rss:item></rdf:RDF>", 2),
        (b"<rss><itemize>a</itemize><item>a</item></rss>", 1),
    ],
)
def test_split_items_finds_each_item(body: bytes, spans: int) -> None:
    found = split_items(body)
    assert found is not None and len(found) == spans
    assert all(body[a:b].endswith(b">") for a, b in found)


@pytest.mark.parametrize(
    "body",
    [
        b"<rss><channel></channel></rss>",  # no items
        b"<rss><item>a<item>b</item></item></rss>",  # nested
        b"<rss><item>a</item>text<item>b</item></rss>",  # text between items
        b"<rss><item>a</item><!-- c --><item>b</item></rss>",  # a comment between items
        b"<feed><entry>a</entry><item>b</item></feed>",  # two names
        b"<rss><item>a</rss>",  # unclosed
        b"<rss></item></rss>",  # an end without a start
    ],
)
def test_split_items_refuses_what_does_not_split_cleanly(body: bytes) -> None:
    assert split_items(body) is None


def test_the_corpus_reads_the_same_item_by_item(shared_data: Path) -> None:
    rng = random.Random(7)
    partial = indexed = 0
    for path in sorted((shared_data / "feeds").rglob("*")):
        if not path.is_file() or path.suffix == ".md":
            continue
        body = path.read_bytes()
        ct = "application/feed+json" if path.suffix == ".json" else "application/xml"
        try:
            feed, entries = read_feed(body, url=URL, content_type=ct)
        except Exception:
            continue  # not a feed at all: read_items raises the same way (tested elsewhere)
        whole = read_items(body, url=URL, content_type=ct)
        assert (whole.feed, list(whole.entries)) == (feed, entries), path.name
        if whole.index is None:
            continue
        indexed += 1
        digests = [whole.index.digests[i : i + 8] for i in range(0, len(whole.index.digests), 8)]
        keys = [whole.index.keys[i : i + 8] for i in range(0, len(whole.index.keys), 8)]
        for _ in range(4):
            kept = sorted(rng.sample(range(len(digests)), rng.randint(0, len(digests))))
            previous = ItemIndex(
                b"".join(digests[i] for i in kept),
                b"".join(keys[i] for i in kept),
                whole.index.context,
            )
            reading = read_items(body, url=URL, content_type=ct, previous=previous)
            if not reading.partial:
                continue
            partial += 1
            old = {digests[i] for i in kept}
            fresh = {k for d, k in zip(digests, keys, strict=True) if d not in old}
            assert reading.feed == feed, path.name
            assert reading.index == whole.index, path.name
            assert list(reading.entries) == [e for e in entries if known_key(e.key) in fresh]
            present = {reading.present[i : i + 8] for i in range(0, len(reading.present), 8)}
            assert present == {k for d, k in zip(digests, keys, strict=True) if d in old} - {
                NO_ENTRY
            }
    # 61 of the 79 files are indexed today; most random previous documents read item by item.
    assert indexed >= 55 and partial >= 180, (indexed, partial)
